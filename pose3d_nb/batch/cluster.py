"""Where the tasks run: a caller's Dask client, an existing cluster, or a local pool made here.

``dask_client(client, scheduler, workers)`` yields a ``distributed.Client``:

- ``client`` given: used as it is and left open (a notebook's own cluster);
- ``scheduler`` given (``tcp://HOST:8786``): a client of that running cluster, closed after;
- neither: a ``LocalCluster`` of ``workers`` worker processes with one thread each, bound to
  127.0.0.1, no dashboard (and no fixed port); closed after, which ends its processes.

Every wait here has a bound and ends when the ``stop`` event is set (``batch.waits``): starting
the pool, connecting to a scheduler and its handshake (``CONNECT_TIMEOUT_S``; a peer that
accepts and never answers is given up after it), the first worker (``WORKER_TIMEOUT_S``), the
version check, and closing.

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

from pose3d_nb.batch.waits import WaitTimeout, bounded, probe_scheduler
from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError

ALLOWED_FAILURES = 2
"""Local pool: a video whose worker dies is tried on 2 more workers, then marked failed."""

WORKER_TIMEOUT_S = 120.0
"""How long to wait for an existing cluster to have at least one worker."""

CONNECT_TIMEOUT_S = 30.0
"""How long a scheduler may take to answer: connect and handshake, then the version check."""

LOCAL_START_TIMEOUT_S = 180.0
"""How long a local pool may take to start (worker processes importing on a loaded machine)."""

CLOSE_TIMEOUT_S = 30.0
"""How long closing a client or pool may take before it is left to the process's exit."""


class ClusterError(Pose3DRuntimeError):
    """The Dask scheduler could not be reached, or it has no worker."""


HEARTBEAT_MISS = "Failed to communicate with scheduler during heartbeat"
"""How a worker of ``distributed`` logs a heartbeat that found the scheduler gone."""


class QuietHeartbeatMiss(logging.Filter):
    """Drops a local pool worker's ``HEARTBEAT_MISS`` error. Closing the pool stops its scheduler
    while a worker's heartbeat may be on its way, and that worker then printed an error with a
    traceback on the terminal after a clean Ctrl-C or finish (seen once in a CI run of the Ctrl-C
    test). A scheduler really lost mid-batch fails the batch's tasks, which its table reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(HEARTBEAT_MISS)


def quiet_heartbeat_misses() -> None:
    """Install ``QuietHeartbeatMiss`` on ``distributed.worker``'s logger (once per process)."""
    logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, QuietHeartbeatMiss) for f in logger.filters):
        logger.addFilter(QuietHeartbeatMiss())


class IgnoreInterrupt(WorkerPlugin):
    """Makes local pool workers ignore SIGINT, and not report a heartbeat that found the pool's
    scheduler closing (``quiet_heartbeat_misses``).

    A terminal's Ctrl-C reaches the whole process group: the batch, not each worker on its own
    (with a traceback, and a restart by its nanny), decides what stops.
    """

    idempotent = True

    def setup(self, worker: Any) -> None:
        """Runs in the worker process when it joins (restarted workers included)."""
        quiet_heartbeat_misses()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start_local(workers: int) -> tuple[Any, Any]:
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # The scheduler serves its health/metrics routes even without a dashboard, on 8787 by
            # default (and warns when that port is taken): a free port on 127.0.0.1 instead.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            silence_logs=logging.ERROR,
        )
    try:
        client = Client(cluster, set_as_default=False)
        client.register_plugin(IgnoreInterrupt(), name="pose3d-ignore-sigint")
    except BaseException:
        cluster.close()
        raise
    return cluster, client


def _close(cluster: Any, client: Any) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def _close_bounded(cluster: Any, client: Any) -> None:
    """Close what was made here, giving up (and leaving it to the process's exit) after a while."""
    with contextlib.suppress(WaitTimeout, KeyboardInterrupt):
        bounded(lambda: _close(cluster, client), CLOSE_TIMEOUT_S, None, "closing the Dask client")


@contextlib.contextmanager
def local_cluster(workers: int, stop: threading.Event | None = None,
                  timeout: float = LOCAL_START_TIMEOUT_S) -> Iterator[Any]:
    """A ``LocalCluster`` of ``workers`` single-threaded worker processes on 127.0.0.1, and its client.

    No dashboard, and no port of a fixed number: nothing else on the machine is in the way.

    Args:
        workers (int): worker processes (each runs one video at a time).
        stop (threading.Event | None): set it to give up starting at once (KeyboardInterrupt).
        timeout (float): seconds the pool may take to start.

    Yields:
        distributed.Client: connected to the new cluster; cluster and processes end on exit.

    Raises:
        ClusterError: the pool did not start within ``timeout``.
    """
    if workers < 1:
        raise Pose3DValueError(f"workers must be >= 1, got {workers}")
    try:
        cluster, client = bounded(lambda: _start_local(workers), timeout, stop,
                                  f"a local Dask pool of {workers} workers",
                                  cleanup=lambda made: _close(*made))
    except WaitTimeout as exc:
        raise ClusterError(f"{exc} (starting it)") from None
    try:
        yield client
    finally:
        _close_bounded(cluster, client)


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


def _connect(address: str, timeout: float, stop: threading.Event | None) -> Any:
    """A client of the scheduler at ``address``: asked who it is first, every step bounded."""
    try:
        identity = probe_scheduler(address, timeout, stop)
        if not isinstance(identity, dict) or identity.get("type") != "Scheduler":
            raise ClusterError(f"{address} answered, but is not a Dask scheduler")
        return bounded(lambda: Client(address, timeout=timeout, set_as_default=False), timeout, stop,
                       f"the Dask scheduler at {address}", cleanup=lambda client: client.close())
    except WaitTimeout as exc:
        raise ClusterError(str(exc)) from None
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


@contextlib.contextmanager
def remote_client(address: str, timeout: float = WORKER_TIMEOUT_S,
                  connect_timeout: float = CONNECT_TIMEOUT_S,
                  stop: threading.Event | None = None) -> Iterator[Any]:
    """A client of the running Dask cluster at ``address``, once it has a worker.

    Every wait is bounded and ends as soon as ``stop`` is set (``batch.waits``): connecting,
    the handshake and the version check take at most ``connect_timeout`` each, waiting for a
    first worker ``timeout``.

    Args:
        address (str): the scheduler, e.g. ``tcp://10.0.0.5:8786``.
        timeout (float): seconds to wait for a first worker.
        connect_timeout (float): seconds for the scheduler to answer (connect and handshake),
            and for the workers to answer the version check.
        stop (threading.Event | None): set it to give up at once (KeyboardInterrupt).

    Raises:
        ClusterError: the scheduler cannot be reached or does not answer, has no worker within
            ``timeout``, or a worker lacks pose3d_nb (``check_workers``).
        KeyboardInterrupt: ``stop`` was set.
    """
    client = _connect(address, connect_timeout, stop)
    try:
        try:
            bounded(lambda: client.wait_for_workers(1, timeout=timeout), timeout + connect_timeout, stop,
                    f"the Dask scheduler at {address}")
        except (TimeoutError, WaitTimeout):
            message = f"the Dask scheduler at {address} has no worker after {timeout:.0f} s"
            raise ClusterError(message) from None
        try:
            bounded(lambda: check_workers(client), connect_timeout, stop,
                    f"the version check of the workers of {address}")
        except WaitTimeout as exc:
            raise ClusterError(str(exc)) from None
        yield client
    finally:
        _close_bounded(None, client)


@contextlib.contextmanager
def dask_client(client: Any = None, scheduler: str | None = None, workers: int = 2,
                stop: threading.Event | None = None, connect_timeout: float = CONNECT_TIMEOUT_S,
                worker_timeout: float = WORKER_TIMEOUT_S) -> Iterator[Any]:
    """The client to submit to (see the module docstring); whatever was made here is closed after.

    Args:
        client (distributed.Client | None): a client of the caller's own; used, never closed.
        scheduler (str | None): the address of a running Dask scheduler.
        workers (int): worker processes of the local pool (neither client nor scheduler given).
        stop (threading.Event | None): set it to give up connecting or starting at once.
        connect_timeout (float): seconds a scheduler may take to answer (``remote_client``).
        worker_timeout (float): seconds to wait for a scheduler's first worker.
    """
    if client is not None:
        yield client
    elif scheduler:
        with remote_client(scheduler, worker_timeout, connect_timeout, stop) as remote:
            yield remote
    else:
        with local_cluster(workers, stop) as local:
            yield local
