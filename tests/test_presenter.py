"""A presenter folder's integrity: everything a signed video says about him is sealed."""

import json
import shutil

import pytest

from avatar.errors import UserError
from avatar.presenter import CARD_FILE, CONSENT_FILE, RECORD_FILE, open_presenter, set_card_section, write_record


@pytest.fixture
def sealed(tiny_model, consent_file, tmp_path):
    folder = tmp_path / "tiny"
    shutil.copytree(tiny_model, folder)
    shutil.copy(consent_file, folder / CONSENT_FILE)
    (folder / CARD_FILE).write_text("# tiny\n\nA four-step test model.\n")
    write_record(folder)
    return folder


def test_a_forged_consent_record_is_refused(sealed):
    assert open_presenter(sealed).consent["person"] == "Test Person"
    consent = json.loads((sealed / CONSENT_FILE).read_text())
    (sealed / CONSENT_FILE).write_text(json.dumps({**consent, "basis": "signed release, all uses"}))
    with pytest.raises(UserError, match=r"changed after it was sealed \(consent.json"):
        open_presenter(sealed)


def test_an_edited_model_card_is_refused_but_our_own_edits_are_resealed(sealed):
    card = open_presenter(sealed).card()
    assert card.startswith("#")
    set_card_section(sealed, "Evaluation", "- measured by a test")  # the tools' own edit: resealed
    assert "measured by a test" in open_presenter(sealed).card()
    (sealed / CARD_FILE).write_text(card + "\nTrained on 10,000 consenting people.\n")
    with pytest.raises(UserError, match=r"changed after it was sealed \(MODEL_CARD.md"):
        open_presenter(sealed)


def test_metadata_an_older_record_does_not_cover_is_not_believed(sealed):
    record = json.loads((sealed / RECORD_FILE).read_text())
    record["files"] = {}  # sealed by an older version: only the ONNX hash
    (sealed / RECORD_FILE).write_text(json.dumps(record))
    presenter = open_presenter(sealed)
    assert presenter.consent is None and presenter.card() == ""
    assert "consent" not in presenter.manifest_facts()
