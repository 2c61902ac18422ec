"""The `Avatar` facade that the app and the CLI call: a message in, the presenter's answer out.

respond(message): chat reply -> speech (WAV + phoneme timings) -> driver clip (the recorded
answer for this reply if there is one, else synthesised from the driver library) -> swap,
colour-match and blend every frame -> "AI-generated" label -> H.264/AAC MP4 -> signed C2PA
manifest (content credentials). Finished answers
are cached by (reply text, model, voice, render settings), so a repeated answer is instant.
torch is never imported here.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from avatar.adaptation import Adaptation, adapted_models
from avatar.chat import Chatbot
from avatar.config import RenderConfig
from avatar.driver import DriverLibrary, RecordedClips, synthesize_driver
from avatar.driver.library import DEFAULT_LIBRARY
from avatar.errors import UserError
from avatar.inference import load_swap_model
from avatar.media import Frame, iter_frames, normalize
from avatar.media.encode import VideoWriter
from avatar.media.sources import cache_root
from avatar.provenance.credentials import presenter_facts, sign_video
from avatar.render import Renderer
from avatar.render.dialogue import Turn, export_dialogue
from avatar.render.label import add_label
from avatar.render.pipeline import resolve_model
from avatar.speech import SpeechConfig, synthesize, write_wav

SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "models"
DEFAULT_MODEL = SHIPPED_MODELS / "presenter-interim"
ANSWER_CACHE_BYTES = 2 * 1024**3  # rendered answers kept; the least recently used go first


def available_models() -> dict[str, Path]:
    """Presenter models by name: the shipped ones in models/ (the default first), then those
    made by adaptation (`$AVATAR_CACHE/models`, newest first)."""
    shipped = sorted((p.parent for p in SHIPPED_MODELS.glob("*/model.onnx")), key=lambda p: p != DEFAULT_MODEL)
    return {folder.name: folder for folder in [*shipped, *adapted_models()]}


_adaptations: dict[tuple[Path, Path], Adaptation] = {}


def adaptation_for(model: Path, clips: RecordedClips) -> Adaptation:
    """The one adaptation job of this process for `model` and these recordings (it outlives any
    Avatar that asks for it, so a running job's progress is never lost)."""
    key = (Path(model).resolve(), Path(clips.root).resolve())
    if key not in _adaptations:
        _adaptations[key] = Adaptation(model, clips)
    return _adaptations[key]


def prune(folder: Path, max_bytes: int) -> int:
    """Delete the least recently used files in `folder` until it holds at most `max_bytes`;
    returns how many were deleted."""
    files = sorted((p for p in Path(folder).glob("*") if p.is_file()), key=lambda p: p.stat().st_mtime)
    total, deleted = sum(p.stat().st_size for p in files), 0
    for path in files:
        if total <= max_bytes:
            break
        total -= path.stat().st_size
        path.unlink(missing_ok=True)
        deleted += 1
    return deleted


@dataclass(frozen=True)
class Answer:
    """text: what the presenter says; video: the MP4; driver: "recorded" or "synthesised";
    seconds: time by stage (chat, speech, driver, track, align, swap, composite, encode)."""

    text: str
    video: Path
    duration: float
    driver: str
    cached: bool
    seconds: dict = field(default_factory=dict)


def _timed(items, seconds: Counter, stage: str):
    """Pass `items` through, adding the time spent producing each to seconds[stage]."""
    iterator = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        seconds[stage] += time.perf_counter() - started
        yield item


class Avatar:
    """One presenter: its swap model, driver library, recorded clips, chatbot and voice."""

    def __init__(self, model: Path = DEFAULT_MODEL, library: Path = DEFAULT_LIBRARY, clips: Path | None = None,
                 chat_db: str | None = None, cache: Path | None = None, voice: SpeechConfig = SpeechConfig(),
                 render: RenderConfig = RenderConfig()):
        self.model_path = resolve_model(model)
        self.model = load_swap_model(self.model_path)
        self.presenter = presenter_facts(self.model_path)  # for every video's content credentials
        self.library = DriverLibrary.load(library)
        self.clips = RecordedClips(clips or cache_root() / "recorded")
        self.chatbot = Chatbot(chat_db)
        self.cache = Path(cache or cache_root() / "answers")
        self.voice, self.render = voice, render
        self.adaptation = adaptation_for(self.model_path.parent, self.clips)
        self._render_lock = threading.Lock()  # one render at a time: each uses every core

    def respond(self, message: str, session: str = "default",
                progress: Callable[[float, str], None] | None = None) -> Answer:
        """The presenter's answer to `message` in `session`, rendered (or from the cache)."""
        started = time.perf_counter()
        reply = self.chatbot.reply(message, session)
        chat_seconds = time.perf_counter() - started
        answer = self.say(reply.text, progress)
        return Answer(answer.text, answer.video, answer.duration, answer.driver, answer.cached,
                      {"chat": chat_seconds, **answer.seconds})

    def say(self, text: str, progress: Callable[[float, str], None] | None = None,
            recorded_voice: bool = True) -> Answer:
        """Render the presenter saying `text` (the recorded clip for it when there is one, with its
        own voice, or the synthesised one when `recorded_voice` is False or it has no sound)."""
        recorded = self.clips.get(text)
        out = self.cache / f"{self._key(text, recorded, recorded_voice)}.mp4"
        meta = out.with_suffix(".json")
        if cached := self._cached(text, out, meta):
            return cached
        with self._render_lock:
            # Checked again under the lock: a session that asked the same meanwhile rendered it.
            if cached := self._cached(text, out, meta):
                return cached
            answer = self._render(text, recorded, out, progress or (lambda share, stage: None), recorded_voice)
            meta.write_text(json.dumps({"text": text, "duration": answer.duration, "driver": answer.driver}) + "\n")
            prune(self.cache, ANSWER_CACHE_BYTES)
        return answer

    def export_dialogue(self, exchanges: list[tuple[str, str]], out: Path,
                        progress: Callable[[float, str], None] | None = None) -> tuple[Path, Path]:
        """One MP4 (and .srt) of a conversation: for each (question, reply) a title card with the
        question, then the presenter's answer (rendered now unless it is cached)."""
        if not exchanges:
            raise UserError("there is nothing to export yet: ask the presenter something first.")
        progress = progress or (lambda share, stage: None)
        turns = []
        for i, (question, reply) in enumerate(exchanges):
            progress(0.8 * i / len(exchanges), f"answer {i + 1} of {len(exchanges)}")
            turns.append(Turn(question, reply, self.say(reply).video))
        progress(0.85, "joining")
        video, srt = export_dialogue(turns, Path(out), self.library.meta["width"], self.library.meta["height"],
                                     self.library.fps)
        sign_video(video, "AI presenter dialogue", self.presenter, ingredients=[turn.answer_video for turn in turns])
        progress(1.0, "done")
        return video, srt

    @staticmethod
    def _cached(text: str, out: Path, meta: Path) -> Answer | None:
        if out.is_file() and meta.is_file():
            for path in (out, meta):
                path.touch()  # recently used: pruned last
            saved = json.loads(meta.read_text())
            return Answer(text, out, saved["duration"], saved["driver"], True, {})
        return None

    def _key(self, text: str, recorded, recorded_voice: bool) -> str:
        stat = self.model_path.stat()
        parts = [text, str(self.model_path), stat.st_size, stat.st_mtime_ns, asdict(self.voice), asdict(self.render),
                 recorded.created if recorded else None, recorded_voice and recorded is not None]
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def _render(self, text: str, recorded, out: Path, progress: Callable[[float, str], None],
                recorded_voice: bool = True) -> Answer:
        seconds = Counter()
        renderer = Renderer(self.model, self.render)
        with tempfile.TemporaryDirectory(prefix="avatar-") as tmp:
            started = time.perf_counter()
            if recorded is not None:
                progress(0.1, "driver")
                normal = normalize(recorded.video, Path(tmp))
                frames, landmarks = iter_frames(normal.video), None  # tracked while rendering
                audio = recorded.audio if recorded_voice else None
                fps, total, duration = normal.info.fps, normal.info.frames, recorded.duration
                width, height = normal.info.width, normal.info.height
                if audio is None:  # the synthesised voice over the recorded face
                    audio = write_wav(synthesize(text, self.voice), Path(tmp) / "speech.wav")
                seconds["driver"] += time.perf_counter() - started
            else:
                progress(0.05, "speech")
                speech = synthesize(text, self.voice)
                audio = write_wav(speech, Path(tmp) / "speech.wav")
                seconds["speech"] += time.perf_counter() - started
                progress(0.15, "driver")
                started = time.perf_counter()
                clip = synthesize_driver(speech, self.library)
                fps, total, duration = clip.fps, len(clip), speech.duration
                width, height = self.library.meta["width"], self.library.meta["height"]
                frames = (Frame(i, i / fps, rgb) for i, rgb in enumerate(clip.iter_rgb()))
                landmarks = clip.landmarks
                seconds["driver"] += time.perf_counter() - started
            frames = _timed(frames, seconds, "driver")  # driver frames are made as they are consumed
            progress(0.25, "swap")
            out.parent.mkdir(parents=True, exist_ok=True)
            with VideoWriter(out, width, height, fps, audio=audio) as writer:
                for i, (_, rendered) in enumerate(renderer.process(frames, landmarks)):
                    started = time.perf_counter()
                    writer.write(add_label(rendered))
                    seconds["encode"] += time.perf_counter() - started
                    if i % 12 == 0:
                        progress(0.25 + 0.7 * (i + 1) / max(total, 1), "swap")
            started = time.perf_counter()
            sign_video(out, "AI presenter answer", self.presenter)
            seconds["sign"] += time.perf_counter() - started
            progress(1.0, "done")
        for stage, value in renderer.report.seconds.items():
            seconds[stage] += value
        return Answer(text, out, duration, "recorded" if recorded is not None else "synthesised", False, dict(seconds))
