"""Task inference by predictive entropy (HNET+ENT).

Without the task identity (scenarios CL2 and CL3), the hypernetwork still
holds one weight set per learned task. HNET+ENT runs each input through *all*
of them and trusts the one whose prediction is most confident, i.e. has the
lowest entropy. Everything here is batched: the hypernetwork generates all
weight sets in one call and the target network evaluates the input batch
under all of them in one vmapped call (``targets.forward_with_weights``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from hnet_utils.networks.targets import forward_with_weights


def predictive_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of ``softmax(logits)`` over the last dimension: (..., C) -> (...)."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def infer_task(logits_per_task: torch.Tensor) -> torch.Tensor:
    """Index of the lowest-entropy task per sample: (T, N, C) -> (N,) long."""
    if logits_per_task.dim() != 3:
        raise ValueError("logits_per_task must have shape (T, N, C), got "
                         f"{tuple(logits_per_task.shape)}")
    return predictive_entropy(logits_per_task).argmin(dim=0)


def all_task_logits(hnet: torch.nn.Module, target: torch.nn.Module, x: torch.Tensor,
                    num_tasks: int | None = None) -> torch.Tensor:
    """Outputs of ``target`` on ``x`` (N, ...) under the weights of the first
    ``num_tasks`` task embeddings (default: all): shape (T, N, C).

    One batched call: all weight sets from one hypernetwork call, the target
    vmapped over them. A target with per-task batch-norm statistics
    (ResNet-32, ``has_task_bn``) needs other buffers per task, so it runs task
    by task, each with its own statistics (and is left on the last task's).
    A target with one head per task (``num_heads`` > 1, ``hnet_heads="per_task"``)
    gives embedding t's outputs from head t.
    """
    num_tasks = hnet.num_tasks if num_tasks is None else num_tasks
    if not 1 <= num_tasks <= hnet.num_tasks:
        raise ValueError(f"num_tasks must be in [1, {hnet.num_tasks}] (learned embeddings), got {num_tasks}")
    embeddings = torch.stack([hnet.task_embedding(t) for t in range(num_tasks)])
    weights = hnet(embeddings=embeddings)  # (T, n)
    per_task_heads = getattr(target, "num_heads", 1) > 1
    if getattr(target, "has_task_bn", False):
        outputs = []
        for t in range(num_tasks):
            target.use_task_bn(t)
            outputs.append(forward_with_weights(target, weights[t], x, t if per_task_heads else None))
        return torch.stack(outputs)
    out = forward_with_weights(target, weights, x)  # (T, N, heads * C)
    if per_task_heads:
        tasks = torch.arange(num_tasks, device=out.device)
        out = out.view(num_tasks, out.shape[1], target.num_heads, -1)[tasks, :, tasks]
    return out


@torch.no_grad()
def probabilities_per_embedding(hnet: torch.nn.Module, target: torch.nn.Module,
                                x: torch.Tensor, num_tasks: int | None = None) -> torch.Tensor:
    """Class probabilities of every input under every task's generated weights: (T, N, C).

    What each task embedding's network "thinks" an input is; the basis of the
    widget of notebook 05 (``viz.widgets.EmbeddingPredictions``).
    """
    return torch.softmax(all_task_logits(hnet, target, x, num_tasks), dim=-1)


def pick(logits_per_task: torch.Tensor, tasks: torch.Tensor) -> torch.Tensor:
    """The logits of the chosen task per sample: (T, N, C), (N,) -> (N, C)."""
    n = logits_per_task.shape[1]
    return logits_per_task[tasks, torch.arange(n, device=tasks.device)]


@torch.no_grad()
def predict_without_task_id(hnet: torch.nn.Module, target: torch.nn.Module, x: torch.Tensor,
                            num_tasks: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """HNET+ENT prediction for a batch ``x`` (N, ...).

    Returns ``(tasks, labels)``, both (N,) long: the inferred task and the
    within-task class (0..C-1) predicted by that task's weights. The
    class-incremental (CL3) prediction is ``tasks * C + labels``.
    """
    logits = all_task_logits(hnet, target, x, num_tasks)
    tasks = infer_task(logits)
    return tasks, pick(logits, tasks).argmax(dim=-1)




@torch.no_grad()
def entropies_per_task(hnet, target, x: torch.Tensor, num_tasks: int | None = None) -> np.ndarray:
    """Predictive entropy (nats) of every input under every task's weights: (N, T).

    HNET+ENT picks, per row, the task with the smallest entry.
    """
    logits = all_task_logits(hnet, target, x, num_tasks)  # (T, N, C)
    return predictive_entropy(logits).T.cpu().numpy()


@torch.no_grad()
def task_inference_confusion(hnet, target, benchmark, num_tasks: int | None = None,
                             split: str = "test", max_samples: int | None = None,
                             batch_size: int = 1000) -> np.ndarray:
    """How often HNET+ENT picks each task, per true task.

    Every input of task ``t`` is run through the weights of all learned
    embeddings; the one with the lowest predictive entropy is the inferred
    task (``inference.infer_task``).

    Args:
        hnet, target: a trained hypernetwork and its target network.
        benchmark: the benchmark the tasks come from.
        num_tasks: tasks to consider (default: all embeddings of ``hnet``).
        split: data split to use.
        max_samples: at most this many samples per task (the first ones).
        batch_size: inputs per batched call.

    Returns:
        (T, T) array in percent: row ``t`` = true task, column ``s`` = share of
        its samples inferred as task ``s``. The diagonal is the task-inference
        accuracy per task.
    """
    num_tasks = hnet.num_tasks if num_tasks is None else num_tasks
    if not isinstance(num_tasks, int) or not 1 <= num_tasks <= hnet.num_tasks:
        raise ValueError(f"num_tasks must be an int in [1, {hnet.num_tasks}], got {num_tasks!r}")
    if max_samples is not None and (not isinstance(max_samples, int) or max_samples < 1):
        raise ValueError(f"max_samples must be a positive integer or None, got {max_samples!r}")
    device = next(hnet.parameters()).device
    counts = np.zeros((num_tasks, num_tasks))
    for t in range(num_tasks):
        x_all, _ = benchmark.tasks[t].tensors(split)
        if max_samples is not None:
            x_all = x_all[:max_samples]
        for x in x_all.split(batch_size):
            inferred = infer_task(all_task_logits(hnet, target, x.to(device), num_tasks))
            counts[t] += np.bincount(inferred.cpu().numpy(), minlength=num_tasks)
    return 100.0 * counts / counts.sum(axis=1, keepdims=True)
