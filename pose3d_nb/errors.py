"""The package's one exception family.

Every exception pose3d_nb raises on purpose derives from :class:`Pose3DError` and from the
matching built-in (``ValueError`` for bad input, ``RuntimeError`` for a failed run,
``ImportError`` for a missing optional backend), so callers can catch either.
"""

from __future__ import annotations

__all__ = [
    "Pose3DAttributeError",
    "Pose3DError",
    "Pose3DFileNotFoundError",
    "Pose3DImportError",
    "Pose3DRuntimeError",
    "Pose3DTypeError",
    "Pose3DValueError",
    "UnknownNameError",
]


class Pose3DError(Exception):
    """Base of every exception pose3d_nb raises on purpose; its message is one line for a user."""


class Pose3DValueError(Pose3DError, ValueError):
    """A value, file or name the caller gave is not usable."""


class Pose3DRuntimeError(Pose3DError, RuntimeError):
    """Something failed while running (a worker, a cluster, a download)."""


class Pose3DImportError(Pose3DError, ImportError):
    """An optional backend is not installed."""


class Pose3DTypeError(Pose3DError, TypeError):
    """Arguments that cannot go together (an option for a source that takes none, say)."""


class Pose3DAttributeError(Pose3DError, AttributeError):
    """An attribute that cannot be assigned (a method, a reading, a choice made when the object
    was made); the message names the call that does what was meant."""


class Pose3DFileNotFoundError(Pose3DError, FileNotFoundError):
    """A file the caller named, or that a step needs, is not there."""


class UnknownNameError(Pose3DValueError, KeyError):
    """A name that is not in a registry; the message lists the valid names.

    Also a ``KeyError`` so ``except KeyError`` around a registry lookup keeps working.
    """

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
