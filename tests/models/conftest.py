"""tests/models: ``@pytest.mark.slow`` tests here (full-size training, minutes) are skipped unless
the marker expression mentions ``slow`` (``pytest -m slow``) or ZEROSKIP_SLOW=1 is set, so that
``pytest tests/models`` stays a quick run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or "") or os.environ.get("ZEROSKIP_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="full-size training: run with -m slow or ZEROSKIP_SLOW=1")
    for item in items:
        if "slow" in item.keywords and HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)
