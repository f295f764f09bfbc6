"""The reference vectors ship with the tests, unchanged, so equality with the original never skips."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_REFERENCE = ROOT / "tests" / "data" / "videopose3d"
SHARED = Path(os.environ.get("POSE3D_SHARED", ROOT.parent / "shared"))

NOTICE = BUNDLED_REFERENCE / "NOTICE.md"


def _listed_hashes() -> dict[str, str]:
    """{file name: sha256} from the table in NOTICE.md."""
    return dict(re.findall(r"^\| `([^`]+)` \| \d+ \| `([0-9a-f]{64})` \|$", NOTICE.read_text(), re.M))


def test_the_tests_read_the_bundled_reference_vectors(reference_checkpoint, reference_io, full_arch_shapes):
    assert reference_checkpoint.parent == BUNDLED_REFERENCE
    assert reference_io["receptive_field"] == 27 and full_arch_shapes


def test_the_bundled_files_are_those_the_notice_lists():
    listed = _listed_hashes()
    assert set(listed) == {
        "README.md",
        "tiny_arc333_ch64.bin",
        "tiny_arc333_ch64_io.npz",
        "full_arc33333_ch1024_shapes.json",
    }
    for name, digest in listed.items():
        assert hashlib.sha256((BUNDLED_REFERENCE / name).read_bytes()).hexdigest() == digest, name


def test_the_bundled_files_equal_the_shared_originals_when_present():
    shared = SHARED / "reference" / "videopose3d"
    if not shared.is_dir():
        pytest.skip(f"{shared} is absent")
    for name in _listed_hashes():
        assert (BUNDLED_REFERENCE / name).read_bytes() == (shared / name).read_bytes(), name
