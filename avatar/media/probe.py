"""Look at a video file before anything big is decoded, and refuse what we cannot use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from avatar.config import MediaLimits
from avatar.errors import MediaError

# Errors PyAV raises for unreadable or broken input (its FFmpegError is not an OSError subclass
# for every code, and a text file can surface as a decoding error of the file name).
_AV_ERRORS = (av.FFmpegError, OSError, ValueError, UnicodeDecodeError, EOFError)


# Containers that hold single pictures (FFmpeg's image demuxers), whatever the file is called.
STILL_IMAGE_FORMATS = {"image2", "png_pipe", "jpeg_pipe", "webp_pipe", "bmp_pipe", "tiff_pipe"}


@dataclass(frozen=True)
class VideoInfo:
    """What `probe` found out about a video file.

    width/height: display size in pixels, i.e. after `rotation` is applied.
    rotation: degrees (0, 90, 180 or 270) the stored frames must be turned counter-clockwise to
        display them upright, as PyAV's `VideoFrame.rotation` reports for the first frame.
    fps: frames per second (mean over the stream). frames: number of video packets.
    duration: seconds covered by the demuxed video packets (last pts - first pts + one frame).
    declared_duration: seconds the container/stream header claims (0.0 when it claims nothing).
    constant_frame_rate: all timestamp steps are equal (within one clock tick).
    """

    path: Path
    size_bytes: int
    container: str
    codec: str
    width: int
    height: int
    rotation: int
    fps: float
    frames: int
    duration: float
    declared_duration: float
    constant_frame_rate: bool
    has_audio: bool
    audio_codec: str | None


def _bytes(value: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} bytes"


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def _declared_duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def video_streams(container) -> list:
    """The real video streams of an open PyAV container (cover art in music files excluded)."""
    cover = av.stream.Disposition.attached_pic
    return [s for s in container.streams.video if not (s.disposition & cover)]


def _demux_timestamps(container, stream, name: str) -> tuple[np.ndarray, int]:
    """Sorted pts of all video packets (no decoding) and the last packet's duration in ticks."""
    pts: list[int] = []
    untimed = 0  # packets without timestamps (raw elementary streams such as .h264)
    last_duration = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # flush packet
                continue
            if packet.pts is None and packet.dts is None:
                untimed += 1
            else:
                pts.append(packet.pts if packet.pts is not None else packet.dts)
            last_duration = packet.duration or last_duration
    except _AV_ERRORS as exc:
        count = len(pts) + untimed
        raise MediaError(
            f"{name} looks truncated or damaged: reading it failed after {count} frames ({exc})."
        ) from None
    if untimed and not pts:
        # Give untimed packets the stream's nominal frame duration, as a player would.
        rate = stream.average_rate or stream.guessed_rate or 25
        step = last_duration or max(1, round(1 / (rate * stream.time_base)))
        pts = [i * step for i in range(untimed)]
    return np.sort(np.asarray(pts, dtype=np.int64)), last_duration


def _first_frame_rotation(path: Path, name: str) -> int:
    """Decode only the first frame (with a fresh demuxer) and return its display rotation."""
    try:
        with av.open(str(path)) as container:
            for frame in container.decode(video_streams(container)[0]):
                return int(round(frame.rotation)) % 360
    except _AV_ERRORS as exc:
        raise MediaError(f"{name}: the first video frame cannot be decoded ({exc}).") from None
    raise MediaError(f"{name}: the first video frame cannot be decoded (the decoder gave none).")


def probe(path: str | Path, limits: MediaLimits = MediaLimits()) -> VideoInfo:
    """Check `path` against `limits` and describe its first video stream.

    Checks run cheapest first: existence, empty file, byte size, readable container, a video
    stream, coded pixel size (before any frame is decoded), declared duration, demuxed duration
    (truncation), and finally decoding one frame. Any failure raises `MediaError` whose message
    names the file, what is wrong and the limit.
    """
    path = Path(path)
    name = path.name or str(path)
    if not path.is_file():
        what = "is a folder, not a video file" if path.is_dir() else "was not found"
        raise MediaError(f"{name} {what} ({path}).")
    size = path.stat().st_size
    if size == 0:
        raise MediaError(f"{name} is empty (0 bytes); upload the video again.")
    if size > limits.max_bytes:
        raise MediaError(
            f"{name} is too large: {_bytes(size)}, the limit is {_bytes(limits.max_bytes)}."
        )
    try:
        container = av.open(str(path))
    except _AV_ERRORS:
        raise MediaError(
            f"{name} is not a readable video file (unknown or damaged format)."
        ) from None
    with container:
        if not container.streams:
            raise MediaError(f"{name} is not a readable video file (no media streams found).")
        streams = video_streams(container)
        if not streams:
            kind = "an audio-only file" if container.streams.audio else "a file without pictures"
            raise MediaError(f"{name} has no video stream: it is {kind}.")
        stream = streams[0]
        ctx = stream.codec_context
        coded_w, coded_h = int(ctx.width or 0), int(ctx.height or 0)
        if coded_w > limits.max_width or coded_h > limits.max_height:
            raise MediaError(
                f"{name} has too many pixels: {coded_w}x{coded_h}, the limit is "
                f"{limits.max_width}x{limits.max_height}."
            )
        declared = _declared_duration(container, stream)
        if declared > limits.max_seconds:
            raise MediaError(
                f"{name} is too long: {_seconds(declared)}, the limit is "
                f"{_seconds(limits.max_seconds)}."
            )
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None else None
        container_name = container.format.name
        codec = ctx.name
        time_base = stream.time_base
        pts, last_duration = _demux_timestamps(container, stream, name)

    if pts.size == 0 or coded_w == 0 or coded_h == 0:
        raise MediaError(f"{name}: the first video frame cannot be decoded (no video data).")
    steps = np.diff(pts)
    if steps.size:
        step = float(steps.mean())
        # Equal steps within one tick (or 1 %) still count as constant: timestamp rounding in
        # a coarse time base (e.g. 1/1000 s for 29.97 fps) alternates 33/34 ticks.
        tolerance = max(1.0, 0.01 * step)
        cfr = bool(np.abs(steps - np.median(steps)).max() <= tolerance)
    else:
        step, cfr = float(last_duration or 0), True
    frame_ticks = last_duration if (cfr or not steps.size) and last_duration else step
    duration = float((int(pts[-1] - pts[0]) + frame_ticks) * time_base)
    if steps.size:
        fps = float(steps.size / float((pts[-1] - pts[0]) * time_base))
    else:
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else (1.0 / duration if duration > 0 else 0.0)
    if duration > limits.max_seconds:
        raise MediaError(
            f"{name} is too long: {_seconds(duration)}, the limit is "
            f"{_seconds(limits.max_seconds)}."
        )
    if declared > 0 and duration < limits.min_duration_ratio * declared:
        raise MediaError(
            f"{name} looks truncated: its video data lasts {_seconds(duration)} but the file "
            f"declares {_seconds(declared)} (an interrupted upload or download?)."
        )

    if container_name in STILL_IMAGE_FORMATS or container_name.endswith("_pipe") or pts.size < 2:
        raise MediaError(f"{name} is a still image, not a video: a face swap needs a moving face (a video of at "
                         "least two frames).")

    rotation = _first_frame_rotation(path, name)
    width, height = (coded_h, coded_w) if rotation in (90, 270) else (coded_w, coded_h)
    return VideoInfo(
        path=path,
        size_bytes=size,
        container=container_name,
        codec=codec,
        width=width,
        height=height,
        rotation=rotation,
        fps=fps,
        frames=int(pts.size),
        duration=duration,
        declared_duration=declared,
        constant_frame_rate=cfr,
        has_audio=audio is not None,
        audio_codec=audio_codec,
    )
