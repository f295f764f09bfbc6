"""Where the tasks run: a caller's Dask client, an existing cluster, or a local pool made here.

``dask_client(client, scheduler, workers)`` yields a ``distributed.Client``:

- ``client`` given: used as it is and left open (a notebook's own cluster);
- ``scheduler`` given (``tcp://HOST:8786``): a client of that running cluster, closed after;
- neither: a ``LocalCluster`` of ``workers`` worker processes with one thread each, bound to
  127.0.0.1, no dashboard; closed after, which ends its processes.

Dask does the scheduling: it queues the tasks, gives each worker one at a time, and when a
worker process dies it reschedules that worker's task on another, up to the scheduler's
``distributed.scheduler.allowed-failures`` times (``ALLOWED_FAILURES`` for the local pool; an
existing cluster keeps its own setting), then reports ``KilledWorker``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster
from distributed.diagnostics.plugin import WorkerPlugin

from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError

ALLOWED_FAILURES = 2
"""Local pool: a video whose worker dies is tried on 2 more workers, then marked failed."""

WORKER_TIMEOUT_S = 120.0
"""How long to wait for an existing cluster to have at least one worker."""


class ClusterError(Pose3DRuntimeError):
    """The Dask scheduler could not be reached, or it has no worker."""


class IgnoreInterrupt(WorkerPlugin):
    """Makes local pool workers ignore SIGINT.

    A terminal's Ctrl-C reaches the whole process group: the batch, not each worker on its own
    (with a traceback, and a restart by its nanny), decides what stops.
    """

    idempotent = True

    def setup(self, worker: Any) -> None:
        """Runs in the worker process when it joins (restarted workers included)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1, and its client.

    Args:
        workers (int): worker processes (each runs one video at a time).

    Yields:
        distributed.Client: connected to the new cluster; cluster and processes end on exit.
    """
    if workers < 1:
        raise Pose3DValueError(f"workers must be >= 1, got {workers}")
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )
    try:
        with Client(cluster) as client:
            client.register_plugin(IgnoreInterrupt(), name="pose3d-ignore-sigint")
            yield client
    finally:
        cluster.close()


def check_workers(client: Any) -> None:
    """Raise ``ClusterError`` unless every worker of ``client`` has this pose3d_nb version installed.

    A worker that cannot import pose3d_nb cannot even read a task: it drops its connection and
    leaves, and the batch would wait for workers that never come. So this is asked first, with a
    standard-library function the worker can always run.
    """
    from importlib.metadata import version

    from pose3d_nb import __version__

    found = client.run(version, "pose3d_nb", on_error="return")
    wrong = {address: v for address, v in found.items() if v != __version__}
    if wrong:
        detail = "; ".join(
            f"{address}: {v if isinstance(v, str) else 'not installed'}"
            for address, v in sorted(wrong.items())
        )
        raise ClusterError(
            f"every Dask worker needs pose3d_nb {__version__} installed (the client's version): {detail}"
        )


@contextlib.contextmanager
def remote_client(address: str, timeout: float = WORKER_TIMEOUT_S) -> Iterator[Any]:
    """A client of the running Dask cluster at ``address``, once it has a worker.

    Args:
        address (str): the scheduler, e.g. ``tcp://10.0.0.5:8786``.
        timeout (float): seconds to wait for the scheduler and for a first worker.

    Raises:
        ClusterError: the scheduler cannot be reached, has no worker within ``timeout``, or a
            worker lacks pose3d_nb (``check_workers``).
    """
    try:
        client = Client(address, timeout=min(timeout, 30.0))
    except (OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            message = f"the Dask scheduler at {address} has no worker after {timeout:.0f} s"
            raise ClusterError(message) from None
        check_workers(client)
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def dask_client(client: Any = None, scheduler: str | None = None, workers: int = 2) -> Iterator[Any]:
    """The client to submit to (see the module docstring); whatever was made here is closed after.

    Args:
        client (distributed.Client | None): a client of the caller's own; used, never closed.
        scheduler (str | None): the address of a running Dask scheduler.
        workers (int): worker processes of the local pool (neither client nor scheduler given).
    """
    if client is not None:
        yield client
    elif scheduler:
        with remote_client(scheduler) as remote:
            yield remote
    else:
        with local_cluster(workers) as local:
            yield local
