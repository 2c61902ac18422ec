"""Presenters and what drives them: `avatar presenter build|coverage|publish|list`, `avatar
library build|refiner`, `avatar driver build|record`, `avatar say`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from avatar.cli.base import main, progress
from avatar.config import FRAMINGS, RENDERERS, ExemplarConfig, RefinerTrainConfig, RenderConfig
from avatar.paths import scratch_dir


@main.group()
def driver() -> None:
    """Driver libraries: the real talking face whose frames drive the presenter."""


@driver.command("build")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Library folder.")
def driver_build(video, out) -> None:
    """Index every frame of VIDEO (mouth shape, head pose, blinks) into a driver library."""
    from avatar.driver import build_library

    with progress("index", "frame") as on_progress:
        library = build_library(video, out, on_progress=on_progress)
    size = sum(f.stat().st_size for f in out.iterdir()) / 1e6
    click.echo(f"{out}: {int(library.valid.sum())} of {len(library)} frames with a face, {size:.1f} MB")


@main.group()
def library() -> None:
    """A presenter's library of his own frames: what the exemplar renderer draws him from."""


@main.group("presenter")
def presenter_group() -> None:
    """Presenters made from a consenting person's own video (drawn from his own frames)."""


@presenter_group.command("build")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The presenter's name (lower case, digits, hyphens).")
@click.option("--person", required=True, help="Consent: the person in the video.")
@click.option("--date", "given", required=True, help="Consent: when it was given (YYYY-MM-DD).")
@click.option("--scope", required=True, help="Consent: what the presenter may be used for.")
@click.option("--basis", required=True, help="Consent: how it was given (e.g. signed form #12).")
@click.option("--publish", is_flag=True, help="Offer it to every visitor at once (else a draft: `presenter publish`).")
def presenter_build(video, name, person, given, scope, basis, publish) -> None:
    """Build presenter NAME from VIDEO (1-5 minutes of one person talking to the camera); the
    footage is checked first and refused with the reason when unsuitable."""
    from avatar.presenter_build import build_presenter, coverage_text, draft_coverage, publish_presenter

    with progress("build", "%") as on_progress:
        folder = build_presenter(video, name, {"person": person, "date": given, "scope": scope, "basis": basis},
                                 on_progress=lambda share, stage: on_progress(round(100 * share), 100,
                                                                              {"stage": stage}))
    click.echo(coverage_text(draft_coverage(name)))
    if publish:
        folder = publish_presenter(name)
    state = "published for every visitor" if publish else f"draft; publish with `avatar presenter publish {name}`"
    click.echo(f"{folder}: {state}")


@presenter_group.command("coverage")
@click.argument("name")
def presenter_coverage(name) -> None:
    """What draft presenter NAME's footage holds (mouth shapes, expressions, a listening
    stretch) and what the presenter does without what it lacks."""
    from avatar.presenter_build import coverage_text, draft_coverage

    click.echo(coverage_text(draft_coverage(name)))


@presenter_group.command("publish")
@click.argument("name")
def presenter_publish(name) -> None:
    """Offer draft presenter NAME to every visitor."""
    from avatar.presenter_build import publish_presenter

    click.echo(f"{publish_presenter(name)}: published for every visitor")


@presenter_group.command("list")
def presenter_list() -> None:
    """The presenters: shipped, published for everyone, and drafts."""
    from avatar.presenter_build import presenters

    for name, folder, draft in presenters():
        click.echo(f"  {name}  {folder}{'  (draft)' if draft else ''}")


@library.command("build")
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Presenter model folder (models/NAME); the library goes into its library/ folder.")
@click.option("--consent", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Consent record of the person in VIDEOS (JSON: person, source, date, scope, basis).")
@click.option("--heldout", default=0.2, show_default=True, type=click.FloatRange(0, 0.9),
              help="Share at the end of each video left out (for evaluation).")
@click.option("--crf", default=16, show_default=True, type=click.IntRange(0, 40),
              help="H.264 quality of the stored frames (lower: better and larger).")
def library_build(videos, model_path, consent, heldout, crf) -> None:
    """Index the presenter's own VIDEOS (one person, same size and frame rate) into MODEL's library."""
    from avatar.render.exemplar import build_presenter_library

    with progress("index", "frame") as on_progress:
        built = build_presenter_library(model_path, list(videos), consent, heldout, crf, on_progress)
    folder = built.frames.folder
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    click.echo(f"{folder}: {int(built.frames.valid.sum())} of {len(built.frames)} frames with a face, {size:.1f} MB; "
               "sealed into the presenter's integrity record")


@library.command("refiner")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Presenter model folder with a library; refiner.onnx is written into it.")
@click.option("--run", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Training run folder (examples, checkpoints, stats); keep it outside the repository.")
@click.option("--steps", default=RefinerTrainConfig.steps, show_default=True, type=click.IntRange(min=1))
@click.option("--pairs", default=RefinerTrainConfig.pairs, show_default=True, type=click.IntRange(min=64),
              help="Self-reenactment examples made from the library.")
@click.option("--resume", is_flag=True, help="Continue the run from its last checkpoint.")
@click.option("--threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="CPU threads (one leaves the machine usable while it trains).")
def library_refiner(model_path, run, steps, pairs, resume, threads) -> None:
    """Train the presenter's refiner on his own library by self-reenactment, then export it
    (ONNX, parity-checked) into MODEL and seal it. SIGTERM stops after a checkpoint (exit 3)."""
    from avatar.training.refiner import refine_presenter
    from avatar.training.runs import TrainingStopped

    with progress("refiner", "step") as on_progress:
        try:
            report = refine_presenter(model_path, run, RefinerTrainConfig(steps=steps, pairs=pairs), resume, threads,
                                      on_step=lambda step, total, stats: on_progress(step, total))
        except TrainingStopped as stopped:
            click.echo(f"stopped at step {stopped.last} of {stopped.total}; continue with --resume", err=True)
            sys.exit(3)
    click.echo(f"{model_path / 'refiner.onnx'}: step {report['step']}, parity {report['parity_max_abs']:.2e}, "
               f"held-out error inside the face {report['holdout_warp']:.2f} (warp alone) -> "
               f"{report['holdout_refined']:.2f} (refined), 0-255")


@main.command()
@click.argument("text")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output MP4.")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path),
              help="Driver library (default: the shipped one).")
@click.option("--model", "model_path", type=click.Path(exists=True, path_type=Path),
              help="Also draw this presenter (models/NAME); without it the driver clip itself is written.")
@click.option("--renderer", default=RenderConfig.renderer, show_default=True, type=click.Choice(RENDERERS),
              help="exemplar: drawn from his own frames; swap: the autoencoder; auto: exemplar when he has a library.")
@click.option("--framing", default=ExemplarConfig.synthesised, show_default=True, type=click.Choice(FRAMINGS),
              help="Exemplar renderer: his own scene, or his face in the driver's frame.")
def say(text, out, library, model_path, renderer, framing) -> None:
    """Speak TEXT as a synthesised driver clip with its sound (and, with --model, as the presenter)."""
    from avatar.driver import DriverLibrary
    from avatar.driver.library import DEFAULT_LIBRARY
    from avatar.presenter import open_presenter
    from avatar.render import load_drawing, render_clip, spoken_clip

    presenter = open_presenter(model_path) if model_path is not None else None
    config = RenderConfig(renderer=renderer, exemplar=ExemplarConfig(synthesised=framing))
    drawing = load_drawing(presenter, config) if presenter else None
    with tempfile.TemporaryDirectory(prefix="avatar-say-", dir=scratch_dir()) as tmp:
        clip = spoken_clip(text, drawing, config, DriverLibrary.load(library or DEFAULT_LIBRARY), Path(tmp))
        report = render_clip(clip, out, drawing, presenter,
                             "AI presenter video" if presenter else "synthesised driver clip", config)
    click.echo(f"{out}: {report.frames} frames, {report.duration:.2f} s of speech")


@driver.command("record")
@click.argument("text")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--clips", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the clip in this folder alone (its own index). Default: the published answers every "
                   "app visitor gets, in this deployment's database and storage (AVATAR_DB, AVATAR_STORAGE).")
def driver_record(text, video, clips) -> None:
    """Store VIDEO as the recorded driver answer for reply TEXT (checked and normalised first)."""
    from avatar.driver import RecordedClips
    from avatar.service import open_service
    from avatar.serving.people import PUBLISHED

    library = RecordedClips.in_folder(clips, owner=PUBLISHED) if clips else open_service().people.published()
    clip = library.save(text, video, source=video.name)
    click.echo(f"{clip.video}: {clip.duration:.2f} s{' with sound' if clip.audio else ''}")
