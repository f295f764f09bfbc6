"""``process``: a collection of videos through the pipeline on Dask, back as a table.

The client finds the videos, names their output folders, reuses the outputs that are up to
date, and submits one ``process_video`` task per remaining video. Dask schedules them (one per
worker thread) and reschedules the task of a worker that died; the client only collects the
rows as they finish, with a progress bar (a widget in JupyterLab, text in a terminal).

Before anything runs, the batch takes ``OUT``'s lock (``batch.lock``: one batch per output
folder) and places every output (``batch.placement``): an input that names nothing, or whose
output folder holds something a batch did not make for it, fails alone with the reason, and
nothing of the user's is ever replaced or deleted.

Ctrl-C (KeyboardInterrupt, or the ``stop`` event the command line's signal handler sets)
cancels what has not finished, closes a pool made here, and returns the table: finished videos
keep their output, the others are ``cancelled`` (a video cut off half way leaves only a hidden
staging folder, removed by the next attempt). The stop is seen in every phase: starting the pool
or connecting (``batch.waits``) as well as collecting. A cluster left without any worker for
``worker_timeout`` seconds fails the videos still pending instead of waiting for ever.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from pose3d_nb.batch.cluster import CONNECT_TIMEOUT_S, WORKER_TIMEOUT_S, dask_client
from pose3d_nb.batch.inputs import gather_videos
from pose3d_nb.batch.lock import batch_lock
from pose3d_nb.batch.manifest import exports_to_add, reusable_output
from pose3d_nb.batch.placement import holds_output_of, outputs_elsewhere, place_outputs, writable_reason
from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.batch.staging import remove_if_empty, remove_stale
from pose3d_nb.batch.table import CANCELLED, FAILED, OK, cancelled_row, failed_row, to_frame
from pose3d_nb.batch.task import manifest_row, process_video, row_keeping_longer, row_without_adding
from pose3d_nb.batch.waits import WaitTimeout, bounded
from pose3d_nb.detectors.follow import check_follow, follow_text
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.settings import FROM_SETTINGS, Settings, keyword_only_after
from pose3d_nb.values import is_real_number, is_whole_number

POLL_S = 0.2
"""How often the collecting loop looks at the stop event while nothing finishes."""

WATCH_S = 2.0
"""How often the collecting loop asks the scheduler how many workers it has."""

FETCH_S = 60.0
"""How long fetching a finished task's row (a small dict) from the cluster may take."""

CANCEL_S = 10.0
"""How long cancelling the tasks (and fetching a finished one's row) may take after a stop."""


class NoWorkersLeft(Pose3DRuntimeError):
    """The cluster had no worker (or the scheduler did not answer) for too long."""


class WorkerWatch:
    """Raises ``NoWorkersLeft`` once the cluster has had no worker for ``timeout`` seconds.

    Args:
        client (distributed.Client): the batch's client.
        timeout (float): seconds without any worker (or without an answer) to give up after.
        stop (threading.Event | None): ends a pending question at once.
        patient (bool): count only after a first worker was seen: a caller's own client may be
            an adaptive cluster that starts workers when tasks arrive, however long that takes.
    """

    def __init__(self, client: Any, timeout: float, stop: threading.Event | None,
                 patient: bool = False) -> None:
        self.client, self.timeout, self.stop = client, timeout, stop
        self.last_seen = self.last_asked = time.monotonic()
        self.waiting_for_first = patient

    def _workers(self) -> int:
        if self.client.status != "running":
            return 0  # the connection to the scheduler is lost (its cached count is stale)
        try:
            info = bounded(lambda: self.client.scheduler_info(n_workers=0), min(10.0, self.timeout),
                           self.stop, "the Dask scheduler")
        except (WaitTimeout, OSError):
            return 0
        return int(info.get("n_workers", 0))

    def check(self) -> None:
        """Ask now and then; raise ``NoWorkersLeft`` when none was seen for ``timeout`` s."""
        now = time.monotonic()
        if now - self.last_asked < WATCH_S:
            return
        self.last_asked = now
        if self._workers() > 0:
            self.last_seen = time.monotonic()
            self.waiting_for_first = False
        elif not self.waiting_for_first and time.monotonic() - self.last_seen > self.timeout:
            raise NoWorkersLeft(
                f"the Dask cluster had no worker for {self.timeout:.0f} s (every worker left or the "
                "scheduler stopped answering); its videos were not processed"
            )


def _finished(client: Any, futures: list[Any], stop: threading.Event | None,
              watch: WorkerWatch | None = None) -> Iterator[Any]:
    """The futures as they finish; KeyboardInterrupt as soon as ``stop`` is set."""
    from distributed import as_completed

    pending = as_completed(futures, loop=client.loop)  # the batch's client need not be the default
    while not pending.is_empty():
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        batch = pending.next_batch(block=False)
        yield from batch
        if not batch:
            if watch is not None:
                watch.check()
            if stop is not None:
                stop.wait(POLL_S)
            else:
                time.sleep(POLL_S)


def task_failure(exc: BaseException | None) -> str:
    """A readable reason for a task that ended with an exception outside ``process_video``."""
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return (
            "the Dask worker processing it died on every try (KilledWorker: a crash or out of "
            f"memory in the worker; see the worker logs): {exc}"
        )
    return f"{type(exc).__name__}: {exc}" if exc is not None else "the task ended without a result"


def _row(future: Any, path: Path) -> dict[str, Any]:
    if future.status == "finished":
        return future.result()
    if future.status == "cancelled":
        return cancelled_row(path)
    return failed_row(path, task_failure(future.exception()))


def _read_back(video: Path, output: Path, settings: BatchSettings,
               adding: dict[Path, tuple[str, ...]]) -> dict[str, Any] | None:
    """The row of a task that finished but whose own row was lost (a stop, a cluster that went
    silent), read back from its output's manifest; None when no current output is there.

    ``adding``: the videos whose task was planned to add only these export formats to a reused
    recording: ``skipped`` with those exports said added (it read ``ok``, the first processing's
    frames counted as processed now), as the task's own row says; the rest ``ok``."""
    manifest = reusable_output(video, output, settings)
    if manifest is None:
        return None
    if video in adding:
        return manifest_row(video, output, manifest, exports=settings.export, added=adding[video])
    return manifest_row(video, output, manifest, OK, exports=settings.export)


def _fetch_row(future: Any, video: Path, output: Path, settings: BatchSettings,
               stop: threading.Event | None, adding: dict[Path, tuple[str, ...]]) -> dict[str, Any]:
    """A finished task's row, fetched within ``FETCH_S`` (else read back from its manifest)."""
    try:
        return bounded(lambda: _row(future, video), FETCH_S, stop, "the Dask cluster, asked for a result,")
    except WaitTimeout as exc:
        return _read_back(video, output, settings, adding) or failed_row(video, str(exc))


def _collect(client: Any, jobs: dict[Path, Path], settings: BatchSettings, retries: int,
             rows: dict[Path, dict[str, Any]], bar: Any, stop: threading.Event | None,
             watch: WorkerWatch, adding: dict[Path, tuple[str, ...]]) -> None:
    """Submit one task per video in ``jobs`` (video -> output folder), fill ``rows`` as they end
    (``adding``: as ``_read_back`` takes it)."""
    batch_id = uuid.uuid4().hex[:8]
    futures = {
        client.submit(
            process_video, str(video), str(output), settings,
            key=f"pose3d-video-{output.name}-{batch_id}", pure=False, retries=retries,
        ): video
        for video, output in jobs.items()
    }
    failed = 0
    try:
        for future in _finished(client, list(futures), stop, watch):
            video = futures[future]
            row = rows[video] = _fetch_row(future, video, jobs[video], settings, stop, adding)
            bar.update()
            if row["status"] == FAILED:
                failed += 1
                bar.set_postfix_str(f"{failed} failed", refresh=False)
    except NoWorkersLeft as exc:
        with contextlib.suppress(Exception):  # the scheduler may be gone too
            bounded(lambda: client.cancel([f for f in futures if not f.done()]), CANCEL_S, None, "cancelling")
        for video in futures.values():
            if video not in rows:  # one that still finished has its manifest (never ask the cluster)
                rows[video] = _read_back(video, jobs[video], settings, adding) or failed_row(video, str(exc))
    except KeyboardInterrupt:
        # Bounded: the scheduler may be the reason for the stop (gone silent); a row not fetched
        # here is read back from its manifest by _settle_cancelled.
        unfinished = [f for f in futures if not f.done()]
        with contextlib.suppress(Exception):
            bounded(lambda: client.cancel(unfinished), CANCEL_S, None, "cancelling")
        for future, video in futures.items():
            if video not in rows and future not in unfinished:  # finished while we were stopping
                with contextlib.suppress(Exception):
                    rows[video] = bounded(lambda f=future, v=video: _row(f, v), CANCEL_S, None, "a row")
        raise


def _settle_cancelled(jobs: dict[Path, Path], settings: BatchSettings, rows: dict[Path, dict[str, Any]],
                      stale: bool, adding: dict[Path, tuple[str, ...]]) -> None:
    """After a stop: a cancelled video whose task still finished is ``ok`` (``skipped`` when it
    only added exports: ``_read_back``); the rest ``cancelled``.

    ``stale``: the pool was made here and is closed, so its staging folders are removed.
    """
    for video, output in jobs.items():
        if video in rows and rows[video]["status"] != CANCELLED:
            continue
        if stale:  # first: a publish cut off by the stop is finished, so its output counts
            remove_stale(output.parent, output.name, video, settings)
        rows[video] = _read_back(video, output, settings, adding) or cancelled_row(video)


def _plan(paths: list[Path], out: Path, settings: BatchSettings, rows: dict[Path, dict[str, Any]],
          adding: dict[Path, tuple[str, ...]]) -> dict[Path, Path]:
    """The videos to process (video -> output folder); the others' rows go into ``rows``, and
    the jobs that only add exports, with their formats, into ``adding``.

    A video whose folder is taken by something else fails (``placement``), as does one to be
    redone, or given exports its output lacks, whose folder holds files the batch did not write, or
    whose output is longer than this run's ``max_frames`` would make it (the output kept:
    ``task.row_keeping_longer``); one whose output is up to date is ``skipped``; one up to date but
    for exports is a job (its task adds them: ``task.add_exports``). When its own folder does not
    hold its output, an up-to-date output of it under another name (a copy or renamed folder of the
    user's) is reused instead; that folder is never processed into, nor given exports: a video to
    be made again goes to its own folder.
    """
    folders, refused = place_outputs(paths, out)
    elsewhere = outputs_elsewhere(out)
    jobs: dict[Path, Path] = {}
    for path in paths:
        own = folders.get(path)
        if own is None or not holds_output_of(own, path):
            copy = next(((folder, manifest) for folder in elsewhere.get(str(path), ())
                         if (manifest := reusable_output(path, folder, settings)) is not None), None)
            if copy is not None:  # read only: its row points at it, nothing is written there
                rows[path] = manifest_row(path, copy[0], copy[1], exports=settings.export)
                continue
        if own is None:
            rows[path] = failed_row(path, refused[path])
            continue
        manifest = reusable_output(path, own, settings)
        addition = exports_to_add(path, own, settings) if manifest is None else None
        if manifest is not None:
            rows[path] = manifest_row(path, own, manifest, exports=settings.export)
        elif addition is not None:  # up to date but for exports: its task adds them, unless refused here
            row = row_without_adding(path, own, settings, *addition)
            if row is not None:
                rows[path] = row
            else:
                jobs[path], adding[path] = own, addition[1]
        elif (kept := row_keeping_longer(path, own, settings)) is not None:
            rows[path] = kept  # --max-frames would cut the output there: kept, the video not run
        elif (reason := writable_reason(own, path)) is not None:
            rows[path] = failed_row(path, reason)  # to be redone, but the user added files to it
        else:
            jobs[path] = own
    return jobs


def _check_run_options(workers: Any, retries: Any, connect_timeout: Any, worker_timeout: Any) -> None:
    """``process``'s counts and timeouts, before any folder, lock or pool is made (``workers``
    0 was refused only once the pool started, after the output folder was locked and planned).

    Raises:
        Pose3DValueError: ``workers`` not a whole number >= 1, ``retries`` not one >= 0, or a
            timeout that is not a positive number of seconds.
    """
    for name, value, least in (("workers", workers, 1), ("retries", retries, 0)):
        if not is_whole_number(value) or value < least:
            raise Pose3DValueError(f"{name} must be a whole number >= {least}, got {value!r}")
    for name, value in (("connect_timeout", connect_timeout), ("worker_timeout", worker_timeout)):
        if not is_real_number(value) or not value > 0:
            raise Pose3DValueError(f"{name} must be a positive number of seconds, got {value!r}")


@keyword_only_after("process", 2, (
    "client", "workers", "scheduler", "lifter", "detector", "window", "lookahead", "flip", "follow",
    "export", "camera", "fov", "focal", "height", "progress", "retries", "stop", "connect_timeout",
    "worker_timeout"))
def process(
    videos: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    workers: int = 2,
    scheduler: str | None = None,
    lifter: str = FROM_SETTINGS,
    detector: str = FROM_SETTINGS,
    window: int = FROM_SETTINGS,
    lookahead: int = FROM_SETTINGS,
    flip: bool = FROM_SETTINGS,
    follow: str | None = FROM_SETTINGS,
    export: Iterable[str] | str = (),
    camera: Any = None,
    fov: float | None = None,
    focal: float | None = None,
    height: float | None = None,
    progress: bool = True,
    retries: int = 1,
    stop: threading.Event | None = None,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    worker_timeout: float = WORKER_TIMEOUT_S,
    settings: Settings | None = None,
    max_frames: int | None = None,
    fps: float | None = None,
) -> pd.DataFrame:
    """Process every video into ``out_dir/NAME/session.npz`` (plus exports) on Dask; the table.

    ``videos`` and ``out_dir`` are taken by position, the rest by keyword, as ``PoseEngine`` and
    ``Pose3D`` take them (by position: deprecated, with a warning).

    Args:
        videos (str | PathLike | Iterable): files, folders (searched), globs or ``.txt`` lists
            (``batch.inputs.find_videos``); one that names nothing gets a ``failed`` row.
        out_dir (str | PathLike): where each video's folder goes (created if needed; locked
            while the batch runs, ``batch.lock``).
        client (distributed.Client | None): run on this client's cluster (left open).
        workers (int): without ``client`` and ``scheduler``: size of the local pool made for the
            batch (a ``LocalCluster`` of single-threaded worker processes on 127.0.0.1).
        scheduler (str | None): address of a running Dask scheduler (``tcp://HOST:8786``); its
            workers need pose3d_nb installed and must see the same paths (inputs, ``out_dir``).
        lifter, detector, window, lookahead, flip, follow: as ``pose3d run`` (``--lifter`` there);
            those given override ``settings``.
        export (Iterable[str] | str): formats to write beside each session (bvh, trc, c3d, csv,
            parquet), in any case; a string is one name or several separated by commas, as
            ``pose3d batch --export bvh,trc``.
        camera, fov, focal, height: the world placement's lens (a calibration file's path or an
            ``Intrinsics``; a field of view across the longer side in degrees; a focal length in
            pixels: at most one) and the person's height in metres, for every video, as
            ``PoseEngine`` takes them (``pose3d run --camera/--fov/--focal/--height``;
            docs/world.md). None: a 60-degree lens assumed, the size estimated.
        progress (bool): show a progress bar (tqdm.auto: a widget in JupyterLab).
        retries (int): Dask retries of a task that raised outside the video's own processing
            (e.g. a worker that cannot import pose3d_nb). A dying worker is rescheduled by the
            scheduler's ``allowed-failures`` instead (``batch.cluster``).
        stop (threading.Event | None): set it to stop like Ctrl-C (the command line's signals);
            seen in every phase, connecting included.
        connect_timeout (float): seconds a scheduler may take to answer (connect, handshake)
            and its workers the version check.
        worker_timeout (float): seconds to wait for a scheduler's first worker, and how long the
            cluster may have no worker at all mid-batch before the pending videos fail (with
            ``client``, counted from its first worker: an adaptive cluster may start from none).
        settings (Settings | None): the base choices, as ``PoseEngine(settings=...)`` takes
            them (``DEFAULTS`` when None); its source, out_dir and capacity are each video's own.
        max_frames (int | None): most poses each video records, a whole number >= 1 (``pose3d
            run --max-frames``; to try settings on the start of many videos); None: every frame.
            Its outputs are reused only by a run with the same ``max_frames``. An output with
            more frames than it is kept, the video's row ``failed`` with why (try settings into
            another ``out_dir``); one with as many or fewer is replaced.
        fps (float | None): the rate every video's frames are stamped at instead of the one the
            file stores (``pose3d run --fps``: a file whose stored rate is wrong); None: each
            video's own. Its outputs are reused only by a run with the same ``fps``.

    Returns:
        pandas.DataFrame: one row per video in input order, then one per input that named
        nothing, ``batch.table.COLUMNS``; ``attrs["interrupted"]`` says whether it was stopped,
        ``attrs["seconds"]`` its wall time.

    Raises:
        BatchInputError: no inputs, or inputs that exist but hold no video.
        BatchLockedError: another batch is writing into ``out_dir`` (the error names it).
        Pose3DValueError: bad settings, workers, retries, timeouts, max_frames or fps (before
            any folder is made). ClusterError: the scheduler cannot be reached, does not answer within
            ``connect_timeout`` or has no worker within ``worker_timeout``.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    _check_run_options(workers=workers, retries=retries, connect_timeout=connect_timeout,
                       worker_timeout=worker_timeout)
    paths, missing = gather_videos(videos)
    given = {name: value for name, value in (("lifter", lifter), ("detector", detector), ("window", window),
                                             ("lookahead", lookahead), ("flip", flip), ("follow", follow))
             if value is not FROM_SETTINGS}
    if "follow" in given:  # checked as given, as the engine checks it (-3, True), then stored as text
        check_follow(given["follow"])
        given["follow"] = follow_text(given["follow"])
    batch_settings = BatchSettings(
        settings, export=export, camera=camera, fov=fov, focal=focal, height=height,
        max_frames=max_frames, fps=fps, **given
    ).checked()
    out = Path(out_dir).expanduser().resolve()
    rows: dict[Path, dict[str, Any]] = {}
    interrupted = False
    if paths:
        made = not out.exists()
        out.mkdir(parents=True, exist_ok=True)
        with batch_lock(out):
            adding: dict[Path, tuple[str, ...]] = {}
            jobs = _plan(paths, out, batch_settings, rows, adding)
            bar = tqdm(total=len(paths), initial=len(rows), desc="videos", unit="video", disable=not progress)
            try:
                if jobs:
                    with dask_client(client, scheduler, workers, stop=stop, connect_timeout=connect_timeout,
                                     worker_timeout=worker_timeout) as dask:
                        watch = WorkerWatch(dask, worker_timeout, stop, patient=client is not None)
                        _collect(dask, jobs, batch_settings, retries, rows, bar, stop, watch, adding)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                bar.close()
            if interrupted:
                _settle_cancelled(jobs, batch_settings, rows, stale=client is None and not scheduler,
                                  adding=adding)
            remove_if_empty(out)
        if made:  # every video failed before writing (a detector model not fetched): as pose3d run
            with contextlib.suppress(OSError):  # only an empty folder goes; another batch's lock
                out.rmdir()  # file, taken since, keeps it
    table = to_frame([rows.get(path) or cancelled_row(path) for path in paths]
                     + [failed_row(spec, reason) for spec, reason in missing.items()])
    table.attrs["interrupted"] = interrupted
    table.attrs["seconds"] = time.perf_counter() - started
    return table
