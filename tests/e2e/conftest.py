"""Browser tests: headless Chromium (Debian's chromium + chromium-driver) through dash_duo."""

from __future__ import annotations

import os
import shutil

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # dash's pytest plugin reads --headless; these tests always run without a display
    if hasattr(config.option, "headless"):
        config.option.headless = True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("chromedriver") and (shutil.which("chromium") or shutil.which("google-chrome")):
        return
    if os.environ.get("CI"):  # CI installs them (make test): missing there is a failure, not a skip
        raise pytest.UsageError("chromium/chromedriver missing: scripts/system-packages.sh should have installed them")
    skip = pytest.mark.skip(reason="needs chromium and chromedriver (scripts/system-packages.sh installs them)")
    for item in items:
        if "e2e" in str(item.path):
            item.add_marker(skip)
