"""Does a presenter built from a person's footage look, move and speak like that person? Measured
on footage of him the presenter never drew from, per person (`python bench/realism.py --people`).

For one person (`PersonSets`): his presenter (built from the first part of his footage, or the
shipped one), held-out real footage of him in two parts (the reference every set is judged
against, and the floor: real clips of the answers' own lengths), and a recording of another
person to drive him. Rows: the floor, synthesised answers (the app's own path: speech, his own
mouths, his own scene, label, H.264) and the recorded driver; every rendered video is decoded and
its faces found again, as a viewer's would be. Columns (`person_table`):

- inner KID against the reference, and its ratio to the floor's;
- articulation: the answers' median mouth spread (p90 - p10 of the inner-lip gap over the eye
  distance) over his own spread while talking (`metrics.articulation.talking_spread` of his
  library's frames and the held-out footage), and the spread itself; these openings, and the
  mouth and sound r of answers, come from landmarks placed in every frame on its own (tracking
  smooths them over time, which damps a mouth that changes quickly);
- mouth r: against the speech's mouth targets (answers) or the driver's mouth (recorded);
  sound r: the answers' mouths against their own sound's loudness (best lag within 4 frames;
  real speakers: 0.38-0.44, target >= 0.35); eye r: against the driver's eyes;
- jumps: frame-to-frame changes of the face beyond his own real 99th percentile, per 10 s;
- bleed: frames whose lower face shows the background's colour (`metrics.realism.background_bleed`);
- ghosting: frames whose brows and eyes repeat their own edges a few pixels away more than his
  real faces ever do (`metrics.realism.edge_echo` beyond its maximum over his held-out faces);
- start / end: how far an answer's first and last frames are from the listening loop's nearest
  frame (mean grey-level difference), against his own video's 99th percentile from one frame to
  the next.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from avatar.config import Deployment, RenderConfig
from avatar.dataset import FaceSet
from avatar.metrics.articulation import lagged_r, mouth_spread, sound_envelope, talking_spread
from avatar.metrics.expression import pearson
from avatar.metrics.inception import inner_features
from avatar.metrics.realism import edge_echo, frame_changes, frame_difference, jumps_per_10s, kid
from avatar.offline.realism import ANSWER_SENTENCES, BLEED_FRAME, bleed_shares, cut_clip, pair_r, reextract
from avatar.vision import eye_opening, mouth_opening

SIZE = 128  # aligned crops the faces are compared at
FLOOR, SYNTHESISED, RECORDED = "real clips (floor)", "synthesised answers", "recorded driver"


@dataclass(frozen=True)
class Segment:
    """Frames [start, start + frames) of a video (in its own frame rate)."""

    video: Path
    start: int
    frames: int


@dataclass(frozen=True)
class PersonSets:
    """One person's evaluation: `presenter` (a model folder with his library), `reference` and
    `floor` (held-out real footage of him, never in the library), `driver` (another person)."""

    name: str
    presenter: Path
    reference: tuple[Segment, ...]
    floor: tuple[Segment, ...]
    driver: Segment


def _faces(segments: tuple[Segment, ...], work: Path, tag: str) -> list[FaceSet]:
    """Each segment cut out and its faces found again (frames numbered from the segment's start)."""
    found = []
    for i, segment in enumerate(segments):
        clip = cut_clip(segment.video, segment.start, segment.frames, work / f"{tag}-{i}.mp4")
        found.append(reextract(tag, clip, work, SIZE))
    return found


def _join(name: str, sets: list[FaceSet], gap: int = 10**6) -> FaceSet:
    """Several face sets as one (frame numbers offset so no two sets' frames look consecutive)."""
    return FaceSet(name, np.concatenate([s.crops for s in sets]), np.concatenate([s.landmarks for s in sets]),
                   np.concatenate([s.frame_landmarks for s in sets]),
                   np.concatenate([s.frames + i * gap for i, s in enumerate(sets)]))


def _window(faces: FaceSet, start: int, frames: int, name: str) -> FaceSet:
    keep = (faces.frames >= start) & (faces.frames < start + frames)
    return FaceSet(name, faces.crops[keep], faces.landmarks[keep], faces.frame_landmarks[keep], faces.frames[keep])


def _openings(video: Path, start: int = 0, frames: int | None = None) -> np.ndarray:
    """(F,) mouth opening of each frame of `video` (from `start`, at most `frames`), NaN where no
    face was found: the face searched for and its landmarks placed in every frame on its own.
    Tracking smooths landmarks over time (a one-euro filter), which damps a mouth that changes
    quickly: answers measured through it moved half as much as their own mouth shapes."""
    from avatar.config import TrackConfig
    from avatar.media import iter_frames
    from avatar.vision import choose_face, find_faces, landmarks_68

    out = []
    for frame in iter_frames(video, start=start, max_frames=frames):
        face, _ = choose_face(find_faces(frame.rgb, TrackConfig()), frame.rgb.shape[1], frame.rgb.shape[0])
        out.append(np.nan if face is None else mouth_opening(landmarks_68(frame.rgb, face.box)))
    return np.array(out)


def _found(openings: np.ndarray) -> np.ndarray:
    return openings[~np.isnan(openings)]


def _ends(video: Path, loop: list[np.ndarray]) -> tuple[float, float]:
    """(start, end): the mean grey difference of the video's first and last frames from the
    listening loop's nearest frame."""
    from avatar.media import iter_frames

    first = last = None
    for frame in iter_frames(video):
        if first is None:
            first = frame.rgb
        last = frame.rgb
    return (min(frame_difference(first, f) for f in loop), min(frame_difference(last, f) for f in loop))


def _real_step_p99(library_video: Path, frames: int = 750) -> float:
    """His own video's 99th percentile of the mean grey difference between consecutive frames."""
    from avatar.media import iter_frames

    previous, steps = None, []
    for frame in iter_frames(library_video, max_frames=frames):
        if previous is not None:
            steps.append(frame_difference(previous, frame.rgb))
        previous = frame.rgb
    return float(np.percentile(steps, 99))


def person_realism(person: PersonSets, work: Path, sentences: tuple[str, ...] = ANSWER_SENTENCES,
                   render: RenderConfig = RenderConfig(), on_stage: Callable[[str], None] = lambda stage: None) -> dict:
    """The rows of one person (see the module docstring) as a dict: name, presenter, the
    reference's size, his talking spread, the real frame-step p99, and rows by set name."""
    from avatar.media import iter_frames, normalize, probe
    from avatar.media.clip import DriverClip
    from avatar.presenter import LIBRARY, open_presenter
    from avatar.render import load_drawing, render_clip
    from avatar.service import open_service
    from avatar.speech import mouth_track, synthesize

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    on_stage("finding his held-out faces")
    reference = _join("reference", _faces(person.reference, work, "reference"))
    held_floor = _faces(person.floor, work, "floor")

    on_stage("rendering synthesised answers")
    service = open_service(Deployment(root=work / "service", model=person.presenter), render=render)
    answers = [service.say(text).video for text in sentences]
    loop_video = service.idle()
    loop = [f.rgb for f in iter_frames(loop_video)] if loop_video else []
    fps = probe(answers[0]).fps
    lengths = [probe(video).frames for video in answers]
    answer_faces = [reextract("answer", video, work, SIZE) for video in answers]

    on_stage("rendering the recorded driver")
    presenter = open_presenter(person.presenter)
    drawing = load_drawing(presenter, render)
    driver_cut = cut_clip(person.driver.video, person.driver.start, person.driver.frames, work / "driver.mp4")
    clip = DriverClip.from_video(normalize(driver_cut, work / ".work", with_audio=False), kind="recorded")
    recorded_video = work / "recorded.mp4"
    render_clip(clip, recorded_video, drawing, presenter, "realism evaluation", render)
    recorded = reextract(RECORDED, recorded_video, work, SIZE)
    driver = reextract("driver", driver_cut, work, SIZE)

    # Floor: real clips as long as the answers, evenly spread over the floor footage.
    floor_all = _join("floor", held_floor)
    floor_clips, windows = [], []
    for k, length in enumerate(lengths):
        starts = [(i, int(f)) for i, fs in enumerate(held_floor) for f in np.unique(fs.frames)
                  if f + length <= fs.frames.max() + 1] or [(0, 0)]
        i, start = starts[int(round(k * (len(starts) - 1) / max(len(lengths) - 1, 1)))]
        floor_clips.append(_window(held_floor[i], start, length, FLOOR))
        windows.append((i, start, length))
    floor = _join(FLOOR, floor_clips)

    on_stage("measuring")
    # His own talking: his library's frames and the held-out ones, each in frame order (a
    # held-out tail alone may hold no talking at all).
    floor_openings = [_openings(s.video, s.start, s.frames) for s in person.floor]
    own = np.concatenate([_found(_openings(drawing.frames.video)), *(_found(o) for o in floor_openings),
                          *(_found(_openings(s.video, s.start, s.frames)) for s in person.reference)])
    talking = talking_spread(own, int(np.median(lengths)))
    real_changes = frame_changes(reference.crops, reference.landmarks, reference.frames)
    real_p99 = float(np.percentile(real_changes, 99))
    real_echo = [edge_echo(c, p) for faces in (reference, floor_all) for c, p in zip(faces.crops, faces.landmarks)]
    echo_limit = float(np.max(real_echo))
    step_p99 = _real_step_p99(presenter.folder / LIBRARY / "frames.mp4")
    reference_features = inner_features(reference.crops, reference.landmarks)

    def row(faces: FaceSet, rate: float) -> dict:
        echo = np.array([edge_echo(c, p) for c, p in zip(faces.crops, faces.landmarks)])
        changes = frame_changes(faces.crops, faces.landmarks, faces.frames)
        return {"faces": len(faces), "kid_inner": round(kid(inner_features(faces.crops, faces.landmarks),
                                                            reference_features), 5),
                "jumps_per_10s": round(jumps_per_10s(changes, real_p99, rate), 2) if len(changes) else None,
                "ghost_frames": round(float(np.mean(echo > echo_limit)), 4)}

    floor_spreads = [mouth_spread(_found(floor_openings[i][start:start + length])) for i, start, length in windows]
    rows = {FLOOR: {**row(floor, fps), "spread": round(float(np.median(floor_spreads)), 4)}}

    synthesised = _join(SYNTHESISED, answer_faces)
    spreads, target_pairs, sound_rs, starts, ends, bleed = [], [], [], [], [], []
    for text, video, faces, length in zip(sentences, answers, answer_faces, lengths):
        opening = _openings(video)[:length]
        spreads.append(mouth_spread(_found(opening)))
        speech = synthesize(text, service.voice)
        targets = mouth_track(speech.phonemes, length / fps, fps)[:, 0]
        target_pairs += [(targets[f], opening[f]) for f in range(len(opening)) if not np.isnan(opening[f])]
        sound_rs.append(lagged_r(opening, sound_envelope(speech.audio, speech.sample_rate, fps, len(opening)))[0])
        if loop:
            start, end = _ends(video, loop)
            starts.append(start)
            ends.append(end)
        bleed += bleed_shares(video, faces)
    rows[SYNTHESISED] = {**row(synthesised, fps), "spread": round(float(np.median(spreads)), 4),
                         "articulation": round(float(np.median(spreads)) / talking, 3),
                         "mouth_r": round(pearson(*zip(*target_pairs)), 3),
                         "sound_r": round(float(np.median(sound_rs)), 3),
                         "bleed_frames": round(float(np.mean(np.array(bleed) > BLEED_FRAME)), 4),
                         "start_jump": round(max(starts), 2) if starts else None,
                         "end_jump": round(max(ends), 2) if ends else None}
    recorded_rate = probe(recorded_video).fps
    rows[RECORDED] = {**row(recorded, recorded_rate),
                      "mouth_r": pair_r(driver, recorded, mouth_opening),
                      "eye_r": pair_r(driver, recorded, eye_opening),
                      "bleed_frames": round(float(np.mean(np.array(bleed_shares(recorded_video, recorded))
                                                          > BLEED_FRAME)), 4)}
    if loop:
        rows[RECORDED]["start_jump"], rows[RECORDED]["end_jump"] = (round(v, 2) for v in _ends(recorded_video, loop))
    floor_kid = rows[FLOOR]["kid_inner"]
    for values in rows.values():
        values["x_floor"] = round(values["kid_inner"] / floor_kid, 2) if floor_kid > 0 else None
    return {"person": person.name, "presenter": str(person.presenter), "reference_faces": len(reference),
            "floor_faces_all": len(floor_all), "talking_spread": round(talking, 4),
            "real_step_p99": round(step_p99, 2), "real_jump_p99": round(real_p99, 2),
            "echo_limit": round(echo_limit, 3), "rows": rows}


def person_table(results: list[dict]) -> str:
    """Each person's rows as one Markdown table (KID x 1e3)."""
    lines = ["| person | faces | n | inner KID | x floor | articulation | spread | mouth r | sound r | eye r | "
             "jumps /10 s | bleed | ghosting | start | end |", "|---" * 15 + "|"]

    def cell(value, form):
        return "" if value is None else format(value, form)

    for result in results:
        for name, row in result["rows"].items():
            lines.append(f"| {result['person']} | {name} | {row['faces']} | {row['kid_inner'] * 1e3:.1f} | "
                         f"{cell(row.get('x_floor'), '.2f')} | {cell(row.get('articulation'), '.2f')} | "
                         f"{cell(row.get('spread'), '.3f')} | {cell(row.get('mouth_r'), '.2f')} | "
                         f"{cell(row.get('sound_r'), '.2f')} | {cell(row.get('eye_r'), '.2f')} | "
                         f"{cell(row.get('jumps_per_10s'), '.1f')} | {cell(row.get('bleed_frames'), '.1%')} | "
                         f"{cell(row.get('ghost_frames'), '.1%')} | {cell(row.get('start_jump'), '.1f')} | "
                         f"{cell(row.get('end_jump'), '.1f')} |")
    lines += ["", "Talking spread, real frame-step p99 (grey levels) and ghost limit per person: "
              + "; ".join(f"{r['person']} {r['talking_spread']:.3f}, {r['real_step_p99']:.1f}, {r['echo_limit']:.3f}"
                          for r in results) + "."]
    return "\n".join(lines)
