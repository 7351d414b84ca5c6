"""Task-conditioned hypernetworks: full and chunked.

A hypernetwork maps a task embedding e(t) to all n weights of a target
network. Both kinds here are small MLPs whose *last layer is linear*:

* :class:`HyperNetwork` (full): one pass ``e -> hidden... -> n outputs``.
* :class:`ChunkedHyperNetwork`: the same MLP is run once per chunk k on the
  input ``[e, c_k]`` (``c_k`` a learned chunk embedding) and emits
  ``chunk_size`` weights; the chunks are concatenated and cut to n.

A full hypernetwork is the special case of a single chunk of size n with no
chunk embedding, so both share one implementation: for chunk k the output is
``W z_k + b`` with ``z_k`` the last hidden activation (or the input itself
when ``hidden=()``). The exact regulariser (``regularizer.py``) relies on that.

Parameter names: ``hidden.<i>.weight/bias``, ``output.weight/bias``,
``chunk_embeddings`` (chunked only) -- together θ_h -- and
``task_embeddings.<t>``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import nn

from hnet_utils.networks.targets import _check_positive_int, _check_widths, make_activation, num_params

#: Standard deviation of newly created task and chunk embeddings.
EMBEDDING_INIT_STD = 1.0
#: Target-weight standard deviation used when no ``init_std`` is given.
DEFAULT_INIT_STD = 0.05
#: Initialisation schemes of a hypernetwork's layers (``ExperimentConfig.hnet_init``):
#: "target_std" -- PyTorch default hidden layers, output layer scaled so that generated
#: weights have the std of a standard target init (``init_std``);
#: "xavier" -- the authors' toy-problem init (:func:`xavier_init_`).
HNET_INITS = ("target_std", "xavier")


class HyperNetwork(nn.Module):
    """Full MLP hypernetwork ``e(t) -> Θ`` (one chunk holding all ``num_outputs`` weights).

    Args:
        num_outputs: n, the number of target-network weights.
        embedding_dim: size of each task embedding.
        hidden: hidden layer widths; ``()`` makes the output layer act on e directly.
        activation: activation of the hidden layers (see ``targets.ACTIVATIONS``).
        init_std: desired standard deviation of the generated weights at
            initialisation: a float, or an (n,) tensor such as
            ``targets.weight_init_std(target)`` so that a fresh hypernetwork
            produces weights that look like a standard init of the target.
            Default: ``DEFAULT_INIT_STD`` for every weight.

    Task embeddings are added with :meth:`add_task`.
    """

    def __init__(self, num_outputs: int, embedding_dim: int, hidden: Sequence[int] = (),
                 activation: str = "relu", init_std: float | torch.Tensor | None = None):
        super().__init__()
        self._setup(num_outputs, embedding_dim, 0, num_outputs, hidden, activation, init_std)

    # ----------------------------------------------------------------- set-up
    def _setup(self, num_outputs, embedding_dim, chunk_embedding_dim, chunk_size, hidden,
               activation, init_std) -> None:
        self.num_outputs = _check_positive_int(num_outputs, "num_outputs")
        self.embedding_dim = _check_positive_int(embedding_dim, "embedding_dim")
        self.chunk_size = _check_positive_int(chunk_size, "chunk_size")
        self.hidden_widths = _check_widths(hidden)
        self.num_chunks = math.ceil(num_outputs / chunk_size)
        #: valid (non-padding) outputs of the last chunk
        self.last_chunk_size = num_outputs - (self.num_chunks - 1) * chunk_size

        if chunk_embedding_dim:
            self.chunk_embeddings = nn.Parameter(
                EMBEDDING_INIT_STD * torch.randn(self.num_chunks, chunk_embedding_dim))
        else:
            self.chunk_embeddings = None
        self.task_embeddings = nn.ParameterList()

        widths = (embedding_dim + chunk_embedding_dim, *self.hidden_widths)
        self.act = make_activation(activation)
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        #: size d of z, the input of the linear output layer
        self.feature_dim = widths[-1]
        self.output = nn.Linear(self.feature_dim, chunk_size)
        self._init_output_layer(init_std)

    @torch.no_grad()
    def _init_output_layer(self, init_std) -> None:
        """Scale the output layer so generated weights have roughly the std ``init_std``.

        Output j of chunk k is ``sum_i W[j, i] z_k[i]`` (bias 0), with variance
        ``s_j^2 |z_k|^2`` for W[j, :] ~ N(0, s_j^2). Row j serves target weight
        ``k * chunk_size + j`` in every chunk k, so s_j is chosen to match the
        desired variance summed over those chunks:
        ``s_j^2 = sum_k std[k, j]^2 / sum_k |z_k|^2`` (z from random embeddings).
        For a full hypernetwork this is exact per weight.
        """
        n, cs, k = self.num_outputs, self.chunk_size, self.num_chunks
        if init_std is None:
            init_std = DEFAULT_INIT_STD
        if isinstance(init_std, (int, float)) and not isinstance(init_std, bool):
            if not (math.isfinite(init_std) and init_std >= 0):
                raise ValueError(f"init_std must be a finite number >= 0, got {init_std!r}")
            init_std = torch.full((n,), float(init_std))
        if (not isinstance(init_std, torch.Tensor) or init_std.shape != (n,)
                or not (torch.isfinite(init_std) & (init_std >= 0)).all()):
            raise ValueError(f"init_std must be a finite number >= 0 or a tensor of shape ({n},) "
                             f"with finite entries >= 0")
        var = torch.zeros(k * cs)
        var[:n] = init_std.detach().to(torch.float32).cpu() ** 2
        var_per_row = var.view(k, cs).sum(0)                       # (cs,)
        samples = EMBEDDING_INIT_STD * torch.randn(16, self.embedding_dim)
        z = self.features(samples)                                  # (16, k, d)
        # rows of the last chunk beyond its valid part see one chunk fewer
        z_sq = z.pow(2).sum(-1).mean(0)                             # (k,)
        z_sq_per_row = torch.full((cs,), z_sq.sum().item())
        z_sq_per_row[self.last_chunk_size:] -= z_sq[-1]
        scale = (var_per_row / z_sq_per_row.clamp_min(1e-12)).sqrt()
        self.output.weight.copy_(torch.randn(cs, self.feature_dim) * scale[:, None])
        self.output.bias.zero_()

    # ------------------------------------------------------------------ tasks
    @property
    def num_tasks(self) -> int:
        """Number of task embeddings."""
        return len(self.task_embeddings)

    def add_task(self) -> int:
        """Create a new task embedding ~ N(0, EMBEDDING_INIT_STD^2); returns its id (0, 1, ...).

        Remember to give the new parameter (``task_embedding(t)``) to the optimiser.
        """
        device = self.output.weight.device
        self.task_embeddings.append(
            nn.Parameter(EMBEDDING_INIT_STD * torch.randn(self.embedding_dim, device=device)))
        return self.num_tasks - 1

    def task_embedding(self, task_id: int) -> nn.Parameter:
        """The embedding parameter of ``task_id``, shape (embedding_dim,)."""
        self._check_task_id(task_id)
        return self.task_embeddings[task_id]

    def _check_task_id(self, task_id) -> None:
        if isinstance(task_id, bool) or not isinstance(task_id, int) \
                or not 0 <= task_id < self.num_tasks:
            raise ValueError(f"task_id must be an int in [0, {self.num_tasks}) "
                             f"(tasks with an embedding), got {task_id!r}")

    def named_theta_parameters(self):
        """(name, parameter) pairs of θ_h: every parameter except the task embeddings."""
        return [(name, p) for name, p in self.named_parameters()
                if not name.startswith("task_embeddings.")]

    def theta_parameters(self) -> list[nn.Parameter]:
        """θ_h: every parameter except the task embeddings (layers, chunk embeddings)."""
        return [p for _, p in self.named_theta_parameters()]

    # ---------------------------------------------------------------- forward
    def _inputs(self, embeddings: torch.Tensor) -> torch.Tensor:
        """(B, embedding_dim) -> (B, num_chunks, input size) hidden-layer input per chunk."""
        inputs = embeddings[:, None, :]
        if self.chunk_embeddings is None:
            return inputs
        batch = embeddings.shape[0]
        return torch.cat([inputs.expand(batch, self.num_chunks, -1),
                          self.chunk_embeddings.expand(batch, -1, -1)], dim=-1)

    def features(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Last hidden activation z for every (embedding, chunk) pair.

        embeddings: (B, embedding_dim) -> (B, num_chunks, feature_dim).
        """
        z = self._inputs(embeddings)
        for layer in self.hidden:
            z = self.act(layer(z))
        return z

    def forward(self, task_id: int | None = None, embeddings: torch.Tensor | None = None,
                return_features: bool = False) -> torch.Tensor:
        """Generate target weights.

        Give exactly one of:
            task_id: a task with an embedding -> (n,) weights.
            embeddings: (B, embedding_dim) -> (B, n), all in one batched call
                (or (embedding_dim,) -> (n,)).

        With ``return_features=True`` it returns the last hidden activations
        (B, num_chunks, feature_dim) instead (see :meth:`features`); this lets
        ``torch.func.functional_call`` evaluate them at other parameters.
        """
        if (task_id is None) == (embeddings is None):
            raise ValueError("give exactly one of task_id or embeddings")
        if task_id is not None:
            embeddings = self.task_embedding(task_id)
        if not isinstance(embeddings, torch.Tensor) or embeddings.dim() not in (1, 2) \
                or embeddings.shape[-1] != self.embedding_dim:
            shape = tuple(embeddings.shape) if isinstance(embeddings, torch.Tensor) else embeddings
            raise ValueError(f"embeddings must have shape (B, {self.embedding_dim}) or "
                             f"({self.embedding_dim},), got {shape}")
        single = embeddings.dim() == 1
        if single:
            embeddings = embeddings[None]
        z = self.features(embeddings)                               # (B, K, d)
        if return_features:
            return z[0] if single else z
        chunks = self.output(z)                                     # (B, K, chunk_size)
        weights = chunks.reshape(chunks.shape[0], -1)               # (B, K * chunk_size)
        pad = weights.shape[1] - self.num_outputs
        if pad:  # split, not a slice: its backward does not zero-fill a full-size gradient
            weights = weights.split([self.num_outputs, pad], dim=1)[0]
        return weights.squeeze(0) if single else weights           # squeeze: a view, no copy


class ChunkedHyperNetwork(HyperNetwork):
    """Chunked MLP hypernetwork: ``[e(t), c_k] -> hidden... -> chunk_size`` weights, per chunk k.

    Args:
        num_outputs: n, the number of target-network weights.
        embedding_dim: size of each task embedding.
        chunk_embedding_dim: size of each learned chunk embedding c_k.
        chunk_size: weights emitted per chunk; ``ceil(n / chunk_size)`` chunks,
            the last one cut to n.
        hidden, activation, init_std: as for :class:`HyperNetwork`.
    """

    def __init__(self, num_outputs: int, embedding_dim: int, chunk_embedding_dim: int,
                 chunk_size: int, hidden: Sequence[int] = (), activation: str = "relu",
                 init_std: float | torch.Tensor | None = None):
        nn.Module.__init__(self)
        check_chunk_size(chunk_size, num_outputs)
        _check_positive_int(chunk_embedding_dim, "chunk_embedding_dim")
        self._setup(num_outputs, embedding_dim, chunk_embedding_dim, chunk_size, hidden,
                    activation, init_std)


@torch.no_grad()
def xavier_init_(h: HyperNetwork, blocks: Sequence[int] | None = None) -> HyperNetwork:
    """Re-initialise ``h``'s layers as the authors' toy code does; returns ``h``.

    hypercl ``toy_example/train_utils._generate_networks``: every weight
    matrix Xavier-uniform, every bias 0. Their full hypernetwork has one linear
    output head per target tensor, so each head's Xavier bound uses that
    tensor's size as fan-out: ``blocks`` (sizes of consecutive row blocks of
    ``h.output``, e.g. the numels of the target's parameters) reproduces that;
    ``None`` treats the output layer as one matrix. Task and chunk embeddings
    are left as they are (N(0, 1), as in the authors' code).
    """
    for layer in h.hidden:
        nn.init.xavier_uniform_(layer.weight)
        layer.bias.zero_()
    rows, d = h.output.weight.shape
    blocks = [rows] if blocks is None else list(blocks)
    if sum(blocks) != rows or min(blocks) < 1:
        raise ValueError(f"blocks must be positive sizes summing to {rows} (output rows), "
                         f"got {blocks}")
    for start, size in zip([0, *itertools.accumulate(blocks)], blocks):
        bound = math.sqrt(6.0 / (d + size))
        h.output.weight[start:start + size].uniform_(-bound, bound)
    h.output.bias.zero_()
    return h


def make_hypernetwork(num_outputs: int, embedding_dim: int, hidden: Sequence[int] = (),
                      activation: str = "relu", chunk_size: int | None = None,
                      chunk_embedding_dim: int | None = None, num_tasks: int = 0,
                      init_std: float | torch.Tensor | None = None) -> HyperNetwork:
    """A full (``chunk_size=None``) or chunked hypernetwork with ``num_tasks`` task embeddings.

    The one factory of the package: the engine (``learners.build_hnet``), the
    widgets and the notebooks build hypernetworks through it. Arguments as for
    :class:`HyperNetwork` / :class:`ChunkedHyperNetwork`.
    """
    if not isinstance(num_tasks, int) or num_tasks < 0:
        raise ValueError(f"num_tasks must be an integer >= 0, got {num_tasks!r}")
    if chunk_size is None:
        h = HyperNetwork(num_outputs, embedding_dim, hidden, activation, init_std)
    else:
        h = ChunkedHyperNetwork(num_outputs, embedding_dim, chunk_embedding_dim, int(chunk_size),
                                hidden, activation, init_std)
    for _ in range(num_tasks):
        h.add_task()
    return h


def check_chunk_size(chunk_size: int, num_outputs: int) -> int:
    """``chunk_size`` if it is an integer in [1, ``num_outputs``], else a ``ValueError``: a chunk
    larger than the target only computes padding."""
    _check_positive_int(num_outputs, "num_outputs")
    _check_positive_int(chunk_size, "chunk_size")
    if chunk_size > num_outputs:
        raise ValueError(f"chunk_size must be an integer in [1, {num_outputs}] (the number of "
                         f"target weights), got {chunk_size}: a larger chunk only computes "
                         "padding; use a full hypernetwork to emit all weights at once")
    return chunk_size


def hypernetwork_size(num_outputs: int, embedding_dim: int, hidden: Sequence[int] = (),
                      chunk_size: int | None = None, chunk_embedding_dim: int | None = None) -> int:
    """Parameters of the layers and chunk embeddings of :func:`make_hypernetwork`'s network,
    counted without building it (to refuse a size that cannot be allocated, before trying)."""
    chunk_size = num_outputs if chunk_size is None else chunk_size
    chunk_embedding_dim = chunk_embedding_dim or 0
    widths = (embedding_dim + chunk_embedding_dim, *hidden, chunk_size)
    layers = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    return layers + math.ceil(num_outputs / chunk_size) * chunk_embedding_dim


def count_parameters(h: HyperNetwork) -> dict[str, int]:
    """Trainable-parameter counts of a hypernetwork.

    Returns ``{"layers": ..., "chunk_embeddings": ..., "task_embeddings": ..., "total": ...}``;
    ``total`` (layers + chunk embeddings + all task embeddings) is the
    numerator of the compression ratio.
    """
    if not isinstance(h, HyperNetwork):
        raise ValueError(f"h must be a HyperNetwork, got {type(h).__name__}")
    layers = sum(p.numel() for name, p in h.named_theta_parameters() if name != "chunk_embeddings")
    chunks = 0 if h.chunk_embeddings is None else h.chunk_embeddings.numel()
    tasks = sum(p.numel() for p in h.task_embeddings)
    return {"layers": layers, "chunk_embeddings": chunks, "task_embeddings": tasks,
            "total": layers + chunks + tasks}


def compression_ratio(h: HyperNetwork, target: nn.Module | int) -> float:
    """Trainable hypernetwork parameters (incl. chunk and task embeddings) / target weights.

    ``target``: the target network, or its number of weights. A ratio below 1
    means the hypernetwork has fewer trainable parameters than it generates.
    """
    n = target if isinstance(target, int) else num_params(target)
    if n != h.num_outputs:
        raise ValueError(f"target has {n} weights but the hypernetwork generates {h.num_outputs}")
    return count_parameters(h)["total"] / n
