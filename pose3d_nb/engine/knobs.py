"""What a ``PoseEngine`` runs with, read and changed through properties.

``EngineKnobs`` is mixed into ``PoseEngine``: the lifter's temporal knobs (window, lookahead,
flip; changeable while running), the names of the source, detector and lifter, and all of them
as one ``Settings``. It only reads and assigns the engine's parts; it starts nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from pose3d_nb.detectors.follow import follow_text, resolved_follow, single_person_of
from pose3d_nb.lifting.choice import LifterInfo, describe_lifter
from pose3d_nb.lifting.protocol import LiftSettings
from pose3d_nb.settings import Settings

if TYPE_CHECKING:
    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.engine.devices import Devices


class EngineKnobs:
    """The engine's choices as properties; needs ``_lifter``, ``_lifter_spec``, ``_knob_lock``,
    ``_devices``, ``buffer`` and ``_out_dir_setting`` from the class it is mixed into."""

    _lifter: Any
    _lifter_spec: Any
    _knob_lock: threading.Lock
    _devices: Devices
    buffer: RollingBuffer
    _out_dir_setting: str | None

    @property
    def settings(self) -> Settings:
        """The current choices as one ``Settings`` (specs that are objects appear by name)."""
        lifter = self._lifter_spec
        detector = self.detector_name
        if resolved_follow(detector, self._follow) is not None:
            # "mediapipe" (or Heavy, Lite) with a follow value runs "mediapipe-people": say it
            # as it was asked
            detector = single_person_of(detector, self._devices.detector_options)[0]
        return Settings(
            source=self.source_name, detector=detector,
            lifter=lifter if isinstance(lifter, str) or lifter is None else self._lifter.name,
            window=self.window, lookahead=self.lookahead, flip=self.flip,
            capacity=self.buffer.capacity, out_dir=self._out_dir_setting,
            follow=follow_text(self._follow),
        )

    @property
    def lifter_info(self) -> LifterInfo:
        """Which lifter runs (a VideoPose3D network or MediaPipe's 3D) and what it supports."""
        return describe_lifter(self._lifter)

    @property
    def lift_settings(self) -> LiftSettings:
        """Window, lookahead and flip as one object; assigning one checks it against the lifter."""
        return self._lifter.settings

    @lift_settings.setter
    def lift_settings(self, value: LiftSettings) -> None:
        with self._knob_lock:  # between two lift steps: the recording's log says which rows it made
            self._lifter.settings = value

    @property
    def window(self) -> int:
        """Frames the lifter may use per prediction (0 = all up to the receptive field)."""
        return self._lifter.settings.window

    @window.setter
    def window(self, value: int) -> None:
        self.lift_settings = self.lift_settings.replace(window=value)

    @property
    def lookahead(self) -> int:
        """Output delay in frames: more future context, more latency."""
        return self._lifter.settings.lookahead

    @lookahead.setter
    def lookahead(self, value: int) -> None:
        self.lift_settings = self.lift_settings.replace(lookahead=value)

    @property
    def flip(self) -> bool:
        """Test-time flip augmentation (VideoPose3D only; costs about 2x lifter time)."""
        return self._lifter.settings.flip

    @flip.setter
    def flip(self, value: bool) -> None:
        self.lift_settings = self.lift_settings.replace(flip=value)

    @property
    def detector_name(self) -> str:
        """The 2D detector's backend name (or the name of the detector object given)."""
        return self._devices.detector_name

    @property
    def source_name(self) -> str:
        """What the frames come from: the open source's name, else the spec to open."""
        return self._devices.source_name

    @property
    def source(self) -> Any:
        """The open source object while running (its ``frame_count``, ``is_live``), else None."""
        return self._devices.source
