"""``PoseEngine``: frames -> 2D keypoints -> 3D joints on background threads, recorded.

Three threads, one stage each, joined by small hand-offs:

    capture  --(latest frame / bounded queue)-->  detect  --(bounded queue)-->  lift + record

The 2D detector and the lifter release the GIL in their native code, so on two cores they run
at the same time. A live source hands over only its newest frame (older ones are dropped and
counted, so no backlog builds up); a file source goes through a bounded queue so every frame is
processed. The notebook kernel's own thread never does pose work: it reads the rolling buffer.

The parts it wires: ``Devices`` (source and detector), a lifter from ``choose_lifter``, a
``Recorder`` (buffer and files), ``RunCounters`` (stats) and a ``ViewBoard`` (for displays).
"""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

from pose3d_nb.buffer import RollingBuffer
from pose3d_nb.detectors.registry import detector_provides
from pose3d_nb.engine.devices import Devices
from pose3d_nb.engine.live import LiveView, ViewBoard
from pose3d_nb.engine.stats import EngineStats, RunCounters
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.lifting.choice import LifterInfo, choose_lifter, describe_lifter
from pose3d_nb.lifting.protocol import LiftedPose, LiftSettings, WindowBreaks
from pose3d_nb.lifting.registry import require_capabilities
from pose3d_nb.mailbox import LatestSlot
from pose3d_nb.recording import Recorder
from pose3d_nb.settings import DEFAULTS, Settings

_END = LatestSlot.END  # end of the source, through either hand-off


class EngineError(Pose3DRuntimeError):
    """What stopped the engine's worker: the stage, the frame it was on, the original exception."""

    def __init__(self, stage: str, frame_index: int | None, cause: BaseException):
        where = f" on frame {frame_index}" if frame_index is not None else ""
        super().__init__(f"{stage} failed{where}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.frame_index = frame_index
        self.__cause__ = cause


class PoseEngine:
    """Runs capture, 2D detection and 3D lifting in the background and records the result.

    Args (defaults: ``pose3d_nb.settings.DEFAULTS``):
        source: ``open_source`` spec ("sample", "camera", "camera:N", a path) or a source object.
        detector: detector backend name ("mediapipe", "detectron2") or a detector object.
        checkpoint: the lifter (see ``lifting.choice.choose_lifter``): "auto" (the official
            checkpoint in model/ if present, else the shipped mocap lifter fused with MediaPipe's
            3D), "shipped", "mediapipe" or None (MediaPipe's per-frame world landmarks), a path
            (errors if unusable), or a ``TemporalModel``.
        window, lookahead, flip: the temporal knobs (see ``LiftSettings``); changeable while running.
        capacity: rows kept in the rolling buffer.
        out_dir: the recording folder (``joints.npy``, ``session.journal/`` while running,
            ``session.npz`` after a stop; see ``pose3d_nb.recording``); None: memory only.
            A folder holding another recording is refused at ``start`` unless ``overwrite``.
        loop, pace: for file sources (repeat at the end; play at the file's frame rate).
        session_interval: seconds between chunk saves while running (what a crash may lose).
        torch_threads: threads for the lifter's matrix products (1 leaves the other core to the
            detector; measured faster than 2 under load, see README). Set on the lift thread
            only: torch's thread count for the rest of the process (your cells) is unchanged.
    """

    def __init__(
        self,
        source: Any = DEFAULTS.source,
        detector: Any = DEFAULTS.detector,
        checkpoint: Any = DEFAULTS.lifter,
        window: int = DEFAULTS.window,
        lookahead: int = DEFAULTS.lookahead,
        flip: bool = DEFAULTS.flip,
        capacity: int = DEFAULTS.capacity,
        out_dir: str | Path | None = DEFAULTS.out_dir,
        loop: bool | None = None,
        pace: bool | None = None,
        session_interval: float = 2.0,
        torch_threads: int | None = 1,
        detector_options: dict[str, Any] | None = None,
        *,
        overwrite: bool = False,
    ):
        self.buffer = RollingBuffer(capacity)
        self._lifter_spec = checkpoint
        self._lifter = choose_lifter(checkpoint)
        self._lifter.settings = LiftSettings(window, lookahead, flip)
        self._devices = Devices(source, self._file_options(loop, pace), detector, detector_options or {})
        self._recorder = Recorder(self.buffer, out_dir, self.metadata, session_interval, overwrite)
        self._torch_threads = torch_threads
        self._lock = threading.RLock()  # serialises start/stop/set_* calls
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._error: EngineError | None = None
        self._counters = RunCounters()
        self._segment = -1
        self._board = ViewBoard()
        self._latest_pose: LiftedPose | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PoseEngine:
        """An engine for ``settings``; ``options``: the other keyword arguments (loop, pace...)."""
        return cls(settings.source, settings.detector, settings.lifter, settings.window,
                   settings.lookahead, settings.flip, settings.capacity, settings.out_dir, **options)

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _file_options(loop: bool | None, pace: bool | None) -> dict[str, bool]:
        return {k: v for k, v in (("loop", loop), ("pace", pace)) if v is not None}

    @property
    def settings(self) -> Settings:
        """The current choices as one ``Settings`` (specs that are objects appear by name)."""
        lifter = self._lifter_spec
        return Settings(
            source=self.source_name, detector=self.detector_name,
            lifter=lifter if isinstance(lifter, str) or lifter is None else self._lifter.name,
            window=self.window, lookahead=self.lookahead, flip=self.flip,
            capacity=self.buffer.capacity, out_dir=str(self.out_dir) if self.out_dir else None,
        )

    @property
    def out_dir(self) -> Path | None:
        """Where the session is written (None: memory only)."""
        return self._recorder.out_dir

    @property
    def session_interval(self) -> float:
        return self._recorder.session_interval

    @property
    def max_frames(self) -> int | None:
        """Most poses to record (None: no limit); the run finishes on the last one."""
        return self._recorder.limit

    @max_frames.setter
    def max_frames(self, value: int | None) -> None:
        self._recorder.limit = value

    @property
    def recording_id(self) -> str | None:
        """The recording's identity (``metadata["recording_id"]`` of its session), once started."""
        return self._recorder.recording_id

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

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True while the worker threads are alive."""
        return any(t.is_alive() for t in self._threads)

    @property
    def finished(self) -> bool:
        """True once a file source has been fully processed."""
        return self._finished.is_set()

    @property
    def error(self) -> EngineError | None:
        """The exception that stopped the worker, if any (the buffer and files are kept)."""
        return self._error

    def raise_if_failed(self) -> None:
        """Re-raise the worker's ``EngineError`` in the caller's thread, if there was one."""
        if self._error is not None:
            raise self._error

    def start(self) -> None:
        """Open the source and detector (errors raise here, in the caller) and start the threads."""
        with self._lock:
            if self.running:
                return
            self._join()
            spec = self._devices.detector_spec
            require_capabilities(self._lifter, detector_provides(spec), spec)
            self._recorder.begin()  # checks out_dir before anything is opened; writes nothing yet
            source, _ = self._devices.open()
            self._error = None
            self._stop.clear()
            self._finished.clear()
            self._counters = RunCounters()
            self._segment += 1
            self._lifter.reset()
            self._board.show(None)
            self._latest_pose = None
            frames: queue.Queue | LatestSlot = LatestSlot() if source.is_live else queue.Queue(maxsize=2)
            results: queue.Queue = queue.Queue(maxsize=4)
            stages = {"capture": (self._capture_loop, frames), "detect": (self._detect_loop, frames, results),
                      "lift": (self._lift_loop, results)}
            self._threads = [
                threading.Thread(target=self._guard, args=(stage, *args), name=f"pose3d-{stage}", daemon=True)
                for stage, args in stages.items()
            ]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join every thread, close source and detector, write the session file."""
        with self._lock:
            self._stop.set()
            source = self._devices.source
            if source is not None:
                # Unblocks a camera read; BaseSource waits for the read to finish first.
                threading.Thread(target=source.close, daemon=True).start()
            try:
                self._join(timeout)
            finally:
                self._devices.close()
                self._recorder.finish(failed=self._error is not None)

    def _join(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise Pose3DRuntimeError(f"engine threads did not stop within {timeout} s: {alive}")
        self._threads = []

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker ends (file finished, error, or stop); True if it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not self.running

    def __enter__(self) -> PoseEngine:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ changes while running
    def set_source(self, spec: Any, loop: bool | None = None, pace: bool | None = None) -> None:
        """Switch source; while running the new one is opened here (errors raise) and swapped in."""
        with self._lock:
            devices = self._devices
            if loop is not None or pace is not None:
                devices.source_options = self._file_options(loop, pace)
            if not self.running:
                devices.source_spec = spec
                return
            new = devices.open_source(spec)
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
            if not self.running:
                self._devices.detector_spec, self._devices.detector_options = name, options
                return
            self._devices.offer_detector(name, options)

    # ------------------------------------------------------------------ worker threads
    def _guard(self, stage: str, loop, *args) -> None:
        current: dict[str, int | None] = {"frame": None}
        try:
            loop(current, *args)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised to the caller
            if self._error is None:
                self._error = EngineError(stage, current["frame"], exc)
            self._stop.set()

    def _wait_put(self, target: queue.Queue, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    @staticmethod
    def _take(source: queue.Queue | LatestSlot) -> Any:
        """The next item from either hand-off, or None after 0.1 s (to re-check for a stop)."""
        if isinstance(source, LatestSlot):
            return source.take(0.1)
        try:
            return source.get(timeout=0.1)
        except queue.Empty:
            return None

    def _capture_loop(self, current, frames) -> None:
        devices, segment = self._devices, self._segment
        source = devices.source
        while not self._stop.is_set():
            replacement = devices.claim_source()
            if replacement is not None:
                source.close()
                source, segment = replacement, segment + 1
                self._segment = segment
            started = time.perf_counter()
            try:
                frame = next(source)
            except StopIteration:
                if self._stop.is_set() or devices.source_pending:
                    continue
                if source.is_live:
                    frames.finish()
                else:
                    self._wait_put(frames, _END)
                return
            self._counters.timed("decode", started)
            self._counters.frames_in += 1
            current["frame"] = frame.index
            if source.is_live:
                if frames.put((segment, frame)):
                    self._counters.dropped += 1
            elif not self._wait_put(frames, (segment, frame)):
                return

    def _detect_loop(self, current, frames, results) -> None:
        devices, segment = self._devices, self._segment
        detector = devices.detector
        while not self._stop.is_set():
            item = self._take(frames)
            if item is None:
                continue
            if item is _END:
                self._wait_put(results, _END)
                return
            frame_segment, frame = item
            current["frame"] = frame.index
            detector = devices.claim_detector() or detector
            if frame_segment != segment:
                segment = frame_segment
                detector.reset()
            started = time.perf_counter()
            detection = detector(frame)
            self._counters.timed("detect", started)
            if not self._wait_put(results, (frame_segment, frame, detection)):
                return

    def _lift_loop(self, current, results) -> None:
        if self._torch_threads:
            import torch

            # Per thread (OpenMP keeps the setting per thread): the user's own torch work in
            # the notebook keeps all cores.
            torch.set_num_threads(self._torch_threads)
        lifter = self._lifter
        segment, breaks = self._segment, WindowBreaks()
        while not self._stop.is_set():
            item = self._take(results)
            if item is None:
                continue
            if item is _END:
                self._record(lifter.flush(), segment)
                self._finished.set()
                self._recorder.flush()
                return
            frame_segment, frame, detection = item
            current["frame"] = frame.index
            if breaks.breaks_at(detection, frame_segment):
                self._record(lifter.flush(), segment)  # the poses held back belong to the old window
                lifter.reset()
                segment = frame_segment
            started = time.perf_counter()
            poses = lifter.push(detection, frame)
            self._counters.timed("lift", started)
            self._record(poses, segment)
            if self._recorder.full:  # max_frames reached: end as a finished file does
                self._finished.set()
                self._stop.set()
                self._recorder.flush()
                return
            newest = self._latest_pose
            self._board.show(LiveView(
                frame.image, detection, frame.index,
                newest.joints if newest else None, bool(newest and newest.valid),
                newest.frame_index if newest else None,
            ))

    def _record(self, poses: list[LiftedPose], segment: int) -> None:
        self._recorder.record(poses, segment)
        now = time.monotonic()
        for pose in poses:
            self._counters.recorded(pose.frame.captured_at if pose.frame is not None else None, now)
        if poses:
            self._latest_pose = poses[-1]

    # ------------------------------------------------------------------ reading
    def latest_view(self) -> LiveView | None:
        """The newest frame with its 2D and the newest 3D pose, for displays (no copy)."""
        return self._board.latest

    def wait_view(self, previous: LiveView | None, timeout: float) -> LiveView | None:
        """The newest view once it is not ``previous``; after ``timeout`` s, whatever is newest.

        Lets a display wake for each new result instead of polling on its own clock, which
        would miss results whenever two land between polls.
        """
        return self._board.wait_for_new(previous, timeout)

    def stats(self) -> EngineStats:
        """A snapshot of the live counters (rates over the last ~2-4 s, latencies over 300 frames)."""
        info = self.lifter_info
        settings = self.lift_settings
        return EngineStats(
            running=self.running, **self._counters.reading(), detector=self.detector_name,
            lifter=info.name, fallback=not info.temporal, hint=info.hint, source=self.source_name,
            window=settings.window, lookahead=settings.lookahead, flip=settings.flip,
            finished=self.finished, error=str(self._error) if self._error else None,
        )

    def metadata(self) -> dict[str, Any]:
        """What produced the recording (stored as JSON in ``session.npz``)."""
        info = self.lifter_info
        stats = self.stats()
        return {
            "source": self.source_name,
            "detector": self.detector_name,
            "lifter": info.name,
            "lifter_temporal": info.temporal,
            "lifter_requires": list(info.requires),
            "checkpoint": info.checkpoint,
            "receptive_field": info.receptive_field,
            "window": stats.window,
            "lookahead": stats.lookahead,
            "flip": stats.flip,
            "fps": round(stats.fps, 2),
            "joints_3d": "Human3.6M-17, world metres, z up, lowest joint per frame at z=0",
            "keypoints_2d": "COCO-17, pixels",
            "error": stats.error,
        }

    def export_csv(self, path: str | Path | None = None) -> Path:
        """Write the recording as CSV (default ``out_dir/session.csv``); returns the path."""
        path = Path(path) if path is not None else self._default_path("session.csv")
        from pose3d_nb.export.table import write_frame_csv

        write_frame_csv(path, self._recorder.session())
        return path

    def export(self, format: str, path: str | Path | None = None, **options: Any) -> Path:
        """Export the recording as bvh, trc, c3d, csv or parquet (``pose3d_nb.export.export_session``).

        ``path`` defaults to ``out_dir/session.<format>``; ``options``: fps, smooth, units, segment.
        """
        from pose3d_nb.export import default_path, export_session

        if path is None:
            path = default_path(self._default_path("session.npz"), format)
        return export_session(self._recorder.session(), format, path, metadata=self.metadata(), **options)

    def _default_path(self, name: str) -> Path:
        if self.out_dir is None:
            raise Pose3DValueError("give a path: this engine has no out_dir")
        return self.out_dir / name
