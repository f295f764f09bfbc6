"""No upward imports: the pipeline's lower layers never reach up into the notebook UI.

Walks every module's imports with ``ast`` (those inside functions and ``if`` blocks included;
only ``if TYPE_CHECKING:`` blocks are left out, they never run) and checks the rules of
docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pose3d_nb"

UI = ("pose3d_nb.ui", "pose3d_nb.browser_camera")
RULES = {
    # layer (a package or a module): what it must never import
    "pose3d_nb.sources": UI,
    "pose3d_nb.detectors": UI,
    "pose3d_nb.lifting": (*UI, "pose3d_nb.detectors"),
    "pose3d_nb.engine": UI,
    # Batch tasks run on Dask workers, where no notebook is: they drive the engine, never widgets.
    "pose3d_nb.batch": UI,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, module: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import in the file that can run; relative imports resolved.

    ``from a.b import c`` gives ``a.b.c`` (c may be a module or a name in a.b); ``module``: the
    file's dotted name (default: from its place in the package).
    """
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def _inside(module: str, layer: str) -> bool:
    return module == layer or module.startswith(layer + ".")


def upward_imports() -> list[str]:
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for layer, forbidden in RULES.items():
            if not _inside(module, layer):
                continue
            for line, target in imported_modules(path):
                if any(_inside(target, banned) for banned in forbidden):
                    broken.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    return sorted(set(broken))


def test_the_walk_sees_every_import_that_can_run(tmp_path):
    source = tmp_path / "example.py"
    source.write_text(
        "from __future__ import annotations\n"
        "import typing\n"
        "from typing import TYPE_CHECKING\n"
        "import pose3d_nb.skeleton as sk\n"
        "from . import frame\n"
        "from ..detectors.detection import Detection\n"
        "if TYPE_CHECKING:\n"
        "    from pose3d_nb.ui import PoseApp\n"
        "if typing.TYPE_CHECKING:\n"
        "    import pose3d_nb.browser_camera\n"
        "else:\n"
        "    import json\n"
        "def open_camera():\n"
        "    from pose3d_nb.browser_camera import BrowserCameraSource\n"
        "    return BrowserCameraSource\n"
    )
    found = [target for _, target in imported_modules(source, "pose3d_nb.sources.example")]
    assert found == [
        "__future__.annotations",
        "typing",
        "typing.TYPE_CHECKING",
        "pose3d_nb.skeleton",
        "pose3d_nb.sources.frame",
        "pose3d_nb.detectors.detection.Detection",
        "json",
        "pose3d_nb.browser_camera.BrowserCameraSource",
    ]


@pytest.mark.parametrize("layer", sorted(RULES))
def test_no_layer_imports_upwards(layer):
    broken = [b for b in upward_imports() if _inside(_module_name(PACKAGE.parent / b.split(":")[0]), layer)]
    assert not broken, "upward imports:\n" + "\n".join(broken)
