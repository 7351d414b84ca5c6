"""The labelled comparisons of hnet_utils/experiments/reproduction.py (notebooks 04 and 06):
configuration labels, the 'target met' lines under Table 1 and the table by configuration.
They read whatever results files exist, so these tests write their own into a temporary
folder."""

import json

import pandas as pd

from hnet_utils.experiments import reproduction as rep
from hnet_utils.experiments.configs import preset_config
from hnet_utils.experiments.published import published_for
from hnet_utils.experiments.results import ContinualResult


def write_run(folder, name, cfg, final):
    """A results file ``name`` for ``cfg`` whose last row is ``final`` (one task per value)."""
    k = len(final)
    matrix = [[final[j] if j <= i else None for j in range(k)] for i in range(k)]
    ContinualResult(config=cfg.to_dict(), metric="accuracy", matrix=matrix, wall_time_s=60.0,
                    device="cpu (1 thread)").save(folder / name)


def test_configuration_label_names_what_differs_from_the_paper_preset():
    paper = preset_config("split_mnist", "paper", method="hnet_tir", scenario=3)
    assert rep.configuration_label(paper) == "paper preset"
    assert rep.configuration_label(paper.replace(seed=4, device="cpu")) == "paper preset"
    short = paper.replace(iterations=500, replay_weight=None)
    assert rep.configuration_label(short) == ("paper preset, but 500 steps per task (the paper's: "
                                              f"{paper.iterations:,}), replay_weight=None")
    assert rep.configuration_label(short.to_dict()) == rep.configuration_label(short)


def test_table1_labels_each_row_and_compares_only_the_paper_preset():
    table = rep.table1()
    assert set(table["configuration"]) == {"paper preset"}
    short = rep.table1(benchmarks=("split_mnist_replay_500steps",), include_missing=False)
    assert len(short) and all("500 steps per task" in c for c in short["configuration"])
    assert short["reaches"].isna().all()        # a yardstick, not a target: no colour, no verdict
    assert "configuration" in rep.display_table(short)


def test_target_lines_say_met_or_not_from_the_numbers():
    pub = published_for("split_mnist", 3, "hnet_tir")
    table = pd.DataFrame([
        {"benchmark": "split_mnist", "scenario": "CL3", "method": "HNET+TIR", "ours mean": pub.value + 1,
         "ours std": 0.5, "n": 3, "published": pub.value, "published text": str(pub), "reaches": True,
         "configuration": "paper preset"},
        {"benchmark": "split_mnist", "scenario": "CL3", "method": "HNET+R", "ours mean": 50.0,
         "ours std": None, "n": 1, "published": 60.0, "published text": "60.00", "reaches": False,
         "configuration": "paper preset"},
        {"benchmark": "split_mnist", "scenario": "CL2", "method": "DGR+distill", "ours mean": None,
         "ours std": None, "n": 0, "published": 70.0, "published text": "70.00", "reaches": None,
         "configuration": "paper preset"}])
    lines = rep.target_lines(table)
    assert lines[0].startswith(f"split_mnist CL3 HNET+TIR: ours {pub.value + 1:.2f} ± 0.50 % (3 seeds)")
    assert lines[0].endswith("target met (+1.00 points)")
    assert lines[1].endswith("target not met (-10.00 points)") and "(1 seed)" in lines[1]
    assert lines[2] == "targets met: 1 of 2 rows with runs; 1 row with a published value not run yet"


def test_configuration_table_groups_labels_and_skips_other_files(tmp_path):
    paper = preset_config("split_mnist", "paper", method="hnet_r", scenario=3)
    write_run(tmp_path, "split_mnist_hnet_r_cl3.json", paper, [90, 90, 90, 90, 100])
    write_run(tmp_path, "split_mnist_hnet_r_cl3_seed1.json", paper.replace(seed=1), [100] * 5)
    short = paper.replace(iterations=500, replay_weight=None)
    write_run(tmp_path, "split_mnist_hnet_r_cl3_500steps.json", short, [80] * 5)
    write_run(tmp_path, "split_mnist_hnet_cl3_outliers_seed0.json",
              preset_config("split_mnist", "paper", method="hnet", scenario=3, outlier_weight=1.0),
              [50] * 5)
    (tmp_path / "split_mnist_hnet_r_cl3_notes.json").write_text(json.dumps({"note": "no results"}))
    (tmp_path / "split_mnist_hnet_r_cl3_broken.json").write_text("{ half a file")
    table = rep.configuration_table("split_mnist_*_cl[23]*.json", ("hnet", "hnet_r"), tmp_path)
    assert list(table["configuration"]) == ["paper preset", rep.configuration_label(short)]
    first, second = table.iloc[0], table.iloc[1]
    assert first["seeds"] == "0, 1" and first["ours (%)"] == "96.00 ± 5.66"
    pub = published_for("split_mnist", 3, "hnet_r")
    assert first["target met"] == ("yes" if 96.0 >= pub.value else "no")
    assert second["target met"] == "—" and second["ours (%)"] == "80.00"
    assert "--out results/split_mnist_hnet_r_cl3.json" in first["command (first seed)"]
