"""The output regulariser that keeps a hypernetwork from forgetting old tasks.

While learning task T (von Oswald et al. 2020, eq. 2)::

    reg = beta / (T-1) * sum_{t<T} || h(e_t, θ*) - h(e_t, θ + Δθ) ||²

θ* is a snapshot of the hypernetwork taken before task T, e_t the (frozen)
embeddings of the old tasks and Δθ an optional lookahead (see
:func:`adam_lookahead`), treated as a constant.

Two implementations give the same value and gradient:

* ``method="reference"`` -- as the paper writes it: keep every old task's
  generated weights h(e_t, θ*) and regenerate h(e_t, θ+Δθ) task by task.
  Time and memory grow linearly with the number of old tasks.
* ``method="exact"`` -- uses that the last hypernetwork layer is linear
  (method.md §2). For each old (task, chunk) pair i with last hidden
  activation z_i (now) and z*_i (snapshot)::

      r_i = W z_i + b - (W* z*_i + b*) = A u_i,
      A = [W - W* | b - b* | W*],   u_i = [z_i; 1; z_i - z*_i],

  so ``sum_i |r_i|² = <G, AᵀA>`` with the small Gram matrix
  ``G = sum_i u_i u_iᵀ`` ((2d+1) x (2d+1), accumulated in float64). Only the
  z_i are recomputed (through the small hidden layers); the cost of the big
  products does not depend on the number of tasks, and per old task only
  its embedding and its snapshot activations z*_i are stored. The padding
  rows of the last chunk (beyond n) are handled by pairing those rows of A
  with the Gram matrix of the non-last chunks only (the same as subtracting
  their contribution, without the cancellation).

  Speed: A = [V | W*] is one (chunk_size, 2d+1) buffer kept from the
  snapshot; each call writes V into it and the output layer's part of the
  sum, <G, AᵀA>, is a small autograd Function (``_OutputLayerTerm``) with a
  hand-written backward (dsum/dV = first d+1 columns of A (G + Gᵀ)), so
  autograd never records the 78,000-row products or their temporaries.

  Precision: G, the constant block W*ᵀW* and the final contraction are
  float64; the two big products VᵀV and VᵀW* (V = [W - W* | b - b*], 78,000
  rows for PermutedMNIST-10) are float32 by default (``product_dtype``).
  Measured on the PermutedMNIST-10 configuration (shared 2-core CPU, one
  thread, 99 old tasks), float64 products made the regulariser 2.6-3x slower
  (155 vs 59 ms and 125 vs 42 ms per forward+backward in two runs), while
  with float32 the exact value and gradient stayed as close to a float64
  reference as the float32 reference implementation is (relative errors
  2e-7..2e-5 and 3e-5), also when the terms of r_i cancel 40-fold
  (tests/test_regularizer.py checks a 60-fold cancellation).

``subset_size=k`` regularises k old tasks drawn at random each call
(scaled beta / k), as the authors' code allows.
"""

from __future__ import annotations

import math

import torch

from hnet_utils.networks.hypernet import HyperNetwork

#: The two implementations of the same regulariser (``method=`` argument).
IMPLEMENTATIONS = ("exact", "reference")


class OutputRegularizer:
    """Output regulariser for a hypernetwork ``h`` (see module docstring).

    Args:
        h: the hypernetwork (full or chunked).
        beta: regularisation strength, >= 0.
        method: ``"exact"`` (cost independent of the number of old tasks) or
            ``"reference"`` (task by task, as in the paper).
        subset_size: if given, each call regularises this many old tasks drawn
            without replacement (all of them when there are no more than that).
        generator: ``torch.Generator`` for the subset draws (reproducible runs).

    Usage: call :meth:`snapshot` after finishing a task and *before* adding the
    next task's embedding; then add ``reg(delta)`` to the loss of every step.
    """

    #: dtype of the two large products VᵀV and VᵀW* (see module docstring).
    product_dtype = torch.float32

    def __init__(self, h: HyperNetwork, beta: float, method: str = "exact",
                 subset_size: int | None = None, generator: torch.Generator | None = None):
        if not isinstance(h, HyperNetwork):
            raise ValueError(f"h must be a HyperNetwork, got {type(h).__name__}")
        if (isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta >= 0
                or not math.isfinite(beta)):
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if method not in IMPLEMENTATIONS:
            raise ValueError(f"method must be one of {IMPLEMENTATIONS}, got {method!r}")
        if subset_size is not None and (isinstance(subset_size, bool)
                                        or not isinstance(subset_size, int) or subset_size <= 0):
            raise ValueError(f"subset_size must be a positive int or None, got {subset_size!r}")
        self.h, self.beta, self.method = h, float(beta), method
        self.subset_size, self.generator = subset_size, generator
        self.tasks: tuple[int, ...] = ()
        self._stored: dict[str, torch.Tensor] = {}

    # --------------------------------------------------------------- snapshot
    @torch.no_grad()
    def snapshot(self, tasks=None) -> None:
        """Remember θ* and the old tasks to protect.

        tasks: task ids to protect; default all tasks ``h`` has an embedding
        for now (so call this before ``h.add_task()`` for the new task).
        Replaces any earlier snapshot.
        """
        h = self.h
        tasks = list(range(h.num_tasks)) if tasks is None else list(tasks)
        for t in tasks:
            if isinstance(t, bool) or not isinstance(t, int) or not 0 <= t < h.num_tasks:
                raise ValueError(f"tasks must be ids of tasks with an embedding "
                                 f"(0..{h.num_tasks - 1}), got {t!r}")
        self.tasks = tuple(tasks)
        if not tasks:
            self._stored = {}
            return
        embeddings = torch.stack([h.task_embeddings[t].detach() for t in tasks]).clone()
        stored = {"embeddings": embeddings}
        if self.method == "reference":
            # the generated weights of every old task, one (n,) row per task
            stored["targets"] = torch.stack([h(embeddings=e) for e in embeddings])
        else:
            w_star = h.output.weight.detach()
            m, d = h.last_chunk_size, h.feature_dim
            stored["z_star"] = h(embeddings=embeddings, return_features=True)  # (T, K, d)
            # A = [V | W*] (chunk_size, 2d+1) in product_dtype: columns d+1.. hold W*,
            # columns ..d are rewritten with V = [W + ΔW - W* | b + Δb - b*] at every call
            a = w_star.new_zeros(h.chunk_size, 2 * d + 1, dtype=self.product_dtype)
            a[:, d + 1:] = w_star
            stored["a"] = a
            stored["b_star"] = h.output.bias.detach().clone()
            # W*ᵀW* for the rows valid in every chunk / only in non-last chunks
            w64 = w_star.double()
            stored["ww_full"] = w64[:m].T @ w64[:m]
            stored["ww_pad"] = w64[m:].T @ w64[m:]
        self._stored = stored

    @property
    def num_old_tasks(self) -> int:
        """Number of tasks protected by the current snapshot."""
        return len(self.tasks)

    def stored_bytes(self) -> dict[str, int]:
        """Bytes held by this regulariser, split into what grows with the number
        of old tasks (``"per_task"``) and what does not (``"fixed"``)."""
        per_task_keys = {"embeddings", "targets", "z_star"}
        sizes = {"per_task": 0, "fixed": 0}
        for key, tensor in self._stored.items():
            sizes["per_task" if key in per_task_keys else "fixed"] += \
                tensor.numel() * tensor.element_size()
        sizes["total"] = sizes["per_task"] + sizes["fixed"]
        return sizes

    # ------------------------------------------------------------ regulariser
    def __call__(self, delta=None) -> torch.Tensor:
        """The regulariser value, a scalar tensor differentiable w.r.t. θ_h.

        delta: optional lookahead Δθ, a list of tensors aligned with
        ``h.theta_parameters()`` (as returned by :func:`adam_lookahead`;
        ``None`` entries mean zero). It is detached (treated as a constant).
        Returns 0 when no old task is protected.
        """
        deltas = self._deltas(delta)
        weight = self.h.output.weight
        if not self.tasks:
            return weight.new_zeros(())
        chosen = self._choose()
        if self.method == "reference":
            total = self._reference_sum(chosen, self._theta(deltas))
        else:
            total = self._exact_sum(chosen, deltas)
        return self.beta / len(chosen) * total.to(weight.dtype)

    def _deltas(self, delta) -> dict[str, torch.Tensor | None]:
        """{name: Δ or None} for the parameters of θ_h, checked against their shapes."""
        named = self.h.named_theta_parameters()
        if delta is None:
            return {name: None for name, _ in named}
        if not isinstance(delta, (list, tuple)) or len(delta) != len(named):
            raise ValueError(f"delta must be a list of {len(named)} tensors aligned with "
                             f"h.theta_parameters() (or None)")
        deltas = {}
        for (name, p), d in zip(named, delta):
            if d is not None and (not isinstance(d, torch.Tensor) or d.shape != p.shape):
                shape = tuple(d.shape) if isinstance(d, torch.Tensor) else type(d).__name__
                raise ValueError(f"delta entry for {name} must have shape {tuple(p.shape)}, "
                                 f"got {shape}")
            deltas[name] = None if d is None else d.detach()
        return deltas

    def _theta(self, deltas, skip=()) -> dict[str, torch.Tensor]:
        """{name: θ (+ Δθ)} for the parameters of θ_h (except those named in ``skip``)."""
        return {name: p if deltas[name] is None else p + deltas[name]
                for name, p in self.h.named_theta_parameters() if name not in skip}

    def _choose(self) -> torch.Tensor:
        """Indices (into ``self.tasks``) of the old tasks regularised in this call."""
        n_old = len(self.tasks)
        if self.subset_size is None or self.subset_size >= n_old:
            return torch.arange(n_old)
        return torch.randperm(n_old, generator=self.generator)[:self.subset_size]

    def _hnet_at(self, params, embeddings, return_features=False) -> torch.Tensor:
        """Evaluate the hypernetwork with θ_h replaced by ``params``."""
        return torch.func.functional_call(
            self.h, params, (), {"embeddings": embeddings, "return_features": return_features})

    def _reference_sum(self, chosen, params) -> torch.Tensor:
        """sum_t |h(e_t, θ*) - h(e_t, θ+Δ)|², regenerating each old task's weights in turn."""
        embeddings, targets = self._stored["embeddings"], self._stored["targets"]
        total = 0.0
        for i in chosen.tolist():
            weights = self._hnet_at(params, embeddings[i])
            total = total + (weights - targets[i]).pow(2).sum()
        return total

    def _exact_sum(self, chosen, deltas) -> torch.Tensor:
        """The same sum as :meth:`_reference_sum` via <G, AᵀA> (module docstring)."""
        h, s = self.h, self._stored
        if len(chosen) < len(self.tasks):
            embeddings, z_star = s["embeddings"][chosen], s["z_star"][chosen]
        else:                                                        # all: no copies
            embeddings, z_star = s["embeddings"], s["z_star"]
        # only the small hidden layers are evaluated here; the output layer enters via A
        hidden = self._theta(deltas, skip=("output.weight", "output.bias"))
        z = self._hnet_at(hidden, embeddings, return_features=True).double()
        u = torch.cat([z, torch.ones_like(z[..., :1]), z - z_star.double()], dim=-1)
        g_not_last = _gram(u[:, :-1].reshape(-1, u.shape[-1]))       # pairs of non-last chunks
        g_last = _gram(u[:, -1])                                     # pairs of the last chunk
        g_all = g_not_last + g_last                                  # every (task, chunk) pair
        if s["a"].dtype != self.product_dtype:                       # product_dtype was changed
            s["a"] = s["a"].to(self.product_dtype)
        return _OutputLayerTerm.apply(h.output.weight, h.output.bias, g_all, g_not_last,
                                      g_last.detach(), deltas["output.weight"],
                                      deltas["output.bias"], s, h.last_chunk_size)


class _OutputLayerTerm(torch.autograd.Function):
    """<G_all, AᵀA over the rows :m> + <G_not_last, AᵀA over the rows m:>, A = [V | W*].

    V = [W + ΔW - W* | b + Δb - b*] is written into the stored buffer ``a``
    (no autograd graph over the chunk_size x (2d+1) matrix). Forward: one
    product VᵀA per row block. Backward: dsum/dG = AᵀA, and dsum/dV = the first
    d+1 columns of A (G + Gᵀ), computed as A (G_not_last + G_not_lastᵀ) for all
    rows plus the last chunk's part (G_last = G_all - G_not_last, passed in as
    ``g_last``) for the rows :m. The result has the row layout of the weight, so
    autograd adds it to ``weight.grad`` in one sequential pass (the transposed
    result used before made that a strided addition: 1.1 ms of a 37 ms step on an
    idle CPU, scripts/speed/README.md).
    """

    @staticmethod
    def forward(ctx, weight, bias, g_all, g_not_last, g_last, d_weight, d_bias, stored, m):
        a, d = stored["a"], weight.shape[1]
        v_w, v_b = a[:, :d], a[:, d]
        torch.sub(weight.detach(), a[:, d + 1:], out=v_w)
        torch.sub(bias.detach(), stored["b_star"], out=v_b)
        if d_weight is not None:
            v_w.add_(d_weight)
        if d_bias is not None:
            v_b.add_(d_bias)
        padded = m < a.shape[0]
        gram_full = _gram_of_rows(a[:m], stored["ww_full"])
        total = (g_all * gram_full).sum()
        gram_pad = _gram_of_rows(a[m:], stored["ww_pad"]) if padded else None
        if padded:                                                   # padding rows of last chunk
            total = total + (g_not_last * gram_pad).sum()
        # saving a lets autograd detect a second call overwriting it before this backward
        ctx.save_for_backward(a, g_all, g_not_last, g_last, gram_full, gram_pad)
        ctx.m, ctx.weight_dtype = m, weight.dtype
        return total

    @staticmethod
    def backward(ctx, grad_total):
        a, g_all, g_not_last, g_last, gram_full, gram_pad = ctx.saved_tensors
        m, d1 = ctx.m, (a.shape[1] + 1) // 2
        grad_g_all = grad_total * gram_full
        grad_g_not_last = grad_total * gram_pad if gram_pad is not None else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            def coef(g):                         # (2d+1, d+1): the first d+1 columns of G + Gᵀ
                return (grad_total * (g[:, :d1] + g[:d1].T)).to(a.dtype)
            if gram_pad is None:                                     # no padding rows
                grad_v = a @ coef(g_all)                             # (chunk_size, d+1)
            else:
                grad_v = a @ coef(g_not_last)
                grad_v[:m].addmm_(a[:m], coef(g_last))
            # row layout, like the weight: adding it to weight.grad is one sequential pass
            grad_v = grad_v.to(ctx.weight_dtype)
            grad_w, grad_b = grad_v[:, :d1 - 1], grad_v[:, d1 - 1]
        return grad_w, grad_b, grad_g_all, grad_g_not_last, None, None, None, None, None


def _gram(u: torch.Tensor) -> torch.Tensor:
    """(N, k) -> (k, k) matrix sum_i u_i u_iᵀ."""
    return u.T @ u


def _gram_of_rows(a: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
    """AᵀA (float64) for rows ``a`` = [v | w_star] of A, given the constant float64 block
    ww = w_starᵀw_star.

    a: (rows, 2d+1) -> (2d+1, 2d+1); one product vᵀA for the blocks that involve v.
    """
    d1 = ww.shape[0] + 1
    va = (a[:, :d1].T @ a).double()                                  # [vᵀv | vᵀw_star]
    vv, vw = va[:, :d1], va[:, d1:]
    return torch.cat([torch.cat([vv, vw], dim=1), torch.cat([vw.T, ww], dim=1)], dim=0)


@torch.no_grad()
def adam_lookahead(optimizer: torch.optim.Optimizer, params,
                   buffers: dict | None = None) -> list[torch.Tensor]:
    """Δθ that one ``optimizer.step()`` would apply to ``params`` given their current grads.

    Uses Adam's update rule with the optimiser's current state (exp_avg,
    exp_avg_sq, step; lr, betas, eps, weight_decay, amsgrad, maximize,
    decoupled weight decay as in AdamW) without modifying that state.
    Parameters without a gradient get a zero Δ (Adam would skip them).

    buffers: optional dict that the caller keeps between calls; the Δ tensors
    and a scratch tensor per parameter are cached in it, so that repeated
    calls allocate nothing. The returned tensors are then overwritten by the
    next call with the same ``buffers``.

    Returns a list of detached tensors aligned with ``params``.
    """
    if not isinstance(optimizer, torch.optim.Adam):
        raise ValueError(f"optimizer must be a torch.optim.Adam (or AdamW), "
                         f"got {type(optimizer).__name__}")
    group_of = {id(p): group for group in optimizer.param_groups for p in group["params"]}
    deltas = []
    for i, p in enumerate(params):
        if id(p) not in group_of:
            raise ValueError("params must all be parameters handled by the optimizer")
        cached = None if buffers is None else buffers.get(i)
        if cached is None or cached[0].shape != p.shape or cached[0].device != p.device \
                or cached[0].dtype != p.dtype:
            cached = (torch.empty_like(p), torch.empty_like(p))
            if buffers is not None:
                buffers[i] = cached
        delta, denom = cached
        if p.grad is None:
            deltas.append(delta.zero_())
            continue
        group, state = group_of[id(p)], optimizer.state.get(p, {})
        lr, (beta1, beta2) = float(group["lr"]), group["betas"]
        eps, weight_decay = group["eps"], group["weight_decay"]
        decoupled = group.get("decoupled_weight_decay", False)
        grad = -p.grad if group["maximize"] else p.grad
        if weight_decay and not decoupled:
            grad = grad.add(p, alpha=weight_decay)
        step = state.get("step", 0)
        if isinstance(step, torch.Tensor) and step.device.type != "cpu":
            step = step + 1                     # fused/capturable Adam: no host sync
        else:
            step = float(step) + 1
        bias1, root_bias2 = 1 - beta1 ** step, (1 - beta2 ** step) ** 0.5
        # Adam: Δ = -lr/bias1 * m' / (sqrt(v')/root_bias2 + eps) with the new moments
        # m' = lerp(m, g, 1-β1), v' = β2 v + (1-β2) g². Computed in few passes over the
        # (large) tensors: s = v'/β2 = v + (1-β2)/β2 g² gives sqrt(v') = sqrt(β2) sqrt(s), so
        # Δ = -(lr/bias1) (root_bias2/sqrt(β2)) m' / (sqrt(s) + eps root_bias2/sqrt(β2)).
        if state:
            torch.lerp(state["exp_avg"], grad, 1 - beta1, out=delta)
            torch.addcmul(state["exp_avg_sq"], grad, grad, value=(1 - beta2) / beta2, out=denom)
            if group["amsgrad"]:
                torch.maximum(state["max_exp_avg_sq"] / beta2, denom, out=denom)
            scale = root_bias2 / math.sqrt(beta2)
        else:                                   # zero moments: m' = (1-β1) g, v' = (1-β2) g²
            torch.mul(grad, 1 - beta1, out=delta)
            torch.mul(grad, grad, out=denom)
            scale = root_bias2 / math.sqrt(1 - beta2)
        denom.sqrt_().add_(eps * scale)
        delta.div_(denom).mul_(-lr / bias1 * scale)
        if weight_decay and decoupled:
            delta.add_(p, alpha=-lr * weight_decay)
        deltas.append(delta)
    return deltas
