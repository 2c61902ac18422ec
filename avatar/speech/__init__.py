"""The presenter's voice: espeak-ng speech with phoneme timings, and the mouth shapes they imply."""

from avatar.speech.synth import Phoneme, Speech, SpeechConfig, synthesize, write_wav
from avatar.speech.visemes import VISEMES, mouth_track, speech_openings, viseme_of

__all__ = ["Phoneme", "Speech", "SpeechConfig", "synthesize", "write_wav", "VISEMES", "mouth_track", "speech_openings", "viseme_of"]
