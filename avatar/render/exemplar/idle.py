"""The presenter between answers: a short loop of his own recorded frames in which he listens
(mouth closed, head calm, his own blinks), played forwards then backwards so it loops without a
jump. Labelled and signed like every video the presenter appears in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar.driver.synthesize import landmark_jumps
from avatar.media.encode import VideoWriter
from avatar.paths import temp_beside
from avatar.presenter import Presenter
from avatar.provenance.credentials import local_identity, sign_video
from avatar.render.exemplar.library import PresenterLibrary
from avatar.render.label import add_label


def listening_stretch(library: PresenterLibrary, frames: int) -> np.ndarray:
    """(frames,) consecutive library frame indices, all valid and from one shot, in which his
    mouth is most closed and his head moves least (each measured against its own spread over
    the library, the worse moment of the stretch counting: a stretch with one word in it loses).
    With no shot that long, his most closed-mouthed frame held."""
    lib = library.frames
    n = len(lib)
    if n < 2:
        raise ValueError("the library has too few frames for a listening loop")
    frames = min(frames, n)
    usable = lib.valid.copy()
    joined = lib.valid[1:] & lib.valid[:-1] & lib.continues[1:]  # frame i+1 follows frame i in one shot
    gap = library.features["mouth"][:, 0]
    jumps = landmark_jumps(lib.landmarks.astype(np.float64))
    mouth_scale = gap[usable].std() + 1e-6
    motion_scale = jumps[joined].std() + 1e-6 if joined.any() else 1.0
    best, best_score = None, np.inf
    for start in range(0, n - frames + 1, 4):
        window = slice(start, start + frames)
        if not usable[window].all() or not joined[start:start + frames - 1].all():
            continue
        score = (np.percentile(gap[window], 90) / mouth_scale
                 + np.percentile(jumps[start:start + frames - 1], 90) / motion_scale)
        if score < best_score:
            best, best_score = start, score
    if best is None:  # no shot is that long: his most closed-mouthed frame, held
        return np.full(frames, int(np.argmin(np.where(usable, gap, np.inf))))
    return np.arange(best, best + frames)


def render_idle(library: PresenterLibrary, presenter: Presenter, out: Path, seconds: float = 3.0) -> Path:
    """Write the listening loop (about 2 x `seconds`, forwards then backwards, no sound) to `out`:
    H.264 MP4, every frame labelled "AI-generated", signed naming `presenter`."""
    identity = local_identity()
    fps = library.frames.fps
    stretch = listening_stretch(library, max(2, round(seconds * fps)))
    pixels = library.frames.frames(sorted(set(stretch.tolist())))
    order = np.concatenate([stretch, stretch[-2:0:-1]])  # back and forth: the loop's seam is invisible
    width, height = library.size
    unsigned = temp_beside(Path(out), "unsigned")
    try:
        with VideoWriter(unsigned, width, height, fps) as writer:
            for index in order:
                writer.write(add_label(pixels[int(index)]))
        sign_video(unsigned, "AI presenter, listening", {**presenter.manifest_facts(),
                                                         "renderer": "his own recorded frames, looped"},
                   identity=identity, out=out)
    finally:
        unsigned.unlink(missing_ok=True)
    return Path(out)
