"""`avatar` command line: one module per command group, each translating options into one
library call and printing a line or a table. Heavy imports happen inside the commands, so
`avatar --help` starts in a moment."""

from avatar.cli.base import main
from avatar.cli import chat, gan, presenters, serving, study, swap, voices  # noqa: F401  (they add their commands)

__all__ = ["main"]
