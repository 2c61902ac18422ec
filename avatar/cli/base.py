"""The `avatar` command group and what its commands share: one-line errors, progress bars,
the exit of an interrupted training run."""

from __future__ import annotations

import errno
import os
import sys
from contextlib import ExitStack, contextmanager

import click

from avatar import __version__
from avatar.errors import UserError

_DISK_ERRORS = (errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES)


class _Group(click.Group):
    """Turns `UserError`, a usage mistake (a bad option or argument), and a disk that is full or
    read-only into one line on stderr and a non-zero exit, never a traceback or usage text."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        except click.UsageError as error:
            click.echo(f"error: {error.format_message()} (see `{error.ctx.command_path if error.ctx else 'avatar'} "
                       "--help`)", err=True)
            sys.exit(2)
        except OSError as error:
            if error.errno not in _DISK_ERRORS:
                raise
            where = f" ({error.filename})" if error.filename else ""
            advice = "free some space or choose another folder" if error.errno in (errno.ENOSPC, errno.EDQUOT) \
                else "choose a folder you can write to"
            click.echo(f"error: {os.strerror(error.errno).lower()}{where}: {advice}, and run it again.", err=True)
            sys.exit(1)


PIPED_REFRESH_S = 10.0  # a bar written to a log (not a terminal) is redrawn at most this often


@contextmanager
def progress(desc: str, unit: str):
    """Yields on_progress(done, total, postfix=None) driving a tqdm bar that appears with the
    first call, so an input refused before any work prints only its error line. On a terminal
    it is redrawn up to ten times a second; into a pipe or a log file every PIPED_REFRESH_S,
    so a long build leaves tens of lines there, not thousands."""
    from tqdm import tqdm

    bar = None
    terminal = sys.stderr.isatty()

    def on_progress(done: int, total: int, postfix: dict | None = None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, initial=max(done - 1, 0), unit=unit, desc=desc, dynamic_ncols=terminal,
                       mininterval=0.1 if terminal else PIPED_REFRESH_S, file=sys.stderr)
        if postfix:
            bar.set_postfix(postfix, refresh=False)  # shown at the bar's next redraw, not one of its own
        bar.update(done - bar.n)

    try:
        yield on_progress
    finally:
        if bar is not None:
            bar.close()


class Bars:
    """One progress bar at a time, for commands made of stages: `new(desc)` closes the previous
    bar and starts another; `update(done, total)` drives the current one."""

    def __init__(self, unit: str = "it"):
        self.unit, self._stack, self._update = unit, ExitStack(), None

    def new(self, desc: str) -> None:
        self._stack.close()
        self._update = self._stack.enter_context(progress(desc, self.unit))

    def update(self, done: int, total: int) -> None:
        if self._update is None:
            self.new("")
        self._update(done, total)

    def close(self) -> None:
        self._stack.close()
        self._update = None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="avatar")
def main() -> None:
    """Synthetic presenter tools: make a presenter from videos, then render its replies."""


def interrupted(stopped) -> None:
    """A training run stopped by a signal: say how to continue it and exit 3 (not finished)."""
    click.echo(f"{stopped.run}: interrupted at step {stopped.last} of {stopped.total}; continue with --resume auto",
               err=True)
    sys.exit(3)
