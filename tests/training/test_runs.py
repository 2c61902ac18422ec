"""What both training loops share: training a run to its end under a consent record."""

import json

import pytest

from avatar.errors import UserError
from avatar.training.runs import TrainingStopped, train_to_end


def test_a_new_run_keeps_the_consent_and_starts_from_init(consent_file, tmp_path):
    calls = []
    last = train_to_end(tmp_path / "run", consent_file, lambda resume, init: calls.append((resume, init)) or (8, 8),
                        init=tmp_path / "base")
    assert last == 8 and calls == [(False, tmp_path / "base")]
    assert json.loads((tmp_path / "run" / "consent.json").read_text())["person"]


def test_a_run_with_checkpoints_resumes_without_init(consent_file, tmp_path):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step_00000004.pt").write_bytes(b"")
    calls = []
    train_to_end(tmp_path / "run", consent_file, lambda resume, init: calls.append((resume, init)) or (8, 8),
                 init=tmp_path / "base")
    assert calls == [(True, None)]


def test_a_run_stopped_short_is_refused_and_one_without_consent_never_starts(consent_file, tmp_path):
    with pytest.raises(TrainingStopped, match="stopped at step 3 of 8") as stopped:
        train_to_end(tmp_path / "run", consent_file, lambda resume, init: (3, 8))
    assert (stopped.value.last, stopped.value.total) == (3, 8)
    with pytest.raises(UserError, match="--consent"):
        train_to_end(tmp_path / "other", None, lambda resume, init: 1 / 0)
