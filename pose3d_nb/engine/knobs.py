"""What a ``PoseEngine`` runs with, read and changed through properties.

``EngineKnobs`` is mixed into ``PoseEngine``: the lifter's temporal knobs (window, lookahead,
flip; changeable while running), the names of the source, detector and lifter, and all of them
as one ``Settings``. It only reads and assigns the engine's parts; it starts nothing.

Only the properties with a setter are assigned (``window``, ``lookahead``, ``flip``,
``lift_settings``, ``max_frames``). Assigning any other public name the engine has (a method,
a reading) or takes when it is made (``detector``, ``lifter``, ``capacity``...) raises
``Pose3DAttributeError`` naming the call that does it: such an assignment changed nothing, and
``engine.follow = "centre"`` hid the ``follow`` method (a click on a person then failed).
"""

from __future__ import annotations

import difflib
import inspect
import threading
from typing import TYPE_CHECKING, Any

from pose3d_nb.detectors.follow import follow_text, resolved_follow, single_person_of
from pose3d_nb.errors import Pose3DAttributeError
from pose3d_nb.lifting.choice import LifterInfo, describe_lifter
from pose3d_nb.lifting.protocol import LiftSettings, lift_knob
from pose3d_nb.settings import Settings

if TYPE_CHECKING:
    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.engine.devices import Devices

#: What to do instead of assigning each of these names on an engine ("{value}": the value
#: assigned): ``PoseEngine``'s keywords that are not settable properties, and the methods and
#: readings whose call is not simply themselves. Every other method or reading says so itself.
_INSTEAD = {
    "detector": "call engine.set_detector({value}) (running or not)",
    "detector_options": "call engine.set_detector(name, **options)",
    "follow": "it is a method: call engine.follow({value})",
    "source": "call engine.set_source({value}) (running or not)",
    "loop": "call engine.set_source(spec, loop=...)",
    "pace": "call engine.set_source(spec, pace=...)",
    "fps": "call engine.set_source(spec, fps=...)",
    "lifter": ("the lifter is chosen when the engine is made: PoseEngine(lifter={value}) "
               "(engine.lifter_info says which runs)"),
    "checkpoint": "the lifter is chosen when the engine is made: PoseEngine(lifter={value})",
    "settings": ("give new settings when the engine is made, PoseEngine(settings=...); window, "
                 "lookahead and flip change by assignment"),
    **{name: f"it is set when the engine is made: PoseEngine({name}={{value}})"
       for name in ("capacity", "out_dir", "session_interval", "torch_threads", "overwrite",
                    "camera", "fov", "focal", "height")},
}


def _shown(value: Any) -> str:
    """``value`` as the message's example call shows it (short)."""
    text = repr(value)
    return text if len(text) <= 40 else "..."


class EngineKnobs:
    """The engine's choices as properties; needs ``_lifter``, ``_lifter_spec``, ``_knob_lock``,
    ``_devices``, ``buffer`` and ``_out_dir_setting`` from the class it is mixed into."""

    _lifter: Any
    _lifter_spec: Any
    _knob_lock: threading.Lock
    _devices: Devices
    buffer: RollingBuffer
    _out_dir_setting: str | None

    def __setattr__(self, name: str, value: Any) -> None:
        """Assign ``name``; ``Pose3DAttributeError`` (naming the call to make instead) for a
        public name that is not a settable property: a method, a reading, or a keyword the engine
        is made with (see the module's docstring). A callable put in a method's place (a test's
        ``monkeypatch``) is assigned; so is a new name the engine does not have, unless it is a
        letter or two off one of its settings (a typo: refused, naming the setting)."""
        if not name.startswith("_"):
            refusal = _refusal(type(self), name, value)
            if refusal is not None:
                raise Pose3DAttributeError(f"engine.{name} cannot be assigned: {refusal}")
        super().__setattr__(name, value)

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

    window = lift_knob(
        "window", "Frames the lifter may use per prediction (0 = all up to the receptive field).")
    lookahead = lift_knob("lookahead", "Output delay in frames: more future context, more latency.")
    flip = lift_knob(
        "flip", "Test-time flip augmentation (VideoPose3D only; costs about 2x lifter time).")

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


def _refusal(cls: type, name: str, value: Any) -> str | None:
    """Why ``name = value`` on an instance of ``cls`` (an engine) is refused, and what to do
    instead; None when it is assigned (a settable property, or a name the class does not have)."""
    attribute = inspect.getattr_static(cls, name, None)
    if isinstance(attribute, property):
        if attribute.fset is not None:
            return None
        otherwise = (f"it is a reading of the engine, not a setting (settable: "
                     f"{', '.join(settable_names(cls))})")
    elif callable(attribute) or isinstance(attribute, (staticmethod, classmethod)):
        if callable(value):  # a function put in the method's place, as monkeypatch does
            return None
        otherwise = f"it is a method: call engine.{name}(...)"
    elif name in _INSTEAD:  # a keyword of PoseEngine(...) that is no attribute
        otherwise = ""
    else:
        # A new name is the caller's own, assigned; one a letter or two off a setting is a typo
        # (engine.lookahed = 3 changed nothing, silently).
        known = [*settable_names(cls), *_INSTEAD]
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.8)
        if not close:
            return None
        return f"the engine has no {name!r}; did you mean engine.{close[0]}?"
    return _INSTEAD[name].format(value=_shown(value)) if name in _INSTEAD else otherwise


def settable_names(cls: type) -> list[str]:
    """The public names an engine of class ``cls`` takes by assignment: its properties with a
    setter (window, lookahead, flip, lift_settings, max_frames)."""
    return sorted(name for name in dir(cls) if not name.startswith("_")
                  and isinstance(inspect.getattr_static(cls, name), property)
                  and inspect.getattr_static(cls, name).fset is not None)
