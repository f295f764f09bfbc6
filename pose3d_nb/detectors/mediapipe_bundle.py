"""MediaPipe's multi-person ``PoseLandmarker`` model bundle, built offline from the mediapipe wheel.

The Tasks API (``mediapipe.tasks.python.vision.PoseLandmarker``, ``num_poses=N``) reads a
``.task`` zip that the wheel does not ship, but the wheel holds both networks it needs
(``modules/pose_detection/pose_detection.tflite`` and
``modules/pose_landmark/pose_landmark_full.tflite``). :func:`pose_landmarker_bundle` adds the
input metadata the Tasks API requires and zips them, uncompressed, into the user cache
directory on first use. Nothing is downloaded and nothing is committed.

The input normalisation is the one MediaPipe's own pose graphs use: the person detector takes
pixels scaled to [-1, 1], the landmark network pixels scaled to [0, 1]. (Scaling the detector's
input to [0, 1] as well runs, but finds nobody in 82 of the 230 frames of the two-people sample
against 39 with [-1, 1].)
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from pose3d_nb.detectors.base import DetectorUnavailable

_INSTALL = "pip install mediapipe==0.10.21"

#: (file in the mediapipe wheel, name inside the bundle, normalisation mean, std)
_PARTS = (
    ("modules/pose_detection/pose_detection.tflite", "pose_detector.tflite", 127.5, 127.5),
    ("modules/pose_landmark/pose_landmark_full.tflite", "pose_landmarks_detector.tflite", 0.0, 255.0),
)


def cache_dir() -> Path:
    """Where built models go: ``$POSE3D_CACHE_DIR``, else the platform's user cache dir."""
    explicit = os.environ.get("POSE3D_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pose3d_nb"


def pose_landmarker_bundle(directory: Path | None = None) -> Path:
    """Path of the ``.task`` bundle, building it first if needed (about 9 MB, under a second).

    Raises:
        DetectorUnavailable: mediapipe (or one of its two pose models) is not installed.
    """
    try:
        import mediapipe
        from mediapipe.tasks.python.metadata.metadata_writers import metadata_info, metadata_writer
    except ImportError as exc:
        raise DetectorUnavailable(f"mediapipe is not installed ({exc}): {_INSTALL}") from exc
    directory = Path(directory) if directory is not None else cache_dir()
    path = directory / f"pose_landmarker_full_mediapipe-{mediapipe.__version__}.task"
    if path.exists():
        return path
    root = Path(mediapipe.__file__).parent
    directory.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(suffix=".task.part", dir=directory)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_STORED) as bundle:
            for source, name, mean, std in _PARTS:
                if not (root / source).exists():
                    raise DetectorUnavailable(f"the mediapipe wheel has no {source}; {_INSTALL}")
                writer = metadata_writer.MetadataWriter.create((root / source).read_bytes())
                writer.add_general_info(name, "BlazePose from the mediapipe wheel")
                writer.add_image_input(
                    norm_mean=[mean], norm_std=[std],
                    color_space_type=metadata_info._metadata_fb.ColorSpaceType.RGB,
                )
                model, _ = writer.populate()
                bundle.writestr(name, model)
        os.replace(temporary, path)  # atomic: two processes building at once both end well
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path
