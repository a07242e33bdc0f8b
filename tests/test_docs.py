"""The docs run as pasted: every ``sh`` and ``python`` block of the README and of
docs/tutorial.md, in document order, in one empty directory per document, with the
environment's ``zeroskip`` first on PATH. A block that fails fails the test with its output.

Not run: the README's first block (``make demo`` / ``make test``: the suite is one of them).
The tutorial trains a network (a minute or two): it is marked slow.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)


def blocks(path: Path) -> list[tuple[str, str]]:
    found = BLOCK.findall(path.read_text())
    return [(lang, code) for lang, code in found
            if not all(line.startswith("make ") for line in code.strip().splitlines())]


def run_blocks(path: Path, workdir: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTEST_CURRENT_TEST", None)
    for index, (lang, code) in enumerate(blocks(path)):
        argv = (["bash", "-euo", "pipefail", "-c", code] if lang == "sh"
                else [sys.executable, "-c", code])
        done = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True,
                              timeout=1800)
        assert done.returncode == 0, (f"{path.name} block {index} ({lang}) failed "
                                      f"({done.returncode}):\n{code}\n--- stdout\n{done.stdout}"
                                      f"\n--- stderr\n{done.stderr[-4000:]}")


def test_every_block_is_found():
    readme = blocks(ROOT / "README.md")
    assert sum(lang == "sh" for lang, _ in readme) >= 5 and any(lang == "python" for lang, _ in readme)
    assert all("make " not in code for _, code in readme)
    assert len(blocks(ROOT / "docs" / "tutorial.md")) >= 6


@pytest.mark.rtl
def test_readme_tour_runs_as_pasted(tmp_path):
    run_blocks(ROOT / "README.md", tmp_path)
    assert (tmp_path / "prog" / "manifest.json").exists()
    assert (tmp_path / "plots").is_dir() and (tmp_path / "verify.json").exists()


@pytest.mark.slow
@pytest.mark.rtl
def test_tutorial_runs_as_pasted(tmp_path):
    run_blocks(ROOT / "docs" / "tutorial.md", tmp_path)
    assert (tmp_path / "verify.json").exists()
