"""``launch_demo``: JupyterLab on loopback with a token, serving the demo notebook."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from pose3d_nb.lab import launch_demo

pytestmark = pytest.mark.slow


def test_launch_demo_serves_the_notebook_behind_a_token(tmp_path, monkeypatch, capsys):
    # Keep Jupyter's runtime/config files out of the real home directory.
    for var in ("HOME", "JUPYTER_RUNTIME_DIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    work = tmp_path / "work"
    server = launch_demo(work_dir=work, wait=False)
    try:
        printed = capsys.readouterr().out
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
    finally:
        server.stop()
    assert server.process.poll() is not None
