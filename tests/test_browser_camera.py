"""BrowserCamera / BrowserCameraSource without a browser: the kernel side of the protocol.

Messages are fed to the widget's real message handler exactly as ipywidgets delivers them
(``handler(widget, content, buffers)``); the acks it sends are captured by replacing ``send``.
"""

from __future__ import annotations

import re
import threading
import time

import cv2
import numpy as np
import pytest
import traitlets
from comm.base_comm import BaseComm

from pose3d_nb.browser_camera import BrowserCamera, BrowserCameraSource, decode_jpeg, default_camera, protocol
from pose3d_nb.browser_camera import source as source_module
from pose3d_nb.sources import SourceError

LEFT_RGB, RIGHT_RGB = (230, 20, 20), (20, 40, 220)


def jpeg_two_colours(width: int = 64, height: int = 48) -> bytes:
    """Left half LEFT_RGB, right half RIGHT_RGB, encoded the way OpenCV stores images (BGR)."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2] = LEFT_RGB
    rgb[:, width // 2 :] = RIGHT_RGB
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


def frame_message(frame_id: int, jpeg: bytes, t_capture_ms: float | None = None, skipped: int = 0,
                  width: int = 64, height: int = 48) -> tuple[dict, list]:
    content = {"type": "frame", "id": frame_id, "width": width, "height": height,
               "t_capture": time.time() * 1000 if t_capture_ms is None else t_capture_ms,
               "t_send": time.time() * 1000, "encode_ms": 3.0, "rtt_ms": 12.0, "skipped": skipped}
    return content, [memoryview(jpeg)]


class Kernel:
    """A camera widget with its outgoing messages recorded (no frontend attached)."""

    def __init__(self, **settings) -> None:
        self.camera = BrowserCamera(**settings)
        self.sent: list[dict] = []
        self.camera.send = lambda content, buffers=None: self.sent.append(content)

    def deliver(self, content: dict, buffers: list) -> None:
        """What ipywidgets does when a custom message arrives from the browser."""
        self.camera._on_message(self.camera, content, buffers)

    @property
    def acked(self) -> list[int]:
        return [m["id"] for m in self.sent if m.get("type") == "ack"]


@pytest.fixture
def kernel():
    k = Kernel()
    yield k
    k.camera.close()


# ---- decoding -------------------------------------------------------------------------------------
def test_a_frame_message_becomes_an_rgb_frame_with_arrival_timestamps(kernel):
    source = BrowserCameraSource(kernel.camera, timeout=2)
    kernel.camera.state = protocol.STREAMING
    before = time.monotonic()
    kernel.deliver(*frame_message(7, jpeg_two_colours(), t_capture_ms=time.time() * 1000 - 25))
    frame = next(source)
    assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
    # RGB order: the left half is red-dominant and the right half blue-dominant, as sent.
    left, right = frame.image[:, 4:28].reshape(-1, 3).mean(0), frame.image[:, 36:60].reshape(-1, 3).mean(0)
    assert np.abs(left - LEFT_RGB).max() < 12, left
    assert np.abs(right - RIGHT_RGB).max() < 12, right
    assert frame.index == 0
    assert before <= frame.captured_at <= time.monotonic() and frame.timestamp == frame.captured_at
    assert source.last_capture_ms is not None
    stats = source.stats()
    assert stats.frames_received == 1 and stats.frames_read == 1 and stats.size == (64, 48)
    assert 20 <= stats.latency_ms_median < 1000  # captured 25 ms before it was delivered
    kernel.deliver(*frame_message(8, jpeg_two_colours()))
    assert next(source).index == 1


def test_decode_jpeg_rejects_garbage():
    with pytest.raises(SourceError, match="not a decodable JPEG"):
        decode_jpeg(b"\xff\xd8 definitely not a jpeg")


def test_an_undecodable_frame_is_skipped_counted_and_warned_once_and_the_next_one_read(kernel, caplog):
    """One torn JPEG ended the live run (its SourceError left the read); now it is skipped, as
    an image folder skips an image it cannot decode and the widget a malformed message."""
    source = BrowserCameraSource(kernel.camera, timeout=5)
    kernel.camera.state = protocol.STREAMING
    jpeg = jpeg_two_colours()
    kernel.deliver(*frame_message(0, jpeg[: len(jpeg) // 2]))
    got: list = []
    reader = threading.Thread(target=lambda: got.append(next(source)), daemon=True)
    with caplog.at_level("WARNING", logger=source_module.__name__):
        reader.start()
        time.sleep(0.3)  # the reader took the torn frame and waits for the next
        kernel.deliver(*frame_message(1, b"garbage"))
        time.sleep(0.3)
        kernel.deliver(*frame_message(2, jpeg))
        reader.join(5)
    assert len(got) == 1 and got[0].image.shape == (48, 64, 3) and got[0].index == 0
    assert source.undecodable == 2 and source.stats().undecodable == 2
    warned = [r.getMessage() for r in caplog.records if "not a decodable JPEG" in r.getMessage()]
    assert len(warned) == 1 and "waiting for the next frame" in warned[0]
    assert kernel.acked == [0, 1, 2]


def test_only_undecodable_frames_for_timeout_seconds_end_the_read_saying_so(kernel):
    source = BrowserCameraSource(kernel.camera, timeout=0.5)
    kernel.camera.state = protocol.STREAMING
    stop = threading.Event()

    def browser_sending_garbage():
        for i in range(200):
            if stop.is_set():
                return
            kernel.deliver(*frame_message(i, b"garbage"))
            time.sleep(0.02)

    threading.Thread(target=browser_sending_garbage, daemon=True).start()
    t0 = time.monotonic()
    expected = r"no decodable frame for \d+ s.*skipped.*reload the notebook page"
    try:
        with pytest.raises(SourceError, match=expected):
            next(source)
    finally:
        stop.set()
    assert 0.45 <= time.monotonic() - t0 < 3.5  # after timeout, not at the first bad frame
    assert source.undecodable >= 2


# ---- the ack / back-pressure protocol ------------------------------------------------------------
def test_each_frame_is_acked_on_arrival_and_the_newest_unread_frame_wins(kernel):
    source = BrowserCameraSource(kernel.camera, timeout=2)
    kernel.camera.state = protocol.STREAMING
    jpeg = jpeg_two_colours()
    kernel.deliver(*frame_message(0, jpeg, t_capture_ms=1000.0))
    assert kernel.acked == [0]  # acked at once, before anyone read it: the browser may go on
    kernel.deliver(*frame_message(1, jpeg, t_capture_ms=2000.0, skipped=3))
    assert kernel.acked == [0, 1]
    next(source)
    assert source.last_capture_ms == 2000.0  # frame 1: the unread frame 0 was replaced
    stats = source.stats()
    assert (stats.frames_received, stats.frames_read, stats.kernel_replaced) == (2, 1, 1)
    assert stats.browser_skipped == 3


def test_nudges_and_foreign_messages_are_neither_frames_nor_acked(kernel):
    kernel.deliver({"type": "nudge", "id": 4}, [])
    kernel.deliver({"kind": "anywidget-command", "id": "x", "name": "y", "msg": {}}, [])
    assert kernel.sent == []
    assert kernel.camera.take(0.01) is None
    assert kernel.camera.stats().frames_received == 0


def test_a_malformed_frame_is_counted_and_still_acked_so_the_browser_is_not_stuck(kernel):
    kernel.deliver({"type": "frame", "id": 5, "width": 64, "height": 48, "t_capture": 1.0}, [])  # no JPEG
    kernel.deliver({"type": "frame", "id": 6, "t_capture": 1.0}, [b"jpeg"])  # no size
    assert kernel.acked == [5, 6]
    assert kernel.camera.take(0.01) is None
    assert kernel.camera.stats().malformed == 2


@pytest.mark.parametrize("bad", [{"id": "abc"}, {"id": None}, {"id": [1]}, {"width": float("inf")},
                                 {"height": float("-inf")}])
def test_a_frame_with_unusable_fields_is_counted_as_malformed_and_never_raises(kernel, bad):
    """Fields camera.js never sends: the handler runs on the kernel's message thread, and an
    exception there prints a traceback into the notebook instead of the one-line warning."""
    content, buffers = frame_message(3, jpeg_two_colours())
    kernel.deliver({**content, **bad}, buffers)  # raised ValueError/TypeError/OverflowError before
    assert kernel.camera.stats().malformed == 1
    assert kernel.acked == ([] if "id" in bad else [3])


def test_a_browser_that_waits_for_acks_never_has_more_than_one_frame_in_flight(kernel):
    """Drive the handler like camera.js does: the next frame only after the previous ack."""
    camera = kernel.camera
    camera.state = protocol.STREAMING
    jpeg = jpeg_two_colours()
    in_flight: list[int] = []
    max_in_flight = 0
    acks = threading.Semaphore(0)

    def send(content, buffers=None):
        kernel.sent.append(content)
        in_flight.remove(content["id"])
        acks.release()

    camera.send = send

    def browser():
        nonlocal max_in_flight
        for i in range(40):
            in_flight.append(i)
            max_in_flight = max(max_in_flight, len(in_flight))
            kernel.deliver(*frame_message(i, jpeg, t_capture_ms=float(i)))
            assert acks.acquire(timeout=2)

    source = BrowserCameraSource(camera, timeout=2)
    thread = threading.Thread(target=browser)
    thread.start()
    read: list[float] = []
    while not read or read[-1] != 39.0:  # a slow reader: frames are replaced before it gets to them
        next(source)
        read.append(source.last_capture_ms)
        time.sleep(0.01)
    thread.join(5)
    assert max_in_flight == 1 and not in_flight
    assert kernel.acked == list(range(40))
    assert read == sorted(read) and read[-1] == 39.0  # newest wins, never out of order
    stats = source.stats()
    assert stats.frames_received == 40
    assert stats.frames_read + stats.kernel_replaced == 40


# ---- states, errors, timeouts ---------------------------------------------------------------------
@pytest.mark.parametrize(("state", "error", "words"), [
    (protocol.DENIED, "NotAllowedError: Permission denied", "permission denied"),
    (protocol.NO_CAMERA, "NotFoundError: Requested device not found", "found no camera"),
    (protocol.NO_CAMERA, "OverconstrainedError: ", "found no camera"),
    (protocol.BUSY, "NotReadableError: Could not start video source", "in use by another program"),
    (protocol.ENDED, "", "stopped delivering"),
    (protocol.UNSUPPORTED, "navigator.mediaDevices.getUserMedia is not available", "https"),
])
def test_browser_failures_raise_source_error_saying_what_to_do(kernel, state, error, words):
    source = BrowserCameraSource(kernel.camera, timeout=120)
    kernel.camera.state, kernel.camera.error = state, error
    started = time.monotonic()
    with pytest.raises(SourceError) as info:
        next(source)
    assert time.monotonic() - started < 10  # at once, not after the timeout (room for a busy machine)
    message = str(info.value)
    assert message.startswith("browser camera: ") and words in message
    if error:
        assert error in message
    assert kernel.camera.failed


def test_a_failure_reported_while_a_read_waits_wakes_it_at_once(kernel, monkeypatch):
    # With 60 s slices, only the state change's wake can end the read within the 10 s below; a
    # timing bound would flake on a busy machine.
    monkeypatch.setattr(source_module, "WAIT_SLICE_S", 60.0)
    source = BrowserCameraSource(kernel.camera, timeout=120)
    kernel.camera.state = protocol.STREAMING
    caught: list[BaseException] = []
    done = threading.Event()

    def read():
        try:
            next(source)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            caught.append(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    time.sleep(0.2)
    assert not done.is_set()
    kernel.camera.error = "NotReadableError: Could not start video source"
    kernel.camera.state = protocol.BUSY
    assert done.wait(10)
    assert isinstance(caught[0], SourceError) and "in use by another program" in str(caught[0])


def test_no_frame_while_streaming_times_out_with_a_clear_message(kernel):
    source = BrowserCameraSource(kernel.camera, timeout=0.4)
    kernel.camera.state = protocol.STREAMING
    t0 = time.monotonic()
    expected = r"no frame for \d+ s \(browser state 'streaming'\).*is the kernel blocked"
    with pytest.raises(SourceError, match=expected):
        next(source)
    assert 0.35 <= time.monotonic() - t0 < 1.5


class KernelComm(BaseComm):
    """Stands for ipykernel's comm: a front end could display the widget (not a DummyComm)."""

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys) -> None:
        pass


def test_a_camera_never_displayed_times_out_with_start_timeout_and_says_display_it():
    camera = BrowserCamera(comm=KernelComm())
    source = BrowserCameraSource(camera, timeout=0.1, start_timeout=0.5)
    assert camera.state == protocol.IDLE
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="not displayed"):
        next(source)
    assert time.monotonic() - t0 >= 0.45  # the longer start allowance, not the streaming one
    camera.close()


def test_outside_a_jupyter_kernel_the_browser_camera_fails_at_once_saying_so(kernel):
    """A script or ``pose3d run --source browser``: nothing can display the widget (it used to
    wait start_timeout, 60 s, and then say to display it in a notebook tab)."""
    source = BrowserCameraSource(kernel.camera, start_timeout=30)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="not a Jupyter kernel.*use it from a notebook"):
        next(source)
    assert time.monotonic() - t0 < 10  # far below start_timeout, with room for a busy machine


def test_a_hidden_tab_is_a_pause_not_an_error_and_frames_resume(kernel):
    source = BrowserCameraSource(kernel.camera, timeout=0.2, start_timeout=0.2)
    kernel.camera.state = protocol.HIDDEN
    got: list = []
    reader = threading.Thread(target=lambda: got.append(next(source)), daemon=True)
    reader.start()
    reader.join(0.8)  # four times the timeout: still waiting, no error
    assert reader.is_alive() and not got
    kernel.camera.state = protocol.STREAMING
    kernel.deliver(*frame_message(0, jpeg_two_colours()))
    reader.join(2)
    assert len(got) == 1 and got[0].image.shape == (48, 64, 3)


def test_close_from_another_thread_ends_a_blocked_iteration(kernel, monkeypatch):
    monkeypatch.setattr(source_module, "WAIT_SLICE_S", 60.0)  # only close()'s wake can end it soon
    source = BrowserCameraSource(kernel.camera, timeout=120)
    kernel.camera.state = protocol.STREAMING
    frames: list = []
    finished = threading.Event()

    def consume():
        for frame in source:
            frames.append(frame)
        finished.set()

    threading.Thread(target=consume, daemon=True).start()
    kernel.deliver(*frame_message(0, jpeg_two_colours()))
    time.sleep(0.3)
    assert len(frames) == 1 and not finished.is_set()
    # close() waits for the read to return, so it runs in its own thread: the wait is the check.
    closer = threading.Thread(target=source.close, daemon=True)
    closer.start()
    assert finished.wait(10)
    closer.join(10)
    assert source.closed
    with pytest.raises(StopIteration):
        next(source)
    # The widget (the browser's camera) outlives the reader: a new source can read it.
    again = BrowserCameraSource(kernel.camera, timeout=2)
    kernel.deliver(*frame_message(1, jpeg_two_colours()))
    assert next(again).index == 0


def test_a_new_source_does_not_get_a_stale_frame_left_by_an_earlier_one(kernel):
    kernel.deliver(*frame_message(0, jpeg_two_colours()))
    source = BrowserCameraSource(kernel.camera, timeout=0.3)
    kernel.camera.state = protocol.STREAMING
    with pytest.raises(SourceError, match="no frame"):
        next(source)


# ---- widget settings and helpers ----------------------------------------------------------------
def test_settings_are_validated(kernel):
    camera = kernel.camera
    assert (camera.width, camera.height, camera.fps, camera.quality) == (640, 480, 30.0, 0.8)
    for name, bad in (("width", 0), ("height", 10_000), ("fps", 0), ("quality", 1.5), ("ack_timeout", 0),
                      ("nudge_ms", -1)):
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(camera, name, bad)
    with pytest.raises(TypeError, match="no setting 'colour'"):
        BrowserCameraSource(camera, colour="red")
    source = BrowserCameraSource(camera, width=320, height=240, fps=15)
    assert (camera.width, camera.height) == (320, 240) and source.fps == 15.0
    assert source.is_live and source.name == "browser camera"


def test_the_default_camera_is_shared_until_closed():
    first = default_camera(quality=0.6)
    try:
        assert default_camera() is first and first.quality == 0.6
        assert BrowserCameraSource().camera is first
    finally:
        first.close()
    second = default_camera()
    try:
        assert second is not first
    finally:
        second.close()


def test_the_javascript_ships_in_the_package_and_loads_nothing_from_the_network(kernel):
    from pathlib import Path

    import pose3d_nb.browser_camera as package

    js_path = Path(package.__file__).with_name("camera.js")
    js = js_path.read_text()
    assert kernel.camera._esm == js  # the widget sends the packaged file itself
    assert not re.search(r"^\s*import\b|\bimport\(", js, re.MULTILINE)  # no module loads at all
    assert "export default" in js


def test_every_state_has_an_explanation():
    for state in protocol.STATES:
        assert "unknown" not in protocol.explain(state)
    assert "(browser said: X)" in protocol.explain(protocol.ERROR, "X")
