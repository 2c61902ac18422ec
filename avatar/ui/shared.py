"""What the page's parts share: `Shared`, the state of one built app (its deployment, service,
logins, upload owners and visitors' tokens), and how every handler reports: one sentence on the
page and one line in the log for a refusal, never a traceback; progress in plain words."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from types import MappingProxyType

import gradio as gr

from avatar.service import Deployment, UserError, open_service
from avatar.ui.gate import UploadOwners, client_cookie

log = logging.getLogger("avatar.ui")
ROOT = Path(__file__).resolve().parents[2]
STATIC = Path(__file__).resolve().parent / "static"

DISCLOSURE = ("**This presenter is AI-generated.** The face, the voice and the answers are made by software, and every "
              "video carries an *AI-generated* label. *About this presenter*, below, says who agreed to it and how.")


class Shared:
    """The state one built app's handlers share. `deploy` (default: this machine's environment)
    is what it serves; `service` is made from it on first use (loading takes a few seconds) unless
    given; `accounts` are its logins (None: no login; set when it is launched); `uploads` who
    uploaded which file (see `gate.Uploads`); `visitors` the owner of each browser session of a
    visitor without a login (see `app.PresenterApp.welcome`)."""

    def __init__(self, deploy: Deployment | None = None, service=None, accounts=None):
        self.deploy = deploy
        self.accounts = accounts
        self.uploads = UploadOwners()
        self.visitors: dict[str, str] = {}
        self.blocks: gr.Blocks | None = None  # the built page (see `uploaded`)
        self.upload_boxes: list[gr.components.Component] = []  # the components whose files are uploads
        self._service, self._service_lock = service, threading.Lock()

    @property
    def service(self):
        with self._service_lock:
            if self._service is None:
                self._service = open_service(self.deploy)
            return self._service

    def account_id(self, name: str | None) -> str | None:
        """The id a login's data belongs to (never its name, which can be given to someone else later)."""
        if self.accounts is None or not name:
            return name
        account = self.accounts.account(name)
        if account is None:
            raise refusal("Your account cannot be found (removed, changed, or the users file is being repaired): "
                          "reload the page and log in again.")
        return account.id

    def owner(self, request: gr.Request | None) -> str:
        """Whose data a request touches: the login's account id when the app has a login, else the
        visitor whose browser token this page sent when it loaded, else the session (a program
        calling the API)."""
        if request is None:
            raise refusal("This request has no session; reload the page.")
        owner = (self.account_id(getattr(request, "username", None)) or self.visitors.get(request.session_hash or "")
                 or request.session_hash)
        if not owner:
            raise refusal("This request has no session; reload the page.")
        return owner

    def is_operator(self, request: gr.Request | None) -> bool:
        """Whether this request's login has the operator role (no login never has)."""
        return bool(self.accounts and request is not None
                    and self.accounts.is_operator(getattr(request, "username", None)))

    def operator_only(self, request: gr.Request | None, what: str) -> None:
        if not self.is_operator(request):
            raise refusal(f"Only an operator can {what}; log in with an operator account.")

    def uploaded(self, path: str, request: gr.Request | None) -> bool:
        """Whether `path` is a file this request's client uploaded to this app, not one it served
        nor another client's upload (a request can name any path in Gradio's cache, e.g. another
        session's answer; only one's own uploads may be taken and deleted, see `gate.Uploads`).
        True outside a running app (handlers called directly)."""
        blocks = self.blocks
        if blocks is None or not blocks.has_launched:
            return True
        # Gradio copies inputs into their component's cache too: the upload boxes' own files are uploads.
        own = [blocks.upload_file_set, *(box.temp_files for box in self.upload_boxes)]
        served = set().union(*(files for files in blocks.temp_file_sets if not any(files is o for o in own)))
        if str(path) not in blocks.upload_file_set or str(path) in served:
            return False
        client = client_cookie(request.headers.items()) if request is not None else None
        return self.uploads.uploaded_by(str(path), client)


def client(request: gr.Request | None) -> str | None:
    """Who sent a request, for taking turns in the render lane: its address (behind a proxy on
    this machine, the address the proxy names in X-Forwarded-For; uvicorn trusts 127.0.0.1)."""
    sender = getattr(request, "client", None)
    return getattr(sender, "host", None) or None


def session(request: gr.Request | None) -> str:
    """The browser or API session a request belongs to (its chat history)."""
    if request is None or not request.session_hash:
        raise refusal("This request has no session; reload the page.")
    return request.session_hash


def call(work, *args, **kwargs):
    """Run a service call; a UserError becomes the app's message, anything else a plain one."""
    try:
        return work(*args, **kwargs)
    except UserError as error:
        raise refusal(sentence(str(error))) from None
    except gr.Error:
        raise
    except Exception:
        log.exception("request failed")
        raise refusal("Something went wrong on the server; the chat still works, try again.") from None


def refusal(message: str) -> gr.Error:
    """The error a handler raises: one sentence that stays on the page until the visitor closes it,
    and one line in the log (an ordinary refusal is not a fault: no traceback)."""
    log.info("refused: %s", message)
    return gr.Error(message, duration=None, print_exception=False)


def sentence(message: str) -> str:
    """A message as the page shows it: a capitalised sentence (the library's messages are
    written to follow "error: " on a command line), unless it starts with a name ("bad.csv line 2: ...")."""
    message = message.strip()
    first = message.split(" ", 1)[0].rstrip(",:;")
    if not first.isalpha() or not first.islower():  # a file or model name stays as it is spelled
        return message
    return message[:1].upper() + message[1:]


# What each stage of a render is called on the page.
STAGE_WORDS = MappingProxyType({"speech": "Making the voice", "driver": "Planning the movements",
                                "swap": "Drawing the presenter", "joining": "Joining the answers", "done": "Done"})


def progress_words(progress):
    """The service's progress (share, stage) shown on `progress` (a `gr.Progress`) in plain
    words, with the time left once it can be told."""
    started = time.monotonic()

    def report(share: float, stage: str) -> None:
        words = STAGE_WORDS.get(stage, stage[:1].upper() + stage[1:])
        elapsed = time.monotonic() - started
        if 0.2 <= share < 1 and elapsed > 1:
            words += f", about {max(1, round(elapsed / share * (1 - share)))} s left"
        progress(share, desc=words)
    return report


def shortened(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "\u2026"


def static(name: str) -> str:
    """The text of a file of the page's own (`avatar/ui/static/`: its CSS, script and template)."""
    return (STATIC / name).read_text(encoding="utf-8")
