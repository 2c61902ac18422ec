import numpy as np
import pytest

from avatar.config import RenderConfig
from avatar.errors import UserError
from avatar.inference import load_swap_model
from avatar.media import iter_frames, normalize, probe
from avatar.media.clip import DriverClip
from avatar.presenter import open_presenter
from avatar.provenance.credentials import read_credentials
from avatar.render import render_clip
from avatar.render.label import add_label


def _render(driver, model_folder, out, work, config=RenderConfig(), **options):
    presenter = open_presenter(model_folder)
    clip = DriverClip.from_video(normalize(driver, work))
    return render_clip(clip, out, load_swap_model(presenter.onnx), presenter, "AI presenter video", config, **options)


def test_render_keeps_length_sound_and_size(franck_clip, tiny_model, tmp_path):
    out = tmp_path / "out.mp4"
    report = _render(franck_clip, tiny_model, out, tmp_path / "work")
    source, rendered = probe(franck_clip), probe(out)
    assert rendered.frames == source.frames == report.frames == 48
    assert report.swapped == 48 and report.held == 0 and not report.skipped
    assert (rendered.width, rendered.height) == (source.width, source.height)
    assert rendered.has_audio and rendered.duration == pytest.approx(2.0, abs=0.05)
    assert set(report.seconds) >= {"driver", "track", "align", "swap", "composite", "encode", "sign"}
    assert read_credentials(out).presenter["model"] == "tiny"


def test_a_live_render_is_playable_while_it_renders_and_its_signed_file_follows(franck_clip, tiny_model, tmp_path):
    import time

    out, live = tmp_path / "out.mp4", tmp_path / "live.mp4"
    playable_before_the_end = []

    def halfway(done, total):
        if done == total // 2:  # the stream holds fragments while the second half is not drawn yet
            deadline = time.monotonic() + 10
            while b"moof" not in live.read_bytes() if live.exists() else True:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            playable_before_the_end.append(live.exists() and b"moof" in live.read_bytes() and not out.exists())

    report = _render(franck_clip, tiny_model, out, tmp_path / "work", on_progress=halfway, live=live)
    assert playable_before_the_end == [True]
    assert probe(live).frames == probe(out).frames == report.frames == 48 and probe(live).has_audio
    assert read_credentials(out).presenter["model"] == "tiny"  # the file that is kept is signed
    assert b"c2pa" not in live.read_bytes()  # the stream itself is not (it carries the label)


def test_a_render_stopped_by_its_progress_callback_leaves_nothing(franck_clip, tiny_model, tmp_path):
    out = tmp_path / "out.mp4"

    def stop(done, total):
        if done == 20:
            raise KeyboardInterrupt  # as a live answer's render stops when nobody watches it

    with pytest.raises(KeyboardInterrupt):
        _render(franck_clip, tiny_model, out, tmp_path / "work", on_progress=stop, live=tmp_path / "live.mp4")
    assert not out.exists() and not any(p.name.startswith("out") for p in tmp_path.iterdir())


def test_side_by_side_shows_driver_left_and_changed_face_right(franck_clip, tiny_model, tmp_path):
    out = tmp_path / "sbs.mp4"
    _render(franck_clip, tiny_model, out, tmp_path / "work", RenderConfig(colour="none"), side_by_side=True)
    frame = next(iter_frames(out)).rgb
    driver = next(iter_frames(franck_clip)).rgb
    left, right = frame[:, :360].astype(int), frame[:, 360:].astype(int)
    assert frame.shape == (288, 720, 3)
    assert np.abs(left - driver).mean() < 4  # the driver, as it was (after re-encoding)
    centre = (slice(80, 200), slice(120, 240))  # where franck's face is
    assert np.abs(right[centre] - driver[centre]).mean() > 8  # the face region was replaced
    assert np.abs(right[:40] - driver[:40]).mean() < 4  # the background was not


def test_a_video_whose_face_cannot_be_swapped_is_refused_and_nothing_is_written(small_face_clip, tiny_model,
                                                                              tmp_path):
    out = tmp_path / "small.mp4"
    with pytest.raises(UserError, match="could not be put into this video"):
        _render(small_face_clip, tiny_model, out, tmp_path / "work")
    assert not out.exists() and not list(tmp_path.glob("*.part*"))


def test_unswappable_frames_show_a_held_presenter_frame_never_the_driver(franck_clip, tiny_model, tmp_path):
    """Frames 10-14 lose their face (blanked): the video holds frame 9's presenter instead."""
    presenter = open_presenter(tiny_model)
    source = [f.rgb for f in iter_frames(franck_clip)]
    blank = set(range(10, 15))
    frames = [np.full_like(rgb, 90) if i in blank else rgb for i, rgb in enumerate(source)]
    clip = DriverClip.from_arrays(lambda: iter(frames), None, 24.0, 360, 288, len(frames), None, "video")
    out = tmp_path / "held.mp4"
    report = render_clip(clip, out, load_swap_model(presenter.onnx), presenter, "AI presenter video")
    assert report.frames == 48 and report.held == 5 and report.swapped == 43
    written = [f.rgb.astype(int) for f in iter_frames(out)]
    assert len(written) == 48
    for i in blank:  # the held frame, not the grey driver frame
        assert np.abs(written[i] - written[9]).mean() < 2 and np.abs(written[i] - 90).mean() > 10


@pytest.mark.parametrize("size", [(16, 16), (40, 30), (78, 60), (176, 144)])
def test_the_label_fits_any_frame_size(size):
    width, height = size
    out = add_label(np.zeros((height, width, 3), np.uint8))
    assert out.shape == (height, width, 3) and out.any()  # the badge is drawn, inside the frame
    if width >= 40:
        assert out.max() > 100  # with its white text
