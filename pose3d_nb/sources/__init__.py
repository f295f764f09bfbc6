"""Frame sources: the bundled sample, a camera, a video file or a folder of images.

Every source is an iterator of RGB :class:`Frame` objects and a context manager::

    with open_source("sample") as frames:
        for frame in frames:
            ...
"""

from pose3d_nb.sources.base import BaseSource, Source, SourceError
from pose3d_nb.sources.camera import CameraSource, list_video_devices
from pose3d_nb.sources.frame import Frame
from pose3d_nb.sources.images import ImageFolderSource
from pose3d_nb.sources.open import (
    BROWSER_CAMERA,
    SOURCES,
    NamedSource,
    SourceSpec,
    accepted_options,
    is_browser_camera,
    open_source,
    register_source,
    source_names,
)
from pose3d_nb.sources.sample import SAMPLE_FILE, SampleSource, sample_video_resource
from pose3d_nb.sources.video import VIDEO_SUFFIXES, VideoSource

__all__ = [
    "BROWSER_CAMERA",
    "SAMPLE_FILE",
    "SOURCES",
    "VIDEO_SUFFIXES",
    "BaseSource",
    "CameraSource",
    "Frame",
    "ImageFolderSource",
    "NamedSource",
    "SampleSource",
    "Source",
    "SourceError",
    "SourceSpec",
    "VideoSource",
    "accepted_options",
    "is_browser_camera",
    "list_video_devices",
    "open_source",
    "register_source",
    "sample_video_resource",
    "source_names",
]
