"""Every hint of the exercise checks (hnet_utils/checks.py) can be reached.

One typical wrong solution per hint: the check must fail with exactly that hint, not with
another one that happens to be tested first. The argument checks of the ``reference_*``
functions (issue 31) are at the end.
"""

import math
import statistics

import pytest
import torch
import torch.nn.functional as F

from hnet_utils import checks
from hnet_utils.checks import CheckFailed


def hint_of(check, wrong) -> str:
    """The message ``check`` fails ``wrong`` with (the test fails if it passes)."""
    with pytest.raises(CheckFailed) as failed:
        check(wrong)
    return str(failed.value)


# ------------------------------------------------------------ 00: target_forward


def forward_with(net, weights, x):
    return torch.func.functional_call(net, weights, (x,))


def split(net, flat, view):
    """flat -> {name: tensor} in net.named_parameters() order, each slice shaped by ``view``."""
    out, start = {}, 0
    for name, p in net.named_parameters():
        out[name] = view(flat[start:start + p.numel()], p.shape)
        start += p.numel()
    return out


def tf_own_weights(net, flat, x):                     # ignores flat
    return net(x)


def tf_flat_data(net, flat, x):                       # .data cuts the graph
    return forward_with(net, split(net, flat.data, lambda v, s: v.view(s)), x)


def tf_transposed_output(net, flat, x):
    return checks.reference_target_forward(net, flat, x).T


def tf_numpy(net, flat, x):
    return checks.reference_target_forward(net, flat, x).detach().numpy()


def tf_column_major(net, flat, x):                    # reads each matrix in the wrong order
    return forward_with(net, split(net, flat, lambda v, s: v.view(s[1], s[0]).T if len(s) == 2
                                             else v.view(s)), x)


def tf_copied_value(net, flat, x):                    # right value, connected to flat only formally
    return checks.reference_target_forward(net, flat, x).detach() + 0 * flat.sum()


@pytest.mark.parametrize("wrong, hint", [
    (tf_own_weights, "does not depend on `flat` through autograd"),
    (tf_flat_data, "does not depend on `flat` through autograd"),
    (tf_transposed_output, "shape (2, 5), expected (5, 2)"),
    (tf_numpy, "expected a torch.Tensor, got ndarray"),
    (tf_column_major, "output for hidden=(10, 10): values differ"),
    (tf_copied_value, "gradient with respect to flat: all zeros"),
])
def test_target_forward_hints(wrong, hint):
    assert hint in hint_of(checks.check_target_forward, wrong)


# --------------------------------------------------------- 00: compression_ratio


@pytest.mark.parametrize("wrong, hint", [
    (lambda h, n: n / h, "upside down"),
    (lambda h, n: h // n, "integer division"),
    (lambda h, n: f"{h / n:.2f}", "expected a number, got str"),
    (lambda h, n: round(h / n, 2), "full hypernetwork: got"),
])
def test_compression_ratio_hints(wrong, hint):
    assert hint in hint_of(checks.check_compression_ratio, wrong)


# ---------------------------------------------------------------- 01: adam_delta


def adam_zero(opt, params):
    return [torch.zeros_like(p) for p in params]


def adam_sign(opt, params):
    return [-d for d in checks.reference_adam_delta(opt, params)]


def adam_sgd(opt, params):                            # forgets Adam's scaling
    return [-opt.param_groups[0]["lr"] * p.grad for p in params]


def adam_takes_step(opt, params):
    d = checks.reference_adam_delta(opt, params)
    opt.step()
    return d


def adam_in_place(opt, params):                       # updates the moments as Adam.step does
    group = opt.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    out = []
    for p in params:
        state = opt.state[p]
        if not state:
            state.update(step=torch.tensor(0.0), exp_avg=torch.zeros_like(p),
                         exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        state["exp_avg"].mul_(b1).add_(p.grad, alpha=1 - b1)
        state["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
        k = float(state["step"])
        m, v = state["exp_avg"] / (1 - b1 ** k), state["exp_avg_sq"] / (1 - b2 ** k)
        out.append(-lr * m / (v.sqrt() + eps))
    return out


def adam_one_tensor(opt, params):
    return torch.cat([d.flatten() for d in checks.reference_adam_delta(opt, params)])


def adam_no_bias_correction(opt, params):
    group = opt.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    out = []
    for p in params:
        state = opt.state.get(p, {})
        m = (1 - b1) * p.grad + (b1 * state["exp_avg"] if state else 0)
        v = (1 - b2) * p.grad ** 2 + (b2 * state["exp_avg_sq"] if state else 0)
        out.append(-lr * m / (v.sqrt() + eps))
    return out


@pytest.mark.parametrize("wrong, hint", [
    (adam_zero, "first step (empty optimiser state), Δ of parameter 0: all zeros"),
    (adam_sign, "wrong sign"),
    (adam_sgd, "plain gradient descent"),
    (adam_takes_step, "changed the parameters"),
    (adam_in_place, "changed the optimiser's state"),
    (adam_one_tensor, "expected a list of 2 tensors"),
    (adam_no_bias_correction, "proportional to the expected value"),
])
def test_adam_delta_hints(wrong, hint):
    assert hint in hint_of(checks.check_adam_delta, wrong)


# -------------------------------------------------------- 01: output_regularizer


def reg_no_mean(h, params, e, w, beta):               # forgets 1/(T-1)
    return checks.reference_output_regularizer(h, params, e, w, beta) * len(e)


def reg_ignores_lookahead(h, params, e, w, beta):
    own = {name: p for name, p in h.named_theta_parameters()}
    return checks.reference_output_regularizer(h, own, e, w, beta)


def reg_detached(h, params, e, w, beta):
    return checks.reference_output_regularizer(h, params, e, w, beta).detach()


def reg_frozen_chunk_embeddings(h, params, e, w, beta):   # treats chunk embeddings as constants
    params = {k: v.detach() if k == "chunk_embeddings" else v for k, v in params.items()}
    return checks.reference_output_regularizer(h, params, e, w, beta)


def reg_half_gradient(h, params, e, w, beta):         # right value, half the gradient
    value = checks.reference_output_regularizer(h, params, e, w, beta)
    return value.detach() + 0.5 * (value - value.detach())


def reg_float(h, params, e, w, beta):
    return checks.reference_output_regularizer(h, params, e, w, beta).item()


@pytest.mark.parametrize("wrong, hint", [
    (reg_no_mean, "proportional to the expected value but 4 times it"),
    (reg_ignores_lookahead, "with lookahead: value: the same as without the lookahead"),
    (reg_detached, "no gradient with respect to θ_h"),
    (reg_frozen_chunk_embeddings, "chunked: no gradient reaches chunk_embeddings"),
    (reg_half_gradient, "full: gradient of hidden.0.weight: proportional"),
    (reg_float, "expected a torch.Tensor, got float"),
])
def test_output_regularizer_hints(wrong, hint):
    assert hint in hint_of(checks.check_output_regularizer, wrong)


# ------------------------------------------------------- 02: gram_matrix, exact_reg_sum


def u_vectors(z, zs, sign=-1.0):
    ones = torch.ones_like(z[:, :1])
    return torch.cat([z, ones, sign * zs, sign * ones], 1)


@pytest.mark.parametrize("wrong, hint", [
    (lambda z, zs: u_vectors(z, zs) @ u_vectors(z, zs).T, "that is u_i·u_j for pairs of old tasks"),
    (lambda z, zs: u_vectors(z, zs, sign=1.0).T @ u_vectors(z, zs, sign=1.0),
     "N=7, d=3: values differ"),
    (lambda z, zs: u_vectors(z, zs).T @ u_vectors(z, zs) / len(z), "proportional"),
])
def test_gram_matrix_hints(wrong, hint):
    assert hint in hint_of(checks.check_gram_matrix, wrong)


def exact_signs(W, b, Ws, bs, z, zs):                 # -W* with u's -z*: the signs cancel
    A = torch.cat([W, b[:, None], -Ws, -bs[:, None]], 1)
    return torch.trace(A @ checks.reference_gram_matrix(z, zs) @ A.T)


def exact_detached(W, b, Ws, bs, z, zs):
    return checks.reference_exact_reg_sum(W, b, Ws, bs, z, zs).detach()


@pytest.mark.parametrize("wrong, hint", [
    (exact_signs, "N=6 pairs, 11 rows, d=3: values differ"),
    (exact_detached, "no gradient with respect to W, b or z"),
])
def test_exact_reg_sum_hints(wrong, hint):
    assert hint in hint_of(checks.check_exact_reg_sum, wrong)


# ---------------------------------------------------------- 03: entropy, choose_task


def entropy_naive(logits):                            # softmax, then log: log(0) for confident logits
    p = logits.softmax(-1)
    return -(p * p.log()).sum(-1)


def entropy_bits(logits):
    return checks.reference_entropy(logits) / math.log(2)


@pytest.mark.parametrize("wrong, hint", [
    (entropy_naive, "use log_softmax"),
    (lambda logits: -checks.reference_entropy(logits), "wrong sign"),
    (entropy_bits, "equal logits (the entropy should be log C, natural logarithm): proportional"),
    (lambda logits: checks.reference_entropy(logits).numpy(), "expected a torch.Tensor"),
    (lambda logits: checks.reference_entropy(logits).sum(), "shape ()"),
])
def test_entropy_hints(wrong, hint):
    assert hint in hint_of(checks.check_entropy, wrong)


@pytest.mark.parametrize("wrong, hint", [
    (lambda logits: checks.reference_entropy(logits).argmax(0), "the *most* uncertain task"),
    (lambda logits: checks.reference_entropy(logits).argmin(1), "which dimension are you reducing"),
    (lambda logits: checks.reference_entropy(logits).argmin(0).float(), "integer task indices"),
    (lambda logits: checks.reference_entropy(logits).argmin(0).tolist(), "expected a tensor, got list"),
    (lambda logits: logits.max(-1).values.argmax(0), "inputs get a different task"),
])
def test_choose_task_hints(wrong, hint):
    assert hint in hint_of(checks.check_choose_task, wrong)


# ------------------------------------------------- 04: vae_loss, distillation_loss


def kl_of(mu, logvar):                                 # (B, L) terms of the KL divergence
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def bce(x, logits):
    return F.binary_cross_entropy_with_logits(logits, x)


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, lg, mu, lv: F.binary_cross_entropy_with_logits(lg, x, reduction="none").mean(1)
     + kl_of(mu, lv).sum(1) / x.shape[1], "expected a single number"),              # no batch mean
    (lambda x, lg, mu, lv: F.binary_cross_entropy_with_logits(lg, x, reduction="sum") / len(x)
     + kl_of(mu, lv).sum(1).mean() / x.shape[1], "summed over the pixels"),
    (lambda x, lg, mu, lv: bce(x, torch.sigmoid(lg)) + kl_of(mu, lv).sum(1).mean() / x.shape[1],
     "applies a sigmoid before the loss"),
    (lambda x, lg, mu, lv: F.mse_loss(torch.sigmoid(lg), x) + kl_of(mu, lv).sum(1).mean() / x.shape[1],
     "the reconstruction term alone"),
    (lambda x, lg, mu, lv: bce(x, lg), "add the KL term"),
    (lambda x, lg, mu, lv: bce(x, lg) + kl_of(mu, lv).sum(1).mean(),
     "not divided by the number of pixels"),
    (lambda x, lg, mu, lv: bce(x, lg) + kl_of(mu, lv).mean() / x.shape[1], "averaged over the latent"),
    (lambda x, lg, mu, lv: bce(x, lg) - kl_of(mu, lv).sum(1).mean() / x.shape[1], "wrong sign"),
    (lambda x, lg, mu, lv: bce(x, lg) + kl_of(mu, lv).sum() / x.shape[1], "summed over the samples"),
    (lambda x, lg, mu, lv: bce(x, lg) + kl_of(mu, 2 * lv).sum(1).mean() / x.shape[1],
     "the reconstruction part is right; the KL term differs"),                    # log s for log s^2
])
def test_vae_loss_hints(wrong, hint):
    assert hint in hint_of(checks.check_vae_loss, wrong)


def distill(student, teacher, T, reduce=lambda v: v.mean()):
    target = F.softmax(teacher / T, dim=1)
    log_p = F.log_softmax(student / T, dim=1)[:, :teacher.shape[1]]
    return reduce(-(target * log_p).sum(dim=1)) * T ** 2


def distill_kl(student, teacher, T):                  # F.kl_div: cross-entropy minus entropy
    log_p = F.log_softmax(student / T, dim=1)[:, :teacher.shape[1]]
    return F.kl_div(log_p, F.softmax(teacher / T, dim=1), reduction="batchmean") * T ** 2


@pytest.mark.parametrize("wrong, hint", [
    (lambda s, t, T: distill(s, t, T, reduce=lambda v: v), "expected a single number"),
    (lambda s, t, T: distill(s[:, :t.shape[1]], t, T), "student's softmax over ALL its outputs"),
    (lambda s, t, T: distill(s, t, T) / T ** 2, "multiply by the squared temperature"),
    (distill_kl, "that is the KL divergence"),
    (lambda s, t, T: distill(s * T, t * T, T), "divide both logits by the temperature"),
    (lambda s, t, T: distill(s, t, T, reduce=lambda v: v.sum()), "average over the samples"),
    (lambda s, t, T: F.mse_loss(s[:, :t.shape[1]], t), "the loss (cross-entropy"),
])
def test_distillation_loss_hints(wrong, hint):
    assert hint in hint_of(checks.check_distillation_loss, wrong)


# --------------------------------------------------- 05: task_batch_norm, crop_flip


def bn_batch_statistics(x, rm, rv, w, b, task, training):     # never uses the buffers
    return F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)


def bn_first_task(x, rm, rv, w, b, task, training):
    return F.batch_norm(x, rm[0], rv[0], w, b, training, 0.1, 1e-5)


def bn_always_stored(x, rm, rv, w, b, task, training):        # ignores `training`
    return F.batch_norm(x, rm[task], rv[task], w, b, False, 0.1, 1e-5)


def bn_copies(x, rm, rv, w, b, task, training):               # updates a copy
    return F.batch_norm(x, rm[task].clone(), rv[task].clone(), w, b, training, 0.1, 1e-5)


def bn_every_row(x, rm, rv, w, b, task, training):            # updates every task's statistics
    outs = [F.batch_norm(x, rm[k], rv[k], w, b, training, 0.1, 1e-5) for k in range(len(rm))]
    return outs[task]


def bn_updates_in_evaluation(x, rm, rv, w, b, task, training):
    out = F.batch_norm(x, rm[task], rv[task], w, b, training, 0.1, 1e-5)
    if not training:                                          # "keep the statistics current"
        F.batch_norm(x, rm[task], rv[task], None, None, True, 0.1, 1e-5)
    return out


@pytest.mark.parametrize("wrong, hint", [
    (bn_batch_statistics, "not with the batch's own mean and variance"),
    (bn_first_task, "the statistics of another task"),
    (bn_always_stored, "in training mode normalise with the batch's own mean and variance"),
    (bn_copies, "must be updated in place"),
    (bn_every_row, "the statistics of the other tasks changed"),
    (bn_updates_in_evaluation, "evaluation mode must not change the running statistics"),
    (lambda *args: checks.reference_task_batch_norm(*args)[:, :2], "shape (6, 2, 5, 5)"),
])
def test_task_batch_norm_hints(wrong, hint):
    assert hint in hint_of(checks.check_task_batch_norm, wrong)


def cf_ref(x, dy, dx, flip, padding):
    return checks.reference_crop_flip(x, dy, dx, flip, padding)


def cf_centred(x, dy, dx, flip, padding):             # offsets counted from the centre
    padded = F.pad(x, (padding,) * 4)
    H, W = x.shape[-2:]
    out = []
    for i in range(len(x)):
        r, c = padding + int(dy[i]), padding + int(dx[i])
        img = padded[i, :, r:r + H, c:c + W]
        out.append(img.flip(-1) if flip[i] else img)
    return torch.stack(out)


def cf_mirror_before_crop(x, dy, dx, flip, padding):
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    return cf_ref(x, dy, dx, torch.zeros_like(flip), padding)


def cf_reflect_padding(x, dy, dx, flip, padding):     # pads by reflection, not with zeros
    padded = F.pad(x, (padding,) * 4, mode="reflect")
    H, W = x.shape[-2:]
    out = []
    for i in range(len(x)):
        img = padded[i, :, int(dy[i]):int(dy[i]) + H, int(dx[i]):int(dx[i]) + W]
        out.append(img.flip(-1) if flip[i] else img)
    return torch.stack(out)


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, dy, dx, f, p: cf_ref(x, dx, dy, f, p), "rows and columns are swapped"),
    (lambda x, dy, dx, f, p: cf_ref(x, 2 * p - dy, 2 * p - dx, f, p), "moves the wrong way"),
    (lambda x, dy, dx, f, p: cf_ref(x, dy, dx, ~f, p), "the flip is inverted"),
    (lambda x, dy, dx, f, p: cf_ref(x, dy, dx, torch.ones_like(f), p), "every image is mirrored"),
    (lambda x, dy, dx, f, p: cf_ref(x, dy, dx, torch.zeros_like(f), p), "no image is mirrored"),
    (cf_mirror_before_crop, "you mirror before cropping"),
    (cf_centred, "offsets (padding, padding) without flip must give the images back"),
    (cf_reflect_padding, "augmented batch: values differ"),
])
def test_crop_flip_hints(wrong, hint):
    assert hint in hint_of(checks.check_crop_flip, wrong)


# --------------------------------------------------- 06: seed_mean_std, largest_change


def average_finals(results):
    return [r.average_final for r in results.values()]


def msd_stdev(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def mean_and(spread):
    """(mean of the average finals, spread(average finals)): a right mean with another spread."""
    return lambda results: (statistics.mean(average_finals(results)), spread(average_finals(results)))


@pytest.mark.parametrize("wrong, hint", [
    (lambda results: statistics.mean(average_finals(results)), "return two things"),
    (lambda results: msd_stdev([r.average_final for r in results]),
     "take the results with results.values()"),
    (lambda results: msd_stdev([r.final[-1] for r in results.values()]),
     "the last task's final accuracy"),
    (lambda results: msd_stdev([statistics.mean(r.during) for r in results.values()]),
     "the 'during' accuracy"),
    (lambda results: msd_stdev([min(r.final) for r in results.values()]), "the mean differs"),
    (mean_and(statistics.pstdev), "divides by n (the population std)"),
    (mean_and(lambda v: statistics.stdev(v) / len(v) ** 0.5), "standard error of the mean"),
    (mean_and(statistics.variance), "that is the variance"),
    (mean_and(lambda v: 2.0), "the standard deviation differs"),
    (mean_and(statistics.stdev), "there is no standard deviation of a single value"),  # raises for one
    (mean_and(lambda v: statistics.pstdev(v) if len(v) == 1 else statistics.stdev(v)),
     "std should be None"),
])
def test_seed_mean_std_hints(wrong, hint):
    assert hint in hint_of(checks.check_seed_mean_std, wrong)


def largest_by(key):
    def pick(reference, variants):
        label = key(reference, variants)
        return label, variants[label] - reference
    return pick


@pytest.mark.parametrize("wrong, hint", [
    (lambda reference, variants: max(variants, key=lambda k: abs(variants[k] - reference)),
     "return two things"),
    (largest_by(lambda ref, v: max(v, key=v.get)), "the variant with the highest value"),
    (largest_by(lambda ref, v: min(v, key=v.get)), "the variant with the lowest value"),
    (largest_by(lambda ref, v: min(v, key=lambda k: abs(v[k] - ref))), "you pick the smallest change"),
    (largest_by(lambda ref, v: list(v)[-1]), "is not the variant that moved the number most"),
    (lambda reference, variants: ("all", 0.0), "is not one of the variants"),
    (lambda reference, variants: (lambda k: (k, reference - variants[k]))(
        max(variants, key=lambda k: abs(variants[k] - reference))), "wrong sign"),
    (lambda reference, variants: (lambda k: (k, (variants[k] - reference) / reference))(
        max(variants, key=lambda k: abs(variants[k] - reference))), "in the same units"),
])
def test_largest_change_hints(wrong, hint):
    assert hint in hint_of(checks.check_largest_change, wrong)


# ----------------------------------------------------- the comparison behind the checks


def test_compare_reports_nan_before_the_values():
    with pytest.raises(CheckFailed, match="contains nan or inf"):
        checks._compare(torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 2.0]), "x")


# ------------------------------------------------ arguments of the references (issue 31)


def test_compression_ratio_reference_rejects_bad_counts():
    assert checks.reference_compression_ratio(10, 4) == 2.5
    with pytest.raises(ValueError, match="num_target_weights must be a number > 0.*got 0"):
        checks.reference_compression_ratio(10, 0)
    with pytest.raises(ValueError, match="num_target_weights must be a number > 0"):
        checks.reference_compression_ratio(10, -5)
    with pytest.raises(ValueError, match="num_hnet_params must be a number >= 0.*got -1"):
        checks.reference_compression_ratio(-1, 10)
    with pytest.raises(ValueError, match="num_hnet_params"):
        checks.reference_compression_ratio("10", 10)


def regulariser_inputs():
    h = checks._small_hnet(0, chunked=False, tasks=3)
    e = torch.stack([h.task_embedding(t).detach() for t in range(2)])
    with torch.no_grad():
        w = h(embeddings=e)
    return h, dict(h.named_theta_parameters()), e, w


def test_output_regularizer_reference_rejects_bad_arguments():
    h, params, e, w = regulariser_inputs()
    assert float(checks.reference_output_regularizer(h, params, e, w, 0.0).detach()) == 0.0
    for beta in (-1, -1e-3, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=r"beta must be a finite number >= 0.*got"):
            checks.reference_output_regularizer(h, params, e, w, beta)
    with pytest.raises(ValueError, match="at least one old task"):
        checks.reference_output_regularizer(h, params, e[:0], w[:0], 0.1)
    with pytest.raises(ValueError, match="one row per old task, got 2 and 1"):
        checks.reference_output_regularizer(h, params, e, w[:1], 0.1)
