"""The presenter's player: his listening loop, and over it the answer to play, a finished file or
a live stream of one being drawn (static/stage.html, stage.css, stage.js)."""

from __future__ import annotations

import time

import gradio as gr

from avatar.service import LiveAnswer
from avatar.ui.shared import Shared, log, static

LIVE_ROUTE = "avatar-live"  # GET <page>/avatar-live/ID.mp4: a live answer's stream (`server.LiveStreams`)


def stage(idle: str = "", answer: str = "", live: bool = False) -> dict:
    """The player's value: the presenter's listening loop and the answer to play (URLs relative
    to the page, "" for none), whether the answer is a live stream, and a fresh `n` (the page
    starts every new value, the same answer again too)."""
    return {"idle": idle, "answer": answer, "live": live, "n": time.monotonic_ns()}


def file_url(path) -> str:
    """The URL (relative to the page) at which Gradio serves a file of an allowed folder."""
    return f"gradio_api/file={path}"


def staged(answer, idle: str) -> dict:
    """The player's value for what the service's `play` gave: a ready answer's file, or the live
    stream of one rendering (or just finished: its stream is kept a minute); the listening loop
    alone when it failed."""
    if isinstance(answer, LiveAnswer):
        if answer.done and answer.answer is None:
            return stage(idle)
        if not answer.done or answer.streamed():
            return stage(idle, f"{LIVE_ROUTE}/{answer.id}.mp4", live=True)
        answer = answer.answer
    return stage(idle, file_url(answer.video))


def player_component(elem_id: str, label: str, visible: bool = True) -> gr.HTML:
    """A player: the answer's video without native controls (they would cover its "AI-generated"
    label in the bottom corner), a replay button once it has played; its value is a `stage`."""
    return gr.HTML(stage(), html_template=static("stage.html"), css_template=static("stage.css"),
                   js_on_load=static("stage.js"), elem_id=elem_id, label=label, show_label=True, visible=visible)


def preview(video: str | None):
    """A preview player showing the finished video at path `video`; hidden when there is none."""
    return gr.update(value=stage("", file_url(video)) if video else stage(), visible=bool(video))


class Player:
    """The player component and what fills it: `build()` places it; `listening` and `show_video`
    are its handlers."""

    def __init__(self, shared: Shared):
        self.shared = shared

    def build(self) -> gr.HTML:
        return player_component("presenter", "Presenter (AI-generated)")

    def idle(self, model: str | None, request: gr.Request | None) -> str:
        """The URL of the presenter's listening loop ("" when he has none or it cannot be made)."""
        try:
            path = self.shared.service.idle(model, self.shared.owner(request) if request else None)
        except Exception:  # the chat reports real errors itself; the player stays dark
            log.exception("the listening loop could not be made")
            return ""
        return file_url(path) if path else ""

    def listening(self, model: str | None, request: gr.Request):
        """The player with the presenter listening (page load, another presenter chosen)."""
        return stage(self.idle(model, request))

    def show_video(self, video: str | None, model: str | None, request: gr.Request):
        """The player plays a finished video (the demo dialogue)."""
        return stage(self.idle(model, request), file_url(video)) if video else gr.update()
