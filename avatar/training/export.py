"""The one export path: checkpoint -> presenter model folder (ONNX + warm-start weights + card).

`models/NAME/` holds:
    model.onnx      input `face` (N, 3, S, S) float32 RGB [0, 1]; outputs `presenter` (same
                    layout) and `mask` (N, 1, S, S) [0, 1]; dynamic batch, opset 17, one file
    weights.pt      the autoencoder's weights as float16 (both decoders) for `--init` warm starts
    presenter-faces/ up to 600 of the presenter's training faces (JPEG crops + manifest), for
                    adapting the model to a new driver
    MODEL_CARD.md   what it is, how it was made, what it measured
The exported graph is checked against torch on real crops and refused above tolerance.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import torch

from avatar.dataset import MANIFEST, pack_faceset
from avatar.errors import UserError
from avatar.paths import atomic_path
from avatar.presenter import PRESENTER_FACES, write_record
from avatar.training.checkpoint import load_checkpoint, save_atomic
from avatar.training.model import SwapAutoencoder, SwapConfig, SwapToPresenter
from avatar.training.onnx_file import OPSET, parity_error, write_onnx
from avatar.vision.align import TEMPLATE_68



@dataclass(frozen=True)
class ExportReport:
    folder: Path
    step: int
    parity_max_abs: float
    parity_faces: int
    size_bytes: int


def load_model(checkpoint: Path) -> tuple[SwapAutoencoder, dict]:
    """Autoencoder (eval mode, float32) and the raw checkpoint dict."""
    state = load_checkpoint(checkpoint)
    model = SwapAutoencoder(SwapConfig(**state["swap_config"]))
    model.load_state_dict({k: v.float() for k, v in state["model"].items()})
    return model.eval(), state


def export(checkpoint: Path, folder: Path, parity_faces: np.ndarray, tolerance: float = 2e-3,
           parity_landmarks: np.ndarray | None = None, presenter_faces: int = 600) -> ExportReport:
    """Export `checkpoint` into `folder` and check parity on `parity_faces` ((N, S, S, 3) uint8
    RGB aligned crops; `parity_landmarks` (N, 68, 2) crop pixels for landmark models).
    Nothing is left in `folder` when the check fails. Up to `presenter_faces` of the training
    run's presenter faces are packed into `folder/presenter-faces` (when that data is still
    there), so that the model can later be adapted to a new driver."""
    model, state = load_model(checkpoint)
    config = model.config
    if parity_faces.shape[1:] != (config.size, config.size, 3):
        raise UserError(f"parity faces are {parity_faces.shape[1:]}, the model takes {config.size}px crops.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_path = folder / "model.onnx"
    wrapper = SwapToPresenter(model).eval()
    example = (torch.rand(2, 3, config.size, config.size),)
    inputs = ["face"]
    if config.landmarks:
        example += (torch.from_numpy(TEMPLATE_68 * config.size).float().expand(2, 68, 2).contiguous(),)
        inputs.append("landmarks")
    with atomic_path(onnx_path) as tmp:
        write_onnx(wrapper, example, tmp, inputs, ["presenter", "mask"], [*inputs, "presenter", "mask"],
                   {"avatar.swap_config": json.dumps(config.to_dict()), "avatar.step": str(state["step"]),
                    "avatar.layout": "NCHW float32 RGB in [0, 1]"})
        worst = parity(wrapper, tmp, parity_faces, parity_landmarks)
        if worst > tolerance:
            raise UserError(f"export parity check failed: onnxruntime differs from torch by {worst:.4g} "
                            f"(tolerance {tolerance}); the model was not written.")
    save_atomic({"model": {k: v.half() for k, v in model.state_dict().items()}, "swap_config": config.to_dict(),
                 "step": state["step"]}, folder / "weights.pt")
    b_faces = Path(state.get("data", {}).get("b", ""))
    if presenter_faces and (b_faces / MANIFEST).is_file():
        shutil.rmtree(folder / PRESENTER_FACES, ignore_errors=True)
        pack_faceset(b_faces, folder / PRESENTER_FACES, presenter_faces)
    write_record(folder)  # the ONNX hash every load checks
    return ExportReport(folder, state["step"], worst, len(parity_faces), onnx_path.stat().st_size)


@torch.no_grad()
def parity(wrapper: SwapToPresenter, onnx_path: Path, faces: np.ndarray, landmarks: np.ndarray | None = None) -> float:
    """Largest absolute difference (0..1 scale) between torch and onnxruntime CPU outputs."""
    feeds = {"face": faces.transpose(0, 3, 1, 2).astype(np.float32) / 255}
    if wrapper.model.config.landmarks:
        if landmarks is None:
            raise UserError("this model takes landmarks: give the parity faces' landmarks too.")
        feeds["landmarks"] = landmarks.astype(np.float32)
    expected = [t.numpy() for t in wrapper(*(torch.from_numpy(v) for v in feeds.values()))]
    return parity_error(onnx_path, feeds, ["presenter", "mask"], expected)


def write_model_card(folder: Path, report: ExportReport, state: dict, stats: list[dict], notes: str = "",
                     consent: dict | None = None) -> Path:
    """A MODEL_CARD.md for the exported model from its checkpoint and training stats."""
    config = SwapConfig(**state["swap_config"])
    data = state.get("data", {})
    last = stats[-1] if stats else {}
    lines = [
        f"# Presenter swap model `{folder.name}`",
        "",
        "A face-swap autoencoder (shared encoder and bottleneck, one decoder per identity) that",
        "re-renders any aligned driver face as the presenter. Every video it renders must carry the",
        "visible AI-generated label and content credentials (see DESIGN.md).",
        "",
        "## Interface",
        "",
        "- `model.onnx`: input `face` (N, 3, S, S) float32 RGB in [0, 1], an aligned whole-face crop",
        "  (`avatar.vision.align_face`)"
        + (", and `landmarks` (N, 68, 2) float32, its 68 landmarks in crop pixels" if config.landmarks else "")
        + "; outputs `presenter` (same layout as `face`) and `mask` (N, 1, S, S) in",
        f"  [0, 1]. S = {config.size}. Opset {OPSET}, dynamic batch, single file.",
        "- `weights.pt`: float16 weights of both decoders for warm starts (`avatar swap train --init`).",
        *(["- `presenter-faces/`: the presenter's training faces (JPEG crops + manifest, evenly spread), so",
           "  the model can be adapted to a new driver's face (warm-start training needs side B)."]
          if (folder / PRESENTER_FACES).is_dir() else []),
        "",
        "## How it was made",
        "",
        f"- Architecture: `{json.dumps(config.to_dict())}`",
        f"- Training steps: {report.step} (batch {state['train_config']['batch']} per side), "
        f"{last.get('elapsed_s', 0) / 3600:.2f} h of training time"
        + (f", after a warm start from a model with {state['init_steps']:,} steps behind it"
           if state.get("init_steps") else ""),
        f"- Side A (driver) faces: {data.get('a_faces', '?')} from `{Path(data.get('a', '?')).name}`; "
        f"side B (presenter): {data.get('b_faces', '?')} from `{Path(data.get('b', '?')).name}`",
        f"- Final losses (mean of the last logging interval): A {last.get('loss_a', '?')}, "
        f"B {last.get('loss_b', '?')}, mask {last.get('loss_mask', '?')}",
        f"- Export parity (torch vs onnxruntime CPU, {report.parity_faces} real crops): max abs diff "
        f"{report.parity_max_abs:.2e}",
        f"- Exported {date.today().isoformat()}",
    ]
    if consent:
        lines += ["", "## Consent", "", *(f"- {key}: {value}" for key, value in consent.items()),
                  "- (copied from the training run into `consent.json`)"]
    if notes:
        lines += ["", notes.strip()]
    path = folder / "MODEL_CARD.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def export_run(checkpoint: Path, out: Path, parity_data: Path | None = None, tolerance: float = 2e-3,
               presenter_faces: int = 600) -> ExportReport:
    """`avatar swap export`: export a run's checkpoint (or a run folder's newest) into the model
    folder `out` with its consent record and model card. Parity is checked on 16 real crops of
    `parity_data` (default: the run's side B). A run without a consent record is refused."""
    from avatar.training.checkpoint import list_checkpoints
    from avatar.training.data import load_faceset

    checkpoint, out = Path(checkpoint), Path(out)
    if checkpoint.is_dir():
        found = list_checkpoints(checkpoint)
        if not found:
            raise UserError(f"{checkpoint} holds no checkpoints.")
        checkpoint = found[-1]
    run = checkpoint.parent.parent
    run_consent = run / "consent.json"
    if not run_consent.is_file():
        raise UserError(f"{run} has no consent.json: a presenter is only exported with the consent "
                        "record it was trained under (avatar swap train --consent).")
    model, state = load_model(checkpoint)
    faces = load_faceset(parity_data or Path(state["data"]["b"]), model.config.size, max_faces=16)
    report = export(checkpoint, out, faces.images, tolerance, faces.landmarks, presenter_faces)
    shutil.copyfile(run_consent, out / "consent.json")
    stats_file = run / "stats.jsonl"
    stats = [json.loads(line) for line in stats_file.read_text().splitlines()] if stats_file.exists() else []
    stats = [row for row in stats if row["step"] <= report.step]  # the run may have gone on after this checkpoint
    write_model_card(out, report, state, stats, consent=json.loads(run_consent.read_text()))
    write_record(out)  # sealed again: the consent and card a signed video states are covered too
    return report
