"""Named plug-ins of one kind (detectors, lifters, export formats, sources), in one shape.

Each kind keeps a :class:`Registry` of frozen entries that say what a plug-in is, what it
needs and what it provides. The CLI's choices, ``Settings`` validation and the docs read the
registry (``names()``), never a copy of the list; code outside the package adds entries with the
kind's public ``register_*`` function. See ``docs/extending.md``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from pose3d_nb.errors import Pose3DValueError, UnknownNameError

Entry = TypeVar("Entry")

WORLD_LANDMARKS = "world_landmarks"
"""Capability a detector may provide and a lifter may require: ``Detection.extras["world_landmarks"]``,
(33, 3) metric BlazePose landmarks (MediaPipe's own 3D)."""


class Registry(Mapping[str, Entry], Generic[Entry]):
    """Entries by name, in registration order; a read-only mapping plus ``register``.

    Args:
        kind: what the entries are, for messages ("detector", "export format", ...).
        fold_case: look names up case-insensitively (names are stored as registered).
    """

    def __init__(self, kind: str, fold_case: bool = False) -> None:
        self.kind = kind
        self._fold_case = fold_case
        self._entries: dict[str, Entry] = {}
        self._keys: dict[str, str] = {}

    def _key(self, name: str) -> str:
        return name.lower() if self._fold_case else name

    def register(self, name: str, entry: Entry, *, replace: bool = False) -> Entry:
        """Add ``entry`` under ``name``; returns it.

        Raises:
            Pose3DValueError: ``name`` is empty or not a string, or already registered and
                ``replace`` is False.
        """
        if not isinstance(name, str) or not name.strip():
            raise Pose3DValueError(f"a {self.kind} name must be a non-empty string, not {name!r}")
        key = self._key(name)
        if key in self._keys and not replace:
            raise Pose3DValueError(
                f"{self.kind} {name!r} is already registered; pass replace=True to replace it"
            )
        old = self._keys.pop(key, None)
        if old is not None:
            del self._entries[old]
        self._keys[key] = name
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> Entry:
        """Remove and return the entry ``name`` (e.g. a test's own plug-in)."""
        entry = self[name]
        del self._entries[self._keys.pop(self._key(name))]
        return entry

    def names(self) -> list[str]:
        """Every registered name, in registration order."""
        return list(self._entries)

    def canonical(self, name: str) -> str:
        """``name`` as registered (a registry that folds case takes "MediaPipe" for "mediapipe").

        Raises:
            UnknownNameError: no such entry (the message lists the known names).
        """
        stored = self._keys.get(self._key(name)) if isinstance(name, str) else None
        if stored is None:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; known: {', '.join(self._entries)}")
        return stored

    def __getitem__(self, name: str) -> Entry:
        return self._entries[self.canonical(name)]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry of {self.kind}s: {', '.join(self._entries)}>"


def load_object(target: str | Callable[..., Any]) -> Callable[..., Any]:
    """``"package.module:attribute"`` imported now (plug-ins load on first use); a callable as is."""
    if callable(target):
        return target
    module, _, attribute = str(target).partition(":")
    if not module or not attribute:
        raise Pose3DValueError(f"expected 'package.module:attribute' or a callable, not {target!r}")
    return getattr(importlib.import_module(module), attribute)
