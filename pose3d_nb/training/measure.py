"""Measure MediaPipe's behaviour on a video: the numbers ``skeleton_model`` and ``noise`` use.

``python -m pose3d_nb.training.measure VIDEO`` prints, for the followed person:

- bone proportions of MediaPipe's world landmarks (``MEDIAPIPE_PROPORTIONS``);
- how far in front of the mid-shoulder point the nose sits, in trunk lengths (``NOSE_FORWARD``);
- frame-to-frame 2D jitter per keypoint in fractions of the person's height (``JITTER_COCO``);
- the fraction of frames each keypoint has visibility < 0.5 (``OCCLUDED_COCO``), and how often
  nobody is found;
- that fraction for the limbs on the side turned away and the side turned towards the camera, by
  how far the body is turned (``FAR_SIDE_OCCLUDED_COCO``, ``occlusion="view"``).

The shipped constants were measured on the two-people clip of the shared data (outside this
repository, see docs/lifter_training.md), a clip outside the accuracy benchmark.
"""

from __future__ import annotations

import sys

import numpy as np

from pose3d_nb.lifting.mediapipe_world import blazepose_to_h36m
from pose3d_nb.training.skeleton_model import SIZE_BONES, bone_lengths


def detect(video: str, detector: str = "mediapipe") -> dict[str, np.ndarray]:
    """Keypoints (T, 17, 2), scores (T, 17), world (T, 33, 3), track (T,) of a video's frames, as
    ``detector`` (a registered MediaPipe detector) follows one person."""
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.sources import open_source

    keys = ("keypoints", "scores", "world", "track")
    rows: dict[str, list] = {k: [] for k in keys}
    with open_source(video) as frames, create_detector(detector) as found_by:
        for frame in frames:
            found = found_by(frame)
            rows["keypoints"].append(found.keypoints)
            rows["scores"].append(found.scores)
            rows["world"].append(found.extras.get("world_landmarks", np.full((33, 3), np.nan)))
            rows["track"].append(found.extras.get("track_id", -1) if found.found else -1)
    return {k: np.asarray(v) for k, v in rows.items()}


def proportions(world: np.ndarray) -> tuple[np.ndarray, float]:
    """(T, 33, 3) world landmarks -> (16,) median bone / body size, nose forward (trunk lengths)."""
    found = world[np.isfinite(world).all(axis=(1, 2))]
    joints = np.stack([blazepose_to_h36m(w) for w in found])
    lengths = np.median(bone_lengths(joints), axis=0)
    joints = joints * np.array([1, -1, -1], np.float32)  # y down -> y up, a rotation
    thorax, pelvis = joints[:, 8], joints[:, 0]
    across, up = joints[:, 11] - joints[:, 14], thorax - pelvis
    forward = np.cross(across, up)
    forward /= np.linalg.norm(forward, axis=1, keepdims=True)
    nose = ((joints[:, 9] - thorax) * forward).sum(axis=1) / np.linalg.norm(up, axis=1)
    return lengths / lengths[SIZE_BONES].sum(), float(np.median(nose))


def jitter(keypoints: np.ndarray, track: np.ndarray) -> np.ndarray:
    """(17,) robust white-noise std per keypoint (x, y averaged) / the person's height."""
    found = np.isfinite(keypoints).all(axis=(1, 2))
    height = np.where(found, np.ptp(np.nan_to_num(keypoints[..., 1]), axis=1), np.nan)
    residuals = [
        (keypoints[t] - (keypoints[t - 1] + keypoints[t + 1]) / 2) / height[t]
        for t in range(1, len(keypoints) - 1)
        if found[t - 1 : t + 2].all() and track[t - 1] == track[t] == track[t + 1]
    ]
    residuals = np.abs(np.asarray(residuals))
    # Second difference of white noise has variance 1.5 sigma^2; MAD * 1.4826 estimates a std.
    return (1.4826 * np.median(residuals, axis=0) / np.sqrt(1.5)).mean(axis=-1)


TURN_BINS = ((0.0, 0.4), (0.4, 0.7), (0.7, 1.01))
_LIMB_PAIRS = {"elbow": (7, 8), "wrist": (9, 10), "knee": (13, 14), "ankle": (15, 16)}  # COCO left, right


def _share(flags: np.ndarray) -> float:
    return float(flags.mean()) if flags.size else float("nan")


def occlusion_by_turn(world: np.ndarray, scores: np.ndarray) -> list[dict]:
    """(T, 33, 3) world landmarks (camera-aligned axes) and (T, 17) COCO visibilities -> per
    ``TURN_BINS`` bin of the lateral axis's component along the view direction: the frames and,
    per limb joint, the share with visibility < 0.5 on the far and on the near side."""
    from pose3d_nb.training.noise import far_side

    found = np.isfinite(world).all(axis=(1, 2))
    joints = np.stack([blazepose_to_h36m(w) for w in world[found]])
    # The landmarks are hip-centred with the camera's axes: put the body far down the optical axis.
    away = far_side(joints + np.array([0.0, 0.0, 100.0]), np.arange(17))
    low = scores[found] < 0.5
    rows = []
    for lo, hi in TURN_BINS:
        row: dict = {"turn": (lo, hi)}
        for name, (left, right) in _LIMB_PAIRS.items():
            turned = np.abs(away[:, left])
            inside = (turned >= lo) & (turned < hi)
            left_far = away[:, left] > 0
            far = np.where(left_far, low[:, left], low[:, right])[inside]
            near = np.where(left_far, low[:, right], low[:, left])[inside]
            row["frames"] = int(inside.sum())  # the legs' (hips') count: the last pair's
            row[name] = (_share(far), _share(near))
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    """``python -m pose3d_nb.training.measure VIDEO [--detector NAME]``: print the measurements;
    the exit status (2: bad arguments; 1: a video that cannot be read or has nobody in it)."""

    from pose3d_nb.cli.common import OneLineParser, registered, tool_exit_status
    from pose3d_nb.detectors.registry import DETECTORS

    parser = OneLineParser(
        prog="python -m pose3d_nb.training.measure",
        description="Measure MediaPipe's bone proportions, 2D jitter and occlusion on a video.",
    )
    parser.add_argument("video", help="a video file, an image folder, or 'sample'")
    # Any case, as ``pose3d run --detector`` takes it ("MediaPipe" is "mediapipe").
    parser.add_argument("--detector", default="mediapipe", choices=DETECTORS.names(),
                        type=registered(DETECTORS),
                        help="the MediaPipe detector (default mediapipe; mediapipe-people follows one)")
    args = parser.parse_args(argv)
    return tool_exit_status(lambda: _report(args.video, args.detector))


def _report(video: str, detector: str) -> int:
    from pose3d_nb.errors import Pose3DValueError

    found = detect(video, detector)
    ok = np.isfinite(found["keypoints"]).all(axis=(1, 2))
    if not np.isfinite(found["world"]).all(axis=(1, 2)).any():
        raise Pose3DValueError(
            f"no frame of {video} ({len(ok)} frames) has MediaPipe world landmarks from {detector}: "
            "nobody found, or not a MediaPipe detector"
        )
    bones, nose = proportions(found["world"])
    np.set_printoptions(precision=4, suppress=True)
    print(f"frames {len(ok)}, person found in {ok.mean():.3f}")
    print(f"bone proportions (Human3.6M tree order): {bones}")
    print(f"nose in front of the shoulders: {nose:.3f} trunk lengths")
    print(f"jitter per COCO keypoint (fraction of height): {jitter(found['keypoints'], found['track'])}")
    print(f"visibility < 0.5 per COCO keypoint: {(found['scores'][ok] < 0.5).mean(axis=0)}")
    for row in occlusion_by_turn(found["world"], found["scores"]):
        shares = ", ".join(f"{name} {row[name][0]:.2f} / {row[name][1]:.2f}" for name in _LIMB_PAIRS)
        print(f"turned {row['turn'][0]}-{row['turn'][1]} ({row['frames']} frames), visibility < 0.5 "
              f"far / near side: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
