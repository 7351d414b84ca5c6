"""Generative replay: HNET+R, HNET+TIR and DGR+distill (docs/method.md §3, §6).

Without the task identity (scenarios CL2 and CL3) a method must either infer
the task or have one network that serves all tasks. Both need to see the old
tasks again, and these methods replay them from a generative memory, a
task-conditioned VAE (``networks/vae.py``) trained alongside:

* :class:`Generator` -- the VAE and how it is kept from forgetting:
  ``protect="hnet"``: its decoder weights come from a hypernetwork, one task
  embedding per task, protected by the output regulariser (§2, the exact form,
  with the Adam lookahead) -- the generator itself does not forget.
  ``protect="replay"`` (DGR): a plain decoder that rehearses samples of a frozen
  copy of itself taken before the task.
* :class:`ReplayLearner` -- ``hnet_r`` and ``dgr``: an ordinary classifier (one
  shared head of C outputs in CL2, one head over all K*C classes in CL3)
  trains on the current task's data mixed with replayed samples of all earlier
  tasks, whose targets are the soft outputs of the classifier as it was before
  the task (knowledge distillation, temperature ``distill_temperature``).
  DGR replays from the frozen copy of its generator (shared decoder weights, so
  the live one is busy with the current task), HNET+R from the live generator,
  whose old tasks are protected.
* :class:`TirLearner` -- ``hnet_tir``: the hypernetwork classifier of CL1
  (``learners.HnetLearner``) plus a task-inference network trained on current
  data (label t) and replayed data of earlier tasks (their task as a hard
  label). A test batch is classified by the weights of the inferred task, all
  tasks in one batched call.

Schedule. The authors' code trains, per task, first the classifier (with
replay from the generator of the earlier tasks) and then the VAE on the task.
Here one step of the training loop takes one step of each model in tandem
(same number of steps per model); the classifier replays only tasks ``< t``,
whose generator is protected (the regulariser, or the frozen copy for DGR) from
the first step of task ``t``. Replay batches of all earlier tasks are
generated in one call (``ConditionalVAE.generate``: a vmap over the tasks'
generated decoder weights).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from hnet_utils.continual.inference import all_task_logits, pick
from hnet_utils.continual.learners import Batch, HnetLearner, Prediction
from hnet_utils.continual.regularizer import OutputRegularizer, adam_lookahead
from hnet_utils.experiments.configs import ExperimentConfig
from hnet_utils.networks.hypernet import HyperNetwork, make_hypernetwork
from hnet_utils.networks.targets import MLP, weight_init_std
from hnet_utils.networks.vae import ConditionalVAE


def replay_batch_sizes(batch_size: int, old_tasks: int) -> int:
    """Replayed samples per earlier task so that all of them together make about one batch."""
    return max(1, math.ceil(batch_size / old_tasks))


def replay_share(cfg: ExperimentConfig, task: int) -> float:
    """Weight w of the replayed-data loss while learning ``task``: ``cfg.replay_weight``
    (the authors' 0.5), or t/(t+1) when it is None, so that each task weighs the same."""
    return task / (task + 1) if cfg.replay_weight is None else cfg.replay_weight


# ------------------------------------------------------------------ generator


class Generator:
    """A task-conditioned VAE that learns one task after the other.

    Args:
        cfg: the run's configuration (latent_dim, encoder/decoder_hidden,
            replay_* fields, lr, batch_size, lookahead, regularizer, seed).
        input_dim: size of a flat input (784 for MNIST).
        protect: ``"hnet"`` (decoder weights from a regularised hypernetwork)
            or ``"replay"`` (DGR: plain decoder, rehearses its own samples).
        device: where the models live.
    """

    def __init__(self, cfg: ExperimentConfig, input_dim: int, protect: str,
                 device: torch.device) -> None:
        assert protect in ("hnet", "replay"), protect
        self.cfg, self.protect, self.device = cfg, protect, device
        self.vae = ConditionalVAE(input_dim, cfg.num_tasks, cfg.latent_dim, cfg.encoder_hidden,
                                  cfg.decoder_hidden).to(device)
        self.hnet: HyperNetwork | None = None
        self.reg: OutputRegularizer | None = None
        if protect == "hnet":
            self.vae.decoder.requires_grad_(False)  # its own weights are never used
            self.hnet = make_hypernetwork(
                self.vae.decoder_size, cfg.replay_embedding_dim, cfg.replay_hnet_hidden,
                cfg.replay_hnet_activation, chunk_size=cfg.replay_chunk_size,
                chunk_embedding_dim=cfg.replay_chunk_embedding_dim,
                init_std=weight_init_std(self.vae.decoder)).to(device)
            self.reg = OutputRegularizer(self.hnet, beta=cfg.replay_beta, method=cfg.regularizer,
                                         generator=torch.Generator().manual_seed(cfg.seed + 4000))
        self.frozen: ConditionalVAE | None = None   # DGR: the generator before the current task
        self.optimizer: torch.optim.Optimizer | None = None
        self.task = -1

    @property
    def num_learned(self) -> int:
        """Tasks the generator has started to learn (the current one included)."""
        return self.task + 1

    def start_task(self, task: int) -> None:
        """Snapshot (hnet) or frozen copy (DGR), a new embedding, a new Adam."""
        self.task = task
        if self.protect == "hnet":
            if task > 0:
                self.reg.snapshot()
            assert self.hnet.add_task() == task
            params = [*self.vae.encoder.parameters(), *self.hnet.theta_parameters(),
                      self.hnet.task_embedding(task)]
        else:
            if task > 0:
                self.frozen = copy.deepcopy(self.vae).eval().requires_grad_(False)
            params = list(self.vae.parameters())
        self.optimizer = torch.optim.Adam(params, lr=self.cfg.lr,
                                          betas=(self.cfg.adam_beta1, 0.999))

    def decoder_weights(self, tasks: Sequence[int]) -> torch.Tensor | None:
        """(T, n) generated decoder weights of ``tasks`` in one hypernetwork call (None for DGR)."""
        if self.hnet is None:
            return None
        embeddings = torch.stack([self.hnet.task_embedding(t) for t in tasks])
        return self.hnet(embeddings=embeddings)

    @torch.no_grad()
    def sample(self, tasks: Sequence[int], n: int, z: torch.Tensor | None = None) -> torch.Tensor:
        """``n`` generated inputs of each task in ``tasks``: (T, n, D), in one batched call."""
        return self.vae.generate(tasks, n, self.decoder_weights(tasks), z)

    @torch.no_grad()
    def replay(self, tasks: Sequence[int], n: int) -> torch.Tensor:
        """Samples of earlier ``tasks`` to rehearse, (T, n, D): from the protected generator
        (hnet), or from the frozen copy taken before the current task (DGR: the live decoder
        is learning the current task and shares its weights with the old ones)."""
        if self.protect == "replay":
            return self.frozen.generate(tasks, n)
        return self.sample(tasks, n)

    def step(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """One Adam step of the VAE on a batch of ``task``; returns the detached loss."""
        self.optimizer.zero_grad(set_to_none=True)
        weights = self.decoder_weights([task])[0] if self.hnet is not None else None
        loss = self.vae.loss(x, task, weights)
        if self.protect == "replay" and task > 0:
            # DGR: rehearse the frozen generator's own samples of the earlier tasks,
            # weighted so that every task counts as much as the current one
            old = list(range(task))
            fake = self.frozen.generate(old, replay_batch_sizes(x.shape[0], task))   # (t, m, D)
            fake_loss = torch.stack([self.vae.loss(fake[j], j) for j in old]).mean()
            loss = (loss + task * fake_loss) / (task + 1)
        loss.backward()
        total = loss.detach()
        if self.protect == "hnet" and task > 0 and self.cfg.replay_beta > 0:
            theta = self.hnet.theta_parameters()
            delta = adam_lookahead(self.optimizer, theta) if self.cfg.lookahead else None
            loss_reg = self.reg(delta=delta)
            loss_reg.backward()
            total = total + loss_reg.detach()
        self.optimizer.step()
        return total

    def models(self) -> dict:
        """The generator's modules, by name."""
        out = {"vae": self.vae}
        if self.hnet is not None:
            out["replay_hnet"] = self.hnet
        return out


# ------------------------------------------------------------------- losses


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float) -> torch.Tensor:
    """Soft cross-entropy of ``logits`` (N, M) against the teacher's softened outputs (N, M') (M' <= M).

    The teacher's probabilities ``softmax(teacher / T)`` cover the first M'
    outputs; the remaining M - M' outputs (classes the teacher has never seen)
    get target probability 0, so the student learns to keep them low on old
    data. Scaled by T² (Hinton et al., 2015) so gradients do not shrink with T.
    """
    m = teacher_logits.shape[1]
    target = F.softmax(teacher_logits / temperature, dim=1)                 # (N, M')
    log_p = F.log_softmax(logits / temperature, dim=1)[:, :m]               # (N, M')
    return -(target * log_p).sum(dim=1).mean() * temperature ** 2


# ----------------------------------------------------------------- learners


class ReplayLearner:
    """HNET+R (``protect="hnet"``) and DGR+distill (``protect="replay"``): an ordinary
    classifier rehearsing generated samples of the earlier tasks (module docstring).

    ``target`` is the classifier: C outputs (CL2) or K*C outputs (CL3).
    """

    def __init__(self, cfg: ExperimentConfig, benchmark, target: torch.nn.Module,
                 device: torch.device) -> None:
        self.cfg, self.benchmark, self.device = cfg, benchmark, device
        self.classes = benchmark.classes_per_task
        self.target = target
        self.hnet = None
        protect = "hnet" if cfg.method == "hnet_r" else "replay"
        self.generator = Generator(cfg, math.prod(benchmark.input_shape), protect, device)
        self.teacher: torch.nn.Module | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def batch_tasks(self, task: int) -> Sequence[int]:
        """Only the current task's real data; earlier tasks come from the generator."""
        return (task,)

    def start_task(self, task: int) -> None:
        """Freeze a copy of the classifier as the teacher; a new Adam; the generator's task."""
        self.teacher = copy.deepcopy(self.target).eval().requires_grad_(False) if task > 0 else None
        self.target.train()
        self.optimizer = torch.optim.Adam(self.target.parameters(), lr=self.cfg.lr,
                                          betas=(self.cfg.adam_beta1, 0.999))
        self.generator.start_task(task)

    def _logits(self, x: torch.Tensor, seen: int) -> torch.Tensor:
        """Classifier outputs over the classes of the first ``seen`` tasks (CL3) or the shared head."""
        out = self.target(x)
        return out[:, :seen * self.classes] if self.cfg.scenario == 3 else out

    def classifier_loss(self, x: torch.Tensor, y: torch.Tensor, task: int) -> torch.Tensor:
        """(1 - w) * cross-entropy on the real batch + w * distillation on replayed samples
        (w: :func:`replay_share`)."""
        seen = task + 1
        label = y + task * self.classes if self.cfg.scenario == 3 else y
        loss = F.cross_entropy(self._logits(x, seen), label)
        if task == 0:
            return loss
        fake = self.generator.replay(range(task), replay_batch_sizes(x.shape[0], task))
        fake = fake.reshape(-1, fake.shape[-1])                                # (t*m, D)
        with torch.no_grad():
            teacher = self.teacher(fake)
            teacher = teacher[:, :task * self.classes] if self.cfg.scenario == 3 else teacher
        fake_loss = distillation_loss(self._logits(fake, seen), teacher, self.cfg.distill_temperature)
        w = replay_share(self.cfg, task)
        return (1 - w) * loss + w * fake_loss

    def step(self, batches: list[Batch], seen: int) -> torch.Tensor:
        """One classifier step (with replay) and one generator step on the current batch."""
        (task, x, y), = batches
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.classifier_loss(x, y, task)
        loss.backward()
        self.optimizer.step()
        return loss.detach() + self.generator.step(x, task)

    def end_task(self, task: int) -> None:
        """Evaluation mode; the next task's start freezes the teacher."""
        self.target.eval()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task: int, seen: int) -> Prediction:
        """CL2: the shared head's class. CL3: the most likely of the classes seen so far."""
        return Prediction(self._logits(x, seen).argmax(-1), None)

    def models(self) -> dict:
        """Classifier and generator."""
        return {"target": self.target, **self.generator.models()}


class TirLearner(HnetLearner):
    """HNET+TIR: the CL1 hypernetwork classifier plus a task-inference network
    trained with replay from a hypernetwork-protected generator (module docstring)."""

    def __init__(self, cfg: ExperimentConfig, benchmark, target: torch.nn.Module,
                 device: torch.device) -> None:
        super().__init__(cfg, benchmark, target, device)
        self.generator = Generator(cfg, math.prod(benchmark.input_shape), "hnet", device)
        self.inference_net = MLP(math.prod(benchmark.input_shape), cfg.target_hidden, cfg.num_tasks,
                                 activation=cfg.target_activation).to(device)
        self.inference_optimizer: torch.optim.Optimizer | None = None

    def start_task(self, task: int) -> None:
        """The classifier's and the generator's new task; a new Adam for the task-inference net."""
        super().start_task(task)
        self.generator.start_task(task)
        self.inference_net.train()
        self.inference_optimizer = torch.optim.Adam(self.inference_net.parameters(), lr=self.cfg.lr,
                                                    betas=(self.cfg.adam_beta1, 0.999))

    def inference_loss(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """(1 - w) * CE(real batch, label ``task``) + w * CE(replayed samples, their task), over tasks 0..task."""
        real = F.cross_entropy(self.inference_net(x)[:, :task + 1],
                               torch.full((x.shape[0],), task, dtype=torch.long, device=x.device))
        m = replay_batch_sizes(x.shape[0], task)
        fake = self.generator.replay(range(task), m)                          # (t, m, D)
        labels = torch.arange(task, device=x.device).repeat_interleave(m)     # (t*m,)
        fake_loss = F.cross_entropy(self.inference_net(fake.reshape(-1, fake.shape[-1]))[:, :task + 1],
                                    labels)
        w = replay_share(self.cfg, task)
        return (1 - w) * real + w * fake_loss

    def step(self, batches: list[Batch], seen: int) -> torch.Tensor:
        """One step each: hypernetwork classifier, generator, task-inference net (from task 2 on)."""
        total = super().step(batches, seen)
        (task, x, _), = batches
        total = total + self.generator.step(x, task)
        if task > 0:  # with one task there is nothing to infer
            self.inference_optimizer.zero_grad(set_to_none=True)
            loss = self.inference_loss(x, task)
            loss.backward()
            self.inference_optimizer.step()
            total = total + loss.detach()
        return total

    def end_task(self, task: int) -> None:
        super().end_task(task)
        self.inference_net.eval()

    @torch.no_grad()
    def infer_task(self, x: torch.Tensor, seen: int) -> torch.Tensor:
        """The task-inference network's choice among the first ``seen`` tasks: (N,) long."""
        return self.inference_net(x)[:, :seen].argmax(-1)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task: int, seen: int) -> Prediction:
        """Infer the task, then classify with that task's generated weights (one batched call)."""
        tasks = self.infer_task(x, seen)                                      # (N,)
        logits = all_task_logits(self.hnet, self.target, x, seen)             # (seen, N, C)
        labels = pick(logits, tasks).argmax(-1)
        if self.cfg.scenario == 3:
            labels = tasks * self.classes + labels
        return Prediction(labels, tasks)

    def models(self) -> dict:
        """Classifier hypernetwork, target, task-inference net and generator."""
        return {"hnet": self.hnet, "target": self.target, "inference_net": self.inference_net,
                **self.generator.models()}


def rebuild_models(cfg: ExperimentConfig, data: dict, num_learned: int) -> dict:
    """Freshly built models of a replay run with ``num_learned`` task embeddings, to load a
    checkpoint into (``experiments.results.load_run``). ``data``: the run's ``kind``,
    ``input_shape`` and ``classes_per_task``."""
    from types import SimpleNamespace

    from hnet_utils.continual.learners import build_target

    shape = tuple(data["input_shape"])
    bench = SimpleNamespace(input_shape=shape, classes_per_task=data["classes_per_task"],
                            kind=data["kind"])
    target = build_target(cfg, shape, data["classes_per_task"])
    cpu = torch.device("cpu")
    learner = (TirLearner if cfg.method == "hnet_tir" else ReplayLearner)(cfg, bench, target, cpu)
    for task in range(num_learned):
        learner.start_task(task)
    return learner.models()
