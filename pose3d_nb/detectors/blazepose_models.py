"""BlazePose Lite and Heavy: the landmark models the mediapipe wheel does not ship.

The wheel holds only ``pose_landmark_full.tflite`` (``model_complexity=1``, detector
``mediapipe``). Lite (``model_complexity=0``, ``mediapipe-lite``) and Heavy (2,
``mediapipe-heavy``) are fetched once by ``pose3d models fetch mediapipe-heavy`` (or ``-lite``):

1. from npm's ``@mediapipe/pose`` (Apache-2.0) when ``npm`` is on the PATH (``npm pack`` into a
   temporary folder, the one ``.tflite`` read out of the tarball);
2. else from MediaPipe's own download location (the URL its ``download_utils`` uses);

into the user cache (``$POSE3D_CACHE_DIR``, else ``~/.cache/pose3d_nb``), verified by sha256.
MediaPipe's legacy Pose graph loads its model from inside the mediapipe package, so creating the
detector links the cached file there (``install_model``); without the file the error names the
fetch command.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pose3d_nb.detectors.base import DetectorUnavailable
from pose3d_nb.detectors.mediapipe_bundle import cache_dir
from pose3d_nb.errors import Pose3DRuntimeError, UnknownNameError

NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"
MEDIAPIPE_DOWNLOAD_URL = "https://storage.googleapis.com/mediapipe-assets/"  # mediapipe's download_utils
LANDMARK_DIR = Path("modules") / "pose_landmark"  # inside the mediapipe package


@dataclass(frozen=True)
class BlazePoseModel:
    """One landmark model variant: detector name, MediaPipe's model_complexity, file, digest."""

    detector: str
    complexity: int
    filename: str
    sha256: str
    size_bytes: int


VARIANTS: dict[str, BlazePoseModel] = {
    model.detector: model
    for model in (
        # Digests and sizes of the files in @mediapipe/pose 0.5.1675469404 (its Full model is
        # byte-identical to the mediapipe 0.10.21 wheel's).
        BlazePoseModel(
            "mediapipe-lite", 0, "pose_landmark_lite.tflite",
            "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61", 2819824,
        ),
        BlazePoseModel(
            "mediapipe-heavy", 2, "pose_landmark_heavy.tflite",
            "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe", 27709200,
        ),
    )
}  # fmt: skip


class ModelFetchError(Pose3DRuntimeError):
    """A model that could not be fetched, with every way tried and how to place it by hand."""


def variant(name_or_complexity: str | int) -> BlazePoseModel:
    """The variant for a detector name (``mediapipe-heavy``) or a model_complexity (0 or 2)."""
    for model in VARIANTS.values():
        if name_or_complexity in (model.detector, model.complexity):
            return model
    raise UnknownNameError(
        f"no fetchable BlazePose model {name_or_complexity!r}; known: {', '.join(VARIANTS)}"
    )


def cached_path(model: BlazePoseModel, directory: Path | None = None) -> Path:
    """Where the fetched file lives: ``<cache>/blazepose/<filename>``."""
    return (directory or cache_dir()) / "blazepose" / model.filename


def _verified(path: Path, model: BlazePoseModel) -> str | None:
    """None when ``path`` is ``model``'s file, else what is wrong with it."""
    size = path.stat().st_size
    if size != model.size_bytes:
        return f"size {size} bytes, expected {model.size_bytes}"
    from pose3d_nb.lifting.weights import sha256_of

    digest = sha256_of(path)
    return None if digest == model.sha256 else f"sha256 {digest}, expected {model.sha256}"


def _from_npm(npm: str, model: BlazePoseModel, partial: Path, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="pose3d-npm-") as work:
        result = subprocess.run(
            [npm, "pack", NPM_PACKAGE, "--silent"], cwd=work, capture_output=True, text=True, timeout=timeout
        )
        tarballs = sorted(Path(work).glob("*.tgz"))
        if result.returncode != 0 or not tarballs:
            last = (result.stderr.strip().splitlines() or ["no tarball written"])[-1]
            raise OSError(f"npm pack {NPM_PACKAGE} failed (exit {result.returncode}): {last}")
        with tarfile.open(tarballs[0]) as archive:
            try:
                member = archive.getmember(f"package/{model.filename}")
            except KeyError:
                raise OSError(f"{NPM_PACKAGE} has no {model.filename}") from None
            source = archive.extractfile(member)
            if source is None:
                raise OSError(f"{model.filename} in {NPM_PACKAGE} is not a regular file")
            with source, open(partial, "wb") as out:
                shutil.copyfileobj(source, out)


def _from_url(url: str, partial: Path, timeout: float) -> None:
    with urllib.request.urlopen(url, timeout=timeout) as response, open(partial, "wb") as out:
        shutil.copyfileobj(response, out)


def fetch_model(
    name: str,
    directory: Path | None = None,
    npm: str | None = None,
    base_url: str | None = None,
    timeout: float = 120.0,
) -> Path:
    """Fetch variant ``name`` (``mediapipe-lite`` or ``mediapipe-heavy``) into the cache, verified.

    Returns the cached path at once when a verified file is already there. ``npm``: the npm
    executable (default: the one on the PATH, if any); ``base_url``: where files are downloaded
    from without npm (default ``MEDIAPIPE_DOWNLOAD_URL``). Raises ``ModelFetchError`` naming every
    source tried and why it failed; nothing partial is left behind.
    """
    model = variant(name)
    target = cached_path(model, directory)
    if target.is_file() and _verified(target, model) is None:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    npm = npm if npm is not None else shutil.which("npm")
    sources = []
    if npm:
        sources.append((f"npm ({NPM_PACKAGE})", lambda: _from_npm(npm, model, partial, timeout)))
    url = (base_url or MEDIAPIPE_DOWNLOAD_URL) + model.filename
    sources.append((url, lambda: _from_url(url, partial, timeout)))
    failures = [] if npm else ["npm: not on the PATH"]
    for label, attempt in sources:
        try:
            attempt()
            problem = _verified(partial, model)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            problem = str(getattr(exc, "reason", None) or exc)
        if problem is None:
            partial.replace(target)
            return target
        partial.unlink(missing_ok=True)
        failures.append(f"{label}: {problem}")
    raise ModelFetchError(
        f"could not fetch {model.filename} ({'; '.join(failures)}). By hand: take {model.filename} from "
        f"`npm pack {NPM_PACKAGE}` or {url} (sha256 {model.sha256}) and put it at {target}"
    )


def install_model(complexity: int, directory: Path | None = None, package_dir: Path | None = None) -> None:
    """Make MediaPipe's Pose(model_complexity=``complexity``) find its model without downloading.

    Complexity 1 ships in the wheel. For 0 and 2, a verified file in the mediapipe package is
    kept; else the fetched, verified cache file is linked (or copied) there. ``directory``: the
    cache (default ``cache_dir()``); ``package_dir``: the mediapipe package (default: imported).

    Raises:
        DetectorUnavailable: the model was never fetched (the message gives the command), or the
            mediapipe package folder is not writable.
    """
    if complexity == 1:
        return
    model = variant(complexity)
    if package_dir is None:
        import mediapipe

        package_dir = Path(mediapipe.__file__).parent
    installed = Path(package_dir) / LANDMARK_DIR / model.filename
    if installed.is_file() and installed.stat().st_size == model.size_bytes:
        return
    cached = cached_path(model, directory)
    if not cached.is_file() or _verified(cached, model) is not None:
        raise DetectorUnavailable(
            f"detector {model.detector!r} needs BlazePose's {model.filename}, which the mediapipe wheel "
            f"does not ship: run `pose3d models fetch {model.detector}` once (looked in {cached})"
        )
    # Made beside it and renamed over it in one step: it replaces a broken link or a partial
    # download of MediaPipe's own, and another process installing at the same moment (batch
    # workers) neither fails nor lets MediaPipe read a half-copied file.
    temporary = installed.with_name(f".{installed.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        try:
            os.symlink(cached.resolve(), temporary)  # absolute: a relative link would resolve from here
        except OSError:
            shutil.copyfile(cached, temporary)
        os.replace(temporary, installed)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temporary.unlink()
        # Windows cannot replace a file another worker has open: its install is the same model.
        if installed.is_file() and installed.stat().st_size == model.size_bytes:
            return
        raise DetectorUnavailable(
            f"cannot place {model.filename} where MediaPipe loads it ({installed}: {exc}); "
            f"copy {cached} there"
        ) from None
