"""The browser app (Gradio), thin over `avatar.service`. Only this package and app.py import gradio."""

from avatar.ui.app import build_demo, launch_options, serve

__all__ = ["build_demo", "launch_options", "serve"]
