"""Checks for the coding exercises of the notebooks (CS231n-style feedback).

Each ``check_*`` function runs a learner's function on random inputs and
compares it with the package's own implementation. It prints ``PASS`` with
the largest difference, or raises :class:`CheckFailed` with a hint that says
*what* differs (shape, value, sign, gradient, an edge case) without giving
the solution away. Each check tests the specific mistakes it has a hint for
*before* the general comparison that the same mistake would also fail, so that
every hint can be reached (``tests/test_check_hints.py`` gives each hint a
wrong solution that receives it). A function that still raises ``NotImplementedError``
(the student version of an exercise) is reported, not failed, so a student
notebook runs to the end.

``reference_*`` functions are the package's implementation with the same
signature as the exercise; :func:`use_or_fallback` lets later cells use the
learner's function and fall back to the reference while it is unsolved.

Exercises and their checks (notebook: function -> check):

* 00: ``target_forward(net, flat, x)`` -> :func:`check_target_forward`;
  ``compression_ratio(num_hnet_params, num_target_weights)`` ->
  :func:`check_compression_ratio`.
* 01: ``adam_delta(optimizer, params)`` -> :func:`check_adam_delta`;
  ``output_regularizer(h, params, old_embeddings, old_weights, beta)`` ->
  :func:`check_output_regularizer`.
* 02: ``gram_matrix(z, z_star)`` -> :func:`check_gram_matrix`;
  ``exact_reg_sum(W, b, W_star, b_star, z, z_star)`` -> :func:`check_exact_reg_sum`.
* 03: ``entropy(logits)`` -> :func:`check_entropy`;
  ``choose_task(logits_per_task)`` -> :func:`check_choose_task`.
* 04: ``my_vae_loss(x, logits, mu, logvar)`` -> :func:`check_vae_loss`;
  ``my_distillation_loss(student_logits, teacher_logits, temperature)`` ->
  :func:`check_distillation_loss`.
* 05: ``task_batch_norm(x, running_mean, running_var, weight, bias, task, training)`` ->
  :func:`check_task_batch_norm`; ``crop_flip(x, dy, dx, flip, padding)`` ->
  :func:`check_crop_flip`.
* 06: ``seed_mean_std(results)`` -> :func:`check_seed_mean_std`;
  ``largest_change(reference, variants)`` -> :func:`check_largest_change`.
"""

from __future__ import annotations

import functools
import math
import numbers
import statistics

import torch
import torch.nn.functional as F

from hnet_utils.continual.inference import infer_task, predictive_entropy
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
from hnet_utils.networks.hypernet import make_hypernetwork
from hnet_utils.networks.targets import MLP, forward_with_weights, num_params


class CheckFailed(AssertionError):
    """A learner's function differs from the package's; the message is the hint."""


class _NotYet(Exception):
    """Internal: the learner's function raised NotImplementedError."""


def _call(fn, *args):
    try:
        return fn(*args)
    except NotImplementedError as err:
        raise _NotYet from err


def _checked(name: str):
    """Decorator: turn NotImplementedError into a message, print PASS on success."""
    def wrap(check):
        @functools.wraps(check)
        def run(fn, *args, **kwargs) -> bool:
            try:
                detail = check(fn, *args, **kwargs)
            except _NotYet:
                print(f"not implemented yet: {name} raises NotImplementedError "
                      "(cells that use it fall back to the package's implementation)")
                return False
            print(f"PASS {name}" + (f" ({detail})" if detail else ""))
            return True
        return run
    return wrap


def _fail(msg: str):
    raise CheckFailed(msg)


def _depends_on(out: torch.Tensor, x: torch.Tensor) -> bool:
    """True if autograd connects ``out`` to ``x`` (the graph is kept for later gradients)."""
    if not out.requires_grad:
        return False
    return torch.autograd.grad(out.sum(), x, retain_graph=True, allow_unused=True)[0] is not None


def _compare(got, want: torch.Tensor, what: str, rtol: float = 1e-5, atol: float = 1e-6) -> float:
    """Shape, sign and value comparison; returns the largest absolute difference."""
    if not isinstance(got, torch.Tensor):
        _fail(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(want.shape):
        _fail(f"{what}: shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    got, want = got.detach().double(), want.detach().double()
    if not torch.isfinite(got).all():
        _fail(f"{what}: contains nan or inf (numerically unstable for these inputs?)")
    if torch.allclose(got, want, rtol=rtol, atol=atol):
        return float((got - want).abs().max()) if got.numel() else 0.0
    if want.abs().max() > 0 and not got.abs().max() > 0:
        _fail(f"{what}: all zeros, expected nonzero values")
    if want.abs().max() > 0 and torch.allclose(got, -want, rtol=rtol, atol=atol):
        _fail(f"{what}: right size, wrong sign")
    ratio = (got.flatten() @ want.flatten()) / (want.flatten() @ want.flatten()).clamp_min(1e-300)
    # any two numbers are proportional: for a single number, only a whole factor (or its
    # inverse) points to a missing or extra factor such as 1/(T-1)
    r = float(ratio)
    whole = r != 0 and any(abs(v) >= 1.5 and math.isclose(v, round(v), rel_tol=1e-4)
                           for v in (r, 1 / r))
    telling = want.numel() > 1 or whole
    if want.abs().max() > 0 and telling and torch.allclose(got, ratio * want, rtol=1e-4, atol=atol) \
            and not math.isclose(float(ratio), 1.0, rel_tol=1e-4):
        _fail(f"{what}: proportional to the expected value but {float(ratio):.4g} times it "
              "(a missing or extra factor?)")
    err = float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))
    _fail(f"{what}: values differ (largest relative difference {err:.3g})")


# --------------------------------------------------------------------- fallbacks


def use_or_fallback(fn, reference, name: str | None = None):
    """``fn`` if it is implemented, else ``reference`` (the package's), saying so once.

    Returns a function with the same signature: it calls ``fn`` and, the first
    time ``fn`` raises ``NotImplementedError``, prints that the package's
    implementation is used from now on.
    """
    name = name or getattr(fn, "__name__", "your function")
    state = {"fallback": False}

    @functools.wraps(reference)
    def call(*args, **kwargs):
        if not state["fallback"]:
            try:
                return fn(*args, **kwargs)
            except NotImplementedError:
                state["fallback"] = True
                print(f"{name} is not implemented yet: using the package's implementation "
                      f"({reference.__module__}.{reference.__name__})")
        return reference(*args, **kwargs)
    return call


# -------------------------------------------------------------- 00: hypernetworks


def reference_target_forward(net, flat, x):
    """The package's ``forward_with_weights(net, flat, x)`` for one (n,) weight vector."""
    return forward_with_weights(net, flat, x)


def reference_compression_ratio(num_hnet_params: int, num_target_weights: int) -> float:
    """Trainable hypernetwork parameters (with all embeddings) / target weights (method.md §1).

    Raises ValueError unless ``num_hnet_params`` >= 0 and ``num_target_weights`` > 0.
    """
    if isinstance(num_hnet_params, bool) or not isinstance(num_hnet_params, numbers.Real) \
            or not num_hnet_params >= 0:
        raise ValueError(f"num_hnet_params must be a number >= 0 (a count of parameters), "
                         f"got {num_hnet_params!r}")
    if isinstance(num_target_weights, bool) or not isinstance(num_target_weights, numbers.Real) \
            or not num_target_weights > 0:
        raise ValueError(f"num_target_weights must be a number > 0 (the target network's weight "
                         f"count), got {num_target_weights!r}")
    return num_hnet_params / num_target_weights


@_checked("target_forward")
def check_target_forward(fn, seed: int = 0) -> str:
    """``fn(net, flat, x)`` must equal ``forward_with_weights`` in value and gradient."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for hidden, act in (((10, 10), "sigmoid"), ((7,), "relu")):
        net = MLP(in_features=3, hidden=hidden, out_features=2, activation=act)
        n = num_params(net)
        flat = torch.randn(n, generator=gen, requires_grad=True)
        x = torch.randn(5, 3, generator=gen)
        got = _call(fn, net, flat, x)
        want = forward_with_weights(net, flat, x)
        if not isinstance(got, torch.Tensor):
            _fail(f"output for hidden={hidden}: expected a torch.Tensor, got {type(got).__name__}")
        # before the values: an output made with the network's own weights differs in value too
        if not _depends_on(got, flat):
            _fail("the output does not depend on `flat` through autograd: use the weights "
                  "from `flat`, not the network's own parameters")
        worst = max(worst, _compare(got, want, f"output for hidden={hidden}"))
        g_got, = torch.autograd.grad(got.pow(2).sum(), flat)
        g_want, = torch.autograd.grad(want.pow(2).sum(), flat)
        _compare(g_got, g_want, "gradient with respect to flat")
    return f"max |difference| {worst:.1e}"


@_checked("compression_ratio")
def check_compression_ratio(fn) -> str:
    """``fn(num_hnet_params, num_target_weights)`` on a full and a chunked hypernetwork."""
    from hnet_utils.networks.hypernet import compression_ratio, count_parameters
    for chunk in (None, 50):
        target = MLP(in_features=1, hidden=(10, 10), out_features=1, activation="sigmoid")
        h = make_hypernetwork(num_params(target), 2, (10, 10), "sigmoid", chunk_size=chunk,
                              chunk_embedding_dim=2 if chunk else None, num_tasks=3)
        total = count_parameters(h)["total"]
        got = _call(fn, total, num_params(target))
        want = compression_ratio(h, target)
        if not isinstance(got, (int, float)) and not (isinstance(got, torch.Tensor) and got.numel() == 1):
            _fail(f"expected a number, got {type(got).__name__}")
        got, kind = float(got), "chunked" if chunk else "full"
        if math.isclose(got, 1 / want, rel_tol=1e-9):
            _fail("the ratio is upside down: which count goes on top?")
        if got == math.floor(want) != want:
            _fail(f"{kind} hypernetwork: got {got:g}, the whole part of {want:.4g}: integer "
                  "division (//) drops the fraction")
        if not math.isclose(got, want, rel_tol=1e-9):
            _fail(f"{kind} hypernetwork: got {got:.4g}, expected {want:.4g}")
    return "full and chunked hypernetworks"


# ----------------------------------------------------------- 01: the training loop


def reference_adam_delta(optimizer, params):
    """The package's ``adam_lookahead``: the step Adam would take now, without taking it."""
    return adam_lookahead(optimizer, params)


def reference_output_regularizer(h, params, old_embeddings, old_weights, beta):
    """β/(T-1) Σ_t ||h(e_t, params) - old_weights[t]||², task by task (method.md §2).

    ``params``: {name: tensor} for θ_h (+ Δθ); ``old_embeddings`` (T-1, e);
    ``old_weights`` (T-1, n) the snapshot's generated weights. Raises ValueError for a
    negative or non-finite ``beta``, no old task, or embeddings and weights of different
    numbers of old tasks.
    """
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not 0 <= beta < math.inf:
        raise ValueError(f"beta must be a finite number >= 0 (0 switches the regulariser off), "
                         f"got {beta!r}")
    if len(old_embeddings) == 0:
        raise ValueError("old_embeddings must hold at least one old task (the regulariser "
                         "starts with the second task), got none")
    if len(old_embeddings) != len(old_weights):
        raise ValueError(f"old_embeddings and old_weights must have one row per old task, got "
                         f"{len(old_embeddings)} and {len(old_weights)} rows")
    total = 0.0
    for e, w_old in zip(old_embeddings, old_weights):
        w_new = torch.func.functional_call(h, params, (), {"embeddings": e})
        total = total + (w_new - w_old).pow(2).sum()
    return beta / len(old_embeddings) * total


@_checked("adam_delta")
def check_adam_delta(fn, seed: int = 0) -> str:
    """``fn(optimizer, params)`` against ``adam_lookahead`` at the first and a later step."""
    gen = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(4, 3, generator=gen)),
              torch.nn.Parameter(torch.randn(3, generator=gen))]
    opt = torch.optim.Adam(params, lr=0.01, betas=(0.9, 0.999))
    worst = 0.0
    for step in range(3):
        opt.zero_grad()
        loss = sum((p * torch.randn(p.shape, generator=gen)).sum() + p.pow(3).sum() for p in params)
        loss.backward()
        before = [p.detach().clone() for p in params]
        state_before = {k: v.clone() if isinstance(v, torch.Tensor) else v
                        for k, v in opt.state.get(params[0], {}).items()}
        got = _call(fn, opt, params)
        want = adam_lookahead(opt, params)
        if any(not torch.equal(p, b) for p, b in zip(params, before)):
            _fail("your function changed the parameters: compute Δθ, do not take the step")
        after = opt.state.get(params[0], {})
        if set(after) != set(state_before) or any(
                not torch.equal(torch.as_tensor(after[k]), torch.as_tensor(state_before[k]))
                for k in state_before):
            _fail("your function changed the optimiser's state (exp_avg, exp_avg_sq, step): "
                  "the lookahead must not")
        if not isinstance(got, (list, tuple)) or len(got) != len(params):
            _fail(f"expected a list of {len(params)} tensors, one per parameter")
        when = "first step (empty optimiser state)" if step == 0 else f"step {step + 1}"
        for i, (g, w) in enumerate(zip(got, want)):
            # before the values (step 0 too, where Adam's step is -lr * sign(grad))
            if isinstance(g, torch.Tensor) and g.shape == w.shape:
                plain = -opt.param_groups[0]["lr"] * params[i].grad
                if torch.allclose(g.double(), plain.double(), rtol=1e-4):
                    _fail(f"{when}: Δθ is plain gradient descent (-lr * grad); Adam divides "
                          "by the square root of its second-moment estimate")
            worst = max(worst, _compare(g, w, f"{when}, Δ of parameter {i}", rtol=1e-4, atol=1e-7))
        opt.step()
    return f"three steps, max |difference| {worst:.1e}"


def _small_hnet(seed: int, chunked: bool, tasks: int = 4):
    torch.manual_seed(seed)
    h = make_hypernetwork(60, 3, (8,), "sigmoid", chunk_size=25 if chunked else None,
                          chunk_embedding_dim=2 if chunked else None, num_tasks=tasks)
    return h


@_checked("output_regularizer")
def check_output_regularizer(fn, seed: int = 0) -> str:
    """``fn(h, params, old_embeddings, old_weights, beta)`` against ``OutputRegularizer``:
    value and gradient, with and without a lookahead, full and chunked hypernetwork."""
    worst = 0.0
    for chunked in (False, True):
        h = _small_hnet(seed, chunked)
        reg = OutputRegularizer(h, beta=0.3, method="reference")
        reg.snapshot()
        old_e = torch.stack([h.task_embedding(t).detach() for t in range(h.num_tasks)])
        with torch.no_grad():
            old_w = h(embeddings=old_e)  # the snapshot's weights, as the regulariser stored them
            for p in h.theta_parameters():
                p.add_(0.1 * torch.randn_like(p))
        theta = h.theta_parameters()
        delta = [0.01 * torch.randn_like(p) for p in theta]
        kind = "chunked" if chunked else "full"
        for d in (None, delta):
            params = {name: p if d is None else p + dp
                      for (name, p), dp in zip(h.named_theta_parameters(), d or [None] * len(theta))}
            got = _call(fn, h, params, old_e, old_w, 0.3)
            want = reg(delta=d)
            what = f"{kind} hypernetwork, {'with' if d else 'without'} lookahead: value"
            if d is not None and isinstance(got, torch.Tensor) and got.numel() == 1 \
                    and torch.allclose(got.detach(), reg().detach(), rtol=1e-6) \
                    and not torch.allclose(got.detach(), want.detach(), rtol=1e-6):
                _fail(f"{what}: the same as without the lookahead: evaluate the hypernetwork "
                      "at `params` (θ_h + Δθ), not with its own parameters")
            worst = max(worst, _compare(got, want, what, rtol=1e-4))
            if not isinstance(got, torch.Tensor) or not got.requires_grad:
                _fail(f"{what}: the result has no gradient with respect to θ_h (did you "
                      "detach it, or compute it under torch.no_grad()?)")
            g_got = torch.autograd.grad(got, theta, allow_unused=True)
            g_want = torch.autograd.grad(want, theta, allow_unused=True)
            for (name, _), a, b in zip(h.named_theta_parameters(), g_got, g_want):
                if a is None:
                    _fail(f"{kind}: no gradient reaches {name}: every tensor of `params` is "
                          "part of θ_h and must stay differentiable")
                _compare(a, b, f"{kind}: gradient of {name}", rtol=1e-4)
    return f"full and chunked, value and gradient, max |difference| {worst:.1e}"


# ------------------------------------------------------------ 02: the Gram trick


def reference_gram_matrix(z, z_star):
    """G = Σ_i u_i u_iᵀ with u_i = [z_i; 1; -z*_i; -1] (method.md §2.1 step 4): (N, d) x2 -> (2d+2, 2d+2)."""
    ones = torch.ones_like(z[:, :1])
    u = torch.cat([z, ones, -z_star, -ones], dim=1)
    return u.T @ u


def reference_exact_reg_sum(W, b, W_star, b_star, z, z_star):
    """Σ_i ||W z_i + b - W* z*_i - b*||² computed as trace(A G Aᵀ), A = [W | b | W* | b*]."""
    A = torch.cat([W, b[:, None], W_star, b_star[:, None]], dim=1)
    return torch.trace(A @ reference_gram_matrix(z, z_star) @ A.T)


@_checked("gram_matrix")
def check_gram_matrix(fn, seed: int = 0) -> str:
    """``fn(z, z_star)`` against Σ_i u_i u_iᵀ, u_i = [z_i; 1; -z*_i; -1]."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n, d in ((7, 3), (1, 5), (40, 2)):
        z = torch.randn(n, d, generator=gen, dtype=torch.float64)
        z_star = torch.randn(n, d, generator=gen, dtype=torch.float64)
        got = _call(fn, z, z_star)
        want = reference_gram_matrix(z, z_star)
        if isinstance(got, torch.Tensor) and tuple(got.shape) == (n, n):
            _fail(f"shape {(n, n)} (N x N): that is u_i·u_j for pairs of old tasks; G sums "
                  f"outer products u_i u_iᵀ and is (2d+2) x (2d+2) = {tuple(want.shape)}")
        worst = max(worst, _compare(got, want, f"N={n}, d={d}", rtol=1e-10, atol=1e-10))
    return "N = 1, 7, 40 pairs"


@_checked("exact_reg_sum")
def check_exact_reg_sum(fn, seed: int = 0) -> str:
    """``fn(W, b, W_star, b_star, z, z_star)`` against the pair-by-pair sum of squared residuals,
    and on a hypernetwork against ``OutputRegularizer(method="exact")``."""
    gen = torch.Generator().manual_seed(seed)
    worst = 0.0
    for n_pairs, rows, d in ((6, 11, 3), (1, 4, 2)):
        t = lambda *s: torch.randn(*s, generator=gen, dtype=torch.float64)  # noqa: E731
        W, b, W_star, b_star = t(rows, d), t(rows), t(rows, d), t(rows)
        z, z_star = t(n_pairs, d), t(n_pairs, d)
        got = _call(fn, W, b, W_star, b_star, z, z_star)
        want = ((z @ W.T + b) - (z_star @ W_star.T + b_star)).pow(2).sum()
        worst = max(worst, _compare(got, want, f"N={n_pairs} pairs, {rows} rows, d={d}",
                                    rtol=1e-8))
    # on a real (full) hypernetwork after a perturbation, against the package
    h = _small_hnet(seed, chunked=False)
    reg = OutputRegularizer(h, beta=1.0, method="exact")
    reg.snapshot()
    W_star, b_star = h.output.weight.detach().clone(), h.output.bias.detach().clone()
    old_e = torch.stack([h.task_embedding(t).detach() for t in range(h.num_tasks)])
    z_star = h.features(old_e).reshape(-1, h.feature_dim).detach()
    with torch.no_grad():
        for p in h.theta_parameters():
            p.add_(0.1 * torch.randn_like(p))
    z = h.features(old_e).reshape(-1, h.feature_dim)
    got = _call(fn, h.output.weight.double(), h.output.bias.double(), W_star.double(),
                b_star.double(), z.double(), z_star.double())
    want = reg() * h.num_tasks
    worst = max(worst, _compare(got, want, "on a hypernetwork, against OutputRegularizer",
                                rtol=1e-4))
    if not got.requires_grad:
        _fail("the result has no gradient with respect to W, b or z: keep it differentiable")
    return f"max |difference| {worst:.1e}"


# -------------------------------------------------------- 03: task inference


def reference_entropy(logits):
    """The package's ``predictive_entropy``: (..., C) logits -> (...) entropy in nats."""
    return predictive_entropy(logits)


def reference_choose_task(logits_per_task):
    """The package's ``infer_task``: (T, N, C) -> (N,) index of the lowest-entropy task."""
    return infer_task(logits_per_task)


@_checked("entropy")
def check_entropy(fn, seed: int = 0) -> str:
    """``fn(logits)`` against ``predictive_entropy``, including very confident logits."""
    gen = torch.Generator().manual_seed(seed)
    uniform = torch.zeros(2, 5)   # first: the one case with a known answer, log C (in nats)
    _compare(_call(fn, uniform), predictive_entropy(uniform),
             "equal logits (the entropy should be log C, natural logarithm)", rtol=1e-5)
    logits = torch.randn(3, 6, 4, generator=gen)
    worst = _compare(_call(fn, logits), predictive_entropy(logits), "random logits (3, 6, 4)",
                     rtol=1e-4)
    confident = torch.tensor([[200.0, 0.0], [0.0, -300.0]])
    got = _call(fn, confident)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        _fail("very confident logits (e.g. [200, 0]) give nan or inf: softmax then log "
              "underflows to log(0); use log_softmax")
    _compare(got, predictive_entropy(confident), "very confident logits", atol=1e-5)
    return f"random, equal and very confident logits, max |difference| {worst:.1e}"


@_checked("choose_task")
def check_choose_task(fn, seed: int = 0) -> str:
    """``fn(logits_per_task)`` (T, N, C) -> (N,) against ``infer_task``."""
    gen = torch.Generator().manual_seed(seed)
    for t, n, c in ((5, 20, 2), (3, 1, 10)):
        logits = 3 * torch.randn(t, n, c, generator=gen)
        got = _call(fn, logits)
        want = infer_task(logits)
        if not isinstance(got, torch.Tensor):
            _fail(f"expected a tensor, got {type(got).__name__}")
        if tuple(got.shape) != tuple(want.shape):
            _fail(f"T={t}, N={n}, C={c}: shape {tuple(got.shape)}, expected {tuple(want.shape)} "
                  "(one task index per input: which dimension are you reducing?)")
        if got.dtype.is_floating_point:
            _fail("expected integer task indices, got floats")
        if torch.equal(got, predictive_entropy(logits).argmax(0)) and not torch.equal(got, want):
            _fail("you pick the *most* uncertain task; HNET+ENT picks the most confident one")
        if not torch.equal(got.long(), want):
            wrong = int((got.long() != want).sum())
            _fail(f"T={t}, N={n}, C={c}: {wrong} of {n} inputs get a different task")
    return "T = 5 and 3 tasks"


# ------------------------------------------------------------- 04: replay


def reference_vae_loss(x, logits, mu, logvar):
    """The package's ``networks.vae.vae_loss``: BCE with logits (mean over pixels and samples)
    plus KL(N(mu, sigma^2) || N(0, I)) summed over the latent dimensions, averaged over the
    samples and divided by the number of pixels."""
    from hnet_utils.networks.vae import vae_loss
    return vae_loss(x, logits, mu, logvar)


def reference_distillation_loss(student_logits, teacher_logits, temperature):
    """The package's ``continual.replay.distillation_loss``."""
    from hnet_utils.continual.replay import distillation_loss
    return distillation_loss(student_logits, teacher_logits, temperature)


def _one_number(got, what: str) -> None:
    if not isinstance(got, torch.Tensor):
        _fail(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if got.dim() != 0:
        _fail(f"{what}: shape {tuple(got.shape)}, expected a single number (a 0-d tensor): "
              "average over the samples")


def _kl_terms(mu, logvar):
    """-1/2 (1 + log s^2 - mu^2 - s^2) per sample and latent dimension, (B, L)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


@_checked("vae_loss")
def check_vae_loss(fn, seed: int = 0) -> str:
    """``fn(x, logits, mu, logvar)`` against ``vae_loss``: first with mu = log sigma^2 = 0,
    where the KL term is 0 (the reconstruction alone), then on random codes."""
    gen = torch.Generator().manual_seed(seed)
    B, D, L = 6, 20, 3
    x = torch.rand(B, D, generator=gen)
    logits = torch.randn(B, D, generator=gen)
    mu, logvar = torch.randn(B, L, generator=gen), torch.randn(B, L, generator=gen)
    zero = torch.zeros(B, L)
    # 1. the reconstruction alone (the KL of N(0, 1) against N(0, 1) is 0)
    got = _call(fn, x, logits, zero, zero)
    _one_number(got, "the loss")
    rec = F.binary_cross_entropy_with_logits(logits, x)
    if not torch.allclose(got, rec, rtol=1e-4, atol=1e-6):
        if torch.allclose(got, rec * D, rtol=1e-4):
            _fail("with mu = 0 and log sigma^2 = 0 (KL = 0) the reconstruction term is summed over "
                  "the pixels: average it over the pixels as well as over the samples")
        if torch.allclose(got, F.binary_cross_entropy_with_logits(torch.sigmoid(logits), x),
                          rtol=1e-4):
            _fail("the reconstruction term applies a sigmoid before the loss: "
                  "binary_cross_entropy_with_logits takes the decoder's logits as they are")
        _compare(got, rec, "the reconstruction term alone (mu = 0, log sigma^2 = 0, so KL = 0): "
                           "binary cross-entropy with logits, averaged over pixels and samples",
                 rtol=1e-4)
    # 2. the KL term, on random codes
    got = _call(fn, x, logits, mu, logvar)
    _one_number(got, "the loss")
    want = reference_vae_loss(x, logits, mu, logvar)
    if torch.allclose(got, want, rtol=1e-4, atol=1e-6):
        return "reconstruction and KL term"
    kl = got - rec                                   # the learner's KL term
    terms = _kl_terms(mu, logvar)
    mistakes = [  # (what the mistake gives for the KL term, its hint)
        (torch.zeros(()), "the loss does not change with mu and log sigma^2: add the KL term"),
        (terms.sum(1).mean(), "the KL term is not divided by the number of pixels (both terms "
                              "should be 'per pixel')"),
        (terms.mean(1).mean() / D, "the KL term is averaged over the latent dimensions: sum it "
                                   "over them, then average over the samples"),
        (-terms.sum(1).mean() / D, "the KL term has the wrong sign: a KL divergence is >= 0"),
        (terms.sum() / D, "the KL term is summed over the samples: average it over them"),
    ]
    for wrong, hint in mistakes:
        if torch.allclose(kl, wrong, rtol=1e-4, atol=1e-6):
            _fail(hint)
    _fail("the reconstruction part is right; the KL term differs: "
          "-1/2 (1 + log sigma^2 - mu^2 - sigma^2), summed over the latent dimensions, averaged "
          "over the samples, divided by the number of pixels")


@_checked("distillation_loss")
def check_distillation_loss(fn, seed: int = 1) -> str:
    """``fn(student_logits, teacher_logits, temperature)`` against ``distillation_loss``, with a
    student that has more outputs than its teacher (CL3)."""
    gen = torch.Generator().manual_seed(seed)
    student, teacher, T = torch.randn(5, 6, generator=gen), torch.randn(5, 4, generator=gen), 2.0
    got = _call(fn, student, teacher, T)
    _one_number(got, "the loss")
    want = reference_distillation_loss(student, teacher, T)
    if torch.allclose(got, want, rtol=1e-4):
        return "student with 6 outputs, teacher with 4, T = 2"
    target = F.softmax(teacher / T, dim=1)
    log_p = F.log_softmax(student / T, dim=1)[:, :4]
    entropy = -(target * target.log()).sum(1).mean() * T ** 2
    mistakes = [  # (what the mistake computes, its hint)
        (reference_distillation_loss(student[:, :4], teacher, T),
         "take the student's softmax over ALL its outputs (new classes included), then keep the "
         "first M' columns: the new classes get target probability 0"),
        (want / T ** 2, "multiply by the squared temperature (T^2)"),
        (want - entropy, "that is the KL divergence; the loss asked is the cross-entropy "
                         "-sum p_teacher log p_student (they differ by the teacher's entropy)"),
        (-(F.softmax(teacher, 1) * F.log_softmax(student, 1)[:, :4]).sum(1).mean() * T ** 2,
         "divide both logits by the temperature before the (log-)softmax"),
        (-(target * log_p).sum(1).sum() * T ** 2, "average over the samples, do not sum"),
    ]
    for wrong, hint in mistakes:
        if torch.allclose(got, wrong, rtol=1e-4):
            _fail(hint)
    _compare(got, want, "the loss (cross-entropy -sum p_teacher log p_student at temperature T, "
                        "times T^2)", rtol=1e-4)
    return ""


# ---------------------------------------------------------------- 05: Split CIFAR


def reference_task_batch_norm(x, running_mean, running_var, weight, bias, task, training):
    """Batch norm with the statistics of ``task`` (rows of (K, C) buffers), as ``TaskBatchNorm2d``
    (momentum 0.1, eps 1e-5); in training mode that row is updated in place."""
    return F.batch_norm(x, running_mean[task], running_var[task], weight, bias, training, 0.1, 1e-5)


def reference_crop_flip(x, dy, dx, flip, padding):
    """The package's ``data.augment.crop_flip``."""
    from hnet_utils.data.augment import crop_flip
    return crop_flip(x, dy, dx, flip, padding)


@_checked("task_batch_norm")
def check_task_batch_norm(fn, seed: int = 0) -> str:
    """``fn(x, running_mean, running_var, weight, bias, task, training)`` against
    ``TaskBatchNorm2d``: the output in both modes, and which statistics change."""
    from hnet_utils.networks.targets import TaskBatchNorm2d
    gen = torch.Generator().manual_seed(seed)
    K, C = 3, 4
    layer = TaskBatchNorm2d(C, num_tasks=K)
    with torch.no_grad():
        layer.weight.copy_(1 + torch.rand(C, generator=gen))
        layer.bias.copy_(torch.randn(C, generator=gen))
        layer.running_mean.copy_(torch.randn(K, C, generator=gen))
        layer.running_var.copy_(0.5 + torch.rand(K, C, generator=gen))
    x = 2 + 3 * torch.randn(6, C, 5, 5, generator=gen)
    w, b = layer.weight.detach(), layer.bias.detach()
    for training in (False, True):
        stored_mean, stored_var = layer.running_mean.clone(), layer.running_var.clone()
        mean, var = stored_mean.clone(), stored_var.clone()      # what fn gets (and may update)
        layer.task, layer.training = 1, training
        want = layer(x)
        got = _call(fn, x, mean, var, layer.weight, layer.bias, 1, training)
        mode = "training" if training else "evaluation"
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            _compare(got, want, f"output in {mode} mode")      # type or shape: its own message

        def same(alternative):
            return torch.allclose(got, alternative, atol=1e-5)
        if not same(want):  # which known mistake gives this output?
            if not training and same(F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)):
                _fail("in evaluation mode normalise with the stored statistics of the task, "
                      "not with the batch's own mean and variance")
            if not training and any(same(reference_task_batch_norm(
                    x, stored_mean, stored_var, w, b, other, False)) for other in (0, 2)):
                _fail("the output uses the statistics of another task: take row `task` of the "
                      "buffers")
            if training and same(reference_task_batch_norm(x, stored_mean, stored_var, w, b, 1,
                                                           False)):
                _fail("in training mode normalise with the batch's own mean and variance (and "
                      "update the task's running statistics), not with the stored ones")
        _compare(got, want, f"output in {mode} mode", atol=1e-5)
        if training:
            if not torch.allclose(mean[1], layer.running_mean[1], atol=1e-6):
                _fail("in training mode the running mean of the task (row `task`) must be "
                      "updated in place (pass that row of the buffers to F.batch_norm)")
            if not (torch.equal(mean[0], layer.running_mean[0])
                    and torch.equal(mean[2], layer.running_mean[2])):
                _fail("the statistics of the other tasks changed: only row `task` may be updated")
        elif not (torch.equal(mean, layer.running_mean) and torch.equal(var, layer.running_var)):
            _fail("evaluation mode must not change the running statistics")
    return "evaluation and training mode"


@_checked("crop_flip")
def check_crop_flip(fn, seed: int = 0) -> str:
    """``fn(x, dy, dx, flip, padding)`` against ``data.augment.crop_flip``: first the offsets
    that give the images back, then a random batch, where known mistakes get their hint."""
    gen = torch.Generator().manual_seed(seed)
    B, C, H, W, p = 5, 3, 6, 7, 2
    x = torch.randn(B, C, H, W, generator=gen)
    none = torch.zeros(B, dtype=torch.bool)
    # 1. offsets (padding, padding) without flip cut out the original images; a mirrored
    #    answer here is a flip mistake, diagnosed on the random batch below
    same = _call(fn, x, torch.full((B,), p), torch.full((B,), p), none, p)
    if not (isinstance(same, torch.Tensor) and same.shape == x.shape
            and torch.allclose(same, x.flip(-1))):
        _compare(same, x, "offsets (padding, padding) without flip must give the images back "
                          "(offset 0 is the top-left corner of the padded image)")
    # 2. a random batch
    dy = torch.randint(0, 2 * p + 1, (B,), generator=gen)
    dx = torch.randint(0, 2 * p + 1, (B,), generator=gen)
    flip = torch.tensor([True, False, True, False, False])
    want = reference_crop_flip(x, dy, dx, flip, p)
    got = _call(fn, x, dy, dx, flip, p)
    if isinstance(got, torch.Tensor) and got.shape == want.shape and not torch.allclose(got, want):
        mistakes = [  # (what the mistake computes, its hint)
            (reference_crop_flip(x, dx, dy, flip, p),
             "rows and columns are swapped: dy moves the window down, dx to the right"),
            (reference_crop_flip(x, 2 * p - dy, 2 * p - dx, flip, p),
             "the window moves the wrong way: a larger dy moves it down, a larger dx to the right"),
            (reference_crop_flip(x, dy, dx, ~flip, p),
             "the flip is inverted: mirror the images where flip is True"),
            (reference_crop_flip(x, dy, dx, torch.ones_like(flip), p),
             "every image is mirrored: only those with flip True should be"),
            (reference_crop_flip(x, dy, dx, none, p),
             "the crop is right but no image is mirrored: mirror left-right those with flip True"),
            (reference_crop_flip(torch.where(flip.view(B, 1, 1, 1), x.flip(-1), x), dy, dx, none, p),
             "you mirror before cropping: cut out the window first, then mirror it (mirroring "
             "the padded image first moves the window to the other side)"),
        ]
        for wrong, hint in mistakes:
            if torch.allclose(got, wrong):
                _fail(hint)
    _compare(got, want, "augmented batch")
    return f"B={B}, padding={p}"


# ------------------------------------------------------ 06: reading results


def reference_seed_mean_std(results):
    """``(mean, std)`` of the runs' average final accuracy (``result.average_final``) over the
    seeds of ``results`` ({seed: ContinualResult}); std is the sample standard deviation
    (n - 1) and None for a single seed. Raises ``ValueError`` for no results."""
    values = [r.average_final for r in results.values()]
    if not values:
        raise ValueError("results holds no runs")
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def reference_largest_change(reference, variants):
    """``(label, difference)``: the variant of ``variants`` ({label: value}) whose value differs
    most from ``reference`` in either direction, and its difference ``value - reference``."""
    if not variants:
        raise ValueError("variants holds no values")
    label = max(variants, key=lambda k: abs(variants[k] - reference))
    return label, variants[label] - reference


def _fake_results(finals: dict[int, list[float]]):
    """{seed: ContinualResult} whose last rows are ``finals`` (the 'during' values differ)."""
    from hnet_utils.experiments.results import ContinualResult
    out = {}
    for seed, final in finals.items():
        k = len(final)
        matrix = [[(final[j] + 3.0 * (i + 1) if j < i else final[j] + 1.5) if j <= i else None
                   for j in range(k)] for i in range(k - 1)] + [list(final)]
        out[seed] = ContinualResult(config={"seed": seed}, metric="accuracy", matrix=matrix,
                                    wall_time_s=1.0, device="cpu")
    return out


def _pair(got, what: str):
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        _fail(f"return two things, {what}; got {type(got).__name__}"
              + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
    return got


@_checked("seed_mean_std")
def check_seed_mean_std(fn) -> str:
    """``fn(results)`` against :func:`reference_seed_mean_std` on made-up results of three seeds
    (last task, 'during' and average final all differ) and of a single seed."""
    results = _fake_results({0: [90.0, 70.0, 95.0], 1: [80.0, 60.0, 97.0], 2: [88.0, 50.0, 96.0]})
    try:
        got = _call(fn, results)
    except AttributeError as err:
        _fail(f"{err}: `results` maps seed -> result; take the results with results.values()")
    mean, std = _pair(got, "(mean, std)")
    want_mean, want_std = reference_seed_mean_std(results)
    values = [r.average_final for r in results.values()]
    for name, pick in (("the last task's final accuracy (result.final[-1])", lambda r: r.final[-1]),
                       ("the 'during' accuracy (result.during)", lambda r: statistics.mean(r.during))):
        if _close(mean, statistics.mean(pick(r) for r in results.values())):
            _fail(f"your mean is the mean of {name}; use each run's average final accuracy over "
                  "all its tasks (result.average_final)")
    if not _close(mean, want_mean):
        _fail(f"the mean differs ({_num(mean)}): the mean of the runs' average final accuracy")
    if _close(std, statistics.pstdev(values)):
        _fail("your std divides by n (the population std); the sample standard deviation over "
              "seeds divides by n - 1 (statistics.stdev)")
    if _close(std, want_std / math.sqrt(len(values))):
        _fail("that is the standard error of the mean (std / sqrt(n)), the paper's spread; asked "
              "is the standard deviation")
    if _close(std, want_std ** 2):
        _fail("that is the variance; the standard deviation is its square root")
    if not _close(std, want_std):
        _fail(f"the standard deviation differs ({_num(std)}): the sample std of the same values")
    one = {0: results[0]}
    try:
        got = _call(fn, one)
    except (statistics.StatisticsError, ZeroDivisionError):
        _fail("one seed: there is no standard deviation of a single value; return None for it "
              "(and the value as the mean)")
    mean, std = _pair(got, "(mean, std)")
    if std is not None:
        _fail(f"one seed: std should be None (a single value has no spread), got {std!r}")
    if not _close(mean, results[0].average_final):
        _fail("one seed: the mean of a single run is its average final accuracy")
    return "three seeds and one seed"


def _close(got, want: float) -> bool:
    return isinstance(got, numbers.Real) and math.isclose(float(got), want, rel_tol=1e-6, abs_tol=1e-9)


def _num(value) -> str:
    return f"{float(value):.4g}" if isinstance(value, numbers.Real) else repr(value)


@_checked("largest_change")
def check_largest_change(fn) -> str:
    """``fn(reference, variants)`` against :func:`reference_largest_change` on two made-up
    comparisons: one where the largest change lowers the number, one where it raises it."""
    cases = [(67.0, {"heads": 69.0, "init": 57.0, "data": 66.0, "width": 64.0}),
             (60.0, {"steps": 70.0, "width": 55.0, "seed": 61.0})]
    for reference, variants in cases:
        label, difference = _pair(_call(fn, reference, dict(variants)), "(label, difference)")
        want_label, want_diff = reference_largest_change(reference, variants)
        if label not in variants:
            _fail(f"the label {label!r} is not one of the variants {list(variants)}")
        if label != want_label:
            if label == max(variants, key=variants.get):
                _fail("you pick the variant with the highest value; asked is the one that moved "
                      "the number most, up or down (the largest |value - reference|)")
            if label == min(variants, key=variants.get):
                _fail("you pick the variant with the lowest value; asked is the one that moved "
                      "the number most, up or down (the largest |value - reference|)")
            if label == min(variants, key=lambda k: abs(variants[k] - reference)):
                _fail("you pick the smallest change; asked is the largest")
            _fail(f"{label!r} is not the variant that moved the number most")
        if _close(difference, -want_diff):
            _fail("right variant, wrong sign: the difference is value - reference, negative when "
                  "the variant is lower (keep the sign, not the absolute value)")
        if not _close(difference, want_diff):
            _fail(f"right variant; the difference should be value - reference, in the same units "
                  f"(got {_num(difference)})")
    return "a change down and a change up"


#: (exercise function name, check, reference) per notebook, for tests and docs.
EXERCISES = {
    "00": [("target_forward", check_target_forward, reference_target_forward),
           ("compression_ratio", check_compression_ratio, reference_compression_ratio)],
    "01": [("adam_delta", check_adam_delta, reference_adam_delta),
           ("output_regularizer", check_output_regularizer, reference_output_regularizer)],
    "02": [("gram_matrix", check_gram_matrix, reference_gram_matrix),
           ("exact_reg_sum", check_exact_reg_sum, reference_exact_reg_sum)],
    "03": [("entropy", check_entropy, reference_entropy),
           ("choose_task", check_choose_task, reference_choose_task)],
    "04": [("vae_loss", check_vae_loss, reference_vae_loss),
           ("distillation_loss", check_distillation_loss, reference_distillation_loss)],
    "05": [("task_batch_norm", check_task_batch_norm, reference_task_batch_norm),
           ("crop_flip", check_crop_flip, reference_crop_flip)],
    "06": [("seed_mean_std", check_seed_mean_std, reference_seed_mean_std),
           ("largest_change", check_largest_change, reference_largest_change)],
}
