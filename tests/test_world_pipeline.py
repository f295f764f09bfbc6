"""World-grounded 3D through the whole pipeline: PoseEngine, Pose3D and ``pose3d run`` record
world joints and the camera estimate, and refuse bad world options before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_nb.errors import Pose3DValueError


def test_engine_records_world_joints_and_the_camera_estimate(tmp_path):
    from pose3d_nb import PoseEngine, load_session

    engine = PoseEngine(source="sample", out_dir=tmp_path, fov=60, height=1.8)
    engine.start()
    assert engine.wait(300)
    engine.stop()
    engine.raise_if_failed()
    session = load_session(tmp_path / "session.npz")
    meta = session.metadata
    assert meta["focal_source"] == "fov" and meta["person_height_source"] == "given"
    assert meta["camera_pose_source"] == "estimated" and meta["person_height_m"] == pytest.approx(1.8)
    # The sample's camera looks down from above head height (pitch and height: loose, plausible).
    assert 0 < meta["camera_pitch_deg"] < 45 and 1.0 < meta["camera_height_m"] < 3.0
    # The lab's pillars, window frames and cupboards: the up came from the room's edges.
    assert meta["camera_up_source"] == "scene"
    # A video file's recording is placed again from its whole clip, in the same room.
    assert meta["world_placement"] == "whole clip" and meta["live_camera"]["camera_up_source"] == "scene"
    assert abs(meta["camera_pitch_deg"] - meta["live_camera"]["camera_pitch_deg"]) < 5
    joints = session.joints_3d[session.valid]
    pelvis_height = joints[:, 0, 2]
    assert 0.7 < np.median(pelvis_height) < 1.3  # a standing adult's pelvis, over the one floor
    assert np.median(np.linalg.norm(joints[:, 0, :2], axis=-1)) > 1.0  # out in front of the camera
    # The camera-frame joints are recorded beside them: same pose, the camera's axes, depth ahead.
    camera = session.joints_camera[session.valid]
    assert np.isfinite(camera).all() and np.median(camera[:, 0, 2]) > 1.0
    bone = np.linalg.norm(camera[:, 2] - camera[:, 3], axis=-1)
    np.testing.assert_allclose(bone, np.linalg.norm(joints[:, 2] - joints[:, 3], axis=-1), rtol=1e-4)


def test_bad_world_options_fail_before_anything_runs(tmp_path):
    from pose3d_nb import Pose3D, PoseEngine

    with pytest.raises(Pose3DValueError, match="5"):
        PoseEngine(source="sample", out_dir=tmp_path / "out", fov=5)
    with pytest.raises(Pose3DValueError, match="3.1"):
        Pose3D(height=3.1)
    assert not (tmp_path / "out").exists()


def test_cli_run_takes_the_world_options(tmp_path):
    import subprocess
    import sys

    calibration = tmp_path / "cam.toml"
    calibration.write_text("K = [[830.0, 0.0, 270.0], [0.0, 830.0, 480.0], [0.0, 0.0, 1.0]]\n"
                           "distortion = [-0.05, 0.14, 0.0, 0.0]\nwidth = 540\nheight = 960\n")  # fmt: skip
    command = [sys.executable, "-m", "pose3d_nb.cli", "run", "--source", "sample", "--max-frames", "40"]
    given = ["--out", str(tmp_path / "ok"), "--camera", str(calibration), "--height", "1.8"]
    done = subprocess.run([*command, *given], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    from pose3d_nb import load_session

    meta = load_session(tmp_path / "ok" / "session.npz").metadata
    assert meta["focal_source"] == "file" and meta["focal_px"] == pytest.approx(830)
    assert meta["person_height_source"] == "given"
    # A video file's recording is placed again from the whole clip, with the lens given, and the
    # summary says so (its rows differ from what was shown live).
    assert meta["world_placement"] == "whole clip" and meta["person_height_m"] == pytest.approx(1.8)
    assert meta["bones_held"] is True  # the shipped lifter's rows keep one body
    assert "(placed in the room from the whole clip, each bone at its length over the clip)" in done.stdout
    bad = subprocess.run([*command, "--out", str(tmp_path / "bad"), "--fov", "180"],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert bad.returncode != 0 and "180" in bad.stderr and "field of view" in bad.stderr
    assert not (tmp_path / "bad" / "session.npz").exists()
