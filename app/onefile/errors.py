"""Errors of the OneFile system, as the rest of the service sees them.

    OneFileError
    ├── OneFileTransientError       worth retrying later: the call may succeed next time
    │   ├── OneFileRateLimited      429 answers that outlasted the retry policy
    │   ├── OneFileUnavailable      5xx, timeouts, connection failures, unreadable bodies
    │   └── OneFileAmbiguous        a create whose outcome is unknown (sent, no clear answer):
    │                               the caller must look for the record before creating again
    └── OneFilePermanentError       retrying the same call cannot help
        ├── OneFileBadRequest       400, with OneFile's own message (safe to show: it names
        │                           fields, and we never echo the values we sent)
        ├── OneFileNotFound         404 for an id in the path
        └── OneFileAuthError        the token refused: 401/403 to Authentication, or to a
                                    session opened just before (wrong or revoked token)

httpx's own exceptions never leave `app.onefile`: the transport maps them in one place.
"""

from __future__ import annotations


class OneFileError(Exception):
    """Base of every OneFile failure; `route` is the templated route, never with personal data."""

    def __init__(self, message: str, *, route: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.route = route
        self.status = status

    def __str__(self) -> str:
        where = f"OneFile {self.route}" if self.route else "OneFile"
        code = f" ({self.status})" if self.status is not None else ""
        return f"{where}{code}: {self.message}"


class OneFileTransientError(OneFileError):
    """The call failed for a reason that may pass."""


class OneFileRateLimited(OneFileTransientError):
    """OneFile kept answering 429 beyond the retry policy."""


class OneFileUnavailable(OneFileTransientError):
    """5xx, timeout, network failure or an unreadable answer."""


class OneFileAmbiguous(OneFileTransientError):
    """A create was sent but its outcome is unknown; look before creating again."""


class OneFilePermanentError(OneFileError):
    """Retrying the same call cannot help."""


class OneFileBadRequest(OneFilePermanentError):
    """OneFile refused the request (400) and said why."""


class OneFileNotFound(OneFilePermanentError):
    """An id in the path is unknown to OneFile (404)."""


class OneFileAuthError(OneFilePermanentError):
    """OneFile refused the API token (401 or 403, even with a fresh session)."""
