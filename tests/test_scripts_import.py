"""Every script of the repository still imports: a script that names a function the package no
longer has fails here, not when someone next runs a benchmark (three did, issue 30).

Each script under ``scripts/`` and ``investigations/`` is imported as running it would import
it (its own folder first on ``sys.path``, so that sibling modules such as ``timing.py`` are
found); nothing below its ``if __name__ == "__main__":`` runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = sorted([*REPO.glob("scripts/**/*.py"), *REPO.glob("investigations/**/*.py")])


def test_there_are_scripts_to_check():
    assert len(SCRIPTS) >= 10, SCRIPTS


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_imports(path, monkeypatch):
    monkeypatch.syspath_prepend(str(path.parent))
    monkeypatch.setattr(sys, "argv", [str(path)])
    name = "script_" + "_".join(path.relative_to(REPO).with_suffix("").parts)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.__doc__, f"{path.name} has no docstring saying what it measures or does"
