"""The generalization protocol: virtual cameras with named factors, and its bench in smoke mode."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from pose3d_nb.benchmarks.viewpoints import DEFAULT_MOCAP_DIR, FACTORS
from pose3d_nb.training.viewpoints import view_camera

RIGHT_HIP, LEFT_HIP, HEAD = 1, 4, 10


def _standing_person() -> np.ndarray:
    """(3, 17, 3) y-up metres: a person facing +z (their right hip at -x), hips 0.3 m apart."""
    joints = np.zeros((17, 3), np.float32)
    joints[:, 1] = np.linspace(0.0, 0.8, 17)
    joints[RIGHT_HIP] = [-0.15, 0.0, 0.0]
    joints[LEFT_HIP] = [0.15, 0.0, 0.0]
    joints[HEAD] = [0.0, 0.8, 0.0]
    joints[3] = [-0.1, -0.9, 0.0]  # right ankle
    return np.repeat(joints[None], 3, axis=0)


def test_view_factor_means_frontal_profile_and_back():
    person = _standing_person()
    hips_apart = {}
    for view in (0, 90, 180):
        camera, screen, _, _ = view_camera(person, view, 0.0, 0.0, 4.0, 60.0, portrait=True)
        hips_apart[view] = screen[1, RIGHT_HIP, 0] - screen[1, LEFT_HIP, 0]
        assert camera[1, 0, 2] == pytest.approx(4.0, abs=0.15)  # the pelvis is 4 m in front
    # Facing the camera, the right hip is on the image's left; from behind, on its right.
    assert hips_apart[0] < -0.05 and hips_apart[180] > 0.05
    assert abs(hips_apart[90]) < 0.01


def test_pitch_roll_and_field_of_view_move_the_image_as_a_camera_does():
    person = _standing_person()
    _, level, _, fraction = view_camera(person, 0, 0.0, 0.0, 4.0, 60.0, portrait=True)
    _, down, _, _ = view_camera(person, 0, 40.0, 0.0, 4.0, 60.0, portrait=True)
    _, rolled, _, _ = view_camera(person, 0, 0.0, 30.0, 4.0, 60.0, portrait=True)
    _, wide, _, wide_fraction = view_camera(person, 0, 0.0, 0.0, 4.0, 100.0, portrait=True)
    height = lambda s: s[1, 3, 1] - s[1, HEAD, 1]  # noqa: E731 - ankle below the head, screen y down
    assert height(down) < height(level)  # seen from above, the body is foreshortened
    body = rolled[1, HEAD] - rolled[1, 3]
    assert np.degrees(np.arctan2(abs(body[0]), abs(body[1]))) == pytest.approx(30, abs=4)
    assert wide_fraction < fraction / 2
    _, _, cut, _ = view_camera(person, 0, 0.0, 0.0, 1.5, 40.0, portrait=False)
    assert cut  # 1.5 m away through a narrow landscape lens, the feet are outside the image


@pytest.mark.skipif(not DEFAULT_MOCAP_DIR.is_dir(), reason=f"needs the mocap arrays at {DEFAULT_MOCAP_DIR}")
def test_bench_viewpoints_smoke_prints_every_factor(tmp_path, capsys):
    from pose3d_nb.cli.bench import cmd_bench, register

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    plot = tmp_path / "viewpoints.png"
    args = parser.parse_args(["bench", "viewpoints", "--smoke", "--json", "--plot", str(plot)])
    assert cmd_bench(args) == 0
    out = capsys.readouterr().out
    figures = json.loads(out.strip().splitlines()[-1])
    assert set(figures["bins"]) == {factor.name for factor in FACTORS}
    for factor in FACTORS:
        rows = figures["bins"][factor.name]
        assert sum(row["n_noisy"] for row in rows) == figures["samples"]
    errors = [row["pa_mpjpe_noisy"] for rows in figures["bins"].values() for row in rows if row["n_noisy"]]
    assert all(10 < e < 300 for e in errors)  # millimetres, and nothing degenerate
    assert plot.stat().st_size > 10_000
    assert "view (0 frontal, 90 profile, 180 back)" in out


@pytest.mark.skipif(not DEFAULT_MOCAP_DIR.is_dir(), reason=f"needs the mocap arrays at {DEFAULT_MOCAP_DIR}")
def test_bench_offline_lift_smoke_compares_pose3d_lift_with_the_engine(capsys, monkeypatch):
    import pose3d_nb.lifting.offline as offline
    from pose3d_nb.cli import build_parser
    from pose3d_nb.cli.bench import cmd_bench, register

    flips, lift_sequence = [], offline.lift_sequence

    def recording_flip(*args, **kwargs):
        flips.append(kwargs.get("flip", False))
        return lift_sequence(*args, **kwargs)

    monkeypatch.setattr(offline, "lift_sequence", recording_flip)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    assert cmd_bench(parser.parse_args(["bench", "offline-lift", "--smoke", "--json"])) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["clips"] == 4
    # Its offline rows are pose3d lift's: they flip as its default does (lift_sequence's is off).
    lift_default = build_parser().parse_args(["lift", "k.npy", "--size", "1", "1", "--lifter", "shipped",
                                              "--out", "o.npy"]).flip
    assert flips and set(flips) == {lift_default} and figures["flip_offline"] is lift_default
    errors = [*figures["pa_mpjpe_mm"].values(), *figures["mpjpe_mm"].values()]
    assert all(10 < e < 300 for e in errors), figures  # millimetres, nothing degenerate
    assert 0 < figures["gravity_deg_offline_zoomed"]["lean_removed"] < 45
    # The engine's recording of a video file and of a camera, live and placed again from the
    # whole clip.
    recording = figures["recording"]
    assert set(recording) == {"live", "whole_clip_free_bones", "whole_clip", "camera_live",
                              "camera_whole_clip"}
    for row in recording.values():
        assert 10 < row["pa_mpjpe_mm"] < 300 and 10 < row["wa_mpjpe_mm"] < 1000, recording
        assert 0 < row["gravity_deg"] < 45, recording
    # What pose3d_nb.motion reads from that recording, against the true motion.
    moved = figures["motion"]
    assert 0 <= moved["walking_speed_error_m_s"] < 2 and 0 <= moved["distance_error_m"] < 20, moved
    assert 0 <= moved["jump_precision"] <= 1 and 0 <= moved["clear_jump_recall"] <= 1, moved


def test_the_whole_clip_zoom_follows_the_person_and_leaves_an_empty_clip_alone():
    from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS
    from pose3d_nb.lifting.zoom import TARGET_HEIGHT, zoom_clip

    width, height = 1080, 1920
    person = np.full((17, 2), np.nan, np.float32)
    person[COCO_BODY_KEYPOINTS] = np.stack([np.full(13, 300.0), np.linspace(800, 1000, 13)], 1)
    # Walking towards the camera: 200 px tall growing to 400 px, a frame missed half-way.
    growth = np.linspace(1, 2, 61)
    clip = np.stack([(person - [300, 900]) * g + [300, 900] for g in growth]).astype(np.float32)
    clip[30] = np.nan
    zoomed = zoom_clip(clip, (width, height))
    body = zoomed[:, COCO_BODY_KEYPOINTS, 1]
    tall = np.ptp(body, axis=1) / width * 2  # screen units
    # Each frame is zoomed by the mean height of 10 frames either side (the missed one takes its
    # neighbours'): on a steady growth that is its own height, so every frame whose window fits
    # in the clip comes out at the target; the ends see one side only.
    inside = np.arange(10, 51) != 30
    assert np.abs(tall[10:51][inside] - TARGET_HEIGHT).max() < 1e-3
    assert np.abs(tall[0] - TARGET_HEIGHT) > 0.05
    assert np.isnan(zoomed[30]).all()  # a missing frame stays missing
    centre = np.array([width / 2, height / 2])
    direction = (zoomed[0, 0] - centre) / (clip[0, 0] - centre)
    assert direction[0] == pytest.approx(direction[1], rel=1e-5)  # about the image centre
    nobody = np.full((5, 17, 2), np.nan, np.float32)
    assert np.isnan(zoom_clip(nobody, (width, height))).all()


def test_zoom_brings_the_person_to_the_target_height_about_the_image_centre():
    from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS, normalize_screen
    from pose3d_nb.lifting.zoom import ScreenZoom, zoom_windows

    width, height = 1920, 1080
    person = np.random.default_rng(3).uniform([1500, 100], [1560, 300], (17, 2)).astype(np.float32)
    person[1:5] = np.nan  # eyes and ears missing: the 13 body keypoints are what counts
    zoom = ScreenZoom(target_height=1.2)
    nobody = np.full((17, 2), np.nan, np.float32)
    assert np.array_equal(zoom(nobody, (width, height)), nobody, equal_nan=True)  # nothing to measure yet
    zoomed = zoom(person, (width, height))
    screen = normalize_screen(zoomed, width, height)[COCO_BODY_KEYPOINTS]
    assert np.ptp(screen[:, 1]) == pytest.approx(1.2, rel=1e-4)
    # About the image centre: a camera with a longer lens at the same place (directions kept).
    before = normalize_screen(person, width, height)[COCO_BODY_KEYPOINTS]
    ratio = screen / before
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-4)
    # A person who bends for one frame barely changes the zoom (a running height).
    crouched = person.copy()
    crouched[:, 1] = 200 + (person[:, 1] - 200) / 2
    zoom(crouched, (width, height))
    assert zoom.height == pytest.approx(np.ptp(before[:, 1]) * 0.975, rel=1e-3)
    # The offline version zooms whole windows alike.
    windows = np.repeat(before[None, None], 5, axis=1)
    np.testing.assert_allclose(np.ptp(zoom_windows(windows, 1.2)[0, 0, :, 1]), 1.2, rtol=1e-4)
