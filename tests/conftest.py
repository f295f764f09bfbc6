"""Shared fixtures: the reference vectors (tests/data, else ../shared) and the samples in ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("POSE3D_SHARED", ROOT.parent / "shared"))
# The small reference vectors ship with the tests (see tests/data/videopose3d/NOTICE.md), so the
# tests proving equality with the original VideoPose3D never skip; ../shared is the fallback.
BUNDLED_REFERENCE = ROOT / "tests" / "data" / "videopose3d"
REFERENCE = BUNDLED_REFERENCE if BUNDLED_REFERENCE.is_dir() else SHARED / "reference" / "videopose3d"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared reference folder sits beside the checkout)")
    return path


@pytest.fixture(scope="session")
def reference_io():
    import numpy as np

    return dict(np.load(_require(REFERENCE / "tiny_arc333_ch64_io.npz")))


@pytest.fixture(scope="session")
def reference_checkpoint() -> Path:
    return _require(REFERENCE / "tiny_arc333_ch64.bin")


@pytest.fixture(scope="session")
def full_arch_shapes() -> dict:
    import json

    return json.loads(_require(REFERENCE / "full_arc33333_ch1024_shapes.json").read_text())


@pytest.fixture(scope="session")
def shared_samples() -> Path:
    return _require(SHARED / "samples")


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory):
    """One engine run over the bundled sample, default detector and lifter: (engine, out_dir)."""
    from pose3d_nb.engine import PoseEngine

    out = tmp_path_factory.mktemp("run")
    engine = PoseEngine(source="sample", out_dir=out)
    engine.start()
    assert engine.wait(300)
    engine.stop()
    engine.raise_if_failed()
    return engine, out
