"""Every learned task's test metric *while* training goes on (a ``train_continual`` callback).

The matrix of a run (``metrics.py``) holds each task's metric at the end of each task. A
:class:`MetricTrace` records it every few steps, which shows what happens to an old task
while a new one is being learned. On the regression toy, for example, the first Adam steps
of a new task knock the old fits far off, and the output regulariser then pulls them back
over the following thousands of steps (notebook 01 prints how far and how long,
results/README.md).
"""

from __future__ import annotations

from hnet_utils.continual.training import TrainState, evaluate_task, resolve_device, task_indices


class MetricTrace:
    """Training callback: the test metric of every task learned so far, every few steps.

    Pass it (or call it from your own callback) as ``callback`` of ``train_continual``; it
    records at every ``"step"`` event (``callback_every`` of that call sets how often) and at
    the end of each task, so the last record of task t equals row t of the run's matrix. Each
    record evaluates the task being trained and every earlier one on the test samples the run
    uses (as the run's own evaluation does), so choose ``callback_every`` with the test-set
    size in mind.

    After training:
        ``records``: one ``(global_step, task, values)`` per call, ``values[j]`` the metric of
        task j (for j = 0..task; accuracy in percent or MSE, as the run's matrix);
        :meth:`series` gives one task's curve, :attr:`task_starts` where each task began.
    """

    def __init__(self) -> None:
        self.records: list[tuple[int, int, list[float]]] = []
        self.task_starts: list[int] = []  # global step before the first step of each task
        self._test_idx = None

    def __call__(self, state: TrainState) -> None:
        """Record every learned task's metric (at ``"step"`` and ``"task_end"`` events)."""
        if state.event not in ("step", "task_end"):
            return
        if self.records and self.records[-1][:2] == (state.global_step, state.task):
            return                  # the task's last step was recorded already: same model
        cfg = state.config
        if self._test_idx is None:
            self._test_idx = task_indices(cfg, state.benchmark.tasks[:cfg.num_tasks], "test")
        while len(self.task_starts) <= state.task:   # the first record of a task: where it began
            self.task_starts.append(state.global_step - state.step)
        device = resolve_device(cfg.device)
        values = [evaluate_task(state.learner, state.benchmark, j, state.task + 1, self._test_idx[j],
                                cfg.scenario, cfg.eval_batch_size, device)[0]
                  for j in range(state.task + 1)]
        self.records.append((state.global_step, state.task, values))

    def series(self, task: int, during: int | None = None) -> tuple[list[int], list[float]]:
        """``(global steps, values)`` of ``task`` over all records that have it, or only over
        the records made while task ``during`` was trained."""
        if not isinstance(task, int) or task < 0:
            raise ValueError(f"task must be a task index >= 0, got {task!r}")
        rows = [(g, values[task]) for g, t, values in self.records
                if task < len(values) and (during is None or t == during)]
        return [g for g, _ in rows], [v for _, v in rows]

    def steps_until_below(self, task: int, during: int, level: float) -> int | None:
        """Steps into the training of task ``during`` until ``task``'s metric is first at or
        below ``level`` (an MSE), or None if it never is in the records of that task."""
        steps, values = self.series(task, during=during)
        return next((g - self.task_starts[during] for g, v in zip(steps, values) if v <= level), None)
