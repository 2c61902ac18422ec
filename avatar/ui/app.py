"""Chat with the presenter: the reply's text appears at once, its video follows and plays.

Handlers only translate between Gradio and `avatar.service.Avatar`; errors become a message in
the app, never a traceback, and the chat stays usable.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from pathlib import Path

import gradio as gr

from avatar.adaptation import RUNNING
from avatar.chat import GREETING
from avatar.errors import UserError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

DISCLOSURE = ("**This presenter is AI-generated.** The face, voice and answers are made by software "
              "(a face-swap model, espeak-ng and a ChatterBot); every video carries an *AI-generated* label.")


def _models() -> dict[str, Path]:
    """Presenters a person can pick: $AVATAR_MODEL (or the shipped default) first, then the
    other shipped and adapted ones."""
    from avatar.service import DEFAULT_MODEL, available_models

    chosen = Path(os.environ.get("AVATAR_MODEL", DEFAULT_MODEL)).resolve()
    chosen = chosen.parent if chosen.suffix == ".onnx" else chosen
    return {chosen.name: chosen, **{k: v for k, v in available_models().items() if v.resolve() != chosen}}


def _avatar(name: str | None = None):
    """The Avatar for presenter `name` (default: the first of `_models()`); only names offered
    by `_models()` are accepted, so a request cannot load a model file from elsewhere."""
    models = _models()
    if name and name not in models:
        raise gr.Error(f"There is no presenter model called {name!r}.")
    return _load_avatar(models[name or next(iter(models))])


@lru_cache(maxsize=4)
def _load_avatar(folder: Path):
    """One Avatar per model folder, made on first use (loading a model takes a few seconds)."""
    from avatar.service import Avatar

    return Avatar(model=folder)


def _reply(message: str, history: list, session: gr.Request):
    """Add the user's message and the bot's text reply to the chat (fast: no rendering)."""
    message = (message or "").strip()
    if not message:
        return history, "", ""
    reply = _avatar().chatbot.reply(message, session=session.session_hash or "default")
    history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": reply.text}]
    return history, "", reply.text


def _render(reply: str, model: str | None = None, progress=gr.Progress()):
    """The presenter's video for the last reply."""
    if not reply:
        return None
    try:
        answer = _avatar(model).say(reply, progress=lambda share, stage: progress(share, desc=stage))
    except UserError as error:
        raise gr.Error(str(error)) from None
    except Exception:
        log.exception("rendering failed")
        raise gr.Error("The presenter could not be rendered for this answer; the chat still works, try another "
                       "question.") from None
    return str(answer.video)


def build_demo() -> gr.Blocks:
    # delete_cache: Gradio's copies of served videos older than a day are removed every hour.
    with gr.Blocks(title="Synthetic presenter", delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# Synthetic presenter\n" + DISCLOSURE)
        names = list(_models())
        model = gr.Dropdown(names, value=names[0], label="Presenter", visible=len(names) > 1, interactive=True)
        with gr.Tab("Chat"):
            _chat_tab(model)
        with gr.Tab("Record a driver answer"):
            _record_tab(model)
        with gr.Accordion("About this presenter: model card, consent, provenance", open=False):
            about = gr.Markdown(_about(names[0]))
        runtime = gr.Markdown(_runtime(names[0]))
        model.change(_about, [model], [about], queue=False, api_name=False)
        model.change(_runtime, [model], [runtime], queue=False, api_name=False)
        demo.load(_model_choices, None, [model], queue=False, api_name=False)  # adapted since start-up
    return demo


def _model_choices():
    names = list(_models())
    return gr.Dropdown(names, visible=len(names) > 1)


def _runtime(name: str) -> str:
    """One line under the page: which presenter runs on which onnxruntime provider."""
    try:
        avatar = _avatar(name)
    except Exception:  # the tabs report real errors themselves
        return "<small>The presenter model could not be loaded.</small>"
    return (f"<small>Presenter `{avatar.model_path.parent.name}` runs on onnxruntime's "
            f"`{avatar.model.providers[0]}`; every video is signed with content credentials (C2PA).</small>")


def _about(name: str) -> str:
    """The model card, consent record and runtime of presenter `name`, for people to read."""
    try:
        avatar = _avatar(name)
    except Exception:  # shown in the panel only; the tabs report real errors themselves
        log.exception("loading the presenter model failed")
        return "The presenter model could not be loaded."
    folder = avatar.model_path.parent
    card = (folder / "MODEL_CARD.md").read_text() if (folder / "MODEL_CARD.md").is_file() else "(no model card)"
    provenance = ROOT / "assets" / "PROVENANCE.md"
    return "\n\n".join([
        f"**Runtime:** the swap model runs on onnxruntime's `{avatar.model.providers[0]}`.",
        "**Content credentials:** every video carries a C2PA manifest (digital source type "
        "*trainedAlgorithmicMedia*) signed by this installation's local certificate authority; check one with "
        "`avatar verify VIDEO.mp4` or any C2PA reader.",
        _demote(card),
        *([_demote(provenance.read_text())] if provenance.is_file() else []),
    ])


def _demote(markdown: str) -> str:
    """Headings two levels down, to sit inside the page."""
    return ("\n" + markdown).replace("\n## ", "\n#### ").replace("\n# ", "\n### ").strip()


def _chat_tab(model: gr.Dropdown) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            video = gr.Video(label="Presenter (AI-generated)", autoplay=True, interactive=False, height=360)
        with gr.Column(scale=2):
            chat = gr.Chatbot(value=[{"role": "assistant", "content": GREETING}], label="Chat", height=360)
            message = gr.Textbox(placeholder="Ask the presenter something, e.g. What is AI?", show_label=False)
            send = gr.Button("Send", variant="primary")
    with gr.Row():
        export = gr.Button("Export the dialogue as one video")
        study = gr.Button("Play the study's five-question demo")
    download = gr.File(label="Dialogue video and subtitles", file_count="multiple", interactive=False)
    last_reply = gr.State("")
    for trigger in (message.submit, send.click):
        trigger(_reply, [message, chat], [chat, message, last_reply], api_name=False, queue=False).then(
            _render, [last_reply, model], [video], api_name="render")
    export.click(_export, [chat, model], [download], api_name="export")
    study.click(_study, [chat, model], [chat, video, download], api_name="study")
    ask = gr.Textbox(visible=False)
    ask_reply = gr.Textbox(visible=False)
    # One call for programs (gradio_client): message (and optionally a presenter's name) in,
    # (reply text, video) out, through the queue.
    gr.Button(visible=False).click(_ask, [ask, model], [ask_reply, video], api_name="ask")


RECORD_HELP = ("Read the line aloud to the camera, facing it, in good light. The recording is checked and saved "
               "before anything is rendered, then the presenter version is shown. Until the presenter model is "
               "adapted to your face (below, once you have recorded enough), a driver face other than the one it "
               "was trained with gives a weaker likeness.")
ADAPT_CONSENT = ("I agree that my recordings are used to adapt the presenter model to my face (training runs on "
                 "this machine; the recordings and the adapted model stay here).")


def _record_tab(model: gr.Dropdown) -> None:
    line = gr.Textbox(label="Line to say (a bot reply)", value="Hello! I'm an AI presenter.")
    prompter = gr.Markdown("## Hello! I'm an AI presenter.")
    line.change(lambda text: f"## {text}", [line], [prompter], queue=False, api_name=False)
    gr.Markdown(RECORD_HELP)
    recording = gr.Video(label="Your recording", sources=["webcam", "upload"], include_audio=True)
    keep_voice = gr.Checkbox(label="Keep my recorded voice (otherwise the synthesised voice is used)", value=True)
    with gr.Row():
        save = gr.Button("Save and preview", variant="primary")
        delete = gr.Button("Delete the recording for this line")
    status = gr.Markdown()
    preview = gr.Video(label="Presenter version (AI-generated)", autoplay=True, interactive=False)
    save.click(_save_recording, [line, recording, keep_voice, model], [status, preview], api_name="record")
    delete.click(_delete_recording, [line, model], [status], api_name="delete_recording")

    gr.Markdown("### Adapt the presenter to your face")
    agree = gr.Checkbox(label=ADAPT_CONSENT, value=False)
    with gr.Row():
        adapt = gr.Button("Adapt the presenter model")
        adapt_status = gr.Markdown()
    adapt_preview = gr.Image(label="Training preview: you, you -> you, you -> presenter, presenter, presenter -> "
                             "presenter", visible=False, interactive=False)
    timer = gr.Timer(5, active=False)
    adapt.click(_start_adaptation, [agree, model], [adapt_status, adapt_preview, timer], api_name="adapt")
    timer.tick(_adaptation_status, [model], [adapt_status, adapt_preview, timer, model], queue=False, api_name=False)


def _start_adaptation(agree: bool, model: str | None):
    if not agree:
        raise gr.Error("Tick the box to agree that your recordings are used for the adaptation first.")
    try:
        status = _avatar(model).adaptation.start()
    except UserError as error:
        raise gr.Error(str(error)) from None
    return status.message, gr.Image(visible=False), gr.Timer(active=True)


def _adaptation_status(model: str | None):
    """Polled every 5 s while adapting: progress, preview, and the new model in the picker when done."""
    status = _avatar(model).adaptation.status()
    text = status.message + (f" ({status.share:.0%})" if status.state in RUNNING else "")
    # The preview's pixels, not its path: the training folder is private (blocked from file routes).
    preview = (gr.update(value=_read_image(status.preview), visible=True) if status.preview
               else gr.update(visible=False))
    picker = _model_choices() if status.state == "done" else gr.Dropdown()
    return text, preview, gr.Timer(active=status.state in RUNNING), picker


def _read_image(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _save_recording(line: str, recording: str | None, keep_voice: bool, model: str | None = None,
                    progress=gr.Progress()):
    if not (line or "").strip():
        raise gr.Error("Write the line you are going to say first.")
    if not recording:
        raise gr.Error("Record or upload a video first.")
    avatar = _avatar(model)
    try:
        clip = avatar.clips.save(line, Path(recording), source="app")
    except UserError as error:
        raise gr.Error(str(error)) from None
    saved = (f"Saved ({clip.duration:.1f} s{', with sound' if clip.audio else ', no sound'}). "
             + avatar.adaptation.status().message)
    try:
        answer = avatar.say(line, progress=lambda share, stage: progress(share, desc=stage), recorded_voice=keep_voice)
    except Exception:
        log.exception("preview failed")
        return saved + " The preview could not be rendered; the recording is kept.", None
    return saved, str(answer.video)


def _delete_recording(line: str, model: str | None = None):
    removed = _avatar(model).clips.delete(line) if (line or "").strip() else False
    return "Deleted." if removed else "There was no recording for this line."


STUDY_QUESTIONS = ["Do you know gossip?", "What is AI?", "What is a super computer?", "How does a computer work?",
                   "What was the first computer?"]


def _text(content) -> str:
    """A message's text: Gradio 6 gives either a string or a list of typed parts."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else [content]
    return " ".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("type", "text") == "text")


def _exchanges(history: list) -> list[tuple[str, str]]:
    """(question, reply) pairs from the chat's messages (the greeting has no question)."""
    pairs, question = [], None
    for message in history:
        if message["role"] == "user":
            question = _text(message["content"])
        elif question is not None:
            pairs.append((question, _text(message["content"])))
            question = None
    return pairs


def _export(history: list, model: str | None = None, progress=gr.Progress()):
    import tempfile

    from avatar.media.sources import cache_root

    exports = cache_root() / "exports"
    _remove_old(exports, max_age_s=3600)  # Gradio serves its own copy; ours are only needed briefly
    exports.mkdir(parents=True, exist_ok=True)
    try:
        out = Path(tempfile.mkdtemp(prefix="dialogue-", dir=exports)) / "dialogue.mp4"
        video, srt = _avatar(model).export_dialogue(_exchanges(history), out,
                                                    progress=lambda share, stage: progress(share, desc=stage))
    except UserError as error:
        raise gr.Error(str(error)) from None
    return [str(video), str(srt)]


def _remove_old(folder: Path, max_age_s: float) -> None:
    import shutil
    import time

    for item in folder.glob("dialogue-*") if folder.is_dir() else []:
        if time.time() - item.stat().st_mtime > max_age_s:
            shutil.rmtree(item, ignore_errors=True)


def _study(history: list, model: str | None, request: gr.Request, progress=gr.Progress()):
    """The study's dialogue: ask its five questions, then export them as one video."""
    session = request.session_hash or "default"
    for question in STUDY_QUESTIONS:
        reply = _avatar(model).chatbot.reply(question, session=session).text
        history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    files = _export(history, model, progress)
    return history, files[0], files


def _ask(message: str, model: str | None, request: gr.Request, progress=gr.Progress()):
    history, _, reply = _reply(message, [], request)
    if not reply:
        raise gr.Error("Type a question first.")
    return reply, _render(reply, model, progress)


def launch_options(host: str = "127.0.0.1", port: int = 7860, auth: str | None = None,
                   max_upload: str | None = None) -> dict:
    """Safe defaults for `demo.launch`: local only, uploads capped (`max_upload`, else
    $AVATAR_MAX_UPLOAD, else 200mb), source, model, key and data folders blocked, optional login
    (`auth` or $AVATAR_AUTH as "user:password")."""
    from avatar.media.sources import cache_root

    auth = auth or os.environ.get("AVATAR_AUTH")
    cache = cache_root()
    private = [ROOT / "models", ROOT / "avatar", ROOT / ".venv", ROOT / "tests", ROOT / "app.py",
               cache / "recorded", cache / "c2pa", cache / "models", cache / "adapt", cache / "data", cache / "runs",
               cache / "chat"]
    return {
        "server_name": host, "server_port": port, "share": False, "show_error": False,
        "max_file_size": max_upload or os.environ.get("AVATAR_MAX_UPLOAD", "200mb"), "enable_monitoring": False,
        # Gradio only serves files from the working directory, the temp dir and these: the rendered
        # answers and dialogue exports (names are unguessable hashes and random folders).
        "allowed_paths": [str(cache / "answers"), str(cache / "exports")],
        "blocked_paths": [str(p) for p in private],
        "auth": tuple(auth.split(":", 1)) if auth and ":" in auth else None,
    }


def queue(demo: gr.Blocks) -> gr.Blocks:
    """REST calls that skip the queue are refused; at most 16 waiting, one render at a time."""
    return demo.queue(api_open=False, max_size=16, default_concurrency_limit=1)
