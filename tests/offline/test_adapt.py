"""The adaptation steps' child-process entry (avatar.offline.adapt): one JSON job, one exit status."""

from avatar.errors import UserError
from avatar.offline import adapt
from avatar.training.runs import TrainingStopped


def test_a_job_runs_its_step_with_its_arguments(monkeypatch):
    calls = []
    monkeypatch.setitem(adapt.STEPS, "export", lambda **arguments: calls.append(arguments))
    assert adapt.main(["adapt", '{"step": "export", "run": "r", "out": "o"}']) == 0
    assert calls == [{"run": "r", "out": "o"}]


def test_a_stopped_training_exits_3_and_a_refusal_2_each_with_one_error_line(monkeypatch, capsys):
    def stopped(**arguments):
        raise TrainingStopped("run", 2, 4)

    def refused(**arguments):
        raise UserError("no faces")

    monkeypatch.setitem(adapt.STEPS, "train", stopped)
    monkeypatch.setitem(adapt.STEPS, "extract", refused)
    assert adapt.main(["adapt", '{"step": "train"}']) == 3
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: run: training stopped at step 2 of 4; " \
        "run it again to resume."
    assert adapt.main(["adapt", '{"step": "extract"}']) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "error: no faces"
