"""The study's synthetic faces: `avatar gan train|export|grids|generate` and `avatar evaluate`."""

from __future__ import annotations

from pathlib import Path

import click

from avatar.cli.base import interrupted, main, progress
from avatar.config import SELECTIONS, GenerateConfig
from avatar.training.config import GanTrainConfig


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
    with progress("gan", "step") as on_progress:
        def on_step(step: int, total: int, stats: dict | None) -> None:
            on_progress(step, total, stats and {"kimg": stats["kimg"], "s/kimg": stats["s_per_kimg"],
                                                "p": stats["augment_p"]})

        try:
            last = train_run(data, run, make_preset(preset, int(size)), config, consent, resume == "auto", init,
                             on_step)
        except TrainingStopped as stopped:
            interrupted(stopped)
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
    from avatar.training.gan.grids import write_grids

    paths = write_grids(source, out, parse_seeds(seeds))
    click.echo(f"wrote {' and '.join(map(str, paths))}")


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

    with progress("generate", "face") as on_progress:
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
    from avatar.offline.evaluate import evaluate_study as evaluate

    markdown, paths = evaluate(out, real, fake, variability, count, size, inception_classifier,
                               on_stage=lambda stage: click.echo(f"evaluate: {stage}", err=True))
    click.echo(markdown)
    click.echo("wrote " + ", ".join(map(str, paths)), err=True)
