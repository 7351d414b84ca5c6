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


def test_the_toy_criterion_on_the_recorded_runs_is_as_results_readme_says():
    """results/README.md (regression toy): "final ≤ 2 × during and ≤ 0.01" for every task holds
    on 4 of seeds 0-9 with the paper's 4,001 steps per task and on 7 with 12,003."""
    from hnet_utils.continual.metrics import fits_kept
    from hnet_utils.experiments.results import ContinualResult

    results = settings.REPO_ROOT / "results"
    seeds = ["", *(f"_seed{s}" for s in range(1, 10))]

    def seeds_kept(stem):
        return [s for s, suffix in enumerate(seeds)
                if all(fits_kept(ContinualResult.load(results / f"{stem}{suffix}.json").matrix))]

    assert seeds_kept("regression_hnet_cl1") == [1, 2, 6, 9]
    assert seeds_kept("regression_hnet_it12k") == [0, 1, 3, 4, 7, 8, 9]
