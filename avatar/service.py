"""The facade the app and the CLI call: a message in, the presenter's answer out; recordings,
adaptation, exports and facts about presenters, each owned by one person.

reply(message): chat reply (bounded, per session) -> speech (WAV + phoneme timings) -> driver
clip (the person's own recorded answer for this reply, else one an operator published, else
synthesised from the driver library) -> `render.render_clip` (the presenter drawn from his own
frames or by the swap, label, encode, sign).
Finished answers are cached by (reply text, model, voice, settings, recording), so a repeated
answer is instant.

People: an `owner` is a login name when the app runs with a login, else the browser session;
they are stored by `owner_key` (a hash). Recordings, the answer index and chat histories are
rows in the shared database (`avatar.store`), their files in media storage (`avatar.storage`),
so any app replica can serve any person (see `avatar.config.Deployment`). Published recordings
(an operator's, for every visitor) belong to the owner "published". Adaptation jobs are per
(owner, presenter): they train in this process, or on a worker; either way their progress is
reported to the database and the adapted presenter published to media storage and listed in the
database (the one list of adapted presenters), so every replica offers it.

`open_service(deploy)` builds the service a deployment describes. Rendering happens in this
process (one at a time, clients in turn: `avatar.serving.lane`) unless a broker is configured;
then it is a job for `avatar worker` processes (sent by `avatar.jobs`, run by `avatar.worker`).
Its rooms (`avatar.serving`) own their own state: the render lane, live answers, adapted
presenters. torch and face_recognition are never imported here.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import shutil
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Callable

from avatar.accounts import SingleLogin, Users
from avatar.adaptation import RUNNING, AdaptConfig, Adaptation, AdaptStatus
from avatar.chat import ENGLISH, Chatbot, Reply
from avatar.chat.bot import CLARIFY, ensure_trained
from avatar.chat.corpora import Corpora
from avatar.config import FRAMINGS, Deployment, MediaLimits, RenderConfig
from avatar.driver import DriverLibrary, RecordedClip
from avatar.driver.spoken import SpokenDriver
from avatar.driver.library import DEFAULT_LIBRARY
from avatar.driver.recorded import adopt_folder_recordings
from avatar.errors import UserError, quoted
from avatar.serving.adapted import AdaptedPresenters
from avatar.serving.lane import RenderLane
from avatar.serving.live import ABANDONED, SUPERSEDED, AnswerAbandoned, LiveAnswer
from avatar.serving.people import People, owner_key
from avatar.inference import SwapModel, load_swap_model
from avatar.media import normalize
from avatar.media.clip import DriverClip
from avatar.paths import cache_dir, private_dirs, scratch_dir, sweep_scratch, writable_dir
from avatar.presenter import (DEFAULT_MODEL, MODEL_FILE, RECORD_FILE, Presenter, available_models, display_name,
                              model_folder, open_presenter, picker_choices)
from avatar.presenter_build import (DRAFTS, INSTALLED, FootageConfig, build_presenter, check_name, draft_coverage,
                                    drafts, models_folder, publish_presenter)
# The recording guide and the coverage report's words, for the UI (which imports only this module).
from avatar.presenter_build import RECORDING_GUIDE, coverage_markdown, missing_essentials  # noqa: F401
from avatar.provenance.credentials import sign_video
from avatar.render import PresenterLibrary, load_drawing, render_clip, spoken_clip
from avatar.render.exemplar.idle import render_idle
from avatar.render.dialogue import Turn, export_dialogue
from avatar.speech import SpeechConfig, speech_openings, synthesize, write_wav
from avatar.speech.voices import all_voices, disclosure, find_voice
from avatar.storage import LocalStorage, open_storage
from avatar.store import Store

Progress = Callable[[float, str], None]
log = logging.getLogger(__name__)
# The study's demo dialogue (the paper's five questions), answered from the English corpus.
STUDY_QUESTIONS = ("Do you know gossip?", "What is AI?", "What is a super computer?", "How does a computer work?",
                   "What was the first computer?")
DEMO_SETTING, DEMO_MAX = "demo_questions", 10  # the team's own demo dialogue (see `demo_dialogue`)


@dataclass(frozen=True)
class ServeConfig:
    """Bounds on every request's work."""

    max_message: int = 500  # characters in a message (and in a line to record)
    max_reply: int = 1500  # characters a rendered answer may say (corpus answers are far shorter)
    history: int = 50  # exchanges kept per session (and exported at most)
    sessions: int = 10_000  # sessions whose history is kept at once
    answer_cache_bytes: int = 2 * 1024**3  # rendered answers kept; the least recently used go first
    # A recording is at most this long (`Deployment.max_recording`), and at most 10 s + 2 s a word
    # of its line: checking and rendering it holds the render lane.
    max_recording: float = 60.0
    visitor_days: float = 7.0  # a visitor without a login who does not come back for this long loses their recordings
    live_grace_s: float = 3.0  # an answer streaming to nobody for this long stops rendering (see LiveAnswer)

    def recording_limit(self, line: str) -> float:
        """The longest recording accepted for `line`, in seconds."""
        return min(self.max_recording, 10.0 + 2.0 * len(line.split()))


@dataclass(frozen=True)
class Answer:
    """text: what the presenter says; video: the MP4; driver: "recorded" or "synthesised";
    seconds: time by stage (chat, speech, driver, track, align, swap, composite, encode, sign)."""

    text: str
    video: Path
    duration: float
    driver: str
    cached: bool
    seconds: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Exchange:
    """One message's outcome for a page (`Avatar.converse`): the chatbot's `reply`; `answer`, the
    presenter saying it (a ready `Answer` or a `LiveAnswer` rendering), or None with `problem`, the
    sentence saying why there is no video; `listening`, his listening loop (None: he has none)."""

    reply: Reply
    answer: Answer | LiveAnswer | None
    problem: str | None
    listening: Path | None


def _stat(path: Path):
    try:
        return path.stat()
    except OSError:
        return None


def export_path(prefix: str, filename: str, max_age_s: float = 3600) -> Path:
    """A fresh file path in the served exports folder (`<cache>/exports/<prefix>-XXXX/filename`);
    folders of `prefix` older than `max_age_s` are removed first (what they held was served)."""
    exports = writable_dir(cache_dir("exports"), "exports folder")
    for old in exports.glob(f"{prefix}-*"):
        if time.time() - old.stat().st_mtime > max_age_s:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=exports)) / filename


def read_preview(path: Path):
    """The training preview's pixels as an RGB PIL image (its folder is private: the app shows
    pixels, never the path)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


IDLE_VERSION = 2  # of the listening loop's choice of frames (see `idle`)
VOICE_SETTING = "voice:"  # + a presenter's name: the voice an operator chose for him (`choose_voice`)


def open_service(deploy: Deployment | None = None, render: RenderConfig = RenderConfig()) -> Avatar:
    """The presenter service of `deploy` (default: this machine's, `Deployment.from_env()`): its
    presenter, shared state, broker, recording limit and adaptation steps; `render`: how it renders."""
    deploy = deploy or Deployment.from_env()
    return Avatar(model=deploy.model, deploy=deploy, render=render, adapt=AdaptConfig.for_steps(deploy.adapt_steps),
                  config=ServeConfig(max_recording=deploy.max_recording))


def upgrade_database(deploy: Deployment | None = None) -> str:
    """Create or migrate the shared tables of `deploy` (default: this machine's); with a shared
    database (`deploy.db`) also train the chat corpus into it, once. Returns a line saying so."""
    deploy = deploy or Deployment.from_env()
    store = Store(deploy.db_url).prepare()
    statements = ensure_trained(deploy.db) if deploy.db else None
    return f"{store.shown_url}: schema up to date" + (f", {statements} chat statements" if statements is not None else "")


def logins(deploy: Deployment) -> SingleLogin | Users | None:
    """The app's accounts under `deploy`: one operator login when `deploy.auth` is "user:password",
    else the users file's accounts when it has any; None: no login. A `deploy.auth` without a
    colon is refused (UserError), never taken for no login."""
    if deploy.auth:
        if ":" not in deploy.auth:
            raise UserError("the one operator login (--auth or AVATAR_AUTH) takes USER:PASSWORD.")
        return SingleLogin(*deploy.auth.split(":", 1))
    users = Users(deploy.users_file)
    return users if users.accounts() else None


def served_folders(deploy: Deployment) -> tuple[list[Path], list[Path]]:
    """(the folders the app may serve files from: rendered answers and exports; the folders it
    must never serve: the cache's private ones and a shared media folder's recordings)."""
    served, private = [cache_dir("answers"), cache_dir("exports")], private_dirs()
    if deploy.storage and "://" not in deploy.storage:  # a shared media folder
        served.append(Path(deploy.storage).expanduser() / "answers")
        private.append(Path(deploy.storage).expanduser() / "recorded")
    return served, private


def _bounded(text: str | None, limit: int, empty: str, too_long: str) -> str:
    """`text` stripped; UserError(`empty`) when nothing is left, UserError(`too_long` with {n}
    and {limit}) when it is longer than `limit` characters."""
    if text is not None and not isinstance(text, str):  # an API caller sent a list or a number
        raise UserError(f"expected text, not a {type(text).__name__}.")
    text = (text or "").strip()
    if not text:
        raise UserError(empty)
    if len(text) > limit:
        raise UserError(too_long.format(n=len(text), limit=limit))
    return text


class GaveWay(Exception):
    """A background render stopped because a person's render was waiting for the lane."""


class Avatar:
    """The presenter service of one process (see the module docstring).

    deploy: where shared state lives and who renders (default: `Deployment.from_env()`: SQLite
    and files under the cache root, rendering here). chat_db: the ChatterBot database (default:
    the shared database when `deploy.db` names one, else the bundled SQLite corpus)."""

    def __init__(self, model: Path | None = None, library: Path = DEFAULT_LIBRARY, chat_db: str | None = None,
                 deploy: Deployment | None = None, voice: SpeechConfig = SpeechConfig(),
                 render: RenderConfig = RenderConfig(), config: ServeConfig = ServeConfig(),
                 adapt: AdaptConfig | None = None):
        self.deploy = deploy or Deployment.from_env()
        self.default_model = model_folder(model or DEFAULT_MODEL).resolve()
        self.library = DriverLibrary.load(library)
        self.store = Store(self.deploy.db_url).prepare()
        scratch_dir()
        sweep_scratch()  # what a process killed mid-answer left (speech, clips being made)
        self.media = open_storage(self.deploy.storage, self.deploy.root, self.deploy.s3_endpoint)
        self.people = People(self.store, self.media, render, config.visitor_days)
        self.adapted = AdaptedPresenters(self.store, self.media, cache_dir("adapt"), adapt or AdaptConfig())
        self.adapted.adopt_folders(self.deploy.root)
        if isinstance(self.media, LocalStorage):  # what earlier versions kept without the database
            adopt_folder_recordings(self.store, self.media)
            for meta in self.media.root.glob("answers/*.json"):  # answers cached the old way: never served again
                meta.with_suffix(".mp4").unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
        self.chat_db = chat_db or self.deploy.db
        self.voice, self.render_settings, self.config = voice, render, config
        self.queue = None
        if self.deploy.broker:
            from avatar.jobs import RenderQueue

            self.queue = RenderQueue(self.deploy)
        self._lane = RenderLane()  # one heavy job at a time, people first, parties in turn
        self._prerenderer: threading.Thread | None = None
        self._idle_lock = threading.Lock()  # one idle loop made at a time
        self._live_lock, self._live = threading.Lock(), {}  # answer key -> LiveAnswer (rendering, or just done)
        self.corpora = Corpora(self.store, self.chat_db, default=self.deploy.corpus)
        self._models_lock = threading.Lock()
        self._loaded: dict[Path, tuple[tuple | None, Presenter, SwapModel]] = {}
        self.presenter(None)  # the default presenter must load: fail at start, not at the first question

    @property
    def chatbot(self) -> Chatbot:
        """The active corpus's chatbot (`avatar.chat.corpora`): loaded on first use, so a worker
        never needs it."""
        return self.corpora.chatbot()

    # -- presenters -------------------------------------------------------------------------

    def models(self, owner: str | None = None) -> dict[str, Path]:
        """Presenter names a request may choose, the default first: the shipped ones, those an
        operator installed for everyone (`<cache>/models/installed/`), and those adapted for
        `owner` (the database's list, newest first)."""
        models = available_models(self.default_model, [cache_dir("models") / INSTALLED])
        for name, folder in (self.adapted.models(owner_key(owner)) if owner else {}).items():
            models.setdefault(name, folder)
        return models

    def build_presenter(self, video: Path, name: str, consent: dict, progress: Progress | None = None,
                        footage: FootageConfig = FootageConfig()) -> Path:
        """Build the draft presenter `name` from a consenting person's `video` (see
        `avatar.presenter_build`); refused, with the reason, when the footage is unsuitable."""
        return build_presenter(video, name, consent, footage, progress)

    def model_choices(self, owner: str | None = None) -> list[tuple[str, str]]:
        """(label, name) of `models(owner)` for a picker: people's names, not folder names."""
        return picker_choices(self.models(owner))

    def draft_presenters(self) -> list[str]:
        return drafts()

    def draft_choices(self) -> list[tuple[str, str]]:
        """(label, name) of the draft presenters, newest first: the person's name and the draft's."""
        choices = []
        for name in drafts():
            label = display_name(models_folder(DRAFTS) / name)
            choices.append((name if label == name else f"{label} ({name})", name))
        return choices

    def preview_presenter(self, name: str, text: str, out: Path, progress: Progress | None = None) -> Answer:
        """The draft presenter `name` saying `text` into `out` (not cached: a draft may be rebuilt)."""
        folder = models_folder(DRAFTS) / check_name(name)
        if not folder.is_dir():
            raise UserError(f"there is no draft presenter called {quoted(name)}.")
        text = _bounded(text, self.config.max_reply, "there is nothing to say.",
                        "that line is {n} characters long; the presenter says at most {limit}.")
        with self._lane.person():
            return self._render(text, open_presenter(folder), None, Path(out), progress or (lambda s, t: None),
                                True, self.render_settings)

    def publish_presenter(self, name: str) -> Path:
        """Offer the draft presenter `name` to every visitor (an operator's action)."""
        return publish_presenter(name)

    def draft_coverage(self, name: str) -> list[dict]:
        """Which mouth shapes and expressions the draft presenter `name`'s footage holds, and what
        it will do instead of those it lacks (`avatar.presenter_build.footage_coverage`)."""
        return draft_coverage(name)

    def voice_for(self, presenter: Presenter) -> SpeechConfig:
        """The voice `presenter`'s answers are spoken in: the one an operator chose for him (kept
        in the deployment's settings, so every worker agrees), else the deployment's own."""
        return replace(self.voice, voice=self.presenter_voice(presenter.name))

    def choose_voice(self, name: str, voice: str, owner: str | None = None) -> str:
        """Speak presenter `name`'s answers (a published one or a draft) in `voice` from now on
        (an operator's action). Answers already rendered in another voice stay cached under it."""
        if name not in self.models(owner) and name not in drafts():
            raise UserError(f"there is no presenter model called {quoted(name)}.")
        find_voice(voice)
        self.store.set_setting(VOICE_SETTING + name, voice)
        return voice

    def presenter_voice(self, name: str) -> str:
        """The voice presenter `name` (published or draft) speaks with."""
        chosen = self.store.setting(VOICE_SETTING + name)
        return chosen if chosen and chosen in all_voices() else self.voice.voice

    def voice_choices(self) -> list[tuple[str, str]]:
        """(label, name) of every voice for a picker, the deployment's default first."""
        voices = sorted(all_voices().values(), key=lambda v: v.name != self.voice.voice)
        return [(f"{v.name}: {'neural' if v.engine == 'piper' else 'formant'} voice, {v.language or 'language not stated'}"
                 + (" (default)" if v.name == self.voice.voice else ""), v.name) for v in voices]

    def presenter(self, name: str | None, owner: str | None = None) -> tuple[Presenter, SwapModel | None]:
        """The checked presenter called `name` (None: the default) and its loaded swap model
        (None for a presenter drawn from his own frames alone); only names offered by
        `models(owner)` are accepted."""
        if name is not None and not isinstance(name, str):  # an API caller sent a list or a number
            raise UserError(f"a presenter is chosen by its name, not by a {type(name).__name__}.")
        models = self.models(owner)
        if name and name not in models:
            raise UserError(f"there is no presenter model called {quoted(name)}.")
        folder = models[name] if name else self.default_model
        with self._models_lock:
            # The model and its integrity record: a rewritten one (re-export, resealed card) is checked again.
            version = tuple((s.st_size, s.st_mtime_ns) if (s := _stat(folder / name)) else None
                            for name in (MODEL_FILE, RECORD_FILE))
            loaded = self._loaded.get(folder)
            if loaded is None or loaded[0] != version:  # new or rewritten: hash-checked again
                presenter = open_presenter(folder)
                swap = load_swap_model(presenter.onnx) if presenter.onnx else None  # None: drawn from his library
                loaded = self._loaded[folder] = (version, presenter, swap)
            return loaded[1], loaded[2]

    def framing_matters(self, name: str | None, owner: str | None = None) -> bool:
        """Whether the framing choice changes anything `owner` sees of presenter `name`: he is
        drawn from his own frames and there are recorded answers (`owner`'s or published) to
        draw him into; synthesised answers always show his own room."""
        return self._from_his_frames(*self.presenter(name, owner)) and self.people.any_recorded(owner)

    def _from_his_frames(self, presenter: Presenter, model: SwapModel | None) -> bool:
        """Whether `presenter` is drawn by the exemplar renderer (from his own frames)."""
        return presenter.library is not None and (self.render_settings.renderer != "swap" or model is None)

    def about(self, name: str | None, owner: str | None = None) -> dict:
        """What a person should know about presenter `name`: name, consent, card, runtime, and
        the synthetic voice his answers are spoken in."""
        presenter, model = self.presenter(name, owner)
        exemplar = self._from_his_frames(presenter, model)
        drawing = ("from his own recorded video: his real frames, chosen and warped to follow what he says (synthesised "
                   "answers show his own room; recorded answers put his face into the recording's frame)"
                   + (" and repaired by a small network trained on his video" if presenter.refiner and
                      self.render_settings.exemplar.refine else "") if exemplar else
                   "by a face-swap model over a recorded or synthesised driver (a different real person, whose hair, "
                   "ears and clothes can still be seen)")
        return {"name": presenter.name, "consent": presenter.consent, "card": presenter.card(),
                "provider": model.providers[0] if model else "CPUExecutionProvider (his frames, warped)",
                "sha256": presenter.fingerprint, "drawing": drawing,
                "renderer": "exemplar" if exemplar else "swap", "voice": disclosure(self.voice_for(presenter).voice)}

    def idle(self, name: str | None = None, owner: str | None = None) -> Path | None:
        """The presenter listening between answers: a short loop of his own frames (see
        `render.exemplar.idle`), made once per presenter and kept with the answers; None for a
        presenter drawn by the swap, which has no frames of his own to loop."""
        presenter, _ = self.presenter(name, owner)
        # Answers start and end on the loop's first frame: a loop kept from before the listening
        # stretch was chosen as now would not match them (IDLE_VERSION changes with that choice).
        out = (writable_dir(cache_dir("answers"), "cache folder")
               / f"idle-{IDLE_VERSION}-{presenter.fingerprint[:24]}.mp4")
        if out.is_file():  # asked with every message: made once, then only looked up
            return out
        drawing = load_drawing(presenter, self.render_settings)
        if not isinstance(drawing, PresenterLibrary):
            return None
        with self._idle_lock:
            if not out.is_file():
                render_idle(drawing, presenter, out)
        return out

    # -- chat -------------------------------------------------------------------------------

    def check_message(self, message: str) -> str:
        """The message stripped; UserError when it is empty or too long (checked before any work)."""
        return _bounded(message, self.config.max_message, "type a question first.",
                        "that message is {n} characters long; the presenter takes at most {limit}.")

    def chat(self, message: str, session: str, corpus: str | None = None) -> Reply:
        """The chatbot's reply to `message` from `corpus` (default: the active one): an answer,
        a question back with suggestions, or the fallback; its text is kept in `session`'s
        (bounded) history."""
        message = self.check_message(message)
        reply = self.corpora.reply(message, corpus)
        self.store.add_exchange(session, message, reply.text, keep=self.config.history,
                                sessions=self.config.sessions)
        return reply

    def reply(self, message: str, session: str, corpus: str | None = None) -> str:
        """The text of `chat`'s reply."""
        return self.chat(message, session, corpus).text

    def not_helpful(self, session: str, message: str, reply: str) -> None:
        """A visitor marks `reply` to `message`, an exchange of their own chat (`session`), as
        not helpful: listed for the operator, counted. UserError for an exchange this chat never had."""
        exchange = (" ".join(str(message).split()), " ".join(str(reply).split()))
        if exchange not in {(" ".join(m.split()), " ".join(r.split())) for m, r in self.history(session)}:
            raise UserError("that answer is not in this chat any more; ask again, then mark it.")
        self.corpora.not_helpful(*exchange)

    def greeting(self) -> str:
        """The chat's first line: that the presenter is an AI, then what to ask (from the active corpus)."""
        return self.corpora.greeting()

    def study_dialogue(self, session: str) -> str:
        """The study's five questions, answered from the English corpus they were written for,
        as a conversation of its own beside `session`'s (which it leaves as it was); returns
        that conversation's session id (export it with `export`)."""
        study = f"{session}:study"
        self.store.forget(study)
        for question in STUDY_QUESTIONS:
            self.reply(question, study, corpus=ENGLISH)
        return study

    def demo_questions(self) -> list[str]:
        """The questions of the team's demo dialogue ([] when the team has set none)."""
        return json.loads(self.store.setting(DEMO_SETTING) or "[]")

    def set_demo_questions(self, questions: list[str]) -> list[str]:
        """Set the team's demo dialogue: up to `DEMO_MAX` questions (blank ones dropped), each
        checked as a message; [] goes back to the study's five. Returns what was kept."""
        kept = [self.check_message(q) for q in questions if q and q.strip()]
        if len(kept) > DEMO_MAX:
            raise UserError(f"a demo has at most {DEMO_MAX} questions; {len(kept)} were given.")
        self.store.set_setting(DEMO_SETTING, json.dumps(kept))
        return kept

    def demo_dialogue(self, session: str) -> str:
        """The demo a visitor plays, as a conversation of its own beside `session`'s: the team's
        questions answered from the active corpus, or the study's five when the team set none
        (see `study_dialogue`); returns that conversation's session id."""
        questions = self.demo_questions()
        if not questions:
            return self.study_dialogue(session)
        demo = f"{session}:demo"
        self.store.forget(demo)
        for question in questions:
            self.reply(question, demo)
        return demo

    def demo_video(self, session: str, owner: str | None = None, model: str | None = None,
                   progress: Progress | None = None, framing: str | None = None,
                   study: bool = False) -> tuple[Path, Path]:
        """The demo (`demo_dialogue`; `study`: the study's five, `study_dialogue`) exported as one
        video with subtitles into a fresh exports folder: (video, srt). `session`'s own chat is
        left as it was."""
        dialogue = self.study_dialogue(session) if study else self.demo_dialogue(session)
        return self.export(dialogue, export_path("dialogue", "dialogue.mp4"), owner=owner, model=model,
                           progress=progress, framing=framing)

    def history(self, session: str) -> list[tuple[str, str]]:
        """(message, reply) pairs of `session`, oldest first (kept in the shared database)."""
        return self.store.history(session)

    def end_session(self, session: str) -> None:
        """Free what a closed browser session held (its chat history and its demos')."""
        self.store.forget(session)
        self.store.forget(f"{session}:study")
        self.store.forget(f"{session}:demo")

    def converse(self, message: str, session: str, owner: str | None = None, model: str | None = None,
                 framing: str | None = None, client: str | None = None) -> Exchange:
        """A page's one call per message: `chat`'s reply to `message` in `session`, and the
        presenter playing it for the page (`play`, asked by `session`; recordings of `owner`). A
        message the chat refuses is a UserError; a video that cannot be made does not lose the
        reply: it comes back as the exchange's `problem`, a sentence."""
        reply = self.chat(message, session)
        answer = problem = listening = None
        try:
            answer = self.play(reply.text, owner=owner or session, model=model, framing=framing, client=client,
                               asker=session)
        except UserError as error:
            problem = str(error)
        except Exception:
            log.exception("the answer's video could not be made")
            problem = "the video of this answer could not be made; the answer's text is above."
        try:
            listening = self.idle(model, owner or session)
        except UserError:  # an unknown presenter: the refusal the video's problem already says
            pass
        except Exception:  # the player only stays dark
            log.exception("the listening loop could not be made")
        return Exchange(reply, answer, problem, listening)

    def respond(self, message: str, session: str, owner: str | None = None, model: str | None = None,
                progress: Progress | None = None, framing: str | None = None) -> Answer:
        """The presenter's rendered answer to `message` in `session` (recordings of `owner`)."""
        started = time.perf_counter()
        text = self.reply(message, session)
        chat_seconds = time.perf_counter() - started
        answer = self.say(text, owner=owner or session, model=model, progress=progress, framing=framing)
        return Answer(answer.text, answer.video, answer.duration, answer.driver, answer.cached,
                      {"chat": chat_seconds, **answer.seconds})

    # -- rendering --------------------------------------------------------------------------

    def render_config(self, framing: str | None = None) -> RenderConfig:
        """The render settings of one request: the service's, with recorded answers drawn in
        `framing` ("own": his own room; "driver": the recording's frame; None: the default)."""
        if framing is None:
            return self.render_settings
        if not isinstance(framing, str) or framing not in FRAMINGS:
            raise UserError(f"there is no framing called {quoted(framing)}; choose one of {', '.join(FRAMINGS)}.")
        return replace(self.render_settings, exemplar=replace(self.render_settings.exemplar, recorded=framing))

    def say(self, text: str, owner: str | None = None, model: str | None = None, progress: Progress | None = None,
            recorded_voice: bool = True, framing: str | None = None, background: bool = False,
            live: Path | None = None, on_frame: Callable[[int], None] | None = None) -> Answer | None:
        """Render the presenter saying `text`: with `owner`'s own recording of it, else a
        published one, else a synthesised driver; the recording's own voice unless
        `recorded_voice` is False or it has no sound; a recorded answer drawn in `framing`
        (see `render_config`; it changes nothing for the swap renderer). `background`: a
        pre-render, which gives way: None (nothing done) while a person's render runs or waits
        here. `live`: also stream it there (see `render_clip`); on_frame(frames done) after every
        frame of a render here, which may raise to stop it."""
        text = _bounded(text, self.config.max_reply, "there is nothing to say.",
                        "that answer is {n} characters long; the presenter says at most {limit}.")
        render = self.render_config(framing)
        progress = progress or (lambda share, stage: None)
        presenter, _ = self.presenter(model, owner)
        recorded = self.people.recording(owner, text)
        key = self._key(text, presenter, recorded, recorded_voice, render)
        if cached := self._cached(key):
            return cached
        if self.queue is not None:
            started = time.perf_counter()
            try:
                done = self.queue.render(text, owner, model, recorded_voice, progress, framing, key)
            except UserError as error:
                if str(error) != ABANDONED:
                    raise
                # It joined a browser's streamed job whose viewers all left: that job stopped; this is its own.
                done = self.queue.render(text, owner, model, recorded_voice, progress, framing, key)
            answer = self._cached(done["key"])
            if answer is None:  # deleted meanwhile (its recording was replaced): render again
                return self.say(text, owner, model, progress, recorded_voice, framing)
            # "queue": what the job cost beyond the worker's own work (enqueue, pick-up, result, fetch)
            waited = time.perf_counter() - started - done["worker_seconds"]
            return Answer(answer.text, answer.video, answer.duration, answer.driver, False,
                          {**done["seconds"], "queue": waited})
        if (streaming := self._live_render(key)) is not None:  # a browser's answer rendering now: it is this one
            if background:
                return None
            streaming.wait_done()
            if streaming.answer is not None:
                return streaming.answer
        if background and not self._lane.try_background():
            return None
        with contextlib.ExitStack() as lane:
            if background:  # a person who comes to wait for the lane stops it at its next frame
                lane.callback(self._lane.release_background)
                on_frame = self._give_way
            else:
                lane.enter_context(self._lane.person(owner or ""))
            # Checked again in the lane: a session that asked the same meanwhile rendered it.
            if cached := self._cached(key):
                return cached
            try:
                with tempfile.TemporaryDirectory(prefix="avatar-answer-", dir=scratch_dir()) as tmp:
                    answer = self._render(text, presenter, recorded, Path(tmp) / f"{key}.mp4", progress,
                                          recorded_voice, render, live=live, on_frame=on_frame)
                    return self._keep(key, recorded, answer)
            except GaveWay:
                return None

    def _give_way(self, frames_done: int) -> None:
        """A background render's frame callback: stop (GaveWay) as soon as a person waits for the lane."""
        if self._lane.people_waiting():
            raise GaveWay(f"a person's render came first, after {frames_done} frames")

    def _keep(self, key: str, recorded: RecordedClip | None, answer: Answer) -> Answer:
        """Put a rendered answer (its video in a temporary folder) into the answer cache; returns it
        as served from there."""
        row = {"key": key, "text": answer.text, "video": f"answers/{key}.mp4", "duration": answer.duration,
               "driver": answer.driver, "rec_owner": recorded.owner if recorded else None,
               "rec_clip": recorded.key if recorded else None, "bytes": answer.video.stat().st_size}
        video = self.media.put(row["video"], answer.video)
        if not self.store.add_answer(row):  # its recording was deleted meanwhile: not kept
            self.media.delete(row["video"])
        for old in self.store.answers_over(self.config.answer_cache_bytes):
            self.media.delete(old["video"])
        return Answer(answer.text, video, answer.duration, answer.driver, False, answer.seconds)

    # -- answers that play while they render ------------------------------------------------

    def play(self, text: str, owner: str | None = None, model: str | None = None,
             framing: str | None = None, client: str | None = None, asker: str | None = None) -> Answer | LiveAnswer:
        """The presenter saying `text` (as `say`) for a browser that plays it at once: the cached
        answer when there is one, else a `LiveAnswer` that renders in the background and streams
        as it renders (the same one for everybody asking the same answer meanwhile); it is kept
        in the cache when finished. With render workers (a broker) it renders on a worker, which
        streams it through Redis (a worker's render is not stopped when nobody watches).
        `client`: who asks, for taking turns in the render lane (the address; else `owner`).
        `asker`: the session asking; each has one new answer in flight (asking anew drops its
        last, see `LiveAnswer.asked_by`). With `deploy.max_waiting` new answers in flight, more
        are refused as busy."""
        text = _bounded(text, self.config.max_reply, "there is nothing to say.",
                        "that answer is {n} characters long; the presenter says at most {limit}.")
        render = self.render_config(framing)
        presenter, _ = self.presenter(model, owner)
        recorded = self.people.recording(owner, text)
        key = self._key(text, presenter, recorded, True, render)
        with self._live_lock:  # one new answer in flight per session: asking anew drops the last
            for other in self._live.values():
                if other.key != key and asker is not None:
                    other.asked_otherwise(asker)
        if cached := self._cached(key):
            return cached
        with self._live_lock:
            self._forget_finished_live()
            live = self._live.get(key)
            if live is None or (live.done and live.answer is None):  # none, or one that failed or was left
                if sum(not other.done for other in self._live.values()) >= self.deploy.max_waiting:
                    raise UserError("the presenter is busy with other people's answers; try again in a minute.")
                if live is not None:
                    live.path.unlink(missing_ok=True)
                live = self._live[key] = LiveAnswer(key, text, scratch_dir(), self.config.live_grace_s)
                if self.queue is not None:
                    work, args = self._render_live_on_worker, (live, owner, model, framing)
                else:
                    work, args = self._render_live, (live, presenter, recorded, render, client or owner or "")
                threading.Thread(target=work, args=args, name=f"live-{key}", daemon=True).start()
            if asker is not None:
                live.asked_by(asker)
        return live

    def live(self, live_id: str) -> LiveAnswer | None:
        """The live answer a browser fetches by its id (while it renders and a minute after)."""
        with self._live_lock:
            return next((live for live in self._live.values() if live.id == live_id), None)

    def _live_render(self, key: str) -> LiveAnswer | None:
        with self._live_lock:
            live = self._live.get(key)
        return live if live is not None and not live.done else None

    def _forget_finished_live(self, keep_s: float = 60.0) -> None:
        """Drop live answers finished over `keep_s` ago (a late reader still gets the whole stream
        until then) and their stream files. Called with `_live_lock` held."""
        for key, live in list(self._live.items()):
            if live.done and time.monotonic() - live.finished_at > keep_s:
                del self._live[key]
                live.path.unlink(missing_ok=True)

    def _render_live_on_worker(self, live: LiveAnswer, owner: str | None, model: str | None,
                               framing: str | None) -> None:
        """The thread behind `play` with workers: a render job that streams, followed into the live file."""
        finished, outcome = threading.Event(), {}

        def job() -> None:
            try:
                outcome["done"] = self.queue.render(live.text, owner, model, True, lambda share, stage: None,
                                                    framing, live.key, stream=True)
            except Exception as error:  # reported through `live` below
                outcome["error"] = error
            finally:
                finished.set()

        threading.Thread(target=job, name=f"job-{live.key}", daemon=True).start()
        try:
            self.queue.follow(live.key, live.path, live.frame_written, finished, live.watched, live.grace_s)
            finished.wait()
            if "error" in outcome:
                raise outcome["error"]
            answer = self._cached(outcome["done"]["key"])
            if answer is None:
                raise UserError("the answer could not be rendered; ask again.")
            live.finish(answer)
        except UserError as error:  # stopped by the worker when unwatched: superseded, if that was why
            live.finish(error=SUPERSEDED if live.superseded else str(error))
        except Exception:
            log.exception("rendering a live answer on a worker failed")
            live.finish(error="the answer could not be rendered")

    def _render_live(self, live: LiveAnswer, presenter: Presenter, recorded: RecordedClip | None,
                     render: RenderConfig, party: str) -> None:
        """The thread behind `play`: waits for `party`'s turn in the render lane, renders while
        streaming, keeps the answer."""
        try:
            with self._lane.person(party):
                live.check_watched()
                if cached := self._cached(live.key):
                    live.finish(cached)
                    return
                with tempfile.TemporaryDirectory(prefix="avatar-answer-", dir=scratch_dir()) as tmp:
                    def on_frame(done: int) -> None:
                        live.frame_written()
                        if done % 12 == 0:
                            live.check_watched()
                    answer = self._render(live.text, presenter, recorded, Path(tmp) / f"{live.key}.mp4",
                                          lambda share, stage: None, True, render, live=live.path, on_frame=on_frame)
                    live.finish(self._keep(live.key, recorded, answer))
        except AnswerAbandoned as why:
            live.finish(error=str(why))
        except UserError as error:
            live.finish(error=str(error))
        except Exception:
            log.exception("rendering a live answer failed")
            live.finish(error="the answer could not be rendered")

    # -- pre-rendered answers ---------------------------------------------------------------

    def coverage(self) -> list[dict]:
        """Each answer of the active corpus for every visitor (default presenter and framing):
        text, recorded (an operator published a recording of it, which the answer uses) and
        state: "ready" (its video is rendered) or "waiting"."""
        return list(self._coverage_rows())

    def _coverage_rows(self, texts: list[str] | None = None):
        """`coverage`'s rows one by one (a pre-render stops at the first waiting one), of the
        active corpus's answers or of `texts`."""
        presenter, _ = self.presenter(None)
        render, voice = self.render_config(None), self.voice_for(presenter)  # once, not per answer
        for text in [answer for _, answer in self.chatbot.entries] if texts is None else texts:
            recorded = self.people.published().get(text)
            ready = self.store.answer(self._key(text, presenter, recorded, True, render, voice), touch=False) is not None
            yield {"text": text, "recorded": recorded is not None, "state": "ready" if ready else "waiting"}

    def warm_voice(self) -> None:
        """Load the default voice and its reference speech (`speech_openings`) in the background:
        a neural voice takes ~1.4 s to load and the reference ~1 s to speak, which the first
        answer would otherwise wait for (measured: bench/first_frame.py)."""
        def warm() -> None:
            try:
                synthesize("Hello.", self.voice)
                speech_openings()
            except Exception:  # the first answer then reports what is wrong
                log.exception("warming up the voice failed")
        threading.Thread(target=warm, name="warm-voice", daemon=True).start()

    def start_prerendering(self) -> None:
        """Pre-render the active corpus's answers in a background thread from now on (again
        whenever the corpus, the presenter or the voice changes, since their keys change),
        giving way to people's renders."""
        if self._prerenderer is None:
            self._prerenderer = threading.Thread(target=self._prerender_loop, name="prerender", daemon=True)
            self._prerenderer.start()

    def _prerender_loop(self) -> None:
        idle = 2.0
        while True:
            try:
                done = self.prerender_next()
                idle = 0.0 if done else min(30.0, max(2.0, idle * 2))  # all rendered: look less often
            except Exception:
                log.exception("pre-rendering failed; trying again in a minute")
                idle = 60.0
            time.sleep(idle)

    def prerender_next(self) -> str | None:
        """Render one waiting answer of `coverage` in the background (giving way to people);
        returns its text, or None when none is waiting or a person's render came first. Then the
        lines no answer holds but visitors hear often: the fallback and the question back."""
        for row in itertools.chain(self._coverage_rows(), self._coverage_rows([self.chatbot.fallback, CLARIFY])):
            if row["state"] == "waiting":
                return row["text"] if self.say(row["text"], background=True) is not None else None
        return None

    def export(self, session: str, out: Path, owner: str | None = None, model: str | None = None,
               progress: Progress | None = None, framing: str | None = None) -> tuple[Path, Path]:
        """One MP4 (and .srt) of `session`'s conversation as the server kept it: for each
        exchange a title card with the question, then the presenter's answer."""
        exchanges = self.history(session)
        if not exchanges:
            raise UserError("there is nothing to export yet: ask the presenter something first.")
        progress = progress or (lambda share, stage: None)
        presenter, _ = self.presenter(model, owner or session)
        if self.queue is not None:  # the answers as render jobs, at once (spread over the workers), then a join job
            with ThreadPoolExecutor(max_workers=4) as pool:
                for i, _ in enumerate(pool.map(lambda e: self.say(e[1], owner=owner or session, model=model,
                                                                   framing=framing), exchanges)):
                    progress(0.8 * (i + 1) / len(exchanges), f"answer {i + 1} of {len(exchanges)}")
            done = self.queue.export(session, owner or session, model, framing,
                                     lambda share, stage: progress(0.8 + 0.2 * share, stage))
            out = Path(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            for key, path in ((done["video"], out), (done["srt"], out.with_suffix(".srt"))):
                shutil.copyfile(self.media.local(key), path)
                self.media.delete(key)  # one person's one-off file: the replica's copy is what is served
            progress(1.0, "done")
            return out, out.with_suffix(".srt")
        turns = []
        for i, (question, reply) in enumerate(exchanges):
            progress(0.8 * i / len(exchanges), f"answer {i + 1} of {len(exchanges)}")
            turns.append(Turn(question, reply, self.say(reply, owner=owner or session, model=model,
                                                        framing=framing).video))
        progress(0.85, "joining")
        meta = self.library.meta
        with self._lane.person(owner or session):
            video, srt = export_dialogue(turns, Path(out), meta["width"], meta["height"], self.library.fps)
            try:
                sign_video(video, "AI presenter dialogue", presenter.manifest_facts(),
                           ingredients=[turn.answer_video for turn in turns])
            except BaseException:  # a dialogue that could not be signed is not left behind
                video.unlink(missing_ok=True)
                srt.unlink(missing_ok=True)
                raise
        progress(1.0, "done")
        return video, srt

    def _render(self, text: str, presenter: Presenter, recorded: RecordedClip | None, out: Path,
                progress: Progress, recorded_voice: bool, render: RenderConfig, live: Path | None = None,
                on_frame: Callable[[int], None] | None = None) -> Answer:
        """Render one answer into `out` (see `render_clip`; `live`: also stream it there;
        on_frame(frames done) after every frame, which may raise to stop it)."""
        seconds = Counter()
        drawing = load_drawing(presenter, render)
        voice = self.voice_for(presenter)
        with tempfile.TemporaryDirectory(prefix="avatar-", dir=scratch_dir()) as tmp:
            started = time.perf_counter()
            if recorded is not None:
                progress(0.1, "driver")
                audio = recorded.audio if recorded_voice else None
                clip = DriverClip.from_video(normalize(recorded.video, Path(tmp)), audio=audio, kind="recorded")
                clip = replace(clip, voice=disclosure(None) if audio is not None else None)
                if audio is None:  # the synthesised voice over the recorded face, which is fitted to it
                    speech = synthesize(text, voice)
                    clip = replace(clip.retimed(speech.duration), audio=write_wav(speech, Path(tmp) / "speech.wav"),
                                   voice=disclosure(voice.voice))
                seconds["driver"] += time.perf_counter() - started
            else:
                progress(0.05, "speech")  # spoken sentence by sentence while it renders
                clip = spoken_clip(text, drawing, render, self.library, Path(tmp), voice)
            progress(0.25, "swap")
            def on_progress(done: int, total: int) -> None:
                if on_frame is not None:
                    on_frame(done)
                if done % 12 == 0:
                    progress(0.25 + 0.7 * done / max(total, 1), "swap")
            report = render_clip(clip, out, drawing, presenter, "AI presenter answer", render,
                                 on_progress=on_progress, live=live)
            progress(1.0, "done")
        seconds.update(report.seconds)
        if isinstance(clip, SpokenDriver):  # its speech and planning, alongside the render
            seconds.update(clip.seconds)
        return Answer(text, out, report.duration, clip.kind, False, dict(seconds))

    def _cached(self, key: str) -> Answer | None:
        """The indexed answer `key` (its video fetched to this machine), or None."""
        row = self.store.answer(key)
        if row is None:
            return None
        try:
            video = self.media.local(row["video"])
        except FileNotFoundError:  # indexed but its file is gone (deleted by hand): render again
            self.store.drop_answer(key)
            return None
        return Answer(row["text"], video, row["duration"], row["driver"], True, {})

    def _key(self, text: str, presenter: Presenter, recorded: RecordedClip | None, recorded_voice: bool,
             render: RenderConfig, voice: SpeechConfig | None = None) -> str:
        # Everything the answer's signed manifest states about the presenter (name, hashes, consent);
        # voice: `voice_for(presenter)`, when the caller has it already.
        voice = voice or self.voice_for(presenter)
        parts = [text, presenter.fingerprint, presenter.manifest_facts(), asdict(voice), asdict(render),
                 [recorded.sha256, recorded.created] if recorded else None,
                 recorded_voice and recorded is not None]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    # -- recordings (the room: `self.people`, `serving/people.py`) ----------------------------

    def record(self, owner: str, text: str, video: Path, source: str = "app") -> RecordedClip:
        """Check and keep `video` as `owner`'s recording of `text` (saved before any render)."""
        text = self.check_message(text)
        # Refused by the upload's first (cheapest) check when far longer than its line.
        limits = MediaLimits(max_seconds=self.config.recording_limit(text), max_bytes=500 * 1024**2)
        expected = synthesize(text, self.voice).duration  # a fraction of the line's length (bench/speech.py)
        with self._lane.person(owner):  # its checks decode and detect faces: one heavy job at a time
            return self.people.save(owner, text, Path(video), limits, expected, source=source)

    # -- adaptation -------------------------------------------------------------------------

    def adaptation(self, owner: str, model: str | None = None) -> Adaptation:
        """`owner`'s adaptation job for presenter `model` in this process (it outlives the
        request that asked)."""
        presenter, _ = self.presenter(model, owner)
        return self.adapted.job(owner_key(owner), presenter, lambda: self.people.clips(owner))

    def adapt(self, owner: str, person: str, model: str | None = None) -> AdaptStatus:
        """Start adapting presenter `model` to `owner`'s recorded face (here, or as a job for a
        worker when there is a broker; reported and published alike, see `AdaptedPresenters`);
        `person` is the name the person gave when agreeing (their consent record names them, the
        date and the scope)."""
        person = (person or "").strip()
        if not person or len(person) > 200:
            raise UserError("write your name (as it should appear in the consent record) first.")
        job = self.adaptation(owner, model)
        clips = job.clips.all()
        consent = {"person": person, "date": date.today().isoformat(),
                   "source": f"{len(clips)} recordings made in the app by this person: "
                             + "; ".join(repr(c.text[:60]) for c in clips),
                   "scope": f"adapting the presenter `{job.base.name}` to this person's face as its driver; the "
                            "recordings and the adapted model stay in this deployment and are used only for this "
                            "person's own answers",
                   "basis": f"ticked agreement in the app by the account or session {owner_key(owner)[:8]}"}
        if self.queue is None:
            self.adapted.start_here(owner_key(owner), job, consent)
            return self.adaptation_status(owner, model)
        job.check(consent)
        current = self.adaptation_status(owner, model)
        if current.state in RUNNING:
            return current
        self.adapted.queued(owner_key(owner), job)
        self.queue.adapt(owner, model, consent)
        return self.adaptation_status(owner, model)

    def adaptation_status(self, owner: str, model: str | None = None) -> AdaptStatus:
        """Where `owner`'s adaptation of `model` stands (see `AdaptedPresenters.status`)."""
        return self.adapted.status(owner_key(owner), self.adaptation(owner, model))

    def train_adaptation(self, owner: str, model: str | None, consent: dict) -> dict:
        """Adapt presenter `model` to `owner` here under `consent` until it ends (a worker's
        adaptation job), reported as `adapt` does; {"model": name} or {"error": message}."""
        return self.adapted.train(owner_key(owner), self.adaptation(owner, model), consent)

    def publish_adapted(self, owner: str, folder: Path) -> None:
        """Move the adapted model `folder` into media storage and list it in the database, so
        that every replica and worker offers it to `owner` (fetched on first use)."""
        self.adapted.publish(owner_key(owner), Path(folder))
