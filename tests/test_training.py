"""Training the lifter on mocap: a smoke run, resuming, bad data, and the shipped weights."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import asdict

import numpy as np
import pytest
import torch

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.lifting.checkpoint import load_model, read_checkpoint, trained_zoom_height
from pose3d_nb.lifting.choice import SHIPPED_SHA256, shipped_checkpoint, shipped_meta, shipped_model
from pose3d_nb.lifting.offline import lift_sequence
from pose3d_nb.lifting.streaming import StreamingLifter
from pose3d_nb.lifting.zoom import TARGET_HEIGHT
from pose3d_nb.training.mocap import Clip, MocapDataError, load_file, load_mocap
from pose3d_nb.training.synth import SyntheticPairs
from pose3d_nb.training.trainer import TrainConfig, TrainingStopped, state_path, train, with_init

TINY = dict(channels=64, batch=16, validation_samples=64, evaluate_every=40, save_every=20)


@pytest.fixture(scope="module")
def mocap_slice(shared_samples):
    """A few training clips and one held-out clip of the real mocap (../shared/mocap)."""
    mocap = shared_samples.parent / "mocap"
    if not mocap.is_dir():
        pytest.skip(f"{mocap} is absent")
    clips = load_file(mocap / "cmu_motionpred_dmgnn.npz")
    train_clips = [c for c in clips if not c.held_out][:4]
    held = [c for c in clips if c.held_out][:1]
    return train_clips + held


@pytest.fixture(scope="module")
def mocap_folder(mocap_slice, tmp_path_factory):
    """``mocap_slice`` as a data folder for ``pose3d train --data``."""
    folder = tmp_path_factory.mktemp("mocap")
    np.savez(
        folder / "cmu_motionpred_dmgnn.npz",
        positions=np.concatenate([c.positions for c in mocap_slice]),
        lengths=np.array([len(c.positions) for c in mocap_slice]),
        fps=np.array([c.fps for c in mocap_slice]),
        names=np.array([c.name for c in mocap_slice]),
    )
    return folder


TINY_COMMAND = ("--steps", "3", "--channels", "16", "--batch", "4")


def _weights(path):
    return read_checkpoint(path)["model_pos"]


def test_smoke_training_loss_falls_and_the_checkpoint_streams_like_offline(mocap_slice, tmp_path):
    out = tmp_path / "lifter.pt"
    meta = train(None, out, TrainConfig(steps=240, **TINY), progress=False, clips=mocap_slice)
    history = json.loads(torch.load(state_path(out), weights_only=True)["history"])
    losses = np.array(history["loss"])
    assert losses[-40:].mean() < 0.8 * losses[:40].mean(), (losses[:40].mean(), losses[-40:].mean())
    assert meta["held_out_mpjpe_mm"] is not None and history["val"][-1] < history["val"][0]
    assert out.with_suffix(".loss.png").stat().st_size > 1000
    # It learned on zoomed 2D and says so, so lifting code zooms it (as framed it is far off).
    assert meta["input_zoom_height"] == TARGET_HEIGHT == trained_zoom_height(out)

    model = load_model(out)  # through the safe loader
    assert model.arch.num_joints_in == 13 and model.arch.receptive_field == 27
    rng = np.random.default_rng(0)
    keypoints = (rng.uniform(200, 400, (1, 17, 2)) + np.cumsum(rng.normal(0, 3, (60, 17, 2)), 0)).astype(
        np.float32
    )
    offline = lift_sequence(model, keypoints, (640, 480), flip=True).joints
    stream = StreamingLifter(model, window=0, lookahead=model.arch.pad, flip=True)
    outputs = [o for frame in keypoints for o in stream.push(frame, (640, 480))] + stream.flush()
    np.testing.assert_allclose(np.stack([o.joints for o in outputs]), offline, atol=1e-4)


def test_an_interrupted_run_resumes_to_the_same_weights(mocap_slice, tmp_path, monkeypatch):
    config = TrainConfig(steps=60, **TINY)
    straight = tmp_path / "straight.pt"
    train(None, straight, config, progress=False, clips=mocap_slice)

    resumed = tmp_path / "resumed.pt"
    calls = {"n": 0}
    original = SyntheticPairs.batch

    def interrupted(self, size):
        calls["n"] += 1
        if calls["n"] == 31:  # after the state saved at step 20, mid-way to the next
            raise KeyboardInterrupt
        return original(self, size)

    monkeypatch.setattr(SyntheticPairs, "batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(None, resumed, config, progress=False, clips=mocap_slice)
    assert not resumed.exists() and state_path(resumed).is_file()
    monkeypatch.setattr(SyntheticPairs, "batch", original)
    train(None, resumed, config, progress=False, clips=mocap_slice)
    a, b = _weights(straight), _weights(resumed)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


def test_a_state_from_before_zoomed_training_is_not_resumed(mocap_slice, tmp_path):
    """Its config reads the same; resumed, it would mix unzoomed and zoomed steps in weights
    whose meta says zoomed."""
    settings = {**TINY, "save_every": 10}
    config = TrainConfig(steps=20, **settings)
    out = tmp_path / "lifter.pt"
    train(None, out, TrainConfig(steps=10, **settings), progress=False, clips=mocap_slice)
    state = torch.load(state_path(out), weights_only=True)
    del state["input_zoom_height"]  # as an older version wrote it
    state["config"] = json.dumps(asdict(config))
    torch.save(state, state_path(out))
    with pytest.raises(Pose3DValueError, match="not zoomed.*--no-resume"):
        train(None, out, config, progress=False, clips=mocap_slice)
    train(None, out, config, resume=False, progress=False, clips=mocap_slice)
    assert json.loads(torch.load(out, weights_only=True)["meta"])["steps"] == 20


def _write(path, **arrays):
    np.savez(path, **arrays)
    return path


def _clip_arrays(positions):
    return dict(
        positions=positions, lengths=np.array([len(positions)]), fps=np.array([30.0]), names=np.array(["a"])
    )


@pytest.mark.parametrize(
    ("positions", "message"),
    [
        (np.full((10, 17, 3), np.nan, np.float32), "NaN"),
        (np.zeros((10, 16, 3), np.float32), r"shape \(N, 17, 3\)"),
        (np.zeros((0, 17, 3), np.float32), "empty"),
    ],
)
def test_bad_training_data_is_refused_with_the_reason(tmp_path, positions, message):
    path = _write(tmp_path / "bad.npz", **_clip_arrays(positions))
    with pytest.raises(MocapDataError, match=message) as error:
        load_file(path)
    assert "bad.npz" in str(error.value)


def test_the_train_command_refuses_a_folder_without_data(tmp_path):
    _write(tmp_path / "x.npz", **_clip_arrays(np.zeros((5, 17, 3), np.float32))).unlink()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pose3d_nb.cli",
            "train",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.pt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "no .npz files" in result.stderr
    assert not (tmp_path / "o.pt").exists()


def test_eval_only_data_is_never_trained_on(shared_samples):
    mocap = shared_samples.parent / "mocap"
    if not mocap.is_dir():
        pytest.skip(f"{mocap} is absent")
    clips = load_mocap(mocap)
    assert all(c.held_out for c in clips if c.dataset == "cmu_iclone")
    assert {c.dataset for c in clips if not c.held_out} == {
        "cmu_motionpred_dmgnn", "cmu131_bvh11", "reactidle_mit", "deepmimic_pybullet"
    }  # fmt: skip
    held = [c.name for c in clips if c.held_out and c.dataset == "cmu_motionpred_dmgnn"]
    assert held and all(name.startswith("test/") for name in held)


def test_shipped_weights_are_the_committed_file_and_architecture():
    path = shipped_checkpoint()
    assert path.is_file() and path.stat().st_size < 20 * 1024 * 1024
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHIPPED_SHA256
    model = shipped_model()
    arch = model.arch
    assert (arch.filter_widths, arch.channels, arch.num_joints_in, arch.num_joints_out) == (
        (3, 3, 3),
        256,
        13,
        17,
    )
    meta = shipped_meta()
    assert meta["steps"] == meta["config"]["steps"] and "CMU" in meta["data"]


def test_synthetic_pairs_are_upright_people_in_view():
    """The virtual cameras see a person the right way up, left limbs labelled left."""
    walk = np.zeros((200, 17, 3), np.float32)
    from pose3d_nb.skeleton import H36M

    # A T-posed person facing +z (their left is +x), y up, walking forward.
    pose = {"pelvis": (0, 1, 0), "right_hip": (-0.1, 1, 0), "right_knee": (-0.1, 0.55, 0),
            "right_foot": (-0.1, 0.1, 0), "left_hip": (0.1, 1, 0), "left_knee": (0.1, 0.55, 0),
            "left_foot": (0.1, 0.1, 0), "spine": (0, 1.25, 0), "neck": (0, 1.5, 0), "nose": (0, 1.6, 0.1),
            "head": (0, 1.75, 0), "left_shoulder": (0.2, 1.5, 0), "left_elbow": (0.45, 1.5, 0),
            "left_hand": (0.7, 1.5, 0), "right_shoulder": (-0.2, 1.5, 0), "right_elbow": (-0.45, 1.5, 0),
            "right_hand": (-0.7, 1.5, 0)}  # fmt: skip
    for name, xyz in pose.items():
        walk[:, H36M.index(name)] = xyz
    walk[..., 2] += np.linspace(0, 2, 200)[:, None]
    pairs = SyntheticPairs([Clip(walk, 60.0, "t", "t", False)], np.ones(1), 42, 13, None, seed=3)
    for _ in range(20):
        keypoints, targets, mask = pairs.sample()
        assert keypoints.shape == (42, 13, 2) and targets.shape == (16, 17, 3) and mask.any()
        np.testing.assert_allclose(targets[:, 0], 0, atol=1e-6)
        head, feet = targets[:, 10, 1], targets[:, [3, 6], 1].mean(axis=1)
        assert (head < feet).all()  # camera y points down


def _walker_camera(view_deg: float):
    """A held-out-like person seen from ``view_deg`` (0 frontal, 90 profile): camera-frame joints
    (T, 17, 3) and the lifter's 13 screen keypoints (T, 13, 2)."""
    from pose3d_nb.training.synth import KEYPOINT_JOINTS
    from pose3d_nb.training.viewpoints import view_camera

    t = np.linspace(0, 2 * np.pi, 60)[:, None]
    rest = np.array([[0, 1, 0], [-0.1, 1, 0], [-0.1, 0.55, 0], [-0.1, 0.1, 0], [0.1, 1, 0],
                     [0.1, 0.55, 0], [0.1, 0.1, 0], [0, 1.25, 0], [0, 1.5, 0], [0, 1.6, 0.1], [0, 1.75, 0],
                     [0.2, 1.5, 0], [0.2, 1.2, 0], [0.2, 0.95, 0], [-0.2, 1.5, 0], [-0.2, 1.2, 0],
                     [-0.2, 0.95, 0]])  # fmt: skip
    joints = np.repeat(rest[None], len(t), 0)
    joints[:, [12, 13, 15, 16], 2] += 0.15 * np.sin(t) * np.array([1, 1.5, -1, -1.5])  # arms swing
    camera, screen, _, _ = view_camera(joints, view_deg, 10.0, 0.0, 4.0, 60.0, portrait=True)
    return camera, screen[:, KEYPOINT_JOINTS].astype(np.float32)


def _occlusion_only(occlusion: str):
    from pose3d_nb.training.noise import DetectorNoise
    from pose3d_nb.training.synth import LIFT_KEYPOINTS, LIFT_MIRROR

    return DetectorNoise(LIFT_KEYPOINTS, LIFT_MIRROR, jitter_scale=(0.0, 0.0), bias=0.0, drift=0.0,
                         hold_probability=0.0, swap_probability=0.0, occlusion=occlusion)  # fmt: skip


def test_view_occlusion_hides_the_limbs_the_body_turns_away():
    """In profile the far side's elbows, wrists, knees and ankles are mostly guessed (as MediaPipe
    reports them), the near side's rarely; seen square on, neither side more than rarely."""
    from pose3d_nb.training.noise import far_side
    from pose3d_nb.training.synth import LIFT_KEYPOINTS

    noise = _occlusion_only("view")
    limbs = np.isin(LIFT_KEYPOINTS, [7, 8, 9, 10, 13, 14, 15, 16])
    for view in (90.0, 0.0):
        camera, keypoints = _walker_camera(view)
        side = far_side(camera, LIFT_KEYPOINTS).mean(0)
        moved = [noise.apply(np.random.default_rng(seed), keypoints, 0.5, camera=camera) != keypoints
                 for seed in range(200)]  # fmt: skip
        hidden = np.mean([m.any(-1).mean(0) for m in moved], axis=0)  # share of each keypoint's frames
        far, near = limbs & (side > 0.7), limbs & (side < 0.4)
        if view == 90.0:
            assert far.sum() == 4 and near.sum() == 4, side  # one whole side turned away
            assert hidden[far].min() > 0.3 and hidden[far].mean() > 0.6, hidden  # ankles 42 %, elbows 96 %
        assert hidden[near].max() < 0.1, (view, hidden)
        assert hidden[~limbs].max() == 0, hidden  # the nose, shoulders and hips are never hidden


def test_keypoint_occlusion_ignores_the_camera_so_shipped_recipes_reproduce():
    """The default noise draws exactly what it drew before the camera could be passed."""
    from pose3d_nb.training.trainer import make_noise

    camera, keypoints = _walker_camera(90.0)
    plain = make_noise().apply(np.random.default_rng(7), keypoints, 0.5)
    given = make_noise().apply(np.random.default_rng(7), keypoints, 0.5, camera=camera)
    np.testing.assert_array_equal(plain, given)
    with pytest.raises(ValueError, match="camera"):
        make_noise("view").apply(np.random.default_rng(7), keypoints, 0.5)
    with pytest.raises(ValueError, match="occlusion"):
        make_noise("nowhere").apply(np.random.default_rng(7), keypoints, 0.5)


def test_train_with_view_occlusion_records_it(mocap_slice, tmp_path):
    out = tmp_path / "view.pt"
    config = TrainConfig(steps=20, extra={"occlusion": "view"}, **TINY)
    meta = train(None, out, config, progress=False, clips=mocap_slice)
    assert meta["config"]["extra"] == {"occlusion": "view"}
    assert json.loads(read_checkpoint(out)["meta"])["config"]["extra"] == {"occlusion": "view"}


def test_measure_splits_low_visibility_by_the_side_turned_away():
    """``training.measure`` counts a hidden limb on the far side when the body is in profile."""
    from pose3d_nb.training.measure import occlusion_by_turn

    world = np.zeros((2, 33, 3))
    landmarks = {0: (0, -0.6), 11: (0.2, -0.5), 12: (-0.2, -0.5), 13: (0.25, -0.2), 14: (-0.25, -0.2),
                 15: (0.3, 0.05), 16: (-0.3, 0.05), 23: (0.1, 0), 24: (-0.1, 0), 25: (0.1, 0.45),
                 26: (-0.1, 0.45), 27: (0.1, 0.9), 28: (-0.1, 0.9)}  # fmt: skip
    for index, (x, y) in landmarks.items():
        world[:, index] = (x, y, 0.0)
    world[1, :, [0, 2]] = world[1, :, [2, 0]]  # frame 1 turned 90 degrees: the left side away (+z)
    scores = np.ones((2, 17))
    scores[:, [7, 9, 13, 15]] = 0.1  # the left elbow, wrist, knee and ankle reported hidden
    square_on, _, profile = occlusion_by_turn(world, scores)
    assert square_on["frames"] == 1 and profile["frames"] == 1
    assert profile["elbow"] == (1.0, 0.0) and profile["ankle"] == (1.0, 0.0)  # far, near
    assert square_on["knee"] in ((1.0, 0.0), (0.0, 1.0))  # square on, "far" is a coin toss


def _train_command(*args: str) -> subprocess.CompletedProcess:
    """``pose3d train ARGS`` in a child process."""
    command = [sys.executable, "-m", "pose3d_nb.cli", "train", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("option", ["--steps", "--batch", "--channels", "--threads"])
def test_the_train_command_refuses_counts_below_one_before_writing(tmp_path, option):
    """--steps 0 wrote an untrained checkpoint and exited 0; --batch 0 and --channels 0 failed
    mid-run with a traceback from inside torch."""
    result = _train_command("--data", str(tmp_path), "--out", str(tmp_path / "o.pt"), option, "0")
    assert result.returncode == 2 and f"{option}: expected a whole number of at least 1" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_a_training_config_without_steps_is_refused():
    with pytest.raises(Pose3DValueError, match="steps must be a positive whole number"):
        TrainConfig(steps=0)


def test_the_train_command_never_overwrites_a_file_it_did_not_write(mocap_folder, tmp_path):
    """A user's file given as --out was replaced by the weights once training ended; a folder
    failed only then, with a message naming a temporary file."""
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    # Refusals of the command line's --out, naming the fix: exit status 2 (they were 1, as a failed run).
    result = _train_command("--data", str(mocap_folder), "--out", str(notes), *TINY_COMMAND)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"pose3d train: error: {notes} exists and is not a checkpoint written by pose3d train; "
        "choose another output file")
    assert notes.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    result = _train_command("--data", str(mocap_folder), "--out", str(tmp_path), *TINY_COMMAND)
    assert result.returncode == 2
    assert result.stderr.startswith(
        f"pose3d train: error: {tmp_path} is a folder; give the checkpoint's file name")
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(tmp_path.name)) == [
        tmp_path.name
    ]


def test_an_unwritable_output_folder_is_refused_before_training(mocap_slice, tmp_path, monkeypatch):
    """Such a folder failed at the first state save (step 500) with torch's traceback."""

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", refuse)
    monkeypatch.setattr(SyntheticPairs, "batch", lambda *a: pytest.fail("training started"))
    with pytest.raises(Pose3DValueError, match=f"cannot write in {tmp_path} .Permission denied."):
        train(None, tmp_path / "lifter.pt", TrainConfig(steps=5, **TINY), progress=False, clips=mocap_slice)


def test_an_output_under_the_home_folder_is_written_there(mocap_slice, tmp_path, monkeypatch):
    # "~/lifter.pt" made a folder named "~" in the working folder (--out of run, lift and export
    # expand it).
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    train(None, "~/lifter.pt", TrainConfig(steps=2, **TINY), progress=False, clips=mocap_slice)
    assert (tmp_path / "home" / "lifter.pt").is_file() and not (tmp_path / "~").exists()


def test_a_repeated_run_rewrites_its_own_checkpoint(mocap_slice, tmp_path):
    out = tmp_path / "lifter.pt"
    train(None, out, TrainConfig(steps=5, **TINY), progress=False, clips=mocap_slice)
    meta = train(None, out, TrainConfig(steps=6, **TINY), resume=False, progress=False, clips=mocap_slice)
    assert meta["steps"] == 6 and json.loads(read_checkpoint(out)["meta"])["steps"] == 6


class _RunsCodeWhenUnpickled:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickled')",))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "EOFError: the file is empty"),
        (b"not a state at all", "not a training state .unreadable pickle data"),
        (b"junk\n", "not a training state .unreadable pickle data"),  # KeyError inside torch: a traceback
        (b"abc\n", "not a training state .unreadable pickle data"),  # IndexError inside torch
        ({"config": _RunsCodeWhenUnpickled()}, "objects other than tensors, which are refused"),
        ({"step": 3}, "not a state pose3d train wrote .no model, optimizer"),
    ],
)
def test_a_state_file_that_is_not_one_is_refused_in_one_line(mocap_folder, tmp_path, content, message):
    """Such files gave tracebacks (UnpicklingError, KeyError); one holding code must never run it."""
    out = tmp_path / "lifter.pt"
    if isinstance(content, bytes):
        state_path(out).write_bytes(content)
    else:
        torch.save(content, state_path(out))
    result = _train_command("--data", str(mocap_folder), "--out", str(out), *TINY_COMMAND)
    # Refused before the data loads, as a value of the command line (exit 2; it was 1), naming --no-resume.
    assert result.returncode == 2 and "Traceback" not in result.stderr and "unpickled" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"pose3d train: error: cannot resume from {state_path(out)}")
    assert "--no-resume" in last
    assert re.search(message, last), last
    assert not out.exists()


def test_a_stopped_run_saves_the_step_it_reached_and_resumes_to_the_same_weights(
    mocap_slice, tmp_path, monkeypatch
):
    """A stop (Ctrl-C, SIGTERM) lost every step since the last save_every."""
    config = TrainConfig(steps=30, **TINY)  # saves at 20 and 30
    straight = tmp_path / "straight.pt"
    train(None, straight, config, progress=False, clips=mocap_slice)

    stop, calls, original = threading.Event(), {"n": 0}, SyntheticPairs.batch

    def stop_after_step_7(self, size):
        calls["n"] += size == config.batch  # not the validation set's windows
        if calls["n"] == 7:
            stop.set()
        return original(self, size)

    monkeypatch.setattr(SyntheticPairs, "batch", stop_after_step_7)
    stopped = tmp_path / "stopped.pt"
    with pytest.raises(TrainingStopped, match=f"stopped at step 7 of 30; its state is saved in {stopped}"):
        train(None, stopped, config, progress=False, clips=mocap_slice, stop=stop)
    assert not stopped.exists() and torch.load(state_path(stopped), weights_only=True)["step"] == 7
    train(None, stopped, config, progress=False, clips=mocap_slice)
    a, b = _weights(straight), _weights(stopped)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=0)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_train_command_saves_its_state_on_a_signal(mocap_folder, tmp_path, signum, status):
    """Ctrl-C printed a traceback and SIGTERM killed the run, each losing the steps since the last save."""
    out = tmp_path / "lifter.pt"
    command = [sys.executable, "-m", "pose3d_nb.cli", "train", "--data", str(mocap_folder), "--out", str(out)]
    command += ["--steps", "100000", "--channels", "16", "--batch", "4"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(120, child.kill)
    watchdog.start()
    try:
        seen = b""
        while not re.search(rb"\dstep/s", seen) and child.poll() is None:  # the bar shows a rate: steps made
            seen += child.stderr.read1(4096)
        child.send_signal(signum)
        _, rest = child.communicate(timeout=60)
    finally:
        watchdog.cancel()
    last = (seen + rest).decode().replace("\r", "\n").strip().splitlines()[-1]
    assert child.returncode == status and "Traceback" not in rest.decode(), rest.decode()[-2000:]
    stopped = re.fullmatch(rf"stopped at step (\d+) of 100000; its state is saved in {out}.state: .*", last)
    assert stopped and int(stopped[1]) > 0, last
    assert torch.load(state_path(out), weights_only=True)["step"] == int(stopped[1])
    assert not out.exists()


def _walk_clip():
    """A walker (y up, facing +z) crossing 2 m: enough motion for the camera to turn to them."""
    from pose3d_nb.skeleton import H36M

    rest = {"pelvis": (0, 1, 0), "right_hip": (-0.1, 1, 0), "right_knee": (-0.1, 0.55, 0.05),
            "right_foot": (-0.1, 0.1, 0), "left_hip": (0.1, 1, 0), "left_knee": (0.1, 0.55, 0.05),
            "left_foot": (0.1, 0.1, 0), "spine": (0, 1.25, 0), "neck": (0, 1.5, 0), "nose": (0, 1.6, 0.1),
            "head": (0, 1.75, 0), "left_shoulder": (0.2, 1.5, 0), "left_elbow": (0.25, 1.25, 0),
            "left_hand": (0.3, 1.0, 0.1), "right_shoulder": (-0.2, 1.5, 0), "right_elbow": (-0.25, 1.25, 0),
            "right_hand": (-0.3, 1.0, 0.1)}  # fmt: skip
    walk = np.zeros((200, 17, 3), np.float32)
    for name, xyz in rest.items():
        walk[:, H36M.index(name)] = xyz
    walk[..., 0] += np.linspace(0, 2, 200)[:, None]
    return Clip(walk, 60.0, "t", "t", False)


def test_centred_training_pairs_are_each_frame_seen_straight_on():
    """``--centre-rays``: each frame's 2D is what a camera turned to the person sees (their
    keypoints' centre on its axis) and its 3D target is in that camera's axes, so the 2D is a
    true perspective projection of the target, as the engine lifts (``lifting.rays``). Targets
    left in the first camera's axes would not project onto the turned 2D."""
    from scipy.optimize import least_squares

    from pose3d_nb.training.synth import KEYPOINT_JOINTS, SynthConfig

    config = SynthConfig(centre_rays=True, edge_freeze_probability=0.0)
    pairs = SyntheticPairs([_walk_clip()], np.ones(1), 42, 13, None, seed=5, config=config)
    worst_turn = 0.0
    for _ in range(6):
        keypoints, targets, mask = pairs.sample()
        assert mask.all()
        # Each frame on the axis (the mean ray is; projected again, the mean moves a little).
        np.testing.assert_allclose(keypoints.mean(axis=1), 0, atol=0.01)
        for frame in (0, 8, 15):
            joints, seen = targets[frame, KEYPOINT_JOINTS].astype(np.float64), keypoints[13 + frame]

            def residual(p, joints=joints, seen=seen):
                at = joints + p[:3]
                return (p[3] * at[:, :2] / at[:, 2:] - seen).ravel()

            fit = least_squares(residual, [0.0, 0.0, 5.0, 2.0], bounds=([-5, -5, 0.5, 0.1], [5, 5, 50, 50]))
            assert np.abs(fit.fun).max() < 1e-4, np.abs(fit.fun).max()
        # The targets were turned (frames away from the middle one are seen off the first axis).
        plain = SyntheticPairs([_walk_clip()], np.ones(1), 42, 13, None, seed=5,
                               config=SynthConfig(edge_freeze_probability=0.0))  # fmt: skip
        worst_turn = max(worst_turn, float(np.abs(plain.sample()[1] - targets).max()))
    assert worst_turn > 0.01


def test_fine_tuning_starts_from_the_given_weights_and_records_them(mocap_slice, tmp_path):
    """``pose3d train --init CKPT``: the run starts from those weights (one small step stays near
    them; random weights are far), and their hash is part of the settings a state resumes with."""
    from pose3d_nb.lifting.checkpoint import CheckpointError
    from pose3d_nb.lifting.weights import sha256_of

    first = tmp_path / "first.pt"
    train(None, first, TrainConfig(steps=20, **TINY), progress=False, clips=mocap_slice)
    tuned = tmp_path / "tuned.pt"
    config = TrainConfig(steps=1, learning_rate=1e-6, final_learning_rate=1e-7, seed=9,
                         extra={"centre_rays": True}, **TINY)  # fmt: skip
    meta = train(None, tuned, config, progress=False, clips=mocap_slice, init=first)
    assert meta["config"]["extra"] == {"centre_rays": True, "init_file": "first.pt",
                                       "init_sha256": sha256_of(first)}  # fmt: skip
    assert meta["input_centred_rays"] is True
    start, end = _weights(first), _weights(tuned)
    scratch = tmp_path / "scratch.pt"
    train(None, scratch, TrainConfig(steps=1, learning_rate=1e-6, final_learning_rate=1e-7, seed=9, **TINY),
          progress=False, clips=mocap_slice)  # fmt: skip
    name = "expand_conv.weight"
    assert torch.allclose(start[name], end[name], atol=1e-4)
    assert not torch.allclose(start[name], _weights(scratch)[name], atol=1e-2)
    # Another width cannot start from it, and the command line says so before any data loads.
    with pytest.raises(CheckpointError, match="does not fit"):
        train(None, tmp_path / "wide.pt", TrainConfig(steps=1, **{**TINY, "channels": 32}),
              progress=False, clips=mocap_slice, init=first)  # fmt: skip
    result = _train_command("--data", str(tmp_path), "--out", str(tmp_path / "o.pt"), "--init", str(tmp_path))
    assert result.returncode == 2 and "--init: checkpoint not found" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o.pt").exists()
    # Settings that name a start, without the file: it would train from random weights under them.
    with pytest.raises(Pose3DValueError, match="start from first.pt .*pass that file as init="):
        train(None, tmp_path / "lost.pt", with_init(config, first), progress=False, clips=mocap_slice)
    # Fine-tuned into the file it starts from, the starting weights would be gone.
    before = first.read_bytes()
    with pytest.raises(Pose3DValueError, match="--init and --out are the same file"):
        train(None, first, config, progress=False, clips=mocap_slice, init=first)
    result = _train_command("--data", str(tmp_path), "--out", str(first), "--init", str(first))
    assert result.returncode == 2 and "--init and --out are the same file" in result.stderr, result.stderr
    assert first.read_bytes() == before
