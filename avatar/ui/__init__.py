"""The browser app (Gradio), thin over `avatar.service`. Only this package and app.py import gradio."""

from avatar.ui.app import PresenterApp, serve

__all__ = ("PresenterApp", "serve")
