"""Drive a real JupyterLab in Debian's Chromium (Playwright) for widget tests.

``lab_browser(notebook_dir)`` starts an isolated JupyterLab (temp HOME, Jupyter/IPython/
matplotlib/XDG dirs; 127.0.0.1, a free port, a random token) serving ``notebook_dir``, waits for
``/api/status``, launches Chromium with the WebGL-in-software flags from FACTS.md and a fresh
profile, and yields a :class:`LabBrowser`. Init scripts count WebGL clears (one per 3D draw)
and ``img.widget-image`` src changes (one per video frame shown). Everything is torn down on
exit: the browser, then the server's whole process group (kernels included).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pose3d_nb.lab import SERVER_OPTIONS, free_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")

# From FACTS.md: SwiftShader WebGL in headless Debian chromium. Not --use-gl=swiftshader (no WebGL).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Headless tabs are never "visible"; without these Chrome throttles timers and rAF.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]

# Counts 3D draws (three.js clears once per render), image-widget frame changes and widget
# messages the page sends to the kernel.
INIT_SCRIPT = """
(() => {
  const rec = window.__pose3d = {clears: [], images: []};
  for (const C of [window.WebGLRenderingContext, window.WebGL2RenderingContext]) {
    if (!C) continue;
    const orig = C.prototype.clear;
    C.prototype.clear = function (mask) { rec.clears.push(performance.now()); return orig.call(this, mask); };
  }
  // Mark canvases that get a WebGL context (asking for one ourselves would create it).
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type, ...rest) {
    const ctx = getContext.call(this, type, ...rest);
    if (ctx && /webgl/.test(type)) this.dataset.pose3dWebgl = '1';
    return ctx;
  };
  // Widget messages from the page to the kernel (comm_msg): a display that makes the page
  // answer each frame costs the kernel and the page a round trip per frame.
  rec.toKernel = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    try {
      const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
      if (text.includes('"msg_type":"comm_msg"')) rec.toKernel.push(performance.now());
    } catch (e) { /* not text: not a kernel message */ }
    return send.call(this, data);
  };
  const obs = new MutationObserver((muts) => {
    for (const m of muts) {
      if (m.attributeName === 'src' && m.target.classList && m.target.classList.contains('widget-image')) {
        rec.images.push(performance.now());
      }
    }
  });
  const start = () => obs.observe(document.documentElement, {subtree: true, attributes: true,
                                                              attributeFilter: ['src']});
  if (document.documentElement) start(); else document.addEventListener('DOMContentLoaded', start);
})();
"""


def require_chromium() -> Path:
    """Path of Debian's chromium; skip the test when absent, except in CI where that is a failure."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{CHROMIUM} is missing in CI: install Debian's chromium (apt-get install chromium)")
    pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium to run the browser tests)")
    raise AssertionError("unreachable")


@dataclass
class LabBrowser:
    """A running JupyterLab plus a Chromium page on it."""

    page: Any  # playwright.sync_api.Page
    base_url: str
    token: str
    notebook_dir: Path
    temp_dir: Path
    server_log: Path
    console: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    # ---- navigation / cells -------------------------------------------------------------------
    def open_notebook(self, name: str, timeout_s: float = 90) -> None:
        """Open ``name`` (relative to the notebook dir) and wait for its kernel to be idle."""
        self.page.goto(f"{self.base_url}/lab/tree/{name}?token={self.token}&reset", wait_until="load")
        self.page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return !!(k && k.status === 'idle' && w.content && w.content.widgets.length); }",
            timeout=timeout_s * 1000,
        )

    def command(self, name: str, args: dict | None = None) -> None:
        """Run a JupyterLab command (e.g. 'notebook:run-all-cells')."""
        self.page.evaluate("([n, a]) => window.jupyterapp.commands.execute(n, a)", [name, args or {}])

    def run_all_cells(self, timeout_s: float = 120) -> None:
        """Run every cell and wait until none is queued or running and the kernel is idle."""
        self.command("notebook:run-all-cells")
        self.page.wait_for_timeout(500)
        self.page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w.sessionContext.session.kernel;"
            " const busy = [...document.querySelectorAll('.jp-InputPrompt')]"
            "   .some(e => e.innerText.includes('*'));"
            " return k.status === 'idle' && !busy; }",
            timeout=timeout_s * 1000,
            polling=250,
        )

    def append_and_run_cell(self, code: str, timeout_s: float = 120) -> None:
        """Add a code cell at the end of the open notebook, run it and wait for the kernel."""
        self.page.evaluate(
            """async (code) => {
              const app = window.jupyterapp, nb = app.shell.currentWidget.content;
              nb.activeCellIndex = nb.widgets.length - 1;
              await app.commands.execute('notebook:insert-cell-below');
              nb.activeCell.model.sharedModel.setSource(code);
              await app.commands.execute('notebook:run-cell');
            }""",
            code,
        )
        self.page.wait_for_timeout(300)
        self.page.wait_for_function(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'",
            timeout=timeout_s * 1000, polling=250)

    def execute(self, code: str, timeout_s: float = 60) -> dict:
        """Run ``code`` in the open notebook's kernel without adding a cell.

        Returns ``{"out": stdout + error text, "ms": round-trip time}``: the round trip of an
        unrelated cell is the kernel's responsiveness while the app's threads run.
        """
        return self.page.evaluate(
            """async ([code, timeoutMs]) => {
              const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
              const t0 = performance.now();
              const f = k.requestExecute({code, silent: false, store_history: false});
              let out = '';
              f.onIOPub = (msg) => {
                const t = msg.header.msg_type, c = msg.content;
                if (t === 'stream') out += c.text;
                else if (t === 'error') out += `${c.ename}: ${c.evalue}\\n`;
                else if (t === 'execute_result') out += (c.data['text/plain'] || '') + '\\n';
              };
              const timer = new Promise((_, rej) =>
                setTimeout(() => rej(new Error('execute timeout')), timeoutMs));
              await Promise.race([f.done, timer]);
              return {out, ms: performance.now() - t0};
            }""",
            [code, timeout_s * 1000],
        )

    # ---- measurements -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Totals so far: WebGL clears (3D draws), image src changes, widget messages to the kernel."""
        return self.page.evaluate("() => ({clears: __pose3d.clears.length, images: __pose3d.images.length,"
                                  " to_kernel: __pose3d.toKernel.length})")

    def rates(self, seconds: float = 5.0) -> dict[str, float]:
        """3D draws/s, image updates/s and widget messages to the kernel/s over the next ``seconds``."""
        c0 = self.counts()
        t0 = time.monotonic()
        self.page.wait_for_timeout(seconds * 1000)
        c1 = self.counts()
        dt = time.monotonic() - t0
        return {"draws_per_s": (c1["clears"] - c0["clears"]) / dt,
                "images_per_s": (c1["images"] - c0["images"]) / dt,
                "to_kernel_per_s": (c1["to_kernel"] - c0["to_kernel"]) / dt}

    def body_text(self) -> str:
        return self.page.evaluate("() => document.body.innerText")

    def widget_errors(self) -> list[str]:
        """Lines of the page showing a widget that failed or never loaded."""
        text = self.body_text()
        return [line for line in text.splitlines() if "Error displaying widget" in line
                or "Loading widget..." in line or "Failed to load model class" in line]

    def webgl_canvases(self) -> list[dict]:
        """Bounding boxes of canvases in the page that hold a WebGL context."""
        return self.page.evaluate(
            """() => [...document.querySelectorAll('canvas[data-pose3d-webgl]')].map(c => {
                 const r = c.getBoundingClientRect();
                 return {x: r.x, y: r.y, width: r.width, height: r.height, cw: c.width, ch: c.height}; })"""
        )

    def webgl_canvas(self, min_size: int = 50) -> Any:
        """Locator of the first WebGL canvas at least ``min_size`` px wide and high (scrolled into view)."""
        loc = self.page.locator("canvas[data-pose3d-webgl]")
        for i in range(loc.count()):
            c = loc.nth(i)
            box = c.bounding_box()
            if box and box["width"] >= min_size and box["height"] >= min_size:
                c.scroll_into_view_if_needed()
                return c
        raise AssertionError(f"no WebGL canvas of at least {min_size}px: {self.webgl_canvases()}")

    def screenshot(self, name: str, clip: dict | None = None, locator: Any = None) -> Path:
        """Save a PNG to test-artifacts/ (full page, a clip box, or one element)."""
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / name
        if locator is not None:
            locator.screenshot(path=str(path))
        else:
            self.page.screenshot(path=str(path), clip=clip)
        return path

    def server_log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.server_log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def _isolated_env(tmp: Path, extra_pythonpath: list[Path]) -> dict[str, str]:
    env = dict(os.environ)
    dirs = {
        "HOME": "home", "JUPYTER_RUNTIME_DIR": "jupyter/runtime", "JUPYTER_CONFIG_DIR": "jupyter/config",
        "JUPYTER_DATA_DIR": "jupyter/data", "IPYTHONDIR": "ipython", "MPLCONFIGDIR": "mpl",
        "XDG_CONFIG_HOME": "xdg/config", "XDG_CACHE_HOME": "xdg/cache", "XDG_DATA_HOME": "xdg/data",
        "XDG_RUNTIME_DIR": "xdg/runtime", "XDG_STATE_HOME": "xdg/state",
    }
    for var, sub in dirs.items():
        d = tmp / sub
        d.mkdir(parents=True, exist_ok=True)
        env[var] = str(d)
    os.chmod(tmp / "xdg/runtime", 0o700)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    # The kernel must import this checkout's pose3d_nb whether or not it is pip-installed.
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_pythonpath), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return env


def _wait_for_status(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n"
                               f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                json.loads(r.read())
                return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.25)
    raise TimeoutError(f"JupyterLab did not answer {url} in {timeout_s}s ({last}):\n"
                       f"{log.read_text(errors='replace')[-3000:]}")


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (server + kernels), SIGKILL what is left."""
    if proc.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(10)
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # kernels may outlive the server's own exit
    if proc.poll() is None:
        proc.wait(5)


@contextmanager
def jupyterlab_server(
    notebook_dir: Path, tmp: Path, startup_timeout_s: float = 90, extra_pythonpath: list[Path] | None = None,
    server_options: Sequence[str] = SERVER_OPTIONS, server_env: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, str, subprocess.Popen, Path]]:
    """Start an isolated JupyterLab on 127.0.0.1; yields (base_url, token, process, log path).

    ``server_options`` default to what ``pose3d demo`` runs with; a benchmark passes ``()`` to
    measure JupyterLab's defaults. ``server_env`` adds variables for the server and kernels.
    """
    port, token = free_port(), secrets.token_hex(16)
    env = _isolated_env(tmp, extra_pythonpath if extra_pythonpath is not None else [ROOT])
    env.update(server_env or {})
    log = tmp / "jupyterlab.log"
    # No news/update toast: it asks about fetching from the internet and covers part of the page.
    settings = Path(env["JUPYTER_CONFIG_DIR"]) / "lab/user-settings/@jupyterlab/apputils-extension"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    cmd = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True", "--allow-root",
        f"--ServerApp.root_dir={notebook_dir}", f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--ServerApp.port_retries=0", *server_options,
    ]
    with open(log, "wb") as out:
        # Own process group: teardown kills the server and every kernel it started, nothing else.
        proc = subprocess.Popen(cmd, cwd=notebook_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_for_status(f"{base}/api/status?token={token}", proc, log, startup_timeout_s)
        yield base, token, proc, log
    finally:
        _kill_group(proc)


@contextmanager
def lab_browser(notebook_dir: Path | str, viewport: tuple[int, int] = (1400, 1000),
                keep_temp: bool = False, chromium_args: list[str] | tuple[str, ...] = (),
                permissions: list[str] | None = None,
                server_options: Sequence[str] = SERVER_OPTIONS,
                server_env: Mapping[str, str] | None = None) -> Iterator[LabBrowser]:
    """JupyterLab serving ``notebook_dir`` + a headless Chromium page logged in to it.

    ``chromium_args`` are added to ``CHROMIUM_ARGS`` (e.g. the fake-camera flags);
    ``permissions`` are granted to the context (e.g. ``["camera"]``; None grants nothing);
    ``server_options``, ``server_env``: see :func:`jupyterlab_server`.
    """
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    notebook_dir = Path(notebook_dir).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="pose3d-lab-"))
    try:
        server = jupyterlab_server(notebook_dir, tmp, server_options=server_options, server_env=server_env)
        with server as (base, token, _proc, log), sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(tmp / "chromium-profile"), executable_path=str(chromium), headless=True,
                args=[*CHROMIUM_ARGS, *chromium_args], viewport={"width": viewport[0], "height": viewport[1]},
                **({"permissions": list(permissions)} if permissions is not None else {}),
            )
            try:
                ctx.add_init_script(INIT_SCRIPT)
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                lab = LabBrowser(page=page, base_url=base, token=token, notebook_dir=notebook_dir,
                                 temp_dir=tmp, server_log=log)
                page.on("console", lambda m: lab.console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: lab.page_errors.append(str(e)))
                yield lab
            finally:
                ctx.close()
    finally:
        if not keep_temp:
            shutil.rmtree(tmp, ignore_errors=True)
