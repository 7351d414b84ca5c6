"""results/README.md: its tables are rebuilt from the JSON files and must be up to date."""

import importlib.util
import shutil

import pytest

from hnet_utils import settings

SCRIPT = settings.REPO_ROOT / "scripts" / "make_tables.py"


def load_script():
    spec = importlib.util.spec_from_file_location("make_tables", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_tables_match_the_json_files():
    tables = load_script()
    runs = tables.load_runs()
    assert runs, "results/ holds no results JSON"
    text = tables.README.read_text()
    assert tables.render(text, runs) == text, "run: python scripts/make_tables.py"


def test_tables_follow_the_json_files(tmp_path):
    tables = load_script()
    name = "split_mnist_hnet_cl3.json"
    shutil.copy(settings.REPO_ROOT / "results" / name, tmp_path / name)
    (tmp_path / "notes.json").write_text('{"not": "a result"}')  # other JSON files are skipped
    runs = tables.load_runs(tmp_path)
    assert list(runs) == [name]
    row = tables.runs_table(runs).splitlines()[-1]
    result = runs[name]
    assert f"**{result.average_final:.2f}**" in row and "HNET+ENT" in row
    assert "--scenario 3" in row and f"--out results/{name}" in row
    # one seed only: no several-seeds row
    assert len(tables.seeds_table(runs).splitlines()) == 2


def test_missing_markers_are_an_error():
    tables = load_script()
    with pytest.raises(ValueError, match="BEGIN runs"):
        tables.fill("no markers here", "runs", "| table |")
