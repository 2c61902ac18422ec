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

from avatar.chat import GREETING
from avatar.errors import UserError

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

DISCLOSURE = ("**This presenter is AI-generated.** The face, voice and answers are made by software "
              "(a face-swap model, espeak-ng and a ChatterBot); every video carries an *AI-generated* label.")


@lru_cache(maxsize=1)
def _avatar():
    """The one Avatar of this process, made on first use (loading models takes a few seconds)."""
    from avatar.service import DEFAULT_MODEL, Avatar

    return Avatar(model=Path(os.environ.get("AVATAR_MODEL", DEFAULT_MODEL)))


def _reply(message: str, history: list, session: gr.Request):
    """Add the user's message and the bot's text reply to the chat (fast: no rendering)."""
    message = (message or "").strip()
    if not message:
        return history, "", ""
    reply = _avatar().chatbot.reply(message, session=session.session_hash or "default")
    history = history + [{"role": "user", "content": message}, {"role": "assistant", "content": reply.text}]
    return history, "", reply.text


def _render(reply: str, progress=gr.Progress()):
    """The presenter's video for the last reply."""
    if not reply:
        return None
    try:
        answer = _avatar().say(reply, progress=lambda share, stage: progress(share, desc=stage))
    except UserError as error:
        raise gr.Error(str(error)) from None
    except Exception:
        log.exception("rendering failed")
        raise gr.Error("The presenter could not be rendered for this answer; the chat still works, try another "
                       "question.") from None
    return str(answer.video)


def build_demo() -> gr.Blocks:
    with gr.Blocks(title="Synthetic presenter") as demo:
        gr.Markdown("# Synthetic presenter\n" + DISCLOSURE)
        with gr.Tab("Chat"):
            _chat_tab()
        with gr.Tab("Record a driver answer"):
            _record_tab()
        gr.Markdown(f"<small>{_runtime_note()}</small>")
    return demo


def _runtime_note() -> str:
    try:
        avatar = _avatar()
    except Exception:  # shown in the page footer only; the tabs report real errors themselves
        return "The presenter model could not be loaded."
    return (f"Presenter model `{avatar.model_path.parent.name}` runs on {avatar.model.providers[0]}. "
            f"Model card: `{avatar.model_path.parent / 'MODEL_CARD.md'}`.")


def _chat_tab() -> None:
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
            _render, [last_reply], [video], api_name="render")
    export.click(_export, [chat], [download], api_name="export")
    study.click(_study, [chat], [chat, video, download], api_name="study")
    ask = gr.Textbox(visible=False)
    ask_reply = gr.Textbox(visible=False)
    # One call for programs (gradio_client): message in, (reply text, video) out, through the queue.
    gr.Button(visible=False).click(_ask, [ask], [ask_reply, video], api_name="ask")


RECORD_HELP = ("Read the line aloud to the camera, facing it, in good light. The recording is checked and saved "
               "before anything is rendered, then the presenter version is shown. Until the presenter model is "
               "adapted to your face (not available in the app yet), a driver face other than the one it was "
               "trained with gives a weaker likeness.")


def _record_tab() -> None:
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
    save.click(_save_recording, [line, recording, keep_voice], [status, preview], api_name="record")
    delete.click(_delete_recording, [line], [status], api_name="delete_recording")


def _save_recording(line: str, recording: str | None, keep_voice: bool, progress=gr.Progress()):
    if not (line or "").strip():
        raise gr.Error("Write the line you are going to say first.")
    if not recording:
        raise gr.Error("Record or upload a video first.")
    avatar = _avatar()
    try:
        clip = avatar.clips.save(line, Path(recording), source="app")
    except UserError as error:
        raise gr.Error(str(error)) from None
    saved = f"Saved ({clip.duration:.1f} s{', with sound' if clip.audio else ', no sound'})."
    try:
        answer = avatar.say(line, progress=lambda share, stage: progress(share, desc=stage), recorded_voice=keep_voice)
    except Exception:
        log.exception("preview failed")
        return saved + " The preview could not be rendered; the recording is kept.", None
    return saved, str(answer.video)


def _delete_recording(line: str):
    removed = _avatar().clips.delete(line) if (line or "").strip() else False
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


def _export(history: list, progress=gr.Progress()):
    import tempfile

    try:
        out = Path(tempfile.mkdtemp(prefix="avatar-dialogue-")) / "dialogue.mp4"
        video, srt = _avatar().export_dialogue(_exchanges(history), out,
                                               progress=lambda share, stage: progress(share, desc=stage))
    except UserError as error:
        raise gr.Error(str(error)) from None
    return [str(video), str(srt)]


def _study(history: list, request: gr.Request, progress=gr.Progress()):
    """The study's dialogue: ask its five questions, then export them as one video."""
    session = request.session_hash or "default"
    for question in STUDY_QUESTIONS:
        reply = _avatar().chatbot.reply(question, session=session).text
        history = history + [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]
    files = _export(history, progress)
    return history, files[0], files


def _ask(message: str, request: gr.Request, progress=gr.Progress()):
    history, _, reply = _reply(message, [], request)
    if not reply:
        raise gr.Error("Type a question first.")
    return reply, _render(reply, progress)


def launch_options(host: str = "127.0.0.1", port: int = 7860) -> dict:
    """Safe defaults for `demo.launch`: local only, uploads capped, model/data folders blocked."""
    auth = os.environ.get("AVATAR_AUTH")  # "user:password" turns on a login
    return {
        "server_name": host, "server_port": port, "share": False, "show_error": False,
        "max_file_size": "200mb", "enable_monitoring": False,
        "blocked_paths": [str(ROOT / "models"), str(ROOT / "avatar"), str(ROOT / ".venv"), str(ROOT / "tests"),
                          str(ROOT / "app.py"), str(Path.home() / ".cache" / "avatar" / "recorded")],
        "auth": tuple(auth.split(":", 1)) if auth and ":" in auth else None,
    }


def queue(demo: gr.Blocks) -> gr.Blocks:
    """REST calls that skip the queue are refused; at most 16 waiting, one render at a time."""
    return demo.queue(api_open=False, max_size=16, default_concurrency_limit=1)
