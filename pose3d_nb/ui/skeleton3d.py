"""The orbitable 3D skeleton view (pythreejs).

One ``BufferAttribute`` holds every bone's two end points, ``(16*2, 3)`` float32 in bone order.
Bones are ``LineSegments`` and joints ``Points`` on that same geometry, so a frame is exactly
one comm message; per-joint meshes (one message each) fall behind (``docs/benchmarks.md``).
That message goes through ``PoseFeed`` rather than a pythreejs state change, which pythreejs
would answer with a message back for every frame (see ``pose_feed``).
Colours are fixed at build: left blue, right orange, centre grey.

The person moves through a world-grounded room (z up, floor at z = 0): a fading trail of the
pelvis (the last ``TRAIL_S`` seconds) rides in the same message as the pose; the floor grid and
the orbit target jump to the person when they near the grid's edge (a rare state change); the
session's estimated camera is drawn as a small frustum (``set_camera``), its drop line marking
its height above the floor, with the world's axes at its foot. ``reset_view`` puts the camera
back after the user has orbited or zoomed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import pythreejs as three

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.skeleton import H36M
from pose3d_nb.ui.pose_feed import PoseFeed
from pose3d_nb.ui.skeleton_geometry import MAX_ABS_M, N_VERTS, bone_vertices, others_vertices
from pose3d_nb.ui.style import side_rgb01
from pose3d_nb.ui.trail import TRAIL_POINTS, Trail
from pose3d_nb.ui.world_geometry import css_colour, fading_colours, frustum_vertices

_PELVIS = H36M.index("pelvis")

TRAIL_RGB = (0.35, 0.95, 0.6)
FRUSTUM_RGB = (0.95, 0.8, 0.3)
#: The grid recentres on the person once they are this close to its edge (metres).
FOLLOW_MARGIN_M = 0.75
OTHERS_RGB = (0.62, 0.62, 0.68)


def look_at_quaternion(eye: Sequence[float], target: Sequence[float],
                       up: Sequence[float]) -> tuple[float, float, float, float]:
    """The rotation that turns a three.js camera at ``eye`` to face ``target``.

    Same construction as three.js ``Matrix4.lookAt`` (the camera looks down its local -z).
    pythreejs applies OrbitControls' target only once the user drags, so the first view must
    be aimed here or it looks at the origin.

    Args:
        eye: (3,) the camera's position.
        target: (3,) the point it looks at.
        up: (3,) the world direction shown upwards.

    Returns:
        The quaternion (x, y, z, w).
    """
    z = np.asarray(eye, float) - np.asarray(target, float)
    z /= np.linalg.norm(z)
    x = np.cross(np.asarray(up, float), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.stack([x, y, z], axis=1)  # rotation matrix, columns = camera axes in world
    # Shepperd's method on the trace / largest diagonal element (numerically stable).
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, 0.25 * s)
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = (0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s, (m[2, 1] - m[1, 2]) / s)
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = ((m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s, (m[0, 2] - m[2, 0]) / s)
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = ((m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s, (m[1, 0] - m[0, 1]) / s)
    return tuple(float(v) for v in q)  # type: ignore[return-value]


def _bone_colours() -> np.ndarray:
    """(32, 3) float32 RGB in [0, 1]: both end points of a bone get the bone's side colour."""
    cols = np.array([side_rgb01(H36M.bone_side(tuple(b))) for b in H36M.bones], np.float32)
    return np.repeat(cols, 2, axis=0)


class Skeleton3D:
    """Orbitable 3D view of one Human3.6M skeleton (and, dimmed, the others in view) in a z-up
    world with the floor at z=0.

    ``widget`` is the pythreejs ``Renderer``. ``update(joints)`` sends one array. Missing joints
    vanish (their bones shrink to zero length); a frame with no valid joint keeps the last pose,
    drawn faded, so a dropout reads as "stale" rather than as a person teleporting to 0,0,0.
    Live poses bypass the widget state; ``sync_state()`` stores the shown pose in it, so a page
    reloaded while nothing moves still shows it.

    World-grounded poses move over the floor: ``trail`` is the pelvis' path over the last
    ``TRAIL_S`` seconds (sent with each pose), ``view_centre`` the grid's centre, moved (with the
    orbit target) halfway between the camera and the person at the first pose and onto the
    person when they come within ``FOLLOW_MARGIN_M`` of the grid's edge; ``set_camera`` draws
    the recording camera (nothing of it is drawn before that: see ``show_estimate``). The default
    view, from behind and above the recording camera's side, takes in the whole grid;
    ``reset_view`` returns to it.

    Args:
        width: the view's width in pixels.
        height: the view's height in pixels.
        floor_size_m: side of the floor grid in metres (squares of 0.5 m).
        target: (3,) world point the camera looks at and orbits about.
        camera_position: (3,) world position of the camera.
        background: the scene's CSS colour.
        joint_size_m: diameter of a joint's point in metres.
    """

    #: Opacity of a pose that is no longer current (no valid joints in the latest frame).
    STALE_OPACITY = 0.25

    def __init__(self, width: int = 480, height: int = 480, floor_size_m: float = 6.0,
                 target: tuple[float, float, float] = (0.0, 0.0, 0.9),
                 camera_position: tuple[float, float, float] = (-1.0, -3.9, 2.9),
                 background: str = "#1e1e24", joint_size_m: float = 0.07) -> None:
        self._positions = three.BufferAttribute(array=np.zeros((N_VERTS, 3), np.float32), normalized=False)
        colours = three.BufferAttribute(array=_bone_colours(), normalized=False)
        self.geometry = three.BufferGeometry(attributes={"position": self._positions, "color": colours})
        # linewidth is ignored by WebGL (always 1 px); the joints' points carry the visual weight.
        self.bone_material = three.LineBasicMaterial(vertexColors="VertexColors", transparent=True,
                                                     opacity=1.0)
        self.joint_material = three.PointsMaterial(vertexColors="VertexColors", size=joint_size_m,
                                                   sizeAttenuation=True, transparent=True, opacity=1.0)
        # frustumCulled=False: three.js computes the bounding sphere once, from the first
        # (all-zero) pose, and would cull a skeleton that has since moved.
        self.bones = three.LineSegments(geometry=self.geometry, material=self.bone_material,
                                        frustumCulled=False, visible=False)
        self.joints = three.Points(geometry=self.geometry, material=self.joint_material,
                                   frustumCulled=False, visible=False)
        # GridHelper lies in three.js's XZ plane; turn it 90 degrees about x into the XY plane
        # (our floor, z=0). Set as a quaternion: pythreejs also sends the default identity
        # quaternion after ``rotation``, which silently undoes a rotation given as Euler angles.
        half = np.sqrt(0.5)
        self.floor_size_m = float(floor_size_m)
        self.grid = grid = three.GridHelper(floor_size_m, int(floor_size_m * 2), colorCenterLine="#8a8a8a",
                                colorGrid="#4a4a52", quaternion=(half, 0.0, 0.0, half))
        # x red, y green, z blue at the world's origin, the recording camera's foot: shown with the
        # camera. Its x and y lie on grid lines, so before a camera was drawn only the z axis showed,
        # a lone blue stub in the middle of the empty view.
        self.axes = axes = three.AxesHelper(0.3, visible=False)
        light = three.HemisphereLight(color="#ffffff", groundColor="#444444", intensity=1.0)
        # The world (floor, axes, skeleton) is shifted so the point we look at is the scene
        # origin: pythreejs builds three.js OrbitControls with target 0,0,0, whose constructor
        # aims the camera there, and only copies our target afterwards without re-aiming. With
        # the look-at point at the origin, the first view is right and orbiting turns about
        # the body's middle. Joint coordinates stay world coordinates inside ``self.world``.
        self._trail_positions = three.BufferAttribute(array=np.zeros((TRAIL_POINTS, 3), np.float32),
                                                      normalized=False)
        trail_colours = three.BufferAttribute(array=fading_colours(TRAIL_RGB, background, TRAIL_POINTS),
                                              normalized=False)
        trail_geometry = three.BufferGeometry(attributes={"position": self._trail_positions,
                                                          "color": trail_colours})
        # A line is always 1 px wide in WebGL; dots on the same geometry give the trail body.
        self.trail_line = three.Line(geometry=trail_geometry, frustumCulled=False, visible=False,
                                     material=three.LineBasicMaterial(vertexColors="VertexColors"))
        self.trail_dots = three.Points(geometry=trail_geometry, frustumCulled=False, visible=False,
                                       material=three.PointsMaterial(vertexColors="VertexColors", size=0.05,
                                                                     sizeAttenuation=True))
        self._frustum_positions = three.BufferAttribute(array=frustum_vertices(0, 0, 1, 60), normalized=False)
        self.frustum = three.LineSegments(
            geometry=three.BufferGeometry(attributes={"position": self._frustum_positions}),
            material=three.LineBasicMaterial(color=css_colour(FRUSTUM_RGB)), frustumCulled=False,
            visible=False)
        # Everyone else in view: one dim geometry for up to MAX_OTHERS skeletons.
        self._others_positions = three.BufferAttribute(array=others_vertices(None), normalized=False)
        others_geometry = three.BufferGeometry(attributes={"position": self._others_positions})
        self.others = three.LineSegments(geometry=others_geometry, frustumCulled=False,
                                         material=three.LineBasicMaterial(color=css_colour(OTHERS_RGB)))
        self.others_joints = three.Points(geometry=others_geometry, frustumCulled=False,
                                          material=three.PointsMaterial(color=css_colour(OTHERS_RGB),
                                                                        size=0.6 * joint_size_m,
                                                                        sizeAttenuation=True))
        self._target_z = float(target[2])
        self.world_offset = tuple(-float(v) for v in target)
        self.world = three.Group(children=[grid, axes, self.trail_line, self.trail_dots, self.frustum,
                                           self.others, self.others_joints, self.bones, self.joints],
                                 position=self.world_offset)
        cam_pos = tuple(float(c - t) for c, t in zip(camera_position, target, strict=True))
        # The default view, in scene coordinates (the world moves under it as the view follows).
        self._home = {"position": cam_pos, "quaternion": look_at_quaternion(cam_pos, (0, 0, 0), (0, 0, 1)),
                      "zoom": 1.0}
        self.camera = three.PerspectiveCamera(up=[0, 0, 1], fov=45, aspect=width / height, near=0.05,
                                              far=100, **self._home)
        self.controls = three.OrbitControls(controlling=self.camera, target=[0, 0, 0])
        self.scene = three.Scene(children=[self.world, light, self.camera], background=background)
        self.widget = three.Renderer(camera=self.camera, scene=self.scene, controls=[self.controls],
                                     width=width, height=height, antialias=True,
                                     layout=widgets.Layout(width=f"{width}px", height=f"{height}px"))
        self.feed = PoseFeed(positions=self._positions, trail=self._trail_positions,
                             others=self._others_positions, renderer=self.widget)
        self._others_shown = others_vertices(None)
        self._shown = np.zeros((N_VERTS, 3), np.float32)
        self._trail = Trail()
        self._centre = (float(target[0]), float(target[1]))
        self._centred = False
        self.camera_shown: dict[str, float] | None = None
        self.stale = False
        self.updates = 0

    @property
    def positions(self) -> np.ndarray:
        """The vertex array shown in the browser: (32, 3) float32 in bone order (a copy)."""
        return self._shown.copy()

    @property
    def trail(self) -> np.ndarray:
        """The trail's points, oldest first: (TRAIL_POINTS, 3) float32 metres (``Trail.points``)."""
        return self._trail.points()

    def new_trail(self) -> None:
        """Start the trail afresh from the next pose (another person is followed: a trail
        running on would draw a line from one person to the other), and frame that person as
        the first was framed (``_follow``): the view stayed where the one followed before had
        put it, and a person followed nearer the camera stood at the canvas's bottom edge, cut."""
        self._trail = Trail()
        self._centred = False

    @property
    def view_centre(self) -> tuple[float, float]:
        """(x, y) metres: the floor point the grid is centred on and the view orbits above."""
        return self._centre

    def reset_view(self) -> bool:
        """Put the view back to its default framing: the camera where it started relative to the
        grid and the orbit target above the grid's centre (``view_centre``, at a standing
        person's middle), wherever the view has followed the person since.

        Orbiting, panning and zooming in the page move the camera and the target there; the page
        tells the kernel where they ended up at the end of each drag or scroll, so setting them
        back here reaches the page.

        Returns:
            True if it sent (the camera or the target had been moved).
        """
        moved = {name: home for name, home in self._home.items()
                 if np.ravel(getattr(self.camera, name)).tolist() != np.ravel(home).tolist()}
        with self.camera.hold_sync():  # one message for the camera's position, turn and zoom
            for name, home in moved.items():
                setattr(self.camera, name, home)
        panned = tuple(self.controls.target) != (0.0, 0.0, 0.0)  # the target is the scene's origin
        if panned:
            self.controls.target = (0.0, 0.0, 0.0)
        return bool(moved) or panned

    def set_camera(self, pitch_deg: float, roll_deg: float, height_m: float, fov_deg: float,
                   aspect: float = 16 / 9) -> bool:
        """Draw the recording camera as a small frustum (see ``frustum_vertices``).

        Plain numbers, e.g. a session's ``camera_pitch_deg``, ``camera_roll_deg`` and
        ``camera_height_m``. One state message when they change, none otherwise.

        Args:
            pitch_deg: how far the camera looks down below the horizon (negative: up).
            roll_deg: the room's up as seen in the image, degrees from the image's up.
            height_m: the lens' height above the floor; the camera is at (0, 0, height_m)
                looking along +y (the world frame's origin is below the camera). Below 0 (the
                feet above the lens: a camera below a stage or stairs, or a poor estimate) it is
                drawn below the floor, as estimated.
            fov_deg: field of view across the image's longer side.
            aspect: the image's width / height.

        Returns:
            True if it sent (the numbers changed).

        Raises:
            Pose3DValueError: naming a value that is not a finite number, a field of view
                outside (0, 180) degrees or an aspect of 0 or below.
        """
        values = {"pitch_deg": pitch_deg, "roll_deg": roll_deg, "height_m": height_m, "fov_deg": fov_deg,
                  "aspect": aspect}
        for name, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                    or not math.isfinite(value):
                raise Pose3DValueError(f"set_camera: {name} must be a finite number, got {value!r}")
        if not 0 < fov_deg < 180 or aspect <= 0:
            raise Pose3DValueError(f"set_camera: need 0 < fov_deg < 180 and aspect > 0; "
                                   f"got fov_deg={fov_deg!r}, aspect={aspect!r}")
        values = {k: float(v) for k, v in values.items()}
        if values == self.camera_shown:
            return False
        self._frustum_positions.array = frustum_vertices(**values)
        self.frustum.visible = self.axes.visible = True
        self.camera_shown = values
        return True

    def hide_camera(self) -> bool:
        """Take the recording camera out of the view (no estimate of it any more).

        Returns:
            True if it sent (the camera was drawn).
        """
        if self.camera_shown is None:
            return False
        self.frustum.visible = self.axes.visible = False
        self.camera_shown = None
        return True

    def show_estimate(self, estimate: Any, frame_size: tuple[int, int] | None = None) -> bool:
        """Draw a camera estimate; see ``set_camera``.

        Args:
            estimate: a ``pose3d_nb.world.CameraEstimate``, or a session's metadata (a mapping
                with ``camera_pitch_deg``, ``camera_roll_deg``, ``camera_height_m`` and
                ``focal_px``, as ``PoseEngine.metadata()`` and ``Pose3D.camera_estimate`` give).
            frame_size: (width, height) of the frames, for a mapping's field of view and aspect.

        Returns:
            True if it sent (the estimate changed, or a camera drawn before was taken out);
            False also when a mapping lacks those keys or ``frame_size`` is missing (nothing to
            draw: the session is not world-grounded).

        Before the first person was placed there is no estimate, only the level camera
        ``pose3d_nb.world`` assumes meanwhile (``up_source`` / ``camera_up_source``
        "assumed"): nothing is drawn then, and a camera drawn before (another source's) is
        taken out.
        """
        up_source = (estimate.get("camera_up_source") if isinstance(estimate, Mapping)
                     else getattr(estimate, "up_source", None))
        if up_source == "assumed":
            return self.hide_camera()
        if isinstance(estimate, Mapping):
            keys = ("camera_pitch_deg", "camera_roll_deg", "camera_height_m", "focal_px")
            if frame_size is None or any(not isinstance(estimate.get(k), (int, float)) for k in keys):
                return False
            pitch, roll, height, focal = (float(estimate[k]) for k in keys)
            width, tall = frame_size
            fov = math.degrees(2 * math.atan(max(width, tall) / (2 * focal))) if focal > 0 else math.nan
            return self.set_camera(pitch, roll, height, fov, width / tall)
        frame, lens = estimate.frame, estimate.intrinsics
        return self.set_camera(frame.pitch_deg, frame.roll_deg, float(frame.height), lens.fov_deg,
                               lens.width / lens.height)

    def sync_state(self) -> bool:
        """Store the shown pose and trail in the widget state (a message for each that changed,
        answered once by pythreejs).

        Call it when the poses pause (e.g. after Stop), not per frame.

        Returns:
            True if it sent a message (the stored pose or trail was another one).
        """
        sent = False
        trail = self.trail
        if not np.array_equal(np.asarray(self._trail_positions.array), trail):
            self._trail_positions.array = trail
            sent = True
        if not np.array_equal(np.asarray(self._positions.array), self._shown):
            self._positions.array = self._shown.copy()
            sent = True
        if not np.array_equal(np.asarray(self._others_positions.array), self._others_shown):
            self._others_positions.array = self._others_shown.copy()
            sent = True
        return sent

    @property
    def others_positions(self) -> np.ndarray:
        """The other people's vertex array shown in the browser (``others_vertices``; a copy)."""
        return self._others_shown.copy()

    def update(self, joints: np.ndarray | None, timestamp: float | None = None,
               others: np.ndarray | None = None) -> None:
        """Show a pose; ``None`` or an all-missing pose keeps the previous pose, faded.

        Never raises on bad numbers (NaN, inf, huge): those joints are missing.

        Args:
            joints: (17, 3) metres, z-up world, floor at z=0; NaN rows are missing. Or None.
            timestamp: seconds, for the trail's length in time (default: the monotonic clock).
            others: (M, 17, 3) the other people in view, same frame (drawn dimmed; M may be 0),
                or None to leave them as they are.

        Raises:
            Pose3DValueError: a shape other than (17, 3) (a programming error).
        """
        if joints is None:
            self._set_stale(True)
            return
        arr = np.asarray(joints, dtype=np.float64)
        if arr.shape != (H36M.num_joints, 3):
            raise Pose3DValueError(f"joints must be ({H36M.num_joints}, 3), got {arr.shape}")
        verts, any_valid = bone_vertices(arr)
        if not any_valid:
            self._set_stale(True)
            return
        pelvis = arr[_PELVIS]
        if np.isfinite(pelvis).all() and np.all(np.abs(pelvis) < MAX_ABS_M):
            self._trail.add(pelvis, time.monotonic() if timestamp is None else float(timestamp))
            if not self.trail_line.visible:
                self.trail_line.visible = self.trail_dots.visible = True
            self._follow(pelvis)
        others_verts = None if others is None else others_vertices(others)
        self.feed.send_vertices(verts, self.trail, others_verts)  # the one message of this frame
        self._shown = verts
        if others_verts is not None:
            self._others_shown = others_verts
        self.updates += 1
        if not self.bones.visible:
            self.bones.visible = self.joints.visible = True
        self._set_stale(False)

    def _follow(self, pelvis: np.ndarray) -> None:
        """Move the grid and the orbit target: at the first pose halfway between the camera
        (the world's origin) and the person, so both are in view; then onto the person whenever
        they near the grid's edge. Whole metres, so grid lines stay on the same floor lines."""
        reach = self.floor_size_m / 2 - FOLLOW_MARGIN_M
        x, y = float(pelvis[0]), float(pelvis[1])  # plain floats: this runs every pose
        if self._centred and abs(x - self._centre[0]) <= reach and abs(y - self._centre[1]) <= reach:
            return
        half = 1.0 if self._centred else 0.5
        self._centred = True
        centre = (float(np.round(x * half)) + 0.0, float(np.round(y * half)) + 0.0)  # never -0.0
        if centre == self._centre:
            return
        self._centre = centre
        self.grid.position = (*centre, 0.0)
        self.world_offset = (-centre[0], -centre[1], -self._target_z)
        self.world.position = self.world_offset

    def _set_stale(self, stale: bool) -> None:
        if stale == self.stale:
            return  # only send material changes when the state flips
        self.stale = stale
        opacity = self.STALE_OPACITY if stale else 1.0
        self.bone_material.opacity = opacity
        self.joint_material.opacity = opacity
