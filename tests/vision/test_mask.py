import cv2
import numpy as np

from avatar.vision import align_face, detect_faces, hull_mask, landmarks_68, paste_back, transform_points


def _aligned(rgb, size=256):
    points = landmarks_68(rgb, detect_faces(rgb, upsample=1)[0].box)
    crop, matrix = align_face(rgb, points, size)
    return points, crop, matrix


def test_pasting_back_an_unchanged_crop_reproduces_the_frame(astronaut_rgb):
    points, crop, matrix = _aligned(astronaut_rgb)
    crop_mask = hull_mask(transform_points(points, matrix), 256, 256, erode=4, feather=6)
    result = paste_back(astronaut_rgb, crop, matrix, crop_mask)
    inside = hull_mask(points, 512, 512, erode=6) > 0.5
    error = np.abs(result.astype(int) - astronaut_rgb.astype(int))
    assert inside.sum() > 3000
    assert error[inside].mean() < 3.0  # resampling twice, nothing else
    near_face = cv2.dilate(hull_mask(points, 512, 512, forehead=0.5), np.ones((41, 41), np.uint8))
    assert (error[near_face == 0] == 0).all()  # more than 20 px off the face: untouched


def test_pasting_a_changed_crop_changes_only_the_face(astronaut_rgb):
    points, crop, matrix = _aligned(astronaut_rgb)
    crop_mask = hull_mask(transform_points(points, matrix), 256, 256, erode=4, feather=6)
    result = paste_back(astronaut_rgb, 255 - crop, matrix, crop_mask)
    inside = hull_mask(points, 512, 512, erode=6) > 0.5
    assert np.abs(result.astype(int) - astronaut_rgb.astype(int))[inside].mean() > 50


def test_erode_shrinks_and_feather_softens_the_mask(astronaut_rgb):
    points, _, _ = _aligned(astronaut_rgb)
    hard = hull_mask(points, 512, 512)
    eroded = hull_mask(points, 512, 512, erode=5)
    soft = hull_mask(points, 512, 512, feather=9)
    assert hard.dtype == np.float32 and set(np.unique(hard)) == {0.0, 1.0}
    assert eroded.sum() < hard.sum()
    assert ((soft > 0.05) & (soft < 0.95)).sum() > 500
    x, y = points[30].round().astype(int)  # nose tip: deep inside every variant
    assert hard[y, x] == eroded[y, x] == 1.0 and soft[y, x] > 0.99
