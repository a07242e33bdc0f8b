"""docs/onnx.md runs as pasted: its ``sh`` and ``python`` blocks in document order, in one empty
directory (``test_docs.run_blocks``). The PyTorch example is a ``py`` block, not run here: torch
is not a dependency (docs/onnx.md says how it was run)."""

from pathlib import Path

from test_docs import ROOT, blocks, run_blocks


def test_onnx_doc_runs_as_pasted(tmp_path):
    path = ROOT / "docs" / "onnx.md"
    assert len(blocks(path)) >= 5
    run_blocks(path, tmp_path)
    assert (Path(tmp_path) / "prog2" / "manifest.json").exists()
