"""The "Team presenter" tab (operators): build a presenter from a consenting colleague's video,
preview and publish it, choose the voice each presenter speaks with."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from avatar.service import RECORDING_GUIDE, coverage_markdown, export_path, missing_essentials
from avatar.ui.player import player_component, preview
from avatar.ui.shared import Shared, call, progress_words, refusal

PRESENTER_HELP = ("Make a presenter from a colleague who agrees: upload 1 to 5 minutes of them alone, talking to the "
                  "camera, face well lit and filling a good part of the picture. The video is checked first (too "
                  "short, no face, several faces, a face too small or too dark are refused, with the reason). The "
                  "presenter is drawn only from their own frames. Fill in their consent: it is kept with the "
                  "presenter, shown in its About panel and stated in every video it makes. It stays a draft, which "
                  "only you can preview, until you publish it for every visitor.")
PREVIEW_LINE = "Hello! I'm an AI presenter. Ask me anything about our shop."


class PresentersTab:
    """`build()` places the tab; `opened` fills it (the tab's select event); the other methods are
    its handlers."""

    def __init__(self, shared: Shared):
        self.shared = shared

    def build(self) -> None:
        gr.Markdown(PRESENTER_HELP)
        with gr.Accordion("What to record: a 90-second script", open=False, elem_id="recording-guide"):
            gr.Markdown(RECORDING_GUIDE)
        # include_audio: without it Gradio strips the sound with a system ffmpeg it may not find; the sound is unused.
        source = gr.Video(label="Their video (1-5 minutes)", sources=["upload"], include_audio=True,
                          elem_id="presenter-source")
        self.shared.upload_boxes.append(source)
        with gr.Row():
            name = gr.Textbox(label="Presenter name (lower case, e.g. anna-support)", max_length=40)
            person = gr.Textbox(label="Person's full name", max_length=200)
            given = gr.Textbox(label="Consent date (YYYY-MM-DD)", max_length=10)
        with gr.Row():
            scope = gr.Textbox(label="What the presenter may be used for", max_length=500,
                               placeholder="Customer-relations demos inside the company")
            basis = gr.Textbox(label="How consent was given", max_length=500, placeholder="Signed consent form #12")
        agree = gr.Checkbox(label="I confirm this person agreed, as recorded above, to be made into an AI presenter.")
        build = gr.Button("Build the presenter", variant="primary")
        status = gr.Markdown()
        video = gr.Video(visible=False)  # the API's preview: the finished, signed MP4
        previewed = player_component("presenter-preview", "Preview (AI-generated)", visible=False)
        with gr.Row():
            draft = gr.Dropdown([], label="Draft presenters", interactive=True)
            publish = gr.Button("Publish for every visitor")
        report = gr.Markdown(elem_id="coverage-report")  # what the chosen draft's footage holds
        # Its outputs are the status line and the (hidden) video only: a refused build marks the
        # status, where its reason is, not every box around it; the drafts follow a success.
        build.click(self.build_presenter, [source, name, person, given, scope, basis, agree], [status, video],
                    api_name="build_presenter").success(self.drafts, None, [draft], api_name=False,
                                                        concurrency_limit=4, concurrency_id="info")
        video.change(preview, [video], [previewed], api_name=False, concurrency_limit=4, concurrency_id="info")
        draft.change(self.draft_report, [draft], [report], api_name=False, concurrency_limit=4, concurrency_id="info")
        publish.click(self.publish_presenter, [draft], [status, draft], api_name="publish_presenter")
        gr.Markdown("### Voice\n\nWhich synthetic voice a presenter's answers are spoken in (answers already made "
                    "in another voice are kept for that voice). About and every video's credentials name it.")
        with gr.Row():
            voiced = gr.Dropdown([], label="Presenter (published or draft)", interactive=True,
                                 elem_id="voice-presenter")
            voice = gr.Dropdown([], label="Speaks with", interactive=True, elem_id="voice-choice")
            use_voice = gr.Button("Use this voice", elem_id="use-voice")
        voice_status = gr.Markdown(elem_id="voice-status")
        voiced.change(self.presenter_voice, [voiced], [voice], api_name=False, concurrency_limit=4,
                      concurrency_id="info")
        use_voice.click(self.choose_voice, [voiced, voice], [voice_status], api_name="choose_voice")
        self.opened_outputs = [draft, voiced, voice]

    def opened(self, request: gr.Request):
        """The tab opened (after a reload too): the drafts and the voice picker."""
        return self.drafts(request), *self.voices_view(request)

    def drafts(self, request: gr.Request):
        """The draft presenters, newest first, the newest chosen."""
        self.shared.operator_only(request, "see the draft presenters")
        drafts = self.shared.service.draft_choices()
        return gr.Dropdown(choices=drafts, value=drafts[0][1] if drafts else None)

    def voices_view(self, request: gr.Request):
        """Every presenter (published, then drafts) and every voice, for the operator's voice picker."""
        self.shared.operator_only(request, "choose a presenter's voice")
        service = self.shared.service
        presenters = service.model_choices(self.shared.owner(request)) + service.draft_choices()
        first = presenters[0][1] if presenters else None
        return (gr.Dropdown(choices=presenters, value=first),
                gr.Dropdown(choices=service.voice_choices(), value=call(service.presenter_voice, first)
                            if first else None))

    def presenter_voice(self, name: str | None, request: gr.Request):
        self.shared.operator_only(request, "choose a presenter's voice")
        return gr.Dropdown(value=call(self.shared.service.presenter_voice, name) if name else None)

    def choose_voice(self, name: str | None, voice: str | None, request: gr.Request) -> str:
        self.shared.operator_only(request, "choose a presenter's voice")
        if not name or not voice:
            raise refusal("Pick a presenter and a voice first.")
        call(self.shared.service.choose_voice, name, voice, self.shared.owner(request))
        return f"**{name}** now speaks with the voice **{voice}**."

    def draft_report(self, name: str | None, request: gr.Request) -> str:
        """What the chosen draft's footage holds, and what the presenter does without what it lacks."""
        self.shared.operator_only(request, "see the draft presenters")
        if not name:
            return ""
        return f"#### What {name}'s footage holds\n\n" + coverage_markdown(call(self.shared.service.draft_coverage,
                                                                                  name))

    def build_presenter(self, video: str | None, name: str, person: str, given: str, scope: str, basis: str,
                        agree: bool, request: gr.Request, progress=gr.Progress()):
        self.shared.operator_only(request, "build a presenter")
        if not agree:
            raise refusal("Confirm that the person agreed (the box above the button) first.")
        if not video:
            raise refusal("Upload the person's video first.")
        if not self.shared.uploaded(video, request):  # a served answer would make a presenter of an AI face
            raise refusal("Upload the person's video with this request: only a file you uploaded can be used.")
        service = self.shared.service
        consent = {"person": person, "date": given, "scope": scope, "basis": basis}
        folder = call(service.build_presenter, Path(video), name, consent, progress=progress_words(progress))
        Path(video).unlink(missing_ok=True)  # his frames are in the presenter now (a refused upload is kept, to retry)
        answer = call(service.preview_presenter, folder.name, PREVIEW_LINE, export_path("preview", "preview.mp4"),
                      progress=progress_words(progress))
        return (f"Built **{folder.name}** from their own frames (a draft). Watch the preview; publish it below to "
                "offer it to every visitor.", str(answer.video))

    def publish_presenter(self, name: str | None, request: gr.Request):
        self.shared.operator_only(request, "publish a presenter")
        if not name:
            raise refusal("Pick a draft presenter first.")
        service = self.shared.service
        lacking = missing_essentials(call(service.draft_coverage, name))
        folder = call(service.publish_presenter, name)
        warning = f" Its footage lacks {', '.join(lacking)}: see what it does instead above." if lacking else ""
        return (f"Published: every visitor can now choose **{folder.name}** (reload the page to see it in the list)."
                + warning, gr.Dropdown(choices=service.draft_choices(), value=None))
