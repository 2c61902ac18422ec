"""The Chat tab: the reply's text appears at once, its video follows and plays; a dialogue can be
exported as one video. Programs get the same through the API (`/ask`, `/render`, `/export`)."""

from __future__ import annotations

import asyncio
import html

import gradio as gr

from avatar.service import LiveAnswer, export_path
from avatar.ui.player import Player, file_url, stage, staged
from avatar.ui.shared import Shared, call, client, log, progress_words, refusal, sentence, session


class ChatTab:
    """`build(...)` places the tab; the other methods are its handlers."""

    def __init__(self, shared: Shared, player: Player):
        self.shared, self.player = shared, player

    def build(self, model: gr.Dropdown, framing: gr.Radio, limit: int) -> gr.HTML:
        """The tab under `model` and `framing` (the page's presenter and framing pickers), messages
        of at most `limit` characters. Returns the player."""
        with gr.Row():
            with gr.Column(scale=3):
                player = self.player.build()
                video = gr.Video(visible=False)  # the API's answers: finished, signed MP4s
            with gr.Column(scale=2):
                # The thumbs-down under an answer marks it as not helpful (one click; the team sees it).
                chat = gr.Chatbot(value=self.greeting, label="Chat", height=360, render_markdown=False,
                                  feedback_options=("Dislike",), elem_id="chat")
                message = gr.Textbox(placeholder="Type your question", show_label=False, max_length=limit,
                                     elem_id="message")
                # Counted in the browser as the visitor types (nothing is cut without saying so); read
                # a few times a second, since a sent message empties the box without an input event.
                gr.HTML(f"0 / {limit} characters", elem_id="message-count", js_on_load=f"""
                    const box = () => document.querySelector('#message textarea');
                    setInterval(() => {{
                        const n = box() ? box().value.length : 0;
                        const text = n >= {limit} ? `${{n}} / {limit} characters: the most a message can be`
                                                  : `${{n}} / {limit} characters`;
                        if (element.textContent !== text) element.textContent = text;
                    }}, 200);""")
                send = gr.Button("Send", variant="primary")
        with gr.Row():
            export = gr.Button("Export the dialogue as one video")
            demo = gr.Button("Play the demo dialogue")
        download = gr.File(label="Dialogue video and subtitles", file_count="multiple", interactive=False)
        live = gr.State(None)  # the id of the live answer the player was given (None: a ready one)
        for trigger in (message.submit, send.click):
            # The text reply is cheap: its own queue lane, so it never waits behind a render.
            # Playing waits for a render without a slot (`waiting`): no limit of its own.
            trigger(self.reply, [message, chat, model, framing], [chat, message, player, live], api_name=False,
                    concurrency_limit=8, concurrency_id="chat").success(
                self.play, [live], [player], api_name=False, concurrency_limit=None)
        chat.option_select(suggestion, None, [message], api_name=False, concurrency_limit=8,
                           concurrency_id="chat").then(
            self.reply, [message, chat, model, framing], [chat, message, player, live], api_name=False,
            concurrency_limit=8, concurrency_id="chat").success(self.play, [live], [player], api_name=False,
                                                                concurrency_limit=None)
        chat.like(self.not_helpful, [chat], None, api_name=False, concurrency_limit=8, concurrency_id="chat")
        gr.Button(visible=False).click(self.render, [model, framing], [video], api_name="render",
                                       concurrency_limit=None)
        export.click(self.export, [model, framing], [download], api_name="export")
        demo.click(self.demo, [model, framing], [video, download], api_name="demo").success(
            self.player.show_video, [video, model], [player], api_name=False, concurrency_limit=8,
            concurrency_id="info")
        gr.Button(visible=False).click(self.study, [model, framing], [video, download], api_name="study")
        ask = gr.Textbox(visible=False)
        ask_reply = gr.Textbox(visible=False)
        # One call for programs (gradio_client): message (and optionally a presenter's name) in,
        # (reply text, video) out, through the queue.
        gr.Button(visible=False).click(self.ask, [ask, model, framing], [ask_reply, video], api_name="ask",
                                       concurrency_limit=None)
        return player

    def greeting(self) -> list[dict]:
        """A new chat: the presenter's first line, from the active corpus (a callable value: every page load asks)."""
        return [{"role": "assistant", "content": as_text(self.shared.service.greeting())}]

    def reply(self, message: str, history: list, model: str | None = None, framing: str | None = None,
              request: gr.Request = None):
        """Add the user's message and the bot's text reply to the chat, and hand the player its
        video at once, in one service call (`converse`): a ready answer's file, or the live stream
        of one that starts rendering now (the browser connects while the first frame is drawn, and
        plays it the moment it exists; a second request that waited for that frame cost ~0.3 s:
        bench/first_frame.py). Why a video cannot be made is shown beside the reply's text, which
        stays. Returns the chat, the emptied message box, the player and the live answer's id."""
        if not (message or "").strip():
            return history, "", gr.update(), None
        exchange = call(self.shared.service.converse, message, session(request), owner=self.shared.owner(request),
                        model=model, framing=framing, client=client(request))
        idle = file_url(exchange.listening) if exchange.listening else ""
        if exchange.problem:
            log.info("no video: %s", exchange.problem)
            gr.Warning(sentence(exchange.problem), duration=None)
        said = {"role": "assistant", "content": as_text(exchange.reply.text)}
        if exchange.reply.suggestions:  # asked back: the nearest known questions as buttons (a click asks it)
            said["options"] = [{"value": q, "label": q} for q in exchange.reply.suggestions]
        history = history + [{"role": "user", "content": as_text(message.strip())}, said]
        answer = exchange.answer
        return (history, "", staged(answer, idle) if answer is not None else stage(idle),
                answer.id if isinstance(answer, LiveAnswer) else None)

    async def play(self, live_id: str | None, progress=gr.Progress()):
        """After `reply` handed the player a live answer (`live_id`): wait (holding no thread and
        no queue slot, see `waiting`) until its first frame is drawn, and refuse with the reason
        when it cannot be made. The player keeps what `reply` gave it."""
        answer = self.shared.service.live(live_id) if live_id else None
        if answer is not None:
            progress(0.5, desc="Preparing the answer, about a second")
            with answer.following():  # waiting for its first frame counts as watching it
                await waiting(lambda: answer.wait_playable(0))
            if answer.done and answer.answer is None and not answer.superseded:  # superseded: the page moved on
                raise refusal(sentence(answer.error or "the answer could not be rendered."))
        return gr.update()

    async def render(self, model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
        """The presenter's finished, signed video for this session's last reply (as the server kept
        it): the API's `/render` and `/ask`. A new answer renders in the service's own thread (one
        at a time); this only waits for it, holding no thread and no queue slot (see `waiting`)."""
        answer = await self.last_answer(model, framing, request)
        if answer is None:
            return None
        if isinstance(answer, LiveAnswer):
            progress(0.5, desc="Rendering the answer")
            with answer.following():  # a program waiting for the file counts as watching it
                await waiting(lambda: answer.done)
            if answer.answer is None:
                raise refusal(sentence(answer.error or "the answer could not be rendered."))
            answer = answer.answer
        return str(answer.video)

    async def ask(self, message: str, model: str | None, framing: str | None, request: gr.Request,
                  progress=gr.Progress()):
        reply = await asyncio.to_thread(call, self.shared.service.reply, message, session(request))
        return reply, await self.render(model, framing, request, progress)

    async def last_answer(self, model: str | None, framing: str | None, request: gr.Request):
        """What the service's `play` gives for this session's last reply (None before any), off
        the event loop: what a program asks for after its reply (`/render`)."""
        service = self.shared.service
        history = await asyncio.to_thread(service.history, session(request))
        if not history:
            return None
        return await asyncio.to_thread(call, service.play, history[-1][1], owner=self.shared.owner(request),
                                       model=model, framing=framing, client=client(request), asker=session(request))

    def not_helpful(self, history: list, liked: gr.LikeData, request: gr.Request):
        """A visitor marks an answer as not helpful (the thumbs-down under it): listed for the team."""
        if liked.liked is not False:  # only the thumbs-down is offered; anything else means nothing here
            return
        index = liked.index[0] if isinstance(liked.index, (list, tuple)) else liked.index
        if not isinstance(index, int) or not 0 < index < len(history) or history[index - 1].get("role") != "user":
            gr.Info("Only an answer to a question can be marked as not helpful.")
            return
        question, answer = (html.unescape(text_of(history[i])) for i in (index - 1, index))
        call(self.shared.service.not_helpful, session(request), question, answer)
        gr.Info("Thank you: the team will see that this answer did not help.")

    def export(self, model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
        """This session's dialogue, as the server kept it, as one video with subtitles."""
        out = export_path("dialogue", "dialogue.mp4")  # Gradio serves its own copy; ours is only needed briefly
        video, srt = call(self.shared.service.export, session(request), out, owner=self.shared.owner(request),
                          model=model, progress=progress_words(progress), framing=framing)
        return [str(video), str(srt)]

    def demo(self, model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
        """The demo dialogue (the team's questions, else the study's five) as a conversation of its
        own (the person's chat is left as it was), exported as one video with subtitles."""
        return self._dialogue(model, framing, request, progress, study=False)

    def study(self, model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
        """The study's dialogue of its five questions, as a conversation of its own (the person's
        chat is left as it was), exported as one video with subtitles."""
        return self._dialogue(model, framing, request, progress, study=True)

    def _dialogue(self, model, framing, request, progress, study: bool):
        video, srt = call(self.shared.service.demo_video, session(request), owner=self.shared.owner(request),
                          model=model, progress=progress_words(progress), framing=framing, study=study)
        return str(video), [str(video), str(srt)]


def suggestion(selected: gr.SelectData) -> str:
    """A suggested question the visitor clicked, to be asked as if typed."""
    return str(selected.value or "")


def text_of(message: dict) -> str:
    """The text of a chat message as the page holds it (a string, or a list of parts)."""
    content = message.get("content", "")
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def as_text(text: str) -> str:
    """`text` shown as typed: markup escaped (the chat renders Markdown and sanitises HTML, which
    would turn `<img ...>` into a broken picture instead of the person's words)."""
    return html.escape(text, quote=False)


async def waiting(ready, every_s: float = 0.02) -> None:
    """Until `ready()` is true, polled on the event loop: a handler waiting for a render holds
    neither a worker thread nor (with concurrency_limit=None) a slot of the queue."""
    while not ready():
        await asyncio.sleep(every_s)
