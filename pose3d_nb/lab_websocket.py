"""Jupyter server extension: kernel websockets send each message at once (TCP_NODELAY).

jupyter_server leaves Nagle's algorithm on for the kernel websocket: tornado switches it off
only while it answers an HTTP request and back on afterwards, and the websocket inherits that.
With Nagle on, a small write waits until the previous one is acknowledged, and the receiving
TCP stack delays acknowledgements (Linux: up to 40 ms), so a stream of small widget updates (a
3D pose is about 600 bytes) arrives in bunches every ~45 ms and the browser draws only the
newest of each bunch. ``tests/browser/bench_display.py`` measures the effect.

``pose3d demo`` loads this extension. In your own JupyterLab (whose Python must import
``pose3d_nb``)::

    jupyter lab --ServerApp.jpserver_extensions=pose3d_nb.lab_websocket=True

or ``c.ServerApp.jpserver_extensions = {"pose3d_nb.lab_websocket": True}`` in
``jupyter_server_config.py``. (``jupyter server extension enable`` refuses it: that command only
toggles extensions a package declared in an installed config file.)

It wraps whichever kernel websocket connection class the server is configured with (the
default ZMQ one, a gateway's), so it changes nothing else. Only the server imports this module.
"""

from __future__ import annotations

import socket
from typing import Any

#: The extension's module name, for ``ServerApp.jpserver_extensions``.
EXTENSION = __name__


def set_nodelay(websocket_handler: Any) -> bool:
    """Turn Nagle's algorithm off on a tornado ``WebSocketHandler``'s open connection.

    Returns True when the socket reports TCP_NODELAY afterwards; False when there is no TCP
    socket (closed, or a Unix socket, where Nagle does not apply).
    """
    connection = getattr(websocket_handler, "ws_connection", None)
    stream = getattr(connection, "stream", None)
    sock = getattr(stream, "socket", None)
    if connection is None or sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return False
    connection.set_nodelay(True)
    return bool(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))


class NoDelayConnectionMixin:
    """Mixed in before a kernel websocket connection class: TCP_NODELAY on ``connect()``.

    ``connect()`` runs from the handler's ``open()``, after tornado has finished the handshake
    (which turns Nagle back on) and detached the stream, so nothing turns it on again later.
    """

    def connect(self) -> Any:
        if set_nodelay(self.websocket_handler):  # type: ignore[attr-defined]
            self.log.info("pose3d_nb: kernel websocket %s sends with TCP_NODELAY",  # type: ignore[attr-defined]
                          self.kernel_id)  # type: ignore[attr-defined]
        return super().connect()  # type: ignore[misc]


def with_nodelay(connection_class: type) -> type:
    """``connection_class`` with :class:`NoDelayConnectionMixin` in front (itself if already)."""
    if issubclass(connection_class, NoDelayConnectionMixin):
        return connection_class
    return type(f"NoDelay{connection_class.__name__}", (NoDelayConnectionMixin, connection_class), {})


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    settings = serverapp.web_app.settings
    key = "kernel_websocket_connection_class"
    configured = settings.get(key) or getattr(serverapp, key)
    settings[key] = with_nodelay(configured)
    serverapp.log.info("pose3d_nb: kernel websockets use TCP_NODELAY (%s)", configured.__name__)
