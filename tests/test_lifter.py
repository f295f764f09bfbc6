"""The lifter reproduces the original VideoPose3D numbers, offline and streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose3d_nb.lifting.checkpoint import load_model
from pose3d_nb.lifting.keypoints import fill_gaps, normalize_screen
from pose3d_nb.lifting.model import Architecture, TemporalModel
from pose3d_nb.lifting.offline import lift_sequence
from pose3d_nb.lifting.streaming import StreamingLifter
from pose3d_nb.lifting.world import camera_to_world, rebase_floor
from pose3d_nb.skeleton import COCO, H36M

TOL = 1e-4
SIZE = (1280, 720)


@pytest.fixture(scope="module")
def model(reference_checkpoint):
    return load_model(reference_checkpoint)


@pytest.fixture(scope="module")
def causal_model(reference_checkpoint):
    return load_model(reference_checkpoint, causal=True)


def stream(model, keypoints, window=0, lookahead=0, flip=False, flush=False):
    lifter = StreamingLifter(model, window=window, lookahead=lookahead, flip=flip)
    outputs = []
    for frame in keypoints:
        outputs += lifter.push(frame, SIZE)
    if flush:
        outputs += lifter.flush()
    return outputs


def test_full_architecture_matches_original_state_dict(full_arch_shapes):
    model = TemporalModel(Architecture(filter_widths=(3, 3, 3, 3, 3), channels=1024))
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == full_arch_shapes["state_dict_shapes"]
    assert sum(p.numel() for p in model.parameters()) == full_arch_shapes["num_parameters"]
    assert model.arch.receptive_field == full_arch_shapes["receptive_field"] == 243


def test_architecture_inferred_from_checkpoint(model, reference_io):
    assert model.arch.filter_widths == (3, 3, 3)
    assert model.arch.channels == 64
    assert model.arch.receptive_field == int(reference_io["receptive_field"])


def test_screen_normalisation(reference_io):
    got = normalize_screen(
        reference_io["keypoints_px"], int(reference_io["width"]), int(reference_io["height"])
    )
    np.testing.assert_allclose(got, reference_io["keypoints_norm"], atol=1e-6)


def test_left_right_lists_match_original(reference_io):
    assert list(COCO.left) == reference_io["kps_left"].tolist()
    assert list(COCO.right) == reference_io["kps_right"].tolist()
    assert list(H36M.left) == reference_io["joints_left"].tolist()
    assert list(H36M.right) == reference_io["joints_right"].tolist()


@pytest.mark.parametrize("flip, key", [(False, "pred_cam_noaug"), (True, "pred_cam_aug")])
def test_offline_matches_original(model, reference_io, flip, key):
    lifted = lift_sequence(model, reference_io["keypoints_px"], SIZE, flip=flip)
    np.testing.assert_allclose(lifted.joints, reference_io[key], atol=TOL)
    assert lifted.valid.all()


def test_offline_causal_matches_original(causal_model, reference_io):
    lifted = lift_sequence(causal_model, reference_io["keypoints_px"], SIZE, flip=True)
    np.testing.assert_allclose(lifted.joints, reference_io["pred_cam_causal_aug"], atol=TOL)


def test_world_rotation_and_floor(reference_io):
    world = camera_to_world(reference_io["pred_cam_aug"], reference_io["orientation"])
    np.testing.assert_allclose(world, reference_io["pred_world"], atol=TOL)
    np.testing.assert_allclose(rebase_floor(world), reference_io["pred_world_rebased"], atol=TOL)
    per_frame = rebase_floor(world, per_frame=True)
    np.testing.assert_allclose(per_frame[..., 2].min(axis=1), 0, atol=1e-6)


@pytest.mark.parametrize("lookahead", [0, 4])
@pytest.mark.parametrize("window", [0, 9])
def test_streaming_matches_original(model, reference_io, lookahead, window):
    expected = reference_io[f"stream_la{lookahead}_win{window}"]
    outputs = stream(model, reference_io["keypoints_px"], window=window, lookahead=lookahead)
    assert [o.frame for o in outputs] == list(range(len(expected)))
    np.testing.assert_allclose(np.stack([o.joints for o in outputs]), expected, atol=TOL)
    assert all(o.latency_frames == lookahead for o in outputs)


def test_streaming_with_full_lookahead_equals_offline(model, causal_model, reference_io):
    pad = model.arch.pad
    outputs = stream(model, reference_io["keypoints_px"], lookahead=pad, flip=True, flush=True)
    np.testing.assert_allclose(np.stack([o.joints for o in outputs]), reference_io["pred_cam_aug"], atol=TOL)
    causal = stream(causal_model, reference_io["keypoints_px"], flip=True)
    np.testing.assert_allclose(
        np.stack([o.joints for o in causal]), reference_io["pred_cam_causal_aug"], atol=TOL
    )


def _stream_reference(model, keypoints, window, lookahead, t):
    """The streaming definition, computed the slow way: edge-padded window through the full model."""
    newest = t + lookahead
    first = min(max(0, newest - window + 1), t) if window else 0
    return lift_sequence(model, keypoints[first : newest + 1], SIZE).joints[t - first]


def test_knobs_changing_between_frames(model, reference_io):
    keypoints = reference_io["keypoints_px"]
    lifter = StreamingLifter(model)
    schedule = {0: (0, 0), 20: (9, 3), 35: (0, 7), 50: (5, 1), 70: (13, 13)}
    seen = []
    for newest, frame in enumerate(keypoints):
        if newest in schedule:
            lifter.window, lifter.lookahead = schedule[newest]
        for output in lifter.push(frame, SIZE):
            window, lookahead = lifter.window, newest - output.frame
            expected = _stream_reference(model, keypoints, window, lookahead, output.frame)
            np.testing.assert_allclose(output.joints, expected, atol=TOL)
            seen.append(output.frame)
    seen += [o.frame for o in lifter.flush()]
    assert seen == list(range(len(keypoints))), "every frame is output exactly once"


def test_flip_toggle_mid_stream(model, reference_io):
    keypoints = reference_io["keypoints_px"]
    lifter = StreamingLifter(model, lookahead=4)
    for newest, frame in enumerate(keypoints):
        lifter.flip = (newest // 10) % 2 == 1
        for output in lifter.push(frame, SIZE):
            if 30 <= output.frame < 50 and lifter.flip:
                reference = lift_sequence(model, keypoints[: newest + 1], SIZE, flip=True).joints
                np.testing.assert_allclose(output.joints, reference[output.frame], atol=TOL)


def test_streaming_computes_only_what_the_newest_output_needs(monkeypatch):
    """At receptive field 243 a step must not run a convolution over the window."""
    torch.manual_seed(0)
    model = TemporalModel(Architecture(channels=32)).eval()
    lifter = StreamingLifter(model, window=243, lookahead=0, flip=True)
    rng = np.random.default_rng(0)
    for _ in range(300):
        lifter.push(rng.uniform(0, 500, (17, 2)), (640, 480))
    rows = []
    original = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda b, x, w: rows.append(x.shape[0]) or original(b, x, w))
    lifter.push(rng.uniform(0, 500, (17, 2)), (640, 480))
    # 5 levels; per level and flip branch: one new cached activation, one straddling the newest
    # frame, one standing for everything beyond it. A recompute would evaluate hundreds of rows.
    assert max(rows) <= 6
    assert sum(rows) <= 6 * 9


def test_nan_frames_offline_are_interpolated_and_masked(model, reference_io):
    keypoints = reference_io["keypoints_px"].copy()
    keypoints[10:15] = np.nan
    keypoints[0:3] = np.nan
    keypoints[40, 5] = np.nan  # one joint missing
    filled, valid = fill_gaps(keypoints)
    assert np.isfinite(filled).all()
    assert not valid[10:15].any() and not valid[:3].any() and not valid[40] and valid[20]
    np.testing.assert_allclose(filled[12], (keypoints[9] * 3 + keypoints[15] * 3) / 6, atol=1e-3)
    np.testing.assert_allclose(filled[0], keypoints[3])
    lifted = lift_sequence(model, keypoints, SIZE)
    assert np.isfinite(lifted.joints).all()
    np.testing.assert_array_equal(lifted.valid, valid)


def test_nan_everywhere_offline_is_a_clear_error(model):
    with pytest.raises(ValueError, match="no frame has a detection"):
        lift_sequence(model, np.full((30, 17, 2), np.nan), SIZE)


def test_nan_frames_streaming_are_held_and_masked(model, reference_io):
    keypoints = reference_io["keypoints_px"].copy()
    keypoints[:4] = np.nan  # nobody yet
    keypoints[30:33] = np.nan  # lost for 3 frames
    keypoints[50, 9] = np.nan  # one wrist missing
    outputs = stream(model, keypoints, lookahead=0)
    valid = np.array([o.valid for o in outputs])
    joints = np.stack([o.joints for o in outputs])
    assert not valid[:4].any() and not valid[30:33].any() and not valid[50]
    assert valid[4:30].all() and valid[33:50].all()
    assert np.isnan(joints[:4]).all(), "no detection yet: NaN, flagged invalid"
    assert np.isfinite(joints[4:]).all(), "after the first detection: never NaN"
    # While lost, the held 2D is the last detection: same input as repeating frame 29.
    held = keypoints.copy()
    held[30:33] = keypoints[29]
    held[50, 9] = keypoints[49, 9]
    expected = stream(model, held[4:], lookahead=0)
    np.testing.assert_allclose(joints[4:], np.stack([o.joints for o in expected]), atol=TOL)


def test_bad_streaming_input(model):
    lifter = StreamingLifter(model)
    with pytest.raises(ValueError, match=r"\(17, 2\)"):
        lifter.push(np.zeros((17, 3)), SIZE)
    with pytest.raises(ValueError, match="lookahead must be between 0 and 13"):
        lifter.lookahead = 20
    with pytest.raises(ValueError, match="window must be >= 0"):
        lifter.window = -1
    lifter.push(np.zeros((17, 2)), SIZE)
    with pytest.raises(ValueError, match="frame size changed"):
        lifter.push(np.zeros((17, 2)), (640, 480))
