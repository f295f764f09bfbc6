"""Show the lifter every person as if the camera looked straight at them.

A person away from the image centre is seen along a slanted ray: from above when low in a
level camera's image, from the side when near its edge. The lifter sees only 2D positions in
screen units and cannot know that angle, which depends on the lens as much as on the position
(and the zoom, ``lifting.zoom``, pushes an off-centre person further out). So each frame's
keypoints are first turned to a virtual camera at the same place, with the same lens, rotated to
look at the person (their keypoints' centre on its optical axis, no roll about it); the lifter's
pose is then turned back by the inverse rotation into the real camera's axes.

On held-out mocap through random cameras turned so the person sits up to 70 % of the way to the
image's edge (pitch -20..60, roll +-30, field of view 40..100, detector noise, the shipped lifter
with flip and its zoom; protocol seed 17, 1500 windows; a script outside the repository), MPJPE
went from 126.8 to 94.0 mm, PA-MPJPE from 61.3 to 59.9, and the pelvis frame's tilt against the
true up from 14.83 to 9.27 degrees; with the default 60-degree lens assumed instead of the true
one, 97.7 mm, 60.2 and 9.94 degrees. People within 5 degrees of the axis: 91.8 -> 90.5 mm. One
rotation per frame did as well as one per window (94.0 against 93.8 mm), so the streaming
lifter, which keeps each frame's first-layer output, can take each frame as it comes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pose3d_nb.lifting.keypoints import COCO_BODY_KEYPOINTS


def rotation_to_axis(ray: np.ndarray) -> np.ndarray:
    """(..., 3) rays in camera axes (x right, y down, z forward) -> (..., 3, 3) R with R @ ray
    along +z.

    No roll about the new axis: the new x axis stays perpendicular to the camera's y (down)
    axis, so an upright person stays upright. Rows of R are the new axes in camera coordinates.
    """
    z = np.asarray(ray, np.float64)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    return np.stack([x, np.cross(z, x), z], axis=-2)


def turn_back(joints: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """(..., 17, 3) joints in a virtual camera's axes -> the real camera's (R.T @ each joint)."""
    return (np.asarray(joints) @ np.asarray(rotation, np.float32)).astype(np.float32)


def _centre_ray(normalized: np.ndarray) -> np.ndarray | None:
    """(17, 2) undistorted normalised coordinates -> the ray to the body keypoints' centre, or
    None unless every body keypoint is seen: the centre of a part of the body is elsewhere, and
    the keypoints a lifter fills in from other frames must share their rotation."""
    body = normalized[COCO_BODY_KEYPOINTS]
    if not np.isfinite(body).all():
        return None
    x, y = body.mean(axis=0)
    return np.array([x, y, 1.0])


def _project_centred(normalized: np.ndarray, rotation: np.ndarray, intrinsics: Any) -> np.ndarray:
    """Undistorted normalised (17, 2) -> pixels of the virtual camera (same focal lengths, the
    principal point at the image centre, where the zoom and the screen coordinates put 0)."""
    rays = np.concatenate([normalized, np.ones((len(normalized), 1))], axis=1) @ rotation.T
    with np.errstate(invalid="ignore", divide="ignore"):
        x = intrinsics.fx * rays[:, 0] / rays[:, 2] + intrinsics.width / 2
        y = intrinsics.fy * rays[:, 1] / rays[:, 2] + intrinsics.height / 2
    return np.stack([x, y], axis=1).astype(np.float32)


class RayCentring:
    """(17, 2) pixel keypoints -> (the same seen by a camera turned to the person, that rotation).

    ``camera``, ``fov``, ``focal``: the lens, as ``world.intrinsics.resolve_intrinsics`` takes
    them (None: the default field of view, assumed as the world placement assumes it). A frame
    without every body keypoint keeps the previous frame's rotation (identity before any).
    """

    def __init__(self, camera: Any = None, fov: float | None = None, focal: float | None = None) -> None:
        self.set_lens(camera, fov, focal)

    def set_lens(self, camera: Any = None, fov: float | None = None, focal: float | None = None) -> None:
        """The lens from now on (the engine passes the user's ``camera=``/``fov=``/``focal=``)."""
        self._options = (camera, fov, focal)
        self._intrinsics: Any = None
        self.reset()

    def reset(self) -> None:
        """Forget the last rotation (new source)."""
        self._rotation = np.eye(3)

    def intrinsics_for(self, frame_size: tuple[int, int]) -> Any:
        """The lens for ``frame_size`` (width, height), resolved once per size."""
        from pose3d_nb.world.intrinsics import resolve_intrinsics

        size = (int(frame_size[0]), int(frame_size[1]))
        if self._intrinsics is None or (self._intrinsics.width, self._intrinsics.height) != size:
            self._intrinsics = resolve_intrinsics(*size, *self._options)
        return self._intrinsics

    def __call__(self, keypoints_px: np.ndarray, frame_size: tuple[int, int]
                 ) -> tuple[np.ndarray, np.ndarray]:
        """(17, 2) pixels (NaN where missing) -> ((17, 2) pixels of the turned camera, (3, 3) R)."""
        intrinsics = self.intrinsics_for(frame_size)
        normalized = intrinsics.normalize(np.asarray(keypoints_px, np.float64))
        ray = _centre_ray(normalized)
        if ray is not None:
            self._rotation = rotation_to_axis(ray)
        return _project_centred(normalized, self._rotation, intrinsics), self._rotation.copy()


def centre_clip(keypoints_px: np.ndarray, frame_size: tuple[int, int], camera: Any = None,
                fov: float | None = None, focal: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The whole-clip counterpart of :class:`RayCentring` (``pose3d lift``): (T, 17, 2) pixels ->
    ((T, 17, 2) centred pixels, (T, 3, 3) rotations). A frame without every body keypoint takes
    the nearest earlier frame's rotation, else the first later one's (identity: nobody at all)."""
    if len(keypoints_px) == 0:
        return np.asarray(keypoints_px, np.float32).copy(), np.zeros((0, 3, 3))
    intrinsics = RayCentring(camera, fov, focal).intrinsics_for(frame_size)
    normalized = intrinsics.normalize(np.asarray(keypoints_px, np.float64))
    rays = [_centre_ray(frame) for frame in normalized]
    first = next((ray for ray in rays if ray is not None), None)
    rotation = rotation_to_axis(first) if first is not None else np.eye(3)
    rotations = []
    for ray in rays:
        if ray is not None:
            rotation = rotation_to_axis(ray)
        rotations.append(rotation)
    centred = [_project_centred(frame, r, intrinsics) for frame, r in zip(normalized, rotations, strict=True)]
    shape = np.shape(keypoints_px)
    return np.stack(centred).reshape(shape).astype(np.float32), np.stack(rotations).reshape(-1, 3, 3)


def centre_windows(inputs: np.ndarray, focal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The evaluation counterpart (``pose3d bench viewpoints``): (N, T, K, 2) VideoPose3D screen
    coordinates (0 at the image centre) of body keypoints, each window's lens ``focal`` (N,) in
    the same units -> (the windows as turned cameras see them, each frame centred on its own
    keypoints' mean; (N, T, 3, 3) the rotations)."""
    inputs = np.asarray(inputs, np.float64)
    f = np.asarray(focal, np.float64).reshape(-1, 1, 1, 1)
    centre = inputs.mean(axis=2) / f[..., 0]  # (N, T, 2)
    rotations = rotation_to_axis(np.concatenate([centre, np.ones(centre.shape[:-1] + (1,))], axis=-1))
    rays = np.concatenate([inputs / f, np.ones(inputs.shape[:-1] + (1,))], axis=-1)
    turned = np.einsum("ntij,ntkj->ntki", rotations, rays)
    return (f * turned[..., :2] / turned[..., 2:]).astype(np.float32), rotations
