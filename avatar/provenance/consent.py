"""Consent records: nobody becomes a presenter without a record of who agreed to what.

A record is a small JSON file:
    {"person": "Jane Doe", "source": "webcam recordings of 2026-11-20, cap12/cap13",
     "date": "2026-11-20", "scope": "customer-relations demos of product X",
     "basis": "signed consent form #42"}
`avatar swap train` refuses to start without one, keeps a copy in the run folder, and
`avatar swap export` puts it beside the model and into its model card.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from avatar.errors import UserError

FIELDS = ("person", "source", "date", "scope", "basis")
# Each field's longest text: the record is sealed into the presenter's card and every video it signs.
FIELD_LIMITS = {"person": 200, "source": 1000, "date": 10, "scope": 1000, "basis": 1000}


@dataclass(frozen=True)
class ConsentRecord:
    person: str  # who the presenter will look like
    source: str  # which recordings of them are used
    date: str  # when consent was given (ISO date)
    scope: str  # what the presenter may be used for
    basis: str  # how consent was given (a signed form, a written statement, a licence ...)

    def to_dict(self) -> dict:
        return asdict(self)


def load_consent(path: Path) -> ConsentRecord:
    """Read and check a consent record; UserError saying what is missing or wrong."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"consent record {path} was not found.") from None
    except OSError as error:
        raise UserError(f"consent record {path} cannot be read ({error.strerror or error}).") from None
    return parse_consent(raw, path.name)


def parse_consent(raw: bytes, name: str) -> ConsentRecord:
    """Check the consent record `raw` (JSON bytes of the file called `name`)."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UserError(f"consent record {name} is not valid JSON ({error}).") from None
    if not isinstance(data, dict):
        raise UserError(f"consent record {name} must be a JSON object with {', '.join(FIELDS)}.")
    missing = [f for f in FIELDS if not str(data.get(f, "")).strip()]
    if missing:
        raise UserError(f"consent record {name} lacks {', '.join(missing)}: a presenter needs the person, the "
                        "source recordings, the date, the scope of use and the basis of consent.")
    for field, limit in FIELD_LIMITS.items():
        if len(str(data[field]).strip()) > limit:
            raise UserError(f"consent record {name}: the {field} is {len(str(data[field]).strip()):,} characters long; "
                            f"at most {limit:,}.")
    try:
        given = date.fromisoformat(str(data["date"]))
    except ValueError:
        raise UserError(f"consent record {name}: date {data['date']!r} is not an ISO date (YYYY-MM-DD).") from None
    if given > date.today():
        raise UserError(f"consent record {name}: the date {given} is in the future.")
    return ConsentRecord(**{f: str(data[f]).strip() for f in FIELDS})


def keep_consent(path: Path, run: Path) -> ConsentRecord:
    """Check the consent record at `path` and keep a copy as `run/consent.json` (a training run
    carries the record its outputs are exported with)."""
    record = load_consent(path)
    Path(run).mkdir(parents=True, exist_ok=True)
    (Path(run) / "consent.json").write_text(json.dumps(record.to_dict(), indent=1) + "\n")
    return record
