"""`pose3d batch` and `pose3d_nb.batch.process`: a collection of videos on Dask.

Short clips cut from the bundled sample (30 frames each) keep the Dask runs to seconds; the slow
tests share one 2-worker LocalCluster started here, except the ones that need their own processes
(the command's own pool under Ctrl-C, a scheduler and two workers started as separate programs,
the notebook's kernel).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pose3d_nb import cli
from pose3d_nb.batch import (
    BatchInputError,
    BatchSettings,
    ClusterError,
    find_videos,
    gather_videos,
    output_names,
    place_outputs,
    process,
    write_clip,
)
from pose3d_nb.batch.manifest import MANIFEST, SESSION, read_manifest
from pose3d_nb.batch.placement import FolderInTheWay, writable_reason
from pose3d_nb.batch.staging import STAGING, new_staging, publish, remove_stale, staging_key
from pose3d_nb.errors import Pose3DError
from pose3d_nb.recording import SESSION_ARRAYS, load_session
from pose3d_nb.world import Intrinsics

CLIP_FRAMES = 30
BIN = Path(sys.executable).parent


# ---------------------------------------------------------------------------- inputs, names, settings
def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_inputs_are_files_folders_globs_and_lists(tmp_path):
    a = _touch(tmp_path / "v" / "a.mp4")
    b = _touch(tmp_path / "v" / "sub" / "b.MOV")
    c10, c2 = _touch(tmp_path / "w" / "c10.avi"), _touch(tmp_path / "w" / "c2.avi")
    _touch(tmp_path / "v" / "notes.txt")
    _touch(tmp_path / "v" / ".staging" / "x.mp4")  # hidden: a batch's own leftovers
    odd = _touch(tmp_path / "odd.bin")
    listing = tmp_path / "list.txt"
    listing.write_text(f"# my videos\n\nodd.bin\n{c10}\n")
    a, b, c10, c2, odd = (p.resolve() for p in (a, b, c10, c2, odd))
    assert find_videos(tmp_path / "v") == [a, b]  # searched, sub-folders too, by suffix
    assert find_videos(str(tmp_path / "w" / "*.avi")) == [c2, c10]  # natural order
    assert find_videos([listing]) == [odd, c10]  # relative to the list; any suffix when named
    assert find_videos([a, tmp_path / "v", str(a)]) == [a, b]  # each once, in the order given


def test_a_folder_input_searches_linked_sub_folders_once(tmp_path):
    # Linked sub-folders (videos on another drive) were skipped without a word.
    elsewhere = _touch(tmp_path / "elsewhere" / "far.mp4").resolve()
    near = _touch(tmp_path / "v" / "near.mp4").resolve()
    (tmp_path / "v" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "v" / "linked_again").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere" / "up").symlink_to(tmp_path / "v", target_is_directory=True)  # a loop
    assert sorted(find_videos(tmp_path / "v")) == sorted([near, elsewhere])


def test_inputs_that_name_nothing_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError, match="no video found in"):
        find_videos(tmp_path / "empty")
    with pytest.raises(BatchInputError, match="no such file or folder"):
        find_videos(tmp_path / "missing.mp4")
    with pytest.raises(BatchInputError, match="matches no video"):
        find_videos(str(tmp_path / "*.mkv"))
    assert cli.main(["batch", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 1


def test_a_list_named_twice_or_shared_by_two_lists_is_no_loop(tmp_path):
    a, b = _touch(tmp_path / "v" / "a.mp4").resolve(), _touch(tmp_path / "v" / "b.mp4").resolve()
    (tmp_path / "common.txt").write_text("v/a.mp4\n")
    (tmp_path / "day1.txt").write_text("common.txt\n")
    (tmp_path / "day2.txt").write_text("common.txt\nv/b.mp4\n")
    assert find_videos([tmp_path / "day1.txt", tmp_path / "day2.txt"]) == [a, b]
    assert find_videos([tmp_path / "common.txt", tmp_path / "common.txt"]) == [a]
    (tmp_path / "common.txt").write_text("v/a.mp4\nday2.txt\n")  # a real loop: common -> day2 -> common
    with pytest.raises(BatchInputError, match="day2.txt includes itself"):
        find_videos(tmp_path / "day2.txt")


def test_inputs_that_name_nothing_are_set_aside_for_a_batch(tmp_path):
    a = _touch(tmp_path / "v" / "a.mp4").resolve()
    listing = tmp_path / "list.txt"
    listing.write_text("v/a.mp4\ngone.mp4\n")
    videos, missing = gather_videos([a, tmp_path / "missing.mp4", listing, str(tmp_path / "*.mkv")])
    assert videos == [a]
    assert missing == {
        str(tmp_path / "missing.mp4"): f"no such file or folder: {tmp_path / 'missing.mp4'}",
        str(tmp_path / "gone.mp4"): f"no such file or folder: {tmp_path / 'gone.mp4'}",  # from the list
        str(tmp_path / "*.mkv"): f"the pattern {str(tmp_path / '*.mkv')!r} matches no video",
    }
    (tmp_path / "empty").mkdir()
    with pytest.raises(BatchInputError, match="no video found in"):
        gather_videos(tmp_path / "empty")  # inputs that exist but hold no video: still an error


def _fake_output(folder: Path, video: Path, *extra: str) -> None:
    """A folder as a batch leaves it for ``video`` (manifest listing session.npz), plus ``extra`` files."""
    _touch(folder / "session.npz")
    (folder / MANIFEST).write_text(json.dumps({"input": str(video), "files": ["session.npz"]}))
    for name in extra:
        _touch(folder / name)


def test_outputs_never_share_a_folder_nor_take_one_the_batch_did_not_make(tmp_path):
    out = tmp_path / "out"
    d1, d2, own, mine = Path("/d1/clip.mp4"), Path("/d2/clip.mp4"), Path("/d1/own.mp4"), Path("/d1/mine.mp4")
    _fake_output(out / "clip", d1)  # an earlier batch of /d1/clip.mp4 alone
    _touch(out / "own" / "notes.txt")  # the user's folder
    _fake_output(out / "mine", mine, "my_plot.png")  # a batch output the user added a file to
    folders, refused = place_outputs([d2, own, mine, d1], out)
    assert folders[d1] == out / "clip"  # its name in a batch of it alone, found by its manifest
    assert folders[d2].name.startswith("clip-") and folders[d2] != folders[d1]
    assert folders[mine] == out / "mine"  # its own: reused while up to date ...
    assert writable_reason(out / "mine", mine).endswith(  # ... never replaced
        "holds files pose3d batch did not write (my_plot.png); they are left as they are: move them away to "
        "have this video processed again")
    assert refused == {own: f"{out / 'own'} exists and was not made by pose3d batch (no batch.json); it is "
                            "left as it is: move it away or choose another --out"}
    assert place_outputs([d1, d2], out)[0] == {d1: out / "clip", d2: folders[d2]}  # stable
    assert writable_reason(out / "clip", d2).startswith(f"{out / 'clip'} holds the output of another video")


def test_an_output_whose_export_the_user_edited_is_never_replaced(tmp_path):
    # A BVH cleaned up by hand in the output folder was replaced by a new export when a rerun
    # redid the video (another setting, one more export format): the user's edit was lost.
    from pose3d_nb.batch.manifest import write_manifest

    video, folder = (tmp_path / "clip.mp4").resolve(), tmp_path / "out" / "clip"
    _touch(video)
    _touch(folder / "session.npz")
    (folder / "session.bvh").write_text("HIERARCHY as exported\n")
    write_manifest(folder, video, {"size": 1, "mtime_ns": 1}, BatchSettings().checked(),
                   {"frames": 1}, ["session.npz", "session.bvh"])
    assert writable_reason(folder, video) is None, "as the batch wrote it: may be redone"
    with (folder / "session.bvh").open("a") as bvh:
        bvh.write("# cleaned up by hand\n")
    assert writable_reason(folder, video) == (
        f"{folder} holds files changed since pose3d batch wrote them (session.bvh); they are left as "
        "they are: move them away to have this video processed again")
    with pytest.raises(FolderInTheWay):  # and the task's own check before its rename
        publish(new_staging(folder.parent, "clip"), folder, video)
    assert (folder / "session.bvh").read_text().endswith("# cleaned up by hand\n")


def test_output_names_are_unique_and_stable():
    videos = [Path("/d1/a.mp4"), Path("/d2/a.mp4"), Path("/d1/b.mp4"), Path("/d1/.hidden.mp4")]
    names = output_names(videos)
    assert len(set(names)) == 4 and names[2] == "b" and names[3] == "_hidden"
    assert names[0].startswith("a-") and names[1].startswith("a-")
    assert output_names(list(reversed(videos))) == list(reversed(names))


def test_settings_are_checked_and_compared():
    settings = BatchSettings(lifter="Shipped", export=("trc", "BVH", "trc")).checked()
    assert settings.lifter == "shipped" and settings.export == ("bvh", "trc")
    recorded = settings.as_dict()
    assert settings.reusable(recorded)
    assert BatchSettings(lifter="shipped", export=("bvh",)).checked().reusable(recorded)  # fewer exports
    assert not BatchSettings(lifter="shipped", export=("c3d",)).checked().reusable(recorded)
    assert not BatchSettings(lifter="shipped", window=9, export=("bvh",)).checked().reusable(recorded)
    for bad in (dict(detector="nope"), dict(lifter="nope"), dict(window=-1), dict(export=("gif",))):
        with pytest.raises(ValueError):
            BatchSettings(**bad).checked()


def test_a_window_beyond_the_lifters_receptive_field_is_refused_before_any_folder_is_made(tmp_path):
    # Only the lifter knows its receptive field: every video failed on it, one by one.
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read")
    with pytest.raises(Pose3DError, match="window must be between 0 and 27 frames"):
        process([video], tmp_path / "out", progress=False, lifter="shipped", window=100000)
    with pytest.raises(Pose3DError, match="lookahead needs a temporal lifter"):
        BatchSettings(lifter="mediapipe", lookahead=3).checked()
    assert not (tmp_path / "out").exists()
    assert BatchSettings(lifter="shipped", window=27, lookahead=13).checked().window == 27


def test_a_follow_rule_in_another_case_reuses_the_output():
    # The detector and lifter names were made canonical for the manifests, the follow rule not:
    # a batch run again with --follow Largest redid every video made with --follow largest.
    recorded = BatchSettings(follow="largest").checked().as_dict()
    for spelling in ("Largest", " LARGEST ", "largest"):
        assert BatchSettings(follow=spelling).checked().reusable(recorded), spelling
    assert BatchSettings(follow="Center").checked().follow == "centre"
    assert BatchSettings(follow="Auto").checked().follow == "auto"
    assert BatchSettings(follow="2").checked().follow == "2"  # a track id or a point: as given
    assert not BatchSettings(follow="centre").checked().reusable(recorded)


def test_output_made_when_auto_kept_heavy_s_single_person_solution_is_made_again():
    """Until 2026-12-08 "auto" ran Lite's and Heavy's single-person solution and a manifest
    recorded "auto" as given: such output was taken for what "auto" makes now (the people
    detector with their model, following the largest person). A manifest records what "auto"
    runs, and an older one's "auto" is read as what it ran then."""
    from pose3d_nb.batch.staging import _exports_apart

    heavy = BatchSettings(detector="mediapipe-heavy").checked()
    assert heavy.follow == "auto" and heavy.as_dict()["follow"] == "largest"  # the engine gets "auto"
    before = {**heavy.as_dict(), "follow": "auto"}  # as a manifest made before recorded it
    assert not heavy.reusable(before)
    assert BatchSettings(detector="mediapipe-heavy", follow="none").checked().reusable(before)  # what it ran
    assert heavy.reusable({**before, "follow": "largest"})  # a choice made the same run then
    # With Full, "auto" ran the people detector then as now: its outputs stay, and "largest"
    # (the same run) takes them too.
    full = BatchSettings().checked()
    full_before = {**full.as_dict(), "follow": "auto"}
    assert full.reusable(full_before) and BatchSettings(follow="largest").checked().reusable(full_before)
    assert BatchSettings(follow="none").checked().as_dict()["follow"] == "none"
    assert BatchSettings(follow="none").checked().reusable({**full.as_dict(), "follow": None})
    # Two outputs of one video, one made before: the same recording when "auto" ran the same.
    manifests = [{"settings": {**full_before, "export": ["bvh"]}},
                 {"settings": {**full.as_dict(), "export": ["bvh", "trc"]}}]
    assert _exports_apart(*manifests) == ({"bvh"}, {"bvh", "trc"})
    manifests = [{"settings": {**before, "export": []}}, {"settings": {**heavy.as_dict(), "export": []}}]
    assert _exports_apart(*manifests) == (None, None)


def test_output_made_with_other_weights_under_the_same_lifter_name_is_made_again(tmp_path, monkeypatch):
    """The manifests recorded the lifter by name or path only: a checkpoint trained again at the
    same path, or "auto" once the official checkpoint is in model/, kept the old outputs."""
    from pose3d_nb.lifting.weights import KNOWN_CHECKPOINTS, MODEL_DIR_ENV, sha256_of, shipped_checkpoint

    checkpoint = tmp_path / "mine.pt"
    checkpoint.write_bytes(shipped_checkpoint().read_bytes())
    mine = BatchSettings(lifter=str(checkpoint)).checked()
    recorded = json.loads(json.dumps(mine.as_dict()))
    assert recorded["lifter_sha256"] == sha256_of(shipped_checkpoint())
    assert BatchSettings(lifter=str(checkpoint)).checked().reusable(recorded)
    checkpoint.write_bytes(checkpoint.read_bytes() + b"trained again")
    assert not BatchSettings(lifter=str(checkpoint)).checked().reusable(recorded)

    models = tmp_path / "model"
    models.mkdir()
    monkeypatch.setenv(MODEL_DIR_ENV, str(models))
    auto = BatchSettings().checked().as_dict()  # no official checkpoint: the shipped weights
    assert auto["lifter_sha256"] == sha256_of(shipped_checkpoint())
    official = next(known for known in KNOWN_CHECKPOINTS if known.usable)
    (models / official.filename).write_bytes(b"the official weights")
    assert not BatchSettings().checked().reusable(auto)
    assert BatchSettings(lifter="mediapipe").checked().as_dict()["lifter_sha256"] is None  # no file
    from pose3d_nb.lifting.weights import lifter_weights_file

    assert lifter_weights_file("Shipped") == lifter_weights_file("shipped") == shipped_checkpoint()


def test_process_takes_settings_as_every_other_front_end(tmp_path, monkeypatch):
    import pose3d_nb.batch.runner as runner
    from pose3d_nb.errors import UnknownNameError
    from pose3d_nb.settings import DEFAULTS, Settings

    # README: every front end starts from one Settings (PoseEngine, Pose3D, PoseApp,
    # BatchSettings took settings=); process did not.
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read")
    planned = []
    monkeypatch.setattr(runner, "_plan", lambda paths, out, settings, rows, adding:
                        planned.append(settings) or {})
    base = Settings(lifter="shipped", window=9, flip=False, follow="centre")
    process([video], tmp_path / "out", progress=False, settings=base)
    process([video], tmp_path / "out", progress=False, settings=base, window=3, follow="largest")
    process([video], tmp_path / "out", progress=False)
    given, overridden, default = (batch.settings for batch in planned)
    assert (given.lifter, given.window, given.flip, given.follow) == ("shipped", 9, False, "centre")
    assert (overridden.lifter, overridden.window, overridden.flip, overridden.follow) == (
        "shipped", 3, False, "largest")
    assert (default.lifter, default.window, default.flip, default.follow) == (
        DEFAULTS.lifter, DEFAULTS.window, DEFAULTS.flip, DEFAULTS.follow)
    with pytest.raises(UnknownNameError, match="unknown detector 'nope'"):
        process([video], tmp_path / "other", progress=False, settings=Settings(detector="nope"))
    assert not (tmp_path / "other").exists()


def test_export_formats_given_as_one_string_are_names_not_letters():
    # export="bvh" was taken letter by letter: "unknown export format(s) ['b', 'h', 'v']".
    assert BatchSettings(export="BVH").checked().export == ("bvh",)
    assert BatchSettings(export="trc,bvh").checked().export == ("bvh", "trc")


@pytest.mark.parametrize("option", [dict(workers=0), dict(workers=1.5), dict(retries=-1),
                                    dict(connect_timeout=0), dict(worker_timeout=-1.0), dict(workers=True),
                                    dict(max_frames=0), dict(max_frames=-1), dict(max_frames=True),
                                    dict(fps=0), dict(fps=-30.0), dict(fps=float("nan")), dict(fps=True)])
def test_bad_counts_and_timeouts_are_refused_before_any_folder_is_made(tmp_path, option):
    # workers=0 was refused only when the local pool started, after the output folder was made,
    # locked and planned (and not at all when every video was already done); the others reached Dask.
    # max_frames and fps, each video's run options, are refused the same way.
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read")
    name = next(iter(option))
    with pytest.raises(Pose3DError, match=f"{name} must be") as refused:
        process([video], tmp_path / "out", progress=False, **option)
    assert isinstance(refused.value, ValueError) and repr(option[name]) in str(refused.value)
    assert not (tmp_path / "out").exists()


def test_the_command_line_refuses_zero_workers_as_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        cli.main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--workers", "0"])
    assert stop.value.code == 2
    assert "argument --workers: expected a whole number of at least 1, got '0'" in capsys.readouterr().err


def test_the_lens_and_height_are_checked_recorded_and_compared(tmp_path, monkeypatch):
    """camera=/fov=/focal=/height= (``pose3d batch --camera/--fov/--focal/--height``): checked before
    any worker starts, recorded in each manifest, and an output made with another lens, another
    height or an edited calibration file is not reused."""
    calibration = tmp_path / "calib.json"
    calibration.write_text(json.dumps({"K": [[900, 0, 320], [0, 900, 180], [0, 0, 1]], "width": 640,
                                       "height": 360}))
    plain = BatchSettings().checked().as_dict()
    older = {k: v for k, v in plain.items() if k not in ("fov", "focal", "height", "camera")}
    assert BatchSettings().checked().reusable(older)  # a manifest from before these options
    # Made before a video's rows were placed again from the whole clip: made again.
    live_placed = {k: v for k, v in plain.items() if k != "world_placement"}
    assert plain["world_placement"] == "whole clip, bones held, paths by time"
    assert not BatchSettings().checked().reusable(live_placed)
    # Made before the shipped lifter's bones were held over the whole clip, or before a short
    # path's depth and a path's restart changed (a 100-frame clip's root moved by up to 22 cm):
    # made again.
    for older_placement in ("whole clip", "whole clip, bones held"):
        assert not BatchSettings().checked().reusable({**plain, "world_placement": older_placement})
    lens = BatchSettings(fov=50, height=1.8).checked()
    assert lens.world_options() == {"camera": None, "fov": 50, "focal": None, "height": 1.8}
    assert lens.reusable(lens.as_dict()) and not lens.reusable(plain)
    assert not BatchSettings(fov=55, height=1.8).checked().reusable(lens.as_dict())
    assert not BatchSettings(fov=50).checked().reusable(lens.as_dict())
    monkeypatch.chdir(tmp_path)
    filed = BatchSettings(camera="calib.json").checked()
    assert filed.camera.fx == 900 and filed.camera.source == "file"  # read once; the workers get it
    assert filed.camera_file[0] == str(calibration.resolve())
    recorded = json.loads(json.dumps(filed.as_dict()))
    assert filed.reusable(recorded)
    calibration.write_text(calibration.read_text().replace("900", "950"))
    assert not BatchSettings(camera=str(calibration)).checked().reusable(recorded)
    assert filed.reusable(recorded), "the hash is of the contents the workers were given"
    by_hand = BatchSettings(camera=Intrinsics(np.float32(800), 800, 320, 180, np.int64(640), 360),
                            fov=None, height=np.float32(1.75)).checked()
    assert json.loads(json.dumps(by_hand.as_dict()))["height"] == pytest.approx(1.75)  # plain JSON numbers
    for bad, words in ((dict(fov=5), "field of view"), (dict(fov=50, focal=800), "give one of"),
                       (dict(camera="missing.json"), "calibration file not found"),
                       (dict(height=-1), "height"), (dict(camera={"fx": 1}), "camera= takes")):
        with pytest.raises(Pose3DError, match=words):
            BatchSettings(**bad).checked()


def test_max_frames_and_fps_are_checked_recorded_and_compared():
    """max_frames= and fps= (``pose3d batch --max-frames/--fps``): an output made with either (a
    truncated recording, or frames stamped at another rate) is reused only by a run with the same
    value, and an output made without them (before they existed too: its manifest has neither
    key) only by a run without them."""
    plain = BatchSettings().checked()
    recorded = json.loads(json.dumps(plain.as_dict()))
    assert "max_frames" not in recorded and "fps" not in recorded  # the record of a plain run unchanged
    assert plain.run_options() == {"max_frames": None, "fps": None}
    short = BatchSettings(max_frames=np.int64(50)).checked()
    assert short.run_options() == {"max_frames": 50, "fps": None} and type(short.max_frames) is int
    short_recorded = json.loads(json.dumps(short.as_dict()))
    assert short_recorded["max_frames"] == 50 and "fps" not in short_recorded
    assert plain.reusable(recorded) and short.reusable(short_recorded)
    assert not plain.reusable(short_recorded), "a truncated recording stands for the whole video"
    assert not short.reusable(recorded)
    assert not BatchSettings(max_frames=51).checked().reusable(short_recorded)
    rated = BatchSettings(fps=25).checked()
    rated_recorded = json.loads(json.dumps(rated.as_dict()))
    assert rated_recorded["fps"] == 25.0 and rated.reusable(rated_recorded)
    assert BatchSettings(fps=25.0).checked().reusable(rated_recorded)
    assert not plain.reusable(rated_recorded) and not rated.reusable(recorded)
    assert not BatchSettings(fps=30).checked().reusable(rated_recorded)
    both = BatchSettings(max_frames=50, fps=25).checked()
    assert both.reusable(both.as_dict())
    assert not both.reusable(short_recorded) and not both.reusable(rated_recorded)
    assert not short.reusable(both.as_dict()) and not rated.reusable(both.as_dict())
    # An output made with max_frames is not "up to date but for exports" for a run without it.
    assert plain.missing_exports({**short_recorded, "export": []}) is None
    for bad in (0, -3, 2.5, True, float("nan"), "10"):
        with pytest.raises(Pose3DError, match="max_frames must be a whole number >= 1") as refused:
            BatchSettings(max_frames=bad).checked()
        assert isinstance(refused.value, ValueError)
    for bad in (0, -25.0, float("nan"), float("inf"), True, "25"):
        with pytest.raises(Pose3DError, match="fps must be a positive frame rate") as refused:
            BatchSettings(fps=bad).checked()
        assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("flag", [["--max-frames", "0"], ["--max-frames", "-2"], ["--fps", "0"],
                                  ["--fps", "nan"], ["--fps", "-25"]], ids=" ".join)
def test_the_command_line_refuses_bad_max_frames_and_fps_in_one_line(tmp_path, capsys, flag):
    video = _touch(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    assert cli.main(["batch", str(video), "--out", str(out), *flag]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pose3d batch: error: "), err
    assert f"{flag[0][2:].replace('-', '_')} must be" in err, err
    assert not out.exists()


def test_the_command_line_gives_the_batch_max_frames_and_fps(tmp_path, monkeypatch):
    import pose3d_nb.batch

    given = {}

    def process(inputs, out, **options):  # what cmd_batch hands the batch
        given.update(options)
        raise KeyboardInterrupt

    monkeypatch.setattr(pose3d_nb.batch, "process", process)
    video = _touch(tmp_path / "clip.mp4")
    cli.main(["batch", str(video), "--out", str(tmp_path / "out"), "--max-frames", "40", "--fps", "12.5"])
    assert (given["max_frames"], given["fps"]) == (40, 12.5)
    cli.main(["batch", str(video), "--out", str(tmp_path / "out")])
    assert (given["max_frames"], given["fps"]) == (None, None)


@pytest.fixture()
def engine_options(monkeypatch):
    """``process_video(...)`` -> the keyword arguments its ``PoseEngine`` was built with (the
    engine is replaced by one that only records them and fails the video)."""
    import pose3d_nb.engine
    from pose3d_nb.batch.task import process_video

    given = {}

    class Stop(Exception):
        pass

    def engine(**kwargs):
        given.update(kwargs)
        raise Stop("the options are all this test needs")

    monkeypatch.setattr(pose3d_nb.engine, "PoseEngine", engine)

    def run(video: str, output: str, settings: BatchSettings) -> dict:
        given.clear()
        row = process_video(video, output, settings)
        assert row["status"] == "failed" and "the options are all this test needs" in row["error"]
        return dict(given)

    return run


def test_a_batch_video_hands_its_engine_the_lens_and_height(tmp_path, engine_options):
    from pose3d_nb.sources.sample import sample_video_resource

    given = engine_options(str(sample_video_resource()), str(tmp_path / "out"),
                           BatchSettings(focal=1200.0, height=1.7).checked())
    assert {k: given[k] for k in ("camera", "fov", "focal", "height")} == {
        "camera": None, "fov": None, "focal": 1200.0, "height": 1.7}


def test_a_batch_video_hands_its_engine_max_frames_and_fps(tmp_path, engine_options):
    from pose3d_nb.sources.sample import sample_video_resource

    video = str(sample_video_resource())
    given = engine_options(video, str(tmp_path / "a"), BatchSettings(max_frames=12, fps=24).checked())
    assert (given["max_frames"], given["fps"]) == (12, 24.0)
    given = engine_options(video, str(tmp_path / "b"), BatchSettings().checked())
    assert (given["max_frames"], given["fps"]) == (None, None)


@pytest.mark.slow
def test_a_batch_video_records_at_most_max_frames_stamped_at_fps(tmp_path):
    """The engine of a batch video stops after max_frames poses and stamps its frames at fps, as
    ``pose3d run --max-frames --fps`` does; the manifest records both."""
    from pose3d_nb.batch.task import process_video
    from pose3d_nb.sources.video import VideoSource

    clip = write_clip(tmp_path / "in" / "walk.mp4", 20)
    out = tmp_path / "out" / "walk"
    row = process_video(str(clip), str(out), BatchSettings(max_frames=6, fps=12.5).checked())
    assert (row["status"], row["frames"]) == ("ok", 6), row
    session = load_session(out / "session.npz")
    assert len(session) == 6
    np.testing.assert_allclose(session.timestamps, session.frame_index / 12.5)  # not the clip's own rate:
    with VideoSource(clip) as stored:
        assert abs(stored.fps - 12.5) > 1, stored.fps
    recorded = read_manifest(out)["settings"]
    assert (recorded["max_frames"], recorded["fps"]) == (6, 12.5)


def test_a_batch_video_runs_its_people_regions_on_one_thread():
    """A batch's parallelism is across videos (one-thread workers): a detector that runs each
    person's region on threads of its own is given one, and one that has no such option is
    given nothing it would refuse."""
    from pose3d_nb.batch.task import one_thread_options
    from pose3d_nb.detectors.follow import with_follow
    from pose3d_nb.detectors.registry import create_detector

    assert one_thread_options("mediapipe", "auto") == {"workers": 1}  # becomes mediapipe-people
    assert one_thread_options("mediapipe-people", "2") == {"workers": 1}
    assert one_thread_options("mediapipe", "none") == {}  # MediaPipe's single-person solution
    spec, options = with_follow("mediapipe", "auto", one_thread_options("mediapipe", "auto"))
    detector = create_detector(spec, **options)
    try:
        assert detector.workers == 1
    finally:
        detector.close()


def test_a_batch_video_hands_its_engine_the_one_thread_options(tmp_path, engine_options):
    from pose3d_nb.sources.sample import sample_video_resource

    for follow, expected in (("auto", {"workers": 1}), ("none", {})):
        settings = BatchSettings(follow=follow).checked()
        given = engine_options(str(sample_video_resource()), str(tmp_path / follow), settings)
        assert given["detector_options"] == expected and given["torch_threads"] == 1


def test_a_follow_point_outside_a_video_s_image_fails_its_row_in_the_point_s_words(tmp_path):
    """`pose3d run --follow 99999,5` is refused in one line naming the valid range; the batch's
    row said "detect failed on frame 0: FollowPointError: ..." around it."""
    from pose3d_nb.batch.task import process_video

    clip = write_clip(tmp_path / "in" / "walk.mp4", 5)
    row = process_video(str(clip), str(tmp_path / "out" / "walk"), BatchSettings(follow="99999,5").checked())
    assert row["status"] == "failed", row
    assert row["error"].startswith("follow point (99999, 5) is outside the "), row["error"]
    assert "failed on frame" not in row["error"] and "FollowPointError" not in row["error"]


@pytest.mark.slow
def test_a_batch_whose_every_video_failed_leaves_no_empty_out_folder_it_made(tmp_path, collection, cluster):
    """Every video failing before writing (a corrupt file; a detector model not fetched) left
    the --out the batch had made, empty, as `pose3d run` no longer does. One the user made stays."""
    bad = tmp_path / "in" / "corrupt.mp4"
    bad.parent.mkdir()
    shutil.copyfile(collection["root"] / "corrupt.mp4", bad)
    table = process([bad], tmp_path / "new" / "out", client=cluster, progress=False)
    assert list(table["status"]) == ["failed"] and not (tmp_path / "new" / "out").exists()
    (tmp_path / "mine").mkdir()
    assert list(process([bad], tmp_path / "mine", client=cluster, progress=False)["status"]) == ["failed"]
    assert (tmp_path / "mine").is_dir()


@pytest.mark.slow
def test_a_video_where_nobody_is_followed_says_so_in_its_row(tmp_path):
    """--follow 7 on a clip with one person (id 1): the row says whom it waited for, as `pose3d
    run` does, instead of a bare `ok` with no person in any frame; a rerun's `skipped` row too, and
    an export that fails for want of a person gives the same reason."""
    from pose3d_nb.batch import format_table
    from pose3d_nb.batch.table import to_frame
    from pose3d_nb.batch.task import process_video

    clip = write_clip(tmp_path / "in" / "walk.mp4", 20)
    out = tmp_path / "out" / "walk"
    settings = BatchSettings(follow="7").checked()
    row = process_video(str(clip), str(out), settings)
    assert (row["status"], row["valid_fraction"]) == ("ok", 0.0), row
    waiting = "waiting for person 7: nobody has had that id yet (ids so far: 1; in view: 1)"
    assert row["note"] == f"no frame has a person: {waiting}", row
    again = process_video(str(clip), str(out), settings)
    assert (again["status"], again["note"]) == ("skipped", row["note"])
    assert f"note: {clip}: no frame has a person: waiting for person 7" in format_table(to_frame([again]))

    with_export = BatchSettings(follow="7", export=["bvh"]).checked()
    kept = tmp_path / "out" / "bvh" / "session.npz"
    failed = process_video(str(clip), str(kept.parent), with_export)
    assert failed["status"] == "failed", failed
    assert failed["error"] == (
        "export bvh: nothing to export: none of the 20 frames has a person (no frame has a person: "
        f"{waiting}); {kept} and the other exports are kept"), failed
    assert failed["output"] == str(kept) and load_session(kept).valid.sum() == 0  # the recording kept


def _recorded_engine(monkeypatch) -> list[Path]:
    """Replace the task's engine run by what it leaves for a 20-frame video, a complete session
    with a person in every row (20 rows, or max_frames when fewer; no video is decoded);
    returns the list of videos it was run for."""
    from pose3d_nb.batch import task
    from pose3d_nb.buffer import COLUMNS, empty_column
    from pose3d_nb.recording import Session, write_session

    runs: list[Path] = []

    def engine(video, staging, settings):
        runs.append(video)
        rows = min(20, settings.max_frames or 20)
        columns = {name: empty_column(name, rows) for name in COLUMNS}
        columns["joints_3d"] = np.random.default_rng(0).normal(size=(rows, 17, 3)).astype(np.float32)
        columns["timestamps"], columns["frame_index"] = np.arange(rows) / 30.0, np.arange(rows)
        columns["valid"] = np.ones(rows, bool)
        write_session(staging / "session.npz", Session(**columns, metadata={"fps": 30.0}), {"fps": 30.0})
        return {"frames": rows, "valid_fraction": 1.0, "note": None, "fps": 30.0, "lifter": "x",
                "checkpoint": None}

    monkeypatch.setattr(task, "_run_engine", engine)
    return runs


def test_an_export_that_fails_keeps_the_recording_and_says_how_to_get_it(tmp_path, monkeypatch):
    """`--export c3d` of a video over C3D's 65,535 frames: the refusal came after the whole video
    was processed, and the task discarded its staging folder, the finished session.npz with it;
    every rerun processed the video again to fail the same way. (C3D's limit is lowered to 10
    frames here and the engine's run is a recorded 20-frame session: the rest is the real code.)"""
    from pose3d_nb.batch import task
    from pose3d_nb.export import c3d

    runs = _recorded_engine(monkeypatch)
    monkeypatch.setattr(c3d, "MAX_FRAMES", 10)
    video = _touch(tmp_path / "long.mp4").resolve()
    out = tmp_path / "out" / "long"
    settings = BatchSettings(export="c3d,trc").checked()
    row = task.process_video(str(video), str(out), settings)
    session = out / "session.npz"
    assert (row["status"], row["output"], row["frames"]) == ("failed", str(session), 20), row
    assert row["error"] == (
        "export c3d: C3D holds at most 10 frames and this export has 20: use trc, csv or parquet; "
        f"{session} and the other exports are kept (pose3d export {session} --format FORMAT --out FILE "
        f"writes another format from it; a FILE outside {out}: the batch never replaces a folder holding "
        "files it did not write)"), row  # no segment=N: a video is one run, and batch takes none
    assert len(load_session(session)) == 20 and (out / "session.trc").is_file()
    assert not (out / "session.c3d").exists() and not list((tmp_path / "out" / STAGING).iterdir())

    again = task.process_video(str(video), str(out), settings)  # a rerun: said again, not redone
    assert (again["status"], again["error"], len(runs)) == ("failed", row["error"], 1), again
    fewer = task.process_video(str(video), str(out), BatchSettings(export="trc").checked())
    assert (fewer["status"], fewer["error"]) == ("skipped", None), fewer
    _touch(out / "session.c3d")  # the user wrote it (pose3d export ... --format c3d after a fix)
    assert task.process_video(str(video), str(out), settings)["status"] == "skipped"


def test_the_export_a_failed_row_suggests_keeps_its_video_replaceable(tmp_path, monkeypatch):
    """A failed export's row suggested `pose3d export SESSION --format FORMAT`, which writes into
    the output folder: a file the batch did not write, so once the input changed the video failed
    (`holds files pose3d batch did not write`) instead of being processed again."""
    import re

    from pose3d_nb.batch import task
    from pose3d_nb.export import c3d

    runs = _recorded_engine(monkeypatch)
    monkeypatch.setattr(c3d, "MAX_FRAMES", 10)
    video, out = _touch(tmp_path / "long.mp4").resolve(), tmp_path / "out" / "long"
    settings = BatchSettings(export="c3d").checked()
    row = task.process_video(str(video), str(out), settings)
    advice = re.search(r"\(pose3d export (.+?) writes another format", row["error"])
    assert advice is not None, row
    elsewhere = tmp_path / "mine" / "long.csv"
    elsewhere.parent.mkdir()
    argv = advice[1].replace("FORMAT", "csv").replace("FILE", str(elsewhere)).split(" ")
    assert cli.main(["export", *argv]) == 0  # what the row says to run

    os.utime(video, ns=(1, 1))  # the input changed: the video must be processed again
    again = task.process_video(str(video), str(out), settings)
    assert len(runs) == 2 and "holds files pose3d batch did not write" not in again["error"], again
    assert (again["output"], again["frames"]) == (str(out / "session.npz"), 20), again
    assert elsewhere.is_file()


def _run(video: Path, final: Path, export: str, **options) -> dict:
    """One batch's handling of ``video`` as ``process`` does it: planned (``_plan``), then its task
    (``options``: more ``BatchSettings``)."""
    from pose3d_nb.batch import task
    from pose3d_nb.batch.runner import _plan

    settings, rows = BatchSettings(export=export, **options).checked(), {}
    for path, folder in _plan([video], final.parent, settings, rows, {}).items():
        assert folder == final
        rows[path] = task.process_video(str(path), str(folder), settings)
    return rows[video]


def test_a_rerun_asking_for_one_more_export_adds_it_and_keeps_the_others(tmp_path, monkeypatch):
    """`--export trc` after a run with `--export bvh` (same videos and settings) processed every
    video again, and the folder then held session.npz and session.trc: the BVH was gone. The
    recording is now reused and only the missing export written beside it."""
    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    first = _files(final)
    stamps = read_manifest(final)["file_stamps"]

    row = _run(video, final, "trc")
    assert (row["status"], row["error"], len(runs)) == ("skipped", None, 1), row  # not processed again
    assert row["note"] == "recording reused; export added: trc", row
    assert row["output"] == str(final / "session.npz")
    now = _files(final)
    assert {name: now[name] for name in first if name != MANIFEST} == {
        name: first[name] for name in first if name != MANIFEST}  # the recording and the BVH as they were
    assert (final / "session.trc").is_file() and not list((final.parent / STAGING).iterdir())
    manifest = read_manifest(final)
    assert manifest["settings"]["export"] == ["bvh", "trc"]  # the formats present
    assert set(manifest["files"]) == {p.name for p in final.iterdir()} - {MANIFEST}
    assert {name: manifest["file_stamps"][name] for name in stamps} == stamps
    assert writable_reason(final, video) is None  # every file the batch's: still replaceable

    for export in ("trc", "bvh", "bvh,trc"):  # each up to date now: nothing written
        again = _run(video, final, export)
        assert (again["status"], again["note"], again["seconds"]) == ("skipped", None, 0.0), again
    assert _files(final) == now and len(runs) == 1
    row = _run(video, final, "csv,trc")
    assert (row["status"], row["note"], len(runs)) == ("skipped", "recording reused; export added: csv", 1)
    assert {"session.bvh", "session.trc", "session.tidy.csv"} <= {p.name for p in final.iterdir()}

    os.utime(video, ns=(1, 1))  # the input changed: processed again, as before
    assert _run(video, final, "trc")["status"] == "ok" and len(runs) == 2


def test_outputs_made_with_max_frames_or_fps_are_reused_only_with_the_same_values(tmp_path, monkeypatch):
    """A batch run with --max-frames 5 (to try settings) and then without it: the truncated
    recordings must not pass for the whole videos, nor those stamped at --fps for the videos' own
    rate; and outputs of a run without them (older ones too) are still reused without them."""
    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "out" / "walk"

    def status(**options) -> str:
        return _run(video, final, "", **options)["status"]

    assert (status(), status()) == ("ok", "skipped")
    manifest = read_manifest(final)
    assert "max_frames" not in manifest["settings"] and "fps" not in manifest["settings"]
    shutil.rmtree(final)  # a limit below its 20 frames would keep it (see the test after this one)
    steps = [({"max_frames": 5}, "ok"), ({"max_frames": 5}, "skipped"), ({"max_frames": 6}, "ok"),
             ({}, "ok"), ({"fps": 25.0}, "ok"), ({"fps": 25}, "skipped"), ({"fps": 24}, "ok"),
             ({"fps": 24, "max_frames": 20}, "ok"), ({"fps": 24}, "ok"), ({}, "ok"), ({}, "skipped")]
    for number, (options, expected) in enumerate(steps):
        assert status(**options) == expected, (number, options)
    assert len(runs) == 1 + sum(expected == "ok" for _, expected in steps)

    # A plain run's manifest records what one written before these options existed does: the
    # last step above reused such an output.
    assert set(read_manifest(final)["settings"]) == {
        "lifter", "detector", "window", "lookahead", "flip", "follow", "lifter_sha256", "fov", "focal",
        "height", "camera", "world_placement", "export"}


def test_a_run_with_max_frames_never_replaces_a_longer_output(tmp_path, monkeypatch):
    """`pose3d batch --max-frames 5` (to try settings quickly) into the --out of a plain run
    deleted each video's whole output, put a 5-frame one in its place and said ``ok``. An output
    longer than the limit would make it is kept, the video ``failed`` with why and what to do;
    a run that makes the output as long or longer still replaces it, as other settings do."""
    from pose3d_nb.batch import task

    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "")["status"] == "ok" and read_manifest(final)["frames"] == 20
    whole = _files(final)

    for options in ({"max_frames": 5}, {"max_frames": 19, "window": 9}, {"max_frames": 5, "fps": 24}):
        row = _run(video, final, "bvh", **options)
        assert (row["status"], row["frames"], row["output"]) == ("failed", 20, str(final / SESSION)), row
        assert row["error"] == (
            f"not processed: --max-frames {options['max_frames']} would replace the longer output in "
            f"{final} (20 frames, made without --max-frames) by a shorter one; it is kept as it is: give "
            "another --out to try settings on the first frames, or run without --max-frames (or with "
            "--max-frames 20 or more) to replace it"), row
        # the task keeps it too (a publish settled by its first step may have put it in place)
        settings = BatchSettings(**options).checked()
        assert task.process_video(str(video), str(final), settings)["status"] == "failed"
    assert _files(final) == whole and len(runs) == 1 and not list((final.parent / STAGING).iterdir())
    os.utime(video, ns=(1, 1))  # an input changed since is kept too: the limit still cuts its output
    assert _run(video, final, "", max_frames=5)["status"] == "failed" and _files(final) == whole

    # Another --out tries the settings; a limit at least as long as the output replaces it.
    assert _run(video, tmp_path / "try" / "walk", "", max_frames=5)["status"] == "ok"
    assert (_run(video, final, "", max_frames=20)["status"], len(runs)) == ("ok", 3)
    assert read_manifest(final)["settings"]["max_frames"] == 20
    assert _run(video, final, "", max_frames=19)["error"].startswith(
        f"not processed: --max-frames 19 would replace the longer output in {final} (20 frames, made "
        "with --max-frames 20)")
    # An output that ended before its limit (its video is 20 frames long) is not longer than a
    # lower limit that still covers it: 25 after 30 makes the same 20 frames.
    assert _run(video, final, "", max_frames=30)["status"] == "ok"
    assert (_run(video, final, "", max_frames=25)["status"], len(runs)) == ("ok", 5)
    assert _run(video, final, "", max_frames=5)["status"] == "failed"
    shutil.rmtree(final)
    assert _run(video, final, "", max_frames=5)["status"] == "ok"  # then lengthened, as before
    assert (_run(video, final, "", max_frames=6)["status"], _run(video, final, "")["status"]) == ("ok", "ok")
    assert read_manifest(final)["frames"] == 20 and len(runs) == 8


def test_a_run_with_max_frames_keeps_a_longer_output_that_lost_another_file(tmp_path, monkeypatch):
    """An output whose listed export the user deleted was no longer "complete", so a --max-frames
    run took it for none and replaced its 20-frame recording by a 5-frame one, saying ok."""
    _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok" and read_manifest(final)["frames"] == 20
    (final / "session.bvh").unlink()
    row = _run(video, final, "bvh", max_frames=5)
    assert row["status"] == "failed" and "would replace the longer output" in row["error"], row
    assert len(load_session(final / SESSION)) == 20


def test_the_command_line_keeps_a_longer_output_and_exits_1(tmp_path, monkeypatch, capsys):
    """The reviewer's case through `pose3d batch` (``process``): its only video keeps its output,
    so no pool is started; the table says why and the exit status that it was not processed."""
    _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "videos" / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "")["status"] == "ok"
    whole = _files(final)
    capsys.readouterr()
    argv = ["batch", str(video.parent), "--out", str(final.parent), "--no-progress", "--max-frames", "5"]
    assert cli.main(argv) == 1
    printed = capsys.readouterr().out
    assert f"failed: {video}: not processed: --max-frames 5 would replace the longer output" in printed
    assert "1 videos: 0 ok, 0 skipped, 1 failed, 0 cancelled; 0 frames processed" in printed, printed
    assert _files(final) == whole


def test_a_cut_output_left_in_staging_never_replaces_a_longer_one(tmp_path, monkeypatch):
    """A --max-frames run killed after its manifest, before its publish (an earlier version's,
    which did not keep longer outputs), left its 5-frame output in .staging; the next run with
    that limit put it in place of the 20-frame output as "made with this run's settings"."""
    from pose3d_nb.batch import task

    _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "out" / "walk"
    assert _run(video, final, "")["status"] == "ok"
    whole = _files(final)

    def killed(staging, final, video):
        raise SystemExit("killed")

    monkeypatch.setattr(task, "row_keeping_longer", lambda *args, **kwargs: None, raising=False)
    monkeypatch.setattr(task, "publish", killed)
    with pytest.raises(SystemExit):
        task.process_video(str(video), str(final), BatchSettings(max_frames=5).checked())
    monkeypatch.undo()
    _recorded_engine(monkeypatch)
    staged = list((final.parent / STAGING).iterdir())
    assert len(staged) == 1 and read_manifest(staged[0])["frames"] == 5
    row = task.process_video(str(video), str(final), BatchSettings(max_frames=5).checked())
    assert (row["status"], row["frames"]) == ("failed", 20), row
    assert _files(final) == whole and list((final.parent / STAGING).iterdir()) == staged  # both kept
    longer = BatchSettings(max_frames=25).checked()  # a limit that covers it: replaced, as before
    assert task.process_video(str(video), str(final), longer)["status"] == "ok"


def test_a_stop_after_exports_were_added_reports_the_recording_reused(tmp_path, monkeypatch):
    """Ctrl-C after a task that only added an export finished, before its row was fetched: the
    row read back from the manifest said ``ok`` with the first processing's seconds, and counted
    its frames as processed now. It says what the task's own row says."""
    from pose3d_nb.batch import task
    from pose3d_nb.batch.runner import _plan, _settle_cancelled

    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    settings, rows, adding = BatchSettings(export="trc").checked(), {}, {}
    jobs = _plan([video], final.parent, settings, rows, adding)
    assert adding == {video: ("trc",)}
    own = task.process_video(str(video), str(jobs[video]), settings)  # it ran to its end ...
    _settle_cancelled(jobs, settings, rows, stale=False, adding=adding)  # ... its row never fetched
    settled = rows[video]
    assert (settled["status"], settled["note"], len(runs)) == ("skipped", own["note"], 1), settled
    assert settled["note"] == "recording reused; export added: trc"


def test_the_users_export_in_a_batch_output_leaves_no_file_of_ours_behind(tmp_path, monkeypatch):
    """`pose3d export` into a batch output noted itself in two hidden files of the run's export
    record: once the user moved their export away, the batch still refused the folder over
    files it "did not write" that the user never made."""
    from pose3d_nb.export import export_session

    _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "")["status"] == "ok"
    mine = export_session(final, "trc")  # the user's own export, beside the batch's session
    reason = writable_reason(final, video)
    assert reason is not None and "(session.trc)" in reason, reason
    mine.rename(tmp_path / "kept.trc")
    assert writable_reason(final, video) is None, sorted(p.name for p in final.iterdir())


def test_exports_are_added_where_the_file_system_has_no_hard_links(tmp_path, monkeypatch):
    """The output's files are carried into the new folder as copies then, times kept: the new
    manifest's stamps still match, so the folder stays the batch's own (replaceable)."""
    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    before = _files(final)

    def no_links(source, target, **kwargs):
        raise PermissionError(1, "Operation not permitted", str(source))

    monkeypatch.setattr(os, "link", no_links)
    row = _run(video, final, "trc")
    assert (row["status"], row["note"], len(runs)) == ("skipped", "recording reused; export added: trc", 1)
    now = _files(final)
    assert {name: now[name] for name in before if name != MANIFEST} == {
        name: before[name] for name in before if name != MANIFEST}
    assert writable_reason(final, video) is None

def test_an_export_that_cannot_be_added_leaves_the_output_as_it_was(tmp_path, monkeypatch):
    """Adding an export that fails (C3D's frame limit, lowered to 10 here) fails the row with the
    reason and the recording kept; nothing of the output changes, and the export is tried again
    by the next run (it was not recorded as failed). Another format asked with it is added."""
    from pose3d_nb.export import c3d

    runs = _recorded_engine(monkeypatch)
    monkeypatch.setattr(c3d, "MAX_FRAMES", 10)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    before = _files(final)
    for attempt in range(2):
        row = _run(video, final, "c3d")
        assert (row["status"], row["output"], row["frames"], len(runs)) == (
            "failed", str(final / "session.npz"), 20, 1), row
        assert row["error"].startswith("export c3d: C3D holds at most 10 frames and this export has 20"), row
        assert _files(final) == before and not list((final.parent / STAGING).iterdir()), attempt

    row = _run(video, final, "c3d,trc")
    assert (row["status"], row["note"], len(runs)) == ("failed", "recording reused; export added: trc", 1)
    assert row["error"].startswith("export c3d: C3D holds at most 10 frames"), row
    assert {"session.bvh", "session.trc"} <= {p.name for p in final.iterdir()}
    assert not (final / "session.c3d").exists()
    assert read_manifest(final)["settings"]["export"] == ["bvh", "trc"]
    monkeypatch.setattr(c3d, "MAX_FRAMES", 65535)
    row = _run(video, final, "c3d")
    assert (row["status"], row["note"], len(runs)) == ("skipped", "recording reused; export added: c3d", 1)


def test_adding_an_export_killed_at_any_step_leaves_a_complete_output(tmp_path, monkeypatch):
    """Exports are added in a staging folder published over the old output: a kill while an
    export is written leaves the old output (the next attempt removes the half-made folder);
    one after the new manifest, before the publish, or between its two renames, leaves the new
    output for the next attempt to put in place, also one asking for other exports (which are
    then added to it: the kept output was left beside it, its exports unseen)."""
    from pose3d_nb.batch import staging as staging_module
    from pose3d_nb.batch import task

    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    before = _files(final)
    export = task._export

    def killed_in_export(staging, formats, note):
        (staging / "session.trc").write_text("half a TRC")  # as far as it got
        raise SystemExit("killed")

    monkeypatch.setattr(task, "_export", killed_in_export)
    with pytest.raises(SystemExit):
        _run(video, final, "trc")
    monkeypatch.setattr(task, "_export", export)
    assert _files(final) == before and len(list((final.parent / STAGING).iterdir())) == 1
    row = _run(video, final, "trc")  # the retry: the half-made folder removed, the export added
    assert (row["status"], len(runs)) == ("skipped", 1), row
    assert (final / "session.trc").read_text() != "half a TRC"
    assert (final / "session.bvh").is_file() and not list((final.parent / STAGING).iterdir())

    def killed(staging, final, video):
        raise SystemExit("killed")

    monkeypatch.setattr(task, "publish", killed)
    with pytest.raises(SystemExit):
        _run(video, final, "csv")
    monkeypatch.setattr(task, "publish", publish)
    assert len(list((final.parent / STAGING).iterdir())) == 1 and not (final / "session.tidy.csv").exists()
    row = _run(video, final, "bvh,parquet")  # other exports: the kept output put in place, then added to
    assert (row["status"], row["note"]) == ("skipped", "recording reused; export added: parquet"), row
    assert {"session.bvh", "session.trc", "session.tidy.csv", "session.parquet"} <= {
        p.name for p in final.iterdir()}
    assert not list((final.parent / STAGING).iterdir())

    renames, rename = [], os.replace

    def killed_at_the_second_rename(source, target):
        if STAGING in (Path(source).parent.name, Path(target).parent.name):  # publish's (not a file's)
            renames.append(source)
            if len(renames) == 2:
                raise SystemExit("killed")
        rename(source, target)

    monkeypatch.setattr(staging_module.os, "replace", killed_at_the_second_rename)
    with pytest.raises(SystemExit):
        _run(video, final, "c3d")
    monkeypatch.setattr(staging_module.os, "replace", rename)
    assert not final.exists()  # the window between the renames: both outputs in .staging
    assert _run(video, final, "bvh")["status"] == "skipped"
    assert {"session.bvh", "session.trc", "session.tidy.csv", "session.parquet", "session.c3d"} <= {
        p.name for p in final.iterdir()}
    assert not list((final.parent / STAGING).iterdir()) and len(runs) == 1


def test_exports_are_never_added_to_a_folder_holding_the_users_files(tmp_path, monkeypatch):
    """A folder with a file the user added, or an export they edited, is never replaced: the
    export asked for is not added (the row says why), and the folder stays as it is. The user's
    own file at the export's default path counts as the export: reused, never overwritten."""
    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results" / "walk"
    assert _run(video, final, "bvh")["status"] == "ok"
    with (final / "session.bvh").open("a") as bvh:
        bvh.write("# cleaned up by hand\n")
    _touch(final / "my_plot.png")
    before = _files(final)
    row = _run(video, final, "trc")
    assert (row["status"], row["output"], len(runs)) == ("failed", str(final / "session.npz"), 1), row
    assert row["error"] == (
        f"export trc not written: {final} holds files pose3d batch did not write (my_plot.png); they are "
        "left as they are: move them away to have the exports asked for written beside its recording")
    (final / "my_plot.png").unlink()
    row = _run(video, final, "trc")
    assert row["error"].endswith("holds files changed since pose3d batch wrote them (session.bvh); they are "
                                 "left as they are: move them away to have the exports asked for written "
                                 "beside its recording"), row
    (final / "session.trc").write_text("the user's own TRC")
    row = _run(video, final, "trc")
    assert (row["status"], row["error"], len(runs)) == ("skipped", None, 1), row
    assert (final / "session.trc").read_text() == "the user's own TRC"
    assert (final / "session.bvh").read_bytes() == before["session.bvh"][0]


def test_a_video_longer_than_it_announces_keeps_every_frame(tmp_path, monkeypatch):
    """A video with more frames than its container announces (none announced: a webm or a live
    capture, and more than the 100,000 rows of the rolling buffer) failed after it was processed,
    its complete session discarded ("the session would be cut"): the recording on disk keeps
    every frame whatever the buffer holds. Here the buffer holds 8 rows of a 20-frame clip."""
    from pose3d_nb.batch import task

    clip = write_clip(tmp_path / "in" / "walk.mp4", 20)
    out = tmp_path / "out" / "walk"
    monkeypatch.setattr(task, "_capacity", lambda video: 8)
    row = task.process_video(str(clip), str(out), BatchSettings().checked())
    assert (row["status"], row["frames"]) == ("ok", 20), row
    session = load_session(out / "session.npz")
    assert len(session) == 20 and session.metadata["complete"] is True
    np.testing.assert_array_equal(session.frame_index, np.arange(20))
    assert row["valid_fraction"] == pytest.approx(session.valid.mean()), "of every frame, not the buffer's"


@pytest.mark.slow
def test_a_full_disk_at_the_end_of_a_video_says_the_attempt_was_discarded(tmp_path, monkeypatch):
    """The engine's own line said the rows stay in OUT/.staging/.../session.journal, a folder the
    batch then removes: the row now says what the batch did with them."""
    import errno

    from pose3d_nb.batch.task import process_video

    clip = write_clip(tmp_path / "in" / "walk.mp4", 10)
    out = tmp_path / "out" / "walk"

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array", disk_full)  # session.npz at the engine's stop
    row = process_video(str(clip), str(out), BatchSettings().checked())
    assert row["status"] == "failed", row
    assert row["error"] == ("cannot save the recording: [Errno 28] No space left on device; this "
                            "attempt's files were discarded, run the batch again to redo the video"), row
    assert not out.exists() and not list((out.parent / STAGING).glob(f"{staging_key('walk')}@*"))


def test_stale_staging_of_a_dead_process_is_removed_a_live_ones_kept(tmp_path):
    host = socket.gethostname()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / STAGING / f"clip@{host}@{dead.pid}@abcd"
    live = tmp_path / STAGING / f"clip@{host}@{os.getppid()}@abcd"
    other = tmp_path / STAGING / f"clip2@{host}@{dead.pid}@abcd"
    for folder in (stale, live, other):
        _touch(folder / "joints.npy")
    remove_stale(tmp_path, "clip", tmp_path / "clip.mp4")
    assert not stale.exists() and live.exists() and other.exists()


def _output(folder: Path, video: Path, marker: str) -> Path:
    """A complete batch output of ``video`` in ``folder`` (its session holds ``marker``)."""
    from pose3d_nb.batch.manifest import write_manifest

    _touch(folder / "session.npz", marker.encode())
    write_manifest(folder, video, {"size": 1, "mtime_ns": 1}, BatchSettings().checked(), {"frames": 1},
                   ["session.npz"])
    return folder


def test_a_publish_cut_off_between_its_renames_is_finished_not_deleted(tmp_path, monkeypatch):
    """publish renames the old output away, then the new one in. A worker killed between the two
    left both complete outputs in .staging and OUT/clip absent; the next attempt's remove_stale
    (or the batch settling after Ctrl-C) matched both by `clip@*` and deleted them."""
    from pose3d_nb.batch import staging as staging_module

    video, out = (tmp_path / "clip.mp4").resolve(), tmp_path / "out"
    _output(out / "clip", video, "old")
    new = _output(new_staging(out, "clip"), video, "new")
    renames, rename = [], os.replace

    def killed_at_the_second_rename(source, target):
        renames.append(source)
        if len(renames) == 2:
            raise SystemExit("killed")  # the worker dies: nothing after this line runs
        rename(source, target)

    monkeypatch.setattr(staging_module.os, "replace", killed_at_the_second_rename)
    with pytest.raises(SystemExit):
        publish(new, out / "clip", video)
    monkeypatch.undo()
    assert not (out / "clip").exists() and len(list((out / STAGING).iterdir())) == 2  # the window
    remove_stale(out, "clip", video)  # the next attempt: the publish is finished
    assert (out / "clip" / "session.npz").read_bytes() == b"new"
    assert list((out / STAGING).iterdir()) == []

    # The new folder not complete (no manifest): the old output goes back instead.
    old = out / STAGING / f"{new.name}.old"
    os.replace(out / "clip", old)
    _touch(new / "joints.npy")
    remove_stale(out, "clip", video)
    assert (out / "clip" / "session.npz").read_bytes() == b"new" and not new.exists()
    assert list((out / STAGING).iterdir()) == []

    # Something else at OUT/clip meanwhile (the user's folder): the set-aside output is kept.
    os.replace(out / "clip", old)
    _touch(out / "clip" / "mine.txt")
    remove_stale(out, "clip", video)
    assert (old / "session.npz").read_bytes() == b"new" and (out / "clip" / "mine.txt").exists()


def test_a_worker_killed_after_its_manifest_leaves_an_output_the_retry_publishes(tmp_path, monkeypatch):
    """A worker killed after writing its manifest, before publishing (a first run: OUT/clip not
    there yet), left a complete staging folder with no mark; the retry's remove_stale deleted it
    and processed the video again (hours for a long video)."""
    from pose3d_nb.batch import task

    runs = _recorded_engine(monkeypatch)
    video, out = _touch(tmp_path / "clip.mp4").resolve(), tmp_path / "out"

    def killed(staging, final, video):
        raise SystemExit("killed")  # the worker dies: nothing after this line runs

    monkeypatch.setattr(task, "publish", killed)
    with pytest.raises(SystemExit):
        task.process_video(str(video), str(out / "clip"), BatchSettings().checked())
    monkeypatch.setattr(task, "publish", publish)
    assert not (out / "clip").exists() and len(list((out / STAGING).iterdir())) == 1
    row = task.process_video(str(video), str(out / "clip"), BatchSettings().checked())  # the retry
    assert (row["status"], len(runs)) == ("skipped", 1), row  # published, not processed again
    assert load_session(out / "clip" / "session.npz").valid.all() and not list((out / STAGING).iterdir())


def test_a_complete_unpublished_output_is_removed_only_for_an_output_as_current(tmp_path):
    """remove_stale settles a dead attempt's complete, never-published folder: over an output of
    the same video made from an older input it is published; beside one as current it is removed;
    beside the user's folder or for another video it is kept; an unfinished one is removed."""
    host, dead = socket.gethostname(), 4_000_000  # above any pid_max: no such process
    video, out = _touch(tmp_path / "clip.mp4").resolve(), tmp_path / "out"
    now = {"size": 1, "mtime_ns": video.stat().st_mtime_ns}

    def attempt(marker: str, stamp: dict, made_from: Path = video) -> Path:
        folder = _output(out / STAGING / f"{staging_key('clip')}@{host}@{dead}@{marker}", made_from, marker)
        manifest = json.loads((folder / MANIFEST).read_text())
        (folder / MANIFEST).write_text(json.dumps({**manifest, "input_size": stamp["size"],
                                                   "input_mtime_ns": stamp["mtime_ns"]}))
        return folder

    _output(out / "clip", video, "older")  # made from the input before it changed (stamp 1, 1)
    current = attempt("0000c0de", now)
    remove_stale(out, "clip", video)
    assert (out / "clip" / "session.npz").read_bytes() == b"0000c0de" and not current.exists()
    assert list((out / STAGING).iterdir()) == []

    twin = attempt("0000face", now)  # as current as the output in place: a duplicate
    remove_stale(out, "clip", video)
    assert (out / "clip" / "session.npz").read_bytes() == b"0000c0de" and not twin.exists()

    another = attempt("0000beef", now, made_from=tmp_path / "other.mp4")
    unfinished = _touch(out / STAGING / f"{staging_key('clip')}@{host}@{dead}@0000dead" / "joints.npy")
    remove_stale(out, "clip", video)
    assert another.exists() and not unfinished.parent.exists()

    shutil.rmtree(out / "clip")
    _touch(out / "clip" / "mine.txt")  # the user's folder at OUT/clip: the output waits for it
    kept = attempt("0000f00d", now)
    remove_stale(out, "clip", video)
    assert kept.exists() and (out / "clip" / "mine.txt").exists()
    shutil.rmtree(out / "clip")
    remove_stale(out, "clip", video)
    assert (out / "clip" / "session.npz").read_bytes() == b"0000f00d" and another.exists()



def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Each file of ``folder``: its bytes and modification time (what a replacement changes)."""
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_a_copy_or_renamed_output_is_reused_but_never_replaced(tmp_path, monkeypatch):
    """The rerun took the first folder (by name) whose batch.json named the video: after
    `cp -a results/walk results/backup_walk`, a rerun with another window replaced the backup and
    left walk with the old output; with `cp -r` (times not kept) the video failed, pointing at the
    backup; `mv walk walk_v1` got walk_v1 replaced. A copy is now reused only when up to date."""
    from pose3d_nb.batch import task
    from pose3d_nb.batch.runner import _plan

    runs = _recorded_engine(monkeypatch)
    video, out = _touch(tmp_path / "walk.mp4").resolve(), tmp_path / "results"
    window_9, window_27 = BatchSettings(window=9).checked(), BatchSettings(window=27).checked()

    def rerun(settings: BatchSettings) -> dict:
        rows: dict = {}
        for path, folder in _plan([video], out, settings, rows, {}).items():
            rows[path] = task.process_video(str(path), str(folder), settings)
        return rows[video]

    def window_in(folder: Path) -> int:
        return read_manifest(folder)["settings"]["window"]

    for copy in (shutil.copy2, shutil.copy):  # cp -a, then cp -r (which makes every file look edited)
        shutil.rmtree(out, ignore_errors=True)
        assert rerun(window_9)["status"] == "ok"
        shutil.copytree(out / "walk", out / "backup_walk", copy_function=copy)
        backup = _files(out / "backup_walk")
        row = rerun(window_27)
        assert (row["status"], row["output"]) == ("ok", str(out / "walk" / "session.npz")), row
        assert window_in(out / "walk") == 27 and _files(out / "backup_walk") == backup

    os.replace(out / "walk", out / "walk_v1")  # kept under another name
    kept, done = _files(out / "walk_v1"), len(runs)
    row = rerun(window_27)  # up to date: reused where it is, nothing written
    assert (row["status"], row["output"]) == ("skipped", str(out / "walk_v1" / "session.npz")), row
    assert len(runs) == done
    assert rerun(window_9)["output"] == str(out / "backup_walk" / "session.npz")  # as up to date
    assert not (out / "walk").exists() and len(runs) == done
    row = rerun(BatchSettings(window=3).checked())  # to be made: a new results/walk, the copies untouched
    assert (row["status"], row["output"]) == ("ok", str(out / "walk" / "session.npz")), row
    assert window_in(out / "walk") == 3 and _files(out / "walk_v1") == kept
    assert _files(out / "backup_walk") == backup
    assert sorted(p.name for p in out.iterdir() if p.name != STAGING) == ["backup_walk", "walk", "walk_v1"]


def test_an_unpublished_output_outlives_an_output_as_old_as_it(tmp_path, monkeypatch):
    """The output of the input's second version failed to publish (kept in .staging, the row said
    so); the input changed again, and the next attempt deleted the kept output because the one in
    place had the same settings, although that was made from the first version: when the third
    version failed too, only the first version's output was left. It is now kept until
    results/NAME holds the output of the same input, or of the input as it is now."""
    from pose3d_nb.batch import task

    runs = _recorded_engine(monkeypatch)
    recorded = task._run_engine
    video, final = (tmp_path / "walk.mp4").resolve(), tmp_path / "out" / "walk"
    settings = BatchSettings().checked()

    def version(n: int) -> None:
        video.write_bytes(b"v" * (10 + n))
        os.utime(video, ns=(10**18 + n * 10**9,) * 2)  # 2001: older than any output written now

    def does_not_decode(video, staging, settings):
        raise RuntimeError("this version does not decode")

    def busy(staging, final, video):
        raise OSError(16, "Device or resource busy")

    def made_from_size() -> int:
        return read_manifest(final)["input_size"]

    version(0)
    assert task.process_video(str(video), str(final), settings)["status"] == "ok"
    version(1)
    monkeypatch.setattr(task, "publish", busy)
    row = task.process_video(str(video), str(final), settings)
    monkeypatch.setattr(task, "publish", publish)
    (kept,) = (final.parent / STAGING).iterdir()
    assert row["status"] == "failed" and f"the finished output is kept in {kept}" in row["error"], row
    version(2)
    monkeypatch.setattr(task, "_run_engine", does_not_decode)
    assert task.process_video(str(video), str(final), settings)["status"] == "failed"
    assert made_from_size() == 10 and read_manifest(kept)["input_size"] == 11  # both outputs kept
    remove_stale(final.parent, "walk", video, settings)  # neither current: neither wins
    assert made_from_size() == 10 and kept.exists()

    version(3)
    monkeypatch.setattr(task, "_run_engine", recorded)
    assert task.process_video(str(video), str(final), settings)["status"] == "ok"
    assert made_from_size() == 13 and len(runs) == 3
    assert task.process_video(str(video), str(final), settings)["status"] == "skipped"
    assert not kept.exists()  # results/walk holds the current input's output: the kept one is settled

@pytest.mark.parametrize("in_the_way", [False, True])
def test_a_publish_whose_second_rename_fails_loses_no_output(tmp_path, monkeypatch, in_the_way):
    """publish set the old output aside, then the rename of the new one failed (a folder appeared
    at OUT/clip); the task discarded the new, complete output and left the old one hidden in
    .staging. The old one now goes back when OUT/clip is free, the new one stays in .staging
    (the row says where) and the next run puts it in place without processing the video again."""
    from pose3d_nb.batch import staging as staging_module
    from pose3d_nb.batch import task

    runs = _recorded_engine(monkeypatch)
    video, final = _touch(tmp_path / "clip.mp4").resolve(), tmp_path / "out" / "clip"
    settings = BatchSettings().checked()
    assert task.process_video(str(video), str(final), settings)["status"] == "ok"
    first = (final / "session.npz").stat().st_mtime_ns
    os.utime(video, ns=(1, 1))  # the input changed: the video is processed again
    rename = os.replace

    def second_rename_fails(source, target):
        if Path(source).parent.name == STAGING and Path(target) == final and Path(source).suffix != ".old":
            if in_the_way:
                _touch(final / "mine.txt")  # the user's folder appeared: the rename itself fails
            else:
                raise PermissionError(13, "Permission denied", str(source))
        rename(source, target)

    monkeypatch.setattr(staging_module.os, "replace", second_rename_fails)
    row = task.process_video(str(video), str(final), settings)
    monkeypatch.setattr(staging_module.os, "replace", rename)
    kept = [p for p in (final.parent / STAGING).iterdir() if not p.name.endswith(".old")]
    assert row["status"] == "failed" and len(kept) == 1 and (kept[0] / MANIFEST).is_file(), row
    assert f"the finished output is kept in {kept[0]}" in row["error"], row
    if in_the_way:  # the old output cannot go back: it stays set aside beside the new one
        assert f"the earlier output in {kept[0]}.old" in row["error"] and (final / "mine.txt").exists()
        assert (kept[0].with_name(kept[0].name + ".old") / "session.npz").stat().st_mtime_ns == first
        shutil.rmtree(final)  # the user moves their folder away
    else:
        assert (final / "session.npz").stat().st_mtime_ns == first  # the old output back in place
    again = task.process_video(str(video), str(final), settings)
    assert (again["status"], len(runs)) == ("skipped", 2), again  # the kept output, not redone
    assert not list((final.parent / STAGING).iterdir())


def test_remove_stale_matches_only_its_own_names_and_settles_the_old_layout(tmp_path):
    """The glob `clip@*` matched `.old` folders and other names' folders; folders named before
    the staging key (NAME@HOST@PID@ATTEMPT, the layout the bug left behind) are settled too."""
    host, dead = socket.gethostname(), 4_000_000  # above any pid_max: no such process
    video, out = (tmp_path / "clip.mp4").resolve(), tmp_path / "out"
    old = _output(out / STAGING / f"clip@{host}@{dead}@abcd1234.old", video, "old")
    new = _output(out / STAGING / f"clip@{host}@{dead}@abcd1234", video, "new")
    others = [_touch(out / STAGING / f"clip@x@{host}@{dead}@abcd1234" / "session.npz"),  # output "clip@x"
              _touch(out / STAGING / f"{staging_key('clip2')}@{host}@{dead}@abcd1234" / "session.npz"),
              _touch(out / STAGING / "clip@notes" / "session.npz")]  # not a staging folder at all
    remove_stale(out, "clip", video)
    assert (out / "clip" / "session.npz").read_bytes() == b"new" and not old.exists() and not new.exists()
    assert all(p.exists() for p in others)


def test_a_long_video_name_fits_the_staging_and_output_folders(tmp_path):
    """A 250-byte stem (a legal file name) failed with [Errno 36] File name too long: its staging
    folder NAME@HOST@PID@RANDOM passed 255 bytes; its hashed output name did too."""
    stems = ["v" * 250, "é" * 125, "v" * 249 + "w"]  # the last two share the first 200 bytes with others
    videos = [Path(f"/d1/{stem}.mp4") for stem in stems] + [Path(f"/d2/{stems[0]}.mp4")]
    names = output_names(videos)
    assert len({n.lower() for n in names}) == 4 and all(len(n.encode()) <= 255 for n in names), names
    assert names[1].startswith("é" * 95) and names[2] != names[0]
    for name in names:
        staging = new_staging(tmp_path, name)  # raised OSError (Errno 36) for a long name
        assert len(f"{staging.name}.old".encode()) <= 255
        (tmp_path / name).mkdir()  # the output folder's own name fits too


@pytest.mark.slow
def test_a_video_with_a_long_legal_name_is_processed(tmp_path):
    from pose3d_nb.batch.task import process_video

    clip = write_clip(tmp_path / "in" / ("v" * 240 + ".mp4"), 10)
    out = tmp_path / "out" / output_names([clip])[0]
    row = process_video(str(clip), str(out), BatchSettings().checked())
    assert row["status"] == "ok", row
    assert load_session(out / "session.npz").valid.any()


def test_workers_without_pose3d_nb_are_named_before_anything_is_submitted():
    from importlib.metadata import PackageNotFoundError

    from pose3d_nb import __version__
    from pose3d_nb.batch.cluster import check_workers

    class Client:
        def __init__(self, answers):
            self.answers = answers

        def run(self, function, name, on_error):
            assert function.__module__ == "importlib.metadata" and name == "pose3d_nb"
            return self.answers

    check_workers(Client({"tcp://a:1": __version__, "tcp://b:1": __version__}))
    with pytest.raises(ClusterError, match=r"tcp://b:1: not installed; tcp://c:1: 0\.0\.1"):
        check_workers(Client({"tcp://a:1": __version__, "tcp://b:1": PackageNotFoundError("pose3d_nb"),
                              "tcp://c:1": "0.0.1"}))


def test_the_help_states_the_timeouts_the_batch_uses():
    from pose3d_nb.batch.cluster import CONNECT_TIMEOUT_S, WORKER_TIMEOUT_S

    batch = cli.build_parser()._subparsers._group_actions[0].choices["batch"]
    helps = {action.dest: action.help for action in batch._actions}
    assert helps["connect_timeout"].endswith(f"default {CONNECT_TIMEOUT_S:g})")
    assert helps["worker_timeout"].endswith(f"default {WORKER_TIMEOUT_S:g})")


@pytest.mark.slow
def test_the_local_pool_binds_no_fixed_port():
    from pose3d_nb.batch.cluster import local_cluster

    with local_cluster(1) as client:  # the scheduler's HTTP server (health checks) on 127.0.0.1, any port
        bound = client.run_on_scheduler(lambda dask_scheduler: (dask_scheduler.http_server.address,
                                                                dask_scheduler.http_server.port))
    assert bound[0] == "127.0.0.1" and bound[1] != 8787, bound


# ---------------------------------------------------------------------------- shared fixtures
@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> dict:
    """3 copies of one 30-frame clip (two share a stem), a corrupt .mp4 and an empty .mp4."""
    root = tmp_path_factory.mktemp("videos")
    clip = write_clip(root / "walk.mp4", CLIP_FRAMES, start=10)
    shutil.copy(clip, root / "again.mp4")
    (root / "other").mkdir()
    shutil.copy(clip, root / "other" / "walk.mp4")
    (root / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, np.uint8).tobytes())
    (root / "empty.mp4").write_bytes(b"")
    return {"root": root, "clip": clip, "good": 3, "bad": ["corrupt.mp4", "empty.mp4"]}


@pytest.fixture(scope="module")
def reference(collection, tmp_path_factory):
    """What `pose3d run` records for the clip, default settings."""
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["run", "--source", str(collection["clip"]), "--out", str(out)]) == 0
    return load_session(out / "session.npz")


@pytest.fixture(scope="module")
def cluster():
    """A 2-worker LocalCluster (processes, one thread each, 127.0.0.1) and its client."""
    from distributed import Client, LocalCluster

    local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                         dashboard_address=None)
    client = Client(local)
    yield client
    client.close()
    local.close()


@pytest.fixture(scope="module")
def first_batch(collection, cluster, tmp_path_factory):
    out = tmp_path_factory.mktemp("batch")
    table = process(collection["root"], out, client=cluster, progress=False)
    return table, out


def _assert_same_session(path: Path, reference) -> None:
    session = load_session(path)
    for name in (*SESSION_ARRAYS, "segment"):
        ours, theirs = getattr(session, name), getattr(reference, name)
        assert ours.shape == theirs.shape, name
        np.testing.assert_allclose(ours.astype(float), theirs.astype(float), atol=1e-5, err_msg=name)
    # source: the absolute path here; fps: measured; recording_id: every recording has its own
    differ = ("source", "fps", "recording_id")
    same_metadata = {k: v for k, v in reference.metadata.items() if k not in differ}
    assert {k: session.metadata[k] for k in same_metadata} == same_metadata
    assert Path(session.metadata["source"]).suffix == ".mp4"


def _snapshot(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}


def _assert_no_partial_output(out: Path) -> None:
    assert not (out / STAGING).exists(), list((out / STAGING).iterdir())
    leftovers = [p for p in out.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    assert not leftovers, leftovers
    for folder in (p for p in out.iterdir() if p.is_dir()):
        listed = json.loads((folder / MANIFEST).read_text())["files"]
        assert sorted(p.name for p in folder.iterdir() if p.name != MANIFEST) == listed


# ---------------------------------------------------------------------------- batches on Dask
@pytest.mark.slow
def test_batch_records_what_pose3d_run_records_and_reports_bad_videos(first_batch, collection, reference):
    table, out = first_batch
    assert list(table.columns) == ["path", "frames", "valid_fraction", "fps", "seconds", "status", "error",
                                   "output", "note"]
    assert table.loc[table["status"] == "ok", "note"].isna().all()  # everyone found and followed
    good = table[table["status"] == "ok"]
    assert len(good) == collection["good"] and set(good["frames"]) == {CLIP_FRAMES}
    assert (good["valid_fraction"] == 1.0).all() and (good["fps"] > 0).all()
    assert len({Path(o).parent for o in good["output"]}) == 3  # walk.mp4 twice: two folders
    for output in good["output"]:
        _assert_same_session(Path(output), reference)
    failed = table[table["status"] == "failed"]
    reasons = dict(zip(failed["path"].map(lambda p: Path(p).name), failed["error"], strict=True))
    assert sorted(reasons) == collection["bad"]
    assert "OpenCV could not open it as a video" in reasons["corrupt.mp4"]
    assert "is empty (0 bytes)" in reasons["empty.mp4"]
    assert failed["output"].isna().all()
    _assert_no_partial_output(out)


@pytest.mark.slow
def test_rerun_reuses_the_outputs_and_the_exit_status_says_some_failed(first_batch, collection, cluster,
                                                                       capsys):
    _, out = first_batch
    before = _snapshot(out)
    status = cli.main(["batch", str(collection["root"]), "--out", str(out), "--no-progress",
                       "--scheduler", cluster.scheduler.address])
    printed = capsys.readouterr().out
    assert status == 1, printed
    assert "5 videos: 0 ok, 3 skipped, 2 failed, 0 cancelled" in printed
    assert "failed: " in printed and "empty (0 bytes)" in printed
    assert _snapshot(out) == before  # nothing rewritten

    changed = collection["root"] / "again.mp4"  # a newer input is processed again, alone
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))
    table = process(collection["root"], out, client=cluster, progress=False)
    status = dict(zip(table["path"].map(lambda p: Path(p).name), table["status"], strict=True))
    assert status == {"again.mp4": "ok", "walk.mp4": "skipped", "corrupt.mp4": "failed",
                      "empty.mp4": "failed"} and list(table["status"]).count("skipped") == 2


@pytest.mark.slow
def test_a_worker_killed_mid_video_is_retried_and_leaves_no_partial_output(collection, cluster, tmp_path):
    long = write_clip(tmp_path / "in" / "long.mp4", 100)
    out = tmp_path / "out"
    killed: list[int] = []

    def kill_the_worker_of_long() -> None:  # as the OOM killer or a crash would, once
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            for staging in (out / STAGING).glob(f"{staging_key('long')}@*"):
                if (staging / "joints.npy").exists():  # mid-video: the engine is recording
                    pid = int(staging.name.split("@")[2])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            time.sleep(0.02)

    watcher = threading.Thread(target=kill_the_worker_of_long, daemon=True)
    watcher.start()
    table = process([long, collection["clip"]], out, client=cluster, progress=False)
    watcher.join(5)
    assert killed, "the watcher never saw the video half done"
    assert list(table["status"]) == ["ok", "ok"], table[["status", "error"]]
    assert list(table["frames"]) == [100, CLIP_FRAMES]
    assert load_session(out / "long" / "session.npz").valid.all()
    worker = json.loads((out / "long" / MANIFEST).read_text())["worker"]
    assert int(worker.rsplit(":", 1)[1]) != killed[0]  # finished by another worker process
    _assert_no_partial_output(out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_an_existing_scheduler_with_two_worker_processes_gives_the_same_results(collection, reference,
                                                                                tmp_path, capsys):
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = [[BIN / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]]
    commands += [[BIN / "dask", "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--local-directory", tmp_path / f"worker{i}"] for i in range(2)]
    processes = []
    try:
        for i, command in enumerate(commands):
            with open(logs / f"{i}.log", "wb") as log:
                processes.append(subprocess.Popen([str(c) for c in command], cwd=tmp_path, stdout=log,
                                                  stderr=subprocess.STDOUT))
        out = tmp_path / "out"
        status = cli.main(["batch", str(collection["root"]), "--out", str(out), "--no-progress",
                           "--scheduler", address, "--export", "trc"])
        printed = capsys.readouterr().out
        assert status == 1, printed
        assert "5 videos: 3 ok, 0 skipped, 2 failed, 0 cancelled" in printed
        sessions = sorted(out.glob("*/session.npz"))
        assert len(sessions) == 3
        for session in sessions:
            _assert_same_session(session, reference)
            assert session.with_suffix(".trc").is_file()
        _assert_no_partial_output(out)
    finally:
        for process_ in processes:
            process_.terminate()
        for process_ in processes:
            try:
                process_.wait(20)
            except subprocess.TimeoutExpired:
                process_.kill()
                process_.wait()


@pytest.mark.slow
def test_ctrl_c_cancels_keeps_what_finished_and_exits_130(tmp_path):
    clips = [write_clip(tmp_path / "in" / "clip00.mp4", 60)]
    for i in range(1, 6):
        clips.append(tmp_path / "in" / f"clip{i:02d}.mp4")
        shutil.copy(clips[0], clips[-1])
    out = tmp_path / "out"
    # A new session: the signal goes to the whole process group, as a terminal's Ctrl-C does.
    process_ = subprocess.Popen(
        [sys.executable, "-m", "pose3d_nb.cli", "batch", str(tmp_path / "in"), "--out", str(out),
         "--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob(f"*/{MANIFEST}")):
            assert process_.poll() is None and time.monotonic() < deadline, process_.communicate()
            time.sleep(0.05)
        os.killpg(process_.pid, signal.SIGINT)
        stdout, stderr = process_.communicate(timeout=120)
    finally:
        if process_.poll() is None:
            os.killpg(process_.pid, signal.SIGKILL)
    assert process_.returncode == 130, stdout + stderr
    assert "interrupted: 6 videos" in stdout and "cancelled" in stdout
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    finished = sorted(out.glob(f"*/{MANIFEST}"))
    ok = [line for line in stdout.splitlines() if " ok " in line]
    assert len(finished) == len(ok) >= 1  # what finished is kept, and said to be ok
    for manifest in finished:
        assert len(load_session(manifest.parent / "session.npz")) == 60
    _assert_no_partial_output(out)


@pytest.mark.slow
def test_the_notebook_returns_the_table_with_a_progress_bar(tmp_path, monkeypatch):
    from test_notebooks import outputs, run_notebook, text_of

    for i in range(2):
        write_clip(tmp_path / "videos" / f"clip{i}.mp4", 20, start=5 * i)
    nb = run_notebook("batch.ipynb", tmp_path, monkeypatch, timeout=300)
    assert not outputs(nb, "error")
    bars = [o for o in outputs(nb, "display_data")
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert bars, "no progress bar widget was displayed"
    tables = [o["data"]["text/html"] for o in outputs(nb, "execute_result") if "text/html" in o["data"]]
    assert any("valid_fraction" in t and "ok" in t for t in tables), tables
    text = text_of(nb)
    assert "2 videos: 2 ok" in text and "clip0.mp4: 20 frames, left knee median" in text, text
    assert (tmp_path / "batch_out" / "clip1" / "session.npz").is_file()


def test_taking_the_lock_waits_while_another_batch_is_taking_it(tmp_path):
    """Two batches never both hold a folder: one inspects (and replaces a stale) lock at a time,
    so a batch mid-takeover makes another wait instead of racing it."""
    import fcntl
    import os
    import threading

    from pose3d_nb.batch.lock import LOCK, acquire, release

    taking = os.open(tmp_path, os.O_RDONLY)  # another batch, mid-takeover
    fcntl.flock(taking, fcntl.LOCK_EX)
    got = []
    waiter = threading.Thread(target=lambda: got.append(acquire(tmp_path)))
    try:
        waiter.start()
        waiter.join(0.5)
        assert waiter.is_alive() and not (tmp_path / LOCK).exists()
    finally:
        os.close(taking)
    waiter.join(10)
    assert got == [tmp_path / LOCK] and (tmp_path / LOCK).exists()
    release(got[0])
    assert not (tmp_path / LOCK).exists()


def test_a_retry_with_other_settings_puts_their_unpublished_output_in_place(tmp_path, monkeypatch):
    # OUT/clip held the output of settings A; a run with B was killed after its manifest, before
    # publishing. Both were made from the same input, so the retry deleted B's complete output
    # as "no more current" and processed the video again.
    from pose3d_nb.batch import task
    from pose3d_nb.batch.staging import STAGING, publish

    runs = _recorded_engine(monkeypatch)
    video, out = _touch(tmp_path / "clip.mp4").resolve(), tmp_path / "out"
    first = BatchSettings(lifter="shipped").checked()
    second = BatchSettings(lifter="shipped", window=9).checked()
    assert task.process_video(str(video), str(out / "clip"), first)["status"] == "ok"

    def killed(staging, final, video):
        raise SystemExit("killed")

    monkeypatch.setattr(task, "publish", killed)
    with pytest.raises(SystemExit):
        task.process_video(str(video), str(out / "clip"), second)
    monkeypatch.setattr(task, "publish", publish)
    assert len(list((out / STAGING).iterdir())) == 1  # B's complete output
    row = task.process_video(str(video), str(out / "clip"), second)  # Dask's retry
    assert row["status"] == "skipped" and len(runs) == 2
    assert read_manifest(out / "clip")["settings"]["window"] == 9

