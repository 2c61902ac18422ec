"""Driver clips: the moving face that drives the presenter (a library of a real talking face,
clips synthesised from it for new speech, and recorded answers)."""

from avatar.driver.library import DriverLibrary, build_library, face_features
from avatar.driver.recorded import RecordedClip, RecordedClips
from avatar.driver.synthesize import DriverConfig, SynthesisedDriver, choose_base, choose_mouths, synthesize_driver

__all__ = ["RecordedClip", "RecordedClips", "DriverLibrary", "build_library", "face_features", "DriverConfig", "SynthesisedDriver", "choose_base", "choose_mouths", "synthesize_driver"]
