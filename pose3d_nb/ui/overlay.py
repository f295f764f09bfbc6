"""Draw a COCO-17 2D skeleton on a video frame and encode frames for the wire.

Pure image functions (numpy + OpenCV); the widgets call them, they know nothing of widgets.
"""

from __future__ import annotations

import cv2
import numpy as np

from pose3d_nb.errors import Pose3DRuntimeError, Pose3DValueError
from pose3d_nb.skeleton import COCO
from pose3d_nb.ui.style import MISSING_RGB, SIDE_RGB

#: Someone not followed: light grey, thin; the followed person's id label: yellow.
OTHER_PERSON_RGB = (185, 185, 185)
FOLLOWED_LABEL_RGB = (255, 220, 0)


def _joint_side(j: int) -> str:
    if j in COCO.left:
        return "left"
    if j in COCO.right:
        return "right"
    return "center"


def draw_skeleton_2d(
    image_rgb: np.ndarray,
    keypoints: np.ndarray | None,
    scores: np.ndarray | None,
    min_score: float = 0.3,
    missing_label: str = "no person",
) -> np.ndarray:
    """Draw bones and joints on a copy of ``image_rgb``.

    A joint is drawn when finite and ``score >= min_score``; a bone when both its joints are.
    Left bones are blue, right orange, centre grey. When no joint can be drawn the frame gets a
    red banner saying ``missing_label``, so a missing detection is visible rather than looking
    like a frozen overlay.

    Args:
        image_rgb: (H, W, 3) uint8 RGB; not modified.
        keypoints: (17, 2) float pixels (x right, y down) in COCO order, NaN for missing;
            None means no detection.
        scores: (17,) in [0, 1], or None (all keypoints trusted).
        min_score: the lowest score drawn.
        missing_label: the banner's text when nothing is drawn.

    Returns:
        (H, W, 3) uint8 RGB: the frame with the skeleton.

    Raises:
        Pose3DValueError: ``image_rgb`` is not (H, W, 3).
    """
    img = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    if img.ndim != 3 or img.shape[2] != 3:
        raise Pose3DValueError(f"image_rgb must be (H, W, 3), got {img.shape}")
    h, w = img.shape[:2]
    if keypoints is None:
        ok = np.zeros(COCO.num_joints, bool)
        kp = np.zeros((COCO.num_joints, 2))
    else:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(COCO.num_joints, 2)
        ok = np.isfinite(kp).all(axis=1)
        if scores is not None:
            sc = np.asarray(scores, dtype=np.float64).reshape(COCO.num_joints)
            ok &= np.nan_to_num(sc, nan=0.0) >= min_score
        # Keypoints far outside the frame would make OpenCV draw huge lines; treat as missing.
        ok &= (np.abs(np.nan_to_num(kp)) < 4 * max(h, w)).all(axis=1)

    # Line widths scale with the frame so the skeleton reads the same at 360 p and 1080 p.
    thickness = max(2, round(min(h, w) / 160))
    radius = thickness + 1
    pts = np.zeros((COCO.num_joints, 2), np.int32)
    pts[ok] = np.round(kp[ok]).astype(np.int32)
    for a, b in COCO.bones:
        if ok[a] and ok[b]:
            colour = SIDE_RGB[COCO.bone_side((a, b))]
            cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), colour, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        centre = tuple(map(int, pts[j]))
        cv2.circle(img, centre, radius + 1, (20, 20, 20), -1, cv2.LINE_AA)  # dark rim: visible on light bg
        cv2.circle(img, centre, radius, SIDE_RGB[_joint_side(int(j))], -1, cv2.LINE_AA)
    if not ok.any():
        _banner(img, missing_label)
    return img


def draw_people_2d(
    image_rgb: np.ndarray,
    ids: np.ndarray,
    keypoints: np.ndarray,
    scores: np.ndarray | None,
    followed: int | None,
    min_score: float = 0.3,
) -> np.ndarray:
    """Everyone else's skeleton, dimmed, each labelled with its track id, on a copy of the image.

    The followed person (``followed``) gets only a bright id label here: their skeleton is drawn
    in colour by ``draw_skeleton_2d`` on top.

    Args:
        image_rgb: (H, W, 3) uint8 RGB; not modified.
        ids: (M,) track ids; keypoints: (M, 17, 2) pixels; scores: (M, 17) or None.
        followed: the followed person's id, or None.
        min_score: the lowest score drawn.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    img = np.ascontiguousarray(image_rgb, dtype=np.uint8).copy()
    h, w = img.shape[:2]
    thickness = max(1, round(min(h, w) / 240))
    scale = max(0.4, min(h, w) / 600)
    for row, track_id in enumerate(np.asarray(ids).tolist()):
        kp = np.asarray(keypoints[row], np.float64)
        ok = np.isfinite(kp).all(axis=1) & (np.abs(np.nan_to_num(kp)) < 4 * max(h, w)).all(axis=1)
        if scores is not None:
            ok &= np.nan_to_num(np.asarray(scores[row], np.float64), nan=0.0) >= min_score
        if not ok.any():
            continue
        mine = track_id == followed
        if not mine:
            for a, b in COCO.bones:
                if ok[a] and ok[b]:
                    cv2.line(img, tuple(map(int, np.round(kp[a]))), tuple(map(int, np.round(kp[b]))),
                             OTHER_PERSON_RGB, thickness, cv2.LINE_AA)
        x, y = np.round(kp[ok][:, 0].min()).astype(int), np.round(kp[ok][:, 1].min()).astype(int)
        colour = FOLLOWED_LABEL_RGB if mine else OTHER_PERSON_RGB
        cv2.putText(img, str(track_id), (int(x), max(int(y) - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (20, 20, 20), 3 * thickness, cv2.LINE_AA)
        cv2.putText(img, str(track_id), (int(x), max(int(y) - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    colour, thickness, cv2.LINE_AA)
    return img


def _banner(img: np.ndarray, text: str) -> None:
    """Red strip with white text across the top of ``img`` (in place)."""
    h, w = img.shape[:2]
    bh = max(18, h // 12)
    img[:bh] = (0.35 * img[:bh] + 0.65 * np.array(MISSING_RGB)).astype(np.uint8)
    scale = bh / 36
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    if tw > w - 8:  # a longer text on a tall, narrow frame: smaller, not cut at the edges
        scale *= (w - 8) / tw
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    org = (max(4, (w - tw) // 2), (bh + th) // 2)
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


def fit_width(image_rgb: np.ndarray, max_width: int | None) -> tuple[np.ndarray, float]:
    """Downscale so the width is at most ``max_width`` (never upscale).

    Args:
        image_rgb: (H, W, 3) uint8 RGB.
        max_width: the widest result in pixels; None or 0 keeps the size.

    Returns:
        ``(image, scale)``: the image, and the factor pixel coordinates multiply by.
    """
    w = image_rgb.shape[1]
    if not max_width or w <= max_width:
        return image_rgb, 1.0
    scale = max_width / w
    size = (max_width, max(1, round(image_rgb.shape[0] * scale)))
    # INTER_AREA: the right filter for shrinking (no aliasing shimmer on a live view).
    return cv2.resize(image_rgb, size, interpolation=cv2.INTER_AREA), scale


def encode_jpeg(image_rgb: np.ndarray, quality: int = 80, max_width: int | None = 640) -> bytes:
    """JPEG bytes of an RGB image, downscaled to at most ``max_width`` px wide.

    JPEG, not PNG: small enough to send every displayed frame (``docs/benchmarks.md``).

    Args:
        image_rgb: (H, W, 3) uint8 RGB.
        quality: JPEG quality, 0-100.
        max_width: the widest result in pixels; None keeps the size.

    Returns:
        The JPEG file's bytes.

    Raises:
        Pose3DRuntimeError: OpenCV could not encode the image.
    """
    img, _ = fit_width(np.ascontiguousarray(image_rgb, dtype=np.uint8), max_width)
    bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise Pose3DRuntimeError(f"OpenCV could not encode a {img.shape} image as JPEG")
    return buf.tobytes()
