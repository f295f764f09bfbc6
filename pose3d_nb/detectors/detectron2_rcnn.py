"""Detectron2 Keypoint R-CNN: the original VideoPose3D project's 2D detector.

It finds every person (N per frame); the :class:`SubjectFollower` keeps following the same one.
About 4-6 s per frame on a 2-core CPU without a GPU: use it with a GPU, or offline.

Detectron2 is not on PyPI. This module imports it only when a detector is built, so the output
conversion (:func:`instances_to_candidates`) is importable and testable without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pose3d_nb.detectors.base import Candidates, DetectorUnavailable, FollowingDetector
from pose3d_nb.skeleton import NUM_JOINTS
from pose3d_nb.sources.frame import Frame

DEFAULT_CONFIG = "COCO-Keypoints/keypoint_rcnn_R_101_FPN_3x.yaml"
"""The model-zoo config VideoPose3D's inference script uses."""

INSTALL_HINT = (
    "Detectron2 is not on PyPI. Install a torchvision build that matches your torch "
    "(https://pytorch.org/get-started/locally/), then: "
    "pip install 'git+https://github.com/facebookresearch/detectron2.git'"
)


def _to_numpy(value: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like -> float32 NumPy array."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, np.float32)


def instances_to_candidates(instances: Any) -> Candidates:
    """Convert ``DefaultPredictor(...)["instances"]`` (detectron2 ``Instances``) to arrays.

    Uses ``pred_boxes.tensor`` (N, 4), ``scores`` (N,) and ``pred_keypoints`` (N, 17, 3: x, y,
    score), after moving them to the CPU. Detectron2's keypoint scores are spatial-softmax peak
    probabilities: small but comparable between joints.
    """
    instances = instances.to("cpu")
    n = len(instances)
    if n == 0:
        none = Candidates.none()
        return Candidates(none.boxes, none.keypoints, none.scores, confidences=np.zeros(0, np.float32))
    keypoints = _to_numpy(instances.pred_keypoints).reshape(n, NUM_JOINTS, 3)
    return Candidates(
        boxes=_to_numpy(instances.pred_boxes.tensor).reshape(n, 4),
        confidences=_to_numpy(instances.scores).reshape(n),
        keypoints=np.ascontiguousarray(keypoints[:, :, :2]),
        scores=np.clip(keypoints[:, :, 2], 0.0, 1.0),
    )


def build_predictor(
    config: str = DEFAULT_CONFIG, score_threshold: float = 0.7, device: str | None = None
) -> Callable[[np.ndarray], dict[str, Any]]:
    """Detectron2's ``DefaultPredictor`` for a model-zoo keypoint config.

    The weights come from the model zoo (downloaded and cached by Detectron2 on first use).
    ``device`` defaults to "cuda" when available, else "cpu".
    """
    try:
        import torch
        from detectron2 import model_zoo
        from detectron2.config import get_cfg
        from detectron2.engine import DefaultPredictor
    except ImportError as exc:
        raise DetectorUnavailable(
            f"detector 'detectron2' cannot import its packages ({exc}). {INSTALL_HINT}"
        ) from exc
    cfg = get_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(config))
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = score_threshold
    cfg.MODEL.WEIGHTS = model_zoo.get_checkpoint_url(config)
    cfg.MODEL.DEVICE = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return DefaultPredictor(cfg)


class Detectron2KeypointDetector(FollowingDetector):
    """Keypoint R-CNN (R101-FPN, COCO keypoints), following one person.

    Args:
        config: model-zoo config name.
        score_threshold: minimum person score (``MODEL.ROI_HEADS.SCORE_THRESH_TEST``).
        device: "cuda", "cpu", ...; default "cuda" when available.
        follow: keep following the same person (else the most confident one each frame, as the
            original VideoPose3D script did).
        fix_left_right: undo left/right label flips by temporal continuity.
        predictor: a ready callable taking a BGR (H, W, 3) uint8 image and returning
            ``{"instances": Instances}`` (built from ``config`` when None).

    Detection extras: ``box_score``, ``track_id``, ``swapped_left_right``, ``num_candidates``.
    """

    name = "detectron2"
    # Keypoint scores are small probabilities: compare every joint, not only "confident" ones.
    min_keypoint_score = 0.0

    def __init__(
        self,
        *,
        config: str = DEFAULT_CONFIG,
        score_threshold: float = 0.7,
        device: str | None = None,
        follow: bool = True,
        fix_left_right: bool = True,
        predictor: Callable[[np.ndarray], dict[str, Any]] | None = None,
    ) -> None:
        self._predictor = (
            predictor if predictor is not None else build_predictor(config, score_threshold, device)
        )
        super().__init__(follow=follow, fix_left_right=fix_left_right)

    def candidates(self, frame: Frame) -> Candidates:
        """Everyone found in ``frame``; DefaultPredictor takes BGR (it converts for the model)."""
        bgr = np.ascontiguousarray(frame.image[:, :, ::-1])
        return instances_to_candidates(self._predictor(bgr)["instances"])

    def close(self) -> None:
        self._predictor = None  # frees the model (and its GPU memory) once unreferenced
        super().close()
