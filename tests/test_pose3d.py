"""Pose3D, the synchronous front door: the engine's results, one call per frame, no threads."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

import pose3d_nb
from pose3d_nb import Pose3D, PoseEngine, load_session
from pose3d_nb.sources import open_source

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine_session(tmp_path_factory):
    """The engine's recording of the bundled sample with the default detector and lifter."""
    out = tmp_path_factory.mktemp("engine")
    engine = PoseEngine(source="sample", out_dir=out)
    engine.start()
    assert engine.wait(300)
    engine.stop()
    engine.raise_if_failed()
    return load_session(out / "session.npz")


def test_the_front_door_exports_the_main_objects():
    from pose3d_nb.engine import PoseEngine as engine_class
    from pose3d_nb.recording import load_session as loader
    from pose3d_nb.ui.app import PoseApp as app_class

    assert pose3d_nb.PoseEngine is engine_class and pose3d_nb.load_session is loader
    assert pose3d_nb.PoseApp is app_class
    assert {"Pose3D", "PoseEngine", "PoseApp", "load_session"} <= set(dir(pose3d_nb))
    with pytest.raises(AttributeError):
        pose3d_nb.NoSuchThing  # noqa: B018


def test_importing_the_package_loads_no_heavy_module():
    code = (
        "import sys, pose3d_nb; "
        "heavy = ('numpy', 'torch', 'mediapipe', 'cv2', 'pose3d_nb.engine'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_pose3d_gives_the_engine_recording_frame_by_frame(engine_session):
    threads = threading.active_count()
    results = []
    with Pose3D() as pose3d, open_source("sample") as frames:
        for frame in frames:
            result = pose3d.process(frame)
            assert result is not None and result.frame_index == frame.index  # no lookahead: no lag
            results.append(result)
        assert pose3d.flush() == []
        assert threading.active_count() == threads  # synchronous: no thread of its own
    session = engine_session
    assert len(results) == len(session.frame_index) == 100
    np.testing.assert_array_equal([r.frame_index for r in results], session.frame_index)
    np.testing.assert_array_equal([r.valid for r in results], session.valid)
    assert session.valid.any()
    np.testing.assert_allclose([r.keypoints_2d for r in results], session.keypoints_2d, atol=1e-5)
    np.testing.assert_allclose([r.scores for r in results], session.scores_2d, atol=1e-5)
    np.testing.assert_allclose([r.joints_3d for r in results], session.joints_3d, atol=1e-5)
    first = results[0]
    assert first.joints_3d.shape == (17, 3) and first.keypoints_2d.shape == (17, 2)
    assert first.scores.shape == (17,)
    with pytest.raises(AttributeError):
        first.valid = False  # frozen


def test_numpy_images_and_lookahead_trail_the_input():
    with open_source("sample") as frames:
        images = [frame.image for _, frame in zip(range(8), frames, strict=False)]
    with Pose3D(lifter="shipped", lookahead=3, fps=60.0) as pose3d:
        results = [pose3d.process(image) for image in images]
        tail = pose3d.flush()
    assert results[:3] == [None, None, None]
    assert [r.frame_index for r in results[3:]] == [0, 1, 2, 3, 4]
    assert [r.frame_index for r in tail] == [5, 6, 7]
    assert all(r.valid and np.isfinite(r.joints_3d).all() for r in results[3:] + tail)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((48, 64), np.uint8), r"\(H, W, 3\) RGB image, got an array of shape \(48, 64\)"),
        (np.zeros((48, 64, 4), np.uint8), r"shape \(48, 64, 4\)"),
        (np.zeros((48, 64, 3), np.float32), "uint8"),
        ("frame.png", "numpy array or a Frame, got str"),
    ],
)
def test_a_wrong_image_is_refused_with_a_clear_error(image, message):
    with Pose3D(lifter="mediapipe") as pose3d, pytest.raises(ValueError, match=message):
        pose3d.process(image)


def test_a_closed_pose3d_refuses_frames():
    pose3d = Pose3D(lifter="mediapipe")
    pose3d.close()
    with pytest.raises(RuntimeError, match="closed"):
        pose3d.process(np.zeros((48, 64, 3), np.uint8))
