"""Notebook cells stay short (issue 29 §6): a code cell of at most MAX_CODE_LINES lines, a
markdown cell of at most MAX_MARKDOWN_LINES. A longer cell is split: explain, then compute.

Lines are counted as ``str.splitlines`` counts them (blank lines included).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
MAX_CODE_LINES = 25
MAX_MARKDOWN_LINES = 30
LIMITS = {"code": MAX_CODE_LINES, "markdown": MAX_MARKDOWN_LINES}


def long_cells(path: Path) -> list[str]:
    """``"cell i (kind): n lines > limit"`` for every cell of ``path`` above its limit."""
    found = []
    for i, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
        limit = LIMITS.get(cell["cell_type"])
        lines = len("".join(cell["source"]).splitlines())
        if limit is not None and lines > limit:
            found.append(f"cell {i} ({cell['cell_type']}, id {cell.get('id')}): {lines} lines > {limit}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_are_short(path):
    found = long_cells(path)
    assert not found, f"{path.name}: split these cells (explain, then compute):\n" + "\n".join(found)


def test_the_limit_finds_long_cells(tmp_path):
    """The scan is not vacuous: a code cell one line over the limit is found, one at it is not."""
    cells = [{"cell_type": "code", "source": ["x = 1\n"] * MAX_CODE_LINES},
             {"cell_type": "code", "source": ["x = 1\n"] * (MAX_CODE_LINES + 1)},
             {"cell_type": "markdown", "source": ["text\n"] * (MAX_MARKDOWN_LINES + 1)},
             {"cell_type": "raw", "source": ["raw\n"] * 100}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells}))
    assert long_cells(path) == [f"cell 1 (code, id None): {MAX_CODE_LINES + 1} lines > {MAX_CODE_LINES}",
                                f"cell 2 (markdown, id None): {MAX_MARKDOWN_LINES + 1} lines > "
                                f"{MAX_MARKDOWN_LINES}"]
