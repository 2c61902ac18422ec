"""Chat with the presenter: the reply's text appears at once, its video follows and plays.

Handlers only translate between Gradio and `avatar.service.Avatar`; errors become a message in
the app, never a traceback, and the chat stays usable.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable

import gradio as gr

from avatar.service import (RECORDING_GUIDE, Deployment, LiveAnswer, UserError, coverage_markdown, export_path, logins,
                            missing_essentials, open_service, read_preview, served_folders)
from avatar.ui.gate import BadRequests, Logins, UploadOwners, Uploads, client_cookie

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

DISCLOSURE = ("**This presenter is AI-generated.** The face, the voice and the answers are made by software, and every "
              "video carries an *AI-generated* label. *About this presenter*, below, says who agreed to it and how.")


_APP: dict = {}  # the app this process serves and its recording box (see `_uploaded`)
_VISITORS: dict[str, str] = {}  # browser session -> owner of a visitor without a login (see `_welcome`)
# The browser encrypts a BrowserState with a key the page itself receives, so this protects
# nothing: what keeps a visitor's recordings theirs is the random token inside. A fixed key keeps
# the token readable after a restart and on every replica behind the proxy.
VISITOR_STORAGE = ("avatar-visitor", "avatar-visitor-token-v1")


@lru_cache(maxsize=1)
def _service():
    """The process's one presenter service, for the deployment `build_demo` was given (made on
    first use: loading takes a few seconds)."""
    return open_service(_APP.get("deploy"))


def _account_id(name: str | None) -> str | None:
    """The id a login's data belongs to (never its name, which can be given to someone else later)."""
    accounts = _APP.get("accounts")
    if accounts is None or not name:
        return name
    account = accounts.account(name)
    if account is None:
        raise _refusal("Your account cannot be found (removed, changed, or the users file is being repaired): "
                       "reload the page and log in again.")
    return account.id


def _owner(request: gr.Request | None) -> str:
    """Whose data a request touches: the login's account id when the app has a login, else the visitor
    whose browser token this page sent when it loaded (see `_welcome`), else the session (a
    program calling the API)."""
    if request is None:
        raise _refusal("This request has no session; reload the page.")
    owner = (_account_id(getattr(request, "username", None)) or _VISITORS.get(request.session_hash or "")
             or request.session_hash)
    if not owner:
        raise _refusal("This request has no session; reload the page.")
    return owner


def _client(request: gr.Request | None) -> str | None:
    """Who sent a request, for taking turns in the render lane: its address (behind a proxy on
    this machine, the address the proxy names in X-Forwarded-For; uvicorn trusts 127.0.0.1)."""
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or None


def _session(request: gr.Request | None) -> str:
    if request is None or not request.session_hash:
        raise _refusal("This request has no session; reload the page.")
    return request.session_hash


def _call(work, *args, **kwargs):
    """Run a service call; a UserError becomes the app's message, anything else a plain one."""
    try:
        return work(*args, **kwargs)
    except UserError as error:
        raise _refusal(_sentence(str(error))) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("request failed")
        raise _refusal("Something went wrong on the server; the chat still works, try again.") from None


def _refusal(message: str) -> gr.Error:
    """The error a handler raises: one sentence that stays on the page until the visitor closes it,
    and one line in the log (an ordinary refusal is not a fault: no traceback)."""
    log.info("refused: %s", message)
    return gr.Error(message, duration=None, print_exception=False)


def _sentence(message: str) -> str:
    """A message as the page shows it: a capitalised sentence (the library's messages are
    written to follow "error: " on a command line), unless it starts with a name ("bad.csv line 2: ...")."""
    message = message.strip()
    first = message.split(" ", 1)[0].rstrip(",:;")
    if not first.isalpha() or not first.islower():  # a file or model name stays as it is spelled
        return message
    return message[:1].upper() + message[1:]


# What each stage of a render is called on the page.
STAGE_WORDS = {"speech": "Making the voice", "driver": "Planning the movements", "swap": "Drawing the presenter",
               "joining": "Joining the answers", "done": "Done"}


def _progress(progress):
    """The service's progress (share, stage) shown in plain words, with the time left once it can be told."""
    import time

    started = time.monotonic()

    def report(share: float, stage: str) -> None:
        words = STAGE_WORDS.get(stage, stage[:1].upper() + stage[1:])
        elapsed = time.monotonic() - started
        if 0.2 <= share < 1 and elapsed > 1:
            words += f", about {max(1, round(elapsed / share * (1 - share)))} s left"
        progress(share, desc=words)
    return report


def _reply(message: str, history: list, model: str | None = None, framing: str | None = None,
           request: gr.Request = None):
    """Add the user's message and the bot's text reply to the chat, and hand the player its video
    at once: a ready answer's file, or the live stream of one that starts rendering now (the
    browser connects while the first frame is drawn, and plays it the moment it exists; a second
    request that waited for that frame cost ~0.3 s: bench/first_frame.py). `_play`, next, says
    what went wrong if the answer cannot be made."""
    if not (message or "").strip():
        return history, "", gr.update()
    reply = _call(_service().chat, message, _session(request))
    try:
        stage = _staged(_service().play(reply.text, owner=_owner(request), model=model, framing=framing,
                                        client=_client(request), asker=_session(request)),
                        _idle(model, request))
    except Exception:  # `_play`, next, reports what is wrong with a clear message
        stage = _stage(_idle(model, request))
    said = {"role": "assistant", "content": _as_text(reply.text)}
    if reply.suggestions:  # asked back: the nearest known questions as buttons (a click asks it)
        said["options"] = [{"value": q, "label": q} for q in reply.suggestions]
    history = history + [{"role": "user", "content": _as_text(message.strip())}, said]
    return history, "", stage


def _suggestion(selected: gr.SelectData) -> str:
    """A suggested question the visitor clicked, to be asked as if typed."""
    return str(selected.value or "")


def _not_helpful(history: list, liked: gr.LikeData, request: gr.Request):
    """A visitor marks an answer as not helpful (the thumbs-down under it): listed for the team."""
    if liked.liked is not False:  # only the thumbs-down is offered; anything else means nothing here
        return
    index = liked.index[0] if isinstance(liked.index, (list, tuple)) else liked.index
    if not isinstance(index, int) or not 0 < index < len(history) or history[index - 1].get("role") != "user":
        gr.Info("Only an answer to a question can be marked as not helpful.")
        return
    question, answer = (html.unescape(_text_of(history[i])) for i in (index - 1, index))
    _call(_service().not_helpful, _session(request), question, answer)
    gr.Info("Thank you: the team will see that this answer did not help.")


def _text_of(message: dict) -> str:
    """The text of a chat message as the page holds it (a string, or a list of parts)."""
    content = message.get("content", "")
    if isinstance(content, list):
        return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def _greeting() -> list[dict]:
    """A new chat: the presenter's first line, from the active corpus (a callable value: every page load asks)."""
    return [{"role": "assistant", "content": _as_text(_service().greeting())}]


def _as_text(text: str) -> str:
    """`text` shown as typed: markup escaped (the chat renders Markdown and sanitises HTML, which
    would turn `<img ...>` into a broken picture instead of the person's words)."""
    return html.escape(text, quote=False)


async def _render(model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    """The presenter's finished, signed video for this session's last reply (as the server kept
    it): the API's `/render` and `/ask`. A new answer renders in the service's own thread (one
    at a time); this only waits for it, holding no thread and no queue slot (see `_waiting`)."""
    answer = await _last_answer(model, framing, request)
    if answer is None:
        return None
    if isinstance(answer, LiveAnswer):
        progress(0.5, desc="Rendering the answer")
        with answer.following():  # a program waiting for the file counts as watching it
            await _waiting(lambda: answer.done)
        if answer.answer is None:
            raise _refusal(_sentence(answer.error or "the answer could not be rendered."))
        answer = answer.answer
    return str(answer.video)


async def _play(model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    """After `_reply` handed the player this session's last reply: wait (holding no thread and no
    queue slot, see `_waiting`) until its first frame is drawn, and refuse with the reason when it
    cannot be made. The player keeps what `_reply` gave it."""
    answer = await _last_answer(model, framing, request)
    if isinstance(answer, LiveAnswer):
        progress(0.5, desc="Preparing the answer, about a second")
        with answer.following():  # waiting for its first frame counts as watching it
            await _waiting(lambda: answer.wait_playable(0))
        if answer.done and answer.answer is None and not answer.superseded:  # superseded: the page moved on
            raise _refusal(_sentence(answer.error or "the answer could not be rendered."))
    return gr.update()


async def _last_answer(model: str | None, framing: str | None, request: gr.Request):
    """What `play` gives for this session's last reply (None before any), off the event loop."""
    history = await asyncio.to_thread(_service().history, _session(request))
    if not history:
        return None
    return await asyncio.to_thread(_call, _service().play, history[-1][1], owner=_owner(request), model=model,
                                   framing=framing, client=_client(request), asker=_session(request))


def _staged(answer, idle: str) -> dict:
    """The player's value for what `play` gave: a ready answer's file, or the live stream of one
    rendering (or just finished: its stream is kept a minute); the listening loop alone when it failed."""
    if isinstance(answer, LiveAnswer):
        if answer.done and answer.answer is None:
            return _stage(idle)
        if not answer.done or answer.streamed():
            return _stage(idle, f"{LIVE_ROUTE}/{answer.id}.mp4", live=True)
        answer = answer.answer
    return _stage(idle, _file_url(answer.video))


async def _waiting(ready, every_s: float = 0.02) -> None:
    """Until `ready()` is true, polled on the event loop: a handler waiting for a render holds
    neither a worker thread nor (with concurrency_limit=None) a slot of the queue."""
    while not ready():
        await asyncio.sleep(every_s)


def _file_url(path) -> str:
    """The URL (relative to the page) at which Gradio serves a file of an allowed folder."""
    return f"gradio_api/file={path}"


def _stage(idle: str = "", answer: str = "", live: bool = False) -> dict:
    """The player's value: the presenter's listening loop and the answer to play (URLs relative
    to the page, "" for none), whether the answer is a live stream, and a fresh `n` (the page
    starts every new value, the same answer again too)."""
    import time

    return {"idle": idle, "answer": answer, "live": live, "n": time.monotonic_ns()}


def _idle(model: str | None, request: gr.Request | None) -> str:
    """The URL of the presenter's listening loop ("" when he has none or it cannot be made)."""
    try:
        path = _service().idle(model, _owner(request) if request else None)
    except Exception:  # the chat reports real errors itself; the player stays dark
        log.exception("the listening loop could not be made")
        return ""
    return _file_url(path) if path else ""


def _listening(model: str | None, request: gr.Request):
    """The player with the presenter listening (page load, another presenter chosen)."""
    return _stage(_idle(model, request))


# On a phone the presenter stays in view at the top while the visitor types, reads and scrolls:
# the chat is as tall as what is left below him above the message box, and each answer brings
# the chat up under him (see `show` in STAGE_JS): the latest answer shows whole between him and
# the box, also with the keyboard open.
PAGE_CSS = """
@media (max-width: 640px) {
  #presenter { position: fixed !important; top: 0; left: 0; right: 0; z-index: 100; margin: 0 !important;
               background: #111; }
  #presenter .presenter-stage { height: 30vh; max-height: none; aspect-ratio: auto; border-radius: 0; }
  #page-top { margin-top: calc(30vh + 8px) !important; }
  #chat { height: max(120px, calc(100dvh - 30vh - 150px)) !important; }
}
"""

# The presenter's player: the answer's video, no native controls (they would cover the
# "AI-generated" label), a replay button once it has played; a live answer is fetched and fed
# to Media Source Extensions as its fragments arrive (a <video src> waits for the whole file).
# A new value (`n`) aborts the previous stream, which frees its render when nobody else watches.
LIVE_ROUTE = "avatar-live"
STAGE_TEMPLATE = """
<div class="presenter-stage" data-n="${value.n}" data-answer="${value.answer}" data-live="${value.live}">
  <video class="idle" src="${value.idle}" muted loop autoplay playsinline aria-hidden="true"
         ${value.idle ? "" : "hidden"}></video>
  <video class="answer" playsinline preload="auto" hidden
         aria-label="The presenter's answer (AI-generated video)"></video>
  <button class="replay" type="button" hidden>Play the answer again</button>
</div>"""
STAGE_CSS = """
.presenter-stage { position: relative; width: 100%; aspect-ratio: 4 / 3; max-height: 360px; background: #111;
                   border-radius: 8px; overflow: hidden; }
.presenter-stage video { position: absolute; inset: 0; width: 100%; height: 100%; object-fit: contain; }
/* An answer fades in over the listening loop beneath it, and out again, in 0.2 s: no hard cut
   between his listening frame and the answer's first (or last) one. */
.presenter-stage video.answer { opacity: 0; transition: opacity 0.2s linear; }
.presenter-stage video.answer.shown { opacity: 1; }
.presenter-stage .replay { position: absolute; left: 8px; top: 8px; padding: 4px 10px; border-radius: 6px;
                           background: rgba(0,0,0,.6); color: #fff; border: 1px solid #fff8; cursor: pointer; }
"""
STAGE_JS = """
let shown = null, reading = null;
const codecs = 'video/mp4; codecs="avc1.640028, mp4a.40.2"';
function stream(video, url) {
  const Source = window.ManagedMediaSource || window.MediaSource;
  const source = new Source();
  reading = new AbortController();
  const signal = reading.signal;
  video.disableRemotePlayback = true;
  video.src = URL.createObjectURL(source);
  source.addEventListener('sourceopen', async () => {
    const buffer = source.addSourceBuffer(codecs);
    const queue = [];
    let finished = false;
    const next = () => {
      if (buffer.updating || source.readyState !== 'open') return;
      if (queue.length) buffer.appendBuffer(queue.shift());
      else if (finished) source.endOfStream();
    };
    buffer.addEventListener('updateend', next);
    try {
      const reader = (await fetch(url, {signal})).body.getReader();
      for (;;) {
        const {done, value} = await reader.read();
        if (done) break;
        queue.push(value);
        next();
      }
    } catch (e) { if (signal.aborted) return; }
    finished = true;
    next();
  }, {once: true});
}
function show() {
  const stage = element.querySelector('.presenter-stage');
  if (!stage || stage.dataset.n === shown) return;
  shown = stage.dataset.n;
  const video = stage.querySelector('video.answer'), replay = stage.querySelector('.replay');
  if (reading) { reading.abort(); reading = null; }
  replay.hidden = true;
  video.classList.remove('shown');
  video.hidden = true;  // shown once it plays: until then (and after it) he listens
  if (!stage.dataset.answer) { video.removeAttribute('src'); video.load(); return; }
  // On a phone (the presenter pinned at the top), the chat is brought up under him: the answer
  // he is saying shows whole between him and the message box.
  if (window.matchMedia('(max-width: 640px)').matches) {
    const chat = document.querySelector('#chat'), pinned = document.querySelector('#presenter');
    window.scrollBy(0, chat.getBoundingClientRect().top - pinned.getBoundingClientRect().bottom - 8);
  }
  video.onplaying = () => {
    video.hidden = false;
    requestAnimationFrame(() => video.classList.add('shown'));  // fades in over the listening loop
  };
  video.onended = () => {
    video.classList.remove('shown');  // fades out to the listening loop, then leaves the stage
    setTimeout(() => { if (video.ended) video.hidden = true; }, 250);
    replay.hidden = false;
  };
  replay.onclick = () => { replay.hidden = true; video.currentTime = 0; video.play(); };
  const streamable = window.ManagedMediaSource || window.MediaSource;
  if (stage.dataset.live === 'true' && streamable) stream(video, stage.dataset.answer);
  else video.src = stage.dataset.answer;
  video.play().catch(() => { replay.hidden = false; });
}
new MutationObserver(show).observe(element, {childList: true, subtree: true, attributes: true});
show();
"""


def build_demo(deploy: Deployment | None = None) -> gr.Blocks:
    _APP["deploy"] = deploy  # what `_service` serves (None: this machine's environment)
    limit = _service().config.max_message
    # delete_cache: Gradio's copies of served videos older than a day are removed every hour.
    with gr.Blocks(title="Synthetic presenter", delete_cache=(3600, 86400)) as demo:
        gr.Markdown("# Synthetic presenter\n" + DISCLOSURE, elem_id="page-top")
        names = list(_service().models())
        # allow_custom_value: a program may name its own adapted presenter; the service refuses
        # every name it does not offer to that person.
        model = gr.Dropdown(_service().model_choices(), value=names[0], label="Presenter", visible=len(names) > 1,
                            interactive=True, allow_custom_value=True)
        framing = gr.Radio(FRAMING_CHOICES, value=_service().render_settings.exemplar.recorded, label=FRAMING_LABEL,
                           visible=_framing_visible(names[0], None)["visible"], interactive=True)
        _APP["upload_boxes"] = []  # the components whose files are people's uploads (see `_uploaded`)
        with gr.Tab("Chat"):
            _chat_tab(model, framing, limit)
        with gr.Tab("Record an answer yourself"):
            _record_tab(model, framing, limit)
        with gr.Tab("Team answers", visible=False) as answers_tab:
            _answers_tab()
        with gr.Tab("Team presenter", visible=False) as presenter_tab:
            _presenter_tab()
        _APP["operator_only"] = [*_APP["operator_buttons"], answers_tab, presenter_tab]
        answers_tab.select(_corpus_view, None, _APP["corpus_view"], api_name=False, concurrency_limit=4,
                           concurrency_id="info")
        answers_tab.select(_coverage_view, None, _APP["coverage"], api_name=False, concurrency_limit=4,
                           concurrency_id="info")
        answers_tab.select(_demo_questions, None, [_APP["demo_questions"]], api_name=False, concurrency_limit=4,
                           concurrency_id="info")
        presenter_tab.select(_drafts_view, None, [_APP["drafts"]], api_name=False, concurrency_limit=4,
                             concurrency_id="info")
        presenter_tab.select(_voices_view, None, _APP["voices"], api_name=False, concurrency_limit=4,
                             concurrency_id="info")
        with gr.Accordion("About this presenter", open=False):
            about = gr.Markdown(_about(names[0], None))
        model.change(_about, [model], [about], api_name=False, concurrency_limit=4, concurrency_id="info")
        model.change(_framing_visible, [model], [framing], api_name=False, concurrency_limit=4, concurrency_id="info")
        demo.load(_model_choices, None, [model], api_name=False, concurrency_limit=4, concurrency_id="info")
        demo.load(_listening, [model], [_APP["stage"]], api_name=False, concurrency_limit=4, concurrency_id="info")
        model.change(_listening, [model], [_APP["stage"]], api_name=False, concurrency_limit=4, concurrency_id="info")
        demo.load(_operator_buttons, None, _APP["operator_only"], api_name=False, concurrency_limit=4,
                  concurrency_id="info")
        visitor = gr.BrowserState(None, storage_key=VISITOR_STORAGE[0], secret=VISITOR_STORAGE[1])
        demo.load(_welcome, [visitor], [visitor, _APP["recorded_lines"]], api_name=False, concurrency_limit=4,
                  concurrency_id="info")
        demo.unload(_end_session)
    _APP["demo"] = demo
    _service().chatbot  # the chat database and matcher ready before the first visitor, not on the first question
    _idle(None, None)  # and the presenter's listening loop
    _service().warm_voice()  # and the voice (its first sentence would wait for it to load)
    if _service().deploy.prerender:
        _service().start_prerendering()
    return demo


def _end_session(request: gr.Request):
    """A browser tab closed: free its chat history."""
    if request is not None and request.session_hash:
        _service().end_session(request.session_hash)
        _VISITORS.pop(request.session_hash, None)


def _welcome(token: str | None, request: gr.Request):
    """A page loaded: a visitor without a login gets (or keeps) the random token their browser
    stores, so their recordings are theirs across reloads and tabs; their recorded lines are listed."""
    import secrets

    if request is not None and request.session_hash and not getattr(request, "username", None):
        try:
            owner = _service().visitor(token or "")
        except UserError:  # none yet, or not one of ours
            token = secrets.token_urlsafe(32)
            owner = _service().visitor(token)
        _VISITORS[request.session_hash] = owner
    return token, _recorded_lines(request)


def _recorded_lines(request: gr.Request):
    """The picker of this person's recorded lines (newest last)."""
    lines = _call(_service().recorded_lines, _owner(request))
    choices = [(f"{row['text'][:80]} ({row['duration']:.1f} s)", row["text"]) for row in lines]
    return gr.Dropdown(choices=choices, value=None, visible=bool(choices),
                       label=f"Your recorded lines ({len(choices)}): pick one to see or replace it")


def _model_choices(request: gr.Request):
    """The picker for this person: shipped, installed and their own adapted presenters."""
    choices = _service().model_choices(_owner(request))
    return gr.Dropdown(choices, visible=len(choices) > 1)


# Recorded answers of a presenter drawn from his own frames can show him in his room or put his
# face into the recording's frame (synthesised answers always show his room).
FRAMING_LABEL = "Answers you recorded show the presenter"
FRAMING_CHOICES = [("in his own room", "own"), ("in your recording's frame", "driver")]


def _framing_visible(name: str, request: gr.Request | None):
    """The framing choice, shown only for a presenter drawn from his own frames."""
    try:
        exemplar = _service().about(name, _owner(request) if request else None)["renderer"] == "exemplar"
    except Exception:  # the tabs report real errors themselves
        exemplar = False
    return gr.update(visible=exemplar)


def _about(name: str, request: gr.Request):
    """Who the face is, what it may be used for, that it is AI-generated; the technical card
    behind a fold."""
    try:
        facts = _service().about(name, _owner(request) if request else None)
    except Exception:  # shown in the panel only; the tabs report real errors themselves
        log.exception("loading the presenter model failed")
        return "The presenter model could not be loaded."
    consent = facts["consent"] or {}
    provenance = ROOT / "assets" / "PROVENANCE.md"
    lead = [
        f"**Whose face this is:** {consent.get('person', 'not recorded')}.",
        f"**Consent and permitted use:** {consent.get('basis', 'no consent record')}. "
        f"May be used for: {consent.get('scope', 'not stated')}.",
        f"**It is AI-generated:** the face is drawn {facts['drawing']}, the voice is synthetic (the voice "
        f"\"{facts['voice']['name']}\": {facts['voice']['source']}), and the "
        "answers come from a chatbot. Every video carries a visible *AI-generated* label and a signed record of "
        "how it was made.",
    ]
    details = ["Every video is signed with content credentials (C2PA): check one with `avatar verify VIDEO.mp4` or "
               f"any C2PA reader, which also names the voice. Voice licence: {facts['voice']['licence']}. The answers "
               "are matched from the team's questions and "
               "answers (a ChatterBot corpus).",
               f"Renderer: {facts['renderer']}; runtime: onnxruntime's `{facts['provider']}`; presenter files' "
               f"SHA-256 `{facts['sha256'][:16]}...` (checked at every load).", _demote(facts["card"] or "(no model card)"),
               *([_demote(provenance.read_text())] if provenance.is_file() else [])]
    return "\n\n".join(lead) + "\n\n<details><summary>Technical details: model card and provenance</summary>\n\n" \
        + "\n\n".join(details) + "\n\n</details>"


def _demote(markdown: str) -> str:
    """Headings two levels down, to sit inside the page."""
    return ("\n" + markdown).replace("\n## ", "\n#### ").replace("\n# ", "\n### ").strip()


def _chat_tab(model: gr.Dropdown, framing: gr.Radio, limit: int) -> None:
    with gr.Row():
        with gr.Column(scale=3):
            stage = gr.HTML(_stage(), html_template=STAGE_TEMPLATE, css_template=STAGE_CSS, js_on_load=STAGE_JS,
                            elem_id="presenter", label="Presenter (AI-generated)")
            video = gr.Video(visible=False)  # the API's answers: finished, signed MP4s
            _APP["stage"] = stage
        with gr.Column(scale=2):
            # The thumbs-down under an answer marks it as not helpful (one click; the team sees it).
            chat = gr.Chatbot(value=_greeting, label="Chat", height=360, render_markdown=False,
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
    for trigger in (message.submit, send.click):
        # The text reply is cheap: its own queue lane, so it never waits behind a render.
        # Playing waits for a render without a slot (`_waiting`): no limit of its own.
        trigger(_reply, [message, chat, model, framing], [chat, message, stage], api_name=False, concurrency_limit=8,
                concurrency_id="chat").success(_play, [model, framing], [stage], api_name=False, concurrency_limit=None)
    chat.option_select(_suggestion, None, [message], api_name=False, concurrency_limit=8, concurrency_id="chat").then(
        _reply, [message, chat, model, framing], [chat, message, stage], api_name=False, concurrency_limit=8,
        concurrency_id="chat").success(_play, [model, framing], [stage], api_name=False, concurrency_limit=None)
    chat.like(_not_helpful, [chat], None, api_name=False, concurrency_limit=8, concurrency_id="chat")
    gr.Button(visible=False).click(_render, [model, framing], [video], api_name="render", concurrency_limit=None)
    export.click(_export, [model, framing], [download], api_name="export")
    demo.click(_demo, [model, framing], [video, download], api_name="demo").success(
        _show_video, [video, model], [stage], api_name=False, concurrency_limit=8, concurrency_id="info")
    gr.Button(visible=False).click(_study, [model, framing], [video, download], api_name="study")
    ask = gr.Textbox(visible=False)
    ask_reply = gr.Textbox(visible=False)
    # One call for programs (gradio_client): message (and optionally a presenter's name) in,
    # (reply text, video) out, through the queue.
    gr.Button(visible=False).click(_ask, [ask, model, framing], [ask_reply, video], api_name="ask",
                                   concurrency_limit=None)


RECORD_HELP = ("Say the line to the camera, facing it, in good light, with your face filling a good part of the "
               "picture: the presenter then gives this answer with your expressions (and your voice, if you keep "
               "it). The recording is checked first (your face must be visible throughout, at least 40 pixels "
               "wide) and saved before anything is made, then the presenter's version is shown. Your recordings "
               "are yours: they change only your own answers.")
ADAPT_CONSENT = ("I agree that my recordings are used to adapt the presenter model to my face (training runs on "
                 "this machine; the recordings and the adapted model stay here and are offered only to me).")


def _record_tab(model: gr.Dropdown, framing: gr.Radio, limit: int) -> None:
    line = gr.Textbox(label="Line to say (one of the presenter's answers)", value="Hello! I'm an AI presenter.",
                      max_length=limit)
    prompter = gr.Markdown("## Hello! I'm an AI presenter.")
    line.change(lambda text: f"## {text}", [line], [prompter], api_name=False, concurrency_limit=8,
                concurrency_id="info")
    gr.Markdown(RECORD_HELP)
    recorded = _APP["recorded_lines"] = gr.Dropdown([], label="Your recorded lines", visible=False, interactive=True)
    recorded.input(lambda text: text, [recorded], [line], api_name=False, concurrency_limit=8, concurrency_id="info")
    recording = gr.Video(label="Your recording", sources=["webcam", "upload"], include_audio=True,
                         elem_id="recording")
    _APP.setdefault("upload_boxes", []).append(recording)
    # Without a camera (most desktops in a meeting room, a locked-down laptop) the box opens on upload.
    gr.HTML("", elem_id="upload-without-camera", js_on_load="""
        (async () => {
          const media = navigator.mediaDevices;
          const devices = media && media.enumerateDevices ? await media.enumerateDevices() : [];
          if (devices.some(d => d.kind === 'videoinput')) return;
          const upload = () => document.querySelector('#recording button[aria-label="Upload file"]');
          if (upload()) { upload().click(); return; }
          const watch = new MutationObserver(() => { if (upload()) { watch.disconnect(); upload().click(); } });
          watch.observe(document.body, {childList: true, subtree: true});
        })();""")
    keep_voice = gr.Checkbox(label="Keep my recorded voice (otherwise the synthesised voice is used)", value=True)
    with gr.Row():
        save = gr.Button("Save and preview", variant="primary")
        delete = gr.Button("Delete the recording for this line")
        publish = gr.Button("Publish for every visitor", visible=False)
        withdraw = gr.Button("Withdraw the published recording for this line", visible=False)
    status = gr.Markdown()
    preview = gr.Video(label="Presenter version (AI-generated)", autoplay=True, interactive=False)
    # The last outcome is cleared first: a refusal never sits under an older "Saved".
    save.click(lambda: "", None, [status], api_name=False, concurrency_limit=8, concurrency_id="info").then(
        _save_recording, [line, recording, keep_voice, model, framing], [status, preview, recording],
        api_name="record").then(_recorded_lines, None, [recorded], api_name=False)
    delete.click(_delete_recording, [line], [status, preview], api_name="delete_recording").then(
        _recorded_lines, None, [recorded], api_name=False)
    publish.click(_publish, [line], [status], api_name="publish")
    withdraw.click(_withdraw, [line], [status], api_name="withdraw")

    gr.Markdown("### Adapt the presenter to your face")
    person = gr.Textbox(label="Your name (for the consent record)", max_length=200)
    agree = gr.Checkbox(label=ADAPT_CONSENT, value=False)
    with gr.Row():
        adapt = gr.Button("Adapt the presenter model")
        adapt_status = gr.Markdown()
    adapt_preview = gr.Image(label="Training preview: you, you -> you, you -> presenter, presenter, presenter -> "
                             "presenter", visible=False, interactive=False)
    timer = gr.Timer(5, active=False)
    adapt.click(_start_adaptation, [agree, person, model], [adapt_status, adapt_preview, timer], api_name="adapt")
    timer.tick(_adaptation_status, [model], [adapt_status, adapt_preview, timer, model], api_name=False,
               concurrency_limit=8, concurrency_id="info")
    _APP["operator_buttons"] = [publish, withdraw]  # shown on load to operators (see `build_demo`)


ANSWERS_HELP = ("Load your team's questions and answers: CSV or TSV rows of `question,answer` (more columns, or "
                "`|` inside the question, give other phrasings of the same question) or chatterbot-corpus YAML. "
                "Files are checked whole first: a mistake is reported with its file and line and nothing changes. "
                "Each load is kept as a version; the presenter answers every visitor from the active one. "
                "Questions are matched by meaning, so customers may ask in their own words. When no answer is "
                "close the presenter says the fallback line; when two are close, or none is close enough, it "
                "asks back and offers the nearest questions. Both, and answers visitors marked as not helpful, "
                "are listed below: attach such a question to the right answer and it is answered from then on.")
CORPUS_COLUMNS = ["version", "name", "answers", "phrasings", "loaded", "active"]
MISSES_COLUMNS = ["what happened", "question", "times asked", "last asked (UTC)", "what the presenter said"]
MISS_WORDS = {"unanswered": "not answered", "unsure": "asked back", "unhelpful": "marked not helpful"}


def _answers_tab() -> None:
    gr.Markdown(ANSWERS_HELP)
    files = gr.File(label="Corpus files (.csv, .tsv, .yml)", file_count="multiple",
                    file_types=[".csv", ".tsv", ".yml", ".yaml"], elem_id="corpus-files")
    with gr.Row():
        name = gr.Textbox(label="Name (optional)", max_length=200)
        greeting = gr.Textbox(label="Greeting after the AI notice (optional)", max_length=1000,
                              placeholder="Ask me about orders, delivery and returns.")
        fallback = gr.Textbox(label="Fallback line (optional)", max_length=1000,
                              placeholder="I'm sorry, I can't answer that yet. I'll pass your question to a colleague.")
    with gr.Row():
        activate = gr.Checkbox(label="Answer from it at once", value=True)
        load = gr.Button("Load the corpus", variant="primary")
    status = gr.Markdown()
    coverage = gr.Markdown()
    table = gr.Dataframe(headers=CORPUS_COLUMNS, label="Corpus versions", interactive=False, wrap=True)
    with gr.Row():
        version = gr.Dropdown([], label="Version", interactive=True)
        use = gr.Button("Answer from this version")
    gr.Markdown("### What the presenter missed")
    unanswered = gr.Dataframe(headers=MISSES_COLUMNS, label="Not answered, asked back, or marked not helpful; "
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
    demo = gr.Textbox(label="Questions the \"Play the demo dialogue\" button asks, one per line (at most 10; "
                      "empty: the study's five questions)", lines=5, max_length=5500)
    with gr.Row():
        save_demo = gr.Button("Save the demo questions")
        demo_status = gr.Markdown()
    save_demo.click(_set_demo, [demo], [demo_status, demo], api_name="set_demo")
    _APP["demo_questions"] = demo
    shown = [coverage, table, version, unanswered, download, missed, answer_to]
    attach.click(_attach, [missed, answer_to], [status, *shown], api_name="attach_phrasing")
    load.click(_load_corpus, [files, name, greeting, fallback, activate], [status, *shown], api_name="load_corpus")
    use.click(_use_corpus, [version], [status, *shown], api_name="use_corpus")
    refresh.click(_corpus_view, None, shown, api_name="corpora")
    timer = gr.Timer(5, active=False)
    timer.tick(_coverage, None, [coverage], api_name=False, concurrency_limit=4, concurrency_id="info")
    _APP["corpus_view"] = shown
    _APP["coverage"] = [coverage, timer]


PRESENTER_HELP = ("Make a presenter from a colleague who agrees: upload 1 to 5 minutes of them alone, talking to the "
                  "camera, face well lit and filling a good part of the picture. The video is checked first (too "
                  "short, no face, several faces, a face too small or too dark are refused, with the reason). The "
                  "presenter is drawn only from their own frames. Fill in their consent: it is kept with the "
                  "presenter, shown in its About panel and stated in every video it makes. It stays a draft, which "
                  "only you can preview, until you publish it for every visitor.")
PREVIEW_LINE = "Hello! I'm an AI presenter. Ask me anything about our shop."


def _presenter_tab() -> None:
    gr.Markdown(PRESENTER_HELP)
    with gr.Accordion("What to record: a 90-second script", open=False, elem_id="recording-guide"):
        gr.Markdown(RECORDING_GUIDE)
    # include_audio: without it Gradio strips the sound with a system ffmpeg it may not find; the sound is unused.
    source = gr.Video(label="Their video (1-5 minutes)", sources=["upload"], include_audio=True,
                      elem_id="presenter-source")
    _APP.setdefault("upload_boxes", []).append(source)
    with gr.Row():
        name = gr.Textbox(label="Presenter name (lower case, e.g. anna-support)", max_length=40)
        person = gr.Textbox(label="Person's full name", max_length=200)
        given = gr.Textbox(label="Consent date (YYYY-MM-DD)", max_length=10)
    with gr.Row():
        scope = gr.Textbox(label="What the presenter may be used for", max_length=500,
                           placeholder="Customer-relations demos inside the company")
        basis = gr.Textbox(label="How consent was given", max_length=500, placeholder="Signed consent form #12")
    agree = gr.Checkbox(label="I confirm this person agreed, as recorded above, to be made into an AI presenter.")
    build = gr.Button("Build the presenter", variant="primary")
    status = gr.Markdown()
    preview = gr.Video(label="Preview (AI-generated)", autoplay=True, interactive=False)
    with gr.Row():
        draft = gr.Dropdown([], label="Draft presenters", interactive=True)
        publish = gr.Button("Publish for every visitor")
    report = gr.Markdown(elem_id="coverage-report")  # what the chosen draft's footage holds
    build.click(_build_presenter, [source, name, person, given, scope, basis, agree], [status, preview, draft],
                api_name="build_presenter")
    draft.change(_draft_report, [draft], [report], api_name=False, concurrency_limit=4, concurrency_id="info")
    publish.click(_publish_presenter, [draft], [status, draft], api_name="publish_presenter")
    _APP["drafts"] = draft
    gr.Markdown("### Voice\n\nWhich synthetic voice a presenter's answers are spoken in (answers already made "
                "in another voice are kept for that voice). About and every video's credentials name it.")
    with gr.Row():
        voiced = gr.Dropdown([], label="Presenter (published or draft)", interactive=True, elem_id="voice-presenter")
        voice = gr.Dropdown([], label="Speaks with", interactive=True, elem_id="voice-choice")
        use_voice = gr.Button("Use this voice", elem_id="use-voice")
    voice_status = gr.Markdown(elem_id="voice-status")
    voiced.change(_presenter_voice, [voiced], [voice], api_name=False, concurrency_limit=4, concurrency_id="info")
    use_voice.click(_choose_voice, [voiced, voice], [voice_status], api_name="choose_voice")
    _APP["voices"] = [voiced, voice]


def _draft_report(name: str | None, request: gr.Request) -> str:
    """What the chosen draft's footage holds, and what the presenter does without what it lacks."""
    _operator_only(request, "see the draft presenters")
    if not name:
        return ""
    return f"#### What {name}'s footage holds\n\n" + coverage_markdown(_call(_service().draft_coverage, name))


def _voices_view(request: gr.Request):
    """Every presenter (published, then drafts) and every voice, for the operator's voice picker."""
    _operator_only(request, "choose a presenter's voice")
    presenters = _service().model_choices(_owner(request)) + _service().draft_choices()
    first = presenters[0][1] if presenters else None
    return (gr.Dropdown(choices=presenters, value=first),
            gr.Dropdown(choices=_service().voice_choices(), value=_call(_service().presenter_voice, first)
                        if first else None))


def _presenter_voice(name: str | None, request: gr.Request):
    _operator_only(request, "choose a presenter's voice")
    return gr.Dropdown(value=_call(_service().presenter_voice, name) if name else None)


def _choose_voice(name: str | None, voice: str | None, request: gr.Request) -> str:
    _operator_only(request, "choose a presenter's voice")
    if not name or not voice:
        raise _refusal("Pick a presenter and a voice first.")
    _call(_service().choose_voice, name, voice, _owner(request))
    return f"**{name}** now speaks with the voice **{voice}**."


def _drafts_view(request: gr.Request):
    """The draft presenters kept on this machine (the tab opened: after a reload too), newest first."""
    _operator_only(request, "see the draft presenters")
    drafts = _service().draft_choices()
    return gr.Dropdown(choices=drafts, value=drafts[0][1] if drafts else None)


def _build_presenter(video: str | None, name: str, person: str, given: str, scope: str, basis: str, agree: bool,
                     request: gr.Request, progress=gr.Progress()):
    _operator_only(request, "build a presenter")
    if not agree:
        raise _refusal("Confirm that the person agreed (the box above the button) first.")
    if not video:
        raise _refusal("Upload the person's video first.")
    if not _uploaded(video, request):  # a path to a served answer would make a presenter of an AI-generated face
        raise _refusal("Upload the person's video with this request: only a file you uploaded can be used.")
    consent = {"person": person, "date": given, "scope": scope, "basis": basis}
    folder = _call(_service().build_presenter, Path(video), name, consent, progress=_progress(progress))
    Path(video).unlink(missing_ok=True)  # his frames are in the presenter now (a refused upload is kept, to retry)
    answer = _call(_service().preview_presenter, folder.name, PREVIEW_LINE, export_path("preview", "preview.mp4"),
                   progress=_progress(progress))
    return (f"Built **{folder.name}** from their own frames (a draft). Watch the preview; publish it below to offer "
            "it to every visitor.", str(answer.video), gr.Dropdown(choices=_service().draft_choices(), value=folder.name))


def _publish_presenter(name: str | None, request: gr.Request):
    _operator_only(request, "publish a presenter")
    if not name:
        raise _refusal("Pick a draft presenter first.")
    lacking = missing_essentials(_call(_service().draft_coverage, name))
    folder = _call(_service().publish_presenter, name)
    warning = f" Its footage lacks {', '.join(lacking)}: see what it does instead above." if lacking else ""
    return (f"Published: every visitor can now choose **{folder.name}** (reload the page to see it in the list)."
            + warning, gr.Dropdown(choices=_service().draft_choices(), value=None))


def _operator_only(request: gr.Request | None, what: str) -> None:
    if not _is_operator(request):
        raise _refusal(f"Only an operator can {what}; log in with an operator account.")


def _coverage(request: gr.Request):
    """How many of the active corpus's answers play at once (pre-rendered or recorded), and which wait."""
    _operator_only(request, "see the answers' coverage")
    rows = _call(_service().coverage)
    ready = [r for r in rows if r["state"] == "ready"]
    waiting = len(rows) - len(ready)
    recorded = sum(r["recorded"] for r in rows)
    text = f"**Ready to play at once: {len(ready)} of {len(rows)} answers**"
    if recorded:
        text += f" ({sum(r['recorded'] for r in ready)} of the {recorded} recorded by an operator)"
    text += f"; {waiting} waiting." if waiting else "."
    if waiting and not _service().deploy.prerender:
        text += " Pre-rendering is off on this server (AVATAR_PRERENDER=0): answers render when first asked."
    elif waiting:
        text += " The rest are being rendered in the background, after visitors' own answers."
    return text


def _coverage_view(request: gr.Request):
    """The coverage, refreshed every 5 s while the operator has the page."""
    return _coverage(request), gr.Timer(active=True)


def _corpus_view(request: gr.Request):
    """The coverage, the corpus versions, the version picker, the active corpus's misses and
    their CSV, and the choices for attaching a missed question to an answer."""
    from datetime import datetime, timezone

    _operator_only(request, "see the team's corpora")
    corpora = _service().corpora
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
    answers = [(f"{q[0]} ({_short(a)})", q[0]) for q, a in corpora.chatbot().entries]
    return (_coverage(request), gr.update(value=table), gr.update(choices=choices, value=active),
            gr.update(value=listed),
            gr.update(value=_misses_file(corpora.misses_text(misses) if misses else None)),
            gr.update(choices=questions, value=questions[0] if questions else None),
            gr.update(choices=answers, value=None))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def _attach(question: str | None, to: str | None, request: gr.Request):
    """The operator makes a missed question a new phrasing of an answer (a new, active version)."""
    _operator_only(request, "change the team's answers")
    if not to:
        raise _refusal("Choose the answer this question should get first.")
    row = _call(_service().corpora.add_phrasing, question or "", to, by=_owner(request))
    status = (f"From now on **{_short(question or '')}** is answered with the answer to **{to}** "
              f"(new version {row['version']} of {row['name']}, {row['phrasings']} phrasings).")
    return status, *_corpus_view(request)


def _demo_questions(request: gr.Request) -> str:
    _operator_only(request, "see the demo questions")
    return "\n".join(_service().demo_questions())


def _set_demo(text: str, request: gr.Request):
    _operator_only(request, "set the demo questions")
    kept = _call(_service().set_demo_questions, (text or "").splitlines())
    if not kept:
        return "The demo plays the study's five questions again.", ""
    return (f"Saved: the demo dialogue asks these {len(kept)} questions, answered from the active corpus.",
            "\n".join(kept))


def _misses_file(text: str | None) -> str | None:
    """The misses' CSV text as a file to download (None when there are none)."""
    if not text:
        return None
    out = export_path("misses", "missed-questions.csv")
    out.write_text(text, encoding="utf-8")
    return str(out)


def _load_corpus(files: list[str] | None, name: str, greeting: str, fallback: str, activate: bool,
                 request: gr.Request):
    _operator_only(request, "load a corpus")
    if not files:
        raise _refusal("Choose one or more corpus files (.csv, .tsv or .yml) first.")
    row = _call(_service().corpora.load, [Path(f) for f in files], name.strip() or None, fallback, greeting,
                by=_owner(request), activate=activate)
    state = "the presenter now answers from it" if row["active"] else "not active: pick it below to answer from it"
    status = (f"Loaded **{row['name']}** (version {row['version']}): {row['pairs']} answers, "
              f"{row['phrasings']} phrasings; {state}.")
    return status, *_corpus_view(request)


def _use_corpus(version: str | None, request: gr.Request):
    _operator_only(request, "choose the corpus")
    if not version:
        raise _refusal("Pick a version first.")
    row = _call(_service().corpora.use, version)
    return f"The presenter now answers every visitor from **{row['name']}**.", *_corpus_view(request)


def _operator_buttons(request: gr.Request):
    """The operators' buttons and tab, shown only to a logged-in operator."""
    visible = _is_operator(request)
    return [gr.update(visible=visible) for _ in _APP.get("operator_only", [None, None])]


def _is_operator(request: gr.Request | None) -> bool:
    """Whether this request's login has the operator role (no login never has)."""
    accounts = _APP.get("accounts")
    return bool(accounts and request is not None and accounts.is_operator(getattr(request, "username", None)))


def _start_adaptation(agree: bool, person: str, model: str | None, request: gr.Request):
    if not agree:
        raise _refusal("Tick the box to agree that your recordings are used for the adaptation first.")
    status = _call(_service().adapt, _owner(request), person, model)
    return status.message, gr.Image(visible=False), gr.Timer(active=True)


def _adaptation_status(model: str | None, request: gr.Request):
    """Polled every 5 s while adapting: progress, preview, and the new model in the picker when done."""
    owner = _owner(request)
    status = _call(_service().adaptation_status, owner, model)
    text = status.message + (f" ({status.share:.0%})" if status.running else "")
    # The preview's pixels, not its path: the training folder is private (blocked from file routes).
    preview = (gr.update(value=read_preview(status.preview), visible=True) if status.preview
               else gr.update(visible=False))
    picker = gr.Dropdown(_service().model_choices(owner)) if status.state == "done" else gr.Dropdown()
    return text, preview, gr.Timer(active=status.running), picker


def _uploaded(path: str, request: gr.Request | None) -> bool:
    """Whether `path` is a file this request's client uploaded to this app, not one it served nor
    another client's upload (a request can name any path in Gradio's cache, e.g. another
    session's answer; only one's own uploads may be taken and deleted, see `gate.Uploads`).
    True outside a running app (handlers called directly)."""
    blocks, boxes = _APP.get("demo"), _APP.get("upload_boxes", [])
    if blocks is None or not blocks.has_launched:
        return True
    # Gradio copies inputs into their component's cache too: the upload boxes' own files are uploads.
    own = [blocks.upload_file_set, *(box.temp_files for box in boxes)]
    served = set().union(*(files for files in blocks.temp_file_sets if not any(files is o for o in own)))
    if str(path) not in blocks.upload_file_set or str(path) in served:
        return False
    owners = _APP.get("uploads")
    client = client_cookie(request.headers.items()) if request is not None else None
    return owners is None or owners.uploaded_by(str(path), client)


def _save_recording(line: str, recording: str | None, keep_voice: bool, model: str | None, framing: str | None,
                    request: gr.Request, progress=gr.Progress()):
    if not (line or "").strip():
        raise _refusal("Write the line you are going to say first.")
    if not recording:
        raise _refusal("Record or upload a video first.")
    if not _uploaded(recording, request):
        raise _refusal("Upload or record the video with this request: only a file you uploaded can be saved.")
    owner = _owner(request)
    try:
        _call(_service().presenter, model, owner)  # checked before anything is saved
        _call(_service().render_config, framing)
        clip = _call(_service().record, owner, line, Path(recording))
    finally:
        Path(recording).unlink(missing_ok=True)  # the raw upload: kept only as our checked copy
    saved = f"Saved ({clip.duration:.1f} s{', with sound' if clip.audio else ', no sound'})."
    if clip.trimmed:
        saved += f" {clip.trimmed:.1f} s of quiet before and after your words was cut."
    if keep_voice and clip.audio is None:
        saved += " The recording has no sound, so the synthesised voice is used."
    saved += " " + _service().adaptation_status(owner, model).message
    try:
        answer = _service().say(line, owner=owner, model=model, progress=_progress(progress),
                                recorded_voice=keep_voice, framing=framing)
    except Exception:
        log.exception("preview failed")
        return saved + " The preview could not be rendered; the recording is kept.", None, None
    if abs(answer.duration - clip.duration) > 0.1:  # the synthesised voice: the take follows its pace
        pace = "slowed down" if answer.duration > clip.duration else "sped up"
        saved += (f" With the synthesised voice the take is {pace} to fit the line "
                  f"({clip.duration:.1f} s -> {answer.duration:.1f} s).")
    return saved, str(answer.video), None


def _delete_recording(line: str, request: gr.Request):
    """Delete this person's recording of `line`, the answers made from it and Gradio's copies."""
    deleted = _call(_service().forget_recording, _owner(request), line)
    if deleted is None:
        return "There was no recording for this line.", None
    _forget_served_copies(deleted)
    return "Deleted.", None


def _forget_served_copies(names: list[str]) -> None:
    """Delete Gradio's served copies of these files (it copies every file it serves into its cache)."""
    if not names:
        return
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder())
    for name in names:
        for copy in root.glob(f"*/{name}"):
            copy.unlink(missing_ok=True)


def _publish(line: str, request: gr.Request):
    if not _is_operator(request):
        raise _refusal("Only an operator can publish a recording for every visitor; log in with an operator account.")
    clip = _call(_service().publish, _owner(request), line)
    return f"Published: every visitor who gets the reply \"{clip.text}\" now sees this recording."


def _withdraw(line: str, request: gr.Request):
    """An operator takes back the recording published for `line`: visitors get the synthesised
    answer again (the answers made from it, and Gradio's served copies, are deleted)."""
    if not _is_operator(request):
        raise _refusal("Only an operator can withdraw a published recording; log in with an operator account.")
    deleted = _call(_service().unpublish, line)
    if deleted is None:
        return "No recording is published for this line."
    _forget_served_copies(deleted)
    return "Withdrawn: visitors now get the synthesised answer for this line."


def _export(model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    """This session's dialogue, as the server kept it, as one video with subtitles."""
    out = export_path("dialogue", "dialogue.mp4")  # Gradio serves its own copy; ours is only needed briefly
    video, srt = _call(_service().export, _session(request), out, owner=_owner(request), model=model,
                       progress=_progress(progress), framing=framing)
    return [str(video), str(srt)]


def _demo(model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    """The demo dialogue (the team's questions, else the study's five) as a conversation of its
    own (the person's chat is left as it was), exported as one video with subtitles."""
    video, srt = _call(_service().demo_video, _session(request), owner=_owner(request), model=model,
                       progress=_progress(progress), framing=framing)
    return str(video), [str(video), str(srt)]


def _study(model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    """The study's dialogue of its five questions, as a conversation of its own (the person's
    chat is left as it was), exported as one video with subtitles."""
    video, srt = _call(_service().demo_video, _session(request), owner=_owner(request), model=model,
                       progress=_progress(progress), framing=framing, study=True)
    return str(video), [str(video), str(srt)]


def _show_video(video: str | None, model: str | None, request: gr.Request):
    """The page's player plays a finished video (the study's dialogue)."""
    return _stage(_idle(model, request), _file_url(video)) if video else gr.update()


async def _ask(message: str, model: str | None, framing: str | None, request: gr.Request, progress=gr.Progress()):
    reply = await asyncio.to_thread(_call, _service().reply, message, _session(request))
    return reply, await _render(model, framing, request, progress)


_NAMED_CALL = re.compile(r"/gradio_api/call/(?:v2/)?([^/]+)")


class PublicApiOnly:
    """ASGI middleware: `/gradio_api/call/NAME` reaches only the handlers published as API
    (`api_name="..."`); page events (api_name=False: Gradio names them false, false_1, ...) are
    answered 404 by name. The page itself reaches every handler through the queue, and each
    handler checks its inputs as if they came from anyone."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = _NAMED_CALL.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match and match.group(1) not in _public_api(scope.get("app")):
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


# The login page (Gradio's own form says only "Incorrect credentials" whatever went wrong).
LOGIN_MESSAGE = ("<b>Synthetic presenter</b>: log in with the account your team gave you. After 5 wrong passwords "
                 "in a row, each next try waits longer (up to 5 minutes).")

_LIVE_PATH = re.compile(rf"/{LIVE_ROUTE}/([A-Za-z0-9_-]+)\.mp4$")


class LiveStreams:
    """ASGI middleware: `GET .../avatar-live/ID.mp4` follows a live answer (see `_play`): its
    fragmented MP4 as it grows, until it is finished (404 for an unknown or expired id). The id
    is unguessable and given only to the session that asked; a browser that stops reading stops
    counting as a watcher (the render stops when nobody watches)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        match = _LIVE_PATH.search(scope.get("path", "")) if scope["type"] == "http" else None
        if match is None or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        from starlette.responses import PlainTextResponse, StreamingResponse

        live = _service().live(match.group(1))
        if live is None:
            response = PlainTextResponse("Not Found", status_code=404)
        else:
            _small_send_buffer(receive)
            response = StreamingResponse(_follow(live), media_type="video/mp4", headers={"Cache-Control": "no-store"})
        await response(scope, receive, send)


STREAM_CHUNK = 16 * 1024  # see `LiveAnswer.stall_s`


async def _follow(live):
    """The bytes of a live answer's stream as they are written, to its end, each chunk's send
    reported to the answer (a reader whose sends stop being taken stops counting as watching)."""
    offset = 0
    with live.following() as reader:
        while True:
            done = live.done  # read before the bytes: nothing written before it was done is missed
            data = live.read(offset, STREAM_CHUNK)
            if data:
                offset += len(data)
                reader.sending()
                yield data
                reader.taken()
            elif done:
                return
            else:
                await asyncio.sleep(0.02)


def _small_send_buffer(receive, size: int = 32 * 1024) -> None:
    """Keep a live stream's socket buffer small. Linux grows a socket's send buffer to megabytes
    (on localhost a whole answer), so a client that never reads would take every byte and look
    like a watcher to the end of the render; with a small buffer its sends wait and it stops
    counting (see `LiveAnswer.watched`). The socket is reached through uvicorn's request cycle
    (its `receive` is a method of it); under another server nothing changes."""
    import socket

    transport = getattr(getattr(receive, "__self__", None), "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        except OSError:  # not a TCP socket (a Unix socket behind a proxy): its buffer stays
            log.debug("the live stream's send buffer could not be set")


def _public_api(app) -> set[str]:
    blocks = app.get_blocks() if app is not None and hasattr(app, "get_blocks") else None
    return {fn.api_name for fn in blocks.fns.values() if fn.api_visibility == "public"} if blocks else set()


def launch_options(deploy: Deployment | None = None) -> dict:
    """Safe defaults for `demo.launch` under `deploy` (default: this machine's environment):
    its host and port (local only unless it says otherwise), uploads capped (`deploy.max_upload`),
    source, model, key and data folders blocked, and a login when there are accounts (`avatar.service.logins`)."""
    from starlette.middleware import Middleware

    deploy = deploy or Deployment.from_env()
    accounts = _APP["accounts"] = logins(deploy)
    uploads = _APP["uploads"] = UploadOwners()
    served, private = served_folders(deploy)
    private += [ROOT / "models", ROOT / "avatar", ROOT / ".venv", ROOT / "tests", ROOT / "app.py"]
    return {
        "server_name": deploy.host, "server_port": deploy.port, "share": False, "show_error": False,
        "max_file_size": deploy.max_upload, "enable_monitoring": False,
        # Gradio only serves files from the working directory, the temp dir and these: the rendered
        # answers and dialogue exports (names are unguessable hashes and random folders).
        "allowed_paths": [str(p) for p in served],
        "blocked_paths": [str(p) for p in private],
        "auth": accounts.login if accounts else None,
        "auth_message": LOGIN_MESSAGE if accounts else None,
        "app_kwargs": {"middleware": [Middleware(BadRequests), Middleware(PublicApiOnly),
                                      Middleware(Logins, accounts=accounts, guarded=[_LIVE_PATH]),
                                      Middleware(Uploads, owners=uploads), Middleware(LiveStreams)]},
        "css": PAGE_CSS,
    }


def queue(demo: gr.Blocks, deploy: Deployment | None = None) -> gr.Blocks:
    """Every handler goes through the queue (REST calls that would skip it are refused); at
    most 16 waiting; text replies and page updates in their own lanes. Renders run one at a
    time when this process renders them (answers already rendered are served meanwhile); with
    render workers (`deploy.broker`; default: this machine's environment) a replica waits on up
    to `deploy.replica_renders` (default 8) jobs at once and the workers set the pace."""
    deploy = deploy or Deployment.from_env()
    # Up to 8 handlers at once either way: here the service itself renders one answer at a time
    # (its render lock), so an answer already rendered never waits behind others' renders.
    renders = deploy.replica_renders if deploy.broker else 8
    return demo.queue(api_open=False, max_size=16, default_concurrency_limit=renders)


def serve(deploy: Deployment, note: Callable[[str], None] = print) -> None:
    """Build, queue and launch the app under `deploy` (until stopped), first telling `note` who
    must log in, or warning when it listens beyond this machine without a login."""
    accounts = logins(deploy)
    if accounts:
        note(f"login required: {'one operator (--auth)' if deploy.auth else f'{len(accounts.accounts())} account(s)'}")
    elif deploy.host not in ("127.0.0.1", "localhost"):
        note(f"warning: serving on {deploy.host} without a login: anyone who can reach it can use the app "
             "(add accounts with `avatar users add`)")
    queue(build_demo(deploy), deploy).launch(**launch_options(deploy))
