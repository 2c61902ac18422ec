"""`avatar` command line: thin wrappers over the library. Heavy imports happen inside commands."""

from __future__ import annotations

import errno
import json
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path

import click

from avatar import __version__
from avatar.config import (FRAMINGS, RENDERERS, SELECTIONS, ExemplarConfig, ExtractConfig, GenerateConfig,
                           RefinerTrainConfig, RenderConfig, TrackConfig)
from avatar.errors import UserError
from avatar.paths import scratch_dir
from avatar.training.config import GanTrainConfig, TrainConfig

_DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES)


class _Group(click.Group):
    """Turns `UserError`, a usage mistake (a bad option or argument), and a disk that is full or
    read-only into one line on stderr and a non-zero exit, never a traceback or usage text."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except click.UsageError as error:
            click.echo(f"error: {error.format_message()} (see `{error.ctx.command_path if error.ctx else 'avatar'} "
                       "--help`)", err=True)
            sys.exit(2)
        except OSError as error:
            if error.errno not in _DISK_ERRORS:
                raise
            where = f" ({error.filename})" if error.filename else ""
            advice = "free some space or choose another folder" if error.errno in (errno.ENOSPC, errno.EDQUOT) \
                else "choose a folder you can write to"
            click.echo(f"error: {os.strerror(error.errno).lower()}{where}: {advice}, and run it again.", err=True)
            sys.exit(1)


PIPED_REFRESH_S = 10.0  # a bar written to a log (not a terminal) is redrawn at most this often


@contextmanager
def _progress(desc: str, unit: str):
    """Yields on_progress(done, total, postfix=None) driving a tqdm bar that appears with the
    first call, so an input refused before any work prints only its error line. On a terminal
    it is redrawn up to ten times a second; into a pipe or a log file every PIPED_REFRESH_S,
    so a long build leaves tens of lines there, not thousands."""
    from tqdm import tqdm

    bar = None
    terminal = sys.stderr.isatty()

    def on_progress(done: int, total: int, postfix: dict | None = None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=max(done - 1, 0), unit=unit, desc=desc, dynamic_ncols=terminal,
                       mininterval=0.1 if terminal else PIPED_REFRESH_S, file=sys.stderr)
        if postfix:
            bar.set_postfix(postfix, refresh=False)  # shown at the bar's next redraw, not one of its own
        bar.update(done - bar.n)

    try:
        yield on_progress
    finally:
        if bar is not None:
            bar.close()


class _Bars:
    """One progress bar at a time, for commands made of stages: `new(desc)` closes the previous
    bar and starts another; `update(done, total)` drives the current one."""

    def __init__(self, unit: str = "it"):
        self.unit, self._stack, self._update = unit, ExitStack(), None

    def new(self, desc: str) -> None:
        self._stack.close()
        self._update = self._stack.enter_context(_progress(desc, self.unit))

    def update(self, done: int, total: int) -> None:
        if self._update is None:
            self.new("")
        self._update(done, total)

    def close(self) -> None:
        self._stack.close()
        self._update = None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avatar")
def main() -> None:
    """Synthetic presenter tools: make a presenter from videos, then render its replies."""


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
    with _progress("extract", "frame") as on_progress:
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
              help="Consent record (JSON: person, source, date, scope, basis) for the presenter (side B). Required.")
def swap_train(a_dir, b_dir, run, preset, size, steps, batch, lr, resume, init, checkpoint_every,
               preview_every, max_faces, seed, landmarks, gan_weight, gan_b_only, consent) -> None:
    """Train the swap autoencoder (A = driver, B = presenter). Ctrl-C or SIGTERM saves and stops."""
    import dataclasses

    from avatar.training.model import preset as make_preset
    from avatar.training.runs import TrainingStopped
    from avatar.training.train import train_run, warm_start_config

    config = TrainConfig(steps=steps, batch=batch, lr=lr, checkpoint_every=checkpoint_every,
                         preview_every=preview_every, max_faces=max_faces, seed=seed, gan_weight=gan_weight,
                         gan_swapped=not gan_b_only)
    if consent is None:
        raise UserError("training a presenter needs a consent record naming the person and the source recordings: "
                        "pass --consent FILE (JSON with person, source, date, scope, basis; see README).")
    if init is not None and preset is None and size is None:
        architecture = warm_start_config(init)  # adapting a model: keep its architecture
    else:
        architecture = dataclasses.replace(make_preset(preset or "fast", size or 128), landmarks=landmarks)
    with _progress("train", "step") as on_progress:
        def on_step(step: int, total: int, stats: dict | None) -> None:
            on_progress(step, total, stats and {"loss_a": stats["loss_a"], "loss_b": stats["loss_b"]})

        try:
            last = train_run(a_dir, b_dir, run, architecture, config, consent, resume == "auto", init, on_step)
        except TrainingStopped as stopped:  # a caller must not treat this run as finished (or export it)
            _interrupted(stopped)
    click.echo(f"{run}: finished {last} steps; checkpoints in {run / 'checkpoints'}")


def _interrupted(stopped) -> None:
    """A training run stopped by a signal: say how to continue it and exit 3 (not finished)."""
    click.echo(f"{stopped.run}: interrupted at step {stopped.last} of {stopped.total}; continue with --resume auto",
               err=True)
    sys.exit(3)


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
    import tempfile

    from avatar.media import normalize
    from avatar.media.clip import DriverClip
    from avatar.presenter import open_presenter
    from avatar.render import load_drawing, render_clip

    presenter = open_presenter(model_path)
    config = RenderConfig(renderer=renderer, exemplar=ExemplarConfig(recorded=framing), colour=colour,
                          smoothing=smoothing)
    model = load_drawing(presenter, config)
    with (tempfile.TemporaryDirectory(prefix="avatar-render-", dir=scratch_dir()) as work,
          _progress("render", "frame") as on_progress):
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
    from avatar.offline.swap_evaluate import RealismSets, evaluate_and_record, realism_table

    if (heldout is None) != (same_person is None):
        raise click.UsageError("realism needs both --heldout and --same-person.")
    sets = None if heldout is None else RealismSets(heldout, same_person, other_person or driver_faces, heldout_start,
                                                    RenderConfig(renderer=renderer), unseen, scenes or None)
    with _progress("evaluate", "frame") as on_progress:
        result, card = evaluate_and_record(model_path, driver, presenter_faces, driver_faces, start, frames, sets,
                                           json_out=json_out, on_progress=on_progress,
                                           on_stage=lambda stage: click.echo(f"realism: {stage}", err=True))
    if "realism" in result:
        click.echo(realism_table(result["realism"]), err=True)
    if card:
        click.echo(f"updated {card}", err=True)
    click.echo(json.dumps(result, indent=1))


@main.group()
def gan() -> None:
    """StyleGAN2 synthetic faces of one person: train, generate."""


@gan.command("train")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="One person's faces: an `avatar extract` folder (leave evaluation frames out).")
@click.option("--out", "run", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: checkpoints, stats.jsonl, snapshots/, preview.png.")
@click.option("--size", default=64, show_default=True, type=click.Choice(["32", "64", "128", "256"]),
              help="Image side in pixels.")
@click.option("--preset", default="cpu", show_default=True, type=click.Choice(["cpu", "paper"]),
              help="cpu: small channels for CPUs; paper: StyleGAN2-ADA's 128-256 px configuration (GPUs).")
@click.option("--kimg", default=GanTrainConfig.kimg, show_default=True, type=click.FloatRange(min=0.001),
              help="Training length in thousands of real images (all GPUs together).")
@click.option("--batch", default=GanTrainConfig.batch, show_default=True, type=click.IntRange(min=2),
              help="Images per step per GPU.")
@click.option("--lr", default=GanTrainConfig.lr, show_default=True, type=float)
@click.option("--gamma", type=click.FloatRange(min=0), help="R1 weight [default: 0.0002 * size^2 / batch].")
@click.option("--pl-weight", default=GanTrainConfig.pl_weight, show_default=True, type=click.FloatRange(min=0),
              help="Path-length regularisation weight (the paper: 2).")
@click.option("--no-augment", is_flag=True, help="Turn off adaptive differentiable augmentation.")
@click.option("--checkpoint-kimg", default=GanTrainConfig.checkpoint_kimg, show_default=True,
              type=click.FloatRange(min=0.001))
@click.option("--resume", type=click.Choice(["auto"]), help="Continue from the run's newest checkpoint.")
@click.option("--init", type=click.Path(exists=True, path_type=Path),
              help="Warm-start a new run from a shipped GAN folder (gan.pt), a run folder or a checkpoint.")
@click.option("--seed", default=GanTrainConfig.seed, show_default=True, type=int)
@click.option("--consent", type=click.Path(dir_okay=False, path_type=Path),
              help="Consent record (JSON: person, source, date, scope, basis) of the person in DATA. Required.")
def gan_train(data, run, size, preset, kimg, batch, lr, gamma, pl_weight, no_augment, checkpoint_kimg, resume,
              init, seed, consent) -> None:
    """Train StyleGAN2 on DATA. Ctrl-C or SIGTERM saves a checkpoint and stops (exit 3)."""
    from avatar.training.gan.networks import preset as make_preset
    from avatar.training.gan.train import train_run
    from avatar.training.runs import TrainingStopped

    config = GanTrainConfig(kimg=kimg, batch=batch, lr=lr, r1_gamma=gamma, pl_weight=pl_weight,
                            augment=not no_augment, checkpoint_kimg=checkpoint_kimg, seed=seed)
    with _progress("gan", "step") as on_progress:
        def on_step(step: int, total: int, stats: dict | None) -> None:
            on_progress(step, total, stats and {"kimg": stats["kimg"], "s/kimg": stats["s_per_kimg"],
                                                "p": stats["augment_p"]})

        try:
            last = train_run(data, run, make_preset(preset, int(size)), config, consent, resume == "auto", init,
                             on_step)
        except TrainingStopped as stopped:
            _interrupted(stopped)
    click.echo(f"{run}: finished {kimg:g} kimg ({last} steps); snapshots in {run / 'snapshots'}")


@gan.command("export")
@click.option("--run", "source", required=True, type=click.Path(exists=True, path_type=Path),
              help="Run folder (its newest checkpoint) or checkpoint.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for generator.onnx and gan.pt.")
def gan_export(source, out) -> None:
    """Export the EMA generator as one ONNX file (z, psi -> image) checked against torch, and the
    float16 weights later runs warm-start from (gan.pt, for `avatar gan train --init`)."""
    from avatar.training.gan.export import WEIGHTS, export_gan

    exported = export_gan(source, out)
    report = exported.generator
    click.echo(f"{report.path}: step {report.step} ({report.kimg:g} kimg in all), {report.size_bytes / 1e6:.1f} MB, "
               f"parity max |diff| {report.parity_max_abs:.1e}; {out / WEIGHTS}: {exported.weights_bytes / 1e6:.1f} MB")


@gan.command("grids")
@click.option("--run", "source", required=True, type=click.Path(exists=True, path_type=Path),
              help="Run folder, checkpoint or a folder holding gan.pt.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for truncation.png and style-mixing.png.")
@click.option("--seeds", default="0-5", show_default=True, help="Faces to show (style mixing: the first half as rows).")
def gan_grids(source, out, seeds) -> None:
    """Truncation and style-mixing grids, for judging a generator by eye."""
    from avatar.offline.generate import parse_seeds
    from avatar.training.gan.export import load_generator
    from avatar.training.gan.grids import style_mixing_grid, truncation_grid
    from avatar.training.runs import write_png

    seed_list = parse_seeds(seeds)
    if len(seed_list) < 2:
        raise UserError("--seeds needs at least two seeds.")
    generator, _ = load_generator(source)
    half = len(seed_list) // 2
    write_png(out / "truncation.png", truncation_grid(generator, seed_list))
    write_png(out / "style-mixing.png", style_mixing_grid(generator, seed_list[:half], seed_list[half:]))
    click.echo(f"wrote {out / 'truncation.png'} and {out / 'style-mixing.png'}")


@gan.command("generate")
@click.option("--run", "source", required=True, type=click.Path(exists=True, path_type=Path),
              help="Run folder, checkpoint, or a folder holding generator.onnx.")
@click.option("--n", "count", required=True, type=click.IntRange(min=1), help="Faces to keep.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="New dataset folder (crops, manifest.jsonl, candidates.jsonl, selection.json).")
@click.option("--psi", default=GenerateConfig.psi, show_default=True, type=click.FloatRange(0, 1.5),
              help="Truncation (1 = none).")
@click.option("--seeds", help="Seeds of the candidates, e.g. 0-2999 [default: 0 to 3N-1].")
@click.option("--select", "how", default=GenerateConfig.select, show_default=True, type=click.Choice(SELECTIONS))
@click.option("--size", default=GenerateConfig.size, show_default=True, type=click.IntRange(64, 512),
              help="Side of the written crops.")
@click.option("--reference", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real faces of the person (an `avatar extract` folder) [default: the GAN's training folder].")
def gan_generate(source, count, out, psi, seeds, how, size, reference) -> None:
    """Generate faces, keep those face_recognition matches to the person, pick N by expression."""
    from avatar.offline.generate import generate_from, parse_seeds

    with _progress("generate", "face") as on_progress:
        summary = generate_from(source, out, count, GenerateConfig(select=how, psi=psi, size=size),
                                parse_seeds(seeds) if seeds else None, reference, on_progress=on_progress,
                                on_message=lambda m: click.echo(m, err=True))
    click.echo(f"{out}: {summary.selected} faces ({how}) from {summary.candidates} candidates: "
               + ", ".join(f"{v} {k}" for k, v in summary.counts.items()))


@main.command("evaluate")
@click.option("--real", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The person's real faces (an `avatar extract` folder).")
@click.option("--fake", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Synthetic faces: an `avatar gan generate` folder or a folder of images.")
@click.option("--variability", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Table 1: monotone / varied / random selections of this dataset's real faces.")
@click.option("--n", "count", default=100, show_default=True, type=click.IntRange(min=2),
              help="Faces per selection for --variability.")
@click.option("--size", type=click.IntRange(32, 1024), help="Compare at this side [default: the synthetic faces'].")
@click.option("--inception-classifier", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="ImageNet classifier (ONNX, (N,3,299,299) in [-1,1] -> logits) for the Inception Score.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="REPORT.json; REPORT.md and REPORT-pairs.png are written beside it.")
def evaluate_study(real, fake, variability, count, size, inception_classifier, out) -> None:
    """The study's measurements: FID/KID/IS, pairwise face distances and identity matching of a
    synthetic set (Table 2: --real and --fake), and/or real-frame variability (Table 1)."""
    from avatar.offline.evaluate import evaluate_synthetic, evaluate_variability, report_markdown, write_report

    if (real is None) != (fake is None):
        raise UserError("--real and --fake go together (Table 2); --variability alone gives Table 1.")
    if real is None and variability is None:
        raise UserError("nothing to evaluate: pass --real and --fake, and/or --variability.")
    synthetic = table_1 = None
    if real is not None:
        synthetic = evaluate_synthetic(real, fake, size, inception_classifier,
                                       on_stage=lambda stage: click.echo(f"evaluate: {stage}", err=True))
    if variability is not None:
        click.echo("evaluate: variability", err=True)
        same = synthetic is not None and variability.resolve() == real.resolve()
        table_1 = evaluate_variability(variability, count, faces=synthetic["_reals"] if same else None)
    paths = write_report(out, synthetic, table_1)
    click.echo(report_markdown(synthetic, table_1))
    click.echo("wrote " + ", ".join(map(str, paths)), err=True)


@main.group()
def recipe() -> None:
    """Recipes that make a presenter from nothing but the package registries."""


@recipe.command("default")
@click.option("--budget", default="cpu-short", show_default=True, type=click.Choice(["smoke", "cpu-short", "cpu-long", "gpu"]),
              help="smoke: every step on a few faces (checks the chain); cpu-short: under an hour on 2 CPU cores (fine-tunes the shipped models); gpu: the study's scale.")
@click.option("--out", default=lambda: str(Path.home() / ".cache" / "avatar" / "recipe-default"),
              show_default="~/.cache/avatar/recipe-default", type=click.Path(file_okay=False, path_type=Path),
              help="Work folder (data, runs, reports, step stamps); re-runs resume here.")
@click.option("--name", default="presenter-default", show_default=True, help="Model folder written under models/.")
@click.option("--b-set", default="real", show_default=True, type=click.Choice(["real", "gan-varied"]),
              help="Presenter side of the swap: the real training frames or the selected synthetic faces.")
@click.option("--consent", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The presenter's consent record [default: the one shipped with models/presenter-interim].")
@click.option("--redo", multiple=True, help="Run this step (and every later one) even when current (repeatable).")
def recipe_default(budget, out, name, b_set, consent, redo) -> None:
    """Fetch, extract, train the GAN, generate, evaluate, train and export the swap, rebuild the
    driver library, evaluate, write the model card. Each step is skipped when current."""
    from avatar.presenter import SHIPPED_MODELS
    from avatar.offline.recipe import Recipe, Reporter, run_recipe

    plan = Recipe(out, budget, consent or SHIPPED_MODELS / "presenter-interim" / "consent.json", name, b_set)
    bars, current = _Bars(), {"step": ""}

    def on_step(step: str, state: str) -> None:
        bars.close()
        click.echo({"skip": f"{step}: current, skipped", "run": f"{step}: running",
                    "done": f"{step}: done"}[state], err=True)
        if state == "run":
            current["step"] = step
            bars.new(step)

    def on_stage(text: str) -> None:
        bars.close()
        click.echo(f"  {text}", err=True)
        bars.new(current["step"])

    try:
        stamps = run_recipe(plan, tuple(redo), Reporter(on_stage, bars.update), on_step)
    finally:
        bars.close()
    total = sum(stamp["seconds"] for stamp in stamps.values() if stamp)
    click.echo(f"{plan.model}: made by {len(stamps)} steps; {total / 60:.1f} min of work behind it "
               f"(see {plan.model / 'MODEL_CARD.md'})")


@recipe.command("compare")
@click.argument("names", nargs=-1, required=True)
@click.option("--out", default=lambda: str(Path.home() / ".cache" / "avatar" / "recipe-default"),
              show_default="~/.cache/avatar/recipe-default", type=click.Path(exists=True, file_okay=False, path_type=Path))
def recipe_compare(names, out) -> None:
    """Rank presenters the recipe made in OUT (by --name) and note the choice in the winner's card."""
    from avatar.offline.recipe import compare, comparison_table

    ranked = compare(out, list(names))
    click.echo(comparison_table(ranked))
    click.echo(f"best: {ranked[0][0]} (its MODEL_CARD.md says why)", err=True)


@main.group()
def study() -> None:
    """The study's experiment: swap models differing only in side B (docs/study.md)."""


@study.command("run")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder of extract sets and generated sets, as `avatar recipe default` lays out.")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Study folder.")
@click.option("--budget", default="cpu-short", show_default=True, type=click.Choice(["cpu-short", "cpu-long", "gpu"]))
@click.option("--consent", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The presenter's consent record (JSON).")
@click.option("--only", multiple=True, help="Only these B sets (repeatable; default: all six).")
@click.option("--seed", "seeds", multiple=True, type=int, help="Only these seeds (repeatable; default: the budget's).")
def study_run(data, out, budget, consent, only, seeds) -> None:
    """Make the B sets, then train, export and measure each (B set, seed); resumes."""
    from avatar.offline.study import STUDY_BUDGETS, StudyData, results_table, run_study

    bars = _Bars("step")

    def on_stage(stage: str) -> None:
        bars.close()
        click.echo(stage, err=True)
        bars.new(stage.split()[0])

    try:
        results = run_study(StudyData.from_folder(data, consent), out, STUDY_BUDGETS[budget], only,
                            tuple(seeds) or None, on_stage=on_stage,
                            on_step=lambda step, total, stats: bars.update(step, total))
    finally:
        bars.close()
    click.echo(results_table(results))


@study.command("report")
@click.option("--data", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Study folder written by `avatar study run`.")
@click.option("--figures", type=click.Path(file_okay=False, path_type=Path),
              help="Write study-bsets.jpg and study-renders.jpg here.")
def study_report(data, out, figures) -> None:
    """The B sets' Table 2 figures, the results table and the figures (Markdown on stdout)."""
    from avatar.offline.study import b_set_table, collect, measure_b_sets, renders_figure, results_table, samples_figure

    measure_b_sets(out, data / "presenter", on_stage=lambda stage: click.echo(stage, err=True))
    results = collect(out)
    if figures:
        figures.mkdir(parents=True, exist_ok=True)
        samples_figure(out, figures / "study-bsets.jpg")
        renders_figure(out, data / "driver-heldout", figures / "study-renders.jpg")
    click.echo(results_table(results) + "\n\n" + b_set_table(results))


@main.group()
def chat() -> None:
    """The presenter's chatbot (ChatterBot, English corpus, read-only when serving)."""


@chat.command("train")
@click.option("--corpus", "files", multiple=True, type=click.Path(path_type=Path),
              help="A team's corpus file: CSV/TSV (question, answer[, other phrasings]; '|' separates phrasings) "
              "or chatterbot-corpus YAML; repeat for several files. Without it: the English corpus.")
@click.option("--name", help="The corpus's name [default: the first file's name].")
@click.option("--fallback", help="What the presenter says when no question matches [default: it passes the "
              "question to a colleague].")
@click.option("--greeting", help="The chat's invitation after the AI disclosure [default: 'Ask me your questions.'].")
@click.option("--activate/--no-activate", default=True, show_default=True,
              help="Answer from it at once (every replica, within seconds).")
@click.option("--db", help="With no --corpus: SQLAlchemy URL to train the English corpus into "
              "(default: a SQLite file under ~/.cache/avatar/chat).")
def chat_train(files, name, fallback, greeting, activate, db) -> None:
    """Load a team's question-and-answer corpus as a new version (checked whole first: a
    mistake is refused with its file and line and nothing changes), or train the English corpus."""
    if not files:
        from avatar.chat import default_db_url, train_corpus

        count = train_corpus(db)
        click.echo(f"{db or default_db_url()}: {count} statements")
        return
    if db:
        raise click.UsageError("--db is for the English corpus; a team's corpus goes into the deployment's "
                               "database (AVATAR_DB).")
    row = _corpora().load(list(files), name, fallback, greeting, activate=activate)
    click.echo(f"{row['name']}: version {row['version']}, {row['pairs']} answers, {row['phrasings']} phrasings"
               + (" (active)" if row["active"] else ""))


def _corpora():
    """The deployment's corpora (AVATAR_DB, else the cache's SQLite files)."""
    from avatar.chat.corpora import Corpora
    from avatar.config import Deployment
    from avatar.store import Store

    deploy = Deployment.from_env()
    return Corpora(Store(deploy.db_url).prepare(), deploy.db, default=deploy.corpus)


@chat.command("corpora")
def chat_corpora() -> None:
    """List the corpora (newest first), the active one marked with *."""
    from datetime import datetime

    for row in _corpora().list():
        when = datetime.fromtimestamp(row["created"]).strftime("%Y-%m-%d %H:%M") if row["created"] else "built in"
        size = f"{row['pairs']} answers, {row['phrasings']} phrasings" if row["pairs"] is not None else ""
        click.echo(f"{'*' if row['active'] else ' '} {row['version']:<12}  {row['name']}  {when}  {size}".rstrip())


@chat.command("use")
@click.argument("version")
def chat_use(version) -> None:
    """Answer from corpus VERSION (see `avatar chat corpora`; `english` is the chatterbot-corpus
    small talk, `demo-shop` the shipped demo FAQ)."""
    row = _corpora().use(version)
    click.echo(f"now answering from {row['name']} ({row['version']})")


@chat.command("misses")
@click.option("--version", help="Corpus version [default: the active one].")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (kind,question,answer,count,first_asked,last_asked).")
def chat_misses(version, as_csv) -> None:
    """What the presenter missed, most asked first: questions given the fallback (unanswered),
    questions it asked back about (unsure), answers visitors marked as not helpful (unhelpful)."""
    from avatar.chat.corpora import misses_csv

    rows = _corpora().misses(version)
    if as_csv:
        click.echo(misses_csv(rows), nl=False)
        return
    for row in rows:
        click.echo(f"{row['count']:>5}  {row['kind']:<10}  {row['question']}")
    if not rows:
        click.echo("nothing missed yet")


@chat.command("attach")
@click.argument("question")
@click.option("--to", "to", required=True, help="The first phrasing of the answer QUESTION asks for.")
def chat_attach(question, to) -> None:
    """Make QUESTION (say, one from `avatar chat misses`) a new phrasing of an answer of the
    active corpus: a new version, answering from now on."""
    row = _corpora().add_phrasing(question, to)
    click.echo(f"now answering from {row['name']} ({row['version']}): {row['phrasings']} phrasings")


@chat.command("ask")
@click.argument("question")
@click.option("--db", help="SQLAlchemy URL of a database trained with the English corpus [default: the active "
              "corpus of this deployment].")
def chat_ask(question, db) -> None:
    """Print the presenter's answer to QUESTION (and, when it asks back, the questions it offers)."""
    if db:
        from avatar.chat import Chatbot

        reply = Chatbot(db).reply(question)
    else:
        reply = _corpora().reply(question)
    click.echo(reply.text)
    for suggestion in reply.suggestions:
        click.echo(f"  - {suggestion}")


@main.command()
@click.option("--gpu", type=click.IntRange(min=0), help="Render on this GPU (its index); default: the CPU.")
@click.option("--loglevel", default="INFO", show_default=True, type=click.Choice(["DEBUG", "INFO", "WARNING"]))
@click.option("--queues", default="render,adapt", show_default=True,
              help="Job queues to take from: render (answers, exports), adapt (training for many minutes).")
def worker(gpu, loglevel, queues) -> None:
    """Render answers queued by the app's replicas (AVATAR_BROKER, AVATAR_DB and AVATAR_STORAGE as
    theirs); one job at a time. Run one per GPU, or one per CPU machine (README "Deploy")."""
    from avatar.config import Deployment
    from avatar.jobs import ADAPT_QUEUE, QUEUE
    from avatar.worker import run_worker

    chosen = tuple(q.strip() for q in queues.split(",") if q.strip())
    if not chosen or set(chosen) - {QUEUE, ADAPT_QUEUE}:
        raise UserError(f"--queues takes {QUEUE}, {ADAPT_QUEUE} or both (comma-separated)")
    run_worker(Deployment.from_env(), gpu, loglevel, chosen)


@main.group()
def users() -> None:
    """The app's login accounts ($AVATAR_USERS, else <cache>/accounts/users): once there is one,
    `avatar serve` asks everyone to log in. Operators may publish and withdraw recordings for every
    visitor; visitors' recordings are their own."""


_USERS_FILE = click.option("--file", "path", type=click.Path(dir_okay=False, path_type=Path),
                           help="Users file [default: $AVATAR_USERS, else <cache>/accounts/users].")


@users.command("add")
@click.argument("name")
@click.option("--operator", is_flag=True, help="May publish and withdraw recordings for every visitor.")
@_USERS_FILE
@click.password_option(help="The password (asked twice when not given; at least 8 characters).")
def users_add(name, operator, path, password) -> None:
    """Add account NAME, or set its password and role."""
    from avatar.accounts import Users

    accounts = Users(path)
    role = "operator" if operator else "visitor"
    new = accounts.add(name, password, role)
    click.echo(f"{'added' if new else 'updated'} {name} ({role}) in {accounts.path}")


@users.command("remove")
@click.argument("name")
@_USERS_FILE
def users_remove(name, path) -> None:
    """Remove account NAME (its next request is a visitor's without rights; its login ends)."""
    from avatar.accounts import Users

    accounts = Users(path)
    if not accounts.remove(name):
        raise UserError(f"there is no account {name!r} in {accounts.path}.")
    click.echo(f"removed {name} from {accounts.path}")


@users.command("list")
@_USERS_FILE
def users_list(path) -> None:
    """List the accounts and their roles."""
    from avatar.accounts import Users

    accounts = Users(path)
    found = accounts.accounts()
    if not found:
        click.echo(f"no accounts in {accounts.path}: the app needs no login")
    for account in found.values():
        click.echo(f"{account.name}\t{account.role}")


@main.group()
def db() -> None:
    """The shared database (AVATAR_DB; default SQLite under the cache)."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the shared tables; with AVATAR_DB set, also train the chat corpus into it
    (done once, whichever replica or command comes first)."""
    from avatar.chat.bot import ensure_trained
    from avatar.config import Deployment
    from avatar.store import Store

    deploy = Deployment.from_env()
    Store(deploy.db_url).prepare()
    statements = ensure_trained(deploy.db) if deploy.db else None
    click.echo(f"{_redacted(deploy.db_url)}: schema up to date"
               + (f", {statements} chat statements" if statements is not None else ""))


def _redacted(url: str) -> str:
    """`url` without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.group()
def driver() -> None:
    """Driver libraries: the real talking face whose frames drive the presenter."""


@driver.command("build")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Library folder.")
def driver_build(video, out) -> None:
    """Index every frame of VIDEO (mouth shape, head pose, blinks) into a driver library."""
    from avatar.driver import build_library

    with _progress("index", "frame") as on_progress:
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

    with _progress("build", "%") as on_progress:
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

    with _progress("index", "frame") as on_progress:
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
    import torch

    from avatar.presenter import open_presenter
    from avatar.training.refiner import export_refiner, train_refiner
    from avatar.training.checkpoint import list_checkpoints

    torch.set_num_threads(threads)
    presenter = open_presenter(model_path)
    if presenter.library is None:
        raise UserError(f"{model_path} has no library: build one first with `avatar library build`.")
    config = RefinerTrainConfig(steps=steps, pairs=pairs)
    with _progress("refiner", "step") as on_progress:
        done = train_refiner(presenter.library, run, config, resume=resume,
                             on_step=lambda step, total, stats: on_progress(step, total))
    if done < steps:
        click.echo(f"stopped at step {done} of {steps}; continue with --resume", err=True)
        sys.exit(3)
    report = export_refiner(list_checkpoints(run)[-1], model_path)
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
    import tempfile

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


@main.command()
@click.option("--host", help="Address to listen on, 0.0.0.0 for every network (or $AVATAR_HOST) [default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (or $AVATAR_PORT) [default: 7860].")
@click.option("--model", "model_path", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Presenter model folder shown first [default: models/presenter-default].")
@click.option("--auth", help="USER:PASSWORD: one operator login (or $AVATAR_AUTH) "
              "[default: the accounts of `avatar users`, if any].")
@click.option("--users", "users_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Users file (or $AVATAR_USERS) [default: <cache>/accounts/users].")
@click.option("--max-upload", help="Largest upload accepted (or $AVATAR_MAX_UPLOAD) [default: 200mb].")
@click.option("--db", help="Shared database URL (or $AVATAR_DB) [default: SQLite in the cache].")
@click.option("--broker", help="Redis URL for render workers (or $AVATAR_BROKER) [default: render in this process].")
@click.option("--storage", help="Media folder or s3://bucket/prefix (or $AVATAR_STORAGE) [default: the cache].")
def serve(host, port, model_path, auth, users_path, max_upload, db, broker, storage) -> None:
    """Serve the presenter app in the browser (what `make run` and `python app.py` do); README
    "Deploy" runs several of these behind a proxy with render workers."""
    from avatar.config import Deployment
    from avatar.service import logins

    deploy = Deployment.from_env().given(auth=auth, users=users_path, max_upload=max_upload, db=db, broker=broker,
                                         storage=storage, model=model_path.resolve() if model_path else None,
                                         host=host, port=port)
    if deploy.auth and ":" not in deploy.auth:
        raise UserError("--auth takes USER:PASSWORD")
    accounts = logins(deploy)
    if accounts:
        login = "one operator (--auth)" if deploy.auth else f"{len(accounts.accounts())} account(s)"
        click.echo(f"login required: {login}", err=True)
    elif deploy.host not in ("127.0.0.1", "localhost"):
        click.echo(f"warning: serving on {deploy.host} without a login: anyone who can reach it can use the app "
                   "(add accounts with `avatar users add`)", err=True)
    from avatar.ui import build_demo, launch_options
    from avatar.ui.app import queue

    queue(build_demo(deploy), deploy).launch(**launch_options(deploy))


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(video) -> None:
    """Print VIDEO's content credentials (C2PA manifest) as JSON; exit 1 if they are invalid."""
    from dataclasses import asdict

    from avatar.provenance.credentials import read_credentials

    found = read_credentials(video)
    if found is None:
        raise UserError(f"{video} has no content credentials (no C2PA manifest)")
    click.echo(json.dumps(asdict(found), indent=1))
    if found.state == "Invalid":
        sys.exit(1)


@driver.command("record")
@click.argument("text")
@click.argument("video", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--clips", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the clip in this folder alone (its own index). Default: the published answers every "
                   "app visitor gets, in this deployment's database and storage (AVATAR_DB, AVATAR_STORAGE).")
def driver_record(text, video, clips) -> None:
    """Store VIDEO as the recorded driver answer for reply TEXT (checked and normalised first)."""
    from avatar.driver import RecordedClips
    from avatar.service import PUBLISHED, open_service

    library = RecordedClips.in_folder(clips, owner=PUBLISHED) if clips else open_service().published()
    clip = library.save(text, video, source=video.name)
    click.echo(f"{clip.video}: {clip.duration:.2f} s{' with sound' if clip.audio else ''}")


@main.group()
def voices() -> None:
    """The voices presenters speak with: shipped ones and a team's own Piper voices."""


@voices.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the voices as JSON.")
def voices_list(as_json) -> None:
    """Every voice, the default marked with *."""
    from avatar.speech import SpeechConfig
    from avatar.speech.voices import all_voices, describe

    found = all_voices()
    if as_json:
        click.echo(json.dumps({"default": SpeechConfig().voice, "voices": [describe(v) for v in found.values()]}, indent=1))
        return
    for voice in found.values():
        mark = "*" if voice.name == SpeechConfig().voice else " "
        click.echo(f"{mark} {voice.name:<12} {voice.engine:<7} {voice.language:<6} {voice.source}\n"
                   f"  {'':<12} licence: {voice.licence}")


@voices.command("add")
@click.argument("name")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="The voice's .onnx.json [default: MODEL with .json added].")
@click.option("--licence", required=True, help="Under which licence the team may use the voice.")
@click.option("--source", required=True, help="Where the voice comes from.")
def voices_add(name, model, config_path, licence, source) -> None:
    """Add a Piper voice (MODEL.onnx and its .onnx.json) under NAME, with its licence and source."""
    from avatar.speech.voices import add_voice

    voice = add_voice(name, model, config_path or model.with_name(model.name + ".json"), licence, source)
    click.echo(f"added the voice {voice.name} ({voice.language or 'language not stated'})")


@voices.command("remove")
@click.argument("name")
def voices_remove(name) -> None:
    """Remove a team's voice NAME (shipped voices stay)."""
    from avatar.speech.voices import remove_voice

    remove_voice(name)
    click.echo(f"removed the voice {name}")


@voices.command("read")
@click.argument("text")
@click.option("--voice", help="Read as this voice would [default: the default voice].")
def voices_read(text, voice) -> None:
    """Print the words the voice will say for TEXT (numbers, prices, times, addresses spelled out)."""
    from avatar.speech import SpeechConfig
    from avatar.speech.synth import spoken_words

    click.echo(spoken_words(text, SpeechConfig(voice=voice) if voice else SpeechConfig()))
