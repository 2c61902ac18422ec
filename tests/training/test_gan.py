"""StyleGAN2 (avatar/training/gan): the networks' contracts, augmentation, and a tiny 32 px
training run on real faces that checkpoints, resumes exactly and stops cleanly on SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from avatar.errors import UserError
from avatar.training.checkpoint import list_checkpoints, load_checkpoint
from avatar.training.gan.augment import AdaptiveStrength, augment
from avatar.training.gan.networks import Discriminator, GanConfig, Generator, ModulatedConv, preset
from avatar.training.gan.train import GanTrainConfig, load_images, train, warm_start

TINY = GanConfig(size=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=256, channel_max=32)


def _config(**overrides):
    values = dict(kimg=0.024, batch=4, log_every=1, checkpoint_kimg=0.012, r1_every=2, pl_weight=2.0, pl_every=2,
                  augment_p=0.5, keep=3)
    values.update(overrides)
    return GanTrainConfig(**values)


def test_generator_and_discriminator_shapes():
    torch.manual_seed(0)
    generator, discriminator = Generator(TINY), Discriminator(TINY)
    z = torch.randn(5, TINY.z_dim)
    images = generator(z)
    assert images.shape == (5, 3, 32, 32) and torch.isfinite(images).all()
    assert discriminator(images).shape == (5,)
    assert TINY.num_ws == 8 and generator.styles(z).shape == (5, 8, 32)
    # const noise makes a latent's face reproducible (generation, ONNX export)
    assert torch.equal(generator(z, noise="const"), generator(z, noise="const"))
    assert preset("paper", 256).channels(256) == 64 and preset("paper", 256).channels(8) == 512
    with pytest.raises(ValueError, match="power of two"):
        GanConfig(size=48)


def test_demodulation_keeps_unit_variance_whatever_the_style():
    torch.manual_seed(0)
    conv = ModulatedConv(64, 64, w_dim=16)
    x = torch.randn(8, 64, 16, 16)
    for style_scale in (0.1, 1.0, 10.0):
        with torch.no_grad():
            conv.affine.bias.fill_(style_scale)
            out = conv(x, torch.zeros(8, 16))
        assert 0.8 < out[:, :, 1:-1, 1:-1].std().item() < 1.2, style_scale


def test_augmentation_is_differentiable_and_its_strength_follows_overfitting():
    torch.manual_seed(0)
    images = (torch.rand(8, 3, 32, 32) * 2 - 1).requires_grad_(True)
    assert torch.equal(augment(images, 0.0), images)
    out = augment(images, 1.0)
    assert out.shape == images.shape and not torch.allclose(out, images)
    out.square().sum().backward()  # the generator learns through the augmentation
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0

    strength = AdaptiveStrength(target=0.6, interval=1, speed_kimg=0.1)
    strength.observe(torch.ones(10))  # D calls every real image real: overfitting
    strength.update(batch=10)
    assert strength.p == pytest.approx(0.1) and strength.last_rt == 1.0
    strength.observe(-torch.ones(10))
    strength.update(batch=10)
    assert strength.p == pytest.approx(0.0)


@pytest.fixture(scope="module")
def faces(tiny_faces):
    return tiny_faces[1]  # 30 real aligned faces of the presenter (cap13)


def test_load_images_reads_the_extract_folder(faces):
    images = load_images(faces, 32)
    assert images.shape == (30, 3, 32, 32) and images.dtype == torch.uint8
    assert images.float().std() > 20  # real pictures, not a blank


def test_training_writes_a_complete_run_folder(faces, tmp_path):
    run = tmp_path / "run"
    last, total = train(faces, run, TINY, _config())
    assert last == total == 6
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [1, 2, 3, 4, 5, 6] and stats[-1]["kimg"] == 0.024
    assert {"loss_g", "loss_d", "r1", "pl", "augment_p", "s_per_kimg"} <= set().union(*stats)
    assert [p.name for p in list_checkpoints(run)] == ["step_00000003.pt", "step_00000006.pt"]
    assert sorted(p.name for p in (run / "snapshots").iterdir()) == ["step_00000003.png", "step_00000006.png"]
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert {"generator", "discriminator", "generator_ema", "optimiser_g", "optimiser_d", "augment", "pl_mean",
            "rng"} <= set(state)
    # the EMA generator lags the trained one
    assert any(not torch.equal(state["generator"][k], state["generator_ema"][k]) for k in state["generator"])


def test_resume_continues_exactly(faces, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(faces, straight, TINY, _config())
    train(faces, resumed, TINY, _config(kimg=0.012))
    with open(resumed / "stats.jsonl", "a") as f:  # logged after the checkpoint, then killed
        f.write(json.dumps({"step": 4, "loss_g": 99.0}) + "\n")
    train(faces, resumed, TINY, _config(), resume=True)
    one, two = (load_checkpoint(list_checkpoints(run)[-1]) for run in (straight, resumed))
    assert one["step"] == two["step"] == 6
    for part in ("generator", "discriminator", "generator_ema"):
        for name, tensor in one[part].items():
            assert torch.equal(tensor, two[part][name]), (part, name)
    assert one["augment"] == two["augment"] and torch.equal(one["pl_mean"], two["pl_mean"])
    losses = [[(s["loss_g"], s["loss_d"]) for s in map(json.loads, (run / "stats.jsonl").read_text().splitlines())]
              for run in (straight, resumed)]
    assert losses[0] == losses[1] and len(losses[0]) == 6


def test_an_existing_run_needs_resume_and_the_same_architecture(faces, tmp_path):
    run = tmp_path / "run"
    train(faces, run, TINY, _config(kimg=0.012))
    with pytest.raises(UserError, match="--resume auto"):
        train(faces, run, TINY, _config())
    with pytest.raises(UserError, match="same preset and size"):
        train(faces, run, GanConfig(size=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512,
                                    channel_max=32), _config(), resume=True)


def test_cli_refuses_to_train_without_a_consent_record(faces, tmp_path):
    from click.testing import CliRunner

    from avatar.cli import main

    result = CliRunner().invoke(main, ["gan", "train", "--data", str(faces), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "--consent" in result.output
    assert not (tmp_path / "run").exists()


def test_cli_sigterm_saves_and_exits_non_zero(faces, consent_file, tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "avatar", "gan", "train", "--data", faces, "--out", run, "--size", "32",
         "--batch", "4", "--kimg", "1000", "--checkpoint-kimg", "1000", "--consent", consent_file],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 600  # the first stats line comes after 20 steps
    while not (run / "stats.jsonl").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 3 and "interrupted at step" in err, err
    (saved,) = list_checkpoints(run)
    assert 20 <= load_checkpoint(saved)["step"] < 250_000


def test_two_processes_under_torchrun_train_one_gan(faces, consent_file, tmp_path):
    """DDP-style training with the gloo backend on the CPU: the code path of a multi-GPU host."""
    run = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29527",
         "-m", "avatar", "gan", "train", "--data", faces, "--out", run, "--size", "32", "--batch", "2",
         "--kimg", "0.016", "--checkpoint-kimg", "0.016", "--consent", consent_file],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    state = load_checkpoint(list_checkpoints(run)[-1])
    assert state["step"] == 4 and state["kimg"] == 0.016 and len(state["rng"]) == 2
    assert not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])  # ranks draw different latents


@pytest.fixture(scope="module")
def tiny_run(faces, consent_file, tmp_path_factory):
    """A finished 6-step run with the consent record `avatar gan train --consent` keeps."""
    run = tmp_path_factory.mktemp("gan-run")
    train(faces, run, TINY, _config())
    (run / "consent.json").write_bytes(consent_file.read_bytes())
    return run


def test_export_runs_on_onnxruntime_like_torch(tiny_run, tmp_path, tiny_model):
    from avatar.inference.generator import latents_for_seeds, load_generator_model
    from avatar.training.gan.export import export_generator, load_generator

    report = export_generator(tiny_run, tmp_path / "generator.onnx")
    assert report.step == 6 and report.parity_max_abs < 1e-4
    model = load_generator_model(report.path, prefer="cpu")
    assert model.size == 32 and model.z_dim == TINY.z_dim and model.metadata["avatar.gan_data"]
    z = latents_for_seeds([3, 4, 3], model.z_dim)
    images = model.generate(z, psi=0.7)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert np.array_equal(images[0], images[2]) and not np.array_equal(images[0], images[1])  # a seed names a face
    generator, _ = load_generator(tiny_run)
    with torch.no_grad():
        want = ((generator(torch.from_numpy(z[:1]), psi=0.7, noise="const") + 1) * 127.5).clamp(0, 255)
    assert np.abs(images[0].astype(float) - want[0].permute(1, 2, 0).numpy()).max() <= 1.0
    with pytest.raises(UserError, match="not a face generator"):
        load_generator_model(tiny_model / "model.onnx")


def test_generate_cli_refuses_cleanly_when_the_gan_draws_no_faces(tiny_run, faces, tmp_path):
    """Six steps of training draw colour blotches: no face passes, and the user is told so."""
    from click.testing import CliRunner

    from avatar.cli import main

    result = CliRunner().invoke(main, ["gan", "generate", "--run", str(tiny_run), "--n", "2", "--seeds", "0-5",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "only 0 usable faces" in result.output, result.output
    assert (tmp_path / "out" / "candidates.jsonl").read_text().count('"not a face"') == 6  # what it found is kept
    assert (tiny_run / "export").is_dir()  # exported once, reused next time
    unconsented = tmp_path / "unconsented"
    unconsented.mkdir()
    (unconsented / "generator.onnx").write_bytes(next((tiny_run / "export").glob("*.onnx")).read_bytes())
    result = CliRunner().invoke(main, ["gan", "generate", "--run", str(unconsented), "--n", "2", "--out",
                                       str(tmp_path / "out2")])
    assert result.exit_code == 2 and "no consent.json" in result.output


def test_export_cli_ships_weights_a_new_run_warm_starts_from(tiny_run, faces, tmp_path):
    from click.testing import CliRunner

    from avatar.cli import main

    shipped = tmp_path / "presenter-gan"
    result = CliRunner().invoke(main, ["gan", "export", "--run", str(tiny_run), "--out", str(shipped)])
    assert result.exit_code == 0, result.output
    assert (shipped / "generator.onnx").is_file() and (shipped / "gan.pt").is_file()
    assert (shipped / "consent.json").read_text() == (tiny_run / "consent.json").read_text()
    weights = load_checkpoint(shipped / "gan.pt")
    assert "optimiser_g" not in weights and weights["generator_ema"]["synthesis.const"].dtype == torch.float16
    generator, discriminator, generator_ema = Generator(TINY), Discriminator(TINY), Generator(TINY)
    strength = AdaptiveStrength()
    assert warm_start(shipped, TINY, generator, discriminator, generator_ema, strength) == pytest.approx(0.024)
    for name, tensor in generator_ema.state_dict().items():
        assert torch.equal(tensor, weights["generator_ema"][name].float()), name
    assert strength.p == weights["augment"]["p"]
    run = tmp_path / "continued"
    train(faces, run, TINY, _config(kimg=0.004), init=shipped)
    assert load_checkpoint(list_checkpoints(run)[-1])["init_kimg"] == pytest.approx(0.024)
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert stats[-1]["total_kimg"] == pytest.approx(0.028)
    with pytest.raises(UserError, match="cannot start from"):
        train(faces, tmp_path / "other", GanConfig(size=32, z_dim=32, w_dim=32, mapping_layers=2, channel_base=512,
                                                  channel_max=32), _config(), init=shipped)


def test_grids_show_truncation_and_style_mixing(tiny_run, tmp_path):
    from click.testing import CliRunner

    from avatar.cli import main
    from avatar.training.gan.export import load_generator
    from avatar.training.gan.grids import style_mixing_grid, truncation_grid

    generator, _ = load_generator(tiny_run)
    grid = truncation_grid(generator, [1, 2], psis=(0.0, 1.0))
    assert grid.shape == (64, 64, 3)
    assert np.array_equal(grid[:32, :32], grid[32:, :32])  # psi 0: every seed gives the average face
    assert not np.array_equal(grid[:32, 32:], grid[32:, 32:])
    mixing = style_mixing_grid(generator, [1, 2], [3, 4, 5])
    assert mixing.shape == (3 * 32, 4 * 32, 3) and (mixing[:32, :32] == 255).all()
    result = CliRunner().invoke(main, ["gan", "grids", "--run", str(tiny_run), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "truncation.png").is_file() and (tmp_path / "style-mixing.png").is_file()
