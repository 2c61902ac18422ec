"""Compositing the presenter into driver frames and rendering videos (no torch here)."""

from avatar.render.colour import ColourMatcher, transfer
from avatar.render.exemplar import ExemplarRenderer, PresenterLibrary
from avatar.render.pipeline import Renderer, load_drawing, render_clip, speech_library
from avatar.render.report import RenderReport

__all__ = ["ColourMatcher", "transfer", "ExemplarRenderer", "PresenterLibrary", "RenderReport", "Renderer",
           "load_drawing", "render_clip",
           "speech_library"]
