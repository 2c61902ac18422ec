"""The one exception type users see.

Anything raised as `UserError` carries a message written for a person (what is wrong and what to
do), never a traceback. The CLI prints it on one line and exits with status 2; the app shows it.
"""


class UserError(Exception):
    """Bad input or an impossible request, explained in `str(error)` for a person."""


class MediaError(UserError):
    """A media file that cannot be used (unreadable, too big, truncated, no video, ...)."""


def quoted(text: object, limit: int = 40) -> str:
    """`text` as a message quotes it: repr of at most `limit` characters (a 1 MB name is never
    echoed back to the client or into the log)."""
    text = str(text)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text):,} characters)"
