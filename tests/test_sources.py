"""Frame sources: what a user relies on (order, RGB, timing, clean ends, clear errors)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from pose3d_nb.sources import (
    CameraSource,
    Frame,
    ImageFolderSource,
    SampleSource,
    Source,
    SourceError,
    VideoSource,
    accepted_options,
    open_source,
    sample_video_resource,
)
from pose3d_nb.sources.images import BadImageWarning

REPO = Path(__file__).resolve().parents[1]
SAMPLE_FRAMES, SAMPLE_FPS, SAMPLE_SIZE = 100, 60.0, (540, 960)


def sample_path() -> Path:
    path = Path(str(sample_video_resource()))
    assert path.is_file(), f"bundled sample missing: {path}"
    return path


def bgr_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as OpenCV decodes it (BGR)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr)
    cap.release()
    return frames


def write_video(path: Path, n: int, size=(64, 48), fps=30.0, fourcc="MJPG") -> list[np.ndarray]:
    """A small video whose frame i is a flat colour encoding i; returns the BGR frames written."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    frames = []
    for i in range(n):
        bgr = np.zeros((size[1], size[0], 3), np.uint8)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = 40, 120, (i * 7) % 256
        writer.write(bgr)
        frames.append(bgr)
    writer.release()
    return frames


# ---------------------------------------------------------------------------- bundled sample
def test_sample_is_the_default_and_matches_opencv_rgb():
    expected = bgr_frames(sample_path())
    assert len(expected) == SAMPLE_FRAMES
    with open_source() as source:
        assert isinstance(source, SampleSource) and isinstance(source, Source)
        assert source.name == "sample" and source.fps == SAMPLE_FPS and not source.is_live
        frames = list(source)
    assert [f.index for f in frames] == list(range(SAMPLE_FRAMES))
    assert [f.timestamp for f in frames] == pytest.approx([i / SAMPLE_FPS for i in range(SAMPLE_FRAMES)])
    for frame, bgr in zip(frames, expected, strict=True):
        assert isinstance(frame, Frame) and frame.size == SAMPLE_SIZE
        assert frame.image.dtype == np.uint8 and frame.image.shape == (960, 540, 3)
        # RGB = OpenCV's BGR with the channels reversed (made contiguous: strided compares are slow)
        assert np.array_equal(frame.image, np.ascontiguousarray(bgr[:, :, ::-1])), f"frame {frame.index}"
    assert all(b.captured_at >= a.captured_at for a, b in zip(frames, frames[1:], strict=False))


def test_sample_data_and_notice_are_package_data():
    data = REPO / "pose3d_nb" / "data"
    notice = (data / "NOTICE").read_text()
    assert "BSD 3-Clause" in notice and "David Pagnon" in notice
    assert sample_path().parent == data


def test_video_ends_cleanly_and_close_is_idempotent():
    source = VideoSource(sample_path())
    assert source.frame_count == SAMPLE_FRAMES
    assert sum(1 for _ in source) == SAMPLE_FRAMES
    with pytest.raises(StopIteration):
        next(source)
    source.close()
    source.close()
    assert source.closed


def test_iteration_resumes_where_it_stopped_and_ends_after_close():
    with open_source("sample") as source:
        first = [next(source).index for _ in range(3)]
        for frame in source:
            if frame.index == 5:
                break
        assert first == [0, 1, 2] and next(source).index == 6
    assert list(source) == []


def test_loop_restarts_with_increasing_timestamps():
    with VideoSource(sample_path(), loop=True) as source:
        frames = [next(source) for _ in range(2 * SAMPLE_FRAMES + 20)]
    assert [f.index for f in frames] == [i % SAMPLE_FRAMES for i in range(len(frames))]
    assert [f.timestamp for f in frames] == pytest.approx([i / SAMPLE_FPS for i in range(len(frames))])
    np.testing.assert_array_equal(frames[SAMPLE_FRAMES].image, frames[0].image)


def test_pace_releases_frames_at_the_file_rate(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, 40, fps=30.0)
    with VideoSource(path, pace=True) as source:
        assert source.is_live and source.fps == pytest.approx(30.0)
        started = time.monotonic()
        frames = [next(source) for _ in range(10)]
        elapsed = time.monotonic() - started
    # 9 frame intervals of 1/30 s = 0.3 s; generous bounds for a loaded machine.
    assert 0.25 < elapsed < 1.5
    stamps = [f.timestamp for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:], strict=False))
    assert started <= stamps[0] and stamps[-1] <= time.monotonic()  # monotonic capture times
    assert all(f.timestamp == f.captured_at for f in frames)


def test_pace_drops_frames_a_slow_consumer_missed(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, 60, fps=30.0)
    with VideoSource(path, pace=True) as source:
        assert next(source).index == 0
        time.sleep(0.5)  # 15 frame periods
        later = next(source)
    assert later.index >= 10, "a paced (live-like) source must skip frames instead of lagging behind"


def test_a_paced_file_read_late_still_shows_its_last_frame(tmp_path):
    """A consumer that falls behind past the end of a paced file gets its last frame, not an end
    with the last frames skipped (the engine's "the source's last frame is processed")."""
    path = tmp_path / "clip.avi"
    write_video(path, 12, fps=30.0)
    with VideoSource(path, pace=True) as source:
        assert next(source).index == 0
        time.sleep(0.6)  # 18 frame periods: the whole clip's time has passed
        assert next(source).index == 11
        assert source.skipped == 10
        assert list(source) == []


def test_paced_loop_wraps(tmp_path):
    path = tmp_path / "short.avi"
    write_video(path, 5, fps=50.0)
    with VideoSource(path, pace=True, loop=True) as source:
        indices = [next(source).index for _ in range(12)]
    assert indices[:5] == [0, 1, 2, 3, 4] and 0 in indices[5:]


def test_close_from_another_thread_stops_a_paced_read(tmp_path):
    path = tmp_path / "slow.avi"
    write_video(path, 5, fps=0.05)  # one frame every 20 s
    source = VideoSource(path, pace=True)
    next(source)
    threading.Timer(0.2, source.close).start()
    started = time.monotonic()
    with pytest.raises(StopIteration):
        next(source)
    assert time.monotonic() - started < 10  # not the 20 s to the next frame


def test_video_frames_are_rgb(tmp_path):
    path = tmp_path / "colour.avi"
    written = write_video(path, 3)
    with open_source(path) as source:
        assert isinstance(source, VideoSource)
        frames = list(source)
    assert len(frames) == 3
    for frame, bgr in zip(frames, written, strict=True):
        # MJPG is lossy: compare the mean colour, channel by channel.
        assert frame.image.reshape(-1, 3).mean(axis=0) == pytest.approx(bgr[0, 0, ::-1], abs=3)


# ---------------------------------------------------------------------------- bad video files
def test_missing_video_file(tmp_path):
    with pytest.raises(SourceError, match="not found.*nope.mp4"):
        VideoSource(tmp_path / "nope.mp4")
    with pytest.raises(SourceError, match="no such file or folder.*nope.mp4"):
        open_source(str(tmp_path / "nope.mp4"))


def test_garbage_video_file(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"garbage\.mp4.*could not open"):
        open_source(path)


def test_empty_video_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match=r"empty\.mp4 is empty"):
        VideoSource(path)


def test_truncated_mp4(tmp_path):
    # The sample's index ('moov') is at the end, as OpenCV and most cameras write it.
    path = tmp_path / "truncated.mp4"
    path.write_bytes(sample_path().read_bytes()[:300_000])
    with pytest.raises(SourceError, match=r"truncated\.mp4.*truncated or corrupt"):
        open_source(path)


def test_truncated_video_that_still_opens(tmp_path):
    # AVI keeps its header at the front: a truncated one opens and ends early.
    full = tmp_path / "full.avi"
    write_video(full, 40)
    path = tmp_path / "cut.avi"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    source = VideoSource(path)
    with pytest.raises(SourceError, match=r"cut\.avi: the video ended after \d+ of the 40 frames"):
        list(source)
    source.close()


def test_zero_frame_video(tmp_path):
    path = tmp_path / "zero.avi"
    write_video(path, 0)
    with pytest.raises(SourceError, match=r"zero\.avi.*no frame"):
        VideoSource(path)


def test_folder_given_as_video(tmp_path):
    with pytest.raises(SourceError, match="is a folder"):
        VideoSource(tmp_path)


# ---------------------------------------------------------------------------- image folders
def write_image(path: Path, rgb: tuple[int, int, int], size=(32, 24)) -> None:
    bgr = np.zeros((size[1], size[0], 3), np.uint8)
    bgr[:] = rgb[::-1]
    assert cv2.imwrite(str(path), bgr)


def test_image_folder_natural_order_and_rgb(tmp_path):
    names = ["frame10.png", "frame2.png", "frame1.png", "Frame3.PNG", "frame20.bmp"]
    for name in names:
        number = int("".join(c for c in name if c.isdigit()))
        write_image(tmp_path / name, (200, number, 30))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    with open_source(tmp_path, fps=10) as source:
        assert isinstance(source, ImageFolderSource) and len(source) == 5 and source.fps == 10
        frames = list(source)
    assert [f.image[0, 0, 1] for f in frames] == [1, 2, 3, 10, 20]  # natural, case-insensitive
    assert all(tuple(f.image[0, 0]) == (200, f.image[0, 0, 1], 30) for f in frames)  # RGB order
    assert [f.index for f in frames] == list(range(5))
    assert [f.timestamp for f in frames] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])


def test_single_image_file(tmp_path):
    write_image(tmp_path / "one.jpg", (10, 200, 90))
    with open_source(tmp_path / "one.jpg") as source:
        frames = list(source)
    assert len(frames) == 1 and frames[0].image[5, 5] == pytest.approx([10, 200, 90], abs=4)
    assert frames[0].timestamp == 0.0


def test_empty_image_folder(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError, match="contains no image files"):
        open_source(tmp_path)


def test_unreadable_images(tmp_path):
    (tmp_path / "a1.png").write_bytes(b"not a png")
    with pytest.raises(SourceError, match=r"a1\.png: OpenCV could not read it"):
        ImageFolderSource(tmp_path)
    write_image(tmp_path / "a0.png", (1, 2, 3))
    source = ImageFolderSource(tmp_path)  # the first image is fine, the second is broken
    first = next(source)
    assert first.index == 0
    with pytest.warns(BadImageWarning, match=r"a1\.png"):
        blank = next(source)  # recorded as a frame without a person; the run goes on
    assert blank.index == 1 and blank.image.shape == first.image.shape and not blank.image.any()
    with pytest.raises(StopIteration):
        next(source)
    source.close()


# ---------------------------------------------------------------------------- open_source
def test_open_source_dispatch_and_errors(tmp_path):
    video = tmp_path / "clip.avi"
    write_video(video, 3)
    with open_source(str(video), loop=True) as source:
        assert isinstance(source, VideoSource) and source.loop and source.name == str(video)
        assert open_source(source) is source  # an open source is returned as is
        with pytest.raises(TypeError, match="already open source"):
            open_source(source, loop=True)
    with pytest.raises(TypeError):
        open_source("sample", fps=3)  # an option the sample does not take
    with pytest.raises(SourceError, match="not a source spec"):
        open_source(True)
    with pytest.raises(SourceError, match="not a source spec"):
        open_source(3.5)


@pytest.mark.parametrize("spec", ["", "  "])
def test_an_empty_spec_is_refused_not_read_as_the_working_folder(tmp_path, monkeypatch, spec):
    write_image(tmp_path / "holiday.jpg", (10, 20, 30))  # what the working folder happens to hold
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError, match="empty source spec"):
        open_source(spec)


@pytest.mark.parametrize("spec", ["camera", "camera:7", 3, "5"])
def test_missing_camera_fails_fast_with_a_clear_message(spec):
    started = time.monotonic()
    with pytest.raises(SourceError) as error:
        open_source(spec)
    assert time.monotonic() - started < 5.0
    message = str(error.value)
    assert "no camera" in message and "cv2.VideoCapture" in message and "acapture" in message
    assert "source='sample'" in message


@pytest.mark.parametrize("spec", ["camera:99999999999999999999", "99999999999999999999", 2**63, "camera:205",
                                  100, -1])
def test_a_camera_index_out_of_range_is_refused_with_the_valid_form(spec):
    """A number past a C int was a cv2.error traceback from cv2.VideoCapture, and OpenCV reads
    205 as its V4L2 backend's camera 5."""
    with pytest.raises(SourceError, match=r"no camera index -?\d+: .*'camera:N' .* from 0 to 99"):
        accepted_options(spec)  # what `pose3d run` checks before any work
    with pytest.raises(SourceError, match="no camera index"):
        open_source(spec)
    with pytest.raises(SourceError, match="no camera index"):
        CameraSource(spec if isinstance(spec, int) else 205)


def test_a_spec_of_digits_int_cannot_read_is_no_camera_but_a_missing_path():
    with pytest.raises(SourceError, match="no such file or folder: ²"):  # isdigit() took it: ValueError
        open_source("²")


# ---------------------------------------------------------------------------- camera (test double)
class FakeCamera:
    """Test double for ``cv2.VideoCapture`` on a webcam: BGR frames at about 100 fps, forever.

    Device 0 exists; others do not. Frame n has B=40, G=120 and R=n % 256 in its first pixel
    row, so order and colour order are both checkable. ``stop_after`` makes the camera stop
    delivering (reads fail), like an unplugged webcam.
    """

    present = {0}
    stop_after: int | None = None
    opened_count = 0

    def __init__(self, device, *args):
        self.device = device
        self.opened = device in FakeCamera.present
        self.count = 0
        FakeCamera.opened_count += 1

    def isOpened(self):  # noqa: N802 (OpenCV's name)
        return self.opened

    def read(self):
        time.sleep(0.01)
        if not self.opened or (FakeCamera.stop_after is not None and self.count >= FakeCamera.stop_after):
            return False, None
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[..., 0], bgr[..., 1] = 40, 120
        bgr[0, :, 2] = self.count % 256
        self.count += 1
        return True, bgr

    def get(self, prop):
        return 100.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop, value):
        return True

    def release(self):
        self.opened = False


@pytest.fixture
def fake_camera(monkeypatch):
    monkeypatch.setattr(FakeCamera, "stop_after", None)
    monkeypatch.setattr(cv2, "VideoCapture", FakeCamera)
    return FakeCamera


def check_camera_frames(frames: list[Frame]) -> None:
    assert [f.index for f in frames] == list(range(len(frames)))
    counters = [int(f.image[0, 0, 0]) for f in frames]
    assert all(b > a for a, b in zip(counters, counters[1:], strict=False)), counters  # newer each time
    for frame in frames:
        assert tuple(frame.image[5, 5]) == (0, 120, 40)  # RGB: R=0 in that row, B=40
        assert frame.timestamp == frame.captured_at <= time.monotonic()


@pytest.mark.parametrize("backend", ["acapture", "opencv"])
def test_camera_backends_deliver_rgb_live_frames(fake_camera, backend):
    with open_source("camera:0", backend=backend) as camera:
        assert isinstance(camera, CameraSource) and camera.is_live and camera.backend == backend
        assert camera.name == "camera:0" and camera.fps == 100.0
        frames = [next(camera) for _ in range(5)]
    check_camera_frames(frames)
    if backend == "acapture":
        thread = camera._reader._camera.t
        assert not thread.is_alive(), "acapture's thread must be stopped and joined on close()"


def test_camera_auto_prefers_acapture_and_falls_back_to_opencv(fake_camera, monkeypatch):
    with CameraSource(0) as camera:
        assert camera.backend == "acapture" and camera.fallback_reason is None
        check_camera_frames([next(camera) for _ in range(3)])
    monkeypatch.setitem(sys.modules, "acapture", None)  # as if acapture were not installed
    with CameraSource(0) as camera:
        assert camera.backend == "opencv" and "acapture" in camera.fallback_reason
        check_camera_frames([next(camera) for _ in range(3)])
    with pytest.raises(SourceError, match="acapture failed"):
        CameraSource(0, backend="acapture")


def test_camera_size_request_uses_opencv(fake_camera):
    with CameraSource(0, width=640, height=480) as camera:
        assert camera.backend == "opencv"


def test_camera_that_stops_delivering_raises(fake_camera):
    fake_camera.stop_after = 3
    with CameraSource(0, backend="opencv") as camera:
        frames = [next(camera) for _ in range(3)]
        with pytest.raises(SourceError, match="camera:0 .* delivered no frame"):
            next(camera)
    assert len(frames) == 3


def test_camera_bad_backend_name():
    with pytest.raises(ValueError, match="backend must be one of"):
        CameraSource(0, backend="gstreamer")


def test_unknown_camera_with_the_double_lists_what_was_tried(fake_camera):
    with pytest.raises(SourceError, match=r"no camera 2 .*cv2\.VideoCapture\(2\)"):
        CameraSource(2)


def test_a_camera_this_kernel_already_holds_says_so(fake_camera, monkeypatch):
    # V4L2 opens a camera once per process; a second open (an app from a cell run earlier still
    # capturing) used to fail with "no camera 0", as if it were unplugged.
    monkeypatch.setattr(FakeCamera, "present", {0, 2})
    with CameraSource(0, backend="opencv"):
        held = r"camera 0 is already open in this Python kernel.*app\.close\(\)"
        with pytest.raises(SourceError, match=held):
            CameraSource(0, backend="opencv")
        with pytest.raises(SourceError, match="no camera 5"):
            CameraSource(5)
        with CameraSource(2, backend="opencv"):  # another camera opens beside it
            pass
    with CameraSource(0, backend="opencv") as camera:  # closed: free again
        check_camera_frames([next(camera) for _ in range(2)])
    monkeypatch.setattr(FakeCamera, "present", {2})
    with pytest.raises(SourceError, match="no camera 0"):  # a failed open keeps no claim
        CameraSource(0, backend="opencv")
    monkeypatch.setattr(FakeCamera, "present", {0})
    with CameraSource(0, backend="opencv"):
        pass


def test_a_camera_source_dropped_without_close_frees_its_claim(fake_camera, monkeypatch):
    # The claim outlived a source collected without close(): its OpenCV capture was released,
    # yet every later open said "already open in this Python kernel" until a restart.
    import gc

    monkeypatch.setattr(FakeCamera, "present", {0})
    camera = CameraSource(0, backend="opencv")
    next(camera)
    del camera
    gc.collect()
    with CameraSource(0, backend="opencv") as again:
        check_camera_frames([next(again) for _ in range(2)])


# ---------------------------------------------------------------------------- import hygiene
def test_importing_sources_loads_no_camera_or_model_library():
    code = (
        "import sys, pose3d_nb.sources, pose3d_nb.detectors; "
        "print(sorted(m for m in ('acapture', 'mediapipe', 'torch', 'detectron2') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_source_says_which_options_it_accepts(tmp_path):
    assert {"loop", "pace"} <= accepted_options("sample")
    assert "loop" not in accepted_options(str(tmp_path))  # a folder of images
    assert "fps" in accepted_options(str(tmp_path))
    assert "loop" not in accepted_options("camera:3")  # nothing is opened to answer
    with pytest.raises(SourceError, match="no such file"):
        accepted_options(str(tmp_path / "missing.mp4"))


def test_a_paced_file_counts_the_frames_it_passes_over():
    # A consumer slower than the file's 60 fps: like a camera, the source skips frames whose time
    # has passed, and says how many, so the engine can count every frame of the file.
    with SampleSource(pace=True) as source:
        read = 0
        for _ in source:
            read += 1
            time.sleep(0.05)
        assert source.skipped > 0
        assert read + source.skipped == SAMPLE_FRAMES


def test_a_video_with_rotation_metadata_is_read_upright(tmp_path):
    # Phones store a portrait video as landscape pixels and a 90 degree turn in the track header
    # ('tkhd' matrix): players, and the frames given to the detector, show it turned.
    path = tmp_path / "portrait.mp4"
    landscape = np.zeros((48, 64, 3), np.uint8)
    landscape[:16, :16] = 255  # a mark in the top-left corner
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (64, 48))
    for _ in range(5):
        writer.write(landscape)
    writer.release()
    data = bytearray(path.read_bytes())
    matrix = data.find(b"tkhd") + 4 + 4 + 20 + 8 + 8  # version 0 header: times, ids, layer, volume
    data[matrix:matrix + 36] = np.array([0, 1 << 16, 0, -(1 << 16), 0, 0, 0, 0, 1 << 30], ">i4").tobytes()
    path.write_bytes(bytes(data))
    with VideoSource(path) as source:
        images = [frame.image for frame in source]
    assert len(images) == 5
    upright = np.rot90(landscape, k=-1)  # turned clockwise: the mark is now top-right
    assert images[0].shape == upright.shape == (64, 48, 3)
    assert np.abs(images[0].astype(int) - upright).mean() < 10
