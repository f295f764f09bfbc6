"""Unit tests of the notebook widgets and the analysis maths (pure Python, no browser)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pose3d_nb import analysis
from pose3d_nb.skeleton import COCO, H36M
from pose3d_nb.ui.controls import Controls
from pose3d_nb.ui.joint_plot import JointPlot, compute_series, latest_segment
from pose3d_nb.ui.live_image import LiveImage
from pose3d_nb.ui.overlay import draw_skeleton_2d, encode_jpeg
from pose3d_nb.ui.skeleton3d import Skeleton3D, bone_vertices
from pose3d_nb.ui.style import CENTER_RGB, LEFT_RGB, RIGHT_RGB, side_rgb01
from pose3d_nb.ui.throttle import RateLimiter


def standing_pose() -> np.ndarray:
    """A 1.8 m person standing upright on the floor, facing -y (their left is +x): (17, 3) m."""
    p = {
        "pelvis": (0, 0, 0.95), "right_hip": (-0.12, 0, 0.95), "right_knee": (-0.12, 0, 0.52),
        "right_foot": (-0.12, 0, 0.08), "left_hip": (0.12, 0, 0.95), "left_knee": (0.12, 0, 0.52),
        "left_foot": (0.12, 0, 0.08), "spine": (0, 0, 1.2), "neck": (0, 0, 1.5), "nose": (0, -0.1, 1.62),
        "head": (0, 0, 1.8), "left_shoulder": (0.19, 0, 1.45), "left_elbow": (0.21, 0, 1.17),
        "left_hand": (0.22, 0, 0.9), "right_shoulder": (-0.19, 0, 1.45), "right_elbow": (-0.21, 0, 1.17),
        "right_hand": (-0.22, 0, 0.9),
    }
    return np.array([p[name] for name in H36M.joint_names], np.float64)


def coco_keypoints(w: int = 320, h: int = 240) -> np.ndarray:
    """COCO-17 keypoints spread over a w x h frame, no two closer than 10 px: (17, 2)."""
    rng = np.random.default_rng(0)
    while True:
        kp = np.stack([rng.uniform(20, w - 20, 17), rng.uniform(40, h - 20, 17)], axis=1)
        d = np.linalg.norm(kp[:, None] - kp[None], axis=-1) + np.eye(17) * 1e9
        if d.min() > 10:
            return kp


# ---- overlay ------------------------------------------------------------------------------------
def test_overlay_draws_joints_where_keypoints_are_in_side_colours():
    img = np.zeros((240, 320, 3), np.uint8)
    kp = coco_keypoints()
    out = draw_skeleton_2d(img, kp, np.ones(17))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert not img.any(), "the input must not be modified"
    for j, (x, y) in enumerate(np.round(kp).astype(int)):
        want = LEFT_RGB if j in COCO.left else RIGHT_RGB if j in COCO.right else CENTER_RGB
        assert tuple(out[y, x]) == want, f"joint {j} at ({x}, {y}) is {out[y, x]}"
    # A bone is drawn between its joints: the midpoint of left_hip-left_knee is coloured.
    a, b = COCO.index("left_hip"), COCO.index("left_knee")
    mx, my = np.round((kp[a] + kp[b]) / 2).astype(int)
    assert out[my - 2:my + 3, mx - 2:mx + 3].any()
    # Far from every keypoint and bone the frame is untouched: the corner stays black.
    assert not out[:5, :5].any()


def test_overlay_skips_low_score_and_nan_joints():
    img = np.zeros((240, 320, 3), np.uint8)
    kp = coco_keypoints()
    scores = np.ones(17)
    low, nan = COCO.index("right_wrist"), COCO.index("left_ankle")
    scores[low] = 0.1
    kp[nan] = np.nan
    out = draw_skeleton_2d(img, kp, scores, min_score=0.3)
    x, y = np.round(kp[low]).astype(int)
    # The low-score joint's own disc is not drawn (a bone from another joint may cross nearby,
    # so check the exact centre against the joint colour rather than for blackness).
    assert tuple(out[y, x]) != RIGHT_RGB
    assert out.any()


def test_overlay_marks_a_missing_frame():
    img = np.full((240, 320, 3), 128, np.uint8)
    out = draw_skeleton_2d(img, np.full((17, 2), np.nan), np.zeros(17))
    top = out[:10].reshape(-1, 3).astype(int)
    # A red banner: red clearly dominates green and blue across the top strip (text aside).
    assert np.median(top[:, 0] - top[:, 1]) > 60
    assert (out[-50:] == 128).all(), "below the banner the frame is untouched"
    with_person = draw_skeleton_2d(img, coco_keypoints(), np.ones(17))
    assert np.median(with_person[:3].reshape(-1, 3)[:, 0].astype(int) - 128) == 0, "no banner when found"


def test_encode_jpeg_decodes_to_downscaled_size_and_keeps_rgb_order():
    img = np.zeros((960, 540, 3), np.uint8)
    img[..., 0] = 220  # pure red in RGB
    data = encode_jpeg(img, quality=80, max_width=270)
    assert data[:2] == b"\xff\xd8"
    dec = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert dec.shape == (480, 270, 3)
    b, g, r = dec[240, 135].astype(int)
    assert r > 180 and g < 40 and b < 40
    small = cv2.imdecode(np.frombuffer(encode_jpeg(img[:100, :200], max_width=640), np.uint8), 1)
    assert small.shape == (100, 200, 3), "never upscaled"


def test_live_image_shows_a_jpeg_of_the_overlay():
    live = LiveImage(max_width=160)
    img = np.zeros((240, 320, 3), np.uint8)
    kp = coco_keypoints()
    live.show(img, kp, np.ones(17))
    dec = cv2.cvtColor(cv2.imdecode(np.frombuffer(live.widget.value, np.uint8), 1), cv2.COLOR_BGR2RGB)
    assert dec.shape == (120, 160, 3)
    # Keypoints were scaled with the frame: the nose is drawn at half its full-size position.
    x, y = np.round(kp[0] / 2).astype(int)
    assert dec[y, x].astype(int).sum() > 300
    assert live.frames_shown == 1


def test_the_missing_banner_names_the_followed_person_when_others_are_drawn(monkeypatch):
    """The followed person hidden, someone else in view drawn with their id: the banner said
    "no person" above a labelled person (the two-person sample, the man back as a new track)."""
    from pose3d_nb.ui import overlay

    banners: list[str] = []
    monkeypatch.setattr(overlay, "_banner", lambda img, text: banners.append(text))
    live = LiveImage(max_width=320)
    img = np.zeros((240, 320, 3), np.uint8)
    hidden = np.full((17, 2), np.nan)
    someone = {"people_ids": np.array([3]), "people_keypoints": coco_keypoints()[None],
               "people_scores": np.ones((1, 17)), "track_id": 1}
    live.show(img, hidden, np.zeros(17), someone)
    live.show(img, hidden, np.zeros(17), {**someone, "track_id": None})
    live.show(img, hidden, np.zeros(17), {"people_ids": np.zeros(0, np.int64), "track_id": 1})
    live.show(img, hidden, np.zeros(17))
    assert banners == ["person 1 not in view", "nobody followed yet", "no person", "no person"]


def test_a_long_banner_fits_a_portrait_frame(monkeypatch):
    # The sample's frames shown 480 wide are 853 high: the banner's text scales with the height,
    # and "person 12 not in view" at that scale is 692 px wide.
    drawn = []
    put_text = cv2.putText

    def spy(img, text, org, font, scale, *args, **kwargs):
        drawn.append((text, org, cv2.getTextSize(text, font, scale, 2)[0][0]))
        return put_text(img, text, org, font, scale, *args, **kwargs)

    monkeypatch.setattr(cv2, "putText", spy)
    draw_skeleton_2d(np.zeros((853, 480, 3), np.uint8), np.full((17, 2), np.nan), None,
                     missing_label="person 12 not in view")
    ((text, (left, _), width),) = drawn
    assert text == "person 12 not in view" and left >= 0 and left + width <= 480, drawn


def test_a_click_on_the_live_images_far_edge_is_its_last_pixel():
    """A click at the right or bottom edge (fraction 1.0) used to come back as pixel 640 of a
    640-wide frame: the followed point was then outside the image and stopped the engine."""
    live = LiveImage(max_width=160)
    live.show(np.zeros((360, 640, 3), np.uint8), None)
    clicks = []
    live.on_click(lambda x, y: clicks.append((x, y)))
    live.widget._on_message(live.widget, {"type": "click", "x": 1.0, "y": 1.0}, [])
    live.widget._on_message(live.widget, {"type": "click", "x": 0.5, "y": 0.25}, [])
    assert clicks == [(639, 359), (320, 90)]
    assert f"{clicks[0][0]:.0f},{clicks[0][1]:.0f}" == "639,359"  # as PoseApp passes it on


# ---- 3D skeleton --------------------------------------------------------------------------------
def test_skeleton3d_positions_are_the_joints_in_bone_order():
    sk = Skeleton3D()
    joints = standing_pose() + np.random.default_rng(1).normal(0, 0.01, (17, 3))
    sk.update(joints)
    want = joints[np.asarray(H36M.bones)].reshape(-1, 3)
    np.testing.assert_allclose(sk.positions, want, rtol=0, atol=1e-6)
    assert sk.positions.dtype == np.float32
    assert sk.bones.visible and sk.joints.visible and not sk.stale
    assert sk.camera.up == (0, 0, 1)


class _Wire:
    """Records what widgets send to the front end (a kernel-less widget's comm sends nothing)."""

    def __init__(self, *widgets_):
        self.sent: list[tuple[str, dict, list]] = []
        for w in widgets_:
            w.comm.send = self._recorder(type(w).__name__)

    def _recorder(self, name: str):
        def send(data=None, buffers=None, **_):
            self.sent.append((name, data, list(buffers or [])))
        return send


def test_skeleton3d_streams_each_pose_as_one_binary_message_not_a_state_change():
    """pythreejs answers each state change with a message back; live poses must not be state."""
    sk = Skeleton3D()
    wire = _Wire(sk.feed, sk._positions)
    joints = standing_pose()
    sk.update(joints)
    sk.update(joints + 0.01)
    poses = [(d, b) for n, d, b in wire.sent if n == "PoseFeed"]
    assert len(poses) == 2 and not [n for n, _, _ in wire.sent if n == "BufferAttribute"]
    data, buffers = poses[-1]
    assert data == {"method": "custom", "content": {"type": "pose", "targets": ["positions", "trail"]}}
    assert len(buffers) == 2
    np.testing.assert_array_equal(np.frombuffer(buffers[0], np.float32).reshape(-1, 3), sk.positions)
    np.testing.assert_array_equal(np.frombuffer(buffers[1], np.float32).reshape(-1, 3), sk.trail)
    # Once the poses pause, one state sync stores the shown pose for a reloaded page; then none.
    assert sk.sync_state() and not sk.sync_state()
    np.testing.assert_array_equal(np.asarray(sk._positions.array), sk.positions)
    assert [n for n, _, _ in wire.sent].count("BufferAttribute") == 1
    with pytest.raises(ValueError, match="shape"):
        sk.feed.send_vertices(np.zeros((31, 3), np.float32))


def test_skeleton3d_draws_the_others_in_view_in_the_same_message():
    """Everyone else in view is drawn dimmed beside the followed person, sent with their pose."""
    from pose3d_nb.ui.skeleton_geometry import MAX_OTHERS, N_VERTS, bone_vertices

    sk = Skeleton3D()
    wire = _Wire(sk.feed, sk._positions)
    her = standing_pose() + (1.5, 2.0, 0.0)
    hidden = np.full((17, 3), np.nan)  # a person whose 3D is not there yet
    sk.update(standing_pose(), others=np.stack([her, hidden]))
    (data, buffers), = [(d, b) for n, d, b in wire.sent if n == "PoseFeed"]
    assert data["content"]["targets"] == ["positions", "trail", "others"] and len(buffers) == 3
    shown = np.frombuffer(buffers[2], np.float32).reshape(MAX_OTHERS * N_VERTS, 3)
    np.testing.assert_array_equal(shown[:N_VERTS], bone_vertices(her)[0])
    assert (shown[N_VERTS:, 2] < -100).all()  # the hidden one and the unused slot: out of sight
    np.testing.assert_array_equal(shown, sk.others_positions)
    sk.update(standing_pose(), others=np.zeros((0, 17, 3)))  # she left the view
    assert (sk.others_positions[:, 2] < -100).all()


def test_skeleton3d_colours_left_right_centre():
    sk = Skeleton3D()
    cols = np.asarray(sk.geometry.attributes["color"].array)
    for i, bone in enumerate(H36M.bones):
        want = side_rgb01(H36M.bone_side(bone))
        np.testing.assert_allclose(cols[2 * i], want, atol=1e-6)
        np.testing.assert_allclose(cols[2 * i + 1], want, atol=1e-6)
    assert len({tuple(c) for c in np.round(cols, 3)}) == 3


def test_skeleton3d_hides_missing_joints_and_keeps_last_pose_when_all_missing():
    sk = Skeleton3D()
    joints = standing_pose()
    sk.update(joints)
    knee = H36M.index("left_knee")
    partial = joints.copy()
    partial[knee] = np.nan
    sk.update(partial)
    pos = sk.positions.reshape(-1, 2, 3)
    assert np.isfinite(pos).all()
    for i, (a, b) in enumerate(H36M.bones):
        if knee in (a, b):
            assert np.allclose(pos[i, 0], pos[i, 1]), f"bone {a}-{b} touching the missing knee is collapsed"
        else:
            np.testing.assert_allclose(pos[i], joints[[a, b]], atol=1e-6)
    before = sk.positions.copy()
    sk.update(np.full((17, 3), np.nan))
    np.testing.assert_array_equal(sk.positions, before)
    assert sk.stale and sk.bone_material.opacity < 1
    sk.update(np.full((17, 3), np.inf))
    sk.update(None)
    np.testing.assert_array_equal(sk.positions, before)
    sk.update(joints)
    assert not sk.stale and sk.bone_material.opacity == 1
    with pytest.raises(ValueError):
        sk.update(np.zeros((16, 3)))


def test_bone_vertices_all_missing_reports_invalid():
    verts, ok = bone_vertices(np.full((17, 3), np.nan))
    assert not ok and verts.shape == (32, 3)


def _rotate(q: tuple, v: np.ndarray) -> np.ndarray:
    """Rotate vector ``v`` by quaternion ``q`` = (x, y, z, w)."""
    x, y, z, w = q
    u = np.array([x, y, z])
    return v + 2 * np.cross(u, np.cross(u, v) + w * v)


def test_floor_grid_lies_in_the_xy_plane():
    sk = Skeleton3D()
    # three.js's GridHelper is in its XZ plane (normal +y); on our floor the normal must be +z.
    np.testing.assert_allclose(_rotate(sk.grid.quaternion, np.array([0.0, 1.0, 0.0])), [0, 0, 1], atol=1e-9)
    # The Euler rotation must stay neutral: pythreejs applies both, the quaternion last.
    assert tuple(sk.grid.rotation[:3]) == (0, 0, 0)
    # The floor sits at world z=0: the grid is in the world group, not moved within it.
    assert tuple(sk.grid.position) == (0, 0, 0) and sk.grid in sk.world.children


def test_default_camera_sees_a_standing_person_with_arms_out():
    sk = Skeleton3D(width=480, height=480)
    pose = standing_pose()
    arms_out = pose.copy()
    for side, sx in (("left", 1), ("right", -1)):
        arms_out[H36M.index(f"{side}_elbow")] = (sx * 0.5, 0, 1.45)
        arms_out[H36M.index(f"{side}_hand")] = (sx * 0.85, 0, 1.45)
    # Camera coordinates are those of the scene; the world (floor + skeleton) is offset inside it.
    pos = np.asarray(sk.camera.position, float) - np.asarray(sk.world.position, float)
    # The camera's actual orientation (its quaternion), not just where the controls point.
    x, y, z, w = sk.camera.quaternion
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    r, u, f = rot[:, 0], rot[:, 1], -rot[:, 2]  # three.js cameras look down their local -z
    target = np.asarray(sk.controls.target, float) - np.asarray(sk.world.position, float)
    assert 0.7 < target[2] < 1.1, "orbits about the middle of a standing person"
    np.testing.assert_allclose(f, (target - pos) / np.linalg.norm(target - pos), atol=1e-9)
    assert u[2] > 0.8, "z is up on screen"
    half = np.tan(np.radians(sk.camera.fov / 2))
    for p in (pose, arms_out, pose + (0.5, 0.5, 0)):
        d = p - pos
        z = d @ f
        assert (z > 0).all()
        # A 10% margin inside the frame edge.
        assert (np.abs(d @ u / z) < 0.9 * half).all()
        assert (np.abs(d @ r / z) < 0.9 * half * sk.camera.aspect).all()
    # z-up: the head projects above the feet.
    d = pose - pos
    assert (d @ u / (d @ f))[H36M.index("head")] > (d @ u / (d @ f))[H36M.index("left_foot")]


def test_reset_view_puts_the_orbited_camera_back_where_the_view_follows_the_person():
    """After orbiting or zooming there was no way back to the default view. The page reports
    where a drag or a scroll left the camera and the orbit target (pythreejs sets them in the
    kernel at its end); the reset sets them back, about the grid's centre as it follows the person."""
    sk = Skeleton3D(width=480, height=480)

    def camera() -> dict:
        return {"position": sk.camera.position, "quaternion": sk.camera.quaternion, "zoom": sk.camera.zoom}

    home = camera()
    assert not sk.reset_view()  # nothing moved: nothing sent
    sk.update(standing_pose() + (4.0, 6.0, 0.0))  # the view follows the person onto the grid
    world = sk.world.position
    assert sk.view_centre == (2.0, 3.0)  # halfway between the recording camera and them
    # What the page's OrbitControls sets at the end of a drag (turned, pulled in, panned).
    sk.camera.position, sk.camera.quaternion, sk.camera.zoom = (2.0, -1.0, 0.5), (0.1, 0.2, 0.3, 0.9), 1.4
    sk.controls.target = (0.4, 0.3, -0.2)
    wire = _Wire(sk.camera, sk.controls)
    assert sk.reset_view()
    assert camera() == home
    assert tuple(sk.controls.target) == (0.0, 0.0, 0.0)
    assert sk.world.position == world  # framed on where the person is, not back at the start
    # The camera's three values go in one message, the target in another.
    assert [name for name, _, _ in wire.sent] == ["PerspectiveCamera", "OrbitControls"]
    assert set(wire.sent[0][1]["state"]) == {"position", "quaternion", "zoom"}
    assert not sk.reset_view()


# ---- throttle -----------------------------------------------------------------------------------
def test_rate_limiter_books_slots():
    rl = RateLimiter(10)
    assert rl.ready(100.0)
    assert not rl.ready(100.05)
    assert rl.ready(100.11)
    assert RateLimiter(0).ready(1.0) and RateLimiter(0).ready(1.0)


# ---- analysis -----------------------------------------------------------------------------------
def test_joint_angle_right_angle_and_straight_leg():
    pose = standing_pose()
    hip, knee, foot = analysis.ANGLE_PRESETS["left_knee"]
    assert (hip, knee, foot) == (H36M.index("left_hip"), H36M.index("left_knee"), H36M.index("left_foot"))
    np.testing.assert_allclose(analysis.joint_angle(pose, hip, knee, foot), [180.0], atol=1e-6)
    bent = pose.copy()
    bent[foot] = bent[knee] + (0, 0.44, 0)  # shank horizontal, thigh vertical
    np.testing.assert_allclose(analysis.named_angle(bent[None], "left_knee"), [90.0], atol=1e-6)
    seq = np.stack([pose, bent, np.full((17, 3), np.nan)])
    out = analysis.joint_angle(seq, hip, knee, foot)
    assert out.shape == (3,)
    np.testing.assert_allclose(out[:2], [180, 90], atol=1e-6)
    assert np.isnan(out[2])
    # 45 degrees: shank along (0, 1, -1).
    bent[foot] = bent[knee] + (0, 0.3, 0.3)
    np.testing.assert_allclose(analysis.named_angle(bent, "left_knee"), [45.0], atol=1e-6)


def test_trunk_inclination_and_all_angles():
    pose = standing_pose()
    np.testing.assert_allclose(analysis.trunk_inclination(pose), [0.0], atol=1e-6)
    lying = pose.copy()
    lying[H36M.index("neck")] = lying[H36M.index("pelvis")] + (0, 0.5, 0)
    np.testing.assert_allclose(analysis.named_angle(lying, "trunk_inclination"), [90.0], atol=1e-6)
    angles = analysis.all_angles(np.stack([pose] * 4))
    assert set(angles) == set(analysis.ANGLE_NAMES)
    assert all(v.shape == (4,) for v in angles.values())
    np.testing.assert_allclose(angles["right_knee"], 180, atol=1e-6)
    with pytest.raises(KeyError):
        analysis.named_angle(pose, "left_ear")


def test_joint_speed_known_motion():
    pose = standing_pose()
    seq = np.stack([pose + (0.0, t * 2.0, 0.0) for t in (0.0, 0.5, 1.0)])  # 2 m/s along y
    seq[2, H36M.index("head")] += (0, 0, 0.5)  # head also rises 0.5 m in the last 0.5 s
    ts = np.array([10.0, 10.5, 11.0])
    sp = analysis.joint_speed(seq, ts)
    assert sp.shape == (3, 17)
    assert np.isnan(sp[0]).all()
    np.testing.assert_allclose(np.delete(sp[1:], H36M.index("head"), axis=1), 2.0, atol=1e-9)
    np.testing.assert_allclose(sp[2, H36M.index("head")], np.hypot(1.0, 0.5) / 0.5, atol=1e-9)
    # A time that goes backwards (looping file) gives NaN, not a negative or infinite speed.
    assert np.isnan(analysis.joint_speed(seq, np.array([0.0, 0.5, 0.0]))[2]).all()
    with pytest.raises(ValueError):
        analysis.joint_speed(seq, ts[:2])


def test_joint_plot_speed_after_frames_without_a_person_is_a_gap_not_a_spike():
    """A session holds the last pose while nobody is seen; the first speed after the gap would
    be the whole gap's travel over one frame (6.3 m/s for a 0.9 m/s walk)."""
    ts = np.arange(20) / 30.0
    joints = np.stack([standing_pose() + (0.03 * k, 0.0, 0.0) for k in range(20)])  # 0.9 m/s along x
    valid = np.ones(20, bool)
    valid[8:14] = False
    joints[8:14] = joints[7]  # held, as recorded
    speed = compute_series("speed:pelvis", ts, joints, valid)
    assert np.isnan(speed[[0, *range(8, 15)]]).all()
    np.testing.assert_allclose(speed[np.r_[1:8, 15:20]], 0.9, atol=1e-9)


def test_joint_plot_speed_is_smoothed_like_the_analysis_notebook():
    """The live plot's speeds were frame-to-frame differences: a hand swinging slowly read 10-19
    m/s in the demo (lifter jitter over uneven steps of a source that drops frames). A steady
    1.2 m/s walk with 5 mm jitter, 60 fps with two of every three frames dropped unevenly, reads
    1.2 m/s within 0.2 m/s on 90 % of its frames (0.43 frame to frame); the first frame and a
    gap's frames stay NaN."""
    rng = np.random.default_rng(0)
    ts = np.sort(rng.choice(np.arange(600) / 60.0, size=200, replace=False))
    joints = np.stack([standing_pose() + (1.2 * t, 0.0, 0.0) for t in ts])
    joints += rng.normal(0, 0.005, joints.shape)
    valid = np.ones(len(ts), bool)
    valid[100:110] = False
    joints[100:110] = joints[99]  # held, as recorded
    raw = analysis.joint_speed(np.where(valid[:, None, None], joints, np.nan), ts)[:, H36M.index("pelvis")]
    speed = compute_series("speed:pelvis", ts, joints, valid)
    assert np.isnan(speed[[0, *range(100, 111)]]).all()
    shown = speed[np.isfinite(speed)]
    assert shown.size == len(ts) - 12
    off_raw, off_shown = np.nanpercentile(np.abs(raw - 1.2), 90), np.percentile(np.abs(shown - 1.2), 90)
    print(f"\n90th percentile off 1.2 m/s: frame to frame {off_raw:.2f}, shown {off_shown:.2f} "
          f"(at most {np.max(np.abs(shown - 1.2)):.2f})")
    assert off_raw > 0.3  # the jitter the plot used to show
    assert off_shown < 0.2 and np.all(np.abs(shown - 1.2) < 0.6)


def test_joint_plot_breaks_where_another_person_is_followed():
    """A click in the live image moves the followed person (and joints_3d) to another body:
    the speed plot drew one frame's jump between the two, 3 m apart, as tens of m/s (and the
    smoothing averaged the two bodies' positions around it)."""
    ts = np.arange(120) / 60.0
    walk = np.stack([standing_pose() + (0.0, 1.0 * t, 0.0) for t in ts])  # 1 m/s along y
    joints = np.where((np.arange(120) < 60)[:, None, None], walk, walk + (3.0, 0.0, 0.0))
    person = np.where(np.arange(120) < 60, 1, 2)
    speed = compute_series("speed:pelvis", ts, joints, np.ones(120, bool), person)
    assert np.isnan(speed[[0, 60]]).all()
    np.testing.assert_allclose(np.delete(speed, [0, 60]), 1.0, atol=1e-6)
    knee = compute_series("angle:left_knee", ts, joints, None, person)
    assert np.flatnonzero(np.isnan(knee)).tolist() == [60]  # a gap marks the switch
    plot = JointPlot(quantity="speed:pelvis", window_s=10.0)
    plot.update(ts, joints, np.ones(120, bool), person)
    _, shown = plot.line.get_data()
    assert np.nanmax(shown) < 1.01 and plot.ax.get_ylim()[1] < 2
    # One person throughout (a detector that tracks no one: -1 everywhere): no gap.
    assert np.isfinite(compute_series("angle:left_knee", ts, walk, None, np.full(120, -1))).all()


def test_status_line_before_the_first_start_says_ready_without_empty_rates():
    """Before Start the status read "■ stopped · 0.0 fps · latency – ms (p95 –) · processed 0 ·
    dropped 0": stopped before anything ran, and rates with nothing behind them."""
    from dataclasses import replace

    from pose3d_nb.engine.stats import EngineStats
    from pose3d_nb.ui.app import status_html

    fresh = EngineStats(
        running=False, frames_in=0, processed=0, dropped=0, fps=0.0, latency_ms_median=None,
        latency_ms_p95=None, stage_ms={}, detector="mediapipe-people", lifter="VideoPose3D (shipped)",
        fallback=False, hint="", source="sample", window=27, lookahead=0, flip=True, finished=False,
        error=None)
    line = status_html(fresh)
    assert "ready: press Start" in line and "stopped" not in line, line
    assert "fps" not in line and "latency" not in line and "–" not in line, line
    assert "mediapipe-people" in line and "VideoPose3D (shipped)" in line
    ran = replace(fresh, frames_in=120, processed=100, dropped=20, fps=14.2, latency_ms_median=80.0,
                  latency_ms_p95=190.0, stage_ms={"detect": 55.0})
    line = status_html(ran)
    assert "■ stopped" in line and "14.2 fps" in line and "latency 80 ms (p95 190)" in line, line
    assert "processed 100" in line and "dropped 20" in line and "detect 55" in line
    starting = replace(fresh, running=True)
    assert "running" in status_html(starting) and "0.0 fps" in status_html(starting)


def test_moving_average_ignores_nan_and_keeps_shape():
    x = np.array([0.0, 1.0, np.nan, 3.0, 4.0, 5.0])
    out = analysis.moving_average(x, 3)
    np.testing.assert_allclose(out, [0.5, 0.5, 2.0, 3.5, 4.0, 4.5])
    seq = np.stack([standing_pose() + (0, t, 0) for t in np.linspace(0, 1, 11)])
    sm = analysis.moving_average(seq, 5)
    assert sm.shape == seq.shape
    np.testing.assert_allclose(sm[2:-2], seq[2:-2], atol=1e-12)  # a straight line is unchanged
    assert np.isnan(analysis.moving_average(np.full(4, np.nan), 3)).all()


# ---- joint plot ---------------------------------------------------------------------------------
def test_latest_segment_stops_at_a_loop_restart():
    ts = np.r_[np.arange(0, 3, 0.1), np.arange(0, 1, 0.1)]
    seg = latest_segment(ts, window_s=10)
    assert seg.start == 30 and seg.stop == 40
    seg = latest_segment(np.arange(0, 20, 0.5), window_s=5)
    assert np.arange(0, 20, 0.5)[seg][0] == pytest.approx(14.5)


def test_joint_plot_axis_is_scaled_to_what_the_line_draws():
    # A line without markers draws nothing for a lone value between two gaps; that value still
    # set the axis (a 17 m/s speed between gaps squashed a 1 m/s walk to the bottom).
    ts = np.arange(60) / 30.0
    joints = np.stack([standing_pose()] * 60)
    valid = np.ones(60, bool)
    valid[[40, 41, 42, 44, 45, 46]] = False
    joints[43, :, 2] += 4.0  # frame 43 alone between the gaps, 4 m higher
    plot = JointPlot(quantity="pos:pelvis:z", window_s=3.0)
    plot.update(ts, joints, valid)
    low, high = plot.ax.get_ylim()
    pelvis = standing_pose()[H36M.index("pelvis"), 2]
    assert low < pelvis < high < pelvis + 1.0, (low, high)


def test_joint_plot_series_values_and_invalid_gaps():
    pose = standing_pose()
    T = 60
    joints = np.stack([pose] * T)
    foot = H36M.index("left_foot")
    knee = H36M.index("left_knee")
    joints[30:, foot] = joints[30:, knee] + (0, 0.44, 0)  # knee bends to 90 halfway
    ts = np.arange(T) / 10.0
    valid = np.ones(T, bool)
    valid[10] = False
    y = compute_series("angle:left_knee", ts, joints, valid)
    assert np.isnan(y[10])
    np.testing.assert_allclose(y[:10], 180, atol=1e-6)
    np.testing.assert_allclose(y[30:], 90, atol=1e-6)
    z = compute_series("pos:head:z", ts, joints)
    np.testing.assert_allclose(z, 1.8)
    plot = JointPlot(quantity="angle:left_knee", window_s=2.0)
    plot.update(ts, joints, valid)
    x, yy = plot.line.get_data()
    assert x[-1] == 0 and x[0] == pytest.approx(-2.0) and len(x) == 21
    np.testing.assert_allclose(yy, 90, atol=1e-6)
    plot.quantity = "speed:left_foot"  # re-draws the last data with the new quantity
    assert plot.draws == 2
    assert plot.ax.get_title().startswith("left foot speed")


# ---- controls -----------------------------------------------------------------------------------
def test_controls_report_changes_and_show_disabled_reasons():
    c = Controls(window=243, lookahead=0)
    seen: list[tuple[str, object]] = []
    for name in ("window", "lookahead", "flip", "source", "detector", "running"):
        c.on(name, lambda v, n=name: seen.append((n, v)))
    c.window_slider.value = 81
    c.full_window.value = True
    c.lookahead_slider.value = 10
    c.flip_box.value = not c.flip_box.value  # on by default (DEFAULTS.flip)
    c.source_box.value = "/tmp/video.mp4"
    c.start_button.value = True
    assert seen == [("window", 81), ("window", 0), ("lookahead", 10), ("flip", False),
                    ("source", "/tmp/video.mp4"), ("running", True)]
    assert c.start_button.description == "Stop"
    seen.clear()
    c.set_value("window", 27)  # engine -> UI sync: no callback
    c.set_running(False)
    assert seen == [] and c.window == 27 and c.start_button.description == "Start"
    c.set_disabled("window", "fallback lifter: no temporal window")
    assert c.window_slider.disabled and c.full_window.disabled
    assert "fallback lifter" in c.notes.value and "fallback lifter" in c.window_slider.tooltip
    c.set_disabled("window", None)
    assert not c.window_slider.disabled and c.notes.value == ""
    # Re-enabled: each control's own help is back on hover.
    assert c.window_slider.tooltip == "frames of 2D history given to the 3D lifter"
    assert c.full_window.tooltip.startswith("use every frame")
    with pytest.raises(KeyError):
        c.on("speed", print)


def test_joint_plot_refuses_an_unknown_quantity_with_the_forms_it_takes():
    """``PoseApp(plot_quantity="left_knee")`` said only "Invalid selection: value not found"."""
    from pose3d_nb.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match=r"'left_knee': use angle:<left_knee\|.*speed:<joint>"):
        JointPlot(quantity="left_knee")
    plot = JointPlot(quantity="pos:pelvis:z")
    with pytest.raises(UnknownNameError, match="unknown plot quantity 'speed:knee'"):
        plot.quantity = "speed:knee"
    assert plot.quantity == "pos:pelvis:z"
