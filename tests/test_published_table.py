"""The paper's numbers are typed in one place only: hnet_utils/experiments/published.py.

Notebooks, scripts and the other package modules read them from there
(``published_for``, ``published_text``, ``PUBLISHED_TABLE1``). These tests fail when one of
them types a published value again (e.g. "69.48" in a code cell, "≈ 97.6" in a print, or
"HNET+R 98.0" in markdown) or defines its own table of published numbers (a dict keyed by
(benchmark, scenario, ...) with accuracies, or a name like ``PUBLISHED``).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from hnet_utils import settings
from hnet_utils.experiments import published
from hnet_utils.experiments.published import PUBLISHED_TABLE1, published_for, published_text

ROOT = settings.REPO_ROOT
TABLE_MODULE = Path("hnet_utils/experiments/published.py")
BENCHMARKS = ("regression", "permuted_mnist", "split_mnist", "split_cifar10", "split_cifar10_100",
              "split_cifar10_substitute")


def _number(text: str) -> str:
    """A regex for ``text`` as a whole number (not part of 197.571 or 0.9757)."""
    return r"(?<![\d.])" + re.escape(text) + r"(?![\d])"


def _value_patterns() -> tuple[re.Pattern, re.Pattern]:
    """(two decimals, anywhere; one decimal, in prose) forms of every published value."""
    values = {pub.value for pub in PUBLISHED_TABLE1.values()}
    two = re.compile("|".join(_number(f"{v:.2f}") for v in sorted(values)))
    one = re.compile("|".join(_number(f"{v:.1f}") for v in sorted(values)))
    return two, one


def sources(root: Path) -> list[tuple[str, str, str]]:
    """``(where, kind, text)`` of everything that must not type a published number: every cell
    of every notebook (kind "markdown" or "code"), every Python file under scripts/ and every
    package module except the table itself (kind "python")."""
    out = []
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        for i, cell in enumerate(json.loads(nb.read_text())["cells"]):
            out.append((f"{nb.name} cell {i}", cell["cell_type"], "".join(cell["source"])))
    for folder in ("scripts", "hnet_utils"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root) != TABLE_MODULE:
                out.append((str(path.relative_to(root)), "python", path.read_text()))
    return out


def typed_published_values(root: Path) -> list[str]:
    """Published values typed outside the table: any two-decimal form ("69.48"), a one-decimal
    form in markdown ("HNET+R 98.0"), or an approximate one in code ("≈ 97.6")."""
    two, one = _value_patterns()
    approx = re.compile(r"≈\s*(" + one.pattern + ")")
    found = []
    for where, kind, text in sources(root):
        hits = [m.group(0) for m in two.finditer(text)]
        hits += [m.group(0) for m in (one if kind == "markdown" else approx).finditer(text)]
        found += [f"{where}: {hit}" for hit in hits]
    return found


def _code(kind: str, text: str) -> ast.Module | None:
    """The syntax tree of a Python file or code cell (IPython magics blanked), else None."""
    if kind == "markdown":
        return None
    if kind == "code":
        text = "\n".join("" if line.lstrip().startswith(("%", "!")) else line
                         for line in text.splitlines())
    return ast.parse(text)


def _is_result_key(node: ast.AST) -> bool:
    """A tuple key such as ("split_mnist", 3, "hnet") or ("permuted_mnist", 1)."""
    return (isinstance(node, ast.Tuple) and len(node.elts) >= 2
            and isinstance(node.elts[0], ast.Constant) and node.elts[0].value in BENCHMARKS
            and isinstance(node.elts[1], ast.Constant) and node.elts[1].value in (1, 2, 3))


def _has_accuracy(node: ast.AST) -> bool:
    """A value that holds an accuracy in percent: 97.6, "≈ 97.6", (94.74, 95.96), ...
    (not, say, an EWC strength of 5000 keyed by benchmark and scenario)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, float) and 10 <= sub.value <= 100:
            return True
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) \
                and re.search(r"\d\d\.\d", sub.value):
            return True
    return False


def own_tables(root: Path) -> list[str]:
    """Tables of published numbers defined outside the table module: dict literals keyed by
    (benchmark, scenario, ...) with accuracies as values, or assignments to a name containing
    ``PUBLISHED``."""
    found = []
    for where, kind, text in sources(root):
        tree = _code(kind, text)
        if tree is None:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and node.keys and all(
                    _is_result_key(k) for k in node.keys if k is not None) \
                    and any(_has_accuracy(v) for v in node.values):
                found.append(f"{where}, line {node.lineno}: a dict of accuracies keyed by "
                             "(benchmark, scenario, ...)")
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            for target in targets:
                if isinstance(target, ast.Name) and "PUBLISHED" in target.id:
                    found.append(f"{where}, line {node.lineno}: assigns {target.id}")
    return found


# ------------------------------------------------------------------------------ the tests


def test_the_table_holds_table_1_with_sources():
    assert len(PUBLISHED_TABLE1) == 42                   # 6 rows x 7 columns of Table 1
    assert {pub.status for pub in PUBLISHED_TABLE1.values()} == {"verified", "recalled"}
    assert all(pub.source for pub in PUBLISHED_TABLE1.values())
    verified = published_for("split_mnist", 3, "hnet")
    assert verified.status == "verified" and str(verified) == "69.48 ± 0.80"
    assert published_text("split_mnist", 2, "hnet") == "87.01 (recalled)"   # marked as recalled
    assert published_for("permuted_mnist", 1, "hnet") == PUBLISHED_TABLE1[
        ("permuted_mnist", 1, "HNET+ENT")]               # CL1 HNET: the HNET+ENT column
    assert published_for("split_mnist", 3, "finetune") is None
    assert published_text("split_mnist", 3, "finetune") == "—"
    assert published.method_label("online_ewc", 2) == "Online EWC"


def test_no_published_value_is_typed_outside_the_table():
    found = typed_published_values(ROOT)
    assert not found, ("published values typed outside hnet_utils/experiments/published.py "
                       "(read them with published_for / published_text):\n" + "\n".join(found))


def test_no_other_table_of_published_numbers():
    found = own_tables(ROOT)
    assert not found, ("tables of published numbers outside hnet_utils/experiments/published.py:\n"
                       + "\n".join(found))


def test_the_checks_find_what_they_look_for(tmp_path):
    """The scans are not vacuous: a typed value and a second table are found."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "scripts").mkdir()
    (tmp_path / "hnet_utils").mkdir()
    cells = [{"cell_type": "markdown", "source": ["CL3 HNET+R 95.3, HNET+ENT 69.48 ± 0.80\n"]},
             {"cell_type": "code", "source": ["%matplotlib inline\n", "print('paper: ≈ 97.6 %')\n"]},
             {"cell_type": "code", "source": ["x = 97.6  # a number of ours\n"]}]
    (tmp_path / "notebooks" / "nb.ipynb").write_text(json.dumps({"cells": cells}))
    (tmp_path / "scripts" / "tables.py").write_text(
        'PAPER = {("split_mnist", 3, "hnet"): "≈ 69.5"}\nPUBLISHED_VALUES = {}\n')
    found = typed_published_values(tmp_path)
    assert found == ["nb.ipynb cell 0: 69.48", "nb.ipynb cell 0: 95.3", "nb.ipynb cell 1: ≈ 97.6",
                     "scripts/tables.py: ≈ 69.5"]
    tables = own_tables(tmp_path)
    assert len(tables) == 2
    assert any("line 1: a dict of accuracies" in t for t in tables)
    assert any("line 2: assigns PUBLISHED_VALUES" in t for t in tables)


@pytest.mark.parametrize("name", ["studies", "reproduction"])
def test_other_modules_keep_no_copy(name):
    import importlib
    module = importlib.import_module(f"hnet_utils.experiments.{name}")
    assert not hasattr(module, "PUBLISHED") and "PUBLISHED_TABLE1" not in vars(module)
