"""The engine's live counters and the consistent reading it hands to status lines."""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

from pose3d_nb.rates import RateMeter, percentile

STAGES = ("decode", "detect", "lift")


@dataclass(frozen=True)
class EngineStats:
    """A consistent reading of the live counters; times in milliseconds, rates per second.

    Attributes:
        running: the worker threads are alive.
        frames_in: frames read from the source.
        processed: frames recorded with their 3D pose.
        without_person: of those, frames in which nobody was followed (all of the run's, where
            the buffer holds only the newest ``capacity``).
        dropped: live frames replaced by a newer one before detection, or passed over by a paced
            file source that fell behind.
        fps: the processing rate over the last 120 frames.
        latency_ms_median: capture -> recorded, median over the last 300 frames (None: none yet).
        latency_ms_p95: the same, 95th percentile.
        stage_ms: median cost of each stage of ``STAGES`` that ran.
        detector: the detector's name.
        lifter: the lifter's name.
        fallback: the lifter works frame by frame (the temporal knobs do nothing).
        hint: a note for the user about the lifter ("" if none).
        source: the source's name.
        window: the temporal window in use.
        lookahead: the lookahead in use.
        flip: whether flip augmentation is on.
        finished: a file source was processed to its end, or ``max_frames`` poses were.
        error: what stopped the worker, or None.
    """

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
    without_person: int = 0


class RunCounters:
    """Counts one run's frames; written by the worker threads, read by ``reading``."""

    def __init__(self) -> None:
        self.frames_in = 0
        self.processed = 0
        self.without_person = 0
        self.dropped = 0
        self._done = RateMeter(120)
        self._latencies: collections.deque[float] = collections.deque(maxlen=300)
        self._stage = {stage: collections.deque(maxlen=300) for stage in STAGES}

    def timed(self, stage: str, started: float) -> None:
        """One ``stage`` step that began at ``time.perf_counter()`` value ``started`` ended now."""
        self._stage[stage].append(time.perf_counter() - started)

    def recorded(self, captured_at: float | None, now: float, found: bool = True) -> None:
        """One frame recorded at monotonic ``now``; ``captured_at``: when its source read it;
        ``found``: someone was followed in it."""
        self.processed += 1
        self.without_person += not found
        self._done.tick(now)
        if captured_at is not None:
            self._latencies.append(now - captured_at)

    def reading(self) -> dict[str, object]:
        """The counter fields of ``EngineStats``."""
        latencies = [1000 * x for x in list(self._latencies)]
        return {
            "frames_in": self.frames_in,
            "processed": self.processed,
            "without_person": self.without_person,
            "dropped": self.dropped,
            "fps": self._done.rate(),
            "latency_ms_median": percentile(latencies, 50),
            "latency_ms_p95": percentile(latencies, 95),
            "stage_ms": {k: 1000 * percentile(list(v), 50) for k, v in self._stage.items() if v},
        }
