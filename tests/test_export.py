"""Every export read back by an independent reader (bvhio, ezc3d, pandas, a TRC reader written here)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from helpers.export_data import (
    FPS,
    INVALID,
    bone_lengths_median,
    bvh_world_positions,
    chain_length_error,
    normalised,
    synthetic_session,
    y_up_to_z_up,
)

from pose3d_nb.export import FORMATS, ExportError, export_session
from pose3d_nb.export.smoothing import butterworth_lowpass
from pose3d_nb.recording import Session, load_session
from pose3d_nb.skeleton import COCO, H36M

ROOT = Path(__file__).resolve().parents[1]
BLENDER_SCRIPT = "blender_bvh_positions.py"  # run inside Blender, not by pytest
# bvhio 1.5.4 imports PyGLM the way PyGLM 2.8 announces it will deprecate.
pytestmark = pytest.mark.filterwarnings("ignore:Importing PyGLM:PendingDeprecationWarning")


@pytest.fixture(scope="module")
def session() -> Session:
    return synthetic_session()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Path:
    """The bundled sample (100 frames) run through the engine: a real session.npz.

    MediaPipe's per-frame world landmarks (``lifter=None``): the lifter whose bone lengths vary
    most from frame to frame, the hardest case for a fixed-length skeleton.
    """
    from pose3d_nb.engine import PoseEngine

    out = tmp_path_factory.mktemp("recorded")
    engine = PoseEngine(source="sample", out_dir=out, lifter=None)
    engine.start()
    engine.wait(timeout=300)
    engine.stop()
    engine.raise_if_failed()
    return out / "session.npz"


def _valid(session: Session) -> np.ndarray:
    return session.valid & np.isfinite(session.joints_3d).all(axis=(1, 2))


def _bvh_errors(session: Session, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(T, 17) metres: FK vs bone-length-normalised joints, FK vs raw joints, and the raw bound."""
    valid = _valid(session)
    joints = session.joints_3d.astype(np.float64)
    lengths = bone_lengths_median(joints, valid)
    fk = y_up_to_z_up(bvh_world_positions(path, len(session)))
    norm_error = np.linalg.norm(fk - normalised(joints, lengths), axis=-1)
    raw_error = np.linalg.norm(fk - joints, axis=-1)
    return norm_error[valid], raw_error[valid], chain_length_error(joints, lengths)[valid]


# ---------------------------------------------------------------------------- BVH
def test_bvh_forward_kinematics_reproduces_the_session(session, tmp_path):
    path = export_session(session, "bvh", tmp_path / "motion.bvh")
    norm_error, raw_error, bound = _bvh_errors(session, path)
    print(f"\nBVH FK (synthetic, bvhio): normalised max {norm_error.max() * 1000:.4f} mm; raw max "
          f"{raw_error.max() * 1000:.1f} mm, median {np.median(raw_error) * 1000:.1f} mm, "
          f"bone-length bound max {bound.max() * 1000:.1f} mm")
    assert norm_error.max() < 1e-3
    assert np.all(raw_error <= bound + 1e-3)


def test_bvh_frames_without_a_person_hold_the_previous_pose_and_are_listed(session, tmp_path):
    path = export_session(session, "bvh", tmp_path / "motion.bvh")
    fk = bvh_world_positions(path, len(session))
    np.testing.assert_allclose(fk[50:53], np.broadcast_to(fk[49], (3, 17, 3)), atol=1e-9)
    np.testing.assert_allclose(fk[[0, 1]], np.broadcast_to(fk[2], (2, 17, 3)), atol=1e-9)  # none before
    np.testing.assert_allclose(fk[119], fk[118], atol=1e-9)
    sidecar = json.loads((tmp_path / "motion.invalid_frames.json").read_text())
    assert sidecar["frames"] == list(INVALID)
    assert sidecar["frame_index"] == [f + 7 for f in INVALID]


def test_bvh_of_a_pose_with_every_joint_at_one_point_holds_the_previous_pose(session, tmp_path):
    """A degenerate pose has no bone direction: it is held and listed like a frame without a
    person (scipy raised "Non-positive determinant" before); only such poses: a one-line error."""
    joints = session.joints_3d.copy()
    joints[30] = joints[30, 0]  # every joint at the pelvis
    joints[40, 7] = joints[40, 0]  # the spine's bone of zero length
    degenerate = replace(session, joints_3d=joints)
    path = export_session(degenerate, "bvh", tmp_path / "motion.bvh")
    fk = bvh_world_positions(path, len(session))
    np.testing.assert_allclose(fk[[30, 40]], fk[[29, 39]], atol=1e-9)
    sidecar = json.loads((tmp_path / "motion.invalid_frames.json").read_text())
    assert sidecar["frames"] == sorted([*INVALID, 30, 40]) and sidecar["zero_length_bone"] == [30, 40]
    collapsed = replace(session, joints_3d=np.broadcast_to(joints[:, :1], joints.shape).copy())
    with pytest.raises(ExportError, match="zero length"):
        export_session(collapsed, "bvh", tmp_path / "collapsed.bvh")
    assert not (tmp_path / "collapsed.bvh").exists()


def test_bvh_header_rate_channels_and_an_upright_rest_pose(session, tmp_path):
    import bvhio

    path = export_session(session, "bvh", tmp_path / "motion.bvh", fps=25)
    bvh = bvhio.readAsBvh(str(path))
    assert bvh.FrameCount == len(session) and bvh.FrameTime == pytest.approx(1 / 25)
    assert bvh.Root.Name == "pelvis" and bvh.Root.Channels[:3] == ["Xposition", "Yposition", "Zposition"]
    root = bvhio.readAsHierarchy(str(path)).loadRestPose()
    rest = {joint.Name: joint.PositionWorld for joint, _, _ in root.layout()}
    assert set(H36M.joint_names) <= set(rest)
    # y up: head above pelvis above the feet; T-pose facing +z with the left arm at +x.
    assert rest["head"].y > rest["neck"].y > rest["pelvis"].y > rest["left_knee"].y > rest["left_foot"].y
    assert rest["left_hand"].x > rest["left_shoulder"].x > 0 > rest["right_shoulder"].x > rest["right_hand"].x
    assert abs(rest["head"].z) < 1e-9


@pytest.mark.slow
def test_bvh_of_the_recorded_sample(recorded, tmp_path):
    session = load_session(recorded)
    path = export_session(recorded, "bvh", tmp_path / "sample.bvh")
    norm_error, raw_error, bound = _bvh_errors(session, path)
    print(f"\nBVH FK (recorded sample, bvhio): normalised max {norm_error.max() * 1000:.4f} mm; raw max "
          f"{raw_error.max() * 1000:.1f} mm, median {np.median(raw_error) * 1000:.1f} mm")
    assert norm_error.max() < 1e-3
    assert np.all(raw_error <= bound + 1e-3)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("blender") is None, reason="needs blender (apt-get install blender)")
def test_blender_imports_the_bvh_upright_where_the_person_was(recorded, tmp_path):
    session = load_session(recorded)
    path = export_session(recorded, "bvh", tmp_path / "sample.bvh")
    frames = [0, len(session) // 2, len(session) - 1]
    out = tmp_path / "blender.json"
    subprocess.run(
        ["blender", "-b", "--factory-startup", "--python", str(ROOT / "tests" / "helpers" / BLENDER_SCRIPT),
         "--", str(path), str(out), ",".join(map(str, frames))],
        check=True, capture_output=True, timeout=300,
    )
    bones = json.loads(out.read_text())
    joints = session.joints_3d.astype(np.float64)
    expected = normalised(joints, bone_lengths_median(joints, _valid(session)))
    errors = []
    for frame in frames:
        blender = np.array([bones[str(frame)][name] for name in H36M.joint_names])
        errors.append(np.linalg.norm(blender - expected[frame], axis=-1).max())
    print(f"\nBlender world joints vs normalised session joints at frames {frames}: max "
          + ", ".join(f"{e * 1000:.4f}" for e in errors) + " mm")
    assert max(errors) < 1e-3


# ---------------------------------------------------------------------------- C3D
@pytest.mark.parametrize(("units", "scale"), [(None, 1000.0), ("m", 1.0)])
def test_c3d_read_back_by_ezc3d(session, tmp_path, units, scale):
    import ezc3d

    path = export_session(session, "c3d", tmp_path / "motion.c3d", units=units)
    c3d = ezc3d.c3d(str(path))
    point = c3d["parameters"]["POINT"]
    assert point["LABELS"]["value"] == list(H36M.joint_names)
    assert point["RATE"]["value"][0] == pytest.approx(FPS)
    assert point["UNITS"]["value"] == ["mm" if units is None else "m"]
    xyz = np.transpose(c3d["data"]["points"][:3], (2, 1, 0)) / scale  # (T, 17, 3) metres
    residuals = c3d["data"]["meta_points"]["residuals"][0].T  # (T, 17)
    valid = _valid(session)
    assert np.all(residuals[~valid] == -1) and np.all(residuals[valid] >= 0)
    np.testing.assert_allclose(xyz[valid], session.joints_3d[valid], atol=1e-4)


def test_c3d_refuses_more_frames_than_its_header_holds_instead_of_cutting_them(session, tmp_path):
    # 65536 frames (36 min at 30 fps): the C3D header's frame count is 16-bit, and ezc3d read
    # back only the first 65535 of the file it had written, silently dropping the rest.
    import ezc3d

    most = 0xFFFF  # the format's limit, not a setting of ours
    for frames, fits in ((most, True), (most + 1, False)):
        long = replace(
            session, joints_3d=np.repeat(session.joints_3d[10:11], frames, axis=0),
            keypoints_2d=np.zeros((frames, COCO.num_joints, 2), np.float32),
            scores_2d=np.ones((frames, COCO.num_joints), np.float32), timestamps=np.arange(frames) / FPS,
            frame_index=np.arange(frames), valid=np.ones(frames, bool), segment=np.zeros(frames, np.int64),
        )
        path = tmp_path / f"long{frames}.c3d"
        if fits:
            export_session(long, "c3d", path)
            assert ezc3d.c3d(str(path))["data"]["points"].shape[2] == frames
            continue
        with pytest.raises(ExportError, match=f"at most {most} frames .* has {frames}"):
            export_session(long, "c3d", path)
        assert not path.exists() and not list(tmp_path.glob("*.tmp*"))


# ---------------------------------------------------------------------------- TRC
def read_trc(path: Path) -> tuple[dict[str, str], list[str], dict[int, list[str]]]:
    """A TRC reader following the header: (header fields, marker names, {frame#: 3*N fields})."""
    lines = path.read_text().split("\n")
    assert lines[0].split("\t")[:3] == ["PathFileType", "4", "(X/Y/Z)"]
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=True))
    markers = [name for name in lines[3].split("\t")[2:] if name]
    count = int(header["NumMarkers"])
    assert lines[4].split("\t")[2:] == [f"{axis}{i}" for i in range(1, count + 1) for axis in "XYZ"]
    rows = {}
    for line in lines[5:]:
        if not line.strip():
            continue
        fields = line.split("\t")
        assert len(fields) == 2 + 3 * count, len(fields)
        rows[int(fields[0])] = fields[1:]
    return header, markers, rows


@pytest.mark.parametrize(("units", "scale"), [(None, 1.0), ("mm", 1000.0)])
def test_trc_header_and_markers_read_back(session, tmp_path, units, scale):
    path = export_session(session, "trc", tmp_path / "markers.trc", units=units)
    header, markers, rows = read_trc(path)
    frames = len(session)
    assert header == {
        "DataRate": "30", "CameraRate": "30", "NumFrames": str(frames), "NumMarkers": "17",
        "Units": units or "m", "OrigDataRate": "30", "OrigDataStartFrame": "1", "OrigNumFrames": str(frames),
    }
    assert markers == list(H36M.joint_names)
    assert sorted(rows) == list(range(1, frames + 1))
    valid = _valid(session)
    for frame in range(frames):
        time, *values = rows[frame + 1]
        assert float(time) == pytest.approx(frame / FPS, abs=1e-6)
        if not valid[frame]:
            assert values == [""] * 51  # empty where no person, never zeros
            continue
        xyz = np.array(values, dtype=float).reshape(17, 3) / scale
        x, y, z = session.joints_3d[frame].T  # y up: (x, z, -y)
        np.testing.assert_allclose(xyz, np.stack([x, z, -y], axis=1), atol=1e-6)


# ---------------------------------------------------------------------------- tidy table
@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_tidy_table_read_by_pandas(session, tmp_path, fmt):
    import pandas as pd

    path = export_session(session, fmt, tmp_path / f"table.{fmt}")
    table = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    frames = len(session)
    assert list(table.columns) == ["frame", "segment", "frame_index", "time", "joint", "x", "y", "z",
                                   "valid", "u", "v", "score"]
    assert len(table) == frames * 17
    assert list(table["joint"][:17]) == list(H36M.joint_names)
    valid = _valid(session)
    np.testing.assert_array_equal(table["valid"].to_numpy().astype(bool), np.repeat(valid, 17))
    xyz = table[["x", "y", "z"]].to_numpy().reshape(frames, 17, 3)
    assert np.isnan(xyz[~valid]).all()
    np.testing.assert_allclose(xyz[valid], session.joints_3d[valid], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table["time"].to_numpy()[::17], session.timestamps, atol=1e-6)
    knee = table[(table["joint"] == "left_knee") & (table["frame"] == 5)]
    np.testing.assert_allclose(knee[["u", "v"]].to_numpy()[0],
                               session.keypoints_2d[5, COCO.index("left_knee")], rtol=1e-5)
    assert table[table["joint"] == "spine"][["u", "v"]].isna().all().all()


def test_parquet_leaves_the_fields_without_a_value_empty_as_the_csv_does(session, tmp_path):
    # Parquet readers other than pandas (pyarrow, DuckDB, Polars, Spark) take NaN for a number:
    # the mean of x over the file was NaN, and "x IS NULL" found no frame without a person.
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = pq.read_table(export_session(session, "parquet", tmp_path / "table.parquet"))
    valid = np.repeat(_valid(session), 17)
    for axis in "xyz":
        assert table[axis].null_count == (~valid).sum() and pc.sum(pc.is_nan(table[axis])).as_py() == 0
    mean_x = np.mean(session.joints_3d[_valid(session)][..., 0], dtype=np.float64)
    assert pc.mean(table["x"]).as_py() == pytest.approx(mean_x, rel=1e-6)
    assert table["u"].filter(pc.equal(table["joint"], "spine")).null_count == len(session)


# ---------------------------------------------------------------------------- smoothing
def test_butterworth_is_zero_phase_and_keeps_gaps():
    fps, t = 60.0, np.arange(300) / 60.0
    slow = np.sin(2 * np.pi * 1.0 * t)
    noisy = slow + 0.2 * np.sin(2 * np.pi * 15.0 * t)
    valid = np.ones(300, dtype=bool)
    valid[140:150] = False
    noisy[~valid] = np.nan
    smoothed = butterworth_lowpass(noisy, valid, fps, cutoff_hz=4.0)
    assert np.isnan(smoothed[~valid]).all()
    inner = np.r_[20:120, 170:280]  # away from the run ends
    assert np.abs(smoothed[inner] - slow[inner]).max() < 0.02  # 15 Hz gone, 1 Hz neither shifted nor shrunk


def test_smooth_option_changes_the_export_and_checks_the_cutoff(session, tmp_path):
    raw = read_trc(export_session(session, "trc", tmp_path / "raw.trc"))[2]
    smooth = read_trc(export_session(session, "trc", tmp_path / "smooth.trc", smooth=6.0))[2]
    assert raw[30] != smooth[30] and raw[1] == smooth[1]  # smoothed where valid, still empty where not
    with pytest.raises(ExportError, match="cutoff"):
        export_session(session, "trc", tmp_path / "bad.trc", smooth=20.0)  # Nyquist is 15 Hz
    assert not (tmp_path / "bad.trc").exists()


def test_smoothing_stops_at_a_restart_of_the_recording(session, tmp_path):
    """A stop and start (a new segment) with the person elsewhere: smoothing must not blend the
    last frames of one run with the first of the next (they are not neighbours in time)."""
    import pandas as pd

    joints = session.joints_3d.copy()
    joints[60:] += np.array([2.0, 0.0, 0.0], np.float32)  # the second run starts 2 m away
    restarted = Session(
        joints_3d=joints, keypoints_2d=session.keypoints_2d, scores_2d=session.scores_2d,
        timestamps=np.concatenate([np.arange(60), np.arange(60)]) / FPS, frame_index=session.frame_index,
        valid=session.valid, segment=np.repeat([0, 1], 60), metadata={},
    )
    both = pd.read_csv(export_session(restarted, "csv", tmp_path / "both.csv", smooth=6.0))
    for segment in (0, 1):
        alone = pd.read_csv(export_session(restarted, "csv", tmp_path / f"{segment}.csv", smooth=6.0,
                                           segment=segment))
        np.testing.assert_allclose(both[both["segment"] == segment][["x", "y", "z"]].to_numpy(),
                                   alone[["x", "y", "z"]].to_numpy(), atol=1e-6)


def test_a_segment_is_exported_at_its_own_frame_rate(session, tmp_path):
    """A session spanning two sources (a 30 fps camera, then a 60 fps file): exporting the
    second declares 60 fps, so its TRC times and BVH frame time are the recorded ones."""
    two_sources = replace(session, timestamps=np.concatenate([np.arange(80) / 30, 100 + np.arange(40) / 60]),
                          segment=np.repeat([0, 1], [80, 40]))
    header, _, rows = read_trc(export_session(two_sources, "trc", tmp_path / "second.trc", segment=1))
    assert header["DataRate"] == "60" and float(rows[40][0]) == pytest.approx(39 / 60)
    first = export_session(two_sources, "trc", tmp_path / "first.trc", segment=0)
    assert read_trc(first)[0]["DataRate"] == "30"
    # A segment of one row says nothing of its rate: the session's timestamps say it (30 fps),
    # not the metadata's fps (the engine's processing rate, here 12.5).
    one_row = replace(session, segment=np.repeat([0, 1], [119, 1]), metadata={"fps": 12.5})
    valid = one_row.valid.copy()
    valid[-1] = True
    joints = one_row.joints_3d.copy()
    joints[-1] = joints[60]
    last = export_session(replace(one_row, valid=valid, joints_3d=joints), "trc", tmp_path / "last.trc",
                          segment=1)
    assert float(read_trc(last)[0]["DataRate"]) == pytest.approx(30)


# ---------------------------------------------------------------------------- bad input
def _empty_like(session: Session, rows: slice) -> Session:
    fields = {name: getattr(session, name)[rows] for name in
              ("joints_3d", "keypoints_2d", "scores_2d", "timestamps", "frame_index", "valid", "segment")}
    return Session(**fields, metadata={})


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_bad_input_raises_clearly_and_writes_nothing(session, tmp_path, fmt):
    out = tmp_path / "out" / f"x.{fmt}"
    with pytest.raises(ExportError, match="session is empty"):
        export_session(_empty_like(session, slice(0, 0)), fmt, out)
    nobody = _empty_like(session, slice(0, 2))  # frames 0 and 1 have no person
    with pytest.raises(ExportError, match="none of the 2 frames has a person"):
        export_session(nobody, fmt, out)
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write"):
        export_session(session, fmt, blocker / f"x.{fmt}")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert blocker.read_text() == "not a folder"


def test_units_in_any_case_as_formats(session, tmp_path):
    """``units="MM"`` was refused while ``format="TRC"`` was taken."""
    path = export_session(session, "TRC", tmp_path / "markers.trc", units="MM")
    assert read_trc(path)[0]["Units"] == "mm"


def test_unknown_format_and_units(session, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'fbx'"):
        export_session(session, "fbx", tmp_path / "x.fbx")
    with pytest.raises(ExportError, match="units"):
        export_session(session, "bvh", tmp_path / "x.bvh", units="furlong")
    with pytest.raises(ExportError, match="give an output path"):
        export_session(session, "bvh")
    assert not list(tmp_path.iterdir())


def test_a_failed_write_leaves_the_old_file_and_no_temporary(session, tmp_path, monkeypatch):
    path = tmp_path / "motion.trc"
    path.write_text("old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("pose3d_nb.recording.os.replace", fail)
    with pytest.raises(ExportError, match="No space left"):
        export_session(session, "trc", path)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["motion.trc"]


def test_default_path_is_beside_the_session_and_fps_comes_from_timestamps(session, tmp_path):
    from pose3d_nb.buffer import BufferSnapshot
    from pose3d_nb.recording import write_session

    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    write_session(tmp_path / "session.npz", BufferSnapshot(**fields), session.metadata)
    written = {fmt: export_session(tmp_path / "session.npz", fmt) for fmt in FORMATS}
    assert {p.name for p in written.values()} == {
        "session.bvh", "session.trc", "session.c3d", "session.tidy.csv", "session.parquet"}
    assert read_trc(written["trc"])[0]["DataRate"] == "30"  # timestamps, not the metadata's 12.5


def test_a_recording_folder_exports_into_itself_not_over_a_file_beside_it(session, tmp_path):
    # export_session(FOLDER, fmt) wrote FOLDER.bvh beside the folder: the takes walk.1 and walk.2
    # both wrote walk.bvh, the second over the first, or over a walk.bvh the user had there.
    from pose3d_nb.buffer import BufferSnapshot
    from pose3d_nb.recording import write_session

    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    for take in ("walk.1", "walk.2"):
        (tmp_path / take).mkdir()
        write_session(tmp_path / take / "session.npz", BufferSnapshot(**fields), session.metadata)
    (tmp_path / "walk.bvh").write_text("my hand-cleaned walk\n")
    for take in ("walk.1", "walk.2"):
        assert export_session(tmp_path / take, "bvh") == tmp_path / take / "session.bvh"
    assert (tmp_path / "walk.bvh").read_text() == "my hand-cleaned walk\n"


def test_every_default_export_is_removed_with_its_session_on_overwrite(session, tmp_path):
    """`--overwrite` deletes the old run's exports (recording.folder.export_files): all of them."""
    from pose3d_nb.buffer import BufferSnapshot
    from pose3d_nb.recording import write_session
    from pose3d_nb.recording.folder import export_files, unchanged_exports

    fields = {name: getattr(session, name) for name in BufferSnapshot.__dataclass_fields__}
    write_session(tmp_path / "session.npz", BufferSnapshot(**fields), session.metadata)
    written = {export_session(tmp_path / "session.npz", fmt) for fmt in FORMATS}
    taken = set(export_files(tmp_path))
    assert written <= taken, f"left beside a newer session: {sorted(p.name for p in written - taken)}"
    assert tmp_path / "session.invalid_frames.json" in taken  # the BVH's sidecar
    # Each is recorded as written, or --overwrite refuses the folder as holding edited exports.
    assert set(unchanged_exports(tmp_path)) == taken


def _engine_holding(session, out_dir):
    """A stopped engine whose buffer holds ``session``'s rows, as if it had recorded them."""
    from pose3d_nb.buffer import PoseSample
    from pose3d_nb.engine import PoseEngine

    engine = PoseEngine(source="sample", out_dir=out_dir)
    for i in range(len(session)):
        engine.buffer.append(PoseSample(
            session.joints_3d[i], session.keypoints_2d[i], session.scores_2d[i],
            float(session.timestamps[i]), int(session.frame_index[i]), bool(session.valid[i]), 0))
    return engine


def test_engine_and_app_export_delegate(session, tmp_path):
    engine = _engine_holding(session, tmp_path)
    path = engine.export("trc", smooth=5.0)
    assert path == tmp_path / "session.trc"
    assert read_trc(path)[0]["NumFrames"] == str(len(session))
    from pose3d_nb.ui.app import PoseApp

    app = SimpleNamespace(engine=engine)  # PoseApp.export only forwards to its engine
    assert PoseApp.export(app, "c3d", tmp_path / "app.c3d", units="m") == tmp_path / "app.c3d"


def test_engine_export_takes_out_as_export_session_names_it(session, tmp_path):
    from pose3d_nb.errors import Pose3DTypeError

    engine = _engine_holding(session, None)
    # Was a TypeError from inside: export_session() got multiple values for argument 'out'.
    assert engine.export("trc", out=tmp_path / "a.trc") == tmp_path / "a.trc"
    assert (tmp_path / "a.trc").is_file()
    with pytest.raises(Pose3DTypeError, match="path= or out=, not both"):
        engine.export("trc", tmp_path / "b.trc", out=tmp_path / "c.trc")


def test_a_memory_only_engine_refuses_to_export_a_recording_it_no_longer_holds(tmp_path):
    # out_dir=None keeps the newest `capacity` rows only: engine.export and export_csv wrote
    # those, silently, as if they were the whole run (55 min at 30 fps fills the default).
    from pose3d_nb.engine import PoseEngine
    from pose3d_nb.errors import Pose3DRuntimeError

    def pose(i):
        detection = SimpleNamespace(keypoints=np.full((17, 2), i, np.float32),
                                    scores=np.ones(17, np.float32), timestamp=i / 30, extras={})
        return SimpleNamespace(joints=np.full((17, 3), i, np.float32), detection=detection,
                               frame=None, frame_index=i, valid=True)

    engine = PoseEngine(source="sample", out_dir=None, capacity=40)
    engine._recorder.record([pose(i) for i in range(40)], 0)
    assert engine.export("csv", tmp_path / "held.csv").is_file()  # every row still held: exported
    engine._recorder.record([pose(i) for i in range(40, 100)], 0)
    for export in (lambda: engine.export("csv", tmp_path / "all.csv"),
                   lambda: engine.export_csv(tmp_path / "all_frames.csv")):
        with pytest.raises(Pose3DRuntimeError, match=r"100 rows.*newest 40.*the 60 oldest are gone"
                                                     r".*out_dir=.*capacity=.*buffer\.snapshot\(\)"):
            export()
    assert not (tmp_path / "all.csv").exists() and not (tmp_path / "all_frames.csv").exists()


def test_engine_export_takes_a_format_name_as_a_batch_does_and_names_a_bad_one_first(session, tmp_path):
    # " bvh " was refused (a batch's export=" bvh " took it), and export("bogus") on an engine
    # without out_dir said "give a path", not that the format is unknown.
    engine = _engine_holding(session, None)
    assert engine.export(" BVH ", tmp_path / "a.bvh") == tmp_path / "a.bvh"
    assert export_session(session, " trc ", tmp_path / "a.trc") == tmp_path / "a.trc"
    with pytest.raises(ExportError, match="unknown export format 'bogus'; choose one of bvh"):
        engine.export("bogus")


def test_export_session_replaces_an_existing_file_but_never_a_recording(session, tmp_path):
    # Kept as documented (docs/exports.md): a notebook cell run again writes its export again;
    # the command line refuses an existing --out unless --overwrite.
    target = tmp_path / "motion.trc"
    target.write_text("old")
    assert export_session(session, "trc", target) == target and target.read_text() != "old"


@pytest.mark.parametrize(("option", "message"), [
    (dict(fps=-1), "fps must be a positive frame rate or None, got -1"),
    (dict(fps=0.0), "fps must be a positive frame rate or None, got 0.0"),
    (dict(smooth=0), "smooth must be a positive cutoff in Hz or None, got 0"),
    (dict(person=-1), "person must be a track id (a whole number; track ids start at 1) or None, got -1"),
    (dict(person=1.5), "person must be a track id (a whole number; track ids start at 1) or None, got 1.5"),
    # Taken until 2026-12-07 and refused only once the session was read ("not in the rows").
    (dict(person=0), "person must be a track id (a whole number; track ids start at 1) or None, got 0"),
    # Matched no row: "segment 1 has no rows (the session's segments: 0, 1)".
    (dict(segment="1"), "segment must be a recording run's number (a whole number, 0 or more) or None, "
                        "got '1'"),
    (dict(segment=1.5), "segment must be a recording run's number (a whole number, 0 or more) or None, "
                        "got 1.5"),
])
def test_export_options_are_checked_as_the_command_line_checks_them(tmp_path, option, message):
    # pose3d export refused these before reading the session; export_session took them on:
    # fps=-1 said "cannot tell the frame rate (got -1): pass fps=", person=-1 "nothing to
    # export: none of the frames has a person" (the -1 of the empty people slots).
    missing = tmp_path / "no_such_session.npz"  # refused before the session is read
    with pytest.raises(ExportError) as refused:
        export_session(missing, "trc", tmp_path / "x.trc", **option)
    assert str(refused.value) == message
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------- several people
def _two_people_session() -> Session:
    """``synthetic_session`` as person 1, followed until row 80; person 2, one metre to the side,
    in view from row 60 and followed from row 80 (a click in the notebook, ``engine.follow(2)``)."""
    from pose3d_nb.buffer import MAX_PEOPLE

    base = synthetic_session()
    frames = len(base)
    other = base.joints_3d + np.array([1.0, 0.0, 0.0], np.float32)
    ids = np.full((frames, MAX_PEOPLE), -1, np.int64)
    ids[:, 0], ids[60:, 1] = 1, 2
    joints = np.full((frames, MAX_PEOPLE, 17, 3), np.nan, np.float32)
    joints[:, 0], joints[60:, 1] = base.joints_3d, other[60:]
    keypoints = np.full((frames, MAX_PEOPLE, 17, 2), np.nan, np.float32)
    keypoints[:, 0], keypoints[60:, 1] = base.keypoints_2d, base.keypoints_2d[60:] + 100
    followed = np.where(np.arange(frames) < 80, 1, 2)
    shown = np.where((followed == 2)[:, None, None], other, base.joints_3d)
    return replace(base, joints_3d=shown, track_id=followed, people_ids=ids, people_joints_3d=joints,
                   people_keypoints_2d=keypoints)


def test_a_session_whose_followed_person_changed_exports_one_person_at_a_time(tmp_path):
    import pandas as pd

    session = _two_people_session()
    changed = r"followed person changed .* between people in view together \(track ids 1 and 2\)"
    with pytest.raises(ExportError, match=changed):
        export_session(session, "trc", tmp_path / "both.trc")
    assert not (tmp_path / "both.trc").exists()  # one skeleton made of two bodies is never written
    path = export_session(session, "csv", tmp_path / "second.csv", person=2)
    table = pd.read_csv(path)
    xyz = table[["x", "y", "z"]].to_numpy().reshape(len(session), 17, 3)
    valid = table["valid"].to_numpy().astype(bool)[::17]
    expected = session.people_joints_3d[:, 1]
    assert not valid[:60].any() and np.isnan(xyz[:60]).all()  # not in view yet
    seen = np.isfinite(expected).all(axis=(1, 2))
    np.testing.assert_array_equal(valid, seen)
    np.testing.assert_allclose(xyz[seen], expected[seen], atol=1e-5)  # CSV keeps 6 decimals
    knee = table[(table["joint"] == "left_knee") & (table["frame"] == 70)]
    np.testing.assert_allclose(knee[["u", "v"]].to_numpy()[0],
                               session.people_keypoints_2d[70, 1, COCO.index("left_knee")], rtol=1e-5)
    marked = table["u"].notna()  # joints with a keypoint (pelvis, spine, thorax, head top have none)
    assert marked.any() and table["score"][marked].isna().all()  # no per-person 2D confidences are recorded
    unknown = "person 7 is not in the rows exported; track ids recorded there: 1, 2"
    with pytest.raises(ExportError, match=unknown):
        export_session(session, "bvh", tmp_path / "x.bvh", person=7)


def test_one_person_tracked_again_under_a_new_id_or_a_segment_with_one_person_exports_as_before(tmp_path):
    """A person who left the view for longer than the tracker keeps ids comes back with a new id
    (never in view together with the old one): one person, exported as the session's joints_3d;
    and a segment in which only one person was followed exports though the session changed."""
    session = _two_people_session()
    ids = session.people_ids.copy()
    ids[:, 1] = -1
    ids[:80, 0], ids[80:, 0] = 1, 2  # track 1 until row 80, then the same body as track 2
    back = replace(session, people_ids=ids, joints_3d=session.people_joints_3d[:, 0].copy())
    path = export_session(back, "trc", tmp_path / "back.trc")
    assert path.is_file()
    segments = np.where(np.arange(len(session)) < 70, 0, 1)
    path = export_session(replace(session, segment=segments), "trc", tmp_path / "first.trc", segment=0)
    assert path.is_file()
    with pytest.raises(ExportError, match="in view together"):
        export_session(replace(session, segment=segments), "trc", tmp_path / "second.trc", segment=1)


def test_export_person_from_the_command_line(tmp_path, capsys):
    from pose3d_nb.cli import main
    from pose3d_nb.recording.session import write_session

    path = tmp_path / "session.npz"
    write_session(path, _two_people_session(), {"fps": 12.5, "source": "synthetic"})
    assert main(["export", str(path), "--format", "trc", "--person", "1"]) == 0
    assert (tmp_path / "session.trc").is_file()
    assert main(["export", str(path), "--format", "trc"]) == 1
    assert "--person ID" in capsys.readouterr().err
    assert main(["export", str(path), "--format", "trc", "--person", "-1"]) == 2
    assert main(["export", str(path), "--format", "trc", "--person", "0"]) == 2
    assert "track ids start at 1" in capsys.readouterr().err


# ---------------------------------------------------------------------------- a live camera's uneven rows
def _live_walk(drop_every: int = 3, gap: tuple[float, float] | None = None) -> Session:
    """A steady 1 m/s walk along x filmed at 30 fps, the engine dropping every ``drop_every``-th
    frame (falling behind) and, with ``gap`` (seconds), recording nothing between them."""
    t = np.arange(180) / FPS
    keep = np.arange(180) % drop_every != drop_every - 1
    if gap is not None:
        keep &= ~((t > gap[0]) & (t < gap[1]))
    t = t[keep]
    joints = synthetic_session().joints_3d[5][None].repeat(len(t), 0).astype(np.float64)
    joints[..., 0] += t[:, None]  # x = 1 m/s * time
    frames = len(t)
    return Session(
        joints_3d=joints.astype(np.float32), keypoints_2d=np.zeros((frames, 17, 2), np.float32),
        scores_2d=np.full((frames, 17), 0.9, np.float32), timestamps=t + 1000.0,
        frame_index=np.flatnonzero(keep), valid=np.ones(frames, bool), segment=np.zeros(frames, np.int64),
        metadata={"fps": 25.0, "source": "camera"},
    )


def test_a_live_camera_that_dropped_frames_plays_at_the_real_speed(tmp_path):
    """Every third frame dropped: the median step is 1/30 s, and the rows written one after
    another at 30 fps played the 1 m/s walk at 1.5 m/s. They are laid on the 30 fps grid."""
    session = _live_walk()
    start = session.joints_3d[0, 0, 0]
    header, _, rows = read_trc(export_session(session, "trc", tmp_path / "walk.trc"))
    assert header["DataRate"] == "30" and int(header["NumFrames"]) == len(rows) == 179
    for frame, (time, *values) in rows.items():
        x = float(values[0])  # the pelvis's x (y up keeps x)
        assert x - start == pytest.approx(float(time), abs=1e-5), frame  # 1 m/s, in real time
    import ezc3d
    import pandas as pd

    c3d = ezc3d.c3d(str(export_session(session, "c3d", tmp_path / "walk.c3d", units="m")))
    np.testing.assert_allclose(c3d["data"]["points"][0, 0] - start, np.arange(179) / FPS, atol=1e-5)
    bvh = export_session(session, "bvh", tmp_path / "walk.bvh")
    assert "Frames: 179\n" in bvh.read_text()
    pelvis = bvh_world_positions(bvh, 179)[:, 0]
    np.testing.assert_allclose(pelvis[:, 0] - start, np.arange(179) / FPS, atol=1e-4)
    # The tidy table has a time column: it keeps the rows as recorded.
    table = pd.read_csv(export_session(session, "csv", tmp_path / "walk.csv"))
    assert table["frame"].nunique() == len(session)


def test_a_long_stretch_without_poses_is_left_empty_not_filled_in(tmp_path):
    session = _live_walk(drop_every=10**6, gap=(2.0, 3.0))  # nothing dropped, 1 s unrecorded
    _, _, rows = read_trc(export_session(session, "trc", tmp_path / "gap.trc"))
    empty = [float(time) for time, *values in rows.values() if values == [""] * 51]
    assert len(rows) == 180 and len(empty) == 29
    assert min(empty) > 2.0 - 1e-6 and max(empty) < 3.0 + 1e-6


def test_a_declared_rate_writes_the_rows_as_recorded(tmp_path):
    """``fps=`` declares the rate (a folder of images with made-up times): no grid."""
    session = _live_walk()
    header, _, rows = read_trc(export_session(session, "trc", tmp_path / "declared.trc", fps=10))
    assert header["DataRate"] == "10" and len(rows) == len(session)


@pytest.mark.parametrize("length", [243, 255])
def test_a_legal_long_file_name_is_written(session, tmp_path, length):
    # The temporary file beside it (".NAME.XXXXXXXX.tmp") went past 255 bytes: "File name too
    # long" from 243 bytes on, after the session was read, for a name the system takes.
    path = tmp_path / ("m" * (length - len(".trc")) + ".trc")
    assert export_session(session, "trc", path) == path
    assert path.stat().st_size > 0 and [p.name for p in tmp_path.iterdir()] == [path.name]
