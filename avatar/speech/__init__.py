"""The presenter's voice: speech with phoneme timings (a Piper neural voice by default, or espeak-ng;
`voices` lists them, `normalize` reads numbers and addresses aloud), and the mouth shapes they imply."""

from avatar.speech.synth import Phoneme, Speech, SpeechConfig, speak_sentences, spoken_words, synthesize, write_wav
from avatar.speech.visemes import VISEMES, mouth_track, speech_openings, viseme_of

__all__ = ["Phoneme", "Speech", "SpeechConfig", "speak_sentences", "spoken_words", "synthesize", "write_wav", "VISEMES",
           "mouth_track", "speech_openings", "viseme_of"]
