import json
import subprocess
import sys

import pytest

from avatar.errors import UserError
from avatar.provenance import load_consent


def _avatar(*args):
    return subprocess.run([sys.executable, "-m", "avatar", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    (json.dumps({"person": "A", "source": "B", "date": "2026-01-01", "scope": "C"}), "lacks basis"),
    (json.dumps({"person": " ", "source": "B", "date": "2026-01-01", "scope": "C", "basis": "D"}), "lacks person"),
    (json.dumps({"person": "A", "source": "B", "date": "last week", "scope": "C", "basis": "D"}), "not an ISO date"),
    (json.dumps({"person": "A", "source": "B", "date": "2999-01-01", "scope": "C", "basis": "D"}), "in the future"),
    # Sealed into the card and every signed video: each field has its own limit, checked on the server.
    (json.dumps({"person": "A", "source": "B", "date": "2026-01-01", "scope": "C" * 10_000, "basis": "D"}),
     "the scope is 10,000 characters long; at most 1,000"),
    (json.dumps({"person": "P" * 201, "source": "B", "date": "2026-01-01", "scope": "C", "basis": "D"}),
     "the person is 201 characters long; at most 200"),
])
def test_incomplete_records_are_refused(tmp_path, content, message):
    path = tmp_path / "consent.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        load_consent(path)


def test_training_without_consent_is_refused_and_writes_nothing(tiny_faces, tmp_path):
    a, b = tiny_faces
    result = _avatar("swap", "train", "--a", a, "--b", b, "--out", tmp_path / "run", "--steps", "1")
    assert result.returncode == 2 and "consent record" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_consent_travels_from_training_to_the_exported_model(tiny_faces, consent_file, tmp_path):
    a, b = tiny_faces
    run, model = tmp_path / "run", tmp_path / "model"
    trained = _avatar("swap", "train", "--a", a, "--b", b, "--out", run, "--size", 64, "--batch", 2, "--steps", 2,
                      "--consent", consent_file)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((run / "consent.json").read_text())["person"] == "Test Person"
    (run / "consent.json").rename(run / "withheld.json")
    refused = _avatar("swap", "export", "--checkpoint", run, "--out", model)
    assert refused.returncode == 2 and "consent" in refused.stderr and not (model / "model.onnx").exists()
    (run / "withheld.json").rename(run / "consent.json")
    exported = _avatar("swap", "export", "--checkpoint", run, "--out", model)
    assert exported.returncode == 0, exported.stderr
    assert json.loads((model / "consent.json").read_text())["scope"] == "automated tests only"
    assert "## Consent" in (model / "MODEL_CARD.md").read_text()
