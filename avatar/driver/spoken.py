"""A synthesised driver made while it is rendered: the answer is spoken a sentence at a time and
each sentence's frames are planned as soon as it is spoken (`SpeechPlanner`), in a thread of its
own, so the first frames can be drawn, encoded and played while the rest is still being spoken
(a 10 s answer takes the neural voice about 0.7 s to speak, its first sentence a fraction of
that: bench/first_frame.py)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Generic, Iterator, TypeVar

import numpy as np

from avatar.driver.library import DriverLibrary
from avatar.driver.synthesize import DriverConfig, DriverPart, SpeechPlanner, SynthesisedDriver
from avatar.media.clip import DriverClip
from avatar.speech import SpeechConfig, speak_sentences, spoken_words, write_wav
from avatar.speech.synth import split_text
from avatar.speech.types import Speech, join_speech
from avatar.speech.voices import disclosure

Item = TypeVar("Item")
EXPECTED_MARGIN = 1.1  # the head's stretch is chosen this much longer than the answer's expected speech
FIRST_FRAME_WAIT_S = 1.0  # the second sentence is spoken once the first frame is drawn, or after this


class Growing(Generic[Item]):
    """A list one thread appends to while others read it from the start, each at its own pace:
    iterating waits for the next item until the list is finished (then raises its error, if any)."""

    def __init__(self):
        self.items: list[Item] = []
        self.finished, self.error = False, None
        self._changed = threading.Condition()

    def add(self, item: Item) -> None:
        with self._changed:
            self.items.append(item)
            self._changed.notify_all()

    def finish(self, error: BaseException | None = None) -> None:
        with self._changed:
            self.finished, self.error = True, error
            self._changed.notify_all()

    def wait(self) -> list[Item]:
        """Every item, once the list is finished."""
        with self._changed:
            self._changed.wait_for(lambda: self.finished)
        if self.error is not None:
            raise self.error
        return self.items

    def __iter__(self) -> Iterator[Item]:
        index = 0
        while True:
            with self._changed:
                self._changed.wait_for(lambda: index < len(self.items) or self.finished)
                if index == len(self.items):
                    if self.error is not None:
                        raise self.error
                    return
                item = self.items[index]
            yield item
            index += 1


class SpokenDriver:
    """`text` spoken by `voice` as a driver cut from `library` (see `SpeechPlanner`; `near`: the
    library frame the head's stretch is taken near), made in a background thread from the moment
    it is created. `parts()` gives its frames' plan and `sound()` its audio ((n,) int16 mono PCM at
    `sample_rate`) a sentence at a time, as soon as each is made, the sound before the frames it
    covers; `whole()` waits for all of it and gives the finished `DriverClip` (its sound a WAV in
    `work`). `render_clip` takes it as it is (a renderer that can draws it as it comes), and
    closes it when done: `close()` stops the speaking. `seconds`: time spent ("speech", "driver")."""

    kind = "synthesised"

    def __init__(self, text: str, voice: SpeechConfig, library: DriverLibrary, work: Path,
                 config: DriverConfig = DriverConfig(), near: int | None = None):
        self.text, self.library, self.work, self.config, self.near = text, library, Path(work), config, near
        self.fps, self.width, self.height = library.fps, library.meta["width"], library.meta["height"]
        self.voice = disclosure(voice.voice)
        self.seconds: Counter = Counter()
        # (Speech, DriverPart) per sentence: the part is the frames its speech completes.
        self._made: Growing[tuple[Speech, DriverPart]] = Growing()
        self._stop, self._first_drawn = threading.Event(), threading.Event()
        self._whole: DriverClip | None = None
        threading.Thread(target=self._make, args=(voice,), name="spoken-driver", daemon=True).start()

    def _make(self, voice: SpeechConfig) -> None:
        try:
            started = time.perf_counter()
            words = spoken_words(self.text, voice)
            first_share = len((split_text(words, voice.max_sentence_chars) or [""])[0]) / max(len(words), 1)
            sentences = speak_sentences(self.text, voice)
            planner = None
            for speech in sentences:
                self.seconds["speech"] += time.perf_counter() - started
                started = time.perf_counter()
                if planner is None:  # how long the whole will take, from how long its first sentence took
                    expected = EXPECTED_MARGIN * speech.duration / max(first_share, 0.01)
                    planner = SpeechPlanner(self.library, self.text, expected, self.config, self.near)
                self._made.add((speech, planner.add(speech)))
                self.seconds["driver"] += time.perf_counter() - started
                # The first frame waits for no one: on two cores the next sentence's speech slowed
                # it by half (bench/first_frame.py); the rest is spoken far faster than it plays.
                self._first_drawn.wait(FIRST_FRAME_WAIT_S)
                if self._stop.is_set():
                    sentences.close()
                    raise RuntimeError("the speech was stopped")
                started = time.perf_counter()
            if planner is None:
                raise RuntimeError("the voice said nothing")
            end = planner.finish()
            if len(end):
                self._made.add((Speech(np.zeros(0, np.int16), speech.sample_rate, (), ""), end))
            self._made.finish()
        except BaseException as error:  # the reader raises it
            self._made.finish(error)

    @property
    def sample_rate(self) -> int:
        """The voice's sample rate (waits for the first sentence)."""
        for speech, _ in self._made:
            return speech.sample_rate
        self._made.wait()
        raise RuntimeError("the speech gave no sound")

    def parts(self) -> Iterator[DriverPart]:
        """The driver's frames' plan, a sentence's worth at a time, in order, as each is made."""
        return (part for _, part in self._made)

    def sound(self) -> Iterator[np.ndarray]:
        """The speech's audio, (n,) int16 mono PCM at `sample_rate`, a sentence at a time."""
        return (speech.audio for speech, _ in self._made if len(speech.audio))

    @property
    def frame_count(self) -> int:
        """Frames planned so far (all of them once finished)."""
        return sum(len(part) for _, part in self._made.items)

    @property
    def duration(self) -> float:
        return self.frame_count / self.fps

    def first_frame_drawn(self) -> None:
        """Its renderer has drawn the first frame: the speaking goes on (it waited, see `_make`)."""
        self._first_drawn.set()

    def whole(self) -> DriverClip:
        """The finished driver clip (waits for the speech to end); its sound is `work`/speech.wav."""
        self._first_drawn.set()  # nothing is drawn before it is whole
        if self._whole is None:
            made = self._made.wait()
            speech = join_speech([speech for speech, _ in made], self.text)
            audio = write_wav(speech, self.work / "speech.wav")
            driver = SynthesisedDriver.joined(self.library, [part for _, part in made], self.config)
            self._whole = replace(driver.clip(audio), voice=self.voice)
        return self._whole

    def close(self) -> None:
        """Stop speaking (after the sentence being spoken): a render that ended early needs no more."""
        self._stop.set()
        self._first_drawn.set()
