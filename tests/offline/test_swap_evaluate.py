"""`avatar swap evaluate`'s workflow (evaluate, then record in the model card), the measures
themselves stubbed: they are tested in tests/metrics and by the recipe's smoke run."""

import json
import shutil
from pathlib import Path

from avatar.offline import swap_evaluate
from avatar.offline.realism import REALISM_HEADING, RealismSets
from avatar.offline.swap_evaluate import CARD_HEADING, evaluate_and_record

RESULT = {"frames": 10, "start": 4000, "match_presenter": 1.0, "match_driver": 0.0, "mouth_r": 0.9,
          "mouth_r_liveliest_200": 0.9, "ssim_b_to_b": 0.8, "flicker_smoothed": 0.1, "flicker_unsmoothed": 0.2,
          "flicker_driver": 0.1, "provider": "CPUExecutionProvider"}


def test_the_result_goes_to_the_json_and_both_card_sections(tiny_model, tmp_path, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    (model / "MODEL_CARD.md").write_text("# tiny\n")
    calls = {}

    def evaluate(*args, **kwargs):
        calls["evaluate"] = kwargs
        return dict(RESULT)

    def realism(model_path, heldout, same, other, video, start, frames, work, **kwargs):
        calls["realism"] = (frames, work)
        return {"rows": {}}

    monkeypatch.setattr(swap_evaluate, "evaluate", evaluate)
    monkeypatch.setattr(swap_evaluate, "realism", realism)
    monkeypatch.setattr(swap_evaluate, "update_realism_card",
                        lambda folder, result: swap_evaluate.set_card_section(folder, REALISM_HEADING, "table"))
    sets = RealismSets(Path("heldout"), Path("same"), Path("other"))
    result, card = evaluate_and_record(model, Path("franck.mp4"), Path("b"), Path("a"), 4000, 800, sets,
                                       tmp_path / "work", tmp_path / "evaluation.json")
    assert result == {**RESULT, "realism": {"rows": {}}}
    assert json.loads((tmp_path / "evaluation.json").read_text()) == result
    assert calls["evaluate"]["work_dir"] == tmp_path / "work" / "video"
    assert calls["realism"] == (400, tmp_path / "work" / "realism")  # realism on at most 400 frames
    text = card.read_text()
    assert card == model / "MODEL_CARD.md" and f"## {CARD_HEADING}" in text and f"## {REALISM_HEADING}" in text


def test_a_model_file_is_measured_but_has_no_card_to_record_in(tiny_model, monkeypatch):
    monkeypatch.setattr(swap_evaluate, "evaluate", lambda *args, **kwargs: dict(RESULT))
    result, card = evaluate_and_record(tiny_model / "model.onnx", Path("franck.mp4"), Path("b"), Path("a"))
    assert result == RESULT and card is None
