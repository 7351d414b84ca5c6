"""scripts/make_student.py follows nbgrader's markup rules, and every notebook
has at least two checked coding exercises."""

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("make_student", REPO / "scripts" / "make_student.py")
make_student = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_student)
NOTEBOOKS = sorted((REPO / "notebooks").glob("0[0-6]_*.ipynb"))


def test_solution_region_becomes_the_nbgrader_stub():
    src = "def f(x):\n    y = 1\n    ### BEGIN SOLUTION\n    return x + y\n    ### END SOLUTION\n\nprint(f)"
    out, n = make_student.strip_solutions(src)
    assert n == 1
    assert out == ("def f(x):\n    y = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
                   "\nprint(f)")


def test_hidden_tests_are_removed():
    src = "check(f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS\nprint(1)"
    assert make_student.strip_solutions(src) == ("check(f)\nprint(1)", 0)


@pytest.mark.parametrize("src", [
    "### BEGIN SOLUTION\nx = 1",                                        # never closed
    "x = 1\n### END SOLUTION",                                          # no begin
    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION",          # nested
    "### BEGIN SOLUTION\n### END HIDDEN TESTS",                          # wrong partner
])
def test_malformed_markup_is_an_error(src):
    with pytest.raises(make_student.MarkupError):
        make_student.strip_solutions(src)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_student_notebooks(path, tmp_path):
    make_student.main([str(path), "--out", str(tmp_path)])
    source = json.loads(path.read_text())
    student = json.loads((tmp_path / path.name).read_text())
    assert len(student["cells"]) == len(source["cells"])
    exercises = 0
    for before, after in zip(source["cells"], student["cells"]):
        text_before, text_after = "".join(before["source"]), "".join(after["source"])
        assert "BEGIN SOLUTION" not in text_after and "END SOLUTION" not in text_after
        assert before.get("metadata") == after.get("metadata")
        if "### BEGIN SOLUTION" in text_before:
            exercises += 1
            assert "# YOUR CODE HERE\n" in text_after and "raise NotImplementedError()" in text_after
            assert before["metadata"]["nbgrader"]["solution"] is True
        elif "### BEGIN HIDDEN TESTS" in text_before:
            # the autograder's assertion (nbgrader restores it when grading) is not in the student copy
            assert before["metadata"]["nbgrader"]["grade"] is True
            assert "HIDDEN TESTS" not in text_after and "assert passed" not in text_after
        else:
            assert text_before == text_after
        if after["cell_type"] == "code":
            assert after["outputs"] == [] and after["execution_count"] is None
    # >= 2 coding exercises, each followed by a cell that checks it
    assert exercises >= 2
    cells = source["cells"]
    for i, cell in enumerate(cells):
        if "### BEGIN SOLUTION" in "".join(cell["source"]):
            assert "checks.check_" in "".join(cells[i + 1]["source"]), f"cell {i + 1} should check cell {i}"
    # the package's source is what the student files were made from (nbformat layout kept)
    assert (tmp_path / path.name).read_text().endswith("}\n")
