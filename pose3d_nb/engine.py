"""The real-time engine: frames -> 2D keypoints -> 3D joints on background threads.

Three threads, one stage each, joined by small hand-offs:

    capture  --(latest frame / bounded queue)-->  detect  --(bounded queue)-->  lift + record

The 2D detector and the lifter release the GIL in their native code, so on two cores they run
at the same time. A live source hands over only its newest frame (older ones are dropped and
counted, so no backlog builds up); a file source goes through a bounded queue so every frame is
processed. The notebook kernel's own thread never does pose work: it reads the rolling buffer.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pose3d_nb.buffer import PoseSample, RollingBuffer
from pose3d_nb.detectors.detection import Detection
from pose3d_nb.lifting.choice import choose_lifter, require_world_landmarks
from pose3d_nb.lifting.model import TemporalModel
from pose3d_nb.lifting.pose import LiftedPose
from pose3d_nb.recording import write_csv, write_latest_pose, write_session
from pose3d_nb.sources.frame import Frame

_END = object()  # end of a file source


class EngineError(RuntimeError):
    """What stopped the engine's worker: the stage, the frame it was on, the original exception."""

    def __init__(self, stage: str, frame_index: int | None, cause: BaseException):
        where = f" on frame {frame_index}" if frame_index is not None else ""
        super().__init__(f"{stage} failed{where}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.frame_index = frame_index
        self.__cause__ = cause


@dataclass(frozen=True)
class LifterInfo:
    """Which lifter runs. receptive_field/max_lookahead are None/0 for the per-frame fallback."""

    name: str
    is_fallback: bool
    temporal: bool
    receptive_field: int | None
    max_lookahead: int
    hint: str
    checkpoint: str | None


@dataclass(frozen=True)
class LiveView:
    """What a display needs: the newest processed frame and the newest 3D pose.

    image: (H, W, 3) RGB uint8; detection: its 2D result; joints_3d: (17, 3) world metres of the
    newest lifted frame (``joints_frame_index``; it trails ``frame_index`` by the lookahead), None
    before the first pose.
    """

    image: np.ndarray
    detection: Detection
    frame_index: int
    joints_3d: np.ndarray | None
    joints_valid: bool
    joints_frame_index: int | None


@dataclass(frozen=True)
class EngineStats:
    """A consistent reading of the live counters; times in milliseconds, rates per second."""

    running: bool
    frames_in: int
    processed: int
    dropped: int
    fps: float
    latency_ms_median: float | None
    latency_ms_p95: float | None
    stage_ms: dict[str, float]
    detector: str
    lifter: str
    fallback: bool
    hint: str
    source: str
    window: int
    lookahead: int
    flip: bool
    finished: bool
    error: str | None


@dataclass
class _Counters:
    frames_in: int = 0
    processed: int = 0
    dropped: int = 0
    done_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=120))
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=300))
    stage: dict[str, collections.deque] = field(
        default_factory=lambda: {s: collections.deque(maxlen=300) for s in ("decode", "detect", "lift")}
    )


class _LatestSlot:
    """A one-item mailbox: put replaces the unread item (returns True when one was dropped).

    ``get`` raises ``queue.Empty`` on timeout, like ``queue.Queue``; after ``finish()`` it hands
    out the unread item, then the end marker, so a source's last frame is not lost.
    """

    def __init__(self) -> None:
        self._item: Any = None
        self._full = False
        self._finished = False
        self._cond = threading.Condition()

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify()

    def put(self, item: Any) -> bool:
        with self._cond:
            dropped = self._full
            self._item, self._full = item, True
            self._cond.notify()
            return dropped

    def get(self, timeout: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._finished, timeout):
                raise queue.Empty
            if not self._full:
                return _END
            self._full = False
            item, self._item = self._item, None
            return item


def _percentile(values, q: float) -> float | None:
    return float(np.percentile(np.fromiter(values, float), q)) if values else None


class PoseEngine:
    """Runs capture, 2D detection and 3D lifting in the background and records the result.

    Args:
        source: ``open_source`` spec ("sample", "camera", "camera:N", a path) or a source object.
        detector: detector backend name ("mediapipe", "detectron2") or a detector object.
        checkpoint: the lifter (see ``lifting.choice.choose_lifter``): "auto" (the official
            checkpoint in model/ if present, else the shipped mocap lifter fused with MediaPipe's
            3D), "shipped", "mediapipe" or None (MediaPipe's per-frame world landmarks), a path
            (errors if unusable), or a ``TemporalModel``.
        window, lookahead, flip: the VideoPose3D streaming knobs (see ``StreamingLifter``).
        capacity: rows kept in the rolling buffer.
        out_dir: where ``joints.npy`` and ``session.npz`` go; None records nothing to disk.
        loop, pace: passed to file sources (repeat at the end; play at the file's frame rate).
        session_interval: seconds between periodic ``session.npz`` writes while running.
        torch_threads: threads for the lifter's matrix products (1 leaves the other core to the
            detector; measured faster than 2 under load, see README). Set on the lift thread
            only: torch's thread count for the rest of the process (your cells) is unchanged.
    """

    def __init__(
        self,
        source: Any = "sample",
        detector: Any = "mediapipe",
        checkpoint: str | Path | TemporalModel | None = "auto",
        window: int = 0,
        lookahead: int = 0,
        flip: bool = False,
        capacity: int = 3000,
        out_dir: str | Path | None = "out_files",
        loop: bool | None = None,
        pace: bool | None = None,
        session_interval: float = 2.0,
        torch_threads: int | None = 1,
        detector_options: dict[str, Any] | None = None,
    ):
        self.buffer = RollingBuffer(capacity)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.session_interval = session_interval
        self._source_spec, self._source_options = source, self._file_options(loop, pace)
        self._detector_spec, self._detector_options = detector, dict(detector_options or {})
        self._torch_threads = torch_threads
        self._lifter = choose_lifter(checkpoint)
        self.window, self.lookahead, self.flip = window, lookahead, flip
        self._lock = threading.RLock()  # serialises start/stop/set_* calls
        self._swap_lock = threading.Lock()  # hand-over of a new source/detector to a worker
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._error: EngineError | None = None
        self._counters = _Counters()
        self._segment = -1
        self._source = None
        self._detector = None
        self._pending_source = None
        self._pending_detector = None
        self._created_detectors: set[int] = set()
        self._view: LiveView | None = None
        self._view_changed = threading.Condition()
        self._latest_pose: LiftedPose | None = None
        self._detector_name = detector if isinstance(detector, str) else getattr(detector, "name", "custom")

    # ------------------------------------------------------------------ configuration
    @staticmethod
    def _file_options(loop: bool | None, pace: bool | None) -> dict[str, bool]:
        return {k: v for k, v in (("loop", loop), ("pace", pace)) if v is not None}

    @property
    def lifter_info(self) -> LifterInfo:
        """Which lifter runs (a VideoPose3D network or MediaPipe's 3D) and what it supports."""
        lifter = self._lifter
        checkpoint = getattr(lifter, "checkpoint", None)
        return LifterInfo(
            name=lifter.name,
            is_fallback=lifter.is_fallback,
            temporal=lifter.temporal,
            receptive_field=lifter.receptive_field,
            max_lookahead=lifter.max_lookahead,
            hint=lifter.hint,
            checkpoint=str(checkpoint) if checkpoint else None,
        )

    # The knobs live on the lifter, which validates them (the fallback accepts only what it can do).
    @property
    def window(self) -> int:
        """Frames the lifter may use per prediction (0 = all up to the receptive field)."""
        return self._lifter.window

    @window.setter
    def window(self, value: int) -> None:
        self._lifter.window = int(value)

    @property
    def lookahead(self) -> int:
        """Output delay in frames: more future context, more latency."""
        return self._lifter.lookahead

    @lookahead.setter
    def lookahead(self, value: int) -> None:
        self._lifter.lookahead = int(value)

    @property
    def flip(self) -> bool:
        """Test-time flip augmentation (VideoPose3D only; costs about 2x lifter time)."""
        return self._lifter.flip

    @flip.setter
    def flip(self, value: bool) -> None:
        self._lifter.flip = bool(value)

    @property
    def detector_name(self) -> str:
        """The 2D detector's backend name (or the name of the detector object given)."""
        return self._detector_name

    @property
    def source_name(self) -> str:
        """What the frames come from: the open source's name, else the spec to open."""
        source = self._source
        if source is not None:
            return source.name
        spec = self._source_spec
        return spec if isinstance(spec, str) else getattr(spec, "name", str(spec))

    # ------------------------------------------------------------------ opening things
    def _open_source(self, spec):
        from pose3d_nb.sources import open_source
        from pose3d_nb.sources.images import IMAGE_SUFFIXES

        path = Path(spec).expanduser() if isinstance(spec, (str, Path)) else None
        takes_file_options = path is not None and (
            str(spec).strip().lower() == "sample"
            or (path.is_file() and path.suffix.lower() not in IMAGE_SUFFIXES)
        )
        return open_source(spec, **(self._source_options if takes_file_options else {}))

    def _open_detector(self, spec, options):
        if not isinstance(spec, str):
            return spec  # the caller's object: used, never closed by the engine
        from pose3d_nb.detectors import create_detector

        detector = create_detector(spec, **options)
        self._created_detectors.add(id(detector))
        return detector

    def _close_detector(self, detector) -> None:
        """Close a detector the engine created; leave the caller's own objects alone."""
        if detector is not None and id(detector) in self._created_detectors:
            self._created_detectors.discard(id(detector))
            with contextlib.suppress(Exception):
                detector.close()

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
            self._close_devices()  # a run that ended on its own (end of file, error) left them open
            require_world_landmarks(self._lifter, self._detector_spec)
            if getattr(self._source_spec, "closed", False):
                raise ValueError(
                    f"the source object {self._source_spec!r} was closed when the engine stopped; "
                    "pass a spec ('sample', 'camera', 'browser camera', a path) to restart freely"
                )
            source = self._open_source(self._source_spec)
            try:
                detector = self._open_detector(self._detector_spec, self._detector_options)
            except BaseException:
                source.close()
                raise
            self._source, self._detector = source, detector
            self._error = None
            self._stop.clear()
            self._finished.clear()
            self._counters = _Counters()
            self._segment += 1
            self._lifter.reset()
            self._set_view(None)
            self._latest_pose = None
            frames: queue.Queue | _LatestSlot = _LatestSlot() if source.is_live else queue.Queue(maxsize=2)
            results: queue.Queue = queue.Queue(maxsize=4)
            self._threads = [
                threading.Thread(
                    target=self._guard,
                    args=("capture", self._capture_loop, frames),
                    name="pose3d-capture",
                    daemon=True,
                ),
                threading.Thread(
                    target=self._guard,
                    args=("detect", self._detect_loop, frames, results),
                    name="pose3d-detect",
                    daemon=True,
                ),
                threading.Thread(
                    target=self._guard,
                    args=("lift", self._lift_loop, results),
                    name="pose3d-lift",
                    daemon=True,
                ),
            ]
            for thread in self._threads:
                thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop and join every thread, close source and detector, write the session file."""
        with self._lock:
            self._stop.set()
            source = self._source
            if source is not None:
                # Unblocks a camera read; BaseSource waits for the read to finish first.
                threading.Thread(target=source.close, daemon=True).start()
            try:
                self._join(timeout)
            finally:
                self._close_devices()
                self._write_session()

    def _join(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            raise RuntimeError(f"engine threads did not stop within {timeout} s: {alive}")
        self._threads = []

    def _close_devices(self) -> None:
        # Sources are closed even when the caller passed the object: that releases the camera.
        if self._source is not None:
            with contextlib.suppress(Exception):
                self._source.close()
        self._close_detector(self._detector)
        self._close_detector(self._pending_detector)
        pending_source = self._pending_source
        if pending_source is not None:
            with contextlib.suppress(Exception):
                pending_source[1].close()
        self._source = self._detector = self._pending_detector = self._pending_source = None

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
            if loop is not None or pace is not None:
                self._source_options = self._file_options(loop, pace)
            if not self.running:
                self._source_spec = spec
                return
            new = self._open_source(spec)
            if new.is_live != self._source.is_live:
                # The hand-off between threads differs for live and file sources: restart.
                if new is not spec:
                    new.close()  # opened from a spec here; start() opens it again
                self.stop()
                self._source_spec = spec
                self.start()
                return
            with self._swap_lock:
                old, self._pending_source = self._pending_source, (spec, new)
                current = self._source
            # The capture thread swaps between reads; a live read may block (a paused browser
            # camera waits indefinitely), so end it: the thread then takes the new source.
            if current is not None:
                threading.Thread(target=current.close, daemon=True).start()
            if old is not None:
                old[1].close()

    def set_detector(self, name: Any, **options: Any) -> None:
        """Switch 2D detector; while running the new one is created here and swapped in."""
        with self._lock:
            name_str = name if isinstance(name, str) else getattr(name, "name", "custom")
            require_world_landmarks(self._lifter, name)
            if not self.running:
                self._detector_spec, self._detector_options = name, options
                self._detector_name = name_str
                return
            new = self._open_detector(name, options)
            with self._swap_lock:
                old, self._pending_detector = self._pending_detector, new
            self._detector_spec, self._detector_options, self._detector_name = name, options, name_str
            self._close_detector(old)

    # ------------------------------------------------------------------ worker threads
    def _take_pending(self, attribute: str) -> Any:
        """Claim a replacement handed over by ``set_source``/``set_detector`` (under their lock)."""
        if getattr(self, attribute) is None:  # the common case: no lock on the hot path
            return None
        with self._swap_lock:
            pending = getattr(self, attribute)
            setattr(self, attribute, None)
            return pending

    def _guard(self, stage: str, loop, *args) -> None:
        current: dict[str, int | None] = {"frame": None}
        try:
            loop(current, *args)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised to the caller
            if self._error is None:
                self._error = EngineError(stage, current["frame"], exc)
            self._stop.set()

    def _wait_put(self, target, item) -> bool:
        while not self._stop.is_set():
            try:
                target.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _capture_loop(self, current, frames) -> None:
        source, segment = self._source, self._segment
        live = source.is_live
        while not self._stop.is_set():
            pending = self._take_pending("_pending_source")
            if pending is not None:
                source.close()
                source, segment = pending[1], segment + 1
                self._source, self._source_spec, self._segment = source, pending[0], segment
            started = time.perf_counter()
            try:
                frame = next(source)
            except StopIteration:
                if self._stop.is_set() or self._pending_source is not None:
                    continue
                if live:
                    frames.finish()
                else:
                    self._wait_put(frames, _END)
                return
            self._counters.stage["decode"].append(time.perf_counter() - started)
            self._counters.frames_in += 1
            current["frame"] = frame.index
            if live:
                if frames.put((segment, frame)):
                    self._counters.dropped += 1
            elif not self._wait_put(frames, (segment, frame)):
                return

    def _detect_loop(self, current, frames, results) -> None:
        detector, segment = self._detector, self._segment
        while not self._stop.is_set():
            try:
                item = frames.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                self._wait_put(results, _END)
                return
            frame_segment, frame = item
            current["frame"] = frame.index
            pending = self._take_pending("_pending_detector")
            if pending is not None:
                self._close_detector(detector)
                detector = self._detector = pending
            if frame_segment != segment:
                segment = frame_segment
                detector.reset()
            started = time.perf_counter()
            detection = detector(frame)
            self._counters.stage["detect"].append(time.perf_counter() - started)
            if not self._wait_put(results, (frame_segment, frame, detection)):
                return

    def _lift_loop(self, current, results) -> None:
        if self._torch_threads:
            import torch

            # Per thread (OpenMP keeps the setting per thread): the user's own torch work in
            # the notebook keeps all cores.
            torch.set_num_threads(self._torch_threads)
        segment, subject, frame_size = self._segment, None, None
        # Frames waiting for their 3D pose, oldest first: the lifter answers in push order. (Not
        # keyed by frame index: a looping file repeats indices.)
        pending: collections.deque[tuple[Frame, Detection]] = collections.deque()
        last_session = time.monotonic()
        while not self._stop.is_set():
            try:
                item = results.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END:
                self._record(self._lifter.flush(), pending, segment)
                self._finished.set()
                self._write_session()
                return
            frame_segment, frame, detection = item
            current["frame"] = frame.index
            track = detection.extras.get("track_id") if detection.found else subject
            if frame_segment != segment or track != subject or detection.frame_size != frame_size:
                # A new source, a different person or a new image size (a browser camera may
                # renegotiate it): never let one temporal window mix them.
                self._record(self._lifter.flush(), pending, segment)
                self._lifter.reset()
                pending.clear()
                segment, subject, frame_size = frame_segment, track, detection.frame_size
            pending.append((frame, detection))
            started = time.perf_counter()
            poses = self._lifter.push(detection)
            self._counters.stage["lift"].append(time.perf_counter() - started)
            self._set_view(LiveView(frame.image, detection, frame.index, *self._view_pose(poses)))
            self._record(poses, pending, segment)
            if self.out_dir is not None and time.monotonic() - last_session > self.session_interval:
                self._write_session()
                last_session = time.monotonic()

    def _view_pose(self, poses: list[LiftedPose]) -> tuple[np.ndarray | None, bool, int | None]:
        pose = poses[-1] if poses else self._latest_pose
        if pose is None:
            return None, False, None
        return pose.joints, pose.valid, pose.frame_index

    def _record(self, poses: list[LiftedPose], pending: collections.deque, segment: int) -> None:
        now = time.monotonic()
        for pose in poses:
            frame, detection = pending.popleft()
            if frame.index != pose.frame_index:
                raise RuntimeError(f"lifter answered for frame {pose.frame_index}, expected {frame.index}")
            self.buffer.append(
                PoseSample(
                    joints_3d=pose.joints,
                    keypoints_2d=detection.keypoints,
                    scores_2d=detection.scores,
                    timestamp=frame.timestamp,
                    frame_index=frame.index,
                    valid=pose.valid,
                    segment=segment,
                )
            )
            self._counters.processed += 1
            self._counters.done_times.append(now)
            self._counters.latencies.append(now - frame.captured_at)
            self._latest_pose = pose
        if poses and self.out_dir is not None:
            write_latest_pose(self.out_dir / "joints.npy", poses[-1].joints)

    # ------------------------------------------------------------------ reading
    def latest_view(self) -> LiveView | None:
        """The newest frame with its 2D and the newest 3D pose, for displays (no copy)."""
        return self._view

    def wait_view(self, previous: LiveView | None, timeout: float) -> LiveView | None:
        """The newest view once it is not ``previous``; after ``timeout`` s, whatever is newest.

        Lets a display wake for each new result instead of polling on its own clock, which
        would miss results whenever two land between polls.
        """
        with self._view_changed:
            self._view_changed.wait_for(lambda: self._view is not previous, timeout)
            return self._view

    def _set_view(self, view: LiveView | None) -> None:
        with self._view_changed:
            self._view = view
            self._view_changed.notify_all()

    def stats(self) -> EngineStats:
        """A snapshot of the live counters (rates over the last ~2-4 s, latencies over 300 frames)."""
        counters = self._counters
        done = list(counters.done_times)
        fps = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else 0.0
        latencies = [1000 * x for x in list(counters.latencies)]
        info = self.lifter_info
        return EngineStats(
            running=self.running,
            frames_in=counters.frames_in,
            processed=counters.processed,
            dropped=counters.dropped,
            fps=fps,
            latency_ms_median=_percentile(latencies, 50),
            latency_ms_p95=_percentile(latencies, 95),
            stage_ms={k: 1000 * float(np.median(list(v))) for k, v in counters.stage.items() if v},
            detector=self._detector_name,
            lifter=info.name,
            fallback=info.is_fallback,
            hint=info.hint,
            source=self.source_name,
            window=self.window,
            lookahead=self.lookahead,
            flip=self.flip,
            finished=self.finished,
            error=str(self._error) if self._error else None,
        )

    def metadata(self) -> dict[str, Any]:
        """What produced the recording (stored as JSON in ``session.npz``)."""
        info = self.lifter_info
        stats = self.stats()
        return {
            "source": self.source_name,
            "detector": self._detector_name,
            "lifter": info.name,
            "lifter_is_fallback": info.is_fallback,
            "checkpoint": info.checkpoint,
            "receptive_field": info.receptive_field,
            "window": self.window,
            "lookahead": self.lookahead,
            "flip": self.flip,
            "fps": round(stats.fps, 2),
            "joints_3d": "Human3.6M-17, world metres, z up, lowest joint per frame at z=0",
            "keypoints_2d": "COCO-17, pixels",
            "error": stats.error,
        }

    def _write_session(self) -> None:
        if self.out_dir is not None and self.buffer.total_appended:
            write_session(self.out_dir / "session.npz", self.buffer.snapshot(), self.metadata())

    def export_csv(self, path: str | Path | None = None) -> Path:
        """Write the buffer as CSV (default ``out_dir/session.csv``); returns the path."""
        if path is None:
            if self.out_dir is None:
                raise ValueError("give a path: this engine has no out_dir")
            path = self.out_dir / "session.csv"
        write_csv(path, self.buffer.snapshot())
        return Path(path)

    def export(self, format: str, path: str | Path | None = None, **options: Any) -> Path:
        """Export the buffer as bvh, trc, c3d, csv or parquet (``pose3d_nb.export.export_session``).

        ``path`` defaults to ``out_dir/session.<format>``; ``options``: fps, smooth, units, segment.
        """
        from pose3d_nb.export import default_path, export_session

        if path is None:
            if self.out_dir is None:
                raise ValueError("give a path: this engine has no out_dir")
            path = default_path(self.out_dir / "session.npz", format)
        return export_session(self.buffer.snapshot(), format, path, metadata=self.metadata(), **options)
