"""`python app.py` serves the presenter app on http://127.0.0.1:7860 (see README); every setting
comes from the environment (`avatar.config.Deployment`)."""

import sys

from avatar.service import Deployment, UserError
from avatar.ui import PresenterApp

try:
    presenter_app = PresenterApp(Deployment.from_env())
    demo = presenter_app.demo
except UserError as error:  # a bad cache, database, model or setting: one line, not a traceback
    sys.exit(f"error: {error}")

if __name__ == "__main__":
    try:  # a damaged users file: one line
        options = presenter_app.launch_options()
    except UserError as error:
        sys.exit(f"error: {error}")
    demo.launch(**options)
