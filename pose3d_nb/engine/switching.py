"""Changing what a ``PoseEngine`` runs on while it runs: another source, detector or person.

``EngineSwitching`` is mixed into ``PoseEngine``. A replacement is opened in the caller's thread
(so its errors raise there) and handed to the worker threads through ``Devices``; a change of
source between a live one and a file restarts the threads (their hand-off differs).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pose3d_nb.detectors.follow import (
    check_follow,
    options_only_for,
    resolved_follow,
    single_person_of,
    with_follow,
)
from pose3d_nb.detectors.registry import detector_provides
from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.registry import require_capabilities
from pose3d_nb.sources import accepted_options
from pose3d_nb.values import is_positive_number

if TYPE_CHECKING:
    from pose3d_nb.engine.devices import Devices


class EngineSwitching:
    """``set_source``, ``set_detector`` and ``follow``; needs the engine's ``_lock``, ``_devices``,
    ``_lifter``, ``_follow``, ``running``, ``start`` and ``stop``."""

    _lock: threading.RLock
    _devices: Devices
    _lifter: Any
    _follow: Any
    running: bool
    start: Callable[[], None]
    stop: Callable[..., None]

    @staticmethod
    def _file_options(loop: bool | None, pace: bool | None, fps: float | None = None) -> dict[str, Any]:
        return {k: v for k, v in (("loop", loop), ("pace", pace), ("fps", fps)) if v is not None}

    def set_source(self, spec: Any, loop: bool | None = None, pace: bool | None = None,
                   fps: float | None = None) -> None:
        """Switch source; while running the new one is opened here (errors raise) and swapped in.
        Stopped, it is opened at the next start, but a spec that names nothing (a missing file)
        raises ``SourceError`` now, as the running case does. loop, pace, fps: as ``PoseEngine``
        takes them; loop and pace keep their earlier values when not given, fps is this source's
        (None: its own)."""
        check_source_fps(fps, spec)
        with self._lock:
            devices = self._devices
            if not self.running:
                accepted_options(spec)  # resolves the spec without opening it (nor a camera)
            # loop and pace stay until changed; a frame rate belongs to the source it was given
            # for (a folder's 2 fps stamped the next video at 2 fps too).
            before = devices.source_options
            options = {**before, **self._file_options(loop, pace)}
            options.pop("fps", None)
            devices.source_options = {**options, **self._file_options(None, None, fps)}
            if not self.running:
                devices.source_spec = spec
                return
            try:
                new = devices.open_source(spec)
            except BaseException:
                # Refused (a typo in the app's source field): the source still running keeps its
                # options, its frame rate too (a folder's 30 fps became 1 frame a second at the
                # next start).
                devices.source_options = before
                raise
            if new.is_live != devices.source.is_live:
                # The hand-off between threads differs for live and file sources: restart.
                if new is not spec:
                    new.close()  # opened from a spec here; start() opens it again
                self.stop()
                devices.source_spec = spec
                self.start()
                return
            devices.offer_source(spec, new)

    def set_detector(self, name: Any, **options: Any) -> None:
        """Switch 2D detector; while running the new one is created here and swapped in."""
        with self._lock:
            require_capabilities(self._lifter, detector_provides(name), name)
            if isinstance(name, str):  # the engine's follow applies: "mediapipe" sees everyone
                name, options = with_follow(name, self._follow, options)
            if not self.running:
                self._devices.detector_spec, self._devices.detector_options = name, options
                return
            self._devices.offer_detector(name, options)

    def follow(self, target: Any) -> None:
        """Follow another person: a track id in view now (see ``people``), or a policy value
        (``"X,Y"``: whoever is at that pixel of the next frame, as a click on the live image).

        With a single-person MediaPipe detector running (``mediapipe``, Lite or Heavy),
        ``mediapipe-people`` with its landmark model replaces it (created here, swapped in by the
        detect thread); stopped, it is used from the next start.

        Raises:
            Pose3DValueError: an id nobody has now (the message lists those in view), an
                unknown policy, or a detector that sees one person only.
        """
        check_follow(target)  # True: refused here, as Settings refuses it (it broke the metadata later)
        with self._lock:
            # What the people detector stands for decides "auto" (Lite, Full and Heavy: "largest";
            # a single-person detector such as detectron2: its own choice).
            devices = self._devices
            single, single_options = single_person_of(devices.detector_spec, devices.detector_options)
            if resolved_follow(single, target) is None:
                # None / "none" ("auto" with detectron2): back to the single-person detector.
                spec = single
                dropped = options_only_for(self._devices.detector_spec, spec) | {"follow"}
                options = {k: v for k, v in single_options.items() if k not in dropped}
                if self.running and spec != self._devices.detector_spec:
                    self._devices.offer_detector(spec, options)
                else:
                    self._devices.detector_spec, self._devices.detector_options = spec, options
            elif not self._devices.follow(target):  # the running people detector takes it itself
                spec = self._devices.detector_spec
                spec, options = with_follow(spec, target, self._devices.detector_options)
                if self.running:
                    self._devices.offer_detector(spec, options)
                else:
                    self._devices.detector_spec, self._devices.detector_options = spec, options
            self._follow = target


def check_source_fps(fps: Any, spec: Any = None) -> None:
    """``Pose3DValueError`` unless ``fps`` is None or a positive, finite number of frames a second
    (a file's frames are stamped ``index / fps``: 0 divided by it, a bool is no rate), and, with
    ``spec``, one the source takes (a folder of images or a video file: the sample, a camera or
    an open source object keep their own clock; the rate was dropped without a word, while
    ``pose3d run --fps`` refused it). A spec that names nothing raises ``SourceError``."""
    if fps is None:
        return
    if not is_positive_number(fps):
        raise Pose3DValueError(f"fps must be a positive frame rate, got {fps!r}")
    if spec is not None and "fps" not in accepted_options(spec):
        raise Pose3DValueError(f"fps= is for a folder of images or a video file; source {spec!r} "
                               "keeps its own clock")
