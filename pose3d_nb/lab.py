"""Start JupyterLab on the demo notebook (``pose3d demo``)."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import webbrowser
from dataclasses import dataclass
from pathlib import Path

from pose3d_nb.errors import Pose3DFileNotFoundError, Pose3DImportError, Pose3DRuntimeError

DEMO_NOTEBOOK = "demo.ipynb"
NOTEBOOKS = ("demo.ipynb", "analysis.ipynb", "batch.ipynb")

#: JupyterLab options for live widgets: the server extension that gives kernel websockets
#: TCP_NODELAY (see ``pose3d_nb.lab_websocket``; without it small updates arrive in bunches).
SERVER_OPTIONS = ("--ServerApp.jpserver_extensions=pose3d_nb.lab_websocket=True",)

_TOKEN_VARIABLE = "POSE3D_LAB_TOKEN"
# ``python -m jupyterlab ARGS --IdentityProvider.token=TOKEN`` without TOKEN on the command line,
# which every local user can read (ps, /proc/PID/cmdline): it comes in the environment (readable
# by this user only) and leaves it before any kernel starts. A command-line option still beats
# a token set in the user's Jupyter config, as it did on the command line.
_LAUNCH_LAB = (
    "import os, sys; from jupyterlab.labapp import main; "
    f"token = os.environ.pop({_TOKEN_VARIABLE!r}); "
    "sys.exit(main(argv=[*sys.argv[1:], '--IdentityProvider.token=' + token]))"
)


def _checkout_root() -> Path | None:
    """The source checkout this package runs from (it has notebooks/), or None when installed."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "notebooks" / DEMO_NOTEBOOK).is_file() else None


def _packaged_notebooks() -> Path | None:
    """Notebooks shipped inside the package (``pose3d_nb/data/notebooks``), if any."""
    here = Path(__file__).resolve().parent / "data" / "notebooks"
    return here if (here / DEMO_NOTEBOOK).is_file() else None


def notebook_dir(work_dir: str | Path | None = None) -> Path:
    """The folder to serve: the checkout's notebooks/, or a copy of the packaged notebooks.

    An installed package is read-only territory (site-packages), and a notebook writes its
    recordings (``out_files/``) next to itself, so outside a checkout the notebooks are copied
    to ``work_dir`` (default ``./pose3d_notebooks``); existing copies are never overwritten.
    """
    root = _checkout_root()
    if root is not None and work_dir is None:
        return root / "notebooks"
    source = root / "notebooks" if root is not None else _packaged_notebooks()
    if source is None:
        raise Pose3DFileNotFoundError(
            "the demo notebook was not found: run from a source checkout (./run demo) or install a "
            "build of pose3d_nb that ships pose3d_nb/data/notebooks"
        )
    target = Path(work_dir or "pose3d_notebooks").resolve()
    target.mkdir(parents=True, exist_ok=True)
    for name in NOTEBOOKS:
        if (source / name).is_file() and not (target / name).exists():
            shutil.copy2(source / name, target / name)
    return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LabServer:
    """A running JupyterLab started by :func:`start_lab`."""

    process: subprocess.Popen
    url: str  # opens the demo notebook, token included
    base_url: str
    token: str
    root_dir: Path

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate JupyterLab (it shuts its kernels down on SIGTERM)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


# Straight to the local server: an http_proxy in the environment would otherwise get every
# request, token included, and a proxy cannot reach this machine's 127.0.0.1 anyway.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_ready(base_url: str, token: str, process: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Pose3DRuntimeError(
                f"JupyterLab exited with status {process.returncode} before it was ready"
            )
        try:
            with _NO_PROXY.open(f"{base_url}/api/status?token={token}", timeout=2) as r:
                json.loads(r.read())
                return
        except OSError:
            time.sleep(0.25)
    raise Pose3DRuntimeError(f"JupyterLab did not answer at {base_url} within {timeout_s:.0f} s")


def start_lab(port: int | None = None, work_dir: str | Path | None = None, notebook: str = DEMO_NOTEBOOK,
              startup_timeout_s: float = 120.0) -> LabServer:
    """Start JupyterLab on 127.0.0.1 with a random token, serving the notebooks; wait until it answers.

    Only loopback is bound (the token still guards it from other local users). The server
    runs with ``SERVER_OPTIONS``, which keep live widget updates smooth.
    """
    if importlib.util.find_spec("jupyterlab") is None:
        raise Pose3DImportError(
            "JupyterLab is not installed: pip install 'pose3d_nb[lab]' (the widgets also work in "
            "any Jupyter front end you already have: open notebooks/demo.ipynb there)"
        )
    root = notebook_dir(work_dir)
    port = port or free_port()
    token = secrets.token_hex(24)
    env = dict(os.environ)
    env[_TOKEN_VARIABLE] = token
    checkout = _checkout_root()
    if checkout is not None:
        # The kernel must import this checkout's pose3d_nb even if it was never pip-installed.
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(checkout), env.get("PYTHONPATH", "")) if p)
    cmd = [
        sys.executable, "-c", _LAUNCH_LAB, "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
        *SERVER_OPTIONS,
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers often run as root; JupyterLab refuses without it
    process = subprocess.Popen(cmd, cwd=root, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, token, process, startup_timeout_s)
    except BaseException:
        process.terminate()
        raise
    return LabServer(process=process, url=f"{base}/lab/tree/{notebook}?token={token}", base_url=base,
                     token=token, root_dir=root)


def launch_demo(port: int | None = None, open_browser: bool = False, work_dir: str | Path | None = None,
                wait: bool = True) -> LabServer:
    """Open the demo notebook in JupyterLab and print its URL (with the token).

    Blocks until JupyterLab exits or Ctrl-C (then stops it) when ``wait`` is True; otherwise
    returns the running :class:`LabServer` for the caller to ``stop()``.
    """
    server = start_lab(port=port, work_dir=work_dir)
    print(f"JupyterLab is serving {server.root_dir}\nOpen the demo at:\n    {server.url}\n"
          "Then Run > Run All Cells. Ctrl-C here stops JupyterLab.", flush=True)
    if open_browser:
        webbrowser.open(server.url)
    if not wait:
        return server
    try:
        server.process.wait()
    except KeyboardInterrupt:
        print("stopping JupyterLab", flush=True)
    finally:
        server.stop()
    return server
