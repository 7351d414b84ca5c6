"""Baselines that train the target network's own weights (no hypernetwork).

One class, :class:`TargetLearner`, covers every baseline; they differ only in
what happens between tasks and what is added to the loss:

* ``finetune``   -- keep training the same network on each new task.
* ``scratch``    -- a freshly initialised network per task (CL1 only); task
  ``j`` is evaluated with the network trained on it.
* ``multitask``  -- while "learning task t", train a freshly initialised network
  on batches of *all* tasks ``0..t`` at once (mean of the per-task losses): joint
  training, the upper bound when trained to convergence. Fresh, not continued from
  the network of tasks ``0..t-1``: a continued network can stay stuck in that
  network's fit (regression toy, seed 2: task 3 at MSE 0.16 for 30,000 steps).
* ``ewc`` / ``online_ewc`` -- fine-tuning plus the EWC penalty (ewc.py).
* ``si``         -- fine-tuning plus the SI penalty (si.py).

Output layer per scenario (C = classes per task, K = number of tasks):

* CL1: ``K`` heads of ``C`` outputs; task ``t`` trains and is tested on head ``t``.
* CL2: one shared head of ``C`` outputs, within-task labels ``0..C-1``.
* CL3: one head of ``K*C`` outputs, global labels ``t*C + y``. While learning
  task ``t`` the softmax (loss) and, after it, the prediction are taken over the
  classes seen so far, ``0..(t+1)*C-1`` (as in van de Ven & Tolias, 2019).
* Regression: a single-head MLP (the tasks' input ranges do not overlap).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch.func import functional_call

from hnet_utils.continual.ewc import EWC, diagonal_fisher
from hnet_utils.continual.learners import Batch, Prediction
from hnet_utils.continual.si import SI


class TargetLearner:
    """Sequential training of a target network for the baseline ``cfg.method``.

    ``make_target()`` builds a freshly initialised target network (already on
    ``device``) with the output layer of the scenario (see module docstring).
    """

    def __init__(self, cfg, benchmark, make_target, device: torch.device,
                 generator: torch.Generator, train_indices: list[torch.Tensor]) -> None:
        self.cfg, self.benchmark, self.device = cfg, benchmark, device
        self.make_target, self.generator = make_target, generator
        self.train_indices = train_indices  # training samples in use, per task
        self.classes = benchmark.classes_per_task
        self.regression = benchmark.kind == "regression"
        self.target = make_target()
        self.task_targets: list[torch.nn.Module] = []  # scratch: one trained net per task
        self.hnet = None
        self.ewc = (EWC(self.target, cfg.ewc_lambda, online=cfg.method == "online_ewc",
                        gamma=cfg.online_gamma) if cfg.method in ("ewc", "online_ewc") else None)
        self.si = SI(self.target, cfg.si_c, cfg.si_epsilon) if cfg.method == "si" else None
        self.optimizer: torch.optim.Optimizer | None = None

    # ----------------------------------------------------------------- outputs
    def _head(self, task: int) -> int | None:
        """Output head of ``task``: its own in CL1 (classification), the only one otherwise."""
        return task if (self.cfg.scenario == 1 and not self.regression) else None

    def _restrict(self, out: torch.Tensor, seen: int) -> torch.Tensor:
        """CL3: keep the outputs of the classes of the first ``seen`` tasks."""
        return out[:, :seen * self.classes] if self.cfg.scenario == 3 else out

    def outputs(self, net: torch.nn.Module, x: torch.Tensor, task: int, seen: int) -> torch.Tensor:
        """Outputs of ``net`` used for ``task`` when ``seen`` tasks are known: (N, C) or (N, seen*C)."""
        return self._restrict(net(x, head=self._head(task)), seen)

    def task_loss(self, net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, task: int,
                  seen: int) -> torch.Tensor:
        """Loss of ``net`` on a batch of ``task``: MSE (regression) or cross-entropy."""
        out = self.outputs(net, x, task, seen)
        if self.regression:
            return F.mse_loss(out, y)
        if self.cfg.scenario == 3:
            y = y + task * self.classes
        return F.cross_entropy(out, y)

    def _bn_task(self, task: int) -> int:
        """Batch-norm statistics of ``task``: its own in CL1, one shared set otherwise."""
        return task if self.cfg.scenario == 1 else 0

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task: int, seen: int) -> Prediction:
        """Outputs (regression) or predicted labels for a test batch of ``task`` after ``seen`` tasks."""
        net = self.task_targets[task] if self.cfg.method == "scratch" else self.target
        net.use_task_bn(self._bn_task(task))
        out = self.outputs(net, x, task, seen)
        return Prediction(out if self.regression else out.argmax(-1), None)

    # ------------------------------------------------------------------ training
    def batch_tasks(self, task: int) -> Sequence[int]:
        """Multitask trains on all tasks learned so far, every other baseline on the current one."""
        return range(task + 1) if self.cfg.method == "multitask" else (task,)

    def start_task(self, task: int) -> None:
        """Prepare learning ``task``: fresh net for scratch and multitask, new Adam, SI path integral."""
        if self.cfg.method in ("scratch", "multitask") and task > 0:
            self.target = self.make_target()
        self.target.use_task_bn(self._bn_task(task))
        self.target.train()
        self.optimizer = torch.optim.Adam(self.target.parameters(), lr=self.cfg.lr,
                                          betas=(self.cfg.adam_beta1, 0.999))
        if self.si is not None:
            self.si.begin_task()

    def step(self, batches: list[Batch], seen: int) -> torch.Tensor:
        """One Adam step on ``batches`` [(task, x, y), ...]; returns the detached total loss."""
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.stack([self.task_loss(self.target, x, y, t, seen) for t, x, y in batches]).mean()
        loss.backward()
        total = loss.detach()
        penalty = None
        if self.ewc is not None and self.ewc.terms:
            penalty = self.ewc.penalty()
        if self.si is not None:
            self.si.before_step()  # remembers the task-loss gradient only
            penalty = self.si.penalty() if self.si.has_anchor else None
        if penalty is not None:
            penalty.backward()
            total = total + penalty.detach()
        self.optimizer.step()
        if self.si is not None:
            self.si.after_step()
        return total

    def end_task(self, task: int) -> None:
        """After ``task``: store the scratch net, or consolidate EWC / SI."""
        self.target.eval()
        if self.cfg.method == "scratch":
            self.task_targets.append(self.target)
        if self.ewc is not None:
            x = self._fisher_inputs(task)
            kind = "regression" if self.regression else "classification"
            head, seen = self._head(task), task + 1

            def forward(module, params, xb):
                return self._restrict(functional_call(module, params, (xb,), {"head": head}), seen)

            fisher = diagonal_fisher(self.target, x, kind, forward=forward)
            self.ewc.consolidate(fisher)
        if self.si is not None:
            self.si.consolidate()

    def _fisher_inputs(self, task: int) -> torch.Tensor:
        """``cfg.fisher_samples`` random training inputs of ``task`` (all if None)."""
        pool = self.train_indices[task]
        k = len(pool) if self.cfg.fisher_samples is None else min(len(pool), self.cfg.fisher_samples)
        idx = pool[torch.randperm(len(pool), generator=self.generator)[:k]]
        x, _ = self.benchmark.tasks[task].batch("train", idx)
        return x.to(self.device)

    def models(self) -> dict:
        """Modules to checkpoint."""
        if self.cfg.method == "scratch":
            return {"task_targets": self.task_targets}
        return {"target": self.target}

    def state_dict(self) -> dict:
        """What a resumed run needs after a finished task: the network(s), EWC / SI state."""
        state = {"target": self.target.state_dict(),
                 "task_targets": [net.state_dict() for net in self.task_targets]}
        if self.ewc is not None:
            state["ewc_terms"] = [[anchor, fisher] for anchor, fisher in self.ewc.terms]
        if self.si is not None:
            state["si"] = {"omega": self.si.omega, "anchor": self.si.anchor,
                           "has_anchor": self.si.has_anchor}
        return state

    def load_state_dict(self, state: dict, tasks_done: int) -> None:
        """Restore :meth:`state_dict` on a fresh learner, as after ``tasks_done`` tasks."""
        self.target.load_state_dict(state["target"])
        self.task_targets = []
        for net_state in state["task_targets"]:
            net = self.make_target()
            net.load_state_dict(net_state)
            self.task_targets.append(net.eval())
        if self.ewc is not None:
            self.ewc.terms = [(anchor, fisher) for anchor, fisher in state["ewc_terms"]]
        if self.si is not None:
            for key in ("omega", "anchor"):
                getattr(self.si, key).update(state["si"][key])
            self.si.has_anchor = state["si"]["has_anchor"]
