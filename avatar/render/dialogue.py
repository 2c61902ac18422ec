"""A whole conversation as one video: a title card with each question, then the answer."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from avatar.media import iter_frames, probe
from avatar.media.decode import decode_audio
from avatar.media.encode import VideoWriter
from avatar.render.label import add_label

SAMPLE_RATE = 22050
CARD_LINES = 6  # question lines on a title card
CUE_WIDTH, CUE_LINES = 42, 2  # subtitle cue: characters per line, lines per cue
MIN_CUE_SECONDS = 1.0  # a question's card stays up long enough for each of its cues to be read


@dataclass(frozen=True)
class Turn:
    question: str
    answer_text: str
    answer_video: Path


def title_card(question: str, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB card: "You asked:" and the question, wrapped, on a dark background."""
    card = np.full((height, width, 3), (24, 28, 40), np.uint8)
    scale = max(0.45, width / 640)
    thickness = max(1, round(scale * 1.5))
    wrapped = textwrap.wrap(question, width=max(12, int(width / (19 * scale))))
    if len(wrapped) > CARD_LINES:  # a long question: the card shows its start, ending in "..."
        wrapped = wrapped[:CARD_LINES]
        wrapped[-1] = wrapped[-1][: max(1, len(wrapped[-1]) - 3)].rstrip() + "..."
    lines = ["You asked:"] + wrapped
    line_height = int(34 * scale)
    y = (height - line_height * len(lines)) // 2 + line_height
    for i, line in enumerate(lines):
        (w, _), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        colour = (170, 180, 200) if i == 0 else (255, 255, 255)
        cv2.putText(card, line, ((width - w) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
        y += line_height
    return add_label(card)


def subtitle_cues(text: str, start: float, end: float, width: int = CUE_WIDTH, lines: int = CUE_LINES,
                  min_seconds: float = MIN_CUE_SECONDS) -> list[tuple[float, float, str]]:
    """`text` shown from `start` to `end` seconds as readable cues: at most `lines` lines of
    `width` characters each, every cue on screen for `min_seconds` (when there is time for
    that) plus a share of the rest in proportion to its length."""
    wrapped = textwrap.wrap(" ".join(text.split()), width=width) or [""]
    chunks = ["\n".join(wrapped[i:i + lines]) for i in range(0, len(wrapped), lines)]
    weights = np.array([max(1, len(chunk)) for chunk in chunks], float)
    floor = min(min_seconds, (end - start) / len(chunks))
    lengths = floor + (end - start - floor * len(chunks)) * weights / weights.sum()
    bounds = start + np.concatenate([[0], np.cumsum(lengths)])
    return [(float(a), float(b), chunk) for a, b, chunk in zip(bounds[:-1], bounds[1:], chunks)]


def _srt_time(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def export_dialogue(turns: list[Turn], out: Path, width: int, height: int, fps: float,
                    card_seconds: float = 2.0) -> tuple[Path, Path]:
    """Write `out` (H.264/AAC MP4) and its .srt subtitles; returns both paths.

    Answers are retimed to `fps` (frames picked by time) and scaled to width x height; cards
    are silent and last `card_seconds`, longer for a long question (MIN_CUE_SECONDS per
    subtitle cue of it). The sound track is assembled first, so picture and sound share one clock.
    """
    out = Path(out)
    plan, audio, subtitles = [], [], []
    clock = 0.0
    for turn in turns:
        cues = len(subtitle_cues(f"Q: {turn.question}", 0.0, 1.0))
        card_frames = int(round(max(card_seconds, cues * MIN_CUE_SECONDS) * fps))
        info = probe(turn.answer_video)
        frames = int(round(info.frames / info.fps * fps))
        seconds = frames / fps
        sound = decode_audio(turn.answer_video, SAMPLE_RATE)
        target = int(round(seconds * SAMPLE_RATE))
        audio += [np.zeros(int(round(card_frames / fps * SAMPLE_RATE)), np.int16),
                  np.pad(sound[:target], (0, max(0, target - len(sound))))]
        card_end = clock + card_frames / fps
        subtitles += subtitle_cues(f"Q: {turn.question}", clock, card_end)
        subtitles += subtitle_cues(turn.answer_text, card_end, card_end + seconds)
        clock += card_frames / fps + seconds
        plan.append((turn, info.fps, frames, card_frames))
    wav = out.with_suffix(".dialogue.wav")
    _write_wav(wav, np.concatenate(audio) if audio else np.zeros(1, np.int16))
    try:
        with VideoWriter(out, width, height, fps, audio=wav) as writer:
            for turn, source_fps, frames, card_frames in plan:
                card = title_card(turn.question, width, height)
                for _ in range(card_frames):
                    writer.write(card)
                wanted = [int(k * source_fps / fps) for k in range(frames)]  # source frame shown at each step
                shown, last = 0, None
                for frame in iter_frames(turn.answer_video):
                    rgb = frame.rgb
                    if rgb.shape[:2] != (height, width):
                        rgb = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
                    last = rgb
                    while shown < frames and wanted[shown] <= frame.index:
                        writer.write(rgb)
                        shown += 1
                while shown < frames and last is not None:  # a source a frame short: hold its last frame
                    writer.write(last)
                    shown += 1
    finally:
        wav.unlink(missing_ok=True)
    srt = out.with_suffix(".srt")
    srt.write_text("".join(f"{i}\n{_srt_time(a)} --> {_srt_time(b)}\n{text}\n\n"
                           for i, (a, b, text) in enumerate(subtitles, 1)))
    return out, srt


def _write_wav(path: Path, samples: np.ndarray) -> None:
    import wave

    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes(samples.astype(np.int16).tobytes())
