"""The voices presenters speak with: `avatar voices list|add|remove|read`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from avatar.cli.base import main


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
