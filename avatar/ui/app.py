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
        with gr.Row():
            with gr.Column(scale=3):
                video = gr.Video(label="Presenter (AI-generated)", autoplay=True, interactive=False, height=360)
            with gr.Column(scale=2):
                chat = gr.Chatbot(value=[{"role": "assistant", "content": GREETING}], label="Chat", height=360)
                message = gr.Textbox(placeholder="Ask the presenter something, e.g. What is AI?", show_label=False)
                send = gr.Button("Send", variant="primary")
        last_reply = gr.State("")
        for trigger in (message.submit, send.click):
            trigger(_reply, [message, chat], [chat, message, last_reply], api_name=False, queue=False).then(
                _render, [last_reply], [video], api_name="render")
        ask = gr.Textbox(visible=False)
        ask_reply = gr.Textbox(visible=False)
        # One call for programs (gradio_client): message in, (reply text, video) out, through the queue.
        gr.Button(visible=False).click(_ask, [ask], [ask_reply, video], api_name="ask")
    return demo


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
