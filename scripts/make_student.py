"""Write the student version of the course notebooks (``make student``).

One source, two versions: the notebooks in ``notebooks/`` are the solution
version. Solutions are marked with nbgrader's markup, so a teacher can also
use nbgrader directly (``nbgrader generate_assignment``); this script needs
only the standard library and applies the same rules:

* in a code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION``
  (both included) become ``# YOUR CODE HERE`` and ``raise NotImplementedError()``,
  indented like the ``### BEGIN SOLUTION`` line;
* the lines from ``### BEGIN HIDDEN TESTS`` to ``### END HIDDEN TESTS`` are removed;
* outputs and execution counts are cleared; everything else is kept as it is
  (markdown, the nbgrader cell metadata, the collapsed solution blocks of
  open questions).

A marker without its partner, or nested markers, is an error. A student
notebook still runs top to bottom: the checks report an unsolved exercise
instead of failing, and the cells that use the learner's function fall back
to the package's implementation (``hnet_utils.checks.use_or_fallback``).

Usage: ``python scripts/make_student.py [--out build/student] [notebooks...]``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


class MarkupError(ValueError):
    """The solution markup of a cell is malformed."""


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """``source`` with solutions replaced by the stub and hidden tests removed.

    Returns ``(new source, number of solution regions replaced)``.
    """
    out, region, indent, replaced = [], None, "", 0
    for number, line in enumerate(source.split("\n"), 1):
        text = line.strip()
        if text in (BEGIN, BEGIN_HIDDEN):
            if region is not None:
                raise MarkupError(f"{where}, line {number}: {text!r} inside an open {region!r}")
            region, indent = text, line[:len(line) - len(line.lstrip())]
            if text == BEGIN:
                out += [indent + STUB[0], indent + STUB[1]]
                replaced += 1
            continue
        if text in (END, END_HIDDEN):
            expected = BEGIN if text == END else BEGIN_HIDDEN
            if region != expected:
                raise MarkupError(f"{where}, line {number}: {text!r} without {expected!r}")
            region = None
            continue
        if region is None:
            out.append(line)
    if region is not None:
        raise MarkupError(f"{where}: {region!r} is never closed")
    return "\n".join(out), replaced


def student_notebook(nb: dict, name: str = "notebook") -> tuple[dict, int]:
    """The student version of a notebook (a new dict) and its number of exercises."""
    nb = json.loads(json.dumps(nb))
    exercises = 0
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "code":
            new, n = strip_solutions(source, f"{name}, cell {i}")
            exercises += n
            cell["outputs"], cell["execution_count"] = [], None
            lines = new.split("\n")
            cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        elif BEGIN in source or END in source:
            raise MarkupError(f"{name}, cell {i}: solution markup in a {cell['cell_type']} cell")
    nb.get("metadata", {}).pop("widgets", None)   # saved widget state belongs to executed copies
    return nb, exercises


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="default: notebooks/*.ipynb")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in paths:
        nb, n = student_notebook(json.loads(path.read_text(encoding="utf-8")), path.name)
        target = args.out / path.name
        target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{target.relative_to(REPO_ROOT) if target.is_relative_to(REPO_ROOT) else target}: "
              f"{n} exercise{'s' if n != 1 else ''} to solve")
    return 0


if __name__ == "__main__":
    sys.exit(main())
