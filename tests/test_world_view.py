"""The 3D view of a world-grounded person: pelvis trail, the grid following them, the camera frustum."""

from __future__ import annotations

import time

import numpy as np
import pytest

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.motion import camera_up
from pose3d_nb.skeleton import H36M
from pose3d_nb.ui.skeleton3d import FOLLOW_MARGIN_M, Skeleton3D
from pose3d_nb.ui.trail import TRAIL_POINTS, TRAIL_S
from pose3d_nb.ui.world_geometry import camera_axes, fading_colours, frustum_vertices

PELVIS = H36M.index("pelvis")


def standing(x: float = 0.0, y: float = 0.0) -> np.ndarray:
    """(17, 3) a person standing with the pelvis at (x, y, 0.95): a column of joints."""
    pose = np.zeros((17, 3))
    pose[:, 2] = np.linspace(0.08, 1.7, 17)
    pose[PELVIS] = (0, 0, 0.95)
    return pose + (x, y, 0)


class _Sent:
    """Counts the messages each widget's comm sends (a kernel-less widget sends nothing)."""

    def __init__(self, **widgets):
        self.names: list[str] = []
        for name, w in widgets.items():
            w.comm.send = lambda *a, _n=name, **k: self.names.append(_n)


def test_trail_holds_the_last_two_seconds_of_the_pelvis_oldest_first():
    sk = Skeleton3D()
    fps = 30
    for i in range(5 * fps):  # walking along +x at 1.2 m/s for 5 s
        sk.update(standing(1.2 * i / fps, 3.0), timestamp=i / fps)
    trail = sk.trail
    assert trail.shape == (TRAIL_POINTS, 3) and trail.dtype == np.float32
    newest = 1.2 * (5 * fps - 1) / fps
    np.testing.assert_allclose(trail[-1], (newest, 3.0, 0.95), atol=1e-5)
    # 2 s at 30 poses/s: 61 points spanning 2.4 m; the rest repeat the oldest.
    np.testing.assert_allclose(trail[-1, 0] - trail[0, 0], 1.2 * TRAIL_S, atol=1e-4)
    assert np.all(np.diff(trail[:, 0]) >= 0)
    assert sk.trail_line.visible
    # A clock that goes back (another run) starts a new trail.
    sk.update(standing(0.0, 3.0), timestamp=0.0)
    np.testing.assert_allclose(sk.trail, np.broadcast_to((0.0, 3.0, 0.95), (TRAIL_POINTS, 3)), atol=1e-6)


def test_trail_fades_into_the_background():
    colours = fading_colours((0.0, 1.0, 0.0), "#000000", 8)
    np.testing.assert_allclose(colours[0], 0) and np.testing.assert_allclose(colours[-1], (0, 1, 0))
    assert np.all(np.diff(colours[:, 1]) > 0)
    sk = Skeleton3D(background="#1e1e24")
    stored = np.asarray(sk.trail_line.geometry.attributes["color"].array)
    np.testing.assert_allclose(stored[0], np.array([0x1E, 0x1E, 0x24]) / 255, atol=1e-6)


def test_each_pose_is_one_message_with_the_trail_and_missing_pelvis_leaves_the_trail():
    sk = Skeleton3D()
    sent = _Sent(feed=sk.feed, positions=sk._positions, trail=sk._trail_positions)
    sk.update(standing(0, 3), timestamp=0.0)
    sent.names.clear()  # the first pose also centres the view (state changes, once)
    for i in range(1, 10):
        sk.update(standing(0.04 * i, 3), timestamp=i / 30)
    assert sent.names == ["feed"] * 9
    before = sk.trail.copy()
    no_pelvis = standing(0.5, 3)
    no_pelvis[PELVIS] = np.nan
    sk.update(no_pelvis, timestamp=0.5)
    np.testing.assert_array_equal(sk.trail, before)
    assert sk.sync_state() and sent.names[-2:] == ["trail", "positions"]
    np.testing.assert_array_equal(np.asarray(sk._trail_positions.array), before)
    assert not sk.sync_state()


def test_the_view_centres_on_the_person_and_follows_them_off_the_grid():
    sk = Skeleton3D(floor_size_m=6.0)
    # 3.6 m in front of the camera (the world's origin): the view centres halfway, on whole metres.
    sk.update(standing(0.3, 3.6), timestamp=0.0)
    assert sk.view_centre == (0.0, 2.0)
    assert tuple(sk.grid.position) == (0.0, 2.0, 0.0)
    assert tuple(sk.world.position) == (0.0, -2.0, -0.9)  # the orbit target is above the centre
    sent = _Sent(grid=sk.grid, world=sk.world)
    reach = 3.0 - FOLLOW_MARGIN_M
    for i, x in enumerate(np.arange(0.3, reach + 0.01, 0.05)):  # walks within the grid: no change
        sk.update(standing(x, 3.6), timestamp=i / 30)
    assert sk.view_centre == (0.0, 2.0) and not sent.names
    sk.update(standing(reach + 0.1, 3.6), timestamp=2.0)  # near the edge: recentre on them
    assert sk.view_centre == (float(round(reach + 0.1)), 4.0)
    assert sorted(sent.names) == ["grid", "world"]
    # The person's place in the scene (world offset applied) is near the orbit target again.
    seen = np.asarray(sk.world.position) + (reach + 0.1, 3.6, 0.95)
    assert np.linalg.norm(seen[:2]) < 0.75
    # Far from the first centre (a camera 9 m away): the next pose moves the view onto them.
    far = Skeleton3D(floor_size_m=6.0)
    far.update(standing(0.0, 9.0), timestamp=0.0)
    far.update(standing(0.0, 9.0), timestamp=0.1)
    assert far.view_centre == (0.0, 9.0)
    # Another person followed, nearer the camera but still on the grid: framed as the first was.
    far.new_trail()
    far.update(standing(0.4, 7.2), timestamp=0.2)
    assert far.view_centre == (0.0, 4.0)


def test_camera_axes_agree_with_the_world_frame():
    world = pytest.importorskip("pose3d_nb.world")
    for pitch, roll in ((0, 0), (25, 0), (40, -15), (-10, 30)):
        frame = world.WorldFrame(camera_up(pitch, roll), 2.0)
        # WorldFrame.rotation maps camera axes to world axes: its columns are the camera's axes.
        np.testing.assert_allclose(camera_axes(pitch, roll), frame.rotation.T, atol=1e-9)
        lens = frame.to_world(np.zeros(3))
        np.testing.assert_allclose(lens, (0, 0, 2.0), atol=1e-6)


@pytest.mark.parametrize(("pitch", "roll", "fov", "aspect"), [(20, 0, 60, 16 / 9), (35, -10, 90, 3 / 4)])
def test_frustum_is_at_the_camera_looking_down_by_the_pitch_with_the_field_of_view(pitch, roll, fov, aspect):
    verts = frustum_vertices(pitch, roll, 1.6, fov, aspect, depth_m=0.5).astype(np.float64)
    assert verts.shape == (24, 3)
    apex = verts[0]
    np.testing.assert_allclose(apex, (0, 0, 1.6), atol=1e-6)
    corners = verts[[1, 3, 5, 7]]  # top-left, top-right, bottom-right, bottom-left
    axis = corners.mean(axis=0) - apex
    # Looking along +y, down by the pitch.
    assert abs(axis[0]) < 1e-6 and axis[1] > 0
    np.testing.assert_allclose(np.degrees(np.arctan2(-axis[2], axis[1])), pitch, atol=1e-4)
    # The field of view across the longer side: the angle between the middles of its two edges.
    top_left, top_right, bottom_right, bottom_left = corners
    if aspect >= 1:
        mid_a, mid_b = (top_left + bottom_left) / 2, (top_right + bottom_right) / 2
    else:
        mid_a, mid_b = (top_left + top_right) / 2, (bottom_left + bottom_right) / 2
    mid_a, mid_b = mid_a - apex, mid_b - apex
    fov_seen = np.degrees(np.arccos(mid_a @ mid_b / np.linalg.norm(mid_a) / np.linalg.norm(mid_b)))
    assert fov_seen == pytest.approx(fov, abs=1e-3)
    # The image's up marker points up in the image: against the camera's down axis.
    down = camera_axes(pitch, roll)[1]
    assert (verts[17] - corners.mean(axis=0)) @ down < 0
    # The drop line reaches the floor below the lens.
    np.testing.assert_allclose(verts[-2:], [(0, 0, 1.6), (0, 0, 0)], atol=1e-6)


def test_set_camera_draws_once_per_change_and_refuses_bad_numbers():
    sk = Skeleton3D()
    assert not sk.frustum.visible and sk.camera_shown is None
    assert sk.set_camera(pitch_deg=15.0, roll_deg=-2.0, height_m=1.4, fov_deg=60.0)
    assert sk.frustum.visible
    np.testing.assert_allclose(np.asarray(sk._frustum_positions.array),
                               frustum_vertices(15.0, -2.0, 1.4, 60.0), atol=1e-6)
    assert not sk.set_camera(15.0, -2.0, 1.4, 60.0)  # same numbers: nothing sent
    assert sk.set_camera(15.0, -2.0, 1.5, 60.0)
    for bad, match in (({"fov_deg": 180.0}, "fov_deg=180.0"), ({"aspect": 0.0}, "aspect=0.0"),
                       ({"pitch_deg": float("nan")}, "pitch_deg must be a finite number, got nan"),
                       ({"roll_deg": None}, "roll_deg must be a finite number, got None")):
        args = {"pitch_deg": 10.0, "roll_deg": 0.0, "height_m": 1.5, "fov_deg": 60.0, **bad}
        with pytest.raises(Pose3DValueError, match=match):
            sk.set_camera(**args)
    assert sk.camera_shown["height_m"] == 1.5  # a refused call changes nothing


def test_a_camera_estimated_below_the_floor_is_drawn_there():
    # The world tracker can place the lens below the feet (a poor lifter, or a camera below a
    # stage); the live display once died on it. The drop line then rises to the floor.
    sk = Skeleton3D()
    assert sk.set_camera(pitch_deg=-10.0, roll_deg=0.0, height_m=-0.134, fov_deg=60.0, aspect=0.5625)
    verts = np.asarray(sk._frustum_positions.array)
    np.testing.assert_allclose(verts[-2:], [(0, 0, -0.134), (0, 0, 0)], atol=1e-6)
    assert sk.show_estimate({"camera_pitch_deg": 5.0, "camera_roll_deg": 1.0, "camera_height_m": -0.2,
                             "focal_px": 600.0}, (720, 1280))
    assert sk.camera_shown["height_m"] == pytest.approx(-0.2)


def test_show_estimate_draws_the_world_trackers_camera():
    world = pytest.importorskip("pose3d_nb.world")
    lens = world.resolve_intrinsics(1280, 720, fov=70.0)
    estimate = world.CameraEstimate(lens, world.WorldFrame(camera_up(20.0, 5.0), 1.3), True, 1.75, False)
    sk = Skeleton3D()
    assert sk.show_estimate(estimate) and not sk.show_estimate(estimate)
    shown = sk.camera_shown
    assert shown["pitch_deg"] == pytest.approx(20.0) and shown["roll_deg"] == pytest.approx(5.0)
    assert shown["height_m"] == pytest.approx(1.3) and shown["fov_deg"] == pytest.approx(70.0)
    assert shown["aspect"] == pytest.approx(16 / 9)


def test_show_estimate_from_session_metadata():
    sk = Skeleton3D()
    metadata = {"camera_pitch_deg": 10.0, "camera_roll_deg": -3.0, "camera_height_m": 1.2, "focal_px": 320.0}
    assert not sk.show_estimate({"source": "sample"}, (640, 480))  # not world-grounded: nothing drawn
    assert not sk.show_estimate(metadata)  # no frame size: no field of view
    assert sk.camera_shown is None
    assert sk.show_estimate(metadata, (640, 480))
    assert sk.camera_shown == pytest.approx({"pitch_deg": 10.0, "roll_deg": -3.0, "height_m": 1.2,
                                             "fov_deg": 90.0, "aspect": 4 / 3})


def test_nothing_of_the_camera_is_drawn_before_an_estimate():
    """Before the world grounding had placed anyone, a lone blue stub stood in the middle of the
    empty view: the world axes at the camera's foot, whose x and y lie on grid lines. They come
    with the camera now, and the level camera assumed until the first estimate is not drawn."""
    world = pytest.importorskip("pose3d_nb.world")
    sk = Skeleton3D()
    assert not sk.axes.visible and not sk.frustum.visible
    tracker = world.WorldTracker()
    assert tracker.estimate.up_source == "assumed"  # nobody placed yet
    assert not sk.show_estimate(tracker.estimate)
    metadata = {"camera_pitch_deg": 0.0, "camera_roll_deg": 0.0, "camera_height_m": 1.5, "focal_px": 500.0,
                "camera_up_source": "assumed", "camera_pose_source": "estimating"}
    assert not sk.show_estimate(metadata, (640, 480))
    assert not sk.axes.visible and not sk.frustum.visible and sk.camera_shown is None
    assert sk.show_estimate({**metadata, "camera_pitch_deg": 8.0, "camera_up_source": "people"}, (640, 480))
    assert sk.axes.visible and sk.frustum.visible
    # Another source: its camera is not known yet, the last one's is taken out.
    assert sk.show_estimate(metadata, (640, 480))
    assert not sk.axes.visible and not sk.frustum.visible and sk.camera_shown is None
    assert not sk.hide_camera()


@pytest.mark.slow
def test_pose_app_draws_the_engines_camera_estimate(tmp_path, monkeypatch):
    from pose3d_nb.engine import PoseEngine
    from pose3d_nb.ui.app import PoseApp

    recorded = PoseEngine.metadata
    camera = {"camera_pitch_deg": 12.0, "camera_roll_deg": 0.0, "camera_height_m": 1.1, "focal_px": 500.0}
    # The camera estimate in the engine's metadata, whichever world grounding this engine has.
    monkeypatch.setattr(PoseEngine, "metadata", lambda self: {**recorded(self), **camera})
    with PoseApp(source="sample", lifter=None, out_dir=tmp_path / "out", status_hz=20.0) as app:
        app.start()
        deadline = time.monotonic() + 60
        while app.view3d.camera_shown is None and time.monotonic() < deadline:
            time.sleep(0.05)
        shown = app.view3d.camera_shown
        assert shown is not None and app.view3d.frustum.visible
        width, height = app.engine.latest_view().detection.frame_size
        assert shown["height_m"] == pytest.approx(1.1) and shown["aspect"] == pytest.approx(width / height)
        assert shown["fov_deg"] == pytest.approx(np.degrees(2 * np.arctan(max(width, height) / 1000.0)))
