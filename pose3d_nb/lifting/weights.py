"""Known VideoPose3D checkpoints: where users put them and how to download them."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from pose3d_nb.errors import Pose3DRuntimeError, UnknownNameError

MODEL_DIR_ENV = "POSE3D_MODEL_DIR"
#: The lifter weights inside the package (``lifter="shipped"``).
SHIPPED_FILE = "lifter_mocap_rf27.pt"


@dataclass(frozen=True)
class KnownCheckpoint:
    """An official checkpoint. ``size_bytes``/``sha256`` are None until measured on a real download."""

    name: str
    url: str
    input_layout: str  # 2D keypoint layout the model was trained on
    receptive_field: int
    usable: bool  # fits this package's COCO-17 detectors
    note: str
    size_bytes: int | None = None
    sha256: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_BASE = "https://dl.fbaipublicfiles.com/video-pose-3d/"
KNOWN_CHECKPOINTS: tuple[KnownCheckpoint, ...] = (
    KnownCheckpoint(
        name="h36m_detectron_coco",
        url=_BASE + "pretrained_h36m_detectron_coco.bin",
        input_layout="COCO-17 (Detectron2 Keypoint R-CNN)",
        receptive_field=243,
        usable=True,
        note="the in-the-wild model; what pose3d_nb uses",
    ),
    KnownCheckpoint(
        name="h36m_cpn",
        url=_BASE + "pretrained_h36m_cpn.bin",
        input_layout="Human3.6M-17 (CPN detections)",
        receptive_field=243,
        usable=False,
        note="benchmark model; expects Human3.6M-ordered 2D, not COCO",
    ),
    KnownCheckpoint(
        name="humaneva15_detectron",
        url=_BASE + "pretrained_humaneva15_detectron.bin",
        input_layout="HumanEva-15",
        receptive_field=27,
        usable=False,
        note="15-joint HumanEva model",
    ),
)
DEFAULT_CHECKPOINT = KNOWN_CHECKPOINTS[0]


class FetchError(Pose3DRuntimeError):
    """A download that failed, with where to put the file by hand."""


def model_dir() -> Path:
    """Where checkpoints live: ``$POSE3D_MODEL_DIR``, else this checkout's ``model/``, else ``./model``."""
    if os.environ.get(MODEL_DIR_ENV):
        return Path(os.environ[MODEL_DIR_ENV]).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "model"
    if (checkout / "README.md").is_file():
        return checkout
    return Path.cwd() / "model"


def known_checkpoint(name: str) -> KnownCheckpoint:
    """Look up by short name or file name; ``KeyError`` lists the known names."""
    for known in KNOWN_CHECKPOINTS:
        if name in (known.name, known.filename):
            return known
    known_names = ", ".join(k.name for k in KNOWN_CHECKPOINTS)
    raise UnknownNameError(f"unknown checkpoint {name!r}; known: {known_names}")


def find_checkpoint(directory: Path | None = None) -> Path | None:
    """The first usable known checkpoint present in ``directory`` (default ``model_dir()``)."""
    directory = directory or model_dir()
    for known in KNOWN_CHECKPOINTS:
        candidate = directory / known.filename
        if known.usable and candidate.is_file():
            return candidate
    return None


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def fetch(name: str, directory: Path | None = None, timeout: float = 15.0, progress: bool = True) -> Path:
    """Download a known checkpoint into ``directory`` atomically and verify it.

    Verification: the size and sha256 when known, and in every case that the file loads as a
    checkpoint through the safe loader. Raises ``FetchError`` quickly when offline.
    """
    from tqdm import tqdm

    from pose3d_nb.lifting.checkpoint import read_checkpoint

    known = known_checkpoint(name)
    directory = directory or model_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / known.filename
    partial = target.with_suffix(target.suffix + ".part")
    by_hand = f"Download {known.url} on a machine with internet access and copy it to {target}"
    try:
        with urllib.request.urlopen(known.url, timeout=timeout) as response, open(partial, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=known.filename, disable=not progress
            ) as bar:
                while block := response.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {known.url} ({reason}). {by_hand}.") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    problems = []
    if known.size_bytes is not None and partial.stat().st_size != known.size_bytes:
        problems.append(f"size {partial.stat().st_size} != expected {known.size_bytes}")
    digest = sha256_of(partial)
    if known.sha256 is not None and digest != known.sha256:
        problems.append(f"sha256 {digest} != expected {known.sha256}")
    if not problems:
        try:
            read_checkpoint(partial)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        partial.unlink(missing_ok=True)
        raise FetchError(
            f"downloaded {known.filename} failed verification: {'; '.join(problems)}. {by_hand}."
        )
    partial.replace(target)
    return target


def shipped_checkpoint() -> Path:
    """The lifter weights inside the package (trained by ``pose3d train`` on mocap; see NOTICE)."""
    return Path(str(resources.files("pose3d_nb").joinpath("data", SHIPPED_FILE)))


def lifter_weights_file(lifter: str) -> Path | None:
    """The weights file lifter ``lifter`` loads now, without loading it (no torch import).

    Args:
        lifter: a registered lifter name, in any case (``"auto"``, ``"Shipped"``...), or a
            checkpoint path.

    Returns:
        ``"auto"``: the official checkpoint in ``model_dir()`` when there (``find_checkpoint``),
        else the shipped file; ``"shipped"``: the shipped file; a path: that path; another
        registered name (MediaPipe's 3D, a lifter registered by other code): None, no file known.
    """
    from pose3d_nb.lifting.registry import LIFTERS, is_lifter_name

    if not is_lifter_name(lifter):
        return Path(lifter).expanduser()
    name = LIFTERS[lifter].name  # names are taken in any case
    if name == "auto":
        return find_checkpoint() or shipped_checkpoint()
    return shipped_checkpoint() if name == "shipped" else None
