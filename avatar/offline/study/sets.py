"""The study's side-B training sets: GAN-synthesised faces chosen for varied expressions, for
monotone ones, or not chosen at all, and real frames spread evenly or chosen the same two ways
(written under OUT/sets/<b set>)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from avatar.config import GenerateConfig
from avatar.dataset import MANIFEST
from avatar.errors import UserError


@dataclass(frozen=True)
class BSet:
    """One side-B training set: `kind` gan (from a generator's candidates) or real (from the
    presenter's training frames), chosen by `selection` (varied, monotone, random, even)."""

    name: str
    kind: str
    selection: str
    size: int
    label: str


B_SETS = (
    BSet("gan-varied", "gan", "varied", 1000, "GAN, varied selection"),
    BSet("gan-monotone", "gan", "monotone", 1000, "GAN, monotone selection"),
    BSet("gan-random", "gan", "random", 1000, "GAN, no selection"),
    BSet("real-even", "real", "even", 1000, "real frames, evenly spread"),
    BSet("real-varied", "real", "varied", 100, "real frames, varied selection"),
    BSet("real-monotone", "real", "monotone", 100, "real frames, monotone selection"),
)


def b_set(name: str) -> BSet:
    for candidate in B_SETS:
        if candidate.name == name:
            return candidate
    raise UserError(f"unknown B set {name!r}: choose from {', '.join(s.name for s in B_SETS)}")


@dataclass(frozen=True)
class StudyData:
    """The extract folders and generated sets a study reads."""

    driver: Path  # side A: driver training faces
    driver_heldout: Path  # driver frames never trained on (consecutive)
    presenter: Path  # the presenter's training frames (the real pool)
    presenter_heldout: Path  # the presenter's frames never trained on
    same_person: Path  # the presenter in another video (the floor)
    synthetic: dict  # selection -> `avatar gan generate` dataset (made from `generator` when missing)
    consent: Path
    generator: Path | None = None  # a folder holding generator.onnx (the recipe's gan-model)

    @classmethod
    def from_folder(cls, folder: Path, consent: Path) -> StudyData:
        """The layout `avatar recipe` writes: driver, driver-heldout, presenter, presenter-heldout,
        presenter-cap12 and synthetic-<selection> side by side in `folder`."""
        folder = Path(folder)
        data = cls(folder / "driver", folder / "driver-heldout", folder / "presenter", folder / "presenter-heldout",
                   folder / "presenter-cap12",
                   {how: folder / f"synthetic-{how}" for how in ("varied", "monotone", "random")}, Path(consent),
                   folder.parent / "gan-model" if (folder.parent / "gan-model" / "generator.onnx").is_file() else None)
        for path in (data.driver, data.driver_heldout, data.presenter, data.presenter_heldout, data.same_person):
            if not (path / MANIFEST).is_file():
                raise UserError(f"{path} is missing: run `avatar recipe default --out ...` (its data step) first.")
        if not data.consent.is_file():
            raise UserError(f"{data.consent} is missing: the presenter's consent record is needed to train.")
        return data


def make_b_sets(sets: Path, data: StudyData, on_stage: Callable[[str], None],
                on_progress: Callable[[int, int], None] | None = None) -> None:
    """Write every B set into `sets/<name>`: real ones selected from the presenter's training
    frames, GAN ones taken from the generated set of their selection (generated first, from
    3 x its size candidates of `data.generator`, when it is missing)."""
    from avatar.dataset import read_manifest, write_subset
    from avatar.offline.generate import generate_from, select_real

    for b in B_SETS:
        target = sets / b.name
        if (target / MANIFEST).is_file():
            continue
        on_stage(f"B set {b.name}")
        if b.kind == "real":
            select_real(data.presenter, target, min(b.size, len(read_manifest(data.presenter))), b.selection)
            continue
        source = Path(data.synthetic[b.selection])
        if not (source / MANIFEST).is_file():
            if data.generator is None:
                raise UserError(f"no generated {b.selection} set for {b.name} and no generator to make one: run "
                                f"`avatar gan generate --select {b.selection} --out {source}` first.")
            on_stage(f"generating the {b.selection} set")
            shutil.rmtree(source, ignore_errors=True)
            generate_from(data.generator, source, b.size, GenerateConfig(select=b.selection),
                          seeds=list(range(3 * b.size)), reference=data.presenter, on_progress=on_progress)
        records = read_manifest(source)
        if len(records) < b.size:
            raise UserError(f"{source} holds {len(records)} faces, {b.name} needs {b.size}.")
        write_subset(source, target, records[:b.size], {"selection": b.selection, "from": str(source)})
