"""Adapting a presenter to the person recording answers, and the presenters adapted so: one job
per (person, base presenter) in this process (`avatar.adaptation.Adaptation`), its progress in
the database, the finished presenter in media storage and listed in the database (the one list
of them), so every replica and worker offers it to that person. A person is given here by their
`owner_key` (a hash), never by name."""

from __future__ import annotations

import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from avatar.adaptation import RUNNING, AdaptConfig, Adaptation, AdaptStatus
from avatar.driver import RecordedClips
from avatar.errors import UserError
from avatar.presenter import RECORD_FILE, Presenter

ADAPT_SILENCE = 120.0  # seconds without news from the process adapting a presenter (app or worker) before it is lost


def adapted_key(owner: str, name: str, file: str) -> str:
    """The media storage key of `file` of the adapted presenter `name` of the person whose
    `owner_key` is `owner` (mirrored on every machine as `<cache>/models/<owner>/<name>/<file>`)."""
    return f"models/{owner}/{name}/{file}"


class AdaptedPresenters:
    """The adaptation jobs of this process and the adapted presenters of a deployment: `store`
    (the shared database), `media` (media storage), `work` (where jobs train, one folder per
    person and base presenter) and the adaptation settings."""

    def __init__(self, store, media, work: Path, config: AdaptConfig):
        self.store, self.media, self.work, self.config = store, media, Path(work), config
        self._jobs: dict[tuple[str, Path], Adaptation] = {}
        self._jobs_lock = threading.Lock()
        self._starting = threading.Lock()  # one adaptation started here at a time

    def job(self, key: str, presenter: Presenter, clips: Callable[[], RecordedClips]) -> Adaptation:
        """The job adapting `presenter` to person `key`'s recordings (`clips`), made on first
        use; it outlives the request that asked."""
        with self._jobs_lock:
            if (key, presenter.folder) not in self._jobs:
                work = self.work / key / presenter.name
                # Exported beside its work, then moved into media storage by `publish`.
                self._jobs[key, presenter.folder] = Adaptation(presenter.folder, clips(), self.config, work=work,
                                                               models=work / "adapted")
            return self._jobs[key, presenter.folder]

    def start_here(self, key: str, job: Adaptation, consent: dict) -> None:
        """Train `job` in this process under `consent` (unless it runs), reported as `report` does."""
        with self._starting:
            if not job.running:
                job.start(consent)
                threading.Thread(target=self.report, args=(key, job), name="adapt-report", daemon=True).start()

    def queued(self, key: str, job: Adaptation) -> None:
        """`job` was sent to a worker: every replica says so until the worker reports."""
        self.store.set_adaptation(key, job.base.name, "queued", "Waiting for a worker to train ...", 0.0)

    def status(self, key: str, job: Adaptation) -> AdaptStatus:
        """Where `job` stands: while this process trains it, as the job says (with its training
        preview); else as the database last heard it (from this process or a worker); else
        whether it can start."""
        row = None if job.running else self.store.adaptation(key, job.base.name)
        if row is None:
            return job.status()
        if row["state"] in RUNNING[1:] and time.time() - row["updated"] > ADAPT_SILENCE:
            return AdaptStatus("failed", "Adapting stopped: the worker or app training it was lost. Start it again.")
        adapted = self.models(key).get(row["model"]) if row["model"] else None
        return AdaptStatus(row["state"], row["message"], row["share"], adapted, None)

    def train(self, key: str, job: Adaptation, consent: dict) -> dict:
        """Train `job` here until it ends (a worker's adaptation job), reported as `report`
        does; {"model": name} or {"error": message}."""
        try:
            job.start(consent)
        except UserError as error:
            self.store.set_adaptation(key, job.base.name, "failed", f"Adapting could not start: {error}", 0.0)
            return {"error": str(error)}
        status = self.report(key, job)
        return {"model": status.model.name} if status.state == "done" else {"error": status.message}

    def report(self, key: str, job: Adaptation) -> AdaptStatus:
        """Write running `job`'s progress to the database every few seconds until it ends (so
        every replica sees it); a finished presenter is published for every replica first."""
        base = job.base.name
        status = job.status()
        while status.state not in ("done", "failed"):
            self.store.set_adaptation(key, base, status.state, status.message, status.share)
            status = job.wait(timeout=5)
        if status.state == "done":
            self.publish(key, status.model)
            self.store.set_adaptation(key, base, "done", status.message, 1.0, status.model.name)
        else:
            self.store.set_adaptation(key, base, "failed", status.message, 0.0)
        return status

    def publish(self, key: str, folder: Path) -> None:
        """Move the adapted presenter `folder` into media storage and list it in the database, so
        that every replica and worker offers it to person `key` (fetched on first use)."""
        folder = Path(folder)
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        for name in files:
            self.media.put(adapted_key(key, folder.name, name), folder / name)
        self.store.add_presenter(key, folder.name, files)
        if not any(p.is_file() for p in folder.rglob("*")):  # moved elsewhere, not onto itself
            shutil.rmtree(folder, ignore_errors=True)

    def models(self, key: str) -> dict[str, Path]:
        """Person `key`'s adapted presenters as the database lists them, newest first, by name:
        their folders on this machine (fetched from media storage when missing)."""
        found = {}
        for row in self.store.presenters_of(key):
            if RECORD_FILE not in row["files"]:
                continue
            try:
                paths = [self.media.local(adapted_key(key, row["name"], name)) for name in row["files"]]
            except FileNotFoundError:  # deleted from storage by hand: not offered
                continue
            found[row["name"]] = paths[row["files"].index(RECORD_FILE)].parent.resolve()
        return found

    def adopt_folders(self, root: Path) -> None:
        """List in the database the adapted presenters that earlier versions kept only in this
        machine's cache (`<root>/models/<owner key>/<name>/`), moving them into media storage."""
        for record in (Path(root) / "models").glob(f"*/*/{RECORD_FILE}"):
            folder, key = record.parent, record.parent.parent.name
            if re.fullmatch(r"[0-9a-f]{24}", key) and not folder.name.startswith(".") and \
                    folder.name not in {row["name"] for row in self.store.presenters_of(key)}:
                self.publish(key, folder)
