"""Elastic weight consolidation (EWC) and online EWC baselines.

EWC (Kirkpatrick et al., 2017) adds a quadratic penalty that keeps each
parameter close to its value after an old task, weighted by how much that
parameter mattered for the task (the diagonal of the Fisher information):

    penalty = lambda/2 * sum_t sum_k F_t[k] * (theta[k] - theta_t*[k])^2

Online EWC (Schwarz et al., 2018) keeps a single anchor (the parameters after
the latest task) and a running Fisher ``F <- gamma * F + F_t``.

The Fisher is the *true* Fisher: the expectation over labels drawn from the
model's own predictive distribution, averaged over input samples,
``F = mean_x sum_c p(c|x) (d log p(c|x) / d theta)^2``. For regression we use a
unit-variance Gaussian likelihood, for which ``F = mean_x (d f(x) / d theta)^2``.
Per-sample gradients are computed in batches with ``torch.func.vmap``.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

Params = dict[str, torch.Tensor]


def trainable_params(model: torch.nn.Module) -> Params:
    """``{name: parameter}`` of the parameters of ``model`` that require gradients."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def diagonal_fisher(model: torch.nn.Module, x: torch.Tensor, kind: str = "classification",
                    forward: Callable | None = None, chunk: int = 64) -> Params:
    """Diagonal Fisher information of ``model`` on inputs ``x`` (N, *input_shape).

    ``forward(model, params, x) -> outputs (N, C)`` runs the model with the
    given parameters (default: ``functional_call(model, params, (x,))``); use it
    to select a head or restrict the classes. ``kind`` is ``"classification"``
    (expectation over the C labels) or ``"regression"``. Returns one tensor per
    trainable parameter, same shapes as the parameters.
    """
    if kind not in ("classification", "regression"):
        raise ValueError(f"kind must be 'classification' or 'regression', got {kind!r}")
    if x.shape[0] == 0:
        raise ValueError("x is empty: the Fisher needs at least one sample")
    if forward is None:
        def forward(m, params, inputs):
            return functional_call(m, params, (inputs,))
    params = {n: p.detach() for n, p in trainable_params(model).items()}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}

    def log_probs(p, xi):  # log p(. | xi) of one sample: (C,)
        return F.log_softmax(forward(model, p, xi.unsqueeze(0)), dim=-1)[0]

    def output_sum(p, xi):  # f(xi) summed over output dimensions
        return forward(model, p, xi.unsqueeze(0)).sum()

    was_training = model.training
    model.eval()
    for start in range(0, x.shape[0], chunk):
        xb = x[start:start + chunk]
        if kind == "regression":
            g = vmap(grad(output_sum), in_dims=(None, 0))(params, xb)
            for n in fisher:
                fisher[n] += g[n].pow(2).sum(0)
            continue
        with torch.no_grad():
            probs = F.softmax(forward(model, params, xb), dim=-1)  # (B, C)
        for c in range(probs.shape[1]):
            def log_prob_c(p, xi, c=c):  # log p(c | xi), differentiated w.r.t. p
                return log_probs(p, xi)[c]

            g = vmap(grad(log_prob_c), in_dims=(None, 0))(params, xb)
            weight = probs[:, c]
            for n in fisher:
                shape = (-1,) + (1,) * (g[n].dim() - 1)
                fisher[n] += (weight.view(shape) * g[n].pow(2)).sum(0)
    model.train(was_training)
    return {n: f / x.shape[0] for n, f in fisher.items()}


class EWC:
    """EWC (``online=False``) or online EWC (``online=True``) penalty for ``model``.

    Call :meth:`consolidate` with the Fisher after each task, and add
    :meth:`penalty` to the loss while learning later tasks.
    """

    def __init__(self, model: torch.nn.Module, strength: float, online: bool = False,
                 gamma: float = 1.0) -> None:
        if strength < 0:
            raise ValueError(f"strength (ewc_lambda) must be >= 0, got {strength!r}")
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"gamma must be in (0, 1], got {gamma!r}")
        self.model = model
        self.strength = strength
        self.online = online
        self.gamma = gamma
        self.terms: list[tuple[Params, Params]] = []  # (anchor, fisher) per consolidation

    def consolidate(self, fisher: Params) -> None:
        """Anchor the current parameters with importance ``fisher`` (from :func:`diagonal_fisher`)."""
        anchor = {n: p.detach().clone() for n, p in trainable_params(self.model).items()}
        if set(fisher) != set(anchor):
            raise ValueError("fisher must have one entry per trainable parameter of the model")
        fisher = {n: f.detach().clone() for n, f in fisher.items()}
        if self.online and self.terms:
            old = self.terms[0][1]
            fisher = {n: self.gamma * old[n] + fisher[n] for n in fisher}
        if self.online:
            self.terms = [(anchor, fisher)]
        else:
            self.terms.append((anchor, fisher))

    def penalty(self) -> torch.Tensor:
        """``strength/2 * sum F * (theta - anchor)^2`` over consolidations; scalar, 0 before any."""
        params = trainable_params(self.model)
        total = torch.zeros((), device=next(iter(params.values())).device)
        for anchor, fisher in self.terms:
            for n, p in params.items():
                total = total + (fisher[n] * (p - anchor[n]).pow(2)).sum()
        return 0.5 * self.strength * total
