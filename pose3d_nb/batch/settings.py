"""What every video of a batch is processed with: the same ``Settings`` as ``pose3d run``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pose3d_nb.errors import Pose3DTypeError, Pose3DValueError
from pose3d_nb.lifting.registry import LIFTERS, is_lifter_name
from pose3d_nb.settings import Settings, merge

#: The ``Settings`` fields a batch applies to every video (source, out_dir and capacity are per video).
PIPELINE_FIELDS = ("lifter", "detector", "window", "lookahead", "flip", "follow")
#: The world placement's options (``pose3d_nb.world``), the same for every video of a batch.
WORLD_FIELDS = ("camera", "fov", "focal", "height")
#: ``pose3d run``'s options about one run that a batch gives every video (``PoseEngine``'s
#: ``max_frames=`` and ``fps=``). A manifest records each only when it is set, so an output made
#: before they existed, or without them, has neither, and is reused by a run that gives neither.
RUN_FIELDS = ("max_frames", "fps")
#: How a video's rows are placed in the world, recorded in each manifest: outputs made before a
#: video's recording was placed again from its whole clip (no such entry), before the shipped
#: lifter's bones were held over it ("whole clip"), or before a short path's depth was smoothed
#: over a quarter of its length and a path started again after a second unseen by the rows'
#: times ("whole clip, bones held"), are made again.
WORLD_PLACEMENT = "whole clip, bones held, paths by time"
#: The detectors with which "auto" followed the largest person when a manifest recorded "auto"
#: as given (until 2026-12-08; since then it records what "auto" runs, ``recorded_follow``):
#: with any other, Lite and Heavy among them, it kept the detector's own single-person choice.
AUTO_WAS_LARGEST = ("mediapipe", "mediapipe-people")


@dataclass(frozen=True, init=False)
class BatchSettings:
    """The processing settings of a batch; a video's output is reused only when they match.

    ``BatchSettings(lifter="shipped", window=9, export=("bvh",))`` or
    ``BatchSettings(settings=Settings(...), export=...)``: the keywords of ``PIPELINE_FIELDS``
    override ``settings`` (``DEFAULTS`` when not given), exactly as for ``PoseEngine``; they
    read back as attributes (``batch.lifter``).

    Attributes:
        settings (Settings): the engine settings every video runs with; its source, out_dir and
            capacity are replaced per video (``for_video``). Its lifter path is made absolute by
            ``checked()``: workers must see it too.
        export (tuple[str, ...]): export formats written beside each session (``pose3d_nb.export``);
            given as an iterable of names or one string ("bvh" or "bvh,trc").
        camera (str | Intrinsics | None), fov (float | None), focal (float | None), height (float
            | None): the world placement's lens and the person's height, as ``PoseEngine`` takes
            them (``WORLD_FIELDS``; docs/world.md); None: assumed or estimated per video.
            ``checked()`` reads a calibration file once: the workers get its ``Intrinsics``, and
            ``camera_file`` keeps its absolute path and the SHA-256 of the contents read, for the
            manifests (so an output is never recorded against a file edited while it ran).
        camera_file (tuple[str, str] | None): set by ``checked()`` (path, SHA-256), see above.
        max_frames (int | None): most poses each video records (``pose3d run --max-frames``): a
            whole number >= 1, None for every frame. An output made with it is a truncated
            recording: reused only by a run with the same value (``RUN_FIELDS``).
        fps (float | None): the rate every video's frames are stamped at, replacing the rate the
            file stores (``pose3d run --fps``): a positive, finite number, None for each video's
            own rate. Reused only by a run with the same value.
        lifter_sha256 (str | None): set by ``checked()``: the SHA-256 of the weights file the
            lifter loads (``lifting.weights.lifter_weights_file``: "auto" is the official
            checkpoint in model/ when there, else the shipped one), None when it has none (MediaPipe's
            3D). Recorded in the manifests, so output made with other weights under the same
            name or path (a checkpoint trained again, "auto" once the official one is in model/,
            another release's shipped lifter) is made again, never taken as current.
    """

    settings: Settings
    export: tuple[str, ...]
    camera: Any
    fov: float | None
    focal: float | None
    height: float | None
    camera_file: tuple[str, str] | None
    lifter_sha256: str | None
    max_frames: int | None
    fps: float | None

    def __init__(self, settings: Settings | None = None, export: Any = (), camera: Any = None,
                 fov: float | None = None, focal: float | None = None, height: float | None = None,
                 camera_file: tuple[str, str] | None = None, lifter_sha256: str | None = None,
                 max_frames: int | None = None, fps: float | None = None, **choices: Any) -> None:
        unknown = sorted(set(choices) - set(PIPELINE_FIELDS))
        if unknown:
            known = ", ".join((*PIPELINE_FIELDS, *WORLD_FIELDS, *RUN_FIELDS))
            raise Pose3DTypeError(f"unknown batch settings {unknown}; known: {known}")
        object.__setattr__(self, "settings", Settings(**merge(settings, **choices)))
        if isinstance(export, str):  # "bvh" or "bvh,trc", as --export takes it: not its letters
            export = export.split(",")
        object.__setattr__(self, "export", tuple(export))
        for name, value in zip(WORLD_FIELDS, (camera, fov, focal, height), strict=True):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "camera_file", camera_file)
        object.__setattr__(self, "lifter_sha256", lifter_sha256)
        object.__setattr__(self, "max_frames", max_frames)
        object.__setattr__(self, "fps", fps)

    def world_options(self) -> dict[str, Any]:
        """The keyword arguments ``PoseEngine`` takes for the world placement (``WORLD_FIELDS``)."""
        return {name: getattr(self, name) for name in WORLD_FIELDS}

    def run_options(self) -> dict[str, Any]:
        """The keyword arguments ``PoseEngine`` takes for one run (``RUN_FIELDS``: ``max_frames``,
        ``fps``), None where not set."""
        return {name: getattr(self, name) for name in RUN_FIELDS}

    def __getattr__(self, name: str) -> Any:
        if name in PIPELINE_FIELDS:  # batch.lifter, batch.window...: the wrapped Settings' values
            return getattr(self.settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def checked(self) -> BatchSettings:
        """These settings validated and normalised, before any worker starts.

        Returns:
            BatchSettings: a copy with the lifter path absolute, the detector name as
            registered, a follow rule's name as the detectors spell it ("Center" is "centre")
            and the export formats lower-case, sorted and unique: the manifests compare them.

        Raises:
            Pose3DValueError: an unknown detector, lifter name or export format, a lifter file
                that does not exist, a detector that lacks what the lifter requires (MediaPipe's
                3D from detectron2), a window or lookahead beyond what the lifter sees, or a bad
                lens, calibration file or height, a ``max_frames`` that is not a whole number
                >= 1 or an ``fps`` that is not a positive, finite number (a bool is neither; a
                negative window or lookahead is refused earlier, by ``Settings``). A calibration
                file that does not exist is a ``CalibrationNotFoundError``, a ``FileNotFoundError``
                too.
        """
        from pose3d_nb.detectors.follow import AUTO, POLICIES, with_follow
        from pose3d_nb.detectors.registry import DETECTORS, check_lifter_detector
        from pose3d_nb.export import FORMATS
        from pose3d_nb.lifting.choice import check_lift_limits, check_lifter_file
        from pose3d_nb.lifting.weights import lifter_weights_file, sha256_of

        detector = DETECTORS.canonical(self.detector)  # as registered: the manifests compare it
        following, _ = with_follow(detector, self.follow)  # a detector that cannot follow: refused here
        lifter = str(self.lifter)
        if self.lifter is None or lifter.lower() == "none":  # as choose_lifter and pose3d run take it
            lifter = "mediapipe"
        # A Path is a path (CheckpointError as the engine's), not a name it could be read as.
        check_lifter_file(self.lifter if isinstance(self.lifter, os.PathLike) else lifter)
        named = is_lifter_name(lifter) and not isinstance(self.lifter, os.PathLike)  # Path("shipped"): a file
        lifter = LIFTERS[lifter].name if named else str(Path(lifter).expanduser().resolve())
        check_lifter_detector(lifter, following)  # every video would fail on it, one by one
        check_lift_limits(lifter, self.settings.lift)  # each video would fail on it, one by one
        formats = tuple(sorted({str(f).strip().lower() for f in self.export if str(f).strip()}))
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise Pose3DValueError(f"unknown export format(s) {unknown}; choose from {', '.join(FORMATS)}")
        world, camera_file = _checked_world(**self.world_options())
        follow = self.follow
        if isinstance(follow, str) and (named := follow.strip().lower().replace("center", "centre")) in (
                AUTO, "none", *POLICIES):
            follow = named  # --follow Largest and largest make the same output: one manifest value
        run = _checked_run(**self.run_options())
        weights = lifter_weights_file(lifter)
        return BatchSettings(self.settings.replace(lifter=lifter, detector=detector, follow=follow),
                             export=formats, camera_file=camera_file,
                             lifter_sha256=sha256_of(weights) if weights is not None else None,
                             **world, **run)

    def for_video(self, video: str, out_dir: str, capacity: int) -> Settings:
        """The engine ``Settings`` of one video (what ``pose3d run --source VIDEO`` would use)."""
        return self.settings.replace(source=video, out_dir=out_dir, capacity=capacity)

    def as_dict(self) -> dict[str, Any]:
        """The settings as JSON-ready values (what a video's manifest records). A calibration
        file and the lifter's weights are recorded with the SHA-256 of their contents, so an
        edited file is not taken for the one an output was made with. ``max_frames`` and ``fps``
        are recorded only when set (``RUN_FIELDS``): the record of a run without them is as it
        was before they existed. ``follow`` is recorded as what it runs (``recorded_follow``:
        "auto" as "largest" or "none"), so output made when "auto" meant another detector run
        is made again."""
        values = {name: getattr(self.settings, name) for name in PIPELINE_FIELDS}
        values["follow"] = recorded_follow(values["detector"], values["follow"])
        world = {name: getattr(self, name) for name in ("fov", "focal", "height")}
        if self.camera_file is not None:
            camera = {"camera": self.camera_file[0], "camera_sha256": self.camera_file[1]}
        else:
            camera = {"camera": _intrinsics_record(self.camera)}
        run = {name: value for name, value in self.run_options().items() if value is not None}
        return {**values, "lifter_sha256": self.lifter_sha256, **world, **camera,
                "world_placement": WORLD_PLACEMENT, **run, "export": list(self.export)}

    def reusable(self, recorded: dict[str, Any]) -> bool:
        """True when output made with ``recorded`` settings is what these settings would make.

        Every processing setting must be equal; the exports recorded must include the ones
        asked for now (more is fine).

        Args:
            recorded (dict[str, Any]): ``as_dict()`` of the settings the output was made with.

        Returns:
            bool: whether the recorded output can be kept.
        """
        return self.missing_exports(recorded) == ()

    def missing_exports(self, recorded: Any) -> tuple[str, ...] | None:
        """The export formats asked for now that output made with ``recorded`` settings lacks
        (sorted; () when it has them all), or None when its recording is not what these settings
        would make: a processing setting differs (everything ``as_dict`` records but ``export``:
        pipeline, world, lens file and lifter hashes, placement tag, and ``max_frames`` and
        ``fps``, an absent one being None both here and in ``recorded``), or ``recorded`` is not
        a settings record at all.

        Args:
            recorded (Any): ``as_dict()`` of the settings the output was made with, as read
                from its manifest (anything: the file may have been edited).

        Returns:
            tuple[str, ...] | None: e.g. ``("trc",)`` for output made with ``--export bvh`` when
            ``bvh,trc`` is asked for now.
        """
        if not isinstance(recorded, dict):
            return None
        recorded = comparable_settings(recorded)  # an older manifest's "auto": what it ran then
        # A run field not set is absent from as_dict(): compared as None, so that output made with
        # max_frames=N (a truncated recording) or fps=F is never taken by a run without it.
        wanted = {**dict.fromkeys(RUN_FIELDS), **self.as_dict()}
        exports = wanted.pop("export")
        recorded_exports = recorded.get("export", ())
        if not isinstance(recorded_exports, (list, tuple)):
            return None
        if not all(recorded.get(key) == value for key, value in wanted.items()):
            return None
        return tuple(fmt for fmt in exports if fmt not in recorded_exports)


def recorded_follow(detector: Any, follow: Any) -> Any:
    """``follow`` as a manifest records it with ``detector`` (a registered name): "auto" as what
    it runs there ("largest", or "none" for the detector's own choice), None as "none", any other
    value as it is. Output made with "auto" is then made again when "auto" comes to run
    something else (Lite and Heavy: their single-person solution until 2026-12-08, the largest
    person since), and "auto" and "largest" share the output they both make."""
    from pose3d_nb.detectors.follow import resolved_follow

    resolved = resolved_follow(detector, follow)
    return "none" if resolved is None else resolved


def comparable_settings(recorded: dict[str, Any]) -> dict[str, Any]:
    """A manifest's settings record (``as_dict``, as read back) with its ``follow`` as
    ``recorded_follow`` writes it today: an older manifest's "auto" as what it ran when it was
    made ("largest" with ``AUTO_WAS_LARGEST``' detectors, else "none"), None as "none". A record
    without ``follow`` comes back as it is."""
    if "follow" not in recorded:
        return recorded
    follow = recorded["follow"]
    if isinstance(follow, str) and follow.strip().lower() == "auto":
        follow = "largest" if recorded.get("detector") in AUTO_WAS_LARGEST else "none"
    elif follow is None:
        follow = "none"
    return {**recorded, "follow": follow}


def _checked_world(
    camera: Any, fov: Any, focal: Any, height: Any
) -> tuple[dict[str, Any], tuple[str, str] | None]:
    """The world options checked before any worker starts (``Pose3DValueError`` naming a bad
    lens, calibration file or height) and as the workers get them: numbers as floats, a
    calibration file read once into its ``Intrinsics``; and the file's (absolute path, SHA-256)."""
    import hashlib

    from pose3d_nb.world.intrinsics import load_calibration
    from pose3d_nb.world.scale import check_world_options

    check_world_options(camera, fov, focal, height)  # at most one lens; each value checked
    camera_file = None
    if isinstance(camera, (str, Path)):
        path = Path(camera).expanduser().resolve()
        contents = path.read_bytes()
        camera = load_calibration(path)
        if path.read_bytes() != contents:  # edited between the two reads: read it once more
            raise Pose3DValueError(f"{path} changed while it was being read; run the batch again")
        camera_file = (str(path), hashlib.sha256(contents).hexdigest())
    numbers = {name: None if value is None else float(value)
               for name, value in (("fov", fov), ("focal", focal), ("height", height))}
    return {"camera": camera, **numbers}, camera_file


def _checked_run(max_frames: Any, fps: Any) -> dict[str, Any]:
    """``max_frames`` and ``fps`` checked before any worker starts (``Pose3DValueError`` naming a
    bad one, as ``PoseEngine`` and ``pose3d run`` refuse it) and as the workers and the manifests
    get them: a plain int and float (a numpy scalar is no JSON), None left as it is."""
    from pose3d_nb.engine.switching import check_source_fps
    from pose3d_nb.recording.recorder import checked_max_frames

    max_frames = checked_max_frames(max_frames)
    check_source_fps(fps)  # a video file takes a rate: only the value is checked
    return {"max_frames": max_frames, "fps": None if fps is None else float(fps)}


def _intrinsics_record(camera: Any) -> dict[str, Any] | None:
    """An ``Intrinsics`` given by hand as plain JSON numbers (None stays None)."""
    if camera is None:
        return None
    return {"fx": float(camera.fx), "fy": float(camera.fy), "cx": float(camera.cx), "cy": float(camera.cy),
            "width": int(camera.width), "height": int(camera.height),
            "distortion": [float(d) for d in camera.distortion], "source": str(camera.source)}
