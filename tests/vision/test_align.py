import cv2
import numpy as np
import pytest

from avatar.vision import (TEMPLATE_68, FLIP_68, align_face, detect_faces, eye_centres, invert,
                           landmarks_68, transform_points, umeyama)


def _landmarks(rgb, upsample=1):
    faces = detect_faces(rgb, upsample=upsample)
    assert faces, "no face found"
    return landmarks_68(rgb, faces[0].box)


@pytest.mark.parametrize("photo", ["astronaut_rgb", "grace_hopper_rgb"])
def test_realigned_eyes_land_within_3px_of_template(photo, request):
    rgb = request.getfixturevalue(photo)
    crop, _ = align_face(rgb, _landmarks(rgb), 256)
    redetected = _landmarks(crop, upsample=0)
    offset = np.abs(eye_centres(redetected) - eye_centres(TEMPLATE_68 * 256))
    assert offset.max() <= 3.0, offset


def test_umeyama_recovers_a_known_similarity():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (30, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rotation.T + shift
    matrix = umeyama(src, dst)
    np.testing.assert_allclose(transform_points(src, matrix), dst, atol=1e-9)
    np.testing.assert_allclose(transform_points(dst, invert(matrix)), src, atol=1e-9)


def test_crop_landmarks_scale_with_size(astronaut_rgb):
    points = _landmarks(astronaut_rgb)
    _, m64 = align_face(astronaut_rgb, points, 64)
    _, m512 = align_face(astronaut_rgb, points, 512)
    np.testing.assert_allclose(transform_points(points, m512), 8 * transform_points(points, m64), atol=1e-6)
    with pytest.raises(ValueError):
        align_face(astronaut_rgb, points, 32)


def test_shrinking_a_large_source_matches_the_small_one(astronaut_rgb):
    points = _landmarks(astronaut_rgb)
    small, _ = align_face(astronaut_rgb, points, 128)
    big_rgb = cv2.resize(astronaut_rgb, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    # The same face at 4x: pixel centres map as x' = 4x + 1.5.
    big, _ = align_face(big_rgb, points * 4 + 1.5, 128)
    assert np.abs(big.astype(int) - small.astype(int)).mean() < 4


def test_flip_table_mirrors_the_template():
    mirrored = TEMPLATE_68[FLIP_68].copy()
    mirrored[:, 0] = 1 - mirrored[:, 0]
    np.testing.assert_allclose(mirrored, TEMPLATE_68, atol=1e-3)
