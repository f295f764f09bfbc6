"""A camera's intrinsics: focal lengths, principal point and lens distortion, in pixels.

Where they come from, most trusted first:

- an OpenCV-style calibration file (``load_calibration``), JSON or TOML::

      {"K": [[fx, 0, cx], [0, fy, cy], [0, 0, 1]],
       "distortion": [k1, k2, p1, p2],          # optional; OpenCV order, 4, 5 or 8 numbers
       "width": 1088, "height": 1920}           # optional; the image size K refers to

  (TOML: ``K = [[...], [...], [...]]``, ``distortion = [...]``, ``width = 1088``.) ``fx``,
  ``fy``, ``cx``, ``cy`` may be given as four keys instead of ``K``. When the file names an
  image size and the video has another, K is scaled to the video;
- a focal length in pixels (``focal=``), principal point at the image centre;
- a field of view in degrees across the image's longer side (``fov=``);
- otherwise ``DEFAULT_FOV_DEG`` across the longer side, recorded as assumed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import tomllib

from pose3d_nb.errors import Pose3DFileNotFoundError, Pose3DValueError
from pose3d_nb.values import is_positive_number, is_real_number

#: Field of view assumed across the image's longer side when nothing is given. A phone's main
#: camera and most webcams are 60-70 degrees on the long side; 60 is what VideoPose3D-style
#: pipelines commonly assume.
DEFAULT_FOV_DEG = 60.0
FOV_RANGE_DEG = (10.0, 170.0)
#: How far a video's aspect ratio may differ from the calibration's for K to be scaled to it: a
#: file without width/height is taken as twice its principal point, a few percent off; beyond
#: this the video is rotated or cropped, and scaling x and y apart would distort the lens.
ASPECT_TOLERANCE = 0.1


class CalibrationNotFoundError(Pose3DFileNotFoundError, Pose3DValueError):
    """A calibration file (``camera=``, ``--camera``) that is not there: a value the caller
    gave that cannot be used, as a file that does not parse is (``Pose3DValueError``: the command
    line refuses both with exit status 2), and still a ``FileNotFoundError``."""


class FieldOfViewError(Pose3DValueError):
    """A focal length whose field of view is out of range for the video's image size: a value
    the caller chose that only the first frame can judge (``pose3d run`` refuses it as it
    refuses the values it checks first, exit status 2)."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera with OpenCV distortion, for one image size.

    fx, fy: focal lengths in pixels. cx, cy: principal point in pixels (x right, y down).
    width, height: the image size these refer to. distortion: OpenCV coefficients
    (k1, k2, p1, p2[, k3[, k4, k5, k6]]), empty for none. source: how the values were obtained
    ("assumed", "fov", "focal", "file"; "given" for one built by hand and passed as ``camera=``),
    recorded in session metadata. size_given: False when width and height are a guess (a
    calibration file without them: twice the principal point); ``for_size`` then scales K by
    one factor instead of refusing another aspect ratio.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: tuple[float, ...] = ()
    source: str = "given"  # the pipeline's own default lens says "assumed" (resolve_intrinsics)
    size_given: bool = True

    def __post_init__(self) -> None:
        for name in ("fx", "fy"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value > 0):
                raise Pose3DValueError(
                    f"focal length {name} must be a positive number of pixels, got {value!r}"
                )
        for name in ("cx", "cy"):
            if not math.isfinite(getattr(self, name)):
                raise Pose3DValueError(f"principal point {name} must be finite, got {getattr(self, name)!r}")
        if self.width < 1 or self.height < 1:
            raise Pose3DValueError(f"image size must be positive, got {self.width}x{self.height}")
        if len(self.distortion) not in (0, 4, 5, 8) or not all(math.isfinite(d) for d in self.distortion):
            raise Pose3DValueError(
                f"distortion must be 4, 5 or 8 finite OpenCV coefficients, got {list(self.distortion)}"
            )

    @property
    def focal(self) -> float:
        """Mean focal length in pixels."""
        return (self.fx + self.fy) / 2

    @property
    def fov_deg(self) -> float:
        """Field of view across the longer side, degrees."""
        long_side, f = (self.width, self.fx) if self.width >= self.height else (self.height, self.fy)
        return math.degrees(2 * math.atan(long_side / (2 * f)))

    @property
    def matrix(self) -> np.ndarray:
        """(3, 3) K."""
        return np.array([[self.fx, 0, self.cx], [0, self.fy, self.cy], [0, 0, 1]], dtype=np.float64)

    def for_size(self, width: int, height: int) -> Intrinsics:
        """The same camera for an image resized to ``width`` x ``height`` (K scaled).

        ``Pose3DValueError`` when the aspect ratio differs by more than ``ASPECT_TOLERANCE``. A
        size that was a guess (``size_given`` False) is scaled by one factor, the geometric mean
        of the two sides' ratios: the guess (twice the principal point) is off by where the
        principal point really lies, so the ratios of the sides say little about the lens.
        """
        sx, sy = width / self.width, height / self.height
        if not self.size_given:
            sx = sy = math.sqrt(sx * sy)
        elif (width, height) == (self.width, self.height):
            return self
        elif abs(math.log((width / height) / (self.width / self.height))) > math.log1p(ASPECT_TOLERANCE):
            raise Pose3DValueError(
                f"the camera's intrinsics are for {self.width}x{self.height} images, the video is "
                f"{width}x{height}: K cannot be scaled to another aspect ratio (a rotated or cropped "
                "video); calibrate at the video's size, or give the focal length instead"
            )
        return replace(
            self,
            fx=self.fx * sx,
            fy=self.fy * sy,
            cx=self.cx * sx,
            cy=self.cy * sy,
            width=int(width),
            height=int(height),
            size_given=True,
        )

    def normalize(self, keypoints: np.ndarray) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) undistorted normalised image coordinates (x/z, y/z).

        NaN stays NaN.
        """
        points = np.asarray(keypoints, dtype=np.float64)
        if not self.distortion:
            return np.stack([(points[..., 0] - self.cx) / self.fx, (points[..., 1] - self.cy) / self.fy], -1)
        import cv2

        flat = points.reshape(-1, 1, 2)
        finite = np.isfinite(flat).all(axis=-1)[:, 0]
        out = np.full(flat.shape, np.nan)
        if finite.any():
            out[finite] = cv2.undistortPoints(
                np.ascontiguousarray(flat[finite]), self.matrix, np.asarray(self.distortion, np.float64)
            )
        return out.reshape(points.shape)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) camera-frame points (x right, y down, z forward) -> (..., 2) pixels, no distortion."""
        points = np.asarray(points, dtype=np.float64)
        z = points[..., 2]
        return np.stack([self.fx * points[..., 0] / z + self.cx, self.fy * points[..., 1] / z + self.cy], -1)


def check_fov(fov: float) -> float:
    """``fov`` degrees, or ``Pose3DValueError`` naming it when outside (10, 170)."""
    low, high = FOV_RANGE_DEG
    if not (is_real_number(fov) and math.isfinite(fov) and low < fov < high):  # True is not 1 degree
        raise Pose3DValueError(
            f"field of view must be between {low:g} and {high:g} degrees (exclusive), got {fov!r}"
        )
    return float(fov)


def check_focal(focal: float) -> float:
    """``focal`` pixels, or ``Pose3DValueError`` naming it when not a positive number (a bool
    is none: ``True`` is not 1 pixel). Its field of view is checked once the image size is
    known (``check_focal_for_size``)."""
    if not is_positive_number(focal):
        raise Pose3DValueError(f"focal length must be a positive number of pixels, got {focal!r}")
    return float(focal)


def check_focal_for_size(focal: float, width: int, height: int) -> float:
    """``focal`` pixels for a ``width`` x ``height`` image, or ``Pose3DValueError`` when its
    field of view across the longer side is outside ``FOV_RANGE_DEG``, as ``check_fov`` refuses
    a field of view: a focal of 20 px on a 960 px video is a 176 degree lens, whose rays no
    pose fits (every joint came out NaN, without a word)."""
    focal = check_focal(focal)
    low, high = FOV_RANGE_DEG
    fov = math.degrees(2 * math.atan(max(width, height) / (2 * focal)))
    if not low < fov < high:
        fitting = [max(width, height) / (2 * math.tan(math.radians(limit) / 2)) for limit in (high, low)]
        raise FieldOfViewError(
            f"focal length {focal:g} px is a {fov:.3g} degree field of view across the "
            f"{width}x{height} image's longer side; it must be between {low:g} and {high:g} degrees "
            f"(a focal length between {fitting[0]:.4g} and {fitting[1]:.4g} px for this image)"
        )
    return focal


def from_focal(focal: float, width: int, height: int, source: str = "focal") -> Intrinsics:
    """Square pixels, principal point at the image centre; ``Pose3DValueError`` for a focal
    length whose field of view is out of range (``check_focal_for_size``)."""
    return _centred_lens(check_focal_for_size(focal, width, height), width, height, source)


def _centred_lens(focal: float, width: int, height: int, source: str) -> Intrinsics:
    """Square pixels of ``focal`` (checked by the caller), principal point at the image centre."""
    return Intrinsics(focal, focal, width / 2, height / 2, int(width), int(height), (), source)


def from_fov(fov: float, width: int, height: int, source: str = "fov") -> Intrinsics:
    """``fov`` degrees across the longer side of a ``width`` x ``height`` image."""
    fov = check_fov(fov)
    return _centred_lens(max(width, height) / (2 * math.tan(math.radians(fov) / 2)), width, height, source)


def _numbers(value, what: str, path: Path) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise Pose3DValueError(f"{path}: {what} must be numbers, got {value!r}") from None
    if not np.isfinite(array).all():
        raise Pose3DValueError(f"{path}: {what} must be finite numbers, got {value!r}")
    return array


def _number(value, what: str, path: Path) -> float:
    """One finite number of a calibration file (``fx``, ``cx``...), or a one-line error naming it."""
    array = None if isinstance(value, (str, bool, dict)) or value is None else _numbers(value, what, path)
    if array is None or array.size != 1:
        raise Pose3DValueError(f"{path}: {what} must be one number, got {value!r}")
    return float(array.reshape(()))


def _image_side(value, what: str, path: Path) -> int:
    """``width`` or ``height`` of a calibration file: a positive whole number of pixels."""
    number = _number(value, what, path)
    if number < 1 or number != int(number):
        raise Pose3DValueError(f"{path}: {what} must be a positive whole number of pixels, got {value!r}")
    return int(number)


def load_calibration(path: str | Path) -> Intrinsics:
    """An OpenCV-style calibration file (JSON or TOML, see the module docstring) -> ``Intrinsics``.

    Without ``width``/``height`` in the file, the image size is taken as twice the principal
    point (``for_size`` then rescales nothing until ``resolve_intrinsics`` sees the video).
    """
    path = Path(path).expanduser()  # "~/calib.json", as every other path the package takes
    if path.is_dir():
        raise Pose3DValueError(f"{path} is a folder; give the calibration file in it (JSON or .toml)")
    if not path.is_file():
        raise CalibrationNotFoundError(
            f"calibration file not found: {path}; give an existing calibration file (JSON or TOML: K "
            "and distortion), or the lens as a field of view or focal length instead"
        )
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        # Any other extension is read as JSON; say so (OpenCV's own YAML/XML files are not read).
        known = path.suffix.lower() in (".json", ".toml")
        hint = "" if known else "; calibration files are JSON, or TOML named .toml"
        raise Pose3DValueError(f"{path}: not valid {kind} ({exc}){hint}") from None
    if not isinstance(data, dict):
        raise Pose3DValueError(
            f"{path}: expected an object with K (or fx, fy, cx, cy), got {type(data).__name__}"
        )
    data = {key.lower() if key != "K" else key: value for key, value in data.items()}
    if "K" in data or "k" in data:
        matrix = _numbers(data.get("K", data.get("k")), "K", path)
        if matrix.shape != (3, 3):
            raise Pose3DValueError(f"{path}: K must be a 3x3 matrix, got shape {matrix.shape}")
        if not np.array_equal(matrix[2], [0, 0, 1]) or matrix[1, 0] != 0:
            # A transposed K ([[fx, 0, 0], [0, fy, 0], [cx, cy, 1]], MATLAB's IntrinsicMatrix) would
            # otherwise put the principal point at the image's corner.
            raise Pose3DValueError(
                f"{path}: K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]], got {matrix.tolist()} "
                "(transposed?)"
            )
        fx, fy, cx, cy = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]
    elif all(key in data for key in ("fx", "fy", "cx", "cy")):
        fx, fy, cx, cy = (_number(data[key], key, path) for key in ("fx", "fy", "cx", "cy"))
    else:
        raise Pose3DValueError(f"{path}: needs K (3x3) or fx, fy, cx, cy; found keys {sorted(data)}")
    distortion = data.get("distortion", data.get("dist", data.get("distortion_coefficients", [])))
    distortion = tuple(float(d) for d in _numbers(distortion, "distortion", path).ravel())
    width = _image_side(data["width"], "width", path) if "width" in data else round(2 * cx)
    height = _image_side(data["height"], "height", path) if "height" in data else round(2 * cy)
    sized = "width" in data and "height" in data
    try:
        return Intrinsics(float(fx), float(fy), float(cx), float(cy), width, height, distortion, "file",
                          size_given=sized)
    except Pose3DValueError as exc:
        raise Pose3DValueError(f"{path}: {exc}") from None


def resolve_intrinsics(
    width: int | None,
    height: int | None,
    camera: Intrinsics | str | Path | None = None,
    fov: float | None = None,
    focal: float | None = None,
) -> Intrinsics:
    """The intrinsics for a ``width`` x ``height`` video from whichever of the options is given.

    camera: an ``Intrinsics`` or a calibration file path. At most one of camera, fov, focal.
    ``width``, ``height`` None (no frame seen yet): a camera at its own size, else 1920x1080.
    """
    given = [
        name for name, value in (("camera", camera), ("fov", fov), ("focal", focal)) if value is not None
    ]
    if len(given) > 1:
        raise Pose3DValueError(f"give one of camera=, fov=, focal= (got {', '.join(given)})")
    if camera is not None:
        if not isinstance(camera, (Intrinsics, str, Path)):
            raise Pose3DValueError(
                f"camera= takes a calibration file's path or an Intrinsics, got {type(camera).__name__}"
            )
        intrinsics = camera if isinstance(camera, Intrinsics) else load_calibration(camera)
        return intrinsics if width is None or height is None else intrinsics.for_size(width, height)
    if width is None or height is None:
        if focal is not None:  # its field of view is judged on the video's size, once known
            return _centred_lens(check_focal(focal), 1920, 1080, "focal")
        width, height = 1920, 1080
    if focal is not None:
        return from_focal(focal, width, height)
    if fov is not None:
        return from_fov(fov, width, height)
    return from_fov(DEFAULT_FOV_DEG, width, height, source="assumed")


def check_camera_options(
    camera: Intrinsics | str | Path | None = None, fov: float | None = None, focal: float | None = None
) -> None:
    """Raise now (before any frame) for a bad fov, focal or calibration file; a focal length's
    field of view is judged once the image size is known (``from_focal``)."""
    resolve_intrinsics(None, None, camera, fov, focal)
