"""BlazePose Lite/Full/Heavy as named detectors, and fetching the models the wheel lacks."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from pose3d_nb.cli import main
from pose3d_nb.detectors import known_detectors
from pose3d_nb.detectors.base import DetectorUnavailable
from pose3d_nb.detectors.blazepose_models import (
    VARIANTS,
    ModelFetchError,
    cached_path,
    fetch_model,
    install_model,
)
from pose3d_nb.detectors.mediapipe_bundle import cache_dir
from pose3d_nb.errors import Pose3DError

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens, the connection is refused
HEAVY = cached_path(VARIANTS["mediapipe-heavy"], cache_dir())
needs_heavy = pytest.mark.skipif(
    not HEAVY.is_file(),
    reason=f"BlazePose Heavy not fetched ({HEAVY}): run `pose3d models fetch mediapipe-heavy` "
    "(./run does when npm is on the PATH)",
)


def test_three_variants_are_registered_detectors():
    names = known_detectors()
    assert {"mediapipe-lite", "mediapipe", "mediapipe-heavy"} <= set(names)
    assert names.index("mediapipe-lite") > names.index("mediapipe")  # the default stays first


def test_fetch_fails_cleanly_without_npm_or_network(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no npm anywhere
    with pytest.raises(ModelFetchError) as raised:
        fetch_model("mediapipe-lite", tmp_path, base_url=UNREACHABLE, timeout=5)
    message = str(raised.value)
    assert "npm: not on the PATH" in message and UNREACHABLE + "pose_landmark_lite.tflite" in message
    assert "\n" not in message and isinstance(raised.value, Pose3DError)
    assert list((tmp_path / "blazepose").iterdir()) == []  # nothing partial left behind


def test_fetch_reports_a_failing_npm_and_the_url(tmp_path):
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\necho 'npm ERR! network unreachable' >&2\nexit 1\n")
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    failed = r"npm pack @mediapipe/pose@\S+ failed \(exit 1\): npm ERR! network unreachable.*127\.0\.0\.1"
    with pytest.raises(ModelFetchError, match=failed):
        fetch_model("mediapipe-heavy", tmp_path, npm=str(npm), base_url=UNREACHABLE, timeout=5)


def test_fetch_refuses_a_file_with_the_wrong_digest(tmp_path):
    npm = tmp_path / "npm"  # an npm that packs a tarball whose model is not the real one
    npm.write_text(
        "#!/bin/sh\nmkdir -p package && printf 'not a model' > package/pose_landmark_lite.tflite && "
        "tar czf pose.tgz package\n"
    )
    npm.chmod(npm.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(ModelFetchError, match=r"size 11 bytes, expected 2819824"):
        fetch_model("mediapipe-lite", tmp_path, npm=str(npm), base_url=UNREACHABLE, timeout=5)
    assert not cached_path(VARIANTS["mediapipe-lite"], tmp_path).exists()


def test_cli_fetch_prints_one_line_and_exits_1(tmp_path, monkeypatch, capsys):
    import pose3d_nb.detectors.blazepose_models as models

    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("POSE3D_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models, "MEDIAPIPE_DOWNLOAD_URL", UNREACHABLE)
    assert main(["models", "fetch", "mediapipe-heavy"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: could not fetch pose_landmark_heavy.tflite") and err.count("\n") == 1


def test_without_the_file_the_detector_names_the_fetch_command(tmp_path):
    package = tmp_path / "mediapipe"  # a mediapipe package without Heavy, an empty cache
    (package / "modules" / "pose_landmark").mkdir(parents=True)
    with pytest.raises(DetectorUnavailable, match="run `pose3d models fetch mediapipe-heavy`"):
        install_model(2, directory=tmp_path / "cache", package_dir=package)
    install_model(1, directory=tmp_path / "cache", package_dir=package)  # Full ships in the wheel


def test_installs_racing_each_other_leave_one_whole_model(tmp_path, monkeypatch):
    """Batch workers start detectors at once: a second install must neither fail on the first's
    file nor leave a partial one where MediaPipe loads it."""
    import pose3d_nb.detectors.blazepose_models as models

    landmark = tmp_path / "mediapipe" / "modules" / "pose_landmark"
    landmark.mkdir(parents=True)
    cached = cached_path(VARIANTS["mediapipe-heavy"], tmp_path / "cache")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"the model")
    monkeypatch.setattr(models, "_verified", lambda path, model: None)  # no real Heavy needed
    installed = landmark / "pose_landmark_heavy.tflite"
    real_symlink = os.symlink

    def racing_symlink(source, target, *args, **kwargs):
        if not installed.is_symlink():  # the other worker's install lands first
            real_symlink(source, installed)
        real_symlink(source, target, *args, **kwargs)

    monkeypatch.setattr(models.os, "symlink", racing_symlink)
    install_model(2, directory=tmp_path / "cache", package_dir=tmp_path / "mediapipe")
    assert installed.read_bytes() == b"the model"
    assert [p.name for p in landmark.iterdir()] == [installed.name]  # no temporary left behind


@needs_heavy
def test_install_links_the_verified_cache_file(tmp_path):
    package = tmp_path / "mediapipe"
    (package / "modules" / "pose_landmark").mkdir(parents=True)
    install_model(2, package_dir=package)
    placed = package / "modules" / "pose_landmark" / "pose_landmark_heavy.tflite"
    assert placed.stat().st_size == VARIANTS["mediapipe-heavy"].size_bytes
    assert os.path.samefile(placed, HEAVY) or placed.read_bytes() == HEAVY.read_bytes()


@needs_heavy
def test_heavy_detector_finds_the_person_with_world_landmarks():
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import open_source

    with open_source("sample") as frames, create_detector("mediapipe-heavy") as detector:
        detections = [detector(frame) for _, frame in zip(range(5), frames, strict=False)]
    assert detector.name == "mediapipe-heavy"
    assert all(d.found for d in detections)
    assert np.isfinite(detections[-1].extras["world_landmarks"]).all()


@needs_heavy
def test_heavy_follows_a_chosen_person_as_the_people_detector_with_its_model():
    # mediapipe-heavy could not follow anyone ("cannot follow a chosen person"): with a follow=
    # choice it runs as mediapipe-people with the Heavy model in each person's region.
    from pose3d_nb import PoseEngine
    from pose3d_nb.sources import open_source

    engine = PoseEngine(source="sample", detector="mediapipe-heavy", follow="largest", out_dir=None)
    assert engine.detector_name == "mediapipe-people" and engine.metadata()["landmark_model"] == "Heavy"
    assert engine.settings.detector == "mediapipe-heavy"  # as asked (the app's dropdown shows it)
    detector = engine._devices.open_detector(engine._devices.detector_spec, engine._devices.detector_options)
    try:
        with open_source("sample") as frames:
            detections = [detector(frame) for _, frame in zip(range(3), frames, strict=False)]
        assert detector._landmarker._roi._complexity == 2  # the regions ran Heavy
        assert all(d.found for d in detections) and detections[-1].extras["track_id"] == 1
    finally:
        detector.close()
    engine.follow("none")  # back to one person: the Heavy single-person solution
    assert engine.detector_name == "mediapipe-heavy" and engine.metadata()["landmark_model"] == "Heavy"
    engine.follow("auto")  # as the constructor's "auto": the largest person, with Heavy's model
    assert engine.detector_name == "mediapipe-people" and engine.settings.detector == "mediapipe-heavy"
    assert engine._devices.detector_options == {"model_complexity": 2, "follow": "largest"}
    assert engine.metadata()["landmark_model"] == "Heavy"


@pytest.mark.parametrize("variant, complexity, model",
                         [("mediapipe-lite", 0, "Lite"), ("mediapipe-heavy", 2, "Heavy")])
def test_auto_follows_the_largest_person_with_lite_and_heavy_too(variant, complexity, model):
    # Issue 18: "auto", every entry point's default, is "largest" with Lite and Heavy as with Full:
    # the people detector running their landmark model. Until 2026-12-08 it kept their
    # single-person solution, although any explicit choice already ran them so.
    from pose3d_nb import PoseEngine
    from pose3d_nb.batch.task import one_thread_options
    from pose3d_nb.detectors.follow import resolved_follow, with_follow

    people = ("mediapipe-people", {"model_complexity": complexity, "follow": "largest"})
    assert resolved_follow(variant, "auto") == "largest"
    assert with_follow(variant, "auto") == people
    assert with_follow(variant.upper(), " Auto ") == people  # as the command line may spell them
    engine = PoseEngine(detector=variant, out_dir=None)  # follow left out: "auto"
    assert engine.detector_name == "mediapipe-people" and engine._devices.detector_options == people[1]
    # said as asked (the app's detector list shows it), and the recording names the model
    assert engine.settings.detector == variant and engine.settings.follow == "auto"
    assert engine.metadata()["landmark_model"] == model
    assert one_thread_options(variant, "auto") == {"workers": 1}  # a batch video: the people detector's


@pytest.mark.parametrize("variant", ["mediapipe-lite", "mediapipe-heavy"])
def test_lite_and_heavy_keep_their_single_person_solution_with_its_options_or_none(variant):
    # The exceptions to "auto" are Full's: options only the single-person solution takes keep it
    # (the people detector would refuse them at the start), and "none" (or None) is that solution.
    from pose3d_nb import PoseEngine
    from pose3d_nb.detectors.follow import resolved_follow, with_follow

    assert with_follow(variant, "auto", {"smooth_landmarks": False}) == (variant, {"smooth_landmarks": False})
    kept = PoseEngine(detector=variant, detector_options={"smooth_landmarks": False}, out_dir=None)
    assert kept.detector_name == variant and kept._devices.detector_options == {"smooth_landmarks": False}
    for follow in ("none", None):
        assert with_follow(variant, follow) == (variant, {})
        engine = PoseEngine(detector=variant, follow=follow, out_dir=None)
        assert engine.detector_name == variant and engine._devices.detector_options == {}
    # Detectron2 sees one person here and keeps its own choice under "auto".
    assert resolved_follow("detectron2", "auto") is None
    assert with_follow("detectron2", "auto") == ("detectron2", {})


@needs_heavy
def test_pose3d_with_heavy_and_the_default_follow_runs_heavy_in_each_person_s_region():
    from pose3d_nb import Pose3D
    from pose3d_nb.detectors.mediapipe_people import MediaPipePeopleDetector
    from pose3d_nb.sources import open_source

    with Pose3D(detector="mediapipe-heavy") as pose, open_source("sample") as frames:
        assert isinstance(pose.detector, MediaPipePeopleDetector)
        for _, frame in zip(range(3), frames, strict=False):
            pose.process(frame)
        assert pose.detector._landmarker._roi._complexity == 2  # the regions ran Heavy
        assert pose.detector.followed == 1


def test_the_people_detector_refuses_a_model_its_tiles_would_not_run():
    from pose3d_nb.detectors.people_landmarks import PeopleLandmarker
    from pose3d_nb.errors import Pose3DValueError

    with pytest.raises(Pose3DValueError, match="needs regions='tracked'"):
        PeopleLandmarker(regions="tiles", model_complexity=2)
