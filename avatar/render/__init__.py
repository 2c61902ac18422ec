"""Drawing the presenter into driver clips and making the videos people see (no torch here):
renderers behind one contract (`renderers`: the exemplar renderer from his own frames, `exemplar/`,
and the study's autoencoder swap, `swap`), compositing (colour, label), the one function that
turns a driver clip into a labelled, encoded, signed video (`pipeline.render_clip`) and dialogue
exports (`dialogue`)."""

from avatar.render.colour import ColourMatcher, transfer
from avatar.render.exemplar import ExemplarRenderer, PresenterLibrary
from avatar.render.pipeline import render_clip, spoken_clip
from avatar.render.renderers import Drawing, PresenterRenderer, load_drawing, renderer_for, speech_library
from avatar.render.report import RenderReport
from avatar.render.swap import SwapRenderer

__all__ = ["ColourMatcher", "transfer", "Drawing", "ExemplarRenderer", "PresenterLibrary", "PresenterRenderer",
           "RenderReport", "SwapRenderer", "load_drawing", "render_clip", "renderer_for", "speech_library",
           "spoken_clip"]
