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

import atexit
import contextlib
import dataclasses
import os
import queue
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pose3d_nb.buffer import RollingBuffer
from pose3d_nb.detectors.detection import checked_detection
from pose3d_nb.detectors.follow import with_follow
from pose3d_nb.detectors.registry import detector_provides
from pose3d_nb.engine.devices import Devices
from pose3d_nb.engine.everyone import EveryoneLifter
from pose3d_nb.engine.exports import EngineExports
from pose3d_nb.engine.handoff import POLL_S, take, wait_put
from pose3d_nb.engine.knobs import EngineKnobs
from pose3d_nb.engine.live import LiveView, ViewBoard
from pose3d_nb.engine.readings import EngineReadings
from pose3d_nb.engine.stats import RunCounters
from pose3d_nb.engine.switching import EngineSwitching, check_source_fps
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.lifting.choice import choose_lifter, give_lens
from pose3d_nb.lifting.protocol import LiftedPose, LiftSettings, WindowBreaks
from pose3d_nb.lifting.registry import require_capabilities
from pose3d_nb.mailbox import LatestSlot
from pose3d_nb.recording import Recorder
from pose3d_nb.recording.folder import remove_empty_out_dir
from pose3d_nb.settings import FROM_SETTINGS, Settings, keyword_only_after, merge, renamed_option
from pose3d_nb.sources import accepted_options
from pose3d_nb.values import is_whole_number
from pose3d_nb.world import WorldStage

_END = LatestSlot.END  # end of the source (or of what was read before a Stop), through either hand-off
#: Seconds a Stop waits (at most half its timeout) for the frames already read to be detected,
#: lifted and recorded: a few frames queued between the stages, well under a second normally.
STOP_DRAIN_S = 3.0


#: Engines started and not stopped since (a file's end does not count: its recording is finished
#: only by stop(), or by the next start()).
_UNSTOPPED: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _stop_unstopped_engines() -> None:
    """Stop, at interpreter exit, every engine that was started and not stopped: a script that
    ends without ``stop()`` (after ``wait()`` on a file, say), a notebook kernel shut down or
    restarted while recording. Its recording is then finished as a stop finishes it
    (``session.npz``, the rows still queued saved); without this the process ended with the
    daemon threads, the last rows unsaved and only the unfinished journal left."""
    for engine in list(_UNSTOPPED):
        with contextlib.suppress(Exception):  # one engine's failure must not keep the next unstopped
            engine.stop()


if hasattr(os, "register_at_fork"):
    # A forked child has none of the engines' threads (only the thread that forked goes on), and
    # its copy of their locks may be held: stopping them there at its exit hung it for good, and
    # would finish the parent's recording from a copy. The parent's engines stay the parent's.
    os.register_at_fork(after_in_child=_UNSTOPPED.clear)


class EngineError(Pose3DRuntimeError):
    """What stopped the engine's worker: the stage, the frame it was on, the original exception."""

    def __init__(self, stage: str, frame_index: int | None, cause: BaseException, after: int | None = None):
        """``frame_index``: the frame the stage failed on (None: unknown); ``after``: for a
        frame that could not be read, the last frame read (its own index is unknown)."""
        where = (f" on frame {frame_index}" if frame_index is not None
                 else f" reading the frame after frame {after}" if after is not None else "")
        super().__init__(f"{stage} failed{where}: {type(cause).__name__}: {cause}")
        self.stage = stage
        self.frame_index = frame_index
        self.__cause__ = cause


def _checked_threads(threads: Any) -> int | None:
    """``torch_threads`` as an int, or None; checked here, since the lift thread sets it only
    once the run has started (-1, 2.5 or "2" ended the run there with torch's RuntimeError)."""
    if threads is None:
        return None
    if not is_whole_number(threads) or threads < 0:
        raise Pose3DValueError(
            f"torch_threads must be a whole number >= 1, or None (or 0) for torch's own count, "
            f"got {threads!r}"
        )
    return int(threads) or None  # 0 was taken as "not set" before: it still is


def _same_folder(a: Path, b: Path) -> bool:
    """One folder under two names (``x/../rec``, a symlink), as the folder's lock sees it."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return Path(a) == Path(b)


class PoseEngine(EngineKnobs, EngineSwitching, EngineReadings, EngineExports):
    """Runs capture, 2D detection and 3D lifting in the background and records the result.

    ``PoseEngine(settings=Settings(...), **overrides)``: every choice of a ``Settings``
    (``DEFAULTS`` when none is given), with the keywords given overriding it. Only ``source``
    is taken by position (``PoseEngine("clip.mp4", lifter="shipped")``); the rest by keyword,
    as ``Pose3D`` and ``batch.process`` take them (by position: deprecated, with a warning).

    Args:
        source: ``open_source`` spec ("sample", "camera", "camera:N", a path) or a source object.
        detector: a registered 2D detector name ("mediapipe", the default; its variants
            "mediapipe-lite", "mediapipe-heavy", "mediapipe-people"; "detectron2"; any added with
            ``register_detector``: ``detectors.registry.known_detectors()`` lists them) or a
            detector object.
        lifter: "auto", "shipped", "mediapipe" (or None), a checkpoint path or a ``TemporalModel``
            (``lifting.choice.choose_lifter`` says which runs for "auto").
        window: frames of 2D history per pose (0 = the receptive field); changeable while running.
        lookahead: output delay in frames, for future context; changeable while running.
        flip: test-time flip augmentation; changeable while running.
        capacity: rows kept in the rolling buffer.
        out_dir: the recording folder (``joints.npy``, ``session.journal/`` while running,
            ``session.npz`` after a stop; see ``pose3d_nb.recording``); None: memory only. A
            relative path is taken in the working folder when the engine is made (``out_dir``
            is then absolute; ``settings`` shows it as given).
            A folder holding another recording is refused at ``start`` unless ``overwrite``.
        loop: for file sources: start again at the end.
        pace: for file sources: play at the file's frame rate.
        fps: for file sources: the rate the frames were taken at. A folder of images has none of
            its own: without it its images are stamped one second apart (speeds and the world
            path's smoothing are then per second, each image a path of its own); a video file's
            replaces the rate it stores. Cameras and the sample keep their own: fps with one
            is refused.
        session_interval: seconds between chunk saves while running (what a crash may lose).
        torch_threads: threads for the lifter's matrix products, a whole number >= 1 (1 leaves
            the other core to the detector), or None (or 0) for torch's own count. Set on the lift thread
            only: torch's thread count for the rest of the process (your cells) is unchanged.
        detector_options: passed to ``create_detector`` with a detector name.
        follow: whom to follow among several people: "largest", "centre", "most-moving", a
            track id or "X,Y" pixels (``detectors.follow``); with "mediapipe" (or
            "mediapipe-lite", "mediapipe-heavy") it runs "mediapipe-people" (with that landmark
            model). "auto" (the default): "largest" where the detector can see everyone (those
            three too), else its own choice. None or "none": the single-person detector's choice.
        settings: the base choices (default ``pose3d_nb.settings.DEFAULTS``).
        overwrite: replace the recording in ``out_dir``, only once this one completes (a run
            that fails or is killed never replaces a complete session).
        checkpoint: the old name of ``lifter``: warns, and goes in the next release.
        camera, fov, focal, height: the lens (calibration file or ``Intrinsics``, degrees, pixels)
            and the person's height in metres, for the world placement (``pose3d_nb.world``).
        max_frames: most poses to record, a whole number >= 1 (None: no limit), as
            ``pose3d run --max-frames``; the run finishes on the last one. Also settable later
            (``engine.max_frames = N``).

    Changing things later: ``window``, ``lookahead``, ``flip``, ``lift_settings`` and
    ``max_frames`` are assigned (``engine.window = 9``, also while running); the source, the
    detector and whom to follow change through ``set_source``, ``set_detector`` and
    ``follow()``; the lifter, ``capacity``, ``out_dir`` and the lens are fixed when the engine is
    made. Assigning any other public name of the engine, or one of those keywords, raises
    ``Pose3DAttributeError`` naming the call to make (it changed nothing before, and
    ``engine.follow = ...`` hid the method).

    Raises:
        Pose3DValueError: an unknown lifter name, an unusable checkpoint, a knob out of range,
            a lifter the detector cannot feed, ``fps`` for a source with its own clock, or
            ``fps`` with a source that names nothing (``SourceError``; without ``fps`` that
            one is found at ``start``).
        Pose3DTypeError: ``settings`` is not a ``Settings``, or both lifter= and checkpoint=.
        Pose3DAttributeError: (later) an assignment of a name that is not settable, see above.
    """

    @keyword_only_after("PoseEngine", 2, (
        "detector", "lifter", "window", "lookahead", "flip", "capacity", "out_dir", "loop", "pace",
        "session_interval", "torch_threads", "detector_options"))
    def __init__(
        self,
        source: Any = FROM_SETTINGS,
        *,
        detector: Any = FROM_SETTINGS,
        lifter: Any = FROM_SETTINGS,
        window: int = FROM_SETTINGS,
        lookahead: int = FROM_SETTINGS,
        flip: bool = FROM_SETTINGS,
        capacity: int = FROM_SETTINGS,
        out_dir: str | Path | None = FROM_SETTINGS,
        loop: bool | None = None,
        pace: bool | None = None,
        session_interval: float = 2.0,
        torch_threads: int | None = 1,
        detector_options: dict[str, Any] | None = None,
        settings: Settings | None = None,
        follow: Any = FROM_SETTINGS,
        checkpoint: Any = FROM_SETTINGS,
        overwrite: bool = False,
        camera: Any = None,
        fov: float | None = None,
        focal: float | None = None,
        height: float | None = None,
        max_frames: int | None = None,
        fps: float | None = None,
    ):
        # stacklevel 4: the caller of PoseEngine(...), past keyword_only_after's frame
        lifter = renamed_option("PoseEngine", "checkpoint", checkpoint, "lifter", lifter, stacklevel=4)
        torch_threads = _checked_threads(torch_threads)  # before the lifter loads
        chosen = merge(settings, source=source, detector=detector, lifter=lifter, window=window,
                       lookahead=lookahead, flip=flip, capacity=capacity, out_dir=out_dir, follow=follow)
        self.buffer = RollingBuffer(chosen["capacity"])
        self._lifter_spec = chosen["lifter"]
        lens = {"camera": camera, "fov": fov, "focal": focal}
        self._lifter = give_lens(choose_lifter(self._lifter_spec), **lens)
        self._lifter.settings = LiftSettings(chosen["window"], chosen["lookahead"], chosen["flip"])
        self._world = WorldStage(camera, fov, focal, height, lean=getattr(self._lifter, "lean_bias", None))
        self._follow = chosen["follow"]
        self._everyone = EveryoneLifter(lambda: give_lens(choose_lifter(self._lifter_spec), **lens),
                                        chosen["capacity"], placer=self._world)
        detector_spec, detector_options = with_follow(chosen["detector"], self._follow, detector_options)
        # Refused now, as Pose3D, batch and pose3d run refuse it (a PoseApp showed it and failed
        # only when Start was pressed): a lifter that needs what the detector does not give.
        require_capabilities(self._lifter, detector_provides(detector_spec), detector_spec)
        check_source_fps(fps, chosen["source"])
        self._devices = Devices(chosen["source"], self._file_options(loop, pace, fps), detector_spec,
                                detector_options)
        self._recorder = Recorder(self.buffer, chosen["out_dir"], self.metadata, session_interval, overwrite,
                                  finalize=self._placed_from_whole_clip)
        self.max_frames = max_frames  # refused here, by name, when not a whole number >= 1
        # The choice as given ("out_files" stays relative in ``settings``); the recorder records
        # into it made absolute now, wherever the working folder goes later.
        self._out_dir_setting = None if self.out_dir is None else str(Path(chosen["out_dir"]).expanduser())
        self._clip_segment: int | None = None  # this run's segment, while it reads one clip (no loop)
        self._torch_threads = torch_threads
        self._lock = threading.RLock()  # serialises start/stop/set_* calls
        self._knob_lock = threading.Lock()  # a lift step and a change of window/lookahead/flip
        self._settings_log: list[dict[str, Any]] = []  # the settings each run of rows was lifted with
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()  # abort: every stage ends at once (an error, a full recording)
        self._stop_reading = threading.Event()  # Stop: read no more, finish what was read
        self._finished = threading.Event()
        self._read_to_end = threading.Event()  # the capture stage met the source's own end
        self._drained = threading.Event()  # the lift stage took the end marker
        self._error: EngineError | None = None
        self._counters = RunCounters()
        self._segment = -1
        self._board = ViewBoard()
        self._latest_pose: LiftedPose | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> PoseEngine:
        """Deprecated: use ``PoseEngine(settings=settings, **options)``."""
        warnings.warn("PoseEngine.from_settings(settings) is deprecated and will be removed in the next "
                      "release; use PoseEngine(settings=settings)", DeprecationWarning, stacklevel=2)
        return cls(settings=settings, **options)

    # ------------------------------------------------------------------ configuration
    @property
    def out_dir(self) -> Path | None:
        """Where the session is written, an absolute path (None: memory only)."""
        return self._recorder.out_dir

    @property
    def session_interval(self) -> float:
        """Seconds between the journal's chunk saves while running (what a crash may lose)."""
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

    # ------------------------------------------------------------------ lifecycle
    @property
    def running(self) -> bool:
        """True while the worker threads are alive."""
        return any(t.is_alive() for t in self._threads)

    @property
    def finished(self) -> bool:
        """True once a file source has been fully processed, or ``max_frames`` poses were."""
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
            ended_unstopped = bool(self._threads)  # the last run ended by itself (a file's end), no stop
            self._join()
            spec = self._devices.detector_spec
            require_capabilities(self._lifter, detector_provides(spec), spec)
            if ended_unstopped:
                # Finished as a stop finishes it, while the world stage still holds that run's
                # camera: its video file's rows are placed again from the whole clip (finalize).
                self._recorder.finish(failed=self._error is not None)
            self._finish_ended_runs_into(self.out_dir)
            made = self.out_dir is not None and not self.out_dir.exists()
            self._recorder.begin()  # checks out_dir before anything is opened; writes nothing yet
            try:
                self._begin_run(self._devices.open()[0])
            except BaseException:
                # Give back what this start took (the source, a camera, the detector and out_dir's
                # lock; nothing ran yet), or the folder stayed locked until the process ended,
                # and the folder itself when this start made it and it is still empty (a video
                # that cannot be read left an empty --out behind).
                self._devices.close()
                self._recorder.finish()
                if made:
                    remove_empty_out_dir(self.out_dir)
                raise
            _UNSTOPPED.add(self)

    def _finish_ended_runs_into(self, out_dir: Path | None) -> None:
        """Another engine of this process whose run ended by itself (a file's end, or an error)
        and that nobody stopped still holds ``out_dir``: finish it now, as its ``stop()`` would
        (its session file written, the folder let go). A notebook cell run again made a second
        engine on the folder while the first, no longer named by any variable, kept it until
        the kernel restarted ("being recorded into by another run"). One still running is left
        alone: the folder stays refused, as before."""
        if out_dir is None:
            return
        for other in list(_UNSTOPPED):
            if other is self or other.out_dir is None or not _same_folder(other.out_dir, out_dir):
                continue
            # Not while it is busy (in its own start or stop on another thread): that one may be
            # about to run again; the folder's lock then refuses this start, as before.
            if not other._lock.acquire(blocking=False):
                continue
            try:
                if not other.running:
                    other.stop()
            except Exception as exc:  # noqa: BLE001 - said, and this start goes on
                warnings.warn(f"the run another engine of this process ended in {out_dir} could not "
                              f"be finished ({exc}); call that engine's stop() to see", RuntimeWarning,
                              stacklevel=3)
            finally:
                other._lock.release()

    def _begin_run(self, source: Any) -> None:
        """Set up a run reading the opened ``source`` and start its threads (``start``)."""
        self._error = None
        self._stop.clear()
        self._stop_reading.clear()
        self._finished.clear()
        self._read_to_end.clear()
        self._drained.clear()
        self._counters = RunCounters()
        self._segment += 1
        # A source object opened with loop (open_source(path, loop=True)), or the engine's
        # loop= where the source takes it (a file; a camera or a folder ignores it).
        devices = self._devices
        looping = bool(getattr(source, "loop", False)) or bool(
            devices.source_options.get("loop") and "loop" in accepted_options(devices.source_spec))
        # A looping file's rows repeat its frames: not one clip to place again. A camera's
        # are (with the frames it dropped and its pauses, world.recorded).
        self._clip_segment = None if looping else self._segment
        try:
            self._lifter.reset()
        except Exception as error:
            raise Pose3DRuntimeError(
                f"the lifter {self._lifter!r} failed to start a new window: "
                f"{type(error).__name__}: {error}") from error
        self._everyone.reset()
        self._world.begin(self._segment)  # the metadata describes this run from now on
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
        """Stop reading, finish the frames already read (detected, lifted, recorded: at most a
        few, for up to half of ``timeout``), then join every thread, close source and detector
        and write the session file."""
        with self._lock:
            self._stop_reading.set()
            source = self._devices.source
            if source is not None:
                # Unblocks a camera read; BaseSource waits for the read to finish first.
                threading.Thread(target=source.close, daemon=True).start()
            try:
                try:
                    self._drain(min(STOP_DRAIN_S, timeout / 2))
                finally:
                    # Whatever did not finish in time is dropped; also when the wait was cut short
                    # (a second Ctrl-C): stages left running would record rows after the session
                    # file is written below.
                    self._stop.set()
                self._join(timeout / 2)
            finally:
                _UNSTOPPED.discard(self)
                self._devices.close()
                self._recorder.finish(failed=self._error is not None)

    def _drain(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the stages to finish the frames handed over before a Stop."""
        deadline = time.monotonic() + seconds
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

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

    def _placed_from_whole_clip(self, session: Any, metadata: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The recording, with this run's rows placed again from the whole clip when the run read
        one clip: a video file, a folder of images, a camera (``world.recorded``; a looping file
        and a run whose source was switched while running keep their live placement). The
        recorder calls it before writing ``session.npz``."""
        segment = self._clip_segment
        if segment is None or segment != self._segment:
            return session, metadata
        # The shipped lifter's (the one lifter whose lean habit was measured): one body per
        # person, as `pose3d lift` holds it offline; chosen on held-out mocap (world.recorded).
        hold_bones = getattr(self._lifter, "lean_bias", None) is not None
        return self._world.placed_again(session, metadata, rows=session.segment == segment,
                                        hold_bones=hold_bones)

    # ------------------------------------------------------------------ people
    @property
    def people(self) -> dict[int, RollingBuffer]:
        """Each tracked person's own buffer of 3D poses, by track id (a people detector: any
        ``follow=``). Empty otherwise. World metres, in the room the followed person's frames
        estimated (its camera and floor; each person on a path of their own from their own
        size and 2D), like ``joints_3d``."""
        return dict(self._everyone.buffers)

    @property
    def follow_status(self) -> str:
        """Whom a people detector follows, or what it waits for ("" for a single-person one)."""
        return str(getattr(self._devices.detector, "follow_status", "") or "")

    @property
    def followed(self) -> int | None:
        """The followed person's track id (a people detector), else None."""
        return getattr(self._devices.detector, "followed", None)

    @property
    def tracks(self) -> dict[int, Any]:
        """Everyone the detector tracks now, by track id (``detectors.people.PersonTrack``:
        box, keypoints, ``visible``); empty with a single-person detector or when stopped."""
        return dict(getattr(self._devices.detector, "people", {}) or {})

    # ------------------------------------------------------------------ worker threads
    def _guard(self, stage: str, loop, *args) -> None:
        current: dict[str, int | None] = {"frame": None, "after": None}
        try:
            loop(current, *args)
        except BaseException as exc:  # noqa: BLE001 - kept and re-raised to the caller
            if self._error is None:
                self._error = EngineError(stage, current["frame"], exc, current["after"])
            self._stop.set()

    def _wait_put(self, target: queue.Queue, item: Any) -> bool:
        return wait_put(target, item, self._stop)

    _take = staticmethod(take)

    def _capture_loop(self, current, frames) -> None:
        devices, segment = self._devices, self._segment
        source = devices.source
        skipped = getattr(source, "skipped", 0)
        while not self._stop.is_set():
            if self._stop_reading.is_set():  # Stop: the frames already read are still finished
                self._end_stream(source, frames)
                return
            replacement = devices.claim_source()
            if replacement is not None:
                source.close()
                source, segment = replacement, segment + 1
                self._segment = segment
                current["frame"] = None  # the old source's frame numbers say nothing of the new one's
                skipped = getattr(source, "skipped", 0)
            started = time.perf_counter()
            try:
                frame = next(source)
            except StopIteration:
                skipped = self._count_skipped(source, skipped)
                if self._stop.is_set() or self._stop_reading.is_set() or devices.source_pending:
                    continue
                self._read_to_end.set()
                self._end_stream(source, frames)
                return
            except Exception:
                # A file failing part way (a truncated download): the frames it gave are good, so
                # they are detected, lifted and recorded, as at a clean end, before the error stops
                # the run (stopping at once dropped the queued and the lookahead's held-back frames).
                current["frame"], current["after"] = None, current["frame"]  # the next one failed
                self._end_stream(source, frames)
                self._wait_for_the_rest()
                raise
            self._counters.timed("decode", started)
            skipped = self._count_skipped(source, skipped)
            self._counters.frames_in += 1
            current["frame"] = frame.index
            if source.is_live:
                if frames.put((segment, frame)):
                    self._counters.dropped += 1
            elif not self._wait_put(frames, (segment, frame)):
                return

    def _end_stream(self, source: Any, frames: queue.Queue | LatestSlot) -> None:
        """Tell the detect stage that no frame follows the ones already handed over."""
        if source.is_live:
            frames.finish()
        else:
            self._wait_put(frames, _END)

    def _wait_for_the_rest(self) -> None:
        """Wait until the later stages recorded what was handed to them before an end marker
        (or a stop request came), so that an error raised after it loses none of those frames."""
        while not self._drained.wait(POLL_S) and not self._stop.is_set():
            pass

    def _count_skipped(self, source: Any, seen: int) -> int:
        """Count frames a paced source passed over (it fell behind) as read and dropped."""
        skipped = getattr(source, "skipped", 0)
        self._counters.frames_in += skipped - seen
        self._counters.dropped += skipped - seen
        return skipped

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
            try:
                detection = checked_detection(detector(frame), detector)
            except Exception:
                # The frames detected before this one are good: lift and record them (and those
                # the lookahead holds back) before the error stops the run, as a truncated file does.
                if self._wait_put(results, _END):
                    self._wait_for_the_rest()
                raise
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
                self._flush_lifters(lifter, segment)
                # The source's own end: not a Stop, nor an error's end marker (a frame left unread),
                # even when a Stop came after the end was read.
                if self._read_to_end.is_set():
                    self._finished.set()
                self._drained.set()
                self._recorder.flush()
                return
            frame_segment, frame, detection = item
            current["frame"] = frame.index
            if breaks.breaks_at(detection, frame_segment):
                self._flush_lifters(lifter, segment)  # the old window's
                lifter.reset()
                # Another person followed: everyone's paths in the room go on (the one followed
                # until now becomes one of the others); a new segment or pass starts them over.
                self._everyone.reset(keep_paths=breaks.person_only)
                segment = frame_segment
            started = time.perf_counter()
            try:
                poses, used = self._lifted(lifter.push, detection, frame)
            except Exception:
                self._record_held_back(lifter, frame, segment)
                raise
            # The followed person first: their poses settle the room everyone else is placed in
            # (placed before it, the others' first frames stood in an assumed level room).
            poses = self._place_followed(poses, segment)
            self._everyone.settings = lifter.settings
            self._everyone.push(detection, frame)
            self._counters.timed("lift", started)
            self._everyone.record_followed(self._record(poses, used, segment))
            self._world.observe(frame.image, detection, segment)  # the room's edges, while settling
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
        # Stopped (Stop, Ctrl-C, a signal) with no error: the poses the lookahead still holds back
        # are of frames already detected; they are recorded as at the end of a file (their future
        # cut short), not dropped with the lifter's state at the next start.
        if self._error is None:
            self._flush_lifters(lifter, segment)

    def _flush_lifters(self, lifter: Any, segment: int) -> None:
        """Record the poses every lifter's lookahead still holds back (a file's end, a window
        break, a stop): everyone else's first, so the followed rows take their poses, then the
        followed person's, into their own ``engine.people`` buffer too (placed first, as in
        ``_lift_loop``)."""
        poses, used = self._lifted(lifter.flush)
        poses = self._place_followed(poses, segment)
        self._everyone.flush()
        self._everyone.record_followed(self._record(poses, used, segment))

    def _record_held_back(self, lifter: Any, failed_frame: Any, segment: int) -> None:
        """After the lifter failed on ``failed_frame``: record the earlier frames its lookahead
        held back, if it can still give them (a lifter broken for good loses only those)."""
        try:
            poses, used = self._lifted(lifter.flush)
        except Exception:  # noqa: BLE001 - the push's own error is the one reported
            return
        kept = [pose for pose in poses if pose.frame is not failed_frame]
        self._record(self._place_followed(kept, segment), used, segment)

    def _lifted(self, lift: Callable[..., list[LiftedPose]], *args: Any
                ) -> tuple[list[LiftedPose], LiftSettings]:
        """``lift(*args)`` (the lifter's push or flush) and the settings it ran with. A knob set
        from another thread meanwhile waits for it (one step), so the log names each row's exactly."""
        with self._knob_lock:
            return lift(*args), self._lifter.settings

    def _place_followed(self, poses: list[LiftedPose], segment: int) -> list[LiftedPose]:
        """``poses`` placed in the world; once the camera has settled, the rows placed while it
        settled are placed again in its room, in the buffers and the recording."""
        poses = self._world.place(poses, segment)
        again = self._world.take_placed_again()
        if again:
            self._recorder.place_again(again)
            self._everyone.place_again(again)
        return poses

    def _record(self, poses: list[LiftedPose], used: LiftSettings, segment: int) -> list[LiftedPose]:
        """Record and count ``poses`` (lifted with ``used``, placed by ``_place_followed``);
        the same poses."""
        knobs = dataclasses.asdict(used)
        last = self._settings_log[-1] if self._settings_log else {}
        if poses and any(last.get(name) != value for name, value in knobs.items()):
            self._settings_log.append({"row": self._recorder.recorded, "segment": segment,
                                       "frame_index": poses[0].frame_index, **knobs})
        for pose in poses:  # everyone else's 3D of the row's own frame (a lookahead delays the row)
            people = self._everyone.people_at(pose.detection)
            if people is not None:
                pose.detection.extras["people_joints_3d"] = people
        self._recorder.record(poses, segment)
        now = time.monotonic()
        for pose in poses:
            captured = pose.frame.captured_at if pose.frame is not None else None
            self._counters.recorded(captured, now, pose.valid)
        if poses:
            self._latest_pose = poses[-1]
        return poses
