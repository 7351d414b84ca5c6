"""Learners: what the training loop trains, one task after the other.

A *learner* owns the models of one method and knows how to take a training
step and how to predict. The loop in ``training.py`` talks to every method
through the small :class:`Learner` protocol, so adding a method means adding a
learner, not editing the loop:

* :class:`HnetLearner` (here) -- a hypernetwork generates the target's weights
  from a per-task embedding; old tasks are protected by the output regulariser
  (``regularizer.py``, docs/method.md §2).
* :class:`~hnet_utils.continual.baselines.TargetLearner` -- fine-tuning,
  training from scratch, multitask, EWC, online EWC and SI on the target's own
  weights.

Scenarios for the hypernetwork: the target has ``C`` outputs (classes per
task) and every task gets its own output layer from its embedding (with
``cfg.hnet_heads="per_task"``, the authors' MNIST layout in CL1 and CL3, the target
has one C-unit head per task and embedding ``t``'s network uses head ``t``). CL1
uses embedding ``j`` for task ``j``. CL2 and CL3 infer the task by the lowest
predictive entropy over all learned embeddings (HNET+ENT, ``inference.py``);
CL2 predicts the within-task class, CL3 the global class ``t*C + y``.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol, Sequence

import torch
import torch.nn.functional as F

from hnet_utils.continual.inference import all_task_logits, infer_task, pick
from hnet_utils.continual.outliers import image_shape, mosaic, uniform_loss
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
from hnet_utils.experiments.configs import ExperimentConfig
from hnet_utils.networks.hypernet import HyperNetwork, make_hypernetwork, xavier_init_
from hnet_utils.networks.targets import MLP, ResNet32, ZenkeNet, forward_with_weights, weight_init_std

#: A training batch of one task: ``(task id, x, y)``.
Batch = tuple[int, torch.Tensor, torch.Tensor]


class Prediction(NamedTuple):
    """A learner's prediction for a test batch of N samples.

    ``output``: classification -- (N,) predicted labels in the scenario's label
    space (within-task classes in CL1/CL2, global classes ``t*C + y`` in CL3);
    regression -- (N, out) predicted values. ``task``: (N,) inferred task per
    sample when the learner infers it (HNET+ENT in CL2/CL3), else ``None``.
    """

    output: torch.Tensor
    task: torch.Tensor | None


class Learner(Protocol):
    """What the training loop needs from a method.

    ``seen`` is the number of tasks learned so far, including the current one.
    """

    hnet: HyperNetwork | None
    target: torch.nn.Module

    def batch_tasks(self, task: int) -> Sequence[int]:
        """Tasks whose training batches one step of ``task`` uses (usually just ``task``)."""

    def start_task(self, task: int) -> None:
        """Prepare learning ``task`` (new embedding, optimiser, snapshot, ...)."""

    def step(self, batches: list[Batch], seen: int) -> torch.Tensor:
        """One optimisation step; returns the detached total loss (a 0-d tensor, no host sync)."""

    def end_task(self, task: int) -> None:
        """Consolidate after ``task`` (Fisher, importance, stored networks, ...)."""

    def predict(self, x: torch.Tensor, task: int, seen: int) -> Prediction:
        """Predict a test batch ``x`` of ``task`` (see :class:`Prediction`)."""

    def models(self) -> dict:
        """The modules to checkpoint, by name."""

    # optional: learners that can resume a run after a finished task (continual/resume.py)
    # def state_dict(self) -> dict: everything learned so far, tensors and plain values only
    # def load_state_dict(self, state: dict, tasks_done: int) -> None: the inverse, on a fresh learner


# ----------------------------------------------------------------------- building


def output_layout(cfg: ExperimentConfig, classes_per_task: int, regression: bool) -> tuple[int, int]:
    """``(out_features, num_heads)`` of the target network for ``cfg``'s method and scenario."""
    if cfg.method == "hnet" and cfg.hnet_heads == "per_task":
        return classes_per_task, cfg.num_tasks
    if cfg.method in ("hnet", "hnet_tir") or regression or cfg.scenario == 2:
        return classes_per_task, 1
    if cfg.scenario == 1:
        return classes_per_task, cfg.num_tasks
    return cfg.num_tasks * classes_per_task, 1


def build_target(cfg: ExperimentConfig, input_shape: tuple[int, ...], classes_per_task: int,
                 regression: bool = False) -> torch.nn.Module:
    """A freshly initialised target network for ``cfg`` (inputs of ``input_shape``)."""
    out, heads = output_layout(cfg, classes_per_task, regression)
    if cfg.target == "mlp":
        return MLP(in_features=math.prod(input_shape), hidden=cfg.target_hidden, out_features=out,
                   activation=cfg.target_activation, num_heads=heads)
    if len(input_shape) != 3:
        raise ValueError(f"target {cfg.target!r} needs image inputs (C, H, W); the benchmark "
                         f"gives {tuple(input_shape)}: use target='mlp'")
    if cfg.target == "zenke":
        return ZenkeNet(in_channels=input_shape[0], out_features=out, num_heads=heads)
    return ResNet32(in_channels=input_shape[0], out_features=out, num_heads=heads,
                    num_tasks=cfg.num_tasks)


def build_hnet(cfg: ExperimentConfig, target: torch.nn.Module) -> HyperNetwork:
    """The hypernetwork of ``cfg`` for ``target``, initialised by ``cfg.hnet_init``.

    "target_std": it generates weights that look like a standard init of the
    target; "xavier": the authors' toy init (``hypernet.xavier_init_``, one
    Xavier block per target tensor for a full hypernetwork).
    """
    chunked = cfg.hnet_type == "chunked"
    h = make_hypernetwork(sum(p.numel() for p in target.parameters()), cfg.embedding_dim,
                          cfg.hnet_hidden, cfg.hnet_activation,
                          chunk_size=cfg.chunk_size if chunked else None,
                          chunk_embedding_dim=cfg.chunk_embedding_dim if chunked else None,
                          init_std=weight_init_std(target))
    if cfg.hnet_init == "xavier":
        xavier_init_(h, None if chunked else [p.numel() for p in target.parameters()])
    return h


# ----------------------------------------------------------------- hypernetwork


class HnetLearner:
    """Continual learning with a task-conditioned hypernetwork (von Oswald et al., 2020).

    Per task ``t``: snapshot the hypernetwork for the regulariser, add the
    embedding ``e(t)``, and train θ_h and ``e(t)`` with Adam on
    ``L_task + β/t Σ_{t'<t} ||h(e(t'), θ*) - h(e(t'), θ + Δθ)||²``. Old
    embeddings stay fixed. ``Δθ`` is the Adam lookahead when ``cfg.lookahead``.
    """

    def __init__(self, cfg: ExperimentConfig, benchmark, target: torch.nn.Module,
                 device: torch.device) -> None:
        self.cfg, self.benchmark, self.device = cfg, benchmark, device
        self.regression = benchmark.kind == "regression"
        self.classes = benchmark.classes_per_task
        self.target = target
        self.target.requires_grad_(False)  # its own weights are never used
        self.hnet = build_hnet(cfg, target).to(device)
        self.reg = OutputRegularizer(self.hnet, beta=cfg.beta, method=cfg.regularizer,
                                     subset_size=cfg.reg_subset,
                                     generator=torch.Generator().manual_seed(cfg.seed + 3000))
        self.optimizer: torch.optim.Optimizer | None = None
        self._lookahead_buffers: dict = {}  # reused Δθ tensors (adam_lookahead)

    def batch_tasks(self, task: int) -> Sequence[int]:
        """Only the current task's data: old tasks are protected by the regulariser."""
        return (task,)

    def start_task(self, task: int) -> None:
        """Snapshot for the regulariser, new embedding, new Adam over θ_h and e(task)."""
        if task > 0:
            self.reg.snapshot()
        new = self.hnet.add_task()
        assert new == task, f"hypernetwork gave task id {new}, expected {task}"
        self.target.use_task_bn(task)
        self.target.train()
        # fused: one kernel per step instead of one pass per Adam operation (CPU and CUDA)
        self.optimizer = torch.optim.Adam(
            [*self.hnet.theta_parameters(), self.hnet.task_embedding(task)], lr=self.cfg.lr,
            betas=(self.cfg.adam_beta1, 0.999), fused=self.device.type in ("cpu", "cuda"))

    def task_loss(self, x: torch.Tensor, y: torch.Tensor, task: int) -> torch.Tensor:
        """Loss of the weights generated for ``task`` on a batch: MSE or cross-entropy.

        With ``cfg.outlier_weight`` > 0, plus that weight times the uniform loss
        on mosaics of the batch (``outliers.py``), run in the same forward pass.
        """
        weights, head = self.hnet(task_id=task), self._head(task)
        if self.cfg.outlier_weight > 0:
            fakes = mosaic(x, image_shape(tuple(self.benchmark.input_shape)))
            out = forward_with_weights(self.target, weights, torch.cat([x, fakes]), head)
            n = x.shape[0]
            return F.cross_entropy(out[:n], y) + self.cfg.outlier_weight * uniform_loss(out[n:])
        out = forward_with_weights(self.target, weights, x, head)
        return F.mse_loss(out, y) if self.regression else F.cross_entropy(out, y)

    def step(self, batches: list[Batch], seen: int) -> torch.Tensor:
        """One Adam step on the current task's batch plus β times the regulariser."""
        (task, x, y), = batches
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.task_loss(x, y, task)
        loss.backward()
        total = loss.detach()
        if task > 0 and self.cfg.beta > 0:
            theta = self.hnet.theta_parameters()
            delta = (adam_lookahead(self.optimizer, theta, self._lookahead_buffers)
                     if self.cfg.lookahead else None)
            loss_reg = self.reg(delta=delta)
            loss_reg.backward()
            total = total + loss_reg.detach()
        self.optimizer.step()
        return total

    def end_task(self, task: int) -> None:
        """Nothing to consolidate: the next :meth:`start_task` snapshots."""
        self.target.eval()

    def _head(self, task: int) -> int | None:
        """The target's output head of embedding ``task``: its own with per-task heads, else None."""
        return task if self.cfg.hnet_heads == "per_task" else None

    def _outputs(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Outputs of the weights of embedding ``task`` on ``x``: (N, C)."""
        self.target.use_task_bn(task)
        return forward_with_weights(self.target, self.hnet(task_id=task), x, self._head(task))

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task: int, seen: int) -> Prediction:
        """CL1 and regression: the weights of ``task``. CL2/CL3: HNET+ENT over ``seen`` tasks."""
        if self.regression or self.cfg.scenario == 1:
            out = self._outputs(x, task)
            return Prediction(out if self.regression else out.argmax(-1), None)
        logits = all_task_logits(self.hnet, self.target, x, seen)  # (seen, N, C)
        tasks = infer_task(logits)                     # (N,)
        labels = pick(logits, tasks).argmax(-1)        # (N,) within-task class
        if self.cfg.scenario == 3:
            labels = tasks * self.classes + labels
        return Prediction(labels, tasks)

    def models(self) -> dict:
        """Modules to checkpoint (the target holds only batch-norm statistics of interest)."""
        return {"hnet": self.hnet, "target": self.target}

    def state_dict(self) -> dict:
        """What a resumed run needs after a finished task: θ_h, the embeddings, BN statistics,
        the generator of the regulariser's random subsets."""
        return {"hnet": self.hnet.state_dict(), "target": self.target.state_dict(),
                "reg_generator": self.reg.generator.get_state()}

    def load_state_dict(self, state: dict, tasks_done: int) -> None:
        """Restore :meth:`state_dict` on a fresh learner, as after ``tasks_done`` tasks."""
        assert self.hnet.num_tasks == 0, "load_state_dict expects a fresh learner"
        for _ in range(tasks_done):
            self.hnet.add_task()
        self.hnet.load_state_dict(state["hnet"])
        self.target.load_state_dict(state["target"])
        self.reg.generator.set_state(state["reg_generator"])
