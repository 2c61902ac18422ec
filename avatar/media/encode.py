"""Writing browser-playable MP4s (H.264, + AAC when there is audio) by piping frames to ffmpeg."""

from __future__ import annotations

import subprocess
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from avatar.errors import MediaError
from avatar.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from avatar.paths import atomic_path, writable_dir

LIVE_FRAGMENT_S = 0.1  # a live video's fragments: the browser can start after the first one


class VideoWriter:
    """Context manager: `write(rgb)` frames of (H, W, 3) uint8 RGB; the MP4 appears at `path`
    only when the context closes without error (written to a temp name, then renamed).

    H.264 yuv420p with +faststart (plays in every browser and starts before it is fully loaded);
    `audio` (any file ffmpeg reads) is encoded as AAC, cut or padded with silence to the video's
    length. keyframe_every: the longest run of frames between keyframes (default: x264's).

    live: also a fragmented MP4 (picture and sound) that grows at `live` while frames are written,
    a fragment every `LIVE_FRAGMENT_S`, for a browser to play before the video is finished (Media
    Source Extensions); x264 then holds no frames back (no B-frames, no look-ahead), and the MP4
    at `path` is made from it when the context closes (no second encode).
    """

    def __init__(self, path: Path, width: int, height: int, fps: float, audio: Path | None = None,
                 crf: int = 20, preset: str = "veryfast", keyframe_every: int | None = None,
                 live: Path | None = None):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even dimensions, got {width}x{height}")
        self.path, self.width, self.height = Path(path), width, height
        writable_dir(self.path.parent, "output folder")
        self._staged = ExitStack()  # holds the atomic temp file until __exit__ commits or drops it
        self.tmp = self._staged.enter_context(atomic_path(self.path))
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
        self.audio, self.fps, self.live = audio, fps, live
        if live is not None and audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if keyframe_every:  # short groups of pictures: a library read at random seeks cheaply
            cmd += ["-g", str(keyframe_every)]
        if live is None:
            cmd += ["-movflags", "+faststart", str(self.tmp)]
        else:  # each fragment is written out as soon as its frames are encoded
            cmd += ["-tune", "zerolatency", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
                    "-frag_duration", str(round(LIVE_FRAGMENT_S * 1e6)), "-flush_packets", "1", str(live)]
        self._process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        if rgb.shape != (self.height, self.width, 3) or rgb.dtype != np.uint8:
            raise ValueError(f"expected ({self.height}, {self.width}, 3) uint8, got {rgb.shape} {rgb.dtype}")
        try:
            self._process.stdin.write(np.ascontiguousarray(rgb).tobytes())
        except BrokenPipeError:
            raise MediaError(f"encoding {self.path.name} failed: {self._error()}") from None
        self.frames += 1

    def _error(self) -> str:
        self._process.wait()
        lines = [line for line in self._process.stderr.read().decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else f"ffmpeg exit status {self._process.returncode}"

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._process.stdin.close()
        except BrokenPipeError:
            pass
        if exc_type is not None:
            self._process.kill()
            self._process.wait()
            self._staged.__exit__(exc_type, exc, tb)  # removes the temp file
            return
        if self._process.wait() != 0 or self.frames == 0:
            detail = self._error() if self.frames else "no frames were written"
            error = MediaError(f"encoding {self.path.name} failed: {detail}")
            self._staged.__exit__(MediaError, error, None)
            raise error
        picture = self.live or self.tmp
        if self.audio is not None:
            # Sound is added after the picture, cut or padded with silence to exactly its length
            # (-shortest while streaming can drop the last frame).
            try:
                with atomic_path(self.tmp) as muxed:
                    run_ffmpeg(["-i", str(picture), "-i", str(self.audio), "-map", "0:v:0", "-map", "1:a:0",
                                "-c:v", "copy", "-af", "apad", "-c:a", "aac", "-b:a", "128k",
                                "-t", f"{self.frames / self.fps:.6f}", "-movflags", "+faststart", str(muxed)],
                               what=f"Adding sound to {self.path.name}")
            except BaseException as error:
                self._staged.__exit__(type(error), error, error.__traceback__)
                raise
        elif self.live is not None:
            try:
                run_ffmpeg(["-i", str(self.live), "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(self.tmp)],
                           what=f"Finishing {self.path.name}")
            except BaseException as error:
                self._staged.__exit__(type(error), error, error.__traceback__)
                raise
        self._staged.close()  # renames the finished file into place
