"""Install files agree with each other, so every way of installing gets the tested versions."""

from __future__ import annotations

import re
import subprocess
import sys

import tomllib
import yaml
from conftest import ROOT
from packaging.requirements import Requirement


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)==([^\s;#]+)\s*", line)
        if match:
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(extras: bool = True) -> list[Requirement]:
    project = _pyproject()["project"]
    lines = list(project["dependencies"])
    if extras:
        for extra in project["optional-dependencies"].values():
            lines += extra
    return [Requirement(line) for line in lines]


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return _pins(pip)


def _lock_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements.lock").read_text().splitlines())


def _lowest_pins() -> dict[str, str]:
    return _pins((ROOT / "requirements-lowest.txt").read_text().splitlines())


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def test_every_declared_range_admits_the_tested_lock():
    lock = _lock_pins()
    for requirement in _requirements():
        name = _key(requirement.name)
        assert name in lock, f"pyproject.toml requires {name}, which requirements.lock lacks"
        version = lock[name].split("+")[0]
        assert requirement.specifier.contains(version), f"lock {name}=={version} is outside {requirement}"


def test_environment_yml_pins_the_lock():
    lock = _lock_pins()
    for name, version in _environment_pins().items():
        if name in ("jax", "jaxlib"):
            continue  # conda route only: mediapipe's declared deps; the lock skips them (--no-deps)
        assert name in lock, f"environment.yml pins {name}, which requirements.lock lacks"
        assert lock[name].split("+")[0] == version, f"environment.yml {name}=={version}, lock {lock[name]}"


def test_the_lowest_tested_versions_are_the_declared_lower_bounds():
    lowest = _lowest_pins()
    for requirement in _requirements(extras=False):
        name = _key(requirement.name)
        assert name in lowest, f"requirements-lowest.txt does not test {name}"
        floors = [spec.version for spec in requirement.specifier if spec.operator in (">=", "==")]
        assert floors == [lowest[name]], f"{requirement}: lowest tested is {lowest[name]}"
    assert set(lowest) == {_key(r.name) for r in _requirements(extras=False)}


def test_python_version_agrees():
    requires = _pyproject()["project"]["requires-python"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    minor = int(python.split("=")[1].split(".")[1])
    assert f">=3.{minor}" in requires or (">=3.10" in requires and minor >= 10), (requires, python)


def test_quick_start_is_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = section.split("```", 2)[1]
    commands = [line for line in block.splitlines()[1:] if line.strip() and not line.strip().startswith("#")]
    assert len(commands) == 2, commands
    test_command = commands[1].split("#")[0].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


# Weights that belong in the repository: the lifter shipped in the wheel (trained by this project,
# see pose3d_nb/data/NOTICE) and the random-weight test checkpoint of the reference vectors
# (tests/data/videopose3d/NOTICE.md). Downloaded weights stay out (model/ is ignored).
COMMITTED_WEIGHTS = {"pose3d_nb/data/lifter_mocap_rf27.pt", "tests/data/videopose3d/tiny_arc333_ch64.bin"}


def test_no_weights_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    weights = [f for f in tracked if re.search(r"\.(bin|pth|pt|pkl|ckpt|onnx|tflite)$", f)]
    unexpected = sorted(set(weights) - COMMITTED_WEIGHTS)
    assert not unexpected, f"model weights committed: {unexpected}"


def test_ruff_is_clean():
    """The style and lint rules in pyproject.toml hold for the code, tests and notebooks."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
