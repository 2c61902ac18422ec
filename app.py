"""`python app.py` serves the presenter app on http://127.0.0.1:7860 (see README); every setting
comes from the environment (`avatar.config.Deployment`)."""

import sys

from avatar.service import Deployment, UserError
from avatar.ui import build_demo, launch_options
from avatar.ui.app import queue

try:
    deploy = Deployment.from_env()
    demo = queue(build_demo(deploy), deploy)
except UserError as error:  # a bad cache, database, model or setting: one line, not a traceback
    sys.exit(f"error: {error}")

if __name__ == "__main__":
    try:  # a damaged users file: one line
        options = launch_options(deploy)
    except UserError as error:
        sys.exit(f"error: {error}")
    demo.launch(**options)
