"""One exception family: every exception class the package defines derives from Pose3DError."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import pose3d_nb
from pose3d_nb.errors import Pose3DError, UnknownNameError

PACKAGE = Path(pose3d_nb.__file__).resolve().parent


def _exception_classes() -> list[tuple[str, str]]:
    """(module, class) for every class in the package whose bases name an Error/Exception."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names = [ast.unparse(base) for base in node.bases]
                if any(n.endswith(("Error", "Exception", "Unavailable", "Failed")) for n in names):
                    found.append((module, node.name))
    return found


CLASSES = _exception_classes()


def test_the_walk_finds_the_package_exceptions():
    names = {name for _, name in CLASSES}
    assert {"EngineError", "CheckpointError", "SourceError", "ExportError", "UsageError"} <= names


@pytest.mark.parametrize(("module", "name"), CLASSES, ids=[f"{m}.{n}" for m, n in CLASSES])
def test_every_exception_class_derives_from_pose3d_error(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, Pose3DError), f"{module}.{name} does not derive from Pose3DError"


def test_pose3d_error_is_exported_from_the_front_door():
    from pose3d_nb import Pose3DError as exported

    assert exported is Pose3DError


def test_unknown_names_raise_one_type_that_lists_the_valid_ones():
    from pose3d_nb.analysis import joint_angle  # noqa: F401 - the module's own lookup
    from pose3d_nb.detectors import create_detector
    from pose3d_nb.skeleton import H36M

    for call in (lambda: create_detector("no-such-detector"), lambda: H36M.index("no_such_joint")):
        with pytest.raises(UnknownNameError) as caught:
            call()
        assert "no" in str(caught.value) and not str(caught.value).startswith("'")
