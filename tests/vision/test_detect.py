import numpy as np
import pytest

from avatar.vision import choose_face, detect_faces, eye_centres, landmarks_68


def test_astronaut_face_found_with_landmarks_inside_it(astronaut_rgb):
    faces = detect_faces(astronaut_rgb, upsample=1)
    face, ambiguous = choose_face(faces, 512, 512)
    assert face is not None and not ambiguous
    x0, y0, x1, y1 = face.box
    # Eileen Collins' face sits left of centre in the upper half of the photo.
    assert 150 < (x0 + x1) / 2 < 260 and 80 < (y0 + y1) / 2 < 170
    points = landmarks_68(astronaut_rgb, face.box)
    assert points.shape == (68, 2) and points.dtype == np.float32
    left, right = eye_centres(points)
    assert left[0] < right[0]  # image-left eye first
    assert abs(left[1] - right[1]) < 10  # upright portrait: eyes level
    assert 40 < np.linalg.norm(right - left) < 60  # plausible for a ~90 px face


def test_grace_hopper_face_found(grace_hopper_rgb):
    faces = detect_faces(grace_hopper_rgb)
    assert len(faces) >= 1
    points = landmarks_68(grace_hopper_rgb, faces[0].box)
    mouth, eyes = points[48:68].mean(0), eye_centres(points).mean(0)
    assert mouth[1] > eyes[1] + 40  # the mouth is well below the eyes


def test_no_face_in_noise_or_flat_image():
    rng = np.random.default_rng(0)
    assert detect_faces(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) == []
    assert detect_faces(np.full((300, 400, 3), 128, np.uint8)) == []


def test_two_equal_faces_are_ambiguous_and_a_small_second_face_is_not(astronaut_rgb):
    import cv2

    top = astronaut_rgb[:256]
    pair = np.hstack([top, top])
    faces = detect_faces(pair, upsample=1)
    chosen, ambiguous = choose_face(faces, pair.shape[1], pair.shape[0])
    assert len(faces) >= 2 and ambiguous

    small = cv2.resize(top, (256, 128))[:, :128]  # half-size copy of the face in a corner strip
    scene = np.hstack([top, np.vstack([small, np.zeros_like(small)])])
    faces = detect_faces(scene, upsample=1)
    chosen, ambiguous = choose_face(faces, scene.shape[1], scene.shape[0])
    assert len(faces) == 2 and chosen is not None and not ambiguous
    assert chosen.box[2] <= 512  # the big face on the left, not the small copy


def test_unknown_detector_is_refused(astronaut_rgb):
    with pytest.raises(ValueError, match="unknown face detector"):
        detect_faces(astronaut_rgb, detector="magic")


def test_cnn_detector_agrees_with_hog(astronaut_rgb):
    cnn = detect_faces(astronaut_rgb, detector="cnn")
    hog = detect_faces(astronaut_rgb, upsample=1)
    assert len(cnn) == 1
    centre = lambda box: np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])  # noqa: E731
    assert np.linalg.norm(centre(cnn[0].box) - centre(hog[0].box)) < 15
