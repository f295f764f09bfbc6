"""The webcam of the computer running the browser, streamed to the kernel.

In Jupyter the kernel often runs elsewhere (JupyterHub, a remote server, a container) and
cannot see the user's webcam; the browser can. ``BrowserCamera`` is a widget that opens the
browser's camera and sends JPEG frames to the kernel (one in flight at a time, newest wins);
``BrowserCameraSource`` turns them into RGB frames for ``PoseEngine``::

    from pose3d_nb.browser_camera import BrowserCamera, BrowserCameraSource
    camera = BrowserCamera()                      # 640x480, up to 30 frames/s
    engine = PoseEngine(source=BrowserCameraSource(camera))
    engine.start()
    camera                                        # display it: the browser asks for permission
"""

from pose3d_nb.browser_camera.protocol import STATES, EncodedFrame, explain
from pose3d_nb.browser_camera.source import BrowserCameraSource, decode_jpeg, default_camera
from pose3d_nb.browser_camera.stats import BrowserCameraStats
from pose3d_nb.browser_camera.widget import BrowserCamera

__all__ = [
    "STATES",
    "BrowserCamera",
    "BrowserCameraSource",
    "BrowserCameraStats",
    "EncodedFrame",
    "decode_jpeg",
    "default_camera",
    "explain",
]
