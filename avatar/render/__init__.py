"""Compositing the presenter into driver frames and rendering videos (no torch here)."""

from avatar.render.colour import ColourMatcher, transfer
from avatar.render.pipeline import RenderReport, Renderer, render_clip

__all__ = ["ColourMatcher", "transfer", "RenderReport", "Renderer", "render_clip"]
