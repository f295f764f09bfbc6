"""What a run is made of, with every default in one place.

``Settings`` is read by the engine (``PoseEngine(settings=...)``, its keyword defaults and
``engine.settings``), ``Pose3D``, the command line (``pose3d run`` and ``pose3d batch`` take
their defaults from ``DEFAULTS``), ``BatchSettings`` and the notebook controls (they open showing
an engine's ``settings``). ``merge`` applies a caller's keyword overrides to a ``Settings``, and
``renamed_option`` keeps a deprecated keyword working for one release.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.lifting.protocol import LiftSettings
from pose3d_nb.values import is_whole_number

__all__ = ["DEFAULTS", "FROM_SETTINGS", "LONGEST_RECEPTIVE_FIELD", "Settings", "check_capacity",
           "keyword_only_after", "merge", "renamed_option"]

#: The longest receptive field of VideoPose3D's models: the window slider's range until a lifter
#: says otherwise.
LONGEST_RECEPTIVE_FIELD = 243


@dataclass(frozen=True)
class Settings:
    """One run's choices.

    Attributes:
        source: an ``open_source`` spec ("sample", "camera", "camera:N", "browser camera", a path).
        detector: a registered 2D detector name ("mediapipe", the default; "mediapipe-lite",
            "mediapipe-heavy", "mediapipe-people", "detectron2", any added with
            ``register_detector``: ``detectors.registry.known_detectors()`` lists them).
        lifter: "auto" (the official checkpoint in model/ if present, else the shipped one),
            "shipped", "mediapipe", or a checkpoint path (``lifting.choice.choose_lifter``).
        window: frames of 2D history per pose (0 = the lifter's full receptive field).
        lookahead: output delay in frames, for future context. Both count the source's frames,
            except with the shipped lifter on a source slower than 20 fps: its 2D is then
            interpolated to 30 fps and they count those 1/30 s steps (``VideoPose3DLifter``'s
            ``resample``), so a 10 fps source's lookahead 4 waits about 1.3 frames.
        flip: test-time flip augmentation, on by default (``docs/benchmarks.md``: every measured
            row of the shipped lifter uses it).
        capacity: rows the rolling buffer keeps (100 000 is 55 minutes at 30 fps; memory is
            taken only as rows arrive).
        out_dir: where ``joints.npy`` and ``session.npz`` go; None records nothing to disk.
        follow: whom to follow when several people are in view: "largest", "centre",
            "most-moving", a track id or "X,Y" pixels (``detectors.follow``); "auto" (the default)
            is "largest" with a detector that can see everyone ("mediapipe", "mediapipe-lite"
            and "mediapipe-heavy" then run "mediapipe-people" with their landmark model; not
            when ``detector_options`` set up the single-person solution) and the detector's own
            choice with any other; None or "none" keeps the detector's own choice (for
            "mediapipe", "-lite", "-heavy", MediaPipe's single-person solution: whoever it finds
            first).

    Raises:
        Pose3DValueError: a negative or fractional window or lookahead, a flip that is not
            True or False, a capacity that is not a whole number >= 1, or an unknown follow value
            (a bool is none: follow=True is refused, "largest" says it).
    """

    source: str = "sample"
    detector: str = "mediapipe"
    lifter: str = "auto"
    window: int = 0
    lookahead: int = 0
    flip: bool = True
    capacity: int = 100_000
    out_dir: str | None = "out_files"
    follow: str | None = "auto"

    def __post_init__(self) -> None:
        self.lift  # noqa: B018 - checks window, lookahead and flip once, here
        check_capacity(self.capacity)
        from pose3d_nb.detectors.follow import check_follow

        check_follow(self.follow)

    @property
    def lift(self) -> LiftSettings:
        """The temporal knobs as the lifter takes them."""
        return LiftSettings(self.window, self.lookahead, self.flip)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def check_capacity(capacity: Any) -> int:
    """``capacity`` (rows of the rolling buffer) as an int.

    Raises:
        Pose3DValueError: not a whole number (text, None, a fraction), or below 1.
    """
    if not is_whole_number(capacity):
        raise Pose3DValueError(f"capacity must be a whole number of rows, got {capacity!r}")
    if capacity < 1:
        raise Pose3DValueError(f"capacity must be >= 1, got {capacity}")
    return int(capacity)


DEFAULTS = Settings()


class _FromSettings:
    """The default of a keyword that, left out, takes its value from a ``Settings``."""

    def __repr__(self) -> str:
        return "<from settings>"


#: Default of ``PoseEngine``'s and ``Pose3D``'s settings keywords: "not given, use ``settings``".
FROM_SETTINGS: Any = _FromSettings()


def merge(settings: Settings | None, **overrides: Any) -> dict[str, Any]:
    """``settings``' values (``DEFAULTS`` if None) with the keywords that were given applied.

    Args:
        settings: the base choices, or None for ``DEFAULTS``.
        **overrides: ``Settings`` field names; a value of ``FROM_SETTINGS`` means "not given".
            source, detector and lifter may also be objects (a source, a detector, a model).

    Returns:
        One value per ``Settings`` field, by name.

    Raises:
        Pose3DTypeError: ``settings`` is not a ``Settings``, or an override names no field.
    """
    base = DEFAULTS if settings is None else settings
    if not isinstance(base, Settings):
        raise Pose3DTypeError(f"settings must be a pose3d_nb.settings.Settings, got {type(base).__name__}")
    values = {f.name: getattr(base, f.name) for f in dataclasses.fields(Settings)}
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise Pose3DTypeError(f"unknown settings {unknown}; settings are {sorted(values)}")
    values.update({k: v for k, v in overrides.items() if v is not FROM_SETTINGS})
    return values


def renamed_option(
    owner: str, old: str, old_value: Any, new: str, new_value: Any, stacklevel: int = 3
) -> Any:
    """The value of keyword ``new``, also accepting its deprecated name ``old`` for one release.

    Args:
        owner: who takes the keyword, for the messages ("PoseEngine").
        old: the deprecated keyword's name; ``old_value`` its value, ``FROM_SETTINGS`` if not given.
        new: the keyword's name now; ``new_value`` its value, ``FROM_SETTINGS`` if not given.
        stacklevel: how many frames up the warning points (3: the caller of ``owner``).

    Returns:
        ``old_value`` when only the old name was given (with a ``DeprecationWarning``),
        else ``new_value``.

    Raises:
        Pose3DTypeError: both names were given.
    """
    if old_value is FROM_SETTINGS:
        return new_value
    if new_value is not FROM_SETTINGS:
        raise Pose3DTypeError(f"{owner}: give {new}= only ({old}= is its deprecated name)")
    warnings.warn(
        f"{owner}({old}=...) is deprecated and will be removed in the next release; use {new}=...",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return old_value


_Function = TypeVar("_Function", bound=Callable[..., Any])


def keyword_only_after(owner: str, leading: int,
                       formerly: tuple[str, ...]) -> Callable[[_Function], _Function]:
    """Decorate a function whose parameters after its first ``leading`` are now keyword-only, and
    were positional (in the order ``formerly``) until this release: calls that still pass them
    by position keep working for one release, with a ``DeprecationWarning`` naming the keywords.

    Why: ``PoseEngine(source, detector, lifter, ...)``, ``Pose3D(lifter, detector, ...)`` and
    ``batch.process(videos, out_dir, client, workers, scheduler, lifter, ...)`` took their shared
    settings in three positional orders; by keyword the order does not matter.

    Args:
        owner: who takes them, for the message ("PoseEngine"). leading: the positional
            parameters kept (``self`` counts). formerly: the names of the old positional
            parameters after those, in their old order.

    Raises:
        Pose3DTypeError: more positional arguments than there were parameters, or one given
            both by position and by keyword.
    """

    def decorate(function: _Function) -> _Function:
        @functools.wraps(function)
        def call(*args: Any, **keywords: Any) -> Any:
            if len(args) > leading:
                extra = args[leading:]
                if len(extra) > len(formerly):
                    raise Pose3DTypeError(f"{owner} takes at most {leading + len(formerly)} positional "
                                          f"arguments, got {len(args)}")
                names = formerly[: len(extra)]
                both = sorted(set(names) & set(keywords))
                if both:
                    raise Pose3DTypeError(f"{owner}: {', '.join(both)} given by position and by keyword")
                warnings.warn(
                    f"{owner}: pass {', '.join(f'{name}=' for name in names)} by keyword; by position "
                    "they are deprecated and stop working in the next release",
                    DeprecationWarning, stacklevel=2,
                )
                keywords.update(zip(names, extra, strict=True))
                args = args[:leading]
            return function(*args, **keywords)

        return call  # type: ignore[return-value]

    return decorate
