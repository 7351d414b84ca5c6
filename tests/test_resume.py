"""Resuming a run after its last finished task (continual/resume.py): an interrupted run,
continued from its resume file, ends with the results of an uninterrupted one."""

import dataclasses

import pytest
import torch

from hnet_utils.continual.resume import load_progress
from hnet_utils.continual.training import train_continual
from hnet_utils.data.benchmarks import split_mnist
from hnet_utils.experiments.configs import preset_config


class Interrupt(Exception):
    pass


def stop_after(task):
    def callback(state):
        if state.event == "task_end" and state.task == task:
            raise Interrupt
    return callback


@pytest.fixture(scope="module")
def bench(mnist_mini):
    return split_mnist(mnist=mnist_mini)


@pytest.mark.parametrize("method, extra", [("hnet", {}), ("hnet", {"reg_subset": 1, "num_tasks": 4}),
                                           ("finetune", {}), ("scratch", {}), ("ewc", {}), ("si", {})])
def test_interrupted_run_resumes_with_the_same_results(bench, method, extra, tmp_path):
    cfg = preset_config("split_mnist", "paper", fast=True, method=method,
                        **{"num_tasks": 3, "iterations": 20, **extra})
    whole = train_continual(cfg, benchmark=bench, progress=False)
    resume = tmp_path / "run.resume.pt"
    last_saved = cfg.num_tasks - 1
    with pytest.raises(Interrupt):          # killed at the end of the last task but one...
        train_continual(cfg, benchmark=bench, progress=False, resume_file=resume,
                        callback=stop_after(last_saved - 1))
    assert load_progress(resume, cfg, whole.data)["tasks_done"] == last_saved  # ...all before it
    torch.manual_seed(1234)                 # the global RNG state of the new process is irrelevant
    resumed = train_continual(cfg, benchmark=bench, progress=False, resume_file=resume)
    assert resumed.matrix == whole.matrix
    for a, b in zip(whole.learner.models().values(), resumed.learner.models().values()):
        for m, n in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
            for p, q in zip(m.state_dict().values(), n.state_dict().values()):
                assert torch.equal(p, q)                        # the same weights, bit for bit


def test_resume_file_of_another_configuration_is_refused(bench, tmp_path):
    cfg = preset_config("split_mnist", "paper", fast=True, num_tasks=2, iterations=5)
    resume = tmp_path / "run.resume.pt"
    with pytest.raises(Interrupt):
        train_continual(cfg, benchmark=bench, progress=False, resume_file=resume, callback=stop_after(1))
    with pytest.raises(ValueError, match="belongs to another configuration .*beta"):
        train_continual(cfg.replace(beta=0.5), benchmark=bench, progress=False, resume_file=resume)
    resume.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read the resume file"):
        train_continual(cfg, benchmark=bench, progress=False, resume_file=resume)


def test_replay_methods_say_they_cannot_resume(bench, tmp_path):
    cfg = preset_config("split_mnist", "paper", fast=True, method="hnet_r", scenario=2, num_tasks=2)
    with pytest.raises(ValueError, match="cannot resume"):
        train_continual(cfg, benchmark=bench, progress=False, resume_file=tmp_path / "r.pt")


def test_resume_on_other_data_is_refused(bench, tmp_path):
    """A run started on one dataset never continues on another (e.g. the mirror was there when
    it started, and only the shipped subset is there now): the results would mix the two."""
    cfg = preset_config("split_mnist", "paper", fast=True, num_tasks=2, iterations=5)
    resume = tmp_path / "run.resume.pt"
    with pytest.raises(Interrupt):
        train_continual(cfg, benchmark=bench, progress=False, resume_file=resume, callback=stop_after(0))
    other = dataclasses.replace(bench, data_label="MNIST")  # the full dataset's label, same sizes
    with pytest.raises(ValueError, match="trained on other data .*MNIST-mini.* than it would "
                                         "continue on now \\(MNIST"):
        train_continual(cfg, benchmark=other, progress=False, resume_file=resume)
    assert resume.is_file()  # kept, for a resume on the right data
    resumed = train_continual(cfg, benchmark=bench, progress=False, resume_file=resume)
    assert resumed.data["label"] == bench.data_label
