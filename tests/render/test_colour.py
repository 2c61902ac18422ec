import cv2
import numpy as np
import pytest

from avatar.render import ColourMatcher, transfer
from avatar.vision import align_face, detect_faces, hull_mask, landmarks_68, transform_points


@pytest.fixture(scope="module")
def two_faces(astronaut_rgb, grace_hopper_rgb):
    """Aligned 128 px crops of two real faces and the astronaut's face mask."""
    crops = []
    for rgb, upsample in ((astronaut_rgb, 1), (grace_hopper_rgb, 0)):
        points = landmarks_68(rgb, detect_faces(rgb, upsample=upsample)[0].box)
        crop, matrix = align_face(rgb, points, 128)
        crops.append((crop, hull_mask(transform_points(points, matrix), 128, 128, erode=4)))
    return crops


def _lab_stats(rgb, mask):
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)[mask > 0.5]
    return lab.mean(0), lab.std(0)


@pytest.mark.parametrize("method", ["rct", "lct"])
def test_transfer_moves_face_statistics_to_the_target(two_faces, method):
    (face, mask), (reference, _) = two_faces
    # The same pixels under both masks, so only colour differs: use the astronaut's mask for both.
    out = transfer(face, reference, mask, method)
    before = np.abs(np.subtract(*[_lab_stats(x, mask)[0] for x in (face, reference)])).sum()
    after = np.abs(np.subtract(*[_lab_stats(x, mask)[0] for x in (out, reference)])).sum()
    assert after < 0.25 * before, (before, after)
    assert out.dtype == np.uint8 and out.shape == face.shape


def test_tinted_face_gets_its_colour_back(two_faces):
    (face, mask), _ = two_faces
    tinted = np.clip(face.astype(int) + [40, 0, -30], 0, 255).astype(np.uint8)
    restored = transfer(tinted, face, mask, "rct")
    inside = mask > 0.5
    assert np.abs(restored.astype(int) - face.astype(int))[inside].mean() < 6
    assert np.abs(tinted.astype(int) - face.astype(int))[inside].mean() > 20


def test_smoothing_damps_frame_to_frame_colour_jumps(two_faces):
    (face, mask), _ = two_faces
    rng = np.random.default_rng(0)
    # A driver whose brightness flickers by +-12 levels from frame to frame.
    references = [np.clip(face.astype(int) + rng.choice([-12, 12]), 0, 255).astype(np.uint8) for _ in range(30)]

    def flicker(smoothing):
        matcher = ColourMatcher("rct", smoothing)
        means = [matcher(face, ref, mask)[mask > 0.5].mean() for ref in references]
        return np.abs(np.diff(means)).mean()

    assert flicker(0.8) < 0.4 * flicker(0.0)


def test_none_and_bad_method():
    face = np.zeros((8, 8, 3), np.uint8)
    assert transfer(face, face + 50, np.ones((8, 8)), "none") is face
    with pytest.raises(ValueError):
        ColourMatcher("magic")
