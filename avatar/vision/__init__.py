"""Faces in frames: detection and landmarks (owns face_recognition/dlib), tracking between
detections, alignment to crops and back, masks, expression features (mouth and eye opening) and
crop sharpness. Frames are (H, W, 3) uint8 RGB."""

from avatar.vision.align import (FLIP_68, TEMPLATE_68, align_face, alignment_matrix, eye_centres,
                                 invert, matrix_scale, transform_points, umeyama, warp_to_crop)
from avatar.vision.features import eye_opening, mouth_opening
from avatar.vision.detect import Detection, choose_face, detect_faces, landmarks_68
from avatar.vision.mask import face_outline, hull_mask, inner_face_mask, paste_back, skin_mask
from avatar.vision.quality import sharpness
from avatar.vision.track import NO_FACE, SEVERAL_FACES, FaceTracker, OneEuroFilter, TrackedFace, find_faces

__all__ = [
    "FLIP_68", "TEMPLATE_68", "align_face", "alignment_matrix", "eye_centres", "invert",
    "matrix_scale", "transform_points", "umeyama", "warp_to_crop", "Detection", "choose_face",
    "detect_faces", "landmarks_68", "eye_opening", "mouth_opening", "face_outline", "hull_mask",
    "inner_face_mask", "paste_back", "sharpness", "skin_mask",
    "NO_FACE", "SEVERAL_FACES", "FaceTracker", "OneEuroFilter", "TrackedFace", "find_faces",
]
