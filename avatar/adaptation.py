"""Adapt a presenter model to the face of the person who records driver answers.

A swap model renders the presenter best from the driver face it was trained with; a new
person's recordings give a weaker likeness until the model has seen their face. Adapting is the
swap model's warm-start training: the recorded clips become side A, the presenter's faces
shipped with the model (`presenter-faces/`) stay side B, and training starts from the model's
own weights. Its three steps (extract, train, export: `avatar.offline.adapt`) each run in a
child process at low priority on one thread, so the app keeps answering meanwhile, and it
resumes from its last checkpoint if the app is restarted. The result is a new model folder in
`models` (the service then publishes it to media storage and lists it in the database, offered
only to the person who asked); its model card says what it was adapted from and carries that
person's consent record (`adaptation-consent.json`). A training run that did not finish is never
exported. torch is never imported here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from avatar.dataset import MANIFEST, read_manifest
from avatar.driver import RecordedClip, RecordedClips
from avatar.errors import UserError
from avatar.paths import atomic_folder, atomic_write, cache_dir
from avatar.presenter import ADAPTATION_CONSENT, CONSENT_FILE, PRESENTER_FACES, reseal, set_card_section


# The module whose steps a job runs in child processes (named, not imported: it imports torch).
ADAPT_STEPS = "avatar.offline.adapt"
RUNNING = ("queued", "extracting", "training", "exporting")
STATES = ("not enough", "ready", *RUNNING, "done", "failed")


@dataclass(frozen=True)
class AdaptConfig:
    steps: int = 1000  # about 15-20 min on one core of the 2-core CI machine kind for a fast 128 px model
    min_seconds: float = 20.0  # recorded driver video needed before adapting makes sense
    every: int = 2  # extract every 2nd recorded frame
    threads: int = 1  # torch threads: leave the other core to the app
    checkpoint_every: int = 100

    @classmethod
    def for_steps(cls, steps: int | None) -> AdaptConfig:
        """Defaults, training `steps` steps when given (e.g. more on a GPU worker: `Deployment.adapt_steps`)."""
        steps = steps or cls.steps
        return cls(steps=steps, checkpoint_every=max(1, min(cls.checkpoint_every, steps // 2)))


@dataclass(frozen=True)
class AdaptStatus:
    """state: one of STATES; share: progress 0..1 of the whole job; model: the adapted model
    folder once done; preview: the training preview PNG (A, A->A, A->B, B, B->B) when there is one."""

    state: str
    message: str
    share: float = 0.0
    model: Path | None = None
    preview: Path | None = None

    @property
    def running(self) -> bool:
        """Whether the job is queued or at work (its status is worth polling)."""
        return self.state in RUNNING


class Adaptation:
    """One background adaptation job per base model, one job per process at a time (each
    would take a core); `status()` is cheap and safe to poll."""

    _active: Adaptation | None = None
    _start_lock = threading.Lock()

    def __init__(self, base: Path, clips: RecordedClips, config: AdaptConfig = AdaptConfig(),
                 work: Path | None = None, models: Path | None = None):
        self.base = Path(base)
        self.clips, self.config = clips, config
        self.work = Path(work or cache_dir("adapt") / self.base.name)
        self.models = Path(models or cache_dir("models"))
        self._thread: threading.Thread | None = None
        self._state, self._error, self._result = "", "", None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def usable_clips(self) -> list[RecordedClip]:
        """The recordings to train on: each distinct video once (saved clips passed the face check)."""
        seen, usable = set(), []
        for clip in self.clips.all():
            if clip.sha256 and clip.sha256 in seen:
                continue
            seen.add(clip.sha256)
            usable.append(clip)
        return usable

    def recorded_seconds(self) -> float:
        return sum(clip.duration for clip in self.usable_clips())

    def status(self) -> AdaptStatus:
        preview = self.work / "run" / "preview.png"
        preview = preview if preview.is_file() else None
        if self._state == "failed":
            return AdaptStatus("failed", self._error, 0.0, None, preview)
        if self._state == "done":
            return AdaptStatus("done", f"Adapted: the presenter model `{self._result.name}` is ready; pick it "
                               "above.", 1.0, self._result, preview)
        if self.running:
            if self._state == "training":
                step = self._trained_steps()
                return AdaptStatus("training", f"Training: step {step} of {self.config.steps}.",
                                   0.1 + 0.85 * step / self.config.steps, None, preview)
            share = {"extracting": 0.02, "exporting": 0.96}.get(self._state, 0.0)
            return AdaptStatus(self._state, f"{self._state.capitalize()} ...", share, None, preview)
        seconds = self.recorded_seconds()
        if seconds < self.config.min_seconds:
            return AdaptStatus("not enough", f"{seconds:.0f} s recorded; adapting needs at least "
                               f"{self.config.min_seconds:.0f} s of your recordings.", 0.0)
        return AdaptStatus("ready", f"{seconds:.0f} s recorded: the presenter can be adapted to your face.", 0.0)

    def check(self, consent: dict) -> float:
        """The recorded seconds to train on; UserError when adapting under `consent` cannot start."""
        if not (self.base / PRESENTER_FACES / MANIFEST).is_file():
            raise UserError(f"the presenter model `{self.base.name}` was shipped without its presenter faces "
                            f"({PRESENTER_FACES}/), so it cannot be adapted.")
        missing = [key for key in ("person", "source", "date", "scope", "basis") if not str(consent.get(key, "")).strip()]
        if missing:
            raise UserError(f"the consent record for adapting lacks {', '.join(missing)}.")
        if not (self.base / CONSENT_FILE).is_file():
            raise UserError(f"the presenter model `{self.base.name}` has no consent record, so it cannot be adapted.")
        seconds = self.recorded_seconds()
        if seconds < self.config.min_seconds:
            raise UserError(f"record at least {self.config.min_seconds:.0f} s of answers first ({seconds:.0f} s so "
                            "far).")
        return seconds

    def start(self, consent: dict) -> AdaptStatus:
        """Start adapting in the background under `consent` (the recording person's record:
        person, source, date, scope, basis); UserError when it cannot start."""
        if self.running:
            return self.status()
        seconds = self.check(consent)
        with Adaptation._start_lock:
            other = Adaptation._active
            if other is not None and other is not self and other.running:
                raise UserError(f"the presenter `{other.base.name}` is being adapted; wait until it is done.")
            self._state, self._error, self._result = "extracting", "", None
            self.work.mkdir(parents=True, exist_ok=True)
            atomic_write(self.work / ADAPTATION_CONSENT, json.dumps(consent, indent=1) + "\n")
            self._thread = threading.Thread(target=self._run, args=(seconds,), name="adapt", daemon=True)
            self._thread.start()
            Adaptation._active = self
        return self.status()

    def wait(self, timeout: float | None = None) -> AdaptStatus:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.status()

    def _run(self, seconds: float) -> None:
        try:
            self._adapt(seconds)
        except Exception as error:  # reported through status(); the log has the details
            self._state = "failed"
            self._error = f"Adapting failed: {error}"

    def _adapt(self, seconds: float) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        faces, run = self.work / "driver-faces", self.work / "run"
        size = read_manifest(self.base / PRESENTER_FACES, 1)[0]["size"]
        videos = [str(clip.video) for clip in self.usable_clips()]
        self._state = "extracting"
        self._step("extract", videos=videos, out=str(faces), size=size, every=self.config.every)
        self._state = "training"
        # Resumes from the run's checkpoints when the app was restarted, else warm-starts from the base.
        self._step("train", faces=str(faces), base=str(self.base), run=str(run), steps=self.config.steps,
                   checkpoint_every=self.config.checkpoint_every)
        self._state = "exporting"
        name = f"{self.base.name}-adapted-{datetime.now():%Y%m%d-%H%M%S}"
        self.models.mkdir(parents=True, exist_ok=True)
        with atomic_folder(self.models / name) as staging:
            # Exported only after training exited 0, i.e. all steps done (a stopped run exits non-zero).
            self._step("export", run=str(run), out=str(staging))
            consent = json.loads((self.work / ADAPTATION_CONSENT).read_text())
            shutil.copyfile(self.work / ADAPTATION_CONSENT, staging / ADAPTATION_CONSENT)
            reseal(staging, [ADAPTATION_CONSENT])
            set_card_section(staging, "Adaptation", "\n".join([
                f"- Warm-started from `{self.base.name}` and trained {self.config.steps} steps on {len(videos)} "
                f"driver recordings made in the app ({seconds:.0f} s); side B (the presenter) is "
                f"`{self.base.name}`'s own `{PRESENTER_FACES}/`.",
                "- Consent of the person whose recordings drove the adaptation (`adaptation-consent.json`):",
                *(f"  - {key}: {value}" for key, value in consent.items())]))
        shutil.rmtree(run, ignore_errors=True)  # a finished job; the next one starts from scratch
        shutil.rmtree(faces, ignore_errors=True)
        self._result, self._state = self.models / name, "done"

    def _trained_steps(self) -> int:
        try:
            lines = (self.work / "run" / "stats.jsonl").read_text().splitlines()
            return json.loads(lines[-1])["step"] if lines else 0
        except (OSError, ValueError, KeyError):
            return 0

    def _step(self, step: str, **arguments) -> None:
        """Run one step of `avatar.offline.adapt` (extract, train, export) in a child process, so that
        torch is never imported here: at low priority, on `config.threads` threads, its output
        appended to work/log.txt. UserError with the log's last line when the step fails."""
        env = {**os.environ, "OMP_NUM_THREADS": str(self.config.threads), "MKL_NUM_THREADS": str(self.config.threads)}
        job = json.dumps({"step": step, **arguments})
        log = self.work / "log.txt"
        with open(log, "a") as out:
            out.write(f"$ python -m {ADAPT_STEPS} '{job}'\n")
            out.flush()
            nice = ["nice", "-n", "10"] if shutil.which("nice") else []  # the app's renders come first
            done = subprocess.run([*nice, sys.executable, "-m", ADAPT_STEPS, job], stdout=out,
                                  stderr=subprocess.STDOUT, env=env)
        if done.returncode != 0:
            lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
            raise UserError(lines[-1] if lines else f"adapting ({step}) exited with status {done.returncode}")
