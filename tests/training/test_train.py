import json
import signal
import subprocess
import sys
import time

import pytest
import torch

from avatar.errors import UserError
from avatar.training.checkpoint import list_checkpoints, load_checkpoint
from avatar.training.model import preset
from avatar.training.train import TrainConfig, train

SMALL = preset("fast", 64)


def _config(**overrides):
    values = dict(steps=6, batch=4, log_every=3, preview_every=3, checkpoint_every=3, keep=2)
    values.update(overrides)
    return TrainConfig(**values)


def test_loss_falls_and_run_folder_is_complete(tiny_faces, tmp_path):
    a, b = tiny_faces
    run = tmp_path / "run"
    train(a, b, run, SMALL, _config(steps=60, batch=8, lr=5e-4, log_every=10, preview_every=60, checkpoint_every=20))
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [10, 20, 30, 40, 50, 60]
    assert stats[-1]["loss"] < 0.8 * stats[0]["loss"], stats
    assert (run / "preview.png").stat().st_size > 1000 and (run / "loss.png").stat().st_size > 1000
    assert [p.name for p in list_checkpoints(run)] == ["step_00000040.pt", "step_00000060.pt"]  # keep=2


def test_resume_continues_exactly(tiny_faces, tmp_path):
    a, b = tiny_faces
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(a, b, straight, SMALL, _config(steps=6, log_every=1))
    train(a, b, resumed, SMALL, _config(steps=3, log_every=1))
    with open(resumed / "stats.jsonl", "a") as f:  # logged after the checkpoint, then killed
        f.write(json.dumps({"step": 4, "loss": 99.0}) + "\n")
    train(a, b, resumed, SMALL, _config(steps=6, log_every=1), resume=True)
    one = load_checkpoint(list_checkpoints(straight)[-1])
    two = load_checkpoint(list_checkpoints(resumed)[-1])
    assert one["step"] == two["step"] == 6
    for name, tensor in one["model"].items():
        assert torch.equal(tensor, two["model"][name]), name
    assert one["rng"] == two["rng"]
    losses = [[json.loads(line)["loss"] for line in (run / "stats.jsonl").read_text().splitlines()]
              for run in (straight, resumed)]
    assert losses[0] == losses[1]  # the same losses, step by step, and no line twice


def test_existing_run_needs_resume_and_same_architecture(tiny_faces, tmp_path):
    a, b = tiny_faces
    run = tmp_path / "run"
    train(a, b, run, SMALL, _config(steps=3))
    with pytest.raises(UserError, match="--resume auto"):
        train(a, b, run, SMALL, _config(steps=6))
    with pytest.raises(UserError, match="same preset and size"):
        train(a, b, run, preset("quality", 64), _config(steps=6), resume=True)


def test_warm_start_copies_weights_and_refuses_other_architectures(tiny_faces, tmp_path):
    a, b = tiny_faces
    first, second = tmp_path / "first", tmp_path / "second"
    train(a, b, first, SMALL, _config(steps=3))
    source = list_checkpoints(first)[-1]
    train(a, b, second, SMALL, _config(steps=1, checkpoint_every=1), init=source)
    before, after = load_checkpoint(source)["model"], load_checkpoint(list_checkpoints(second)[-1])["model"]
    # One small step from the same weights: close to the source, far from a fresh start.
    drift = max((before[k] - after[k]).abs().max().item() for k in before)
    assert drift < 0.05
    # The steps behind the weights travel along a chain of warm starts (for quality-vs-steps curves).
    third = tmp_path / "chained"
    train(a, b, third, SMALL, _config(steps=2, checkpoint_every=2), init=second)
    assert load_checkpoint(list_checkpoints(third)[-1])["init_steps"] == 3 + 1
    with pytest.raises(UserError, match="cannot start from"):
        train(a, b, tmp_path / "third", preset("fast", 128), _config(steps=1), init=source)


def test_warm_start_from_a_shipped_model_folder(tiny_faces, tiny_model, tmp_path):
    a, b = tiny_faces
    train(a, b, tmp_path / "run", SMALL, _config(steps=1, checkpoint_every=1), init=tiny_model)
    shipped = load_checkpoint(tiny_model / "weights.pt")["model"]
    after = load_checkpoint(list_checkpoints(tmp_path / "run")[-1])["model"]
    assert max((shipped[k].float() - after[k]).abs().max().item() for k in shipped) < 0.05


def test_sigterm_saves_a_checkpoint_and_exits_non_zero(tiny_faces, consent_file, tmp_path):
    a, b = tiny_faces
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "avatar", "swap", "train", "--a", a, "--b", b, "--out", run, "--size", "64",
         "--batch", "4", "--steps", "100000", "--checkpoint-every", "100000", "--preview-every", "100000",
         "--consent", consent_file],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600  # first log at step 25: a few seconds, unless the machine is busy
    while not (run / "stats.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    # Saved, but not finished: a caller (adaptation) must never export this run as done.
    assert process.returncode == 3 and "interrupted at step" in err, err
    saved = list_checkpoints(run)
    assert len(saved) == 1
    step = load_checkpoint(saved[0])["step"]
    assert 1 <= step < 100000 and f"interrupted at step {step} of" in err


def test_two_processes_under_torchrun_train_one_model(tiny_faces, consent_file, tmp_path):
    """DDP with the gloo backend on the CPU: the same code path a multi-GPU host takes."""
    a, b = tiny_faces
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
         "-m", "avatar", "swap", "train", "--a", a, "--b", b, "--out", run, "--size", "64", "--batch", "2",
         "--steps", "4", "--checkpoint-every", "4", "--preview-every", "4", "--consent", consent_file],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 4 and len(state["rng"]) == 2  # each rank's data stream is saved
    assert state["rng"][0] != state["rng"][1]  # ranks see different faces
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["faces_seen"] == 4 * 2 * 2 * 2  # steps x batch x sides x processes


def test_a_gan_run_logs_its_critic_and_resumes_exactly(tiny_faces, tmp_path):
    a, b = tiny_faces
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(a, b, straight, SMALL, _config(steps=4, log_every=1, gan_weight=0.1))
    train(a, b, resumed, SMALL, _config(steps=2, log_every=1, gan_weight=0.1))
    halfway = load_checkpoint(list_checkpoints(resumed)[-1])["critic"]
    train(a, b, resumed, SMALL, _config(steps=4, log_every=1, gan_weight=0.1), resume=True)
    one = load_checkpoint(list_checkpoints(straight)[-1])
    two = load_checkpoint(list_checkpoints(resumed)[-1])
    for part in ("model", "critic"):
        for name, tensor in one[part].items():
            assert torch.equal(tensor, two[part][name]), (part, name)
    stats = [json.loads(line) for line in (straight / "stats.jsonl").read_text().splitlines()]
    assert all(s["loss_critic"] > 0 for s in stats)  # hinge loss of a critic that is still learning
    assert any(not torch.equal(halfway[k], v) for k, v in one["critic"].items())  # the critic is trained too


def test_a_critic_on_b_to_b_only_trains_too(tiny_faces, tmp_path):
    a, b = tiny_faces
    train(a, b, tmp_path / "run", SMALL, _config(steps=2, log_every=1, gan_weight=0.1, gan_swapped=False))
    stats = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert len(stats) == 2 and all(s["loss_critic"] > 0 for s in stats)
