"""``launch_demo``: JupyterLab on loopback with a token, serving the demo notebook, with kernel
websockets that send small messages at once (TCP_NODELAY)."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

from pose3d_nb.lab import SERVER_OPTIONS, launch_demo
from pose3d_nb.lab_websocket import EXTENSION, NoDelayConnectionMixin, set_nodelay, with_nodelay

pytestmark = pytest.mark.slow


def test_launch_demo_serves_the_notebook_behind_a_token(tmp_path, monkeypatch, capfd):
    # Keep Jupyter's runtime/config files out of the real home directory.
    for var in ("HOME", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    work = tmp_path / "work"
    # A proxy in the environment (nothing listens on port 9) must not get the local requests
    # and their token: before, start-up waited its whole timeout and then failed.
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY"):  # urllib reads both spellings
        monkeypatch.delenv(name, raising=False)
    server = launch_demo(work_dir=work, wait=False)
    monkeypatch.delenv("http_proxy")
    try:
        # Other local users can read any process's command line (ps); the token stays off it.
        cmdline = Path(f"/proc/{server.process.pid}/cmdline")
        if cmdline.exists():
            assert server.token not in cmdline.read_bytes().decode(errors="replace")
        first = capfd.readouterr()
        printed, log = first.out, first.err
        assert server.url in printed and f"token={server.token}" in server.url
        assert server.url.startswith("http://127.0.0.1:") and server.url.split("?")[0].endswith("/demo.ipynb")
        assert (work / "demo.ipynb").is_file() and (work / "analysis.ipynb").is_file()
        with urllib.request.urlopen(f"{server.base_url}/api/contents/demo.ipynb?token={server.token}") as r:
            nb = json.loads(r.read())
        sources = ["".join(c["source"]) for c in nb["content"]["cells"]]
        assert nb["type"] == "notebook" and any("PoseApp" in s for s in sources)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{server.base_url}/api/contents/demo.ipynb")
        assert denied.value.code == 403
        # A kernel websocket as the browser opens one: it works, and the server's log (the
        # server writes to this process's stderr) says it got TCP_NODELAY.
        # ... and kernels do not inherit it (a notebook printing its environment would save it).
        code = f"import os; print(6 * 7, any({server.token!r} in v for v in os.environ.values()))"
        assert asyncio.run(_execute_over_websocket(server.base_url, server.token, code)) == "42 False\n"
        log += capfd.readouterr().err
        assert "kernel websockets use TCP_NODELAY (ZMQChannelsWebsocketConnection)" in log, log[-3000:]
        assert re.search(r"kernel websocket \S+ sends with TCP_NODELAY", log), log[-3000:]
    finally:
        server.stop()
    assert server.process.poll() is not None


async def _execute_over_websocket(base_url: str, token: str, code: str) -> str:
    """Start a kernel, run ``code`` through its websocket as a browser does, return its stdout."""
    req = urllib.request.Request(f"{base_url}/api/kernels?token={token}", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        kernel_id = json.loads(r.read())["id"]
    ws_url = base_url.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels?token={token}"
    ws = await tornado.websocket.websocket_connect(ws_url)
    try:
        msg_id = uuid.uuid4().hex
        ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                       "session": uuid.uuid4().hex, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        # The shell reply and the iopub output travel on different channels and may arrive in
        # either order; the output is complete once iopub reports the kernel idle for this request.
        out, reply, idle = "", None, False
        while reply is None or not idle:
            raw = await asyncio.wait_for(ws.read_message(), 60)
            assert raw is not None, "the kernel websocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out += msg["content"]["text"]
            elif msg["msg_type"] == "execute_reply":
                reply = msg["content"]
            elif msg["msg_type"] == "status":
                idle = msg["content"]["execution_state"] == "idle"
        assert reply["status"] == "ok", reply
        return out
    finally:
        ws.close()
        req = urllib.request.Request(f"{base_url}/api/kernels/{kernel_id}?token={token}", method="DELETE")
        urllib.request.urlopen(req).close()


def test_the_extension_wraps_whichever_connection_class_is_configured():
    from jupyter_server.gateway.connections import GatewayWebSocketConnection
    from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

    for configured in (ZMQChannelsWebsocketConnection, GatewayWebSocketConnection):
        wrapped = with_nodelay(configured)
        assert issubclass(wrapped, configured) and issubclass(wrapped, NoDelayConnectionMixin)
        assert wrapped.__mro__[1] is NoDelayConnectionMixin  # its connect() runs first
        assert with_nodelay(wrapped) is wrapped
    assert f"--ServerApp.jpserver_extensions={EXTENSION}=True" in SERVER_OPTIONS


@pytest.mark.parametrize("nodelay", [True, False])
def test_set_nodelay_keeps_nagle_off_on_a_tornado_websocket(nodelay):
    """What the JupyterLab kernel websocket gets with and without ``set_nodelay`` in ``open()``.

    Without it tornado leaves Nagle's algorithm on (which bunches small updates); with it the
    option stays off for the life of the connection (it is read after messages have flowed).
    """
    seen: dict[str, object] = {}

    class Echo(tornado.websocket.WebSocketHandler):
        def open(self):
            seen["set"] = set_nodelay(self) if nodelay else None

        def on_message(self, message):
            sock = self.ws_connection.stream.socket
            seen["option"] = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            self.write_message(message)

    async def run() -> None:
        sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = tornado.httpserver.HTTPServer(tornado.web.Application([("/ws", Echo)]))
        server.add_sockets(sockets)
        try:
            ws = await tornado.websocket.websocket_connect(f"ws://127.0.0.1:{port}/ws")
            for i in range(3):
                ws.write_message(f"m{i}")
                assert await asyncio.wait_for(ws.read_message(), 10) == f"m{i}"
            ws.close()
        finally:
            server.stop()

    asyncio.run(run())
    assert seen["set"] is (True if nodelay else None)
    assert bool(seen["option"]) is nodelay
