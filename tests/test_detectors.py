"""2D detectors: the default detector on real footage, the registry, and the Detectron2 adapter."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from pose3d_nb.detectors import (
    Detection,
    Detector,
    DetectorUnavailable,
    available_detectors,
    create_detector,
    known_detectors,
)
from pose3d_nb.detectors.detectron2_rcnn import Detectron2KeypointDetector, instances_to_candidates
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_MIRROR, BLAZEPOSE_TO_COCO
from pose3d_nb.skeleton import COCO
from pose3d_nb.sources import Frame, open_source

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).with_name("golden") / "mediapipe_sample.json"
TWO_PEOPLE = "two_people_walk_640x360.mp4"
L_SHOULDER, R_SHOULDER = COCO.index("left_shoulder"), COCO.index("right_shoulder")
L_HIP, R_HIP = COCO.index("left_hip"), COCO.index("right_hip")


def shared_samples() -> Path | None:
    """The shared sample folder: $POSE3D_SAMPLES, or shared/samples beside the checkout."""
    candidates = [
        os.environ.get("POSE3D_SAMPLES"),
        REPO.parent / "shared" / "samples",
        "/work/shared/samples",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / TWO_PEOPLE).is_file():
            return Path(candidate)
    return None


def detect_all(source) -> list[Detection]:
    with open_source(source) as frames, create_detector() as detect:
        return [detect(frame) for frame in frames]


@pytest.fixture(scope="module")
def sample_detections() -> list[Detection]:
    """The default detector on every frame of the bundled sample (about 2 s)."""
    return detect_all("sample")


@pytest.fixture(scope="module")
def two_people_detections() -> list[Detection]:
    folder = shared_samples()
    if folder is None:
        pytest.skip(f"{TWO_PEOPLE} not found (set POSE3D_SAMPLES to the shared samples folder)")
    return detect_all(folder / TWO_PEOPLE)


def centre(detection: Detection) -> np.ndarray:
    box = detection.bbox
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


# ---------------------------------------------------------------------------- registry
def test_registry_lists_backends_and_mediapipe_is_installed():
    names = known_detectors()
    assert names[0] == "mediapipe"  # the default first
    assert {"mediapipe-lite", "mediapipe-heavy", "mediapipe-people", "detectron2"} <= set(names)
    assert "mediapipe" in available_detectors()


def test_unknown_detector_name():
    with pytest.raises(ValueError, match="unknown detector 'openpose'.*mediapipe, .*detectron2"):
        create_detector("openpose")


def test_missing_detectron2_says_how_to_install():
    if "detectron2" in available_detectors():
        pytest.skip("detectron2 is installed here")
    with pytest.raises(DetectorUnavailable) as error:
        create_detector("detectron2")
    message = str(error.value)
    assert "pip install 'git+https://github.com/facebookresearch/detectron2.git'" in message
    assert "torchvision" in message and "detectron2" in message
    assert isinstance(error.value, ImportError)


def test_detectron2_builder_without_detectron2_is_unavailable():
    if "detectron2" in available_detectors():
        pytest.skip("detectron2 is installed here")
    with pytest.raises(DetectorUnavailable, match="facebookresearch/detectron2"):
        Detectron2KeypointDetector()


def test_mapping_tables():
    assert BLAZEPOSE_TO_COCO.tolist() == [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]
    assert sorted(BLAZEPOSE_MIRROR.tolist()) == list(range(33))
    assert (BLAZEPOSE_MIRROR[BLAZEPOSE_MIRROR] == np.arange(33)).all()
    # Mirroring then mapping equals mapping then mirroring in COCO.
    assert (BLAZEPOSE_MIRROR[BLAZEPOSE_TO_COCO] == BLAZEPOSE_TO_COCO[COCO.mirror_permutation()]).all()


# ---------------------------------------------------------------------------- mediapipe, bundled sample
def test_sample_person_found_in_every_frame(sample_detections):
    assert len(sample_detections) == 100
    assert [d.frame_index for d in sample_detections] == list(range(100))
    assert sum(d.found for d in sample_detections) >= 98
    first = sample_detections[0]
    assert first.keypoints.shape == (17, 2) and first.keypoints.dtype == np.float32
    assert first.scores.shape == (17,) and first.bbox.shape == (4,)
    assert first.frame_size == (540, 960) and first.timestamp == 0.0
    assert {d.extras["track_id"] for d in sample_detections if d.found} == {1}


def test_sample_keypoints_inside_the_frame(sample_detections):
    for d in sample_detections:
        if not d.found:
            continue
        width, height = d.frame_size
        x, y = d.keypoints[:, 0], d.keypoints[:, 1]
        assert ((x >= 0) & (x <= width) & (y >= 0) & (y <= height)).all(), f"frame {d.frame_index}"
        assert (d.scores >= 0).all() and (d.scores <= 1).all()
        assert d.bbox[0] <= x.min() + 1 and x.max() - 1 <= d.bbox[2]


def test_sample_left_and_right_not_swapped(sample_detections):
    # The man faces the camera throughout: his left shoulder and hip are on the image's right.
    found = [d for d in sample_detections if d.found]
    shoulders = np.mean([d.keypoints[L_SHOULDER, 0] > d.keypoints[R_SHOULDER, 0] for d in found])
    hips = np.mean([d.keypoints[L_HIP, 0] > d.keypoints[R_HIP, 0] for d in found])
    assert shoulders >= 0.95, f"left shoulder on the image's right in only {shoulders:.0%} of frames"
    assert hips >= 0.9, f"left hip on the image's right in only {hips:.0%} of frames"


def test_sample_world_landmarks(sample_detections):
    d = sample_detections[50]
    world = d.extras["world_landmarks"]
    assert world.shape == (33, 3) and np.isfinite(world).all()
    assert np.abs(world).max() < 2.0  # metres around the hips
    assert d.extras["visibility"].shape == (33,)
    hips = world[[23, 24]].mean(axis=0)
    assert np.linalg.norm(hips) < 0.1  # hip-centred
    # Same left/right sense as the 2D keypoints: the person's left side is +x in MediaPipe's world
    # frame when facing the camera, like the image.
    assert (world[11, 0] > world[12, 0]) == (d.keypoints[L_SHOULDER, 0] > d.keypoints[R_SHOULDER, 0])


def test_sample_matches_golden_keypoints():
    # Single images (see tests/helpers/make_golden.py): video mode's frame-to-frame crop feedback
    # turns CPU-dependent rounding into pixels, a single image does not.
    golden = json.loads(GOLDEN.read_text())
    options = {"static_image_mode": True, "follow": False, "fix_left_right": False}
    with open_source("sample") as source, create_detector("mediapipe", **options) as detect:
        detections = {frame.index: detect(frame) for frame in source if frame.index in golden["frames"]}
    for index, keypoints, scores in zip(golden["frames"], golden["keypoints"], golden["scores"], strict=True):
        d = detections[index]
        expected = np.array(keypoints)
        error = np.linalg.norm(d.keypoints - expected, axis=1)
        confident = np.array(scores) >= 0.5
        assert error[confident].max() < 4.0, f"frame {index}: keypoints moved by {error.max():.1f} px"
        assert np.median(error) < 1.5, f"frame {index}"


# ---------------------------------------------------------------------------- mediapipe, two people
def test_two_people_clip_keeps_following_one_person(two_people_detections):
    dets = two_people_detections
    assert len(dets) == 230 and [d.frame_index for d in dets] == list(range(230))
    found = [d for d in dets if d.found]
    assert len(found) >= 0.6 * len(dets)
    width, height = dets[0].frame_size
    diagonal = np.hypot(width, height)
    for previous, current in zip(found, found[1:], strict=False):
        if current.extras["track_id"] == previous.extras["track_id"]:
            jump = np.linalg.norm(centre(current) - centre(previous))
            assert jump < 0.1 * diagonal, (
                f"frames {previous.frame_index}->{current.frame_index}: the followed person jumped "
                f"{jump:.0f} px (switched to someone else?)"
            )
        else:
            # A new subject only after the old one was gone for longer than the tracker waits.
            assert current.timestamp - previous.timestamp > 1.0
    assert len({d.extras["track_id"] for d in found}) <= 3


def test_missing_frames_are_kept_and_marked(two_people_detections):
    missing = [d for d in two_people_detections if not d.found]
    assert missing, "this clip has frames where nobody (or only the other person) is found"
    for d in missing:
        assert np.isnan(d.keypoints).all() and (d.scores == 0).all() and np.isnan(d.bbox).all()
        assert d.frame_size == (640, 360)


# ---------------------------------------------------------------------------- mediapipe, protocol
def test_mediapipe_detector_protocol_reset_and_blank_frames():
    with open_source("sample") as frames:
        sample = [next(frames) for _ in range(3)]
    blank = Frame(np.zeros((240, 320, 3), np.uint8), 0, 0.0, 0.0)
    with create_detector("mediapipe", min_detection_confidence=0.5) as detect:
        assert isinstance(detect, Detector) and detect.name == "mediapipe"
        nobody = detect(blank)
        assert not nobody.found and nobody.frame_size == (320, 240) and np.isnan(nobody.keypoints).all()
        first = [detect(f) for f in sample]
        assert all(d.found for d in first) and first[0].extras["track_id"] == 1
        detect.reset()
        again = detect(sample[0])
        assert again.found and again.extras["track_id"] == 2  # a fresh subject after reset()
    with pytest.raises(RuntimeError, match="closed"):
        detect(sample[0])


# ---------------------------------------------------------------------------- detectron2 adapter
try:  # DefaultPredictor returns torch tensors; torch is a pose3d_nb dependency
    import torch

    as_tensor = torch.as_tensor
except ImportError:  # pragma: no cover
    as_tensor = np.asarray


class FakeBoxes:
    def __init__(self, tensor):
        self.tensor = tensor


class FakeInstances:
    """Test double of detectron2 ``Instances`` as DefaultPredictor returns them (torch tensors)."""

    def __init__(self, boxes, scores, keypoints, device="cpu"):
        self.pred_boxes = FakeBoxes(as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4)))
        self.scores = as_tensor(np.asarray(scores, np.float32))
        self.pred_keypoints = as_tensor(np.asarray(keypoints, np.float32).reshape(-1, 17, 3))
        self.device = device
        self.moved_to: list[str] = []

    def __len__(self):
        return len(self.scores)

    def to(self, device):
        self.moved_to.append(device)
        return self


def rcnn_person(cx, cy, w=80.0, h=200.0, kp_score=0.4):
    """One person's box (4,) and keypoints (17, 3) in a frontal layout, left joints image-right."""
    box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)
    xs = np.where(np.arange(17) % 2 == 1, 0.7, 0.3)
    xs[0] = 0.5
    ys = np.linspace(0.05, 0.95, 17)
    keypoints = np.stack([box[0] + xs * w, box[1] + ys * h, np.full(17, kp_score)], axis=1)
    return box, keypoints


class FakePredictor:
    """Test double of DefaultPredictor: records the images it gets, returns scripted people."""

    def __init__(self, script):
        self.script = script  # one list of (box, keypoints, score) per call
        self.images = []
        self.outputs = []

    def __call__(self, image):
        self.images.append(image)
        people = self.script[len(self.images) - 1]
        instances = FakeInstances(
            [p[0] for p in people] or np.zeros((0, 4)),
            [p[2] for p in people],
            [p[1] for p in people] or np.zeros((0, 17, 3)),
        )
        self.outputs.append(instances)
        return {"instances": instances}


def rgb_frame(index, size=(640, 360)):
    image = np.zeros((size[1], size[0], 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 50  # R, G, B
    return Frame(image, index, index / 30, 0.0)


def test_instances_to_candidates():
    a_box, a_kp = rcnn_person(100, 180)
    b_box, b_kp = rcnn_person(400, 170, kp_score=1.7)  # scores above 1 are clipped
    instances = FakeInstances([a_box, b_box], [0.9, 0.8], [a_kp, b_kp])
    found = instances_to_candidates(instances)
    assert instances.moved_to == ["cpu"]
    assert len(found) == 2 and found.boxes.shape == (2, 4) and found.keypoints.shape == (2, 17, 2)
    np.testing.assert_allclose(found.boxes[1], b_box)
    np.testing.assert_allclose(found.keypoints[0], a_kp[:, :2])
    np.testing.assert_allclose(found.scores[0], 0.4)
    assert (found.scores[1] == 1.0).all()
    assert found.confidences.tolist() == pytest.approx([0.9, 0.8])
    empty = instances_to_candidates(FakeInstances(np.zeros((0, 4)), [], np.zeros((0, 17, 3))))
    assert len(empty) == 0 and empty.keypoints.shape == (0, 17, 2)


def test_detectron2_adapter_follows_one_person_and_feeds_bgr():
    # Frames 0-9: A (left, bigger) and B; order swapped on odd frames; B gets more confident.
    # Frames 10-11: nobody. Frames 12-15: A back near where it was, B too.
    script = []
    for i in range(16):
        a = (*rcnn_person(150 + 3 * i, 180, 90, 220), 0.8)
        b = (*rcnn_person(450 - 3 * i, 170), 0.99)
        if 10 <= i < 12:
            script.append([])
        else:
            script.append([a, b] if i % 2 == 0 else [b, a])
    predictor = FakePredictor(script)
    with Detectron2KeypointDetector(predictor=predictor) as detect:
        assert isinstance(detect, Detector) and detect.name == "detectron2"
        detections = [detect(rgb_frame(i)) for i in range(16)]
    assert predictor.images[0][0, 0].tolist() == [50, 100, 200]  # BGR, as DefaultPredictor expects
    for i, d in enumerate(detections):
        if 10 <= i < 12:
            assert not d.found and d.frame_index == i and d.extras["num_candidates"] == 0
            continue
        expected_box, expected_kp = rcnn_person(150 + 3 * i, 180, 90, 220)
        assert d.found, f"frame {i}"
        np.testing.assert_allclose(d.bbox, expected_box, err_msg=f"frame {i}: not the followed person")
        np.testing.assert_allclose(d.keypoints, expected_kp[:, :2], rtol=1e-6)
        assert d.extras["track_id"] == 1 and d.extras["num_candidates"] == 2
        assert d.extras["box_score"] == pytest.approx(0.8)
        assert d.keypoints[L_SHOULDER, 0] > d.keypoints[R_SHOULDER, 0]


def test_detectron2_adapter_without_tracking_takes_the_most_confident():
    a = (*rcnn_person(150, 180, 90, 220), 0.8)
    b = (*rcnn_person(450, 170), 0.99)
    with Detectron2KeypointDetector(predictor=FakePredictor([[a, b]]), follow=False) as detect:
        d = detect(rgb_frame(0))
    np.testing.assert_allclose(d.bbox, b[0])


NATIVE_NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    b"I0000 00:00:1796604418.193469   12774 task_runner.cc:85] GPU suport is not available: INTERNAL: ; "
    b"RET_CHECK failure (mediapipe/gpu/gl_context_egl.cc:84) egl_initializedUnable to initialize EGL\n"
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
    b"W0000 00:00:1796604418.297018   12783 inference_feedback_manager.cc:114] Feedback manager requires a "
    b"model with a single signature inference. Disabling support for feedback tensors.\n"
)


def test_mediapipes_start_up_notices_are_kept_out_of_stderr_and_nothing_else_is(capfd):
    # They showed as red stderr boxes in the notebook whenever Start was pressed.
    from pose3d_nb.detectors.native_logs import quiet_native_logs

    with quiet_native_logs():
        os.write(2, b"before\n" + NATIVE_NOISE + b"E0000 00:00:1.0   1 graph.cc:1] a real error\n")
        os.write(2, b"W0000 00:00:1.0   1 inference_feedback_manager.cc:114] something else\nafter")
    captured = capfd.readouterr().err
    assert captured == ("before\nE0000 00:00:1.0   1 graph.cc:1] a real error\n"
                        "W0000 00:00:1.0   1 inference_feedback_manager.cc:114] something else\nafter")
    os.write(2, NATIVE_NOISE)  # outside a MediaPipe start-up call nothing is filtered
    assert capfd.readouterr().err == NATIVE_NOISE.decode()


@pytest.mark.parametrize("name", ["mediapipe", "mediapipe-people"])
def test_a_detectors_first_frames_print_no_native_notices(capfd, name):
    source = open_source("sample")  # the person is in its first frame
    detector = create_detector(name)
    try:
        for _ in range(3):
            detector(next(source))
    finally:
        source.close()
        detector.close()
    err = capfd.readouterr().err
    for notice in ("XNNPACK", "EGL", "Feedback manager", "absl::InitializeLog", "NORM_RECT"):
        assert notice not in err, err


@pytest.mark.parametrize("name", ["mediapipe", "mediapipe-people"])
def test_a_detector_made_or_reset_a_while_before_its_frames_prints_no_native_notices(capfd, name):
    # MediaPipe's graph starts on threads of its own, which print its start-up notices about
    # 50 ms after it is made or reset (the engine resets it at every Start and new source,
    # Pose3D.reset() for each new video): they showed when the frames came later than that.
    with create_detector(name) as detector:
        for video in range(3):
            if video:
                detector.reset()
            time.sleep(0.3)  # a video opened, a Start pressed
            with open_source("sample") as source:
                for _, frame in zip(range(3), source, strict=False):
                    assert detector(frame).found
    err = capfd.readouterr().err
    for notice in ("XNNPACK", "EGL", "Feedback manager", "absl::InitializeLog", "NORM_RECT"):
        assert notice not in err, err


def test_what_stderr_got_while_another_thread_held_a_window_survives_the_exit(tmp_path):
    # A detector thread inside a window (nobody found yet) while the main thread dies: its
    # traceback went into the window's capture and was gone with the process.
    import subprocess
    import sys

    script = tmp_path / "dies.py"
    script.write_text(
        "import threading, time\n"
        "from pose3d_nb.detectors.native_logs import quiet_native_logs\n"
        "inside = threading.Event()\n"
        "def hold():\n"
        "    with quiet_native_logs():\n"
        "        inside.set()\n"
        "        time.sleep(60)\n"
        "threading.Thread(target=hold, daemon=True).start()\n"
        "assert inside.wait(30)\n"
        "raise RuntimeError('the last words')\n"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "RuntimeError: the last words" in done.stderr, done.stderr
