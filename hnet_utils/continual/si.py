"""Synaptic intelligence (SI) baseline (Zenke, Poole & Ganguli, 2017).

While learning a task, SI accumulates for every parameter how much it
contributed to decreasing the task loss along the optimisation path,
``w[k] += -g[k] * delta_theta[k]`` per step (``g`` = gradient of the task loss
alone, without the penalty). At the end of the task the importance grows by
``Omega[k] += w[k] / (Delta[k]^2 + epsilon)``, ``Delta`` being the parameter's
total change over the task. Later tasks add the penalty

    c * sum_k Omega[k] * (theta[k] - theta*[k])^2

with ``theta*`` the parameters after the previous task.

Per training step: backward the task loss, call :meth:`SI.before_step`,
backward :meth:`SI.penalty`, ``optimizer.step()``, then :meth:`SI.after_step`.
Call :meth:`SI.begin_task` before and :meth:`SI.consolidate` after each task.
"""

from __future__ import annotations

import torch

from hnet_utils.continual.ewc import Params, trainable_params


class SI:
    """Synaptic-intelligence importance and penalty for the parameters of ``model``."""

    def __init__(self, model: torch.nn.Module, strength: float, epsilon: float = 0.1) -> None:
        if strength < 0:
            raise ValueError(f"strength (si_c) must be >= 0, got {strength!r}")
        if epsilon <= 0:
            raise ValueError(f"epsilon (si_epsilon) must be > 0, got {epsilon!r}")
        self.model = model
        self.strength = strength
        self.epsilon = epsilon
        params = trainable_params(model)
        self.omega: Params = {n: torch.zeros_like(p) for n, p in params.items()}
        self.anchor: Params = {n: p.detach().clone() for n, p in params.items()}
        self.task_start: Params = {n: p.detach().clone() for n, p in params.items()}
        self.path: Params = {n: torch.zeros_like(p) for n, p in params.items()}
        self.has_anchor = False
        self._grad: Params | None = None
        self._before: Params | None = None

    def begin_task(self) -> None:
        """Start a new path integral at the current parameters."""
        params = trainable_params(self.model)
        self.task_start = {n: p.detach().clone() for n, p in params.items()}
        self.path = {n: torch.zeros_like(p) for n, p in params.items()}

    def before_step(self) -> None:
        """Remember the task-loss gradients (already in ``.grad``) and the parameters."""
        params = trainable_params(self.model)
        self._grad = {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                      for n, p in params.items()}
        self._before = {n: p.detach().clone() for n, p in params.items()}

    def after_step(self) -> None:
        """Add ``-g * (theta_new - theta_old)`` of the step just taken to the path integral."""
        if self._grad is None or self._before is None:
            raise RuntimeError("call before_step() before the optimiser step and after_step() after it")
        for n, p in trainable_params(self.model).items():
            self.path[n] -= self._grad[n] * (p.detach() - self._before[n])
        self._grad = self._before = None

    def consolidate(self) -> None:
        """End of task: grow the importance and anchor the current parameters."""
        for n, p in trainable_params(self.model).items():
            delta = p.detach() - self.task_start[n]
            self.omega[n] += self.path[n] / (delta.pow(2) + self.epsilon)
            self.anchor[n] = p.detach().clone()
        self.has_anchor = True

    def penalty(self) -> torch.Tensor:
        """``c * sum Omega * (theta - anchor)^2``; scalar, 0 before the first consolidation."""
        params = trainable_params(self.model)
        total = torch.zeros((), device=next(iter(params.values())).device)
        if not self.has_anchor:
            return total
        for n, p in params.items():
            total = total + (self.omega[n] * (p - self.anchor[n]).pow(2)).sum()
        return self.strength * total
