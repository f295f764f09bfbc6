"""`pose3d lift`, `pose3d models` and `pose3d bench lifter` from a user's shell."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from pose3d_nb.cli import main


def pose3d(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pose3d_nb.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def lift(keypoints, checkpoint, out, *options: str, size=(1280, 720)) -> int:
    """``pose3d lift`` in-process; returns its exit status."""
    command = ["lift", str(keypoints), "--size", *map(str, size), "--checkpoint", str(checkpoint)]
    return main([*command, *options, "--out", str(out)])


@pytest.fixture()
def keypoints_file(tmp_path, reference_io):
    path = tmp_path / "kps.npy"
    np.save(path, reference_io["keypoints_px"])
    return path


def test_lift_offline_world(tmp_path, keypoints_file, reference_checkpoint, reference_io):
    out = tmp_path / "out" / "joints.npy"
    code = lift(keypoints_file, reference_checkpoint, out, "--flip", "--world")
    assert code == 0
    np.testing.assert_allclose(np.load(out), reference_io["pred_world_rebased"], atol=1e-4)
    assert np.load(tmp_path / "out" / "joints_valid.npy").all()


def test_lift_causal_camera(tmp_path, keypoints_file, reference_checkpoint, reference_io):
    out = tmp_path / "causal.npy"
    assert lift(keypoints_file, reference_checkpoint, out, "--flip", "--causal") == 0
    np.testing.assert_allclose(np.load(out), reference_io["pred_cam_causal_aug"], atol=1e-4)


def test_lift_flips_by_default_as_the_package_settings_say(tmp_path, keypoints_file, reference_checkpoint,
                                                           reference_io, capsys):
    """Without --flip or --no-flip, pose3d lift takes the package default (``DEFAULTS.flip``, on, as
    pose3d run, the engine and Pose3D, and VideoPose3D's run.py); it was off here alone."""
    from pose3d_nb.settings import DEFAULTS

    assert DEFAULTS.flip is True
    out = tmp_path / "default.npy"
    assert lift(keypoints_file, reference_checkpoint, out) == 0
    assert "flip=True" in capsys.readouterr().out
    np.testing.assert_allclose(np.load(out), reference_io["pred_cam_aug"], atol=1e-4)
    assert lift(keypoints_file, reference_checkpoint, out, "--no-flip", "--overwrite") == 0
    np.testing.assert_allclose(np.load(out), reference_io["pred_cam_noaug"], atol=1e-4)


def test_lift_help_says_the_flip_default_comes_from_the_package_settings(capsys):
    with pytest.raises(SystemExit):
        main(["lift", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "test-time flip augmentation (default: on, from the package settings" in text


def test_lift_stream(tmp_path, keypoints_file, reference_checkpoint, reference_io):
    out = tmp_path / "stream.npy"
    # --no-flip: the reference streaming rows were made without flip augmentation (its README),
    # and pose3d lift flips by default.
    command = ("--stream", "--window", "9", "--lookahead", "4", "--no-flip")
    assert lift(keypoints_file, reference_checkpoint, out, *command) == 0
    joints = np.load(out)
    assert joints.shape == (90, 17, 3), "one row per input frame (the last L flushed at the end)"
    np.testing.assert_allclose(joints[:86], reference_io["stream_la4_win9"], atol=1e-4)


def test_lift_wrong_shape_is_a_usage_error(tmp_path, reference_checkpoint, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 17, 3)))
    code = lift(bad, reference_checkpoint, tmp_path / "o.npy", size=(640, 480))
    assert code == 2
    assert "must have shape (T, 17, 2)" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def test_lift_object_array_is_refused(tmp_path, reference_checkpoint, capsys):
    bad = tmp_path / "obj.npy"
    np.save(bad, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    code = lift(bad, reference_checkpoint, tmp_path / "o.npy", size=(640, 480))
    assert code == 2
    assert "not a plain numeric .npy" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (np.zeros((0, 17, 2), np.float32), "has no frames"),  # was a reshape traceback
        (np.zeros((5, 17, 2), np.complex64), "must be real numbers"),  # was cast, imaginary part dropped
        ("npz", "is a .npz archive: save the (T, 17, 2) array alone"),  # was "got shape (1,)"
        (b"", "is not a plain numeric .npy array"),  # an empty file: was an EOFError traceback
    ],
)
def test_lift_bad_keypoint_arrays_are_one_line(tmp_path, reference_checkpoint, capsys, content, message):
    bad = tmp_path / "bad.npy"
    if isinstance(content, str):
        bad = tmp_path / "bad.npz"
        np.savez(bad, keypoints=np.zeros((5, 17, 2), np.float32))
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        np.save(bad, content)
    assert lift(bad, reference_checkpoint, tmp_path / "o.npy", size=(640, 480)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def test_lift_does_not_replace_an_existing_file_unless_told(tmp_path, keypoints_file, capsys):
    """--out and the _valid.npy mask beside it were written over whatever was there, the
    keypoints being lifted included."""
    mine = tmp_path / "mine.npy"
    mine.write_text("my notes")
    assert lift(keypoints_file, "shipped", mine) == 2
    assert "mine.npy exists; pass --overwrite" in capsys.readouterr().err
    assert mine.read_text() == "my notes"
    mask = tmp_path / "other_valid.npy"  # a file the user never named
    mask.write_text("mine too")
    assert lift(keypoints_file, "shipped", tmp_path / "other.npy") == 2
    assert mask.read_text() == "mine too" and not (tmp_path / "other.npy").exists()
    before = np.load(keypoints_file)
    for options in ([], ["--overwrite"]):
        assert lift(keypoints_file, "shipped", keypoints_file, *options) == 2
        assert "over the keypoints lifted" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(keypoints_file), before)
    assert lift(keypoints_file, "shipped", mine, "--overwrite") == 0
    assert np.load(mine).shape == (len(before), 17, 3)


def test_lift_writes_the_file_it_names(tmp_path, keypoints_file, capsys):
    """np.save added ".npy" to a name without it, while the message named the file without it."""
    out = tmp_path / "joints"
    assert lift(keypoints_file, "shipped", out) == 0
    assert f"-> {out};" in capsys.readouterr().out
    assert np.load(out).shape[1:] == (17, 3) and not (tmp_path / "joints.npy").exists()
    assert np.load(tmp_path / "joints_valid.npy").all()
    assert lift(keypoints_file, "shipped", tmp_path) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.parametrize("space", [[], ["--world"]])
def test_lift_refuses_a_lens_or_height_that_only_grounded_placement_uses(
    tmp_path, keypoints_file, reference_checkpoint, capsys, space
):
    # They were silently ignored: the output did not depend on them.
    options = [*space, "--fov", "50", "--height", "1.7"]
    code = lift(keypoints_file, reference_checkpoint, tmp_path / "o.npy", *options)
    assert code == 2
    assert "--fov, --height: used only with --grounded" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()


def test_lift_turns_the_shipped_lifters_rays_with_the_lens_it_is_given(tmp_path, keypoints_file, capsys):
    """The lens is not only for --grounded: zoomed weights lift each frame as a camera turned to
    the person sees it, with --fov/--focal/--camera when given (it was refused without --grounded
    although the lift used the default lens), in both offline and --stream."""
    for mode in ([], ["--stream"]):
        lifted = {}
        for fov in ("40", "100"):
            out = tmp_path / f"o{fov}{''.join(mode)}.npy"
            assert lift(keypoints_file, "shipped", out, "--fov", fov, *mode) == 0, capsys.readouterr().err
            lifted[fov] = np.load(out)
        assert np.abs(lifted["40"] - lifted["100"]).max() > 0.01, mode  # the turn follows the lens
    assert lift(keypoints_file, "shipped", tmp_path / "h.npy", "--fov", "60", "--height", "1.7") == 2
    assert "--height: used only with --grounded" in capsys.readouterr().err


def test_lift_grounded_checks_its_options_before_lifting(tmp_path, keypoints_file, capsys):
    # Refusals of the command line's values: exit status 2, as argparse's (they exited 1).
    unreadable = tmp_path / "bad.bin"  # not even loaded: the bad option is found first
    unreadable.write_bytes(b"garbage")
    assert lift(keypoints_file, unreadable, tmp_path / "o.npy", "--grounded", "--height", "0") == 2
    assert "height must be a person's height" in capsys.readouterr().err
    assert lift(keypoints_file, unreadable, tmp_path / "o.npy", "--grounded", "--fov", "5") == 2
    assert "field of view must be between" in capsys.readouterr().err
    portrait = tmp_path / "portrait.json"  # the keypoints are of a 1280x720 video
    portrait.write_text(json.dumps({"K": [[1600, 0, 540], [0, 1600, 960], [0, 0, 1]], "width": 1080,
                                    "height": 1920}))
    assert lift(keypoints_file, unreadable, tmp_path / "o.npy", "--grounded", "--camera", str(portrait)) == 2
    assert "for 1080x1920 images, the video is 1280x720" in capsys.readouterr().err


def test_lift_bad_checkpoint_is_one_line_not_a_traceback(tmp_path, keypoints_file):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"garbage")
    result = pose3d(
        "lift",
        str(keypoints_file),
        "--size",
        "1280",
        "720",
        "--checkpoint",
        str(bad),
        "--out",
        str(tmp_path / "o.npy"),
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: cannot read")


@pytest.mark.parametrize("damage", [{"expand_conv.weight": torch.zeros(3, 4)},
                                    {"layers_conv.0.weight": torch.tensor(1.0)}])
def test_lift_checkpoint_with_a_malformed_tensor_is_one_line_not_a_traceback(tmp_path, keypoints_file,
                                                                              damage):
    state = {"expand_conv.weight": torch.zeros(8, 34, 3), "shrink.weight": torch.zeros(51, 8, 1), **damage}
    bad = tmp_path / "damaged.bin"
    torch.save({"model_pos": state}, bad)
    result = pose3d("lift", str(keypoints_file), "--size", "1280", "720", "--checkpoint", str(bad),
                    "--out", str(tmp_path / "o.npy"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    name = next(iter(damage))
    assert result.stderr.startswith(f"error: checkpoint tensor {name} has shape ")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture()
def plain_keypoints(tmp_path):
    """A (30, 17, 2) pixel keypoint file of a 640x480 video (values only: what lift refuses or takes)."""
    path = tmp_path / "plain_kps.npy"
    np.save(path, np.random.default_rng(0).uniform(100, 400, (30, 17, 2)).astype(np.float32))
    return path


def test_lift_takes_the_lifter_option_as_run_names_it(tmp_path, plain_keypoints):
    # Only --checkpoint was taken, while run, batch and the Python front ends all say lifter;
    # --no-flip too, as run spells it.
    out = tmp_path / "o.npy"
    command = ["lift", str(plain_keypoints), "--size", "640", "480", "--lifter", "shipped", "--no-flip"]
    assert main([*command, "--out", str(out)]) == 0
    assert np.load(out).shape == (30, 17, 3)


def test_lift_names_its_lifter_option_and_default_as_run_does(tmp_path, plain_keypoints, capsys,
                                                               monkeypatch):
    """--checkpoint was lift's main, required name (--lifter an alias), while run and batch have
    --lifter, default auto, and call --checkpoint its old name."""
    from pose3d_nb.cli import build_parser
    from pose3d_nb.settings import DEFAULTS

    parser = build_parser()
    base = ["lift", "k.npy", "--size", "640", "480", "--out", "o.npy"]
    assert parser.parse_args(base).lifter == DEFAULTS.lifter == parser.parse_args(["run"]).lifter
    assert parser.parse_args([*base, "--checkpoint", "x.pt"]).lifter == "x.pt"  # the old name
    with pytest.raises(SystemExit):
        parser.parse_args(["lift", "--help"])
    assert "--lifter LIFTER, --checkpoint LIFTER" in capsys.readouterr().out
    # No --lifter: auto, which takes the shipped lifter without an official checkpoint in model/.
    monkeypatch.setenv("POSE3D_MODEL_DIR", str(tmp_path / "no_models"))
    out = tmp_path / "o.npy"
    assert main(["lift", str(plain_keypoints), "--size", "640", "480", "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith("lifter: shipped, ")
    assert np.load(out).shape == (30, 17, 3)


@pytest.mark.parametrize("name", ["mediapipe", "shiped"])
def test_lift_an_unknown_lifter_name_names_the_choices(tmp_path, plain_keypoints, capsys, name):
    # Was "checkpoint not found: mediapipe. Put the file in model/", naming no valid value.
    assert lift(plain_keypoints, name, tmp_path / "o.npy", size=(640, 480)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"pose3d lift: error: unknown lifter {name!r}") and "\n" not in err
    assert "takes shipped, auto or a checkpoint path" in err
    assert not (tmp_path / "o.npy").exists()


def test_lift_refuses_a_frame_size_below_one_pixel(tmp_path, plain_keypoints, capsys):
    # --size 0 480 lifted (a divide-by-zero warning) before "frame size must be positive".
    with pytest.raises(SystemExit) as stop:
        lift(plain_keypoints, "shipped", tmp_path / "o.npy", size=(0, 480))
    assert stop.value.code == 2
    assert "argument --size: expected a whole number of at least 1, got '0'" in capsys.readouterr().err


def test_lift_refuses_window_and_lookahead_without_stream(tmp_path, plain_keypoints, capsys):
    # They were silently ignored offline, as the lens options were without --grounded.
    code = lift(plain_keypoints, "shipped", tmp_path / "o.npy", "--window", "9", "--lookahead", "2",
                size=(640, 480))
    assert code == 2
    assert "--window, --lookahead: used only with --stream" in capsys.readouterr().err
    assert not (tmp_path / "o.npy").exists()
    # A negative one with --stream is named before the model loads (was: the missing checkpoint).
    code = lift(plain_keypoints, tmp_path / "none.bin", tmp_path / "o.npy", "--stream", "--window", "-1",
                size=(640, 480))
    assert code == 2 and "window must be >= 0, got -1" in capsys.readouterr().err


def test_models_lists_the_main_checkpoint(tmp_path):
    result = pose3d("models", "--dir", str(tmp_path))
    assert result.returncode == 0
    assert "https://dl.fbaipublicfiles.com/video-pose-3d/pretrained_h36m_detectron_coco.bin" in result.stdout
    assert "missing" in result.stdout
    (tmp_path / "pretrained_h36m_detectron_coco.bin").write_bytes(b"x")
    assert "h36m_detectron_coco    present" in pose3d("models", "--dir", str(tmp_path)).stdout


def test_models_fetch_offline_fails_fast_with_manual_instructions(tmp_path):
    start = time.monotonic()
    result = pose3d("models", "fetch", "h36m_detectron_coco", "--dir", str(tmp_path), timeout=120)
    elapsed = time.monotonic() - start
    if result.returncode == 0:
        pytest.skip("this machine has internet access; the offline path cannot be exercised")
    assert result.returncode == 1
    assert "copy it to" in result.stderr and str(tmp_path) in result.stderr
    assert not list(tmp_path.iterdir()), "no partial file left behind"
    assert elapsed < 60


def test_models_fetch_unknown_name(tmp_path):
    result = pose3d("models", "fetch", "nope", "--dir", str(tmp_path))
    assert result.returncode == 2 and "known: h36m_detectron_coco" in result.stderr
    # Every name `pose3d models fetch` takes is listed, the detector models included.
    assert "mediapipe-lite" in result.stderr and "mediapipe-heavy" in result.stderr


def test_models_fetch_a_detector_model_into_another_folder_is_refused(tmp_path):
    # --dir was silently ignored for detector models: the file went to the cache the detector
    # reads, not where the user asked.
    result = pose3d("models", "fetch", "mediapipe-heavy", "--dir", str(tmp_path))
    assert result.returncode == 2 and "set POSE3D_CACHE_DIR instead" in result.stderr
    assert not list(tmp_path.iterdir())


def test_models_fetch_takes_a_name_in_any_case(tmp_path):
    # "MediaPipe-Heavy" was an unknown model, though --detector MediaPipe-Heavy runs it; the
    # refusal below is the one "mediapipe-heavy" gets (no download is tried).
    result = pose3d("models", "fetch", "MediaPipe-Heavy", "--dir", str(tmp_path))
    assert result.returncode == 2 and "set POSE3D_CACHE_DIR instead" in result.stderr
    assert "unknown model" not in result.stderr


def test_models_names_the_lifter_option_as_run_does(tmp_path):
    result = pose3d("models", "--dir", str(tmp_path))
    assert result.returncode == 0
    assert "in use with --lifter auto:" in result.stdout  # was --checkpoint, run's old name


@pytest.mark.slow
def test_bench_lifter_json_reports_both_strategies():
    result = pose3d("bench", "lifter", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["receptive_field"] == 243 and figures["flip"] is True
    assert figures["streaming_ms"] > 0 and figures["recompute_ms"] > 0
    # Not a timing assertion: the streaming path must be structurally cheaper, by a wide margin.
    assert figures["recompute_ms"] > 3 * figures["streaming_ms"]


def test_lift_shipped_holds_each_bone_at_its_clip_median_unless_asked_not_to(tmp_path, keypoints_file):
    from pose3d_nb.training.skeleton_model import bone_lengths

    held, free = tmp_path / "held.npy", tmp_path / "free.npy"
    assert lift(keypoints_file, "shipped", held) == 0
    assert lift(keypoints_file, "shipped", free, "--bones", "free") == 0
    held_lengths, free_lengths = bone_lengths(np.load(held)), bone_lengths(np.load(free))
    assert held_lengths.std(0).max() < 1e-5, "one body for the whole clip"
    assert free_lengths.std(0).max() > 1e-3, "as lifted, the lengths vary from frame to frame"
    np.testing.assert_allclose(held_lengths[0], np.median(free_lengths, 0), atol=1e-5)


def test_lift_causal_keeps_the_lifted_bone_lengths_unless_asked(tmp_path, keypoints_file):
    """--causal rows use no later frame, so the whole-clip bone lengths are not its default."""
    from pose3d_nb.training.skeleton_model import bone_lengths

    causal, held = tmp_path / "causal.npy", tmp_path / "held.npy"
    assert lift(keypoints_file, "shipped", causal, "--causal") == 0
    assert lift(keypoints_file, "shipped", held, "--causal", "--bones", "held") == 0
    assert bone_lengths(np.load(causal)).std(0).max() > 1e-3
    assert bone_lengths(np.load(held)).std(0).max() < 1e-5


def test_lift_held_bones_need_the_whole_clip(tmp_path, keypoints_file, capsys):
    assert lift(keypoints_file, "shipped", tmp_path / "x.npy", "--stream", "--bones", "held") == 2
    assert "--bones held needs the whole clip" in capsys.readouterr().err


def test_lift_never_replaces_a_recorded_session(tmp_path, keypoints_file, capsys):
    """`--out OUT/session.npz --overwrite` wrote the lifted array over the recording."""
    from pose3d_nb.buffer import RollingBuffer
    from pose3d_nb.recording import write_session

    session = tmp_path / "take" / "session.npz"
    session.parent.mkdir()
    write_session(session, RollingBuffer(4).snapshot(), {"source": "camera"})
    before = session.read_bytes()
    for options in ([], ["--overwrite"]):
        assert lift(keypoints_file, "shipped", session, *options) == 2
        assert "a recorded session, which pose3d lift never replaces" in capsys.readouterr().err
    assert session.read_bytes() == before


def test_lift_grounded_places_at_the_frame_rate_it_is_given(tmp_path, reference_io, capsys):
    # A keypoint file says no frame rate, and --grounded assumed 30 fps whatever the video's: the
    # path starts again after a second without the person (and is smoothed over seconds). Here
    # the person is missing for 20 frames and back further away (smaller): 1.3 s at 15 fps, a
    # new path; at 30 fps, 0.7 s, one path smoothed across (a 15 fps clip's person hidden 1.5 s
    # was 0.82 m off).
    keypoints = reference_io["keypoints_px"].astype(np.float64)
    keypoints[35:55] = np.nan
    centre = np.nanmean(keypoints[55:], axis=1, keepdims=True)
    keypoints[55:] = centre + 0.6 * (keypoints[55:] - centre)
    source = tmp_path / "kps.npy"
    np.save(source, keypoints.astype(np.float32))
    placed = {}
    for name, options in (("default", []), ("30", ["--fps", "30"]), ("15", ["--fps", "15"])):
        out = tmp_path / f"g{name}.npy"
        assert lift(source, "shipped", out, "--grounded", *options) == 0, capsys.readouterr().err
        placed[name] = np.load(out)
    np.testing.assert_array_equal(placed["default"], placed["30"])
    moved = np.linalg.norm(placed["15"][:, 0] - placed["30"][:, 0], axis=-1)
    assert np.nanmax(moved) > 0.1, np.nanmax(moved)
    assert lift(source, "shipped", tmp_path / "x.npy", "--fps", "15") == 2
    assert "--fps: used only with --grounded" in capsys.readouterr().err
    for bad in ("0", "nan", "inf"):
        assert lift(source, "shipped", tmp_path / "y.npy", "--grounded", "--fps", bad) == 2
        assert "--fps must be a positive frame rate" in capsys.readouterr().err


def test_models_fetch_of_the_model_the_package_ships_says_there_is_nothing_to_fetch(tmp_path):
    # "unknown model 'mediapipe'", though --detector mediapipe is the default and runs.
    result = pose3d("models", "fetch", "mediapipe", "--dir", str(tmp_path))
    assert result.returncode == 2 and "ships inside the mediapipe package: nothing to fetch" in result.stderr
    assert "mediapipe-heavy" in result.stderr and "unknown model" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_lift_grounded_says_the_camera_it_placed_the_poses_under(tmp_path, reference_io, capsys):
    # A recording's metadata keeps the camera's pitch, roll, height and focal length and where
    # each came from; `lift --grounded` writes only the poses, and said nothing of them. (These
    # keypoints are random, not a person: the numbers are not checked, the line is.)
    source = tmp_path / "kps.npy"
    np.save(source, reference_io["keypoints_px"].astype(np.float32))
    capsys.readouterr()
    assert lift(source, "shipped", tmp_path / "g.npy", "--grounded", "--focal", "900") == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("camera: "))
    assert re.fullmatch(r"camera: pitch -?\d+\.\d deg, roll -?\d+\.\d deg, height -?\d+\.\d\d m "
                        r"\(up from the (people|scene)\), focal 900 px \(focal\)", line), line
