"""The presenter between answers: a short loop of his own recorded frames in which he listens
(mouth closed, head calm, his own blinks), played forwards then backwards so it loops without a
jump. Labelled and signed like every video the presenter appears in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from avatar.media.encode import VideoWriter
from avatar.paths import temp_beside
from avatar.presenter import Presenter
from avatar.provenance.credentials import local_identity, sign_video
from avatar.render.exemplar.library import PresenterLibrary
from avatar.render.label import add_label


def render_idle(library: PresenterLibrary, presenter: Presenter, out: Path) -> Path:
    """Write the listening loop (his listening stretch, `PresenterLibrary.listening`, forwards
    then backwards, no sound) to `out`: H.264 MP4, every frame labelled "AI-generated", signed
    naming `presenter`."""
    identity = local_identity()
    fps = library.frames.fps
    stretch = library.listening
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
