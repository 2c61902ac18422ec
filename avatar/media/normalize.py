"""Turn any accepted upload into one predictable video file (and a WAV), once."""

from __future__ import annotations

import hashlib
import wave
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

from avatar.config import MediaLimits
from avatar.errors import MediaError
from avatar.media.ffmpeg import run_ffmpeg
from avatar.media.probe import VideoInfo, probe
from avatar.paths import atomic_path


@dataclass(frozen=True)
class NormalizedVideo:
    """A video ready for frame-accurate work.

    video: constant frame rate, rotation baked into the pixels (rotation 0), even width and
        height; either the source itself (already normal) or an H.264 MP4 without audio.
    audio: 16-bit PCM WAV with the source's sample rate and channel layout, or None when the
        source has no audio.
    info: `probe` of `video`.
    """

    video: Path
    audio: Path | None
    info: VideoInfo


def _is_normal(info: VideoInfo, fps: float | None, short_side: int | None = None) -> bool:
    # Any codec PyAV decoded in `probe` is fine; what matters downstream is timing and geometry.
    # A file declaring no duration (a raw .h264 elementary stream) has no real timestamps, so it
    # is rewrapped too.
    return (
        info.declared_duration > 0
        and info.constant_frame_rate
        and info.rotation == 0
        and info.width % 2 == 0
        and info.height % 2 == 0
        and (fps is None or abs(info.fps - fps) < 1e-3 * fps)
        and (short_side is None or min(info.width, info.height) <= short_side)
    )


def _scale_filter(short_side: int | None) -> str:
    """ffmpeg's scale filter: even sides, and the shorter side at most `short_side` (aspect kept;
    applied after the rotation, so a portrait phone video keeps its width as the short side)."""
    if short_side is None:
        return "scale=trunc(iw/2)*2:trunc(ih/2)*2"
    factor = f"min(1,{int(short_side)}/min(iw,ih))"  # quoted below: its commas are not the chain's
    return f"scale='trunc(iw*{factor}/2)*2':'trunc(ih*{factor}/2)*2'"


def _stem(path: Path, fps: float | None, short_side: int | None = None) -> str:
    """Deterministic output name: same source file (path, size, mtime), fps and size -> same name."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{fps}" + (f"|{short_side}" if short_side else "")
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    return f"{path.stem}-{digest}"


# Rates a variable-rate recording (phones, webcams) is snapped to when its mean rate is close.
_COMMON_RATES = (24000 / 1001, 24.0, 25.0, 30000 / 1001, 30.0, 50.0, 60000 / 1001, 60.0)


def _target_fps(info: VideoInfo, fps: float | None) -> float:
    if fps is not None:
        return fps
    if info.constant_frame_rate:
        return info.fps
    # A jittery phone clip averaging 29.6 fps should become 30 fps, not 29.6.
    nearest = min(_COMMON_RATES, key=lambda rate: abs(rate - info.fps))
    return nearest if abs(nearest - info.fps) <= 0.03 * nearest else round(info.fps, 2)


def _rate(fps: float) -> str:
    # ffmpeg takes an exact fraction, so 29.97 becomes 30000/1001 rather than a rounded float.
    frac = Fraction(fps).limit_denominator(1001)
    return f"{frac.numerator}/{frac.denominator}"


def _atomic_ffmpeg(args: list[str], out: Path, what: str) -> None:
    """Run ffmpeg writing to a temp file next to `out`, then rename it into place."""
    with atomic_path(out) as tmp:
        run_ffmpeg([*args, str(tmp)], what=what)


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


def _check_length(name: str, got: float, want: float, tolerance: float, what: str) -> None:
    if got < want - tolerance:
        raise MediaError(
            f"{name}: the {what} came out short ({got:.2f} s instead of {want:.2f} s); "
            "the source is probably damaged."
        )


def normalize(
    path: str | Path,
    work_dir: Path,
    limits: MediaLimits = MediaLimits(),
    fps: float | None = None,
    with_audio: bool = True,
    short_side: int | None = None,
) -> NormalizedVideo:
    """Probe `path` and, unless it is already normal, transcode it once into `work_dir`.

    Output files are `<stem>-<hash>.mp4` / `.wav` (hash of path, size, mtime, fps), so calling
    again for the same source reuses them. The transcode applies rotation (ffmpeg autorotates),
    resamples to a constant `fps` (default: the source's rate; for a variable-rate source its
    mean rate, snapped to the nearest common rate such as 30 when within 3 %), rounds odd sizes
    down to even and encodes libx264 veryfast CRF 17 yuv420p without audio. The source's first
    audio stream, if any, is written as a 16-bit PCM WAV keeping its sample rate and channels
    (skipped with `with_audio=False`: face extraction has no use for an hour of WAV). With
    `short_side`, a larger video is scaled down so its shorter side is that many pixels.
    Raises `MediaError` for unusable input or an output shorter than the input.
    """
    path = Path(path)
    source = probe(path, limits)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    stem = _stem(path, fps, short_side)
    # Tolerance for length checks: the fps filter may add or drop a frame at either end.
    slack = max(2.0 / (fps or source.fps or 25.0), 0.02 * source.duration)

    if _is_normal(source, fps, short_side):
        video, info = path, source
    else:
        video = work_dir / f"{stem}.mp4"
        if not video.is_file():
            rate = _rate(_target_fps(source, fps))
            _atomic_ffmpeg(
                [
                    # 0:V:0 = first video stream that is not cover art (as probe chose)
                    "-i", str(path), "-map", "0:V:0", "-an", "-sn", "-dn",
                    "-vf", f"fps={rate},{_scale_filter(short_side)}",
                    "-c:v", "libx264", "-preset", "veryfast", "-crf", "17", "-pix_fmt", "yuv420p",
                    "-movflags", "+faststart",
                ],
                video,
                what=f"Normalising {path.name}",
            )
        # CRF 17 may come out bigger than the upload cap; the byte cap is for uploads only.
        info = probe(video, replace(limits, max_bytes=2**62))
        try:
            _check_length(path.name, info.duration, source.duration, slack, "normalised video")
        except MediaError:
            video.unlink(missing_ok=True)  # let a later run try again instead of reusing it
            raise

    audio = None
    if source.has_audio and with_audio:
        audio = work_dir / f"{stem}.wav"
        if not audio.is_file():
            _atomic_ffmpeg(
                ["-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", "pcm_s16le"],
                audio,
                what=f"Extracting the audio of {path.name}",
            )
        # Audio may legitimately be a little shorter than the video, but not by much.
        try:
            _check_length(
                path.name, _wav_seconds(audio), source.duration, max(slack, 0.5), "audio track"
            )
        except MediaError:
            audio.unlink(missing_ok=True)
            raise
    return NormalizedVideo(video=video, audio=audio, info=info)


def trim(normal: NormalizedVideo, start: float, end: float, work_dir: Path) -> NormalizedVideo:
    """The stretch `start`..`end` seconds of a normalised video and its WAV, as new files in
    `work_dir` (video re-encoded as `normalize` does, frame-accurate; WAV cut to the sample)."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    video = work_dir / f"{normal.video.stem}-{start:.3f}-{end:.3f}.mp4"
    _atomic_ffmpeg(
        ["-ss", f"{start:.3f}", "-i", str(normal.video), "-t", f"{end - start:.3f}", "-map", "0:V:0", "-an", "-sn",
         "-dn", "-c:v", "libx264", "-preset", "veryfast", "-crf", "17", "-pix_fmt", "yuv420p",
         "-movflags", "+faststart"],
        video,
        what=f"Trimming {normal.video.name}",
    )
    audio = None
    if normal.audio is not None:
        audio = video.with_suffix(".wav")
        with wave.open(str(normal.audio), "rb") as source:
            rate = source.getframerate()
            first = min(source.getnframes(), int(round(start * rate)))
            source.setpos(first)
            samples = source.readframes(max(0, min(source.getnframes(), int(round(end * rate))) - first))
            params = source.getparams()
        with atomic_path(audio) as tmp, wave.open(str(tmp), "wb") as out:
            out.setparams(params)
            out.writeframes(samples)
    return NormalizedVideo(video=video, audio=audio, info=probe(video, replace(MediaLimits(), max_bytes=2**62)))
