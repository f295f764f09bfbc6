"""Plug-ins registered from outside the package run through the real engine, Pose3D and exports.

Each example is what ``docs/extending.md`` tells a person to write: a detector backend that only
finds candidates (``FollowingDetector``), an export format, a source. They are registered with
the public ``register_*`` functions, as code outside ``pose3d_nb`` would, and removed afterwards.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pose3d_nb import Pose3D
from pose3d_nb.cli import main
from pose3d_nb.detectors import DETECTORS, Candidates, FollowingDetector, register_detector
from pose3d_nb.detectors.geometry import keypoint_box
from pose3d_nb.detectors.mediapipe_pose import BLAZEPOSE_MIRROR, MediaPipePoseDetector
from pose3d_nb.engine import PoseEngine
from pose3d_nb.export import FORMATS, ExportError, export_session, register_format
from pose3d_nb.recording import atomic_file, load_session
from pose3d_nb.sources import SOURCES, BaseSource, Frame, SampleSource, open_source, register_source


# ---------------------------------------------------------------------------- the plug-ins
class RecordingMediaPipe(MediaPipePoseDetector):
    """The real MediaPipe backend, keeping every frame's candidates (what a replay needs)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[int, Candidates] = {}

    def candidates(self, frame: Frame) -> Candidates:
        found = super().candidates(frame)
        self.seen[frame.index] = found
        return found


class ReplayDetector(FollowingDetector):
    """A backend replaying recorded candidates, with a smaller decoy person listed first.

    All it writes is ``candidates``: following the right person, undoing left/right flips and
    building the ``Detection`` come from ``FollowingDetector``.
    """

    name = "replay"
    provides = frozenset({"world_landmarks"})
    extras_mirror = {"world_landmarks": BLAZEPOSE_MIRROR}

    def __init__(self, recorded: dict[int, Candidates], **options) -> None:
        super().__init__(**options)
        self.recorded = recorded

    def candidates(self, frame: Frame) -> Candidates:
        person = self.recorded[frame.index]
        if not len(person):
            return Candidates.none()
        decoy = person.keypoints[0] * 0.5 + np.array([frame.size[0] * 0.5, 0.0], np.float32)
        world = person.extras["world_landmarks"][0]
        return Candidates(
            boxes=np.stack([keypoint_box(decoy, frame.size), person.boxes[0]]),
            keypoints=np.stack([decoy, person.keypoints[0]]),
            scores=np.stack([person.scores[0], person.scores[0]]),
            extras={"world_landmarks": np.stack([world * 0.5, world])},
        )


class MirroredSample(BaseSource):
    """The bundled sample seen in a mirror (a selfie view): every frame flipped left-right."""

    name = "mirrored sample"

    def __init__(self, *, loop: bool = False) -> None:
        super().__init__()
        self._sample = SampleSource(loop=loop)
        self.fps = self._sample.fps

    def _read(self) -> Frame:
        frame = next(self._sample)
        return Frame(
            np.ascontiguousarray(frame.image[:, ::-1]), frame.index, frame.timestamp, frame.captured_at
        )

    def _release(self) -> None:
        self._sample.close()


def write_joints_npy(path: str | Path, data, units: str = "m") -> Path:
    """An export format: the (T, 17, 3) joints as .npy, NaN where nobody was found."""
    scale = {"m": 1.0, "mm": 1000.0}[units]
    with atomic_file(path) as handle:
        np.save(handle, (data.joints * scale).astype(np.float32), allow_pickle=False)
    return Path(path)


@pytest.fixture(scope="module")
def reference():
    """MediaPipe + the shipped lifter through Pose3D on the sample: (poses, raw candidates)."""
    detector = RecordingMediaPipe()
    poses = []
    with detector, Pose3D(detector=detector, lifter="shipped") as pose3d, open_source("sample") as frames:
        for frame in frames:
            poses += pose3d.process(frame)
        poses += pose3d.flush()
    return poses, detector.seen


@pytest.fixture(scope="module")
def plugins(reference):
    """The example plug-ins, registered as code outside the package would; removed afterwards."""
    recorded = reference[1]
    register_detector(
        "replay",
        lambda **options: ReplayDetector(recorded, **options),
        provides=("world_landmarks",),
        description="recorded MediaPipe candidates with a decoy",
    )
    register_detector("replay-2d", lambda **options: ReplayDetector(recorded, **options))
    register_format("joints-npy", ".joints.npy", write_joints_npy, units=("m", "mm"))
    register_source("mirrored sample", MirroredSample, aliases=("mirror",))
    yield
    for registry, name in [
        (DETECTORS, "replay"), (DETECTORS, "replay-2d"), (FORMATS, "joints-npy"),
        (SOURCES, "mirrored sample"), (SOURCES, "mirror"),
    ]:  # fmt: skip
        registry.unregister(name)


# ---------------------------------------------------------------------------- a detector
def test_a_registered_detector_follows_the_person_and_lifts_like_the_real_one(reference, plugins):
    expected, _ = reference
    poses = []
    with Pose3D(detector="replay", lifter="shipped") as pose3d, open_source("sample") as frames:
        for frame in frames:
            poses += pose3d.process(frame)
        poses += pose3d.flush()
    assert [p.frame_index for p in poses] == [p.frame_index for p in expected] == list(range(100))
    assert sum(p.valid for p in poses) >= 98
    for mine, real in zip(poses, expected, strict=True):
        # The decoy (listed first) is never taken, flips are undone the same way, and the world
        # landmarks fused into the 3D are the followed person's, mirrored with the keypoints.
        np.testing.assert_array_equal(
            mine.keypoints_2d, real.keypoints_2d, err_msg=f"frame {mine.frame_index}"
        )
        np.testing.assert_array_equal(mine.joints_3d, real.joints_3d, err_msg=f"frame {mine.frame_index}")


def test_the_engine_runs_a_registered_detector_and_checks_what_it_provides(plugins, tmp_path):
    engine = PoseEngine(source="sample", detector="replay", lifter="mediapipe", out_dir=tmp_path)
    engine.start()
    assert engine.wait(120)
    engine.stop()
    engine.raise_if_failed()
    session = load_session(tmp_path / "session.npz")
    assert len(session.timestamps) == 100 and session.valid.mean() > 0.95
    assert session.metadata["detector"] == "replay" and session.metadata["lifter_requires"] == [
        "world_landmarks"
    ]
    with pytest.raises(ValueError, match="detector 'replay-2d' gives no world_landmarks"):
        PoseEngine(source="sample", detector="replay-2d", lifter="mediapipe", out_dir=tmp_path / "no")
    assert not (tmp_path / "no").exists()
    engine = PoseEngine(source="sample", detector="replay", lifter="mediapipe", out_dir=None)
    with pytest.raises(ValueError, match="detector 'replay-2d' gives no world_landmarks"):
        engine.set_detector("replay-2d")  # switched to later: refused there
    with pytest.raises(ValueError, match="gives no world_landmarks"):
        Pose3D(detector="replay-2d", lifter="mediapipe")


# ---------------------------------------------------------------------------- a source and a format
def test_a_registered_source_and_format_through_the_engine_export_and_cli(
    reference, plugins, tmp_path, capsys
):
    expected, _ = reference
    engine = PoseEngine(source="Mirror", lifter="shipped", out_dir=tmp_path)
    engine.start()
    assert engine.wait(120)
    engine.stop()
    engine.raise_if_failed()
    session = load_session(tmp_path / "session.npz")
    assert session.metadata["source"] == "Mirror" and len(session.timestamps) == 100
    found = session.valid & np.isfinite(session.keypoints_2d).all(axis=(1, 2))
    assert found.sum() >= 98
    # The same person, on the other side of the image (540 px wide).
    width = 540
    mirrored_x = np.array([width - p.keypoints_2d[:, 0].mean() for p in expected])
    offset = np.abs(session.keypoints_2d[:, :, 0].mean(axis=1) - mirrored_x)
    assert np.nanmedian(offset) < 10

    path = engine.export("joints-npy")
    assert path == tmp_path / "session.joints.npy"
    joints = np.load(path, allow_pickle=False)
    expected_joints = np.where(session.valid[:, None, None], session.joints_3d, np.nan)
    np.testing.assert_allclose(joints, expected_joints, rtol=1e-6, atol=1e-7)
    in_mm = export_session(tmp_path / "session.npz", "joints-npy", tmp_path / "mm.npy", units="mm")
    np.testing.assert_allclose(np.load(in_mm), expected_joints * 1000, rtol=1e-6, atol=1e-4)
    with pytest.raises(ExportError, match=r"units must be one of \('m', 'mm'\) for joints-npy, not 'cm'"):
        export_session(tmp_path / "session.npz", "joints-npy", tmp_path / "cm.npy", units="cm")
    assert not (tmp_path / "cm.npy").exists()

    (tmp_path / "session.joints.npy").unlink()
    assert main(["export", str(tmp_path / "session.npz"), "--format", "joints-npy"]) == 0
    assert "joints-npy:" in capsys.readouterr().out and (tmp_path / "session.joints.npy").is_file()
