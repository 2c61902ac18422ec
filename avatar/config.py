"""Frozen configuration passed into the stages. Defaults are the documented, measured choices."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class MediaLimits:
    """Caps checked by `avatar.media.probe` before anything is decoded."""

    max_bytes: int = 2 * 1024**3
    max_width: int = 4096
    max_height: int = 4096
    max_seconds: float = 3600.0
    # A file whose demuxed video lasts less than this share of what its container declares is
    # treated as truncated (a cut-off download or upload).
    min_duration_ratio: float = 0.9


@dataclass(frozen=True)
class TrackConfig:
    """Face tracking through a video: full detection every few frames, landmarks on every frame."""

    detector: str = "hog"  # "hog" (fast, CPU) or "cnn" (dlib MMOD, slower, finds harder faces)
    upsample: int = 0  # detector upsampling; 0 finds faces of about 80 px and larger, 1 from about 40 px
    # A frame at most this wide (phone and webcam recordings) in which no face is found is searched
    # again with one step of upsampling (`vision.find_faces`), so its faces are found from about
    # 40 px, as the renderer's rule promises. Only again: an upsampled search costs 4x, and its
    # boxes sit differently on faces the plain search finds (the landmarks then follow the mouth
    # less well: recorded driver mouth r 0.80 against 0.89, docs/realism.md).
    small_frame: int = 480
    detect_every: int = 5  # run the detector on every Nth frame, track landmarks in between
    max_gap_seconds: float = 0.3  # frames further apart than this are not tracked across
    # A tracked face whose aligned grey patch correlates less than this with the patch at the
    # last detection (a cut, an occlusion, the person leaving) makes the detector run again.
    min_track_similarity: float = 0.6
    # One-euro landmark smoothing (in source pixels): lower min_cutoff = steadier when still,
    # higher beta = less lag when moving. min_cutoff <= 0 turns smoothing off.
    smooth_min_cutoff: float = 1.5
    smooth_beta: float = 0.05
    # A face counts as ambiguous (frame dropped as "several faces") when a second face is at least
    # this share of the chosen face's area.
    ambiguous_area_ratio: float = 0.5

    def smallest_face(self, width: int) -> int:
        """About the narrowest face (pixels) found in frames `width` pixels wide (see `find_faces`)."""
        return 40 if self.upsample or width <= self.small_frame else 80


@dataclass(frozen=True)
class ExtractConfig:
    """`avatar extract`: aligned whole-face crops for training."""

    size: int = 256  # output crop side, 64..512
    every: int = 1  # keep every Nth frame
    start: int = 0  # skip the frames before this index (e.g. to take a video's held-out tail)
    max_frames: int | None = None  # consider at most this many frames per video (after `every`)
    min_face: int = 48  # drop faces narrower than this in the source frame (pixels)
    min_sharpness: float = 20.0  # drop crops whose sharpness score is below this (see vision.sharpness)
    png_compression: int = 1  # 0..9; 1 is ~3x faster than the default 3 for ~6 % more bytes
    track: TrackConfig = field(default_factory=TrackConfig)
    limits: MediaLimits = field(default_factory=MediaLimits)


SELECTIONS = ("varied", "monotone", "random")


@dataclass(frozen=True)
class GenerateConfig:
    """`avatar gan generate`: synthetic faces of the person kept from a trained generator."""

    select: str = "varied"  # how the faces are picked among the candidates: one of SELECTIONS
    psi: float = 0.7  # truncation of the latents towards the mean face (1 = none)
    size: int = 128  # side of the written crops (pixels)


RENDERERS = ("auto", "exemplar", "swap")
FRAMINGS = ("own", "driver")


@dataclass(frozen=True)
class ExemplarConfig:
    """The exemplar renderer (`avatar.render.exemplar`): the presenter drawn from his own frames.

    synthesised, recorded: the framing of synthesised answers and of recorded (or uploaded)
    drivers: "own" (his own scene: his video with only the face re-drawn) or "driver" (his face
    composited into the driver's frame, as the swap does). A jump to a
    non-consecutive library frame costs `jump_cost`, the same frame again `hold_cost`, the frame
    after next `skip_cost`; a jump is cross-faded over `crossfade` frames (`mouth_crossfade` for
    the mouths of a synthesised answer). inset_own, inset_chin (own framing, the chin), inset_driver,
    feather: how far the mask is shrunk inside the face outline in each framing, and its
    softness, as shares of the eye distance (measured: docs/realism.md).
    neutral_quantile: the driver's neutral face is taken from its least-open mouths (this share of
    its frames). expression_gain scales the driver's offsets from its neutral before they are
    added to the presenter's.
    """

    synthesised: str = "own"
    recorded: str = "own"
    # Retrieval cost of each feature group, differences in units of the library's own spread.
    weights: dict = field(default_factory=lambda: {"mouth": 1.0, "jaw": 0.3, "eyes": 0.5, "brows": 0.2,
                                                    "pose": 0.1})
    candidates: int = 40
    hold_cost: float = 3.0
    skip_cost: float = 0.3
    jump_cost: float = 8.0
    crossfade: int = 4
    # A synthesised answer's mouths change with every sound: a fade as long as a sound blurred
    # them half shut (answers opened 0.155 against 0.174 at 1 frame; 0 frames doubled the jumps).
    mouth_crossfade: int = 1
    inset_own: float = 0.35  # his source frames' dlib jaw reaches onto the wall: keep clear of it
    inset_chin: float = 0.1  # below his chin lies his neck, not the wall: a deeper inset faded the lower lip
    inset_driver: float = 0.1  # inside the driver's frame his face must cover the driver's
    feather: float = 0.25
    neutral_quantile: float = 0.05
    expression_gain: float = 1.0
    ease_seconds: float = 0.2  # an answer in his own scene eases in from his listening frame, and out to it
    refine: bool = True  # repair the drawn face with the presenter's refiner, when he has one

    def framing(self, kind: str) -> str:
        """The framing for a driver clip of this kind ("synthesised", "recorded", "video")."""
        return self.synthesised if kind == "synthesised" else self.recorded


@dataclass(frozen=True)
class RenderConfig:
    """`avatar render` and replies: which renderer draws the presenter ("exemplar": his own
    frames, see `ExemplarConfig`; "swap": the autoencoder; "auto": exemplar when the presenter
    has a library) and how a swapped face is blended into the driver's frame."""

    renderer: str = "auto"
    exemplar: ExemplarConfig = field(default_factory=ExemplarConfig)

    colour: str = "rct"  # "rct" (Reinhard, Lab), "lct" (linear, RGB covariance) or "none"
    smoothing: float = 0.8  # temporal smoothing of the colour statistics, 0..1 (0 = off)
    erode: float = 0.0  # mask erosion, share of the crop side (0: measured best, docs/realism.md)
    blur: float = 0.06  # mask feathering, share of the crop side
    batch: int = 16  # frames per onnxruntime call
    # A face narrower than this (source pixels) is not swapped: the presenter would be a smudge.
    min_face: int = 40
    # A frame whose face cannot be swapped is never shown as it is (that would pass the driver's
    # own face off as the presenter): the last swapped frame is held instead. A video with more
    # such frames than this share is refused.
    max_unswapped: float = 0.2
    track: TrackConfig = field(default_factory=TrackConfig)


@dataclass(frozen=True)
class RefinerTrainConfig:
    """`avatar library refiner`: training the exemplar renderer's refiner (`training.refiner`)."""

    pairs: int = 4000  # self-reenactment examples made from the library
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    edge_weight: float = 1.0  # weight of the image-gradient L1 (keeps edges, fights blur)
    checkpoint_every: int = 250
    keep: int = 3
    seed: int = 0


@dataclass(frozen=True)
class Deployment:
    """Where the shared state lives and who renders (README "Deploy").

    root: this machine's cache root: media files (or the mirror of object storage), the default
        SQLite database, Gradio-served answers.
    db: SQLAlchemy URL of the shared database (`AVATAR_DB`), e.g.
        postgresql+psycopg://avatar@db/avatar; None: SQLite at `root/state.sqlite3`, and the chat
        corpus in its own SQLite file as before.
    storage: `AVATAR_STORAGE`: a folder or s3://bucket/prefix (see avatar.storage); None: `root`.
    broker: `AVATAR_BROKER`: a Redis URL; renders become jobs for `avatar worker` processes.
        None: the app renders in its own process, one at a time.
    job_seconds: `AVATAR_JOB_SECONDS`: a render job is killed after this long; a job whose worker
        died is handed to another worker after this plus 30 s.
    max_waiting: `AVATAR_MAX_WAITING`: new answers in flight (with workers: render jobs queued)
        before more are refused as busy.
    corpus: `AVATAR_CORPUS`: what the presenter answers from until an operator chooses a corpus:
        "demo-shop" (the shipped demo FAQ) or "english" (chatterbot-corpus small talk).
    prerender: `AVATAR_PRERENDER` (1/0): the app renders its corpus's answers in the background,
        giving way to people's renders, so known questions play at once.
    model: `AVATAR_MODEL`: the presenter model folder offered first; None: the shipped default.
    auth: `AVATAR_AUTH`: "user:password", one operator login; None: the users file's accounts.
    users: `AVATAR_USERS`: the users file (see avatar.accounts); None: `<cache>/accounts/users`.
    max_upload: `AVATAR_MAX_UPLOAD`: the largest upload the app accepts, e.g. "200mb".
    replica_renders: `AVATAR_REPLICA_RENDERS`: with a broker, render jobs one replica waits on at once.
    s3_endpoint: `AVATAR_S3_ENDPOINT`: an S3-compatible server other than AWS (MinIO, Ceph).
    max_recording: `AVATAR_MAX_RECORDING`: the longest recording accepted, in seconds.
    adapt_steps: `AVATAR_ADAPT_STEPS`: training steps of an adaptation (None: `AdaptConfig`'s).
    host, port: `AVATAR_HOST`, `AVATAR_PORT`: where the app listens (`python app.py`, `avatar serve`).
    """

    root: Path
    db: str | None = None
    storage: str | None = None
    broker: str | None = None
    job_seconds: int = 600
    max_waiting: int = 32
    corpus: str = "demo-shop"
    prerender: bool = True
    model: Path | None = None
    auth: str | None = None
    users: Path | None = None
    max_upload: str = "200mb"
    replica_renders: int = 8
    s3_endpoint: str | None = None
    max_recording: float = 60.0
    adapt_steps: int | None = None
    host: str = "127.0.0.1"
    port: int = 7860

    @classmethod
    def from_env(cls) -> "Deployment":
        """This machine's deployment: the variables above (unset or empty: the default)."""
        import os

        from avatar.paths import cache_root

        env = {name: value for name, value in os.environ.items() if name.startswith("AVATAR_") and value}

        def number(name: str, default, kind=int):
            """The variable `name` as a number (unset: `default`); a UserError naming it when it is not one."""
            if name not in env:
                return default
            try:
                return kind(env[name])
            except ValueError:
                from avatar.errors import UserError

                whole = "whole " if kind is int else ""
                raise UserError(f"{name} must be a {whole}number, not {env[name]!r}.") from None

        return cls(root=cache_root(), db=env.get("AVATAR_DB"), storage=env.get("AVATAR_STORAGE"),
                   broker=env.get("AVATAR_BROKER"), job_seconds=number("AVATAR_JOB_SECONDS", 600),
                   max_waiting=number("AVATAR_MAX_WAITING", 32), corpus=env.get("AVATAR_CORPUS", "demo-shop"),
                   prerender=env.get("AVATAR_PRERENDER", "1") != "0",
                   model=Path(env["AVATAR_MODEL"]) if "AVATAR_MODEL" in env else None,
                   auth=env.get("AVATAR_AUTH"),
                   users=Path(env["AVATAR_USERS"]).expanduser() if "AVATAR_USERS" in env else None,
                   max_upload=env.get("AVATAR_MAX_UPLOAD", "200mb"),
                   replica_renders=number("AVATAR_REPLICA_RENDERS", 8), s3_endpoint=env.get("AVATAR_S3_ENDPOINT"),
                   max_recording=number("AVATAR_MAX_RECORDING", 60.0, float),
                   adapt_steps=number("AVATAR_ADAPT_STEPS", None), host=env.get("AVATAR_HOST", "127.0.0.1"),
                   port=number("AVATAR_PORT", 7860))

    def given(self, **options) -> "Deployment":
        """This deployment with those of `options` that are not None (a command's flags over the environment)."""
        return replace(self, **{name: value for name, value in options.items() if value is not None})

    @property
    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.root / 'state.sqlite3'}"

    @property
    def users_file(self) -> Path:
        """The app's users file (see avatar.accounts)."""
        return self.users or self.root / "accounts" / "users"
