"""Argument handling of the developer tools: ``pose3d bench`` and the ``python -m`` fitting and
measuring scripts. Bad input is a usage error (exit 2) or one line (exit 1), never a traceback
after minutes of work, and a shipped data file is not replaced unless asked."""

from __future__ import annotations

import numpy as np
import pytest

from pose3d_nb.cli import main as pose3d


@pytest.mark.parametrize(
    "arguments",
    [
        ["lifter", "--threads", "-1"],  # torch's RuntimeError after the model was built
        ["batch", "--clips", "0"],  # "no inputs given: name video files ...", about a batch never named
        ["batch", "--max-frames", "-1"],  # IndexError while cutting the clips
        ["recording", "--max-frames", "0"],  # 0 read as "not given": the full 108,000-row run
        ["offline-lift", "--seed", "-1"],  # numpy's ValueError after the lifter was loaded
    ],
)
def test_bench_rejects_counts_and_seeds_out_of_range_as_usage_errors(arguments, capsys):
    with pytest.raises(SystemExit) as stop:
        pose3d(["bench", *arguments])
    assert stop.value.code == 2
    assert "expected a whole number of at least" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        # All taken and ignored, exit 0 after the recording benchmark ran.
        (["recording", "--max-frames", "10", "--seed", "5", "--smoke", "--views", "/nonexistent",
          "--plot", "p.png"],
         "bench recording does not use --views, --smoke, --plot, --seed (--views only with accuracy, "
         "world, follow; --smoke only with viewpoints, world, left-right, offline-lift, follow; --plot "
         "only with viewpoints, world; --seed only with offline-lift)"),
        # --smoke ignored: the full benchmark would have run.
        (["accuracy", "--smoke"], "bench accuracy does not use --smoke (--smoke only with viewpoints"),
        # Given at its default value: still given, still refused.
        (["lifter", "--seed", "11"], "bench lifter does not use --seed (--seed only with offline-lift)"),
        (["offline-lift", "--threads", "1", "--clips", "6", "--source", "sample"],
         "bench offline-lift does not use --threads, --source, --clips"),
    ],
)
def test_bench_refuses_an_option_its_benchmark_does_not_use_before_running(arguments, says, capsys,
                                                                          monkeypatch):
    import importlib

    ran = []
    for module in ("recording", "accuracy", "lifter", "offline_lift"):
        monkeypatch.setattr(importlib.import_module(f"pose3d_nb.benchmarks.{module}"), "run",
                            lambda *a, **k: ran.append(k))
    assert pose3d(["bench", *arguments]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pose3d bench: error: {says}") and len(err.splitlines()) == 1
    assert not ran


@pytest.mark.parametrize("what", ["detect", "pipeline", "people"])
def test_bench_refuses_a_source_that_is_not_there_before_running(what, tmp_path, capsys, monkeypatch):
    import importlib

    # It loaded the detector and lifter first, then failed with exit status 1.
    ran = []
    module = importlib.import_module(f"pose3d_nb.benchmarks.{what}")
    monkeypatch.setattr(module, "run", lambda *a, **k: ran.append(k))
    assert pose3d(["bench", what, "--source", str(tmp_path / "missing.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pose3d bench: error: no such file or folder") and "missing.mp4" in err
    assert not ran


def test_bench_options_reach_the_benchmarks_that_use_them(monkeypatch):
    """The check lets through what each benchmark takes, and the ones left out get their defaults."""
    import pose3d_nb.benchmarks.batch
    import pose3d_nb.benchmarks.lifter
    import pose3d_nb.benchmarks.offline_lift

    ran = {}
    benchmarks = pose3d_nb.benchmarks
    for module in (benchmarks.batch, benchmarks.lifter, benchmarks.offline_lift):
        monkeypatch.setattr(module, "run", lambda module=module, **k: ran.setdefault(module.__name__, k))
    assert pose3d(["bench", "lifter", "--threads", "2", "--json"]) == 0
    assert pose3d(["bench", "batch", "--max-frames", "20"]) == 0
    assert pose3d(["bench", "offline-lift", "--smoke", "--seed", "41", "--mocap", "m"]) == 0
    assert ran["pose3d_nb.benchmarks.lifter"] == {"threads": 2, "as_json": True}
    assert ran["pose3d_nb.benchmarks.batch"] == {"clips": 6, "frames": 20, "as_json": False}
    assert ran["pose3d_nb.benchmarks.offline_lift"] == {"mocap_dir": "m", "clips": 4, "seed": 41,
                                                        "as_json": False}
    ran.clear()
    assert pose3d(["bench", "offline-lift"]) == 0
    assert ran["pose3d_nb.benchmarks.offline_lift"]["seed"] == 11


def test_models_help_explains_its_positional_arguments(capsys):
    with pytest.raises(SystemExit):
        pose3d(["models", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "list (the default): the known checkpoints" in help_text and "fetch: download NAME" in help_text
    assert "NAME fetch: a known checkpoint or detector model" in help_text


@pytest.mark.parametrize(
    ("arguments", "prog", "says"),
    [
        (["run", "--detector", "nope"], "pose3d run", "argument --detector: invalid choice: 'nope'"),
        (["batch", "v", "--out", "o", "--export", "gif"], "pose3d batch", "unknown export format(s) ['gif']"),
        (["export", "s.npz", "--format", "gif"], "pose3d export", "argument --format: invalid choice: 'gif'"),
        (["lift", "k.npy", "--size", "640", "480"], "pose3d lift", "the following arguments are required"),
        (["bench", "nope"], "pose3d bench", "invalid choice: 'nope'"),
        ([], "pose3d", "the following arguments are required: command"),
        # Said as "pose3d: error:", by the parser of every command, not the one given.
        (["batch", "v", "--out", "o", "--bogus"], "pose3d batch", "unrecognized arguments: --bogus"),
        (["run", "--bogus", "1"], "pose3d run", "unrecognized arguments: --bogus 1"),
    ],
)
def test_usage_errors_are_one_line_as_every_other_refusal(capsys, arguments, prog, says):
    # argparse printed its usage lines above the error; README: "a bad value ... is one line".
    with pytest.raises(SystemExit) as stop:
        pose3d(arguments)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: ") and says in err
    assert err.rstrip().endswith(f"({prog} --help lists the options)")


@pytest.mark.parametrize("port", ["0", "-1", "70000", "http"])
def test_demo_refuses_a_port_out_of_range_before_starting_jupyterlab(port, capsys, monkeypatch):
    import pose3d_nb.lab

    started = []
    monkeypatch.setattr(pose3d_nb.lab, "launch_demo", lambda **options: started.append(options))
    with pytest.raises(SystemExit) as stop:  # was taken as any int and handed to JupyterLab
        pose3d(["demo", "--port", port])
    assert stop.value.code == 2 and not started
    assert f"argument --port: expected a port number from 1 to 65535, got '{port}'" in capsys.readouterr().err
    assert pose3d(["demo", "--port", "8899"]) == 0 and started[0]["port"] == 8899


def test_the_tools_usage_errors_are_one_line_too(capsys):
    from pose3d_nb.training.measure import main

    with pytest.raises(SystemExit) as stop:
        main([])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the following arguments are required: video" in err


def test_measure_help_prints_usage_instead_of_opening_a_video_named_help(capsys):
    from pose3d_nb.training.measure import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    assert "usage: python -m pose3d_nb.training.measure" in capsys.readouterr().out


def test_measure_on_a_missing_video_is_one_line(tmp_path, capsys):
    from pose3d_nb.training.measure import main

    assert main([str(tmp_path / "missing.mp4")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no such file or folder") and "missing.mp4" in err
    assert "\n" not in err


def test_measure_takes_a_detector_name_in_any_case(tmp_path, capsys):
    from pose3d_nb.training.measure import main

    # Refused by argparse (exit 2, "invalid choice") before: pose3d run takes names in any case.
    assert main([str(tmp_path / "missing.mp4"), "--detector", "MediaPipe-People"]) == 1
    assert capsys.readouterr().err.strip().startswith("error: no such file or folder")
    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "missing.mp4"), "--detector", "no-such-detector"])
    assert stop.value.code == 2
    assert "invalid choice: 'no-such-detector'" in capsys.readouterr().err


def test_measure_on_frames_with_nobody_says_so_in_one_line(tmp_path, capsys):
    import cv2

    from pose3d_nb.training.measure import main

    for index in range(3):
        cv2.imwrite(str(tmp_path / f"{index:03d}.png"), np.zeros((240, 320, 3), np.uint8))
    assert main([str(tmp_path)]) == 1  # was a traceback from np.stack of no frames
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no frame of") and "MediaPipe world landmarks" in err
    assert "\n" not in err


def test_reliability_with_a_missing_mocap_folder_is_one_line(tmp_path, capsys):
    from pose3d_nb.training.reliability import main

    assert main(["--mocap", str(tmp_path / "no_mocap")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"error: mocap folder not found: {tmp_path / 'no_mocap'}"


@pytest.mark.parametrize("module", ["lean_fit", "gravity_training"])
def test_fitting_scripts_keep_an_existing_output_unless_told_to_overwrite(module, tmp_path, capsys):
    import importlib

    main = importlib.import_module(f"pose3d_nb.world.{module}").main
    existing = tmp_path / "kept.out"
    existing.write_text("made before")
    with pytest.raises(SystemExit) as stop:
        main(["--out", str(existing)])  # refused before any fitting starts
    assert stop.value.code == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "made before"


@pytest.mark.parametrize("module", ["lean_fit", "gravity_training"])
def test_fitting_scripts_name_a_missing_mocap_folder_in_one_line(module, tmp_path, capsys):
    import importlib

    main = importlib.import_module(f"pose3d_nb.world.{module}").main
    out = tmp_path / "new.out"
    assert main(["--mocap", str(tmp_path / "no_mocap"), "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip() == f"error: mocap folder not found: {tmp_path / 'no_mocap'}"
    assert not out.exists()


def test_gravity_compare_with_a_missing_weights_file_is_one_line(tmp_path, capsys):
    from pose3d_nb.world.gravity_training import main

    assert main(["--compare", str(tmp_path / "old.npz")]) == 1
    assert capsys.readouterr().err.strip() == f"error: no weights file at {tmp_path / 'old.npz'}"


@pytest.mark.timeout(120)
def test_train_takes_the_mocap_option_as_the_other_tools_name_it(tmp_path, capsys):
    # Only --data was taken, while pose3d bench and the fitting tools say --mocap for the folder.
    assert pose3d(["train", "--mocap", str(tmp_path / "absent"), "--out", str(tmp_path / "c.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pose3d train: error: mocap folder not found") and "absent" in err


def test_train_refuses_a_negative_seed_as_bench_does(tmp_path, capsys):
    # --seed -1 was taken and ended in numpy's traceback once the data was loaded.
    with pytest.raises(SystemExit) as stop:
        pose3d(["train", "--data", str(tmp_path), "--out", str(tmp_path / "c.pt"), "--seed", "-1"])
    assert stop.value.code == 2
    assert "argument --seed: expected a whole number of at least 0, got '-1'" in capsys.readouterr().err


def test_bench_pipeline_max_frames_beyond_the_file_ends_with_the_file(tmp_path):
    """``--max-frames`` more than the engine will give (a short file, or a paced one dropping
    frames) waited its whole 600 s timeout and reported frames/s over it."""
    import cv2

    from pose3d_nb.benchmarks.pipeline import _engine

    for index in range(5):
        cv2.imwrite(str(tmp_path / f"{index:03d}.png"), np.zeros((240, 320, 3), np.uint8))
    result = _engine(str(tmp_path), "mediapipe", max_frames=50)
    assert result["frames"] == 5
    assert result["fps"] > 0.5  # 5 frames over the run, not over the 600 s timeout


_LIFT = ["lift", "TMP/k.npy", "--size", "640", "480", "--lifter", "shipped"]


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--window", "-1"],
        ["run", "--fov", "500"],
        ["run", "--height", "9"],
        ["run", "--follow", "-5,10"],
        ["run", "--lifter", "nope"],  # was found after the folder was made
        ["batch", "TMP/v.mp4", "--lookahead", "-2"],
        ["batch", "TMP/v.mp4", "--fov", "500"],
        ["batch", "TMP/v.mp4", "--max-frames", "0"],  # refused by every video's engine, one by one
        ["batch", "TMP/v.mp4", "--fps", "nan"],
        [*_LIFT, "--stream", "--window", "-1"],
        [*_LIFT, "--grounded", "--height", "9"],
        ["export", "TMP/session.npz", "--format", "trc", "--units", "cm"],
        # Beyond what the lifter sees: known once it is loaded, it exited 1 after --out was made.
        ["run", "--window", "100000"],
        ["run", "--lifter", "mediapipe", "--lookahead", "3"],
        ["batch", "TMP/v.mp4", "--window", "100000"],
        # A calibration file that is not there exited 1, one that does not parse 2.
        ["run", "--camera", "TMP/missing.json"],
        ["batch", "TMP/v.mp4", "--camera", "TMP/missing.json"],
        [*_LIFT, "--grounded", "--camera", "TMP/missing.json"],
        # A lifter the detector cannot feed: run exited 1 leaving an empty --out, batch failed
        # every video.
        ["run", "--lifter", "mediapipe", "--detector", "detectron2", "--follow", "none"],
        ["batch", "TMP/v.mp4", "--lifter", "mediapipe", "--detector", "detectron2", "--follow", "none"],
        # A checkpoint file that is not there: batch exited 2, run 1 (an empty --out) and lift 1.
        ["run", "--lifter", "TMP/missing.pt"],
        ["lift", "TMP/k.npy", "--size", "640", "480", "--lifter", "TMP/missing.pt"],
        # Beyond what the lifter sees: pose3d run and batch exited 2, lift 1.
        [*_LIFT, "--stream", "--window", "1000"],
        [*_LIFT, "--stream", "--lookahead", "1000"],
        # A 173 degree lens on a 640 px wide frame: lifted to no finite joint, without a word.
        [*_LIFT, "--grounded", "--focal", "20"],
    ],
    ids=" ".join,
)
def test_a_value_a_command_checks_itself_is_refused_as_argparse_refuses_one(arguments, tmp_path, capsys):
    # These exited 1, as a failed run does, while argparse's refusals exit 2: now every refusal of
    # the command line's own values is exit status 2 and one line in argparse's words, before
    # any work (nothing is read, no folder made).
    out = tmp_path / "out"
    given = [word.replace("TMP", str(tmp_path)) for word in arguments]
    assert pose3d([*given, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    prog = f"pose3d {arguments[0]}"
    assert err.count("\n") == 1 and err.startswith(f"{prog}: error: "), err
    assert err.rstrip().endswith(f"({prog} --help lists the options)")
    assert not out.exists()
    if "100000" in arguments:  # the valid values
        assert "window must be between 0 and 27 frames (the lifter's receptive field" in err
    if "--camera" in arguments:  # the message names the fix
        assert "missing.json; give an existing calibration file" in err and "focal length instead" in err
    if "detectron2" in arguments:
        assert "detector 'detectron2' gives no world_landmarks, which lifter 'mediapipe' requires" in err
    if "TMP/missing.pt" in arguments:
        assert "missing.pt' is neither" in err and "nor a checkpoint file" in err
    if "1000" in arguments:
        assert "must be between 0 and" in err
    if "--focal" in arguments:
        assert "focal length 20 px is a 173 degree field of view across the 640x480 image's longer" in err


def test_a_focal_length_out_of_range_for_the_video_is_refused_once_its_size_is_known(tmp_path, capsys):
    # The sample is 540x960: a 20 px focal is a 175 degree lens. It ran to the end and recorded
    # no finite joint; now the first frame stops the run, refused as a value of the command line.
    status = pose3d(["run", "--focal", "20", "--max-frames", "3", "--out", str(tmp_path / "out")])
    assert status == 2
    err = capsys.readouterr().err
    assert "focal length 20 px is a 175 degree field of view across the 540x960 image's longer side" in err
    assert "a focal length between 41.99 and 5486 px for this image" in err


def test_a_failure_in_the_work_still_exits_1(tmp_path, capsys):
    # The other side: what fails once a command works on its inputs is exit status 1, one line.
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"not a video" * 100)
    (tmp_path / "empty").mkdir()
    np.save(tmp_path / "k.npy", np.zeros((5, 17, 2), np.float32))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"garbage")
    failures = [
        ["run", "--source", str(corrupt), "--out", str(tmp_path / "run")],  # a video that cannot be read
        ["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "batch")],  # inputs holding no video
        ["lift", str(tmp_path / "k.npy"), "--size", "640", "480", "--lifter", str(garbage),
         "--out", str(tmp_path / "o.npy")],  # a checkpoint that cannot be read
        ["export", str(garbage), "--format", "trc"],  # a session that cannot be read (a missing one: 2)
    ]
    for arguments in failures:
        assert pose3d(arguments) == 1, arguments
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, (arguments, err)
    assert not (tmp_path / "run").exists()  # the empty --out the run made goes again


def test_an_engine_error_of_another_kind_than_a_follow_point_is_a_failed_run(tmp_path, capsys, monkeypatch):
    # pose3d run took any Pose3DValueError behind the engine's error for the user's value (exit
    # 2); only a follow point outside the first frame is one. The rest failed in the work: 1.
    from pose3d_nb.detectors.follow import PeopleFollower
    from pose3d_nb.errors import Pose3DValueError

    def failing(self, point):
        raise Pose3DValueError("a value found wrong while the video is processed")

    monkeypatch.setattr(PeopleFollower, "check_point", failing)
    status = pose3d(["run", "--follow", "10,10", "--max-frames", "3", "--out", str(tmp_path / "out")])
    assert status == 1
    assert "a value found wrong while the video is processed" in capsys.readouterr().err
