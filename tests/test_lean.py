"""The shipped lifter's lean habit taken back out once the room's up is known (``world.lean``)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_world import FPS, film, geometric_up, walk  # noqa: F401 - geometric_up: autouse fixture

from pose3d_nb.world import WorldTracker, place_clip
from pose3d_nb.world.lean import LeanBias, elevation_deg, lean_deg, shipped_lean_bias, unlean

# A habit like the shipped lifter's, stronger near the horizon so that every test view shows it.
TABLE = LeanBias((-30.0, 0.0, 70.0), (-5.0, 8.0, 20.0), "test")


def leaned(truth: np.ndarray, up: np.ndarray, table: LeanBias) -> np.ndarray:
    """``truth`` (placed camera-frame joints) as a lifter with ``table``'s habit would lean it."""
    return unlean(truth, up, LeanBias(table.elevation_deg, tuple(-b for b in table.bias_deg)))


def test_a_trunk_leaning_away_from_the_camera_is_positive():
    up = np.array([0.0, -1.0, 0.0])  # a level camera: y down
    pose = np.zeros((1, 17, 3))
    pose[0, :, 2] = 4.0
    pose[0, 8] = pose[0, 0] + [0.0, -math.cos(0.2), math.sin(0.2)]  # the neck 0.2 rad further away
    assert lean_deg(pose, up)[0] == pytest.approx(math.degrees(0.2))
    assert elevation_deg(np.array([0.0, 1.0, 1.0]), up) == pytest.approx(45.0)  # below the horizon


def test_unlean_takes_the_habit_back_out_and_keeps_the_pelvis():
    world = walk(60)
    *_, truth, up = film(world, 50, 10, 70, height=4.0)
    bent = leaned(truth, up, TABLE)
    errors = lean_deg(bent, up) - lean_deg(truth, up)
    expected = TABLE.at(elevation_deg(truth[:, 0], up))
    assert np.all(expected > 10) and np.all(np.abs(errors - expected) < 0.5)
    fixed = unlean(bent, up, TABLE)
    np.testing.assert_allclose(fixed, truth, atol=1e-9)
    np.testing.assert_allclose(fixed[:, 0], bent[:, 0])  # turned about the pelvis
    assert np.allclose(unlean(bent[5], up, TABLE), truth[5])  # one (17, 3) pose
    bent[7] = np.nan
    assert np.isnan(unlean(bent, up, TABLE)[7]).all()


@pytest.fixture
def true_up(monkeypatch):
    """The room's up as if its edges gave it exactly: the lean step is checked alone."""
    holder = {}
    import pose3d_nb.world.offline as offline
    import pose3d_nb.world.tracker as tracker

    for module in (offline, tracker):
        monkeypatch.setattr(module, "choose_up", lambda people_up, scene: (holder["up"], "scene"))
    return holder


@pytest.mark.parametrize(("pitch", "height"), [(45, 4.0), (-20, 0.3)])  # the pelvis 34 below, 8 above
def test_the_world_takes_the_lifters_lean_out_live_and_offline(true_up, pitch, height):
    world = walk(150)
    _, keypoints, scores, intrinsics, truth, up = film(world, pitch, 5, 70, height=height)
    true_up["up"] = up
    bent = leaned(truth, up, TABLE)
    lifted = bent - bent[:, :1]
    true_lean = lean_deg(truth, up)
    offline_as_lifted = place_clip(lifted, keypoints, intrinsics, scores, fps=FPS)
    offline = place_clip(lifted, keypoints, intrinsics, scores, fps=FPS, lean=TABLE)
    tracker = WorldTracker(camera=intrinsics, fps=FPS, lean=TABLE)
    live = np.stack([tracker.push(pose, points, score, (intrinsics.width, intrinsics.height))[1]
                     for pose, points, score in zip(lifted, keypoints, scores, strict=True)])
    as_lifted = np.mean(lean_deg(offline_as_lifted.joints_camera, up) - true_lean)
    assert abs(as_lifted) > 4  # the habit is there without the table (4.5 and 18 degrees)
    assert abs(np.mean(lean_deg(offline.joints_camera, up) - true_lean)) < 1.0
    assert abs(np.mean(lean_deg(live[30:], up) - true_lean[30:])) < 1.0
    # Everyone else in view is placed in the same room, with the same correction.
    from pose3d_nb.world.tracker import PersonPath

    path = PersonPath(None, FPS)
    other = np.stack([tracker.place_other(path, pose, points, score, (intrinsics.width, intrinsics.height))[1]
                      for pose, points, score in zip(lifted, keypoints, scores, strict=True)])
    assert abs(np.mean(lean_deg(other, up) - true_lean)) < 1.0
    # The world frame is the camera frame turned: the trunk stands as straight there.
    trunk = offline.joints[:, 8] - offline.joints[:, 0]
    true_trunk = world[:, 8] - world[:, 0]
    tilt = np.degrees(np.arccos(trunk[:, 2] / np.linalg.norm(trunk, axis=1)))
    true_tilt = np.degrees(np.arccos(true_trunk[:, 2] / np.linalg.norm(true_trunk, axis=1)))
    assert np.abs(tilt - true_tilt).max() < 1.5


def test_only_the_shipped_lifter_carries_its_table_and_the_table_is_for_its_weights():
    from pose3d_nb.lifting.choice import SHIPPED_SHA256, choose_lifter, shipped_checkpoint
    from pose3d_nb.lifting.weights import sha256_of

    table = shipped_lean_bias()
    # Retrained weights need a new table: python -m pose3d_nb.world.lean_fit
    assert table is not None and table.lifter == SHIPPED_SHA256 == sha256_of(shipped_checkpoint())
    assert list(table.elevation_deg) == sorted(table.elevation_deg)
    assert choose_lifter("shipped").lean_bias == table
    assert choose_lifter(str(shipped_checkpoint())).lean_bias is None  # a path: no habit known
    assert getattr(choose_lifter("mediapipe"), "lean_bias", None) is None


def test_sessions_say_whether_the_lean_was_taken_out():
    from pose3d_nb.engine import PoseEngine

    shipped = PoseEngine(source="sample", lifter="shipped", out_dir=None)
    mediapipe = PoseEngine(source="sample", lifter="mediapipe", out_dir=None)
    assert shipped.metadata()["lifter_lean_removed"] is True
    assert mediapipe.metadata()["lifter_lean_removed"] is False


def test_the_synthetic_world_checks_lift_with_the_engines_settings():
    """``lean_fit``, ``pose3d bench world`` and offline-lift's engine row say they lift as the
    engine runs it; the lifter object started with ``LiftSettings()``, whose flip is off, while
    the engine flips by default."""
    from pose3d_nb.benchmarks.accuracy import DEFAULT_MOCAP_DIR
    from pose3d_nb.benchmarks.world_synth import engine_lifting
    from pose3d_nb.settings import DEFAULTS

    if not DEFAULT_MOCAP_DIR.is_dir():
        pytest.skip(f"{DEFAULT_MOCAP_DIR} not here")
    _, lifter, _ = engine_lifting(DEFAULT_MOCAP_DIR)
    assert lifter.settings == DEFAULTS.lift and lifter.settings.flip
