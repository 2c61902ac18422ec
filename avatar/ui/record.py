"""The "Record an answer yourself" tab: a person records a line with the webcam (or uploads it),
the presenter gives that answer with their expressions; an operator publishes it for every
visitor; a person may adapt the presenter to their face."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from avatar.service import read_preview
from avatar.ui.player import player_component, preview
from avatar.ui.shared import Shared, call, log, progress_words, refusal

RECORD_HELP = ("Say the line to the camera, facing it, in good light, with your face filling a good part of the "
               "picture: the presenter then gives this answer with your expressions (and your voice, if you keep "
               "it). The recording is checked first (your face must be visible throughout, at least 40 pixels "
               "wide) and saved before anything is made, then the presenter's version is shown. Your recordings "
               "are yours: they change only your own answers.")
ADAPT_CONSENT = ("I agree that my recordings are used to adapt the presenter model to my face (training runs on "
                 "this machine; the recordings and the adapted model stay here and are offered only to me).")

# Without a camera (most desktops in a meeting room, a locked-down laptop) the box opens on upload.
UPLOAD_WITHOUT_CAMERA = """
    (async () => {
      const media = navigator.mediaDevices;
      const devices = media && media.enumerateDevices ? await media.enumerateDevices() : [];
      if (devices.some(d => d.kind === 'videoinput')) return;
      const upload = () => document.querySelector('#recording button[aria-label="Upload file"]');
      if (upload()) { upload().click(); return; }
      const watch = new MutationObserver(() => { if (upload()) { watch.disconnect(); upload().click(); } });
      watch.observe(document.body, {childList: true, subtree: true});
    })();"""


class RecordTab:
    """`build(...)` places the tab; the other methods are its handlers."""

    def __init__(self, shared: Shared):
        self.shared = shared

    def build(self, model: gr.Dropdown, framing: gr.Radio, limit: int) -> tuple[gr.Dropdown, list[gr.Button]]:
        """The tab under the page's presenter and framing pickers. Returns the picker of the
        person's recorded lines (filled when the page loads) and the operators' buttons."""
        line = gr.Textbox(label="Line to say (one of the presenter's answers)", value="Hello! I'm an AI presenter.",
                          max_length=limit)
        prompter = gr.Markdown("## Hello! I'm an AI presenter.")
        line.change(lambda text: f"## {text}", [line], [prompter], api_name=False, concurrency_limit=8,
                    concurrency_id="info")
        gr.Markdown(RECORD_HELP)
        recorded = gr.Dropdown([], label="Your recorded lines", visible=False, interactive=True)
        recorded.input(lambda text: text, [recorded], [line], api_name=False, concurrency_limit=8,
                       concurrency_id="info")
        recording = gr.Video(label="Your recording", sources=["webcam", "upload"], include_audio=True,
                             elem_id="recording")
        self.shared.upload_boxes.append(recording)
        gr.HTML("", elem_id="upload-without-camera", js_on_load=UPLOAD_WITHOUT_CAMERA)
        keep_voice = gr.Checkbox(label="Keep my recorded voice (otherwise the synthesised voice is used)", value=True)
        with gr.Row():
            save = gr.Button("Save and preview", variant="primary")
            delete = gr.Button("Delete the recording for this line")
            publish = gr.Button("Publish for every visitor", visible=False)
            withdraw = gr.Button("Withdraw the published recording for this line", visible=False)
        status = gr.Markdown()
        video = gr.Video(visible=False)  # the API's preview: the finished, signed MP4
        previewed = player_component("record-preview", "Presenter version (AI-generated)", visible=False)
        # The last outcome is cleared first: a refusal never sits under an older "Saved".
        save.click(lambda: "", None, [status], api_name=False, concurrency_limit=8, concurrency_id="info").then(
            self.save_recording, [line, recording, keep_voice, model, framing], [status, video, recording],
            api_name="record").then(self.recorded_lines, None, [recorded], api_name=False).then(
            self.framing_shown, [model], [framing], api_name=False, concurrency_limit=8, concurrency_id="info")
        delete.click(self.delete_recording, [line], [status, video], api_name="delete_recording").then(
            self.recorded_lines, None, [recorded], api_name=False).then(
            self.framing_shown, [model], [framing], api_name=False, concurrency_limit=8, concurrency_id="info")
        video.change(preview, [video], [previewed], api_name=False, concurrency_limit=8, concurrency_id="info")
        publish.click(self.publish, [line], [status], api_name="publish")
        withdraw.click(self.withdraw, [line], [status], api_name="withdraw")

        gr.Markdown("### Adapt the presenter to your face")
        person = gr.Textbox(label="Your name (for the consent record)", max_length=200)
        agree = gr.Checkbox(label=ADAPT_CONSENT, value=False)
        with gr.Row():
            adapt = gr.Button("Adapt the presenter model")
            adapt_status = gr.Markdown()
        adapt_preview = gr.Image(label="Training preview: you, you -> you, you -> presenter, presenter, presenter -> "
                                 "presenter", visible=False, interactive=False)
        timer = gr.Timer(5, active=False)
        adapt.click(self.start_adaptation, [agree, person, model], [adapt_status, adapt_preview, timer],
                    api_name="adapt")
        timer.tick(self.adaptation_status, [model], [adapt_status, adapt_preview, timer, model], api_name=False,
                   concurrency_limit=8, concurrency_id="info")
        return recorded, [publish, withdraw]

    def framing_shown(self, model: str | None, request: gr.Request | None):
        """The framing choice, shown only when it changes something for this person (a presenter
        drawn from his own frames, and recorded answers to draw him into)."""
        try:
            matters = self.shared.service.framing_matters(model, self.shared.owner(request) if request else None)
        except Exception:  # the tabs report real errors themselves
            log.exception("whether the framing matters could not be told")
            matters = False
        return gr.update(visible=matters)

    def recorded_lines(self, request: gr.Request):
        """The picker of this person's recorded lines (newest last)."""
        lines = call(self.shared.service.people.recorded_lines, self.shared.owner(request))
        choices = [(f"{row['text'][:80]} ({row['duration']:.1f} s)", row["text"]) for row in lines]
        return gr.Dropdown(choices=choices, value=None, visible=bool(choices),
                           label=f"Your recorded lines ({len(choices)}): pick one to see or replace it")

    def save_recording(self, line: str, recording: str | None, keep_voice: bool, model: str | None,
                       framing: str | None, request: gr.Request, progress=gr.Progress()):
        if not (line or "").strip():
            raise refusal("Write the line you are going to say first.")
        if not recording:
            raise refusal("Record or upload a video first.")
        if not self.shared.uploaded(recording, request):
            raise refusal("Upload or record the video with this request: only a file you uploaded can be saved.")
        service, owner = self.shared.service, self.shared.owner(request)
        try:
            call(service.presenter, model, owner)  # checked before anything is saved
            call(service.render_config, framing)
            clip = call(service.record, owner, line, Path(recording))
        finally:
            Path(recording).unlink(missing_ok=True)  # the raw upload: kept only as our checked copy
        saved = f"Saved ({clip.duration:.1f} s{', with sound' if clip.audio else ', no sound'})."
        if clip.trimmed:
            saved += f" {clip.trimmed:.1f} s of quiet before and after your words was cut."
        if keep_voice and clip.audio is None:
            saved += " The recording has no sound, so the synthesised voice is used."
        saved += " " + service.adaptation_status(owner, model).message
        try:
            answer = service.say(line, owner=owner, model=model, progress=progress_words(progress),
                                 recorded_voice=keep_voice, framing=framing)
        except Exception:
            log.exception("preview failed")
            return saved + " The preview could not be rendered; the recording is kept.", None, None
        if abs(answer.duration - clip.duration) > 0.1:  # the synthesised voice: the take follows its pace
            pace = "slowed down" if answer.duration > clip.duration else "sped up"
            saved += (f" With the synthesised voice the take is {pace} to fit the line "
                      f"({clip.duration:.1f} s -> {answer.duration:.1f} s).")
        return saved, str(answer.video), None

    def delete_recording(self, line: str, request: gr.Request):
        """Delete this person's recording of `line`, the answers made from it and Gradio's copies."""
        deleted = call(self.shared.service.people.forget, self.shared.owner(request), line)
        if deleted is None:
            return "There was no recording for this line.", None
        forget_served_copies(deleted)
        return "Deleted.", None

    def publish(self, line: str, request: gr.Request):
        self.shared.operator_only(request, "publish a recording for every visitor")
        clip = call(self.shared.service.people.publish, self.shared.owner(request), line)
        return f"Published: every visitor who gets the reply \"{clip.text}\" now sees this recording."

    def withdraw(self, line: str, request: gr.Request):
        """An operator takes back the recording published for `line`: visitors get the synthesised
        answer again (the answers made from it, and Gradio's served copies, are deleted)."""
        self.shared.operator_only(request, "withdraw a published recording")
        deleted = call(self.shared.service.people.unpublish, line)
        if deleted is None:
            return "No recording is published for this line."
        forget_served_copies(deleted)
        return "Withdrawn: visitors now get the synthesised answer for this line."

    def start_adaptation(self, agree: bool, person: str, model: str | None, request: gr.Request):
        if not agree:
            raise refusal("Tick the box to agree that your recordings are used for the adaptation first.")
        status = call(self.shared.service.adapt, self.shared.owner(request), person, model)
        return status.message, gr.Image(visible=False), gr.Timer(active=True)

    def adaptation_status(self, model: str | None, request: gr.Request):
        """Polled every 5 s while adapting: progress, preview, and the new model in the picker when done."""
        service, owner = self.shared.service, self.shared.owner(request)
        status = call(service.adaptation_status, owner, model)
        text = status.message + (f" ({status.share:.0%})" if status.running else "")
        # The preview's pixels, not its path: the training folder is private (blocked from file routes).
        preview = (gr.update(value=read_preview(status.preview), visible=True) if status.preview
                   else gr.update(visible=False))
        picker = gr.Dropdown(service.model_choices(owner)) if status.state == "done" else gr.Dropdown()
        return text, preview, gr.Timer(active=status.running), picker


def forget_served_copies(names: list[str]) -> None:
    """Delete Gradio's served copies of these files (it copies every file it serves into its cache)."""
    if not names:
        return
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder())
    for name in names:
        for copy in root.glob(f"*/{name}"):
            copy.unlink(missing_ok=True)
