"""Zero-phase Butterworth low-pass, the filter Pose2Sim applies to its 3D markers.

A second-order Butterworth run forwards and backwards (``scipy.signal.filtfilt``): no phase lag,
overall order 4 and the magnitude squared, as Pose2Sim's ``butterworth`` filter (its defaults are
order 4 and 6 Hz). Frames without a person (NaN) are never filled in: each run of consecutive
valid frames is filtered on its own, so a gap neither leaks into nor borrows from its neighbours.
A recording run (``segment``) ends a run too: the source restarted there, so the frames on either
side are not neighbours in time.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, filtfilt

from pose3d_nb.errors import Pose3DValueError

ORDER = 4  # overall order after the forward-backward pass (2 per direction)


def valid_runs(valid: np.ndarray, segment: np.ndarray | None = None) -> list[tuple[int, int]]:
    """(start, stop) of each run of consecutive True values in (T,) ``valid``, stop exclusive;
    a change of (T,) ``segment`` (the recording run) ends a run as well."""
    valid = np.asarray(valid, dtype=bool)
    # cut[i]: row i cannot continue a run from row i - 1 (cut[T]: the end).
    cut = np.ones(len(valid) + 1, dtype=bool)
    cut[1:-1] = ~valid[:-1] | ~valid[1:]
    if segment is not None:
        cut[1:-1] |= np.diff(np.asarray(segment)) != 0
    bounds = np.flatnonzero(cut).tolist()
    return [(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True) if valid[start]]


def butterworth_lowpass(
    values: np.ndarray, valid: np.ndarray, fps: float, cutoff_hz: float, order: int = ORDER,
    segment: np.ndarray | None = None,
) -> np.ndarray:
    """Low-pass (T, ...) ``values`` sampled at ``fps`` Hz along time; returns a new float64 array.

    ``cutoff_hz`` must lie strictly between 0 and fps / 2. Rows where ``valid`` is False are left
    as they are (NaN in an export); each run of valid rows within one (T,) ``segment`` (None: one
    run of recording) is filtered on its own; runs of fewer than 3 valid frames are too short to
    filter and are kept unfiltered. Raises ``ValueError`` for a bad cutoff or order.
    """
    if not 0 < cutoff_hz < fps / 2:
        raise Pose3DValueError(
            f"smoothing cutoff must be between 0 and {fps / 2:g} Hz (half of {fps:g} fps), not {cutoff_hz!r}"
        )
    if order < 2 or order % 2:
        raise Pose3DValueError(f"order must be an even number >= 2 (forward-backward), not {order}")
    b, a = butter(order // 2, cutoff_hz / (fps / 2), btype="low")
    out = np.array(values, dtype=np.float64, copy=True)
    for start, stop in valid_runs(valid, segment):
        if stop - start < 3:
            continue
        padlen = min(3 * max(len(a), len(b)), stop - start - 1)
        out[start:stop] = filtfilt(b, a, out[start:stop], axis=0, padlen=padlen)
    return out
