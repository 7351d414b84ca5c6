"""The reproduction plan, done detection, the dry run, a fast smoke run and atomic writes."""

import json
import shutil

import pytest

from hnet_utils import files, reproduce
from hnet_utils.experiments import plan as planning
from hnet_utils.experiments import published
from hnet_utils.experiments import reproduction
from hnet_utils.experiments.configs import METHODS
from hnet_utils.experiments.results import ContinualResult


def test_plan_lists_every_benchmark_method_and_scenario_with_three_seeds():
    plan = planning.course_plan()
    cells = {(r.group, r.method, r.scenario) for r in plan}
    for bench in ("permuted_mnist", "split_mnist"):
        for method in ("hnet", "finetune", "ewc", "online_ewc", "si"):
            for scenario in (1, 2, 3):
                assert (bench, method, scenario) in cells
    for method in ("hnet", "finetune", "scratch", "multitask"):
        assert ("regression", method, 1) in cells
    for group in ("split_cifar10_100", "split_cifar10_100_zenke"):
        for method in ("hnet", "finetune", "scratch"):
            assert (group, method, 1) in cells
    assert ("permuted_mnist_100", "hnet", 1) in cells
    for method in ("hnet", "finetune", "scratch"):
        assert ("split_cifar10_substitute", method, 1) in cells
    assert any(r.tag == "beta0" for r in plan if r.group == "split_cifar10_substitute")
    # replay methods appear only once the package implements them
    assert all(r.method in METHODS for r in plan)
    # the runs notebook 02 loads: one seed, as the notebook trains them, in their own folder
    notebook = [r for r in plan if r.group == "notebook02"]
    assert len(notebook) == 13 and all(r.seed == 0 and r.filename.startswith("notebooks/") for r in notebook)
    for cell in cells - {(r.group, r.method, r.scenario) for r in notebook}:
        seeds = sorted(r.seed for r in plan if (r.group, r.method, r.scenario) == cell)
        assert len(seeds) >= 3
    names = [r.filename for r in plan]
    assert len(names) == len(set(names)), "two planned runs would write the same file"
    for r in plan:
        r.config()  # every planned configuration is valid
        r.config(fast=True)


def test_file_names_follow_the_existing_results():
    run = planning.PlannedRun("split_mnist", "split_mnist", "hnet", 3, 0)
    assert run.filename == "split_mnist_hnet_cl3.json"
    assert planning.PlannedRun("split_mnist", "split_mnist", "hnet", 3, 1).filename == \
        "split_mnist_hnet_cl3_seed1.json"
    # the results shipped in results/ count as done
    assert planning.run_status(run, planning.RESULTS_DIR) == "done"


def test_select_by_group_method_and_scenario():
    plan = planning.course_plan(seeds=(0, 1, 2))
    runs = planning.select(plan, only=["split_mnist"], methods=["hnet"], scenarios=[3])
    assert [r.seed for r in runs] == [0, 1, 2]
    assert {r.name for r in runs} == {"split_mnist_hnet_cl3", "split_mnist_hnet_cl3_seed1",
                                      "split_mnist_hnet_cl3_seed2"}
    with pytest.raises(ValueError, match="not a group"):
        planning.select(plan, only=["mnist"])
    # a group name selects that group only: PermutedMNIST-10 without the 100-task runs
    assert {r.group for r in planning.select(plan, only=["permuted_mnist"])} == {"permuted_mnist"}


def test_done_only_with_the_same_configuration(tmp_path):
    run = planning.PlannedRun("split_mnist", "split_mnist", "hnet", 3, 0)
    assert planning.run_status(run, tmp_path) == "missing"
    src = planning.RESULTS_DIR / run.filename
    shutil.copy(src, tmp_path / run.filename)
    assert planning.run_status(run, tmp_path) == "done"
    data = json.loads(src.read_text())
    data["config"]["device"] = "cuda"  # where a run happened does not matter
    (tmp_path / run.filename).write_text(json.dumps(data))
    assert planning.run_status(run, tmp_path) == "done"
    data["config"]["beta"] = 0.05  # what it is does
    (tmp_path / run.filename).write_text(json.dumps(data))
    status = planning.run_status(run, tmp_path)
    assert status.startswith("differs") and "beta" in status
    (tmp_path / run.filename).write_text("{ truncated")
    assert planning.run_status(run, tmp_path).startswith("unreadable")


def test_dry_run_prints_the_plan_and_trains_nothing(capsys, tmp_path):
    assert reproduce.main(["--dry-run", "--only", "split_mnist", "--methods", "hnet",
                           "--scenarios", "3", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "split_mnist_hnet_cl3_seed2" in out and "missing" in out
    assert "3 runs: 0 done, 3 to run" in out
    assert "cpu" in out or "cuda" in out
    assert not list(tmp_path.iterdir())
    assert reproduce.main(["--dry-run", "--only", "split_mnist", "--methods", "hnet",
                           "--scenarios", "3"]) == 0
    assert "3 runs: 3 done, 0 to run" in capsys.readouterr().out


def test_estimates_come_from_measured_step_times():
    table = planning.load_step_times()
    run = planning.PlannedRun("permuted_mnist", "permuted_mnist", "hnet", 1, 1)
    seconds, note = planning.estimate_seconds(run, table)
    assert seconds is not None and seconds > 60 and "json" in note
    unknown = planning.PlannedRun("split_cifar10_100", "split_cifar10_100", "hnet", 1, 0)
    seconds, note = planning.estimate_seconds(unknown, {})
    assert seconds is None and "no step time measured" in note


def test_fast_smoke_run_writes_into_a_temporary_folder(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HNET_FAST", "1")
    args = ["--only", "regression", "--methods", "hnet", "--seeds", "0", "--threads", "1",
            "--no-progress", "--results-dir", str(tmp_path)]
    assert reproduce.main(args) == 0
    out = capsys.readouterr().out
    assert "[run 1 of 1] regression_hnet_cl1" in out and "task 3/3 done" in out
    result = ContinualResult.load(tmp_path / "regression_hnet_cl1.json")
    assert result.config["iterations"] == 200  # the fast variant
    assert [p.name for p in tmp_path.iterdir()] == ["regression_hnet_cl1.json"]
    # a second call finds it done and trains nothing
    assert reproduce.main(args) == 0
    assert "1 runs: 1 done, 0 to run" in capsys.readouterr().out


def test_fast_mode_refuses_to_write_into_results(monkeypatch):
    monkeypatch.setenv("HNET_FAST", "1")
    with pytest.raises(SystemExit):
        reproduce.main(["--only", "regression", "--results-dir", str(planning.RESULTS_DIR)])


def test_interrupted_write_leaves_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "run.json"
    reproduce.write_json_atomically({"old": 1}, path)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", boom)  # interrupted half-way through the write
    with pytest.raises(KeyboardInterrupt):
        reproduce.write_json_atomically({"new": 2}, path)
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left


def test_table1_reads_the_results_and_colours_them():
    table = reproduction.table1()
    row = table[(table.benchmark == "split_mnist") & (table.scenario == "CL3")
                & (table.method == "HNET+ENT")].iloc[0]
    group = [g for g in reproduction.seed_groups() if g.first.name == "split_mnist_hnet_cl3"][0]
    assert row["n"] == len(group.results) >= 3        # every finished seed, the plan's three or more
    assert row["published"] == 69.48 and row["status"] == "verified"
    assert row["reaches"] is False
    assert "--out results/split_mnist_hnet_cl3.json" in row["command"]
    assert group.mean_std == pytest.approx((row["ours mean"], row["ours std"]))
    html = reproduction.style_table1(table).to_html()
    assert reproduction.COLOURS[False].split(": ")[1] in html
    for key, pub in published.PUBLISHED_TABLE1.items():
        assert pub.status in ("verified", "recalled") and pub.source


def test_a_run_killed_half_way_leaves_no_results_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HNET_FAST", "1")
    real = reproduce_training()

    def killed_after_first_task(cfg, callback=None, **kwargs):
        def stop(state):
            callback(state)
            if state.event == "task_end":
                raise KeyboardInterrupt  # Ctrl-C after task 1
        return real(cfg, callback=stop, **kwargs)

    monkeypatch.setattr("hnet_utils.continual.training.train_continual", killed_after_first_task)
    args = ["--only", "regression", "--methods", "hnet", "--seeds", "0", "--no-progress",
            "--results-dir", str(tmp_path)]
    assert reproduce.main(args) == 130  # one line, no traceback: what is kept, how to resume
    assert not (tmp_path / "regression_hnet_cl1.json").exists()
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("interrupted: ")
    reproduce.main(args + ["--dry-run"])
    assert "unfinished after task 1 of 3: interrupted, or running now; resumes there" in capsys.readouterr().out
    assert (tmp_path / ".progress" / "regression_hnet_cl1.resume.pt").is_file()
    monkeypatch.setattr("hnet_utils.continual.training.train_continual", real)
    reproduce.main(args)
    resumed = ContinualResult.load(tmp_path / "regression_hnet_cl1.json")
    assert resumed.config["num_tasks"] == 3
    assert [p.name for p in tmp_path.iterdir()] == ["regression_hnet_cl1.json"]
    whole_dir = tmp_path.parent / (tmp_path.name + "-whole")    # the same run, never interrupted
    reproduce.main(args[:-1] + [str(whole_dir)])
    assert ContinualResult.load(whole_dir / "regression_hnet_cl1.json").matrix == resumed.matrix


def reproduce_training():
    from hnet_utils.continual import training

    return training.train_continual


def test_a_failing_run_is_reported_and_the_others_go_on(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HNET_FAST", "1")
    real = reproduce_training()

    def fails_for_finetune(cfg, **kwargs):
        if cfg.method == "finetune":
            raise FileNotFoundError("data not here")
        return real(cfg, **kwargs)

    monkeypatch.setattr("hnet_utils.continual.training.train_continual", fails_for_finetune)
    rc = reproduce.main(["--only", "regression", "--methods", "finetune", "hnet", "--seeds", "0",
                         "--no-progress", "--results-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 1 and "regression_finetune_cl1 FAILED: FileNotFoundError: data not here" in out
    assert (tmp_path / "regression_hnet_cl1.json").is_file()


def test_the_module_runs_as_a_command_in_fast_mode(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "HNET_FAST": "1", "PYTHONPATH": str(planning.settings.REPO_ROOT)}
    done = subprocess.run([sys.executable, "-m", "hnet_utils.reproduce", "--only", "regression",
                           "--methods", "hnet", "--seeds", "0", "--threads", "1", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300,
                          cwd=planning.settings.REPO_ROOT)
    assert done.returncode == 0, done.stderr
    assert "(fast mode)" in done.stdout and "hnet-reproduce-fast-" in done.stdout
    assert "results/README.md is left alone" in done.stdout


def test_estimates_warn_when_measured_on_another_device():
    run = planning.PlannedRun("split_mnist", "split_mnist", "hnet", 1, 1)
    table = {"split_mnist/hnet": {"ms_per_step": 10.0, "device": "cpu (1 thread)", "source": "x.json"}}
    seconds, note = planning.estimate_seconds(run, table, device="cuda (NVIDIA H200)")
    assert seconds == 5 * 2000 * 10.0 / 1000 and "indicative only" in note
    assert "indicative" not in planning.estimate_seconds(run, table, device="cpu (2 threads)")[1]


def test_estimates_name_a_proxy_measurement():
    run = planning.PlannedRun("split_cifar10_100", "split_cifar10_100", "hnet", 1, 0)
    table = {"split_cifar10_100/hnet": {"ms_per_step": 100.0, "device": "cpu (1 thread)",
                                        "source": "step_times.json",
                                        "measured_with": "split_cifar10 (same networks)"}}
    seconds, note = planning.estimate_seconds(run, table)
    # 200 epochs of 45,000 + 5 x 4,500 images at batch 32
    assert seconds == pytest.approx(200 * (1407 + 5 * 141) * 0.1)
    assert "measured with split_cifar10" in note


def test_settings_a_method_never_reads_do_not_make_a_run_differ(tmp_path):
    run = planning.PlannedRun("split_cifar10_substitute", "split_cifar10_substitute", "finetune", 1, 0,
                              "teaching")
    stored = run.config().to_dict()
    stored["beta"] = 12.5                                    # fine-tuning has no hypernetwork
    (tmp_path / run.filename).write_text(json.dumps({"config": stored}))
    assert planning.run_status(run, tmp_path) == "done"
    stored["lr"] = 0.5                                       # but it does read the learning rate
    (tmp_path / run.filename).write_text(json.dumps({"config": stored}))
    assert planning.run_status(run, tmp_path).startswith("differs: lr=0.5")
