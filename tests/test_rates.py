"""Rates and percentiles, shared by the engine, the browser camera and the display."""

from __future__ import annotations

import pytest

from pose3d_nb.rates import RateMeter, percentile


def test_rate_meter_and_percentile():
    meter = RateMeter(window=5)
    assert meter.rate() == 0.0 and meter.latest is None
    for i in range(10):
        meter.tick(at=100 + i * 0.5)  # 2 per second; only the newest 5 are kept
    assert meter.rate() == pytest.approx(2.0) and meter.latest == pytest.approx(104.5)
    assert percentile([], 50) is None and percentile([1.0, 2.0, 3.0], 50) == 2.0
