"""Faces and the swap: `avatar extract`, `avatar swap train|export|evaluate`, `avatar render`."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click

from avatar.cli.base import interrupted, main, progress
from avatar.config import FRAMINGS, RENDERERS, ExemplarConfig, ExtractConfig, RenderConfig, TrackConfig
from avatar.paths import scratch_dir
from avatar.training.config import TrainConfig


@main.command()
@click.argument("videos", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Dataset folder (created; re-runs resume).")
@click.option("--size", default=ExtractConfig.size, show_default=True, type=click.IntRange(64, 512),
              help="Side of the aligned crops in pixels.")
@click.option("--every", default=ExtractConfig.every, show_default=True, type=click.IntRange(min=1),
              help="Keep every Nth frame.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Look at no more than M frames per video.")
@click.option("--start", default=ExtractConfig.start, show_default=True, type=click.IntRange(min=0),
              help="Skip each video's frames before this index (e.g. its held-out tail only).")
@click.option("--detector", default=TrackConfig.detector, show_default=True, type=click.Choice(["hog", "cnn"]))
@click.option("--detect-every", default=TrackConfig.detect_every, show_default=True, type=click.IntRange(min=1),
              help="Run the face detector every N frames and track landmarks in between.")
@click.option("--min-face", default=ExtractConfig.min_face, show_default=True, type=click.IntRange(min=1),
              help="Drop faces narrower than this many source pixels.")
@click.option("--min-sharpness", default=ExtractConfig.min_sharpness, show_default=True, type=float,
              help="Drop crops less sharp than this (variance of the Laplacian at 128 px).")
def extract(videos, out, size, every, max_frames, start, detector, detect_every, min_face, min_sharpness) -> None:
    """Align the faces in VIDEOS into a training dataset in OUT (crops, landmarks, manifest)."""
    from avatar.offline.extract import extract as run_extract

    config = ExtractConfig(size=size, every=every, max_frames=max_frames, start=start, min_face=min_face,
                           min_sharpness=min_sharpness,
                           track=TrackConfig(detector=detector, detect_every=detect_every))
    with progress("extract", "frame") as on_progress:
        summary = run_extract(list(videos), out, config, on_progress)
    for warning in summary.warnings:
        click.echo(f"warning: {warning}; skipped (its frame was extracted again)", err=True)
    click.echo(f"{out}: {summary.describe()}")


@main.group()
def swap() -> None:
    """Train, export and inspect the face-swap model."""


@swap.command("train")
@click.option("--a", "a_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Driver faces: an `avatar extract` folder.")
@click.option("--b", "b_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Presenter faces: an `avatar extract` folder.")
@click.option("--out", "run", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: checkpoints, stats.jsonl, preview.png, loss.png.")
@click.option("--preset", type=click.Choice(["fast", "quality"]),
              help="Architecture [default: fast; with --init, the --init model's own].")
@click.option("--size", type=click.IntRange(64, 256), help="Face side in pixels [default: 128; with --init, its own].")
@click.option("--steps", default=TrainConfig.steps, show_default=True, type=click.IntRange(min=1))
@click.option("--batch", default=TrainConfig.batch, show_default=True, type=click.IntRange(min=1))
@click.option("--lr", default=TrainConfig.lr, show_default=True, type=float)
@click.option("--resume", type=click.Choice(["auto"]), help="Continue from the run's newest checkpoint.")
@click.option("--init", type=click.Path(exists=True, path_type=Path),
              help="Warm-start from a model folder (models/NAME), a run folder or a checkpoint.")
@click.option("--checkpoint-every", default=TrainConfig.checkpoint_every, show_default=True,
              type=click.IntRange(min=1))
@click.option("--preview-every", default=TrainConfig.preview_every, show_default=True, type=click.IntRange(min=1))
@click.option("--max-faces", type=click.IntRange(min=1), help="Use at most this many faces per side.")
@click.option("--seed", default=TrainConfig.seed, show_default=True, type=int)
@click.option("--landmarks", is_flag=True,
              help="Condition the decoders on expression landmarks (with --init: follows the --init model).")
@click.option("--gan-weight", default=TrainConfig.gan_weight, show_default=True, type=click.FloatRange(min=0),
              help="Weight of the adversarial critic on the inner face (B->B and A->B); 0 = off, e.g. 0.1.")
@click.option("--gan-b-only", is_flag=True, help="The critic judges B->B faces only, not A->B.")
@click.option("--consent", type=click.Path(dir_okay=False, path_type=Path),
              help="Consent record (JSON: person, source, date, scope, basis) for the presenter (side B); required unless the run already holds one.")
def swap_train(a_dir, b_dir, run, preset, size, steps, batch, lr, resume, init, checkpoint_every,
               preview_every, max_faces, seed, landmarks, gan_weight, gan_b_only, consent) -> None:
    """Train the swap autoencoder (A = driver, B = presenter). Ctrl-C or SIGTERM saves and stops."""
    from avatar.training.runs import TrainingStopped
    from avatar.training.train import architecture_for, train_run

    config = TrainConfig(steps=steps, batch=batch, lr=lr, checkpoint_every=checkpoint_every,
                         preview_every=preview_every, max_faces=max_faces, seed=seed, gan_weight=gan_weight,
                         gan_swapped=not gan_b_only)
    architecture = architecture_for(preset, size, landmarks, init)
    with progress("train", "step") as on_progress:
        def on_step(step: int, total: int, stats: dict | None) -> None:
            on_progress(step, total, stats and {"loss_a": stats["loss_a"], "loss_b": stats["loss_b"]})

        try:
            last = train_run(a_dir, b_dir, run, architecture, config, consent, resume == "auto", init, on_step)
        except TrainingStopped as stopped:  # a caller must not treat this run as finished (or export it)
            interrupted(stopped)
    click.echo(f"{run}: finished {last} steps; checkpoints in {run / 'checkpoints'}")


@swap.command("export")
@click.option("--checkpoint", required=True, type=click.Path(exists=True, path_type=Path),
              help="A checkpoint (RUN/checkpoints/step_*.pt), or a run folder for its newest one.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model folder to write, e.g. models/NAME (model.onnx, weights.pt, MODEL_CARD.md).")
@click.option("--parity-data", type=click.Path(file_okay=False, path_type=Path),
              help="An `avatar extract` folder with real crops for the parity check (default: side B).")
@click.option("--tolerance", default=2e-3, show_default=True, type=float)
def swap_export(checkpoint, out, parity_data, tolerance) -> None:
    """Export a checkpoint to ONNX, check it against torch on real faces, write a model card."""
    from avatar.training.export import export_run

    report = export_run(checkpoint, out, parity_data, tolerance)
    click.echo(f"{out}: model.onnx ({report.size_bytes / 1e6:.1f} MB, step {report.step}), parity max abs diff "
               f"{report.parity_max_abs:.2e} on {report.parity_faces} faces")


@main.command()
@click.option("--driver", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Video of a person talking (any face; the presenter replaces it).")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, path_type=Path),
              help="Presenter model folder (models/NAME) or its model.onnx.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output MP4.")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Sound track to use (default: the driver's own, if any).")
@click.option("--side-by-side", is_flag=True, help="Show driver | presenter side by side.")
@click.option("--colour", default=RenderConfig.colour, show_default=True, type=click.Choice(["rct", "lct", "none"]))
@click.option("--smoothing", default=RenderConfig.smoothing, show_default=True, type=click.FloatRange(0, 0.99),
              help="Temporal smoothing of the colour match (0 = off).")
@click.option("--renderer", default=RenderConfig.renderer, show_default=True, type=click.Choice(RENDERERS),
              help="exemplar: drawn from his own frames; swap: the autoencoder; auto: exemplar when he has a library.")
@click.option("--framing", default=ExemplarConfig.recorded, show_default=True, type=click.Choice(FRAMINGS),
              help="Exemplar renderer: his own scene, or his face in the driver's frame.")
def render(driver, model_path, out, audio, side_by_side, colour, smoothing, renderer, framing) -> None:
    """Render a driver video as the presenter into a browser-playable MP4."""
    from avatar.media import normalize
    from avatar.media.clip import DriverClip
    from avatar.presenter import open_presenter
    from avatar.render import load_drawing, render_clip

    presenter = open_presenter(model_path)
    config = RenderConfig(renderer=renderer, exemplar=ExemplarConfig(recorded=framing), colour=colour,
                          smoothing=smoothing)
    model = load_drawing(presenter, config)
    with (tempfile.TemporaryDirectory(prefix="avatar-render-", dir=scratch_dir()) as work,
          progress("render", "frame") as on_progress):
        clip = DriverClip.from_video(normalize(driver, Path(work)), audio=audio)
        report = render_clip(clip, out, model, presenter, "AI presenter video", config, side_by_side, on_progress)
    click.echo(f"{out}: {report.describe()}")


@swap.command("evaluate")
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--driver", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Driver video; evaluate frames never used in training (see --start).")
@click.option("--start", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--frames", default=800, show_default=True, type=click.IntRange(min=2))
@click.option("--presenter-faces", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The presenter's `avatar extract` folder (identity reference, B->B SSIM).")
@click.option("--driver-faces", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The driver's `avatar extract` folder (identity reference).")
@click.option("--heldout", type=click.Path(file_okay=False, path_type=Path),
              help="Realism: the presenter's held-out real faces (an `avatar extract` folder never trained on).")
@click.option("--heldout-start", default=0, show_default=True, type=click.IntRange(min=0),
              help="Realism: use --heldout faces from this source frame on.")
@click.option("--same-person", type=click.Path(file_okay=False, path_type=Path),
              help="Realism baseline (the floor): the presenter's faces from another video.")
@click.option("--other-person", type=click.Path(file_okay=False, path_type=Path),
              help="Realism baseline: a different real person's faces (default: --driver-faces).")
@click.option("--renderer", default=RenderConfig.renderer, show_default=True, type=click.Choice(RENDERERS),
              help="Realism: which renderer draws the presenter (auto: exemplar when he has a library).")
@click.option("--unseen", type=click.Path(dir_okay=False, path_type=Path),
              help="Realism: also render a recording of a person used nowhere else.")
@click.option("--scenes", nargs=2, type=click.Path(dir_okay=False, path_type=Path),
              help="Realism: his held-out video and his other video, to judge answers in his own scene as whole frames.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the JSON here.")
def swap_evaluate(model_path, driver, start, frames, presenter_faces, driver_faces, heldout, heldout_start,
                  same_person, other_person, renderer, unseen, scenes, json_out) -> None:
    """Identity match, mouth following, B->B SSIM and flicker of the swap on held-out driver
    frames (JSON); with --heldout and --same-person also the realism table of the chosen renderer
    (KID/FID, sharpness, eyes, identity, mouth and eye r, motion, jumps, bleed)."""
    from avatar.offline.realism import RealismSets, realism_table
    from avatar.offline.swap_evaluate import evaluate_and_record

    if (heldout is None) != (same_person is None):
        raise click.UsageError("realism needs both --heldout and --same-person.")
    sets = None if heldout is None else RealismSets(heldout, same_person, other_person or driver_faces, heldout_start,
                                                    RenderConfig(renderer=renderer), unseen, scenes or None)
    with progress("evaluate", "frame") as on_progress:
        result, card = evaluate_and_record(model_path, driver, presenter_faces, driver_faces, start, frames, sets,
                                           json_out=json_out, on_progress=on_progress,
                                           on_stage=lambda stage: click.echo(f"realism: {stage}", err=True))
    if "realism" in result:
        click.echo(realism_table(result["realism"]), err=True)
    if card:
        click.echo(f"updated {card}", err=True)
    click.echo(json.dumps(result, indent=1))
