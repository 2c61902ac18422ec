"""Making the presenter from nothing and the study: `avatar recipe default|compare`,
`avatar study run|report`."""

from __future__ import annotations

from pathlib import Path

import click

from avatar.cli.base import Bars, main


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
    bars, current = Bars(), {"step": ""}

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

    bars = Bars("step")

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
