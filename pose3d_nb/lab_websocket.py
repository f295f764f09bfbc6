"""Kernel websockets that send each message at once (TCP_NODELAY), for smooth live widgets.

jupyter_server leaves Nagle's algorithm on for the kernel websocket: tornado switches it off
only while it answers an HTTP request and back on afterwards, and the websocket inherits that.
With Nagle on, a small write waits until the previous one is acknowledged, and browsers delay
acknowledgements by up to 40 ms, so a stream of small widget updates (a 3D pose is about 600
bytes) arrives in bunches every ~45 ms and the browser draws only the newest of each bunch.
Measured in headless Chromium on this project's 2-core machine: a 30/s pythreejs pose stream
was drawn 21-23 times a second with the default connection and 30.0 times with this one.

Use it by starting JupyterLab with::

    --ServerApp.kernel_websocket_connection_class=pose3d_nb.lab_websocket.NoDelayKernelWebsocketConnection

(``pose3d demo`` does). This module imports jupyter_server, so only the server should import it.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

log = logging.getLogger(__name__)

#: The value for ``--ServerApp.kernel_websocket_connection_class``.
CONNECTION_CLASS = f"{__name__}.NoDelayKernelWebsocketConnection"


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


class NoDelayKernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, with TCP_NODELAY on its socket.

    ``connect()`` runs from the handler's ``open()``, after tornado has finished the handshake
    and detached the stream from the HTTP connection, so nothing turns Nagle back on later.
    """

    def connect(self) -> Any:
        if not set_nodelay(self.websocket_handler):
            log.debug("kernel websocket: no TCP socket, TCP_NODELAY not set")
        return super().connect()
