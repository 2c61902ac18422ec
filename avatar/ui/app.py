"""The presenter app: one page of tabs (`chat`, `record`, `answers`, `presenters`) around the
presenter's player (`player`), over one `avatar.service.Avatar`. Handlers only translate between
Gradio and the service; errors become a sentence on the page, never a traceback, and the chat
stays usable. All state lives in the built app (`shared.Shared`), none in this package's modules.
"""

from __future__ import annotations

import secrets
from types import MappingProxyType
from typing import Callable

import gradio as gr

from avatar.service import Deployment, UserError, logins
from avatar.ui import server
from avatar.ui.answers import AnswersTab
from avatar.ui.chat import ChatTab
from avatar.ui.player import Player
from avatar.ui.presenters import PresentersTab
from avatar.ui.record import RecordTab
from avatar.ui.shared import DISCLOSURE, ROOT, Shared, log

# The browser encrypts a BrowserState with a key the page itself receives, so this protects
# nothing: what keeps a visitor's recordings theirs is the random token inside. A fixed key keeps
# the token readable after a restart and on every replica behind the proxy.
VISITOR_STORAGE = ("avatar-visitor", "avatar-visitor-token-v1")

# Recorded answers of a presenter drawn from his own frames can show him in his room or put his
# face into the recording's frame (synthesised answers always show his room): the choice is shown
# only when there are recorded answers.
FRAMING_LABEL = "Answers you recorded show the presenter"
FRAMING_CHOICES = (("in his own room", "own"), ("in your recording's frame", "driver"))

# Page events that only fill in what is shown: a lane of their own, never behind a render.
INFO = MappingProxyType({"api_name": False, "concurrency_limit": 4, "concurrency_id": "info"})


class PresenterApp:
    """The app for `deploy` (default: this machine's environment): `demo` is its page (built and
    queued); `launch_options()` what `demo.launch` takes. The service is loaded and warmed while
    it is built (the chat's matcher, his listening loop, the voice), and pre-rendering starts."""

    def __init__(self, deploy: Deployment | None = None, service=None):
        deploy = deploy or Deployment.from_env()
        self.shared = Shared(deploy, service)
        self.player = Player(self.shared)
        self.chat, self.record = ChatTab(self.shared, self.player), RecordTab(self.shared)
        self.answers, self.presenters = AnswersTab(self.shared), PresentersTab(self.shared)
        self.demo = server.queue(self._page(), deploy)
        self.shared.blocks = self.demo
        service = self.shared.service
        service.chatbot  # the chat database and matcher ready before the first visitor, not on the first question
        self.player.idle(None, None)  # and the presenter's listening loop
        service.warm_voice()  # and the voice (its first sentence would wait for it to load)
        if deploy.prerender:
            service.start_prerendering()

    def launch_options(self) -> dict:
        """Safe defaults for `demo.launch` (see `server.launch_options`); reads the logins now."""
        self.shared.accounts = logins(self.shared.deploy)
        return server.launch_options(self.shared)

    def _page(self) -> gr.Blocks:
        service = self.shared.service
        limit = service.config.max_message
        # delete_cache: Gradio's copies of served videos older than a day are removed every hour.
        with gr.Blocks(title="Synthetic presenter", delete_cache=(3600, 86400)) as demo:
            gr.Markdown("# Synthetic presenter\n" + DISCLOSURE, elem_id="page-top")
            names = list(service.models())
            # allow_custom_value: a program may name its own adapted presenter; the service refuses
            # every name it does not offer to that person.
            model = gr.Dropdown(service.model_choices(), value=names[0], label="Presenter", visible=len(names) > 1,
                                interactive=True, allow_custom_value=True)
            # Shown once it changes something (see `RecordTab.framing_shown`).
            framing = gr.Radio(list(FRAMING_CHOICES), value=service.render_settings.exemplar.recorded,
                               label=FRAMING_LABEL, visible=False, interactive=True)
            with gr.Tab("Chat"):
                player = self.chat.build(model, framing, limit)
            with gr.Tab("Record an answer yourself"):
                recorded, operator_buttons = self.record.build(model, framing, limit)
            with gr.Tab("Team answers", visible=False) as answers_tab:
                self.answers.build()
            with gr.Tab("Team presenter", visible=False) as presenters_tab:
                self.presenters.build()
            self._operator_only = [*operator_buttons, answers_tab, presenters_tab]
            answers_tab.select(self.answers.opened, None, self.answers.opened_outputs, **INFO)
            presenters_tab.select(self.presenters.opened, None, self.presenters.opened_outputs, **INFO)
            with gr.Accordion("About this presenter", open=False):
                about = gr.Markdown(self.about(names[0], None))
            model.change(self.about, [model], [about], **INFO)
            model.change(self.record.framing_shown, [model], [framing], **INFO)
            model.change(self.player.listening, [model], [player], **INFO)
            demo.load(self.model_choices, None, [model], **INFO)
            demo.load(self.player.listening, [model], [player], **INFO)
            demo.load(self.operator_buttons, None, self._operator_only, **INFO)
            visitor = gr.BrowserState(None, storage_key=VISITOR_STORAGE[0], secret=VISITOR_STORAGE[1])
            demo.load(self.welcome, [visitor], [visitor, recorded], **INFO).then(
                self.record.framing_shown, [model], [framing], **INFO)
            demo.unload(self.end_session)
        return demo

    def end_session(self, request: gr.Request):
        """A browser tab closed: free its chat history."""
        if request is not None and request.session_hash:
            self.shared.service.end_session(request.session_hash)
            self.shared.visitors.pop(request.session_hash, None)

    def welcome(self, token: str | None, request: gr.Request):
        """A page loaded: a visitor without a login gets (or keeps) the random token their browser
        stores, so their recordings are theirs across reloads and tabs; their recorded lines are listed."""
        if request is not None and request.session_hash and not getattr(request, "username", None):
            try:
                owner = self.shared.service.people.visitor(token or "")
            except UserError:  # none yet, or not one of ours
                token = secrets.token_urlsafe(32)
                owner = self.shared.service.people.visitor(token)
            self.shared.visitors[request.session_hash] = owner
        return token, self.record.recorded_lines(request)

    def model_choices(self, request: gr.Request):
        """The picker for this person: shipped, installed and their own adapted presenters."""
        choices = self.shared.service.model_choices(self.shared.owner(request))
        return gr.Dropdown(choices, visible=len(choices) > 1)

    def operator_buttons(self, request: gr.Request):
        """The operators' buttons and tabs, shown only to a logged-in operator."""
        visible = self.shared.is_operator(request)
        return [gr.update(visible=visible) for _ in self._operator_only]

    def about(self, name: str, request: gr.Request):
        """Who the face is, what it may be used for, that it is AI-generated; the technical card
        behind a fold."""
        try:
            facts = self.shared.service.about(name, self.shared.owner(request) if request else None)
        except Exception:  # shown in the panel only; the tabs report real errors themselves
            log.exception("loading the presenter model failed")
            return "The presenter model could not be loaded."
        return about_markdown(facts)


def about_markdown(facts: dict) -> str:
    """The About panel for a presenter's facts (`Avatar.about`)."""
    consent = facts["consent"] or {}
    provenance = ROOT / "assets" / "PROVENANCE.md"
    lead = [
        f"**Whose face this is:** {consent.get('person', 'not recorded')}.",
        f"**Consent and permitted use:** {consent.get('basis', 'no consent record')}. "
        f"May be used for: {consent.get('scope', 'not stated')}.",
        f"**It is AI-generated:** the face is drawn {facts['drawing']}, the voice is synthetic (the voice "
        f"\"{facts['voice']['name']}\": {facts['voice']['source']}), and the "
        "answers come from a chatbot. Every video carries a visible *AI-generated* label and a signed record of "
        "how it was made.",
    ]
    details = ["Every video is signed with content credentials (C2PA): check one with `avatar verify VIDEO.mp4` or "
               f"any C2PA reader, which also names the voice. Voice licence: {facts['voice']['licence']}. The answers "
               "are matched from the team's questions and "
               "answers (a ChatterBot corpus).",
               f"Renderer: {facts['renderer']}; runtime: onnxruntime's `{facts['provider']}`; presenter files' "
               f"SHA-256 `{facts['sha256'][:16]}...` (checked at every load).", demoted(facts["card"] or "(no model card)"),
               *([demoted(provenance.read_text())] if provenance.is_file() else [])]
    return "\n\n".join(lead) + "\n\n<details><summary>Technical details: model card and provenance</summary>\n\n" \
        + "\n\n".join(details) + "\n\n</details>"


def demoted(markdown: str) -> str:
    """Headings two levels down, to sit inside the page."""
    return ("\n" + markdown).replace("\n## ", "\n#### ").replace("\n# ", "\n### ").strip()


def serve(deploy: Deployment, note: Callable[[str], None] = print) -> None:
    """Build and launch the app under `deploy` (until stopped), first telling `note` who must log
    in, or warning when it listens beyond this machine without a login."""
    accounts = logins(deploy)
    if accounts:
        note(f"login required: {'one operator (--auth)' if deploy.auth else f'{len(accounts.accounts())} account(s)'}")
    elif deploy.host not in ("127.0.0.1", "localhost"):
        note(f"warning: serving on {deploy.host} without a login: anyone who can reach it can use the app "
             "(add accounts with `avatar users add`)")
    app = PresenterApp(deploy)
    app.demo.launch(**app.launch_options())
