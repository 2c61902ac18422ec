"""Writing browser-playable MP4s (H.264, + AAC when there is audio) by piping frames to ffmpeg."""

from __future__ import annotations

import os
import subprocess
import threading
import wave
from contextlib import ExitStack
from pathlib import Path
from typing import Iterable

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
    length; or `sound`: the audio as it is being made, (n,) int16 mono PCM chunks at `sound_rate`
    (iterating may wait for the next chunk; it must end once the last frame is written).
    keyframe_every: the longest run of frames between keyframes (default: x264's).

    live: also a fragmented MP4 (picture and sound) that grows at `live` while frames are written,
    a fragment every `LIVE_FRAGMENT_S`, for a browser to play before the video is finished (Media
    Source Extensions); x264 then holds no frames back (no B-frames, no look-ahead), and the MP4
    at `path` is made from it when the context closes (no second encode).
    """

    def __init__(self, path: Path, width: int, height: int, fps: float, audio: Path | None = None,
                 crf: int = 20, preset: str = "veryfast", keyframe_every: int | None = None,
                 live: Path | None = None, sound: Iterable[np.ndarray] | None = None, sound_rate: int = 0):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 needs even dimensions, got {width}x{height}")
        if sound is not None and (audio is not None or sound_rate <= 0):
            raise ValueError("sound comes instead of an audio file, with its sample rate")
        self.path, self.width, self.height = Path(path), width, height
        writable_dir(self.path.parent, "output folder")
        self._staged = ExitStack()  # holds the atomic temp file until __exit__ commits or drops it
        self.tmp = self._staged.enter_context(atomic_path(self.path))
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:.6f}", "-i", "-"]
        self.audio, self.fps, self.live = audio, fps, live
        self._sound: _SoundFeed | None = None
        if sound is not None:
            self._sound = _SoundFeed(sound, sound_rate, to_ffmpeg=live is not None)
        if live is not None and audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        elif live is not None and self._sound is not None:  # the sound as it comes, through a pipe of its own
            cmd += ["-f", "s16le", "-ar", str(sound_rate), "-ac", "1", "-i", f"pipe:{self._sound.ffmpeg_end}",
                    "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "128k"]
        cmd += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
        if keyframe_every:  # short groups of pictures: a library read at random seeks cheaply
            cmd += ["-g", str(keyframe_every)]
        if live is None:
            cmd += ["-movflags", "+faststart", str(self.tmp)]
        else:  # each fragment is written out as soon as its frames are encoded
            # Timestamps as they come: shifted to start at zero, the sound's encoder delay (1024
            # samples, 46 ms at 22.05 kHz) moved every frame but the first, and the finished video
            # lost its last one. The sound then starts that much before zero, which players skip.
            keep_times = ["-avoid_negative_ts", "disabled"] if audio is not None or sound is not None else []
            cmd += [*keep_times, "-tune", "zerolatency", "-movflags", "frag_keyframe+empty_moov+default_base_moof",
                    "-frag_duration", str(round(LIVE_FRAGMENT_S * 1e6)), "-flush_packets", "1", str(live)]
        passed = (self._sound.ffmpeg_end,) if self._sound is not None and self._sound.ffmpeg_end else ()
        self._process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=passed)
        if self._sound is not None:
            self._sound.start()
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
        sound_file = None
        if self._sound is not None:
            try:  # every chunk handed on (ffmpeg then sees the sound end), and kept for the finished file
                sound_file = self._sound.finish(self.tmp.with_name(self.tmp.name + ".wav"))
            except BaseException as error:
                self._process.kill()
                self._process.wait()
                self._staged.__exit__(type(error), error, error.__traceback__)
                raise
            self.audio = sound_file
        try:
            self._finish()
        finally:
            if sound_file is not None:
                sound_file.unlink(missing_ok=True)

    def _finish(self) -> None:
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


class _SoundFeed:
    """A thread that takes a video's sound as it is made (int16 mono PCM chunks), hands it to
    ffmpeg through a pipe (`ffmpeg_end`: the fd ffmpeg reads, "pipe:N") when `to_ffmpeg`, and keeps
    it for the finished file. Its own thread: ffmpeg reads sound and pictures as it needs them,
    and a render writing pictures must never wait for the sound it has not made yet."""

    def __init__(self, chunks: Iterable[np.ndarray], rate: int, to_ffmpeg: bool):
        self.chunks, self.rate, self.kept, self.error = chunks, rate, [], None
        self.ffmpeg_end, self._ours = os.pipe() if to_ffmpeg else (0, None)
        self._thread = threading.Thread(target=self._feed, name="sound-feed", daemon=True)

    def start(self) -> None:
        if self.ffmpeg_end:
            os.close(self.ffmpeg_end)  # ffmpeg holds its own copy now
        self._thread.start()

    def _feed(self) -> None:
        pipe = os.fdopen(self._ours, "wb") if self._ours is not None else None
        try:
            for chunk in self.chunks:
                chunk = np.asarray(chunk, np.int16)
                self.kept.append(chunk)
                if pipe is not None:
                    try:
                        pipe.write(chunk.astype("<i2").tobytes())
                        pipe.flush()
                    except BrokenPipeError:  # ffmpeg stopped: the writer reports why
                        pipe = None
        except BaseException as error:  # the sound's maker failed: the writer raises it
            self.error = error
        finally:
            if pipe is not None:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass

    def finish(self, path: Path) -> Path:
        """Wait for the last chunk; the whole sound as a 16-bit WAV at `path`."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        with wave.open(str(path), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.rate)
            out.writeframes(np.concatenate(self.kept or [np.zeros(0, np.int16)]).astype("<i2").tobytes())
        return path
