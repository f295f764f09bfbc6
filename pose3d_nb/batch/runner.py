"""``process``: a collection of videos through the pipeline on Dask, back as a table.

The client finds the videos, names their output folders, reuses the outputs that are up to
date, and submits one ``process_video`` task per remaining video. Dask schedules them (one per
worker thread) and reschedules the task of a worker that died; the client only collects the
rows as they finish, with a progress bar (a widget in JupyterLab, text in a terminal).

Ctrl-C (KeyboardInterrupt, or the ``stop`` event the command line's signal handler sets)
cancels what has not finished, closes a pool made here, and returns the table: finished videos
keep their output, the others are ``cancelled`` (a video cut off half way leaves only a hidden
staging folder, removed by the next attempt).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from pose3d_nb.batch.cluster import dask_client
from pose3d_nb.batch.inputs import find_videos, output_names
from pose3d_nb.batch.manifest import reusable_output
from pose3d_nb.batch.settings import BatchSettings
from pose3d_nb.batch.staging import remove_if_empty, remove_stale
from pose3d_nb.batch.table import CANCELLED, FAILED, OK, cancelled_row, failed_row, to_frame
from pose3d_nb.batch.task import manifest_row, process_video

POLL_S = 0.2
"""How often the collecting loop looks at the stop event while nothing finishes."""


def _finished(futures: list[Any], stop: threading.Event | None) -> Iterator[Any]:
    """The futures as they finish; KeyboardInterrupt as soon as ``stop`` is set."""
    from distributed import as_completed

    pending = as_completed(futures)
    while not pending.is_empty():
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt
        batch = pending.next_batch(block=False)
        yield from batch
        if not batch:
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


def _collect(client: Any, jobs: dict[Path, Path], settings: BatchSettings, retries: int,
             rows: dict[Path, dict[str, Any]], bar: Any, stop: threading.Event | None) -> None:
    """Submit one task per video in ``jobs`` (video -> output folder), fill ``rows`` as they end."""
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
        for future in _finished(list(futures), stop):
            row = rows[futures[future]] = _row(future, futures[future])
            bar.update()
            if row["status"] == FAILED:
                failed += 1
                bar.set_postfix_str(f"{failed} failed", refresh=False)
    except KeyboardInterrupt:
        unfinished = [f for f in futures if not f.done()]
        client.cancel(unfinished)
        for future, video in futures.items():
            if video not in rows and future not in unfinished:
                rows[video] = _row(future, video)  # finished while we were stopping
        raise


def _settle_cancelled(jobs: dict[Path, Path], settings: BatchSettings, rows: dict[Path, dict[str, Any]],
                      stale: bool) -> None:
    """After a stop: a cancelled video whose task still finished is ``ok``; the rest ``cancelled``.

    ``stale``: the pool was made here and is closed, so its staging folders are removed.
    """
    for video, output in jobs.items():
        if video in rows and rows[video]["status"] != CANCELLED:
            continue
        manifest = reusable_output(video, output, settings)
        rows[video] = manifest_row(video, output, manifest, OK) if manifest else cancelled_row(video)
        if stale:
            remove_stale(output.parent, output.name)


def process(
    videos: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    client: Any = None,
    workers: int = 2,
    scheduler: str | None = None,
    lifter: str = "auto",
    detector: str = "mediapipe",
    window: int = 0,
    lookahead: int = 0,
    flip: bool = False,
    follow: str | None = None,
    export: Iterable[str] = (),
    progress: bool = True,
    retries: int = 1,
    stop: threading.Event | None = None,
) -> pd.DataFrame:
    """Process every video into ``out_dir/NAME/session.npz`` (plus exports) on Dask; the table.

    Args:
        videos (str | PathLike | Iterable): files, folders (searched), globs or ``.txt`` lists
            (``batch.inputs.find_videos``).
        out_dir (str | PathLike): where each video's folder goes (created if needed).
        client (distributed.Client | None): run on this client's cluster (left open).
        workers (int): without ``client`` and ``scheduler``: size of the local pool made for the
            batch (a ``LocalCluster`` of single-threaded worker processes on 127.0.0.1).
        scheduler (str | None): address of a running Dask scheduler (``tcp://HOST:8786``); its
            workers need pose3d_nb installed and must see the same paths (inputs, ``out_dir``).
        lifter, detector, window, lookahead, flip: as ``pose3d run`` (``--checkpoint`` there).
        export (Iterable[str]): formats to write beside each session (bvh, trc, c3d, csv, parquet).
        progress (bool): show a progress bar (tqdm.auto: a widget in JupyterLab).
        retries (int): Dask retries of a task that raised outside the video's own processing
            (e.g. a worker that cannot import pose3d_nb). A dying worker is rescheduled by the
            scheduler's ``allowed-failures`` instead (``batch.cluster``).
        stop (threading.Event | None): set it to stop like Ctrl-C (the command line's signals).

    Returns:
        pandas.DataFrame: one row per video in input order, ``batch.table.COLUMNS``;
        ``attrs["interrupted"]`` says whether it was stopped, ``attrs["seconds"]`` its wall time.

    Raises:
        BatchInputError: no video found, or an input that names nothing.
        ValueError: bad settings. ClusterError: the scheduler cannot be reached or has no worker.
    """
    from tqdm.auto import tqdm

    started = time.perf_counter()
    paths = find_videos(videos)
    settings = BatchSettings(
        lifter=str(lifter), detector=detector, window=window, lookahead=lookahead, flip=flip,
        follow=None if follow is None else str(follow), export=tuple(export),
    ).checked()
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[Path, dict[str, Any]] = {}
    jobs: dict[Path, Path] = {}
    for path, name in zip(paths, output_names(paths), strict=True):
        manifest = reusable_output(path, out / name, settings)
        if manifest is not None:
            rows[path] = manifest_row(path, out / name, manifest)
        else:
            jobs[path] = out / name
    interrupted = False
    bar = tqdm(total=len(paths), initial=len(rows), desc="videos", unit="video", disable=not progress)
    try:
        if jobs:
            with dask_client(client, scheduler, workers) as dask:
                _collect(dask, jobs, settings, retries, rows, bar, stop)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if interrupted:
        _settle_cancelled(jobs, settings, rows, stale=client is None and not scheduler)
    remove_if_empty(out)
    table = to_frame([rows.get(path) or cancelled_row(path) for path in paths])
    table.attrs["interrupted"] = interrupted
    table.attrs["seconds"] = time.perf_counter() - started
    return table
