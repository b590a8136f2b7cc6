"""How a command ends when something goes wrong: an exit code and one readable line, never a secret.

2 for bad usage (options, files, a CSV that does not check out, the configuration), 1 for a
refusal by Graph or Entra ID (with Graph's error code and request-id, or Entra's error and
correlation id), including a sign-in that is missing or expired.
"""

from __future__ import annotations

import errno

USAGE = 2
FAILED = 1
INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


class UsageError(Exception):
    """The command cannot run as given; the message says what to change."""


class Busy(Exception):
    """Another graphpost process holds what this one needs (the same mail merge)."""


def explain(failure: BaseException) -> tuple[int, str] | None:
    """The exit code and line for a failure a command may meet; None for a bug (let it raise)."""
    from graphpost.config import ConfigError
    from graphpost.errors import (
        AuthError,
        GraphError,
        InvalidRecipients,
        SizeLimitExceeded,
        TransportError,
        Unauthorized,
        redact,
    )

    if isinstance(failure, UsageError | ConfigError | InvalidRecipients | SizeLimitExceeded):
        return USAGE, str(failure)
    if isinstance(failure, Unauthorized):
        return FAILED, f"{failure}; sign in again with `graphpost login`"
    if isinstance(failure, GraphError | AuthError | TransportError | Busy):
        return FAILED, str(failure)
    from graphpost.tokencache import LockTimeout

    if isinstance(failure, LockTimeout):
        return FAILED, f"{failure}; try again in a moment"
    if isinstance(failure, OSError) and failure.filename is not None:
        # a local file that cannot be read or written (permissions, a missing folder)
        return FAILED, redact(f"{failure.filename}: {failure.strerror or failure}")
    if isinstance(failure, OSError) and failure.errno in _DISK_FULL:
        return FAILED, f"cannot write to disk: {failure.strerror}"
    return None


_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
