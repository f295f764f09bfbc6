"""Browser tests: mark them, and skip/fail them cleanly when chromium is missing."""

from __future__ import annotations

import pytest

from .harness import require_chromium


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path():
    """Debian's chromium; skipped when absent (failed instead when CI=true)."""
    return require_chromium()
