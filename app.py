"""`python app.py` serves the presenter app on http://127.0.0.1:7860 (see README)."""

import os
import sys

from avatar.errors import UserError
from avatar.ui import build_demo, launch_options
from avatar.ui.app import queue

try:
    demo = queue(build_demo())
except UserError as error:  # a bad cache, database or model: one line, not a traceback
    sys.exit(f"error: {error}")

if __name__ == "__main__":
    try:  # a damaged users file: one line
        options = launch_options(os.environ.get("AVATAR_HOST", "127.0.0.1"), int(os.environ.get("AVATAR_PORT", "7860")))
    except UserError as error:
        sys.exit(f"error: {error}")
    demo.launch(**options)
