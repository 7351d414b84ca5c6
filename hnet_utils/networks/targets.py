"""Target networks whose weights come from outside (from a hypernetwork).

A target network here is an ordinary ``torch.nn.Module`` with ordinary
parameters: you can train it directly (the EWC/SI baselines do). To run it
with weights produced by a hypernetwork, :func:`forward_with_weights` takes one
flat vector of all its weights, cuts it into the module's parameter shapes and
evaluates the module with ``torch.func.functional_call`` -- no hand-written
functional layers. The parameter order is ``net.named_parameters()`` order.

Three targets are provided:

* :class:`MLP` -- fully connected net, configurable widths and activation.
* :class:`ZenkeNet` -- the conv net of Zenke et al. (2017) for CIFAR.
* :class:`ResNet32` -- the CIFAR ResNet of He et al. (2016) with batch-norm
  running statistics kept separately per task.

Every target takes ``forward(x, head=None)``. With ``num_heads > 1`` the output
layer has ``num_heads * out_features`` units and ``head`` picks one slice
(multi-head baselines in CL1); ``head=None`` returns all heads side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: Activation names accepted by the targets and the hypernetworks.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]()


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_widths(hidden, name: str = "hidden") -> tuple[int, ...]:
    if isinstance(hidden, int) or not isinstance(hidden, Sequence):
        raise ValueError(f"{name} must be a sequence of positive integers, got {hidden!r}")
    for width in hidden:
        if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
            raise ValueError(f"{name} must contain positive integers only, got {hidden!r}")
    return tuple(hidden)


class _MultiHead(nn.Module):
    """What every target offers: heads (one output layer with ``num_heads * out_features``
    units) and :meth:`use_task_bn`, which only targets with per-task batch-norm
    statistics (``has_task_bn``) act on."""

    #: True when the net keeps batch-norm statistics per task (then it cannot be vmapped over tasks).
    has_task_bn = False

    def use_task_bn(self, task: int) -> None:
        """Select the batch-norm statistics of ``task``; nothing to select here."""

    def _init_heads(self, out_features: int, num_heads: int) -> None:
        self.out_features = _check_positive_int(out_features, "out_features")
        self.num_heads = _check_positive_int(num_heads, "num_heads")

    def _select_head(self, y: torch.Tensor, head: int | None) -> torch.Tensor:
        """``y``: (B, num_heads * out_features) -> (B, out_features) for one head."""
        if head is None:
            return y
        if isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < self.num_heads:
            raise ValueError(f"head must be an int in [0, {self.num_heads}) or None, got {head!r}")
        return y[:, head * self.out_features:(head + 1) * self.out_features]


class MLP(_MultiHead):
    """Fully connected network ``in_features -> hidden... -> out_features (x num_heads)``.

    Args:
        in_features: input size; inputs of shape (B, *dims) are flattened to
            (B, prod(dims)), which must equal ``in_features``.
        hidden: widths of the hidden layers, e.g. ``(1000, 1000)``; ``()`` for
            a linear model.
        out_features: outputs per head.
        activation: one of :data:`ACTIVATIONS`, applied after every hidden layer.
        num_heads: number of output heads.

    Parameters, in order: ``layers.0.weight``, ``layers.0.bias``, ...,
    ``out.weight``, ``out.bias`` (standard ``nn.Linear`` initialisation).
    """

    def __init__(self, in_features: int, hidden: Sequence[int] = (), out_features: int = 1,
                 activation: str = "relu", num_heads: int = 1):
        super().__init__()
        self.in_features = _check_positive_int(in_features, "in_features")
        self.hidden = _check_widths(hidden)
        self._init_heads(out_features, num_heads)
        self.act = make_activation(activation)
        widths = (in_features, *self.hidden)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.out = nn.Linear(widths[-1], out_features * num_heads)

    def forward(self, x: torch.Tensor, head: int | None = None) -> torch.Tensor:
        """x: (B, in_features) or (B, *dims) -> (B, out_features) (all heads if ``head`` is None)."""
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"x must have {self.in_features} features per sample, "
                             f"got {x.shape[1]}")
        for layer in self.layers:
            x = self.act(layer(x))
        return self._select_head(self.out(x), head)


class ZenkeNet(_MultiHead):
    """The CIFAR conv net of Zenke et al. (2017), as used in the hypernetwork paper.

    Two conv blocks (3x3 'same' conv, 3x3 'valid' conv, ReLU, 2x2 max-pool,
    dropout) with 32 and 64 channels, then a 512-unit fully connected layer
    (ReLU, dropout at twice the rate) and the output layer.
    Input: (B, in_channels, 32, 32).
    """

    def __init__(self, in_channels: int = 3, out_features: int = 10, num_heads: int = 1,
                 dropout: float = 0.25):
        super().__init__()
        _check_positive_int(in_channels, "in_channels")
        self._init_heads(out_features, num_heads)
        if not 0.0 <= dropout <= 0.5:
            raise ValueError(f"dropout must be in [0, 0.5] (the FC layer uses twice it), "
                             f"got {dropout!r}")
        self.conv1 = nn.Conv2d(in_channels, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3)
        self.fc = nn.Linear(64 * 6 * 6, 512)
        self.out = nn.Linear(512, out_features * num_heads)
        self.drop_conv = nn.Dropout(dropout)
        self.drop_fc = nn.Dropout(2 * dropout)

    def forward(self, x: torch.Tensor, head: int | None = None) -> torch.Tensor:
        """x: (B, C, 32, 32) -> (B, out_features), or all heads if ``head`` is None."""
        if x.dim() != 4 or x.shape[-2:] != (32, 32):
            raise ValueError(f"x must have shape (B, C, 32, 32), got {tuple(x.shape)}")
        x = self.drop_conv(F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2))  # 15x15
        x = self.drop_conv(F.max_pool2d(F.relu(self.conv4(F.relu(self.conv3(x)))), 2))  # 6x6
        x = self.drop_fc(F.relu(self.fc(x.flatten(1))))
        return self._select_head(self.out(x), head)


class TaskBatchNorm2d(nn.Module):
    """BatchNorm2d whose running mean/variance are kept separately for each task.

    The affine ``weight``/``bias`` are ordinary parameters (so a hypernetwork
    generates them); the statistics are buffers of shape (num_tasks, C), and
    row ``self.task`` is used and updated.
    """

    def __init__(self, num_features: int, num_tasks: int = 1, momentum: float = 0.1,
                 eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_tasks, num_features))
        self.register_buffer("running_var", torch.ones(num_tasks, num_features))
        self.momentum, self.eps, self.task = momentum, eps, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H, W); in training mode updates this task's statistics."""
        return F.batch_norm(x, self.running_mean[self.task], self.running_var[self.task],
                            self.weight, self.bias, self.training, self.momentum, self.eps)


class _BasicBlock(nn.Module):
    """conv-BN-ReLU-conv-BN plus identity shortcut (zero-padded, subsampled when shapes change)."""

    def __init__(self, c_in: int, c_out: int, stride: int, num_tasks: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = TaskBatchNorm2d(c_out, num_tasks)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = TaskBatchNorm2d(c_out, num_tasks)
        self.stride, self.extra_channels = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            pad = self.extra_channels // 2
            shortcut = F.pad(shortcut, (0, 0, 0, 0, pad, self.extra_channels - pad))
        return F.relu(y + shortcut)


class ResNet32(_MultiHead):
    """CIFAR ResNet (He et al. 2016, option-A shortcuts) with per-task batch-norm statistics.

    ``6 * blocks_per_stage + 2`` layers: a 3x3 conv with 16 channels, three
    stages of ``blocks_per_stage`` residual blocks with 16, 32, 64 channels,
    global average pooling and the output layer. ``blocks_per_stage=5`` is
    ResNet-32. Input: (B, in_channels, H, W), e.g. (B, 3, 32, 32).

    Each batch-norm layer keeps ``num_tasks`` sets of running statistics;
    :meth:`use_task_bn` selects the set used (and updated in training mode).
    """

    has_task_bn = True

    def __init__(self, in_channels: int = 3, out_features: int = 10, num_heads: int = 1,
                 num_tasks: int = 1, blocks_per_stage: int = 5):
        super().__init__()
        _check_positive_int(in_channels, "in_channels")
        self.num_tasks = _check_positive_int(num_tasks, "num_tasks")
        _check_positive_int(blocks_per_stage, "blocks_per_stage")
        self._init_heads(out_features, num_heads)
        self.conv = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn = TaskBatchNorm2d(16, num_tasks)
        blocks, c_in = [], 16
        for c_out in (16, 32, 64):
            for i in range(blocks_per_stage):
                stride = 2 if (i == 0 and c_out != 16) else 1
                blocks.append(_BasicBlock(c_in, c_out, stride, num_tasks))
                c_in = c_out
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(64, out_features * num_heads)

    @property
    def bn_task(self) -> int:
        """The task whose batch-norm statistics are in use."""
        return self.bn.task

    def use_task_bn(self, task: int) -> None:
        """Use (and, in training mode, update) the batch-norm statistics of ``task``."""
        if isinstance(task, bool) or not isinstance(task, int) or not 0 <= task < self.num_tasks:
            raise ValueError(f"task must be an int in [0, {self.num_tasks}), got {task!r}")
        for module in self.modules():
            if isinstance(module, TaskBatchNorm2d):
                module.task = task

    def forward(self, x: torch.Tensor, head: int | None = None) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, out_features), or all heads if ``head`` is None."""
        if x.dim() != 4:
            raise ValueError(f"x must have shape (B, C, H, W), got {tuple(x.shape)}")
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self._select_head(self.out(x.mean(dim=(2, 3))), head)


def param_shapes(net: nn.Module) -> list[torch.Size]:
    """Shapes of the parameters of ``net`` in ``net.named_parameters()`` order."""
    return [p.shape for p in net.parameters()]


def num_params(net: nn.Module) -> int:
    """Number of weights of ``net``: the length of the flat vector it is run with."""
    return sum(p.numel() for p in net.parameters())


def flatten_params(net: nn.Module) -> torch.Tensor:
    """The module's own parameters as one flat (n,) vector (detached copy)."""
    return torch.cat([p.detach().reshape(-1) for p in net.parameters()])


def unflatten_weights(net: nn.Module, flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cut a flat (n,) weight vector into ``{parameter name: tensor}`` views for ``net``."""
    n = num_params(net)
    if flat.dim() != 1 or flat.shape[0] != n:
        raise ValueError(f"flat must have shape ({n},) for this network, got {tuple(flat.shape)}")
    names, shapes = zip(*[(name, p.shape) for name, p in net.named_parameters()])
    pieces = torch.split(flat, [math.prod(s) for s in shapes])
    return {name: piece.view(shape) for name, piece, shape in zip(names, pieces, shapes)}


def forward_with_weights(net: nn.Module, flat: torch.Tensor, x: torch.Tensor,
                         head: int | None = None) -> torch.Tensor:
    """Run ``net`` on ``x`` with the weights in ``flat`` instead of its own parameters.

    Args:
        flat: (n,) one weight vector, or (B, n) B weight vectors evaluated in
            one batched call (``torch.func.vmap``; with dropout each weight set
            gets its own mask).
        x: input batch (N, ...), shared by all weight vectors.
        head: output head, see the module docstring.

    Returns:
        (N, out) for a (n,) ``flat``; (B, N, out) for a (B, n) ``flat``.

    Gradients flow into ``flat``. Buffers (batch-norm statistics) are the
    module's own; in training mode they are updated, so run batched calls of
    nets with batch norm in eval mode.
    """
    n = num_params(net)
    if flat.dim() not in (1, 2) or flat.shape[-1] != n:
        raise ValueError(f"flat must have shape ({n},) or (B, {n}) for this network, "
                         f"got {tuple(flat.shape)}")

    def run(one_flat: torch.Tensor) -> torch.Tensor:
        weights = unflatten_weights(net, one_flat)
        return torch.func.functional_call(net, weights, (x,), {"head": head})

    if flat.dim() == 1:
        return run(flat)
    if net.training and any(isinstance(m, (TaskBatchNorm2d, nn.BatchNorm1d, nn.BatchNorm2d))
                            for m in net.modules()):
        raise ValueError("flat with a batch dimension needs net.eval() for a network with "
                         "batch norm (its running statistics cannot be updated per weight set)")
    return torch.func.vmap(run, randomness="different")(flat)


def weight_init_std(net: nn.Module) -> torch.Tensor:
    """Standard deviation of a standard initialisation of every weight of ``net``, shape (n,).

    Used to give hypernetwork outputs a sensible initial scale. For
    ``nn.Linear``/``nn.Conv2d`` weights and biases it is ``1/sqrt(3 * fan_in)``
    (PyTorch's default uniform init); batch-norm scales get 1 and shifts 0.
    Any other parameter gets the root mean square of its current value.
    """
    stds = {}
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            for p in (module.weight, module.bias):
                if p is not None:
                    stds[p] = 1.0 / math.sqrt(3.0 * fan_in)
        elif isinstance(module, (TaskBatchNorm2d, nn.BatchNorm2d)) and module.weight is not None:
            stds[module.weight], stds[module.bias] = 1.0, 0.0
    parts = []
    for p in net.parameters():
        std = stds.get(p, p.detach().pow(2).mean().sqrt().item())
        parts.append(torch.full((p.numel(),), std))
    return torch.cat(parts)
