"""The bundled ffmpeg binary (from imageio-ffmpeg) and one way to run it."""

from __future__ import annotations

import re
import subprocess
from functools import lru_cache

from avatar.errors import MediaError


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg executable shipped with imageio-ffmpeg (has libx264 and aac)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], *, what: str = "ffmpeg") -> None:
    """Run ffmpeg quietly with `args` (inputs, filters, outputs; overwrite is implied).

    `-xerror` makes ffmpeg stop at the first decoding error instead of writing a silently short
    file (a truncated upload otherwise "transcodes" with exit status 0). On failure raises
    `MediaError` naming `what` and the last line ffmpeg printed, never a traceback.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-xerror", *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    except OSError as exc:  # binary missing or not executable
        raise MediaError(f"Could not run ffmpeg ({exc.strerror or exc}).") from None
    if proc.returncode != 0:
        lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"exit status {proc.returncode}"
        detail = re.sub(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*", "", detail)  # drop "[h264 @ 0x55..] "
        raise MediaError(f"{what} failed: {detail}")
