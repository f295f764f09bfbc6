"""Short clips cut from the bundled sample: a small collection to try a batch on (and to measure)."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import cv2

from pose3d_nb.errors import Pose3DValueError
from pose3d_nb.sources.sample import sample_video_resource


def write_clip(target: str | os.PathLike[str], frames: int, start: int = 0) -> Path:
    """Write frames ``start .. start + frames - 1`` of the bundled sample as an MP4 (MPEG-4 part 2).

    Args:
        target (str | PathLike): the file to write (its folder is created).
        frames (int): how many frames (the sample has 100).
        start (int): first frame taken from the sample.

    Returns:
        Path: ``target``.

    Raises:
        ValueError: fewer than ``frames`` frames from ``start``, or OpenCV cannot write MP4 here.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with resources.as_file(sample_video_resource()) as sample:
        capture = cv2.VideoCapture(str(sample))
        try:
            fps = capture.get(cv2.CAP_PROP_FPS)
            capture.set(cv2.CAP_PROP_POS_FRAMES, start)
            images = []
            while len(images) < frames:
                ok, image = capture.read()
                if not ok:
                    raise Pose3DValueError(f"the sample has fewer than {start + frames} frames")
                images.append(image)
        finally:
            capture.release()
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise Pose3DValueError(f"OpenCV cannot write an MP4 file at {target}")
    try:
        for image in images:
            writer.write(image)
    finally:
        writer.release()
    return target


def sample_clips(folder: str | os.PathLike[str], count: int = 4, frames: int = 40) -> list[Path]:
    """``count`` clips of ``frames`` frames each from the sample, ``folder/clip01.mp4`` ...

    Each clip starts a few frames later than the one before (so they differ), wrapping around
    within the sample's 100 frames. Existing clips are kept as they are.

    Args:
        folder (str | PathLike): where to write them.
        count (int): how many clips.
        frames (int): frames per clip (at most 100).

    Returns:
        list[Path]: the clips, in order.
    """
    folder = Path(folder)
    span = max(1, 100 - frames)
    clips = []
    for i in range(count):
        clip = folder / f"clip{i + 1:02d}.mp4"
        if not clip.is_file():
            write_clip(clip, frames, start=(7 * i) % span)
        clips.append(clip)
    return clips
