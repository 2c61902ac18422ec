"""The "Team answers" tab (operators): load the team's questions and answers, see which play at
once, what the presenter missed, attach a missed question to an answer, set the demo questions."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType

import gradio as gr

from avatar.service import export_path
from avatar.ui.shared import Shared, call, refusal, shortened

ANSWERS_HELP = ("Load your team's questions and answers: CSV or TSV rows of `question,answer` (more columns, or "
                "`|` inside the question, give other phrasings of the same question) or chatterbot-corpus YAML. "
                "Files are checked whole first: a mistake is reported with its file and line and nothing changes. "
                "Each load is kept as a version; the presenter answers every visitor from the active one. "
                "Questions are matched by meaning, so customers may ask in their own words. When no answer is "
                "close the presenter says the fallback line; when two are close, or none is close enough, it "
                "asks back and offers the nearest questions. Both, and answers visitors marked as not helpful, "
                "are listed below: attach such a question to the right answer and it is answered from then on.")
CORPUS_COLUMNS = ("version", "name", "answers", "phrasings", "loaded", "active")
MISSES_COLUMNS = ("what happened", "question", "times asked", "last asked (UTC)", "what the presenter said")
MISS_WORDS = MappingProxyType({"unanswered": "not answered", "unsure": "asked back",
                               "unhelpful": "marked not helpful"})


class AnswersTab:
    """`build()` places the tab; `opened` fills it (the tab's select event); the other methods are
    its handlers."""

    def __init__(self, shared: Shared):
        self.shared = shared

    def build(self) -> None:
        gr.Markdown(ANSWERS_HELP)
        files = gr.File(label="Corpus files (.csv, .tsv, .yml)", file_count="multiple",
                        file_types=[".csv", ".tsv", ".yml", ".yaml"], elem_id="corpus-files")
        with gr.Row():
            name = gr.Textbox(label="Name (optional)", max_length=200)
            greeting = gr.Textbox(label="Greeting after the AI notice (optional)", max_length=1000,
                                  placeholder="Ask me about orders, delivery and returns.")
            fallback = gr.Textbox(label="Fallback line (optional)", max_length=1000,
                                  placeholder="I'm sorry, I can't answer that yet. I'll pass your question to a "
                                  "colleague.")
        with gr.Row():
            activate = gr.Checkbox(label="Answer from it at once", value=True)
            load = gr.Button("Load the corpus", variant="primary")
        status = gr.Markdown()
        coverage = gr.Markdown()
        table = gr.Dataframe(headers=list(CORPUS_COLUMNS), label="Corpus versions", interactive=False, wrap=True)
        with gr.Row():
            version = gr.Dropdown([], label="Version", interactive=True)
            use = gr.Button("Answer from this version")
        gr.Markdown("### What the presenter missed")
        unanswered = gr.Dataframe(headers=list(MISSES_COLUMNS), label="Not answered, asked back, or marked not helpful; "
                                  "most asked first", interactive=False, wrap=True, elem_id="misses")
        with gr.Row():
            refresh = gr.Button("Refresh")
            download = gr.DownloadButton("Download as CSV")
        with gr.Row():
            missed = gr.Dropdown([], label="A question customers asked", interactive=True, allow_custom_value=True,
                                 elem_id="missed-question")
            answer_to = gr.Dropdown([], label="The answer it should get", interactive=True, elem_id="attach-to")
            attach = gr.Button("Answer it with this from now on", elem_id="attach")
        gr.Markdown("### The demo dialogue")
        demo = gr.Textbox(label="Questions the \"Play the demo dialogue\" button asks, one per line (at most 10)",
                          placeholder="Left empty, it asks five questions about computers and AI, answered from "
                          "small talk.", lines=5, max_length=5500)
        with gr.Row():
            save_demo = gr.Button("Save the demo questions")
            demo_status = gr.Markdown()
        save_demo.click(self.set_demo, [demo], [demo_status, demo], api_name="set_demo")
        shown = [coverage, table, version, unanswered, download, missed, answer_to]
        attach.click(self.attach, [missed, answer_to], [status, *shown], api_name="attach_phrasing")
        load.click(self.load_corpus, [files, name, greeting, fallback, activate], [status, *shown],
                   api_name="load_corpus")
        use.click(self.use_corpus, [version], [status, *shown], api_name="use_corpus")
        refresh.click(self.corpus_view, None, shown, api_name="corpora")
        timer = gr.Timer(5, active=False)
        timer.tick(self.coverage, None, [coverage], api_name=False, concurrency_limit=4, concurrency_id="info")
        self.opened_outputs = [*shown, timer, demo]

    def opened(self, request: gr.Request):
        """The tab opened: the corpora and misses, the coverage (refreshed every 5 s from now on)
        and the demo questions."""
        return *self.corpus_view(request), gr.Timer(active=True), self.demo_questions(request)

    def coverage(self, request: gr.Request):
        """How many of the active corpus's answers play at once (pre-rendered or recorded), and which wait."""
        self.shared.operator_only(request, "see the answers' coverage")
        service = self.shared.service
        rows = call(service.coverage)
        ready = [r for r in rows if r["state"] == "ready"]
        waiting = len(rows) - len(ready)
        recorded = sum(r["recorded"] for r in rows)
        text = f"**Ready to play at once: {len(ready)} of {len(rows)} answers**"
        if recorded:
            text += f" ({sum(r['recorded'] for r in ready)} of the {recorded} recorded by an operator)"
        text += f"; {waiting} waiting." if waiting else "."
        if waiting and not service.deploy.prerender:
            text += " Pre-rendering is off on this server (AVATAR_PRERENDER=0): answers render when first asked."
        elif waiting:
            text += " The rest are being rendered in the background, after visitors' own answers."
        return text

    def corpus_view(self, request: gr.Request):
        """The coverage, the corpus versions, the version picker, the active corpus's misses and
        their CSV, and the choices for attaching a missed question to an answer."""
        self.shared.operator_only(request, "see the team's corpora")
        corpora = self.shared.service.corpora
        rows = corpora.list()

        def when(t):
            return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M") if t else ""
        table = [[r["version"], r["name"], r["pairs"] or "", r["phrasings"] or "", when(r["created"]),
                  "yes" if r["active"] else ""] for r in rows]
        choices = [(f"{r['name']} ({r['version']})", r["version"]) for r in rows]
        active = next(r["version"] for r in rows if r["active"])
        misses = corpora.misses()
        listed = [[MISS_WORDS[m["kind"]], m["question"], m["count"], when(m["last_asked"]), m["answer"] or ""]
                  for m in misses]
        questions = list(dict.fromkeys(m["question"] for m in misses))
        answers = [(f"{q[0]} ({shortened(a)})", q[0]) for q, a in corpora.chatbot().entries]
        return (self.coverage(request), gr.update(value=table), gr.update(choices=choices, value=active),
                gr.update(value=listed),
                gr.update(value=misses_file(corpora.misses_text(misses) if misses else None)),
                gr.update(choices=questions, value=questions[0] if questions else None),
                gr.update(choices=answers, value=None))

    def attach(self, question: str | None, to: str | None, request: gr.Request):
        """The operator makes a missed question a new phrasing of an answer (a new, active version)."""
        self.shared.operator_only(request, "change the team's answers")
        if not to:
            raise refusal("Choose the answer this question should get first.")
        row = call(self.shared.service.corpora.add_phrasing, question or "", to, by=self.shared.owner(request))
        status = (f"From now on **{shortened(question or '')}** is answered with the answer to **{to}** "
                  f"(new version {row['version']} of {row['name']}, {row['phrasings']} phrasings).")
        return status, *self.corpus_view(request)

    def demo_questions(self, request: gr.Request) -> str:
        self.shared.operator_only(request, "see the demo questions")
        return "\n".join(self.shared.service.demo_questions())

    def set_demo(self, text: str, request: gr.Request):
        self.shared.operator_only(request, "set the demo questions")
        kept = call(self.shared.service.set_demo_questions, (text or "").splitlines())
        if not kept:
            return "The demo asks its own five questions about computers and AI again.", ""
        return (f"Saved: the demo dialogue asks these {len(kept)} questions, answered from the active corpus.",
                "\n".join(kept))

    def load_corpus(self, files: list[str] | None, name: str, greeting: str, fallback: str, activate: bool,
                    request: gr.Request):
        self.shared.operator_only(request, "load a corpus")
        if not files:
            raise refusal("Choose one or more corpus files (.csv, .tsv or .yml) first.")
        row = call(self.shared.service.corpora.load, [Path(f) for f in files], name.strip() or None, fallback,
                   greeting, by=self.shared.owner(request), activate=activate)
        state = "the presenter now answers from it" if row["active"] else "not active: pick it below to answer from it"
        status = (f"Loaded **{row['name']}** (version {row['version']}): {row['pairs']} answers, "
                  f"{row['phrasings']} phrasings; {state}.")
        return status, *self.corpus_view(request)

    def use_corpus(self, version: str | None, request: gr.Request):
        self.shared.operator_only(request, "choose the corpus")
        if not version:
            raise refusal("Pick a version first.")
        row = call(self.shared.service.corpora.use, version)
        return f"The presenter now answers every visitor from **{row['name']}**.", *self.corpus_view(request)


def misses_file(text: str | None) -> str | None:
    """The misses' CSV text as a file to download (None when there are none)."""
    if not text:
        return None
    out = export_path("misses", "missed-questions.csv")
    out.write_text(text, encoding="utf-8")
    return str(out)
