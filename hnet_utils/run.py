"""Command line: ``python -m hnet_utils.run --benchmark split_mnist --method hnet ...``.

Every field of :class:`~hnet_utils.experiments.configs.ExperimentConfig` has exactly one
option (``num_tasks`` -> ``--num-tasks``). A preset (``--preset paper``, the
default, or ``--preset fast``) gives the starting values; options given on the
command line override them. The configuration is validated before any data is
loaded or any model trained, and so are the output paths: ``--out`` (the
results JSON) and ``--checkpoint`` (the trained models) must be writable
files, and an existing file is refused unless ``--overwrite`` is given — or,
for ``--checkpoint``, reused when it holds a finished run of the same
configuration (the run is then not trained again). Files are written
atomically. ``--evaluate CHECKPOINT`` evaluates stored models on the test sets.

An expected error (bad option, unwritable path, missing or corrupt data, a
file that is not a checkpoint) prints one ``error:`` line and exits with
status 2; ``--debug`` shows the traceback instead.

Examples::

    python -m hnet_utils.run --benchmark regression --method hnet --out results/regression_hnet.json
    python -m hnet_utils.run --benchmark split_mnist --method si --scenario 3 --preset fast
    python -m hnet_utils.run --evaluate results/regression_hnet.pt
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from hnet_utils.data.datasets import CorruptFileError
from hnet_utils.experiments.configs import (ACTIVATIONS, BENCHMARKS, HNET_HEADS, HNET_INITS,
                                           HNET_TYPES, METHODS,
                                           REGULARIZERS,
                                           SCENARIOS, TARGETS, ExperimentConfig, preset_config,
                                           preset_names)
from hnet_utils.files import (OutputPathError, OutputWriteError, Reservation, check_distinct,
                              check_output_path)

#: Errors a learner can fix from the message alone: one ``error:`` line, no traceback.
EXPECTED_ERRORS = (ValueError, FileNotFoundError, CorruptFileError, OutputWriteError)
HINT = "(python -m hnet_utils.run --help lists every option; --debug shows the traceback)"

#: One help line per configuration field (``--help`` documents every option).
FIELD_HELP = {
    "benchmark": "benchmark to learn (required)",
    "num_tasks": "number of tasks K",
    "method": "continual-learning method",
    "scenario": "1: task id given, a head per task; 2: one shared head, no task id; "
                "3: classes of all tasks, task inferred",
    "target": "target network architecture",
    "target_hidden": "hidden layer widths of the MLP target, comma-separated, e.g. 400,400 "
                     "('' for none)",
    "target_activation": "activation of the MLP target",
    "hnet_type": "hypernetwork: 'full' emits all target weights at once, 'chunked' one "
                 "chunk per call",
    "embedding_dim": "size of each task embedding",
    "chunk_embedding_dim": "size of each chunk embedding (chunked only; 'none' for full)",
    "chunk_size": "target weights emitted per chunk (chunked only; 'none' for full)",
    "hnet_hidden": "hidden layer widths of the hypernetwork, comma-separated ('' for none)",
    "hnet_activation": "activation of the hypernetwork's hidden layers",
    "hnet_heads": "output heads of the generated target: 'shared' (every embedding generates the "
                  "one C-unit head) or 'per_task' (one head per task, embedding t uses head t; "
                  "the authors' MNIST layout in CL1 and CL3)",
    "hnet_init": "hypernetwork init: 'target_std' (generates a standard target init) or "
                 "'xavier' (the authors' toy init: Xavier weights, zero biases)",
    "beta": "strength of the hypernetwork output regulariser (0: plain fine-tuning of the hnet)",
    "lookahead": "use the Adam lookahead Δθ in the regulariser",
    "regularizer": "'exact' (cost independent of the number of tasks) or 'reference' "
                   "(task by task, as written in the paper)",
    "outlier_weight": "weight of the mosaic-outlier loss that teaches each task's weights to be "
                      "unsure off their task (an aid to HNET+ENT, not in the paper; 0: off)",
    "reg_subset": "regularise a random subset of this many old tasks per step ('none' for all)",
    "lr": "Adam learning rate",
    "adam_beta1": "Adam's first-moment decay β1 (β2 stays 0.999)",
    "iterations": "training steps per task ('none' when --epochs is used)",
    "epochs": "passes over each task's training data instead of --iterations ('none' to use iterations)",
    "batch_size": "training mini-batch size",
    "augment": "random crop and horizontal flip of CIFAR training batches",
    "seed": "random seed (initialisation, batch order, permutations)",
    "ewc_lambda": "EWC / online EWC penalty strength",
    "online_gamma": "online EWC decay of the running Fisher, in (0, 1]",
    "fisher_samples": "training samples per task for the EWC Fisher ('none' for all)",
    "si_c": "SI penalty strength c",
    "si_epsilon": "SI damping ξ in Ω += ω / (Δ² + ξ)",
    "train_subset": "use only this many (fixed random) training samples per task ('none' for all)",
    "val_size": "samples held out of each task's training data for validation ('none': the "
                "benchmark's default, a tenth, at most 5,000; 0: train on all, as the authors' MNIST code)",
    "test_subset": "evaluate on this many (fixed random) test samples per task ('none' for all)",
    "eval_batch_size": "batch size for evaluation",
    "device": "'cpu', 'cuda', 'cuda:N', 'mps' or 'none' (automatic: CUDA when available)",
    # replay methods (hnet_tir, hnet_r, dgr)
    "latent_dim": "replay VAE: size of the latent code z",
    "encoder_hidden": "replay VAE: hidden widths of the encoder MLP, comma-separated",
    "decoder_hidden": "replay VAE: hidden widths of the decoder MLP, comma-separated",
    "replay_embedding_dim": "replay hypernetwork: size of each task embedding",
    "replay_chunk_embedding_dim": "replay hypernetwork: size of each chunk embedding",
    "replay_chunk_size": "replay hypernetwork: decoder weights emitted per chunk",
    "replay_hnet_hidden": "replay hypernetwork: hidden widths, comma-separated",
    "replay_hnet_activation": "replay hypernetwork: activation of its hidden layers",
    "replay_beta": "strength of the output regulariser of the replay hypernetwork",
    "replay_weight": "share w of the replayed-data loss: (1 - w) * real + w * replayed; 'none': "
                     "w = t/(t+1) while learning task t (every task weighs the same)",
    "distill_temperature": "temperature T of the distillation loss on replayed samples",
}

_CHOICES = {"benchmark": BENCHMARKS, "method": METHODS, "scenario": SCENARIOS,
            "target": TARGETS, "hnet_type": HNET_TYPES, "regularizer": REGULARIZERS,
            "target_activation": ACTIVATIONS, "hnet_activation": ACTIVATIONS,
            "hnet_init": HNET_INITS, "hnet_heads": HNET_HEADS, "replay_hnet_activation": ACTIVATIONS}


def _int_tuple(text: str) -> tuple[int, ...]:
    """'400,400' -> (400, 400); '' -> ()."""
    text = text.strip()
    if not text:
        return ()
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _optional(kind):
    """Parser for 'none' or a value of ``kind``."""
    def parse(text: str):
        if text.strip().lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__} or 'none', got {text!r}") from None
    parse.__name__ = f"{kind.__name__} or none"
    return parse


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_problem(threads: int | None) -> str | None:
    """Why ``--threads`` cannot be used on this machine (None: it can)."""
    if threads is None:
        return None
    if threads < 1:
        return f"--threads must be a positive integer, got {threads}"
    cores = available_cores()
    if threads > cores:
        return (f"--threads {threads} is more than the {cores} CPU cores of this machine; more "
                f"threads than cores only slow torch down (give at most {cores})")
    return None


def _parser_type(name: str, annotation: str):
    if "tuple" in annotation:
        return _int_tuple
    base = {"int": int, "float": float, "str": str}[annotation.split("|")[0].strip()]
    return _optional(base) if "None" in annotation else base


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one ``error:`` line and a hint, not the usage text."""

    def error(self, message: str):
        self.exit(2, f"error: {message}\n{HINT}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: one option per config field plus --preset/--out/--checkpoint/..."""
    parser = _Parser(
        prog="python -m hnet_utils.run",
        description="Continual learning with hypernetworks and baselines. Options left out "
                    "take the value of the chosen preset.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--preset", default="paper",
                        help="starting configuration: " + "; ".join(
                            f"{b}: {', '.join(preset_names(b))}" for b in BENCHMARKS))
    parser.add_argument("--out", default=None, help="write the results JSON to this path")
    parser.add_argument("--checkpoint", default=None,
                        help="save the trained models to this path (torch.save; loads with "
                             "weights_only=True). If it already holds a finished run of the same "
                             "configuration, its stored results are reused instead of training "
                             "again")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing --out / --checkpoint files (else they are refused)")
    parser.add_argument("--evaluate", default=None, metavar="CHECKPOINT",
                        help="evaluate the models of a --checkpoint file on the test sets of its "
                             "benchmark and print the final row; no training. Takes the stored "
                             "configuration (only --device and --threads may be given)")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one 'error:' line")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved configuration and exit without training")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (torch.set_num_threads); default: torch's "
                             "choice. 1 is often fastest for small models on a busy machine")
    group = parser.add_argument_group("experiment configuration (ExperimentConfig fields)")
    for f in fields(ExperimentConfig):
        flag = "--" + f.name.replace("_", "-")
        # options not given are absent from the namespace, so 'none' can be an override
        kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "help": FIELD_HELP[f.name]}
        if f.name in ("lookahead", "augment"):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = int if f.name == "scenario" else _parser_type(f.name, str(f.type))
            if f.name in _CHOICES:
                kwargs["choices"] = _CHOICES[f.name]
        group.add_argument(flag, dest=f.name, **kwargs)
    return parser


def config_from_args(args: argparse.Namespace) -> ExperimentConfig:
    """The configuration of parsed ``args``: preset values overridden by the given options."""
    given = {f.name: getattr(args, f.name) for f in fields(ExperimentConfig)
             if f.name != "benchmark" and hasattr(args, f.name)}
    return preset_config(args.benchmark, args.preset, **given)


def parse_config(argv: list[str] | None = None) -> tuple[argparse.Namespace, ExperimentConfig]:
    """Parse ``argv`` and build the validated configuration; bad input exits with a message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = threads_problem(args.threads)
    if problem:
        parser.error(problem)
    for option, value in (("--out", args.out), ("--checkpoint", args.checkpoint)):
        if value is not None and not value.strip():
            parser.error(f"{option} is empty; give a file name")
    given = [f.name for f in fields(ExperimentConfig) if hasattr(args, f.name)]
    if args.evaluate is not None:
        extra = [n for n in given if n != "device"]
        others = [o for o, v in (("--out", args.out), ("--checkpoint", args.checkpoint),
                                 ("--print-config", args.print_config)) if v]
        if extra or others:
            options = ["--" + n.replace("_", "-") for n in extra] + others
            parser.error("--evaluate takes the configuration stored in the checkpoint; drop "
                         + ", ".join(options))
        return args, None
    if "benchmark" not in given:
        parser.error("the following arguments are required: --benchmark (or --evaluate CHECKPOINT)")
    try:
        cfg = config_from_args(args)
    except ValueError as err:
        if args.debug:
            raise
        parser.error(str(err))
    return args, cfg


def config_to_argv(cfg: ExperimentConfig, preset: str = "paper") -> list[str]:
    """The options that rebuild ``cfg`` from ``preset``: the inverse of :func:`parse_config`.

    Gives ``--benchmark``, ``--method`` and ``--scenario`` always, then one
    option per field whose value differs from the preset's (lists as
    ``400,400``, ``None`` as ``none``, ``--lookahead`` / ``--no-lookahead``).
    ``parse_config(config_to_argv(cfg))`` returns ``cfg``.
    """
    base = preset_config(cfg.benchmark, preset, method=cfg.method, scenario=cfg.scenario)
    argv = ["--benchmark", cfg.benchmark]
    if preset != "paper":
        argv += ["--preset", preset]
    argv += ["--method", cfg.method, "--scenario", str(cfg.scenario)]
    for f in fields(ExperimentConfig):
        value = getattr(cfg, f.name)
        if f.name in ("benchmark", "method", "scenario") or value == getattr(base, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.name in ("lookahead", "augment"):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, tuple):
            argv += [flag, ",".join(str(v) for v in value)]
        else:
            argv += [flag, "none" if value is None else str(value)]
    return argv


def format_summary(result) -> str:
    """A few lines describing a result: per-task final values, average, BWT, time."""
    unit = "%" if result.metric == "accuracy" else " (MSE)"
    lines = ["during : " + "  ".join(f"{v:.4g}" for v in result.during),
             "final  : " + "  ".join(f"{v:.4g}" for v in result.final),
             f"average final {result.metric}: {result.average_final:.4g}{unit}",
             f"backward transfer: {result.backward_transfer:+.4g}"]
    if result.task_inference_accuracy is not None:
        lines.append(f"task inferred right: {result.average_task_inference_accuracy:.4g}% (mean over tasks)")
    lines.append(f"wall time {result.wall_time_s:.1f} s on {result.device}")
    return "\n".join(lines)


def check_before_training(cfg: ExperimentConfig) -> int:
    """What :func:`validate_config` cannot see without models, all before any data are loaded:
    the device exists, ``val_size`` leaves training data in every task, the chunk size fits the
    target and the networks fit in memory (shapes only: the target is built on the ``meta``
    device, the hypernetwork is counted, nothing is allocated). Returns the expected size of the
    run's checkpoint in bytes."""
    import torch

    from hnet_utils.continual.learners import build_target
    from hnet_utils.continual.training import resolve_device
    from hnet_utils.data.benchmarks import SHAPES, SMALLEST_TASK_TRAIN
    from hnet_utils.networks.hypernet import check_chunk_size, hypernetwork_size

    resolve_device(cfg.device)
    largest = SMALLEST_TASK_TRAIN[cfg.benchmark] - 1
    if cfg.val_size is not None and cfg.val_size > largest:
        raise ValueError(f"--val-size {cfg.val_size} leaves no training data: the smallest task "
                         f"of {cfg.benchmark} has {largest + 1:,} training samples (at most "
                         f"{largest:,})")
    input_shape, classes = SHAPES[cfg.benchmark]
    regression = cfg.benchmark == "regression"
    with torch.device("meta"):  # shapes only: nothing is allocated
        n_target = sum(p.numel() for p in build_target(cfg, input_shape, classes, regression).parameters())
    chunked = cfg.hnet_type == "chunked"
    uses_hnet = cfg.method in ("hnet", "hnet_r", "hnet_tir")
    if chunked and cfg.method in ("hnet", "hnet_tir"):  # the classifier's hypernetwork
        check_chunk_size(cfg.chunk_size, n_target)
    n_hnet = hypernetwork_size(n_target, cfg.embedding_dim, cfg.hnet_hidden,
                               cfg.chunk_size if chunked else None,
                               cfg.chunk_embedding_dim if chunked else None)
    stored = (n_hnet if uses_hnet else 0) + n_target * (
        cfg.num_tasks if cfg.method == "scratch" else 1)
    needed, free = BYTES_PER_TRAINED_PARAMETER * stored, available_memory()
    if free is not None and needed > free:
        raise ValueError(f"the networks of this configuration have {stored:,} parameters: about "
                         f"{needed / 2**30:.1f} GiB to train them, and this machine has "
                         f"{free / 2**30:.1f} GiB free; make --target-hidden, --hnet-hidden or "
                         "--chunk-size smaller")
    return 4 * stored


#: Memory per trained float32 parameter: the value, its gradient and Adam's two moments.
BYTES_PER_TRAINED_PARAMETER = 16
#: Bytes to keep free for a results file (a few kilobytes of JSON; generous).
RESULTS_FILE_BYTES = 1 << 20


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def resume_path(output: str) -> Path:
    """Where ``run`` keeps the state of an unfinished run whose first output is ``output``:
    ``.<name>.resume.pt`` beside it (``continual/resume.py``)."""
    path = Path(output)
    return path.parent / f".{path.name[:100]}.resume.pt"


def existing_run(path, cfg: ExperimentConfig):
    """The stored result of ``path`` if it is a checkpoint of a finished run of ``cfg`` made on
    the data that a run of ``cfg`` would use here now.

    Raises ``ValueError`` (a :class:`CheckpointError` for unreadable files)
    when ``path`` is some other file, so that it is not silently overwritten, and when the run
    was made on other data (the full dataset then, a shipped subset now), so that its numbers
    are not passed off as this run's.
    """
    from hnet_utils.experiments.results import read_checkpoint, stored_result

    raw = read_checkpoint(path)
    result = stored_result(raw)
    if result is None:
        raise ValueError(f"checkpoint {path} already exists but holds no results (an older "
                         "format); pass --overwrite to train again and replace it")
    wanted, stored = cfg.to_dict(), dict(result.config)
    differences = [f"{k}: checkpoint has {stored.get(k)!r}, asked for {v!r}"
                   for k, v in wanted.items() if k != "device" and stored.get(k) != v]
    if differences:
        raise ValueError(f"checkpoint {path} already exists and holds a run of another "
                         "configuration (" + "; ".join(differences) + "); pass --overwrite "
                         "to replace it, or choose another path")
    from hnet_utils.continual.training import data_of
    from hnet_utils.data.benchmarks import describe_data, same_data

    here = data_of(cfg)
    if not same_data(result.data, here):
        raise ValueError(f"checkpoint {path} holds a run of this configuration made on "
                         f"{describe_data(result.data)}; the data here are {describe_data(here)}, "
                         "so its results are not this run's. Make the same data available (e.g. "
                         "HNET_DATA_MIRROR), or pass --overwrite to train anew on these data")
    return result


def _evaluate(args) -> list[float]:
    """``--evaluate CHECKPOINT``: the final row of the stored models on the test sets."""
    from hnet_utils.continual.training import evaluate_checkpoint
    from hnet_utils.experiments.configs import describe_config

    cfg, values = evaluate_checkpoint(args.evaluate, device=getattr(args, "device", None))
    metric = "mse" if cfg.benchmark == "regression" else "accuracy"
    print(f"checkpoint {args.evaluate}: {describe_config(cfg)}")
    print(f"final {metric} per task: " + "  ".join(f"{v:.4g}" for v in values))
    print(f"average final {metric}: {sum(values) / len(values):.4g}"
          + ("%" if metric == "accuracy" else ""))
    return values


def _run(args, cfg: ExperimentConfig | None, progress: dict):
    """:func:`main` after parsing: checks, then training (or reuse), then atomic writes.

    ``progress`` is filled in as the run goes (``resume_file``, ``tasks_done``), so that an
    interrupted run can say what it kept."""
    import torch

    from hnet_utils.continual.resume import can_resume_method
    from hnet_utils.continual.training import train_continual

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if cfg is None:
        return _evaluate(args)
    check_distinct({"--out": args.out, "--checkpoint": args.checkpoint})
    if args.out is not None:
        check_output_path(args.out, "results file", args.overwrite, size_bytes=RESULTS_FILE_BYTES)
    checkpoint_bytes = check_before_training(cfg)
    if args.checkpoint is not None:
        if Path(args.checkpoint).is_file() and not args.overwrite:
            result = existing_run(args.checkpoint, cfg)
            print(f"checkpoint {args.checkpoint} holds a finished run of this configuration: "
                  "reusing it instead of training again (--overwrite trains anew)")
            print(format_summary(result))
            if args.out is not None:
                _write_outputs(result, args, write_checkpoint=False)
            return result
        check_output_path(args.checkpoint, "checkpoint", args.overwrite, size_bytes=checkpoint_bytes)
    outputs = [(p, w) for p, w in ((args.checkpoint, "checkpoint"), (args.out, "results file")) if p]
    with contextlib.ExitStack() as held:
        for path, what in outputs:  # a second run asking for the same file is refused now
            held.enter_context(Reservation(path, what))
            check_output_path(path, what, args.overwrite)  # written by a run that just ended?
        resume_file = None
        if outputs and can_resume_method(cfg.method):
            resume_file = progress["resume_file"] = resume_path(outputs[0][0])
            if resume_file.is_file():
                print(f"resuming an interrupted run from {resume_file}")

        def count_tasks(state):
            if state.event == "task_end":
                progress["tasks_done"] = state.task + 1

        result = train_continual(cfg, progress=not args.no_progress, resume_file=resume_file,
                                 callback=count_tasks, callback_every=10**9)
        print(format_summary(result))
        _write_outputs(result, args)
        if resume_file is not None:
            resume_file.unlink(missing_ok=True)  # the results are safe: nothing left to resume
    return result


def _write_outputs(result, args, write_checkpoint: bool = True) -> None:
    """Write the results file and the checkpoint, each on its own: a failure of one (a full
    disk) leaves the other written, names its real cause, and prints the results JSON so that
    the run's numbers are not lost. Raises :class:`OutputWriteError` after trying both."""
    from hnet_utils.experiments.results import save_run_checkpoint

    failures = []
    if args.out is not None:
        try:
            print(f"results written to {result.save(args.out, replace=args.overwrite)}")
        except (OutputWriteError, OutputPathError) as err:
            failures.append(str(err))
            print("the results file could not be written; its content follows, so that the "
                  "run's numbers are not lost:\n" + result.to_json(), end="")
    if args.checkpoint is not None and write_checkpoint:
        try:
            path = save_run_checkpoint(result, args.checkpoint, replace=args.overwrite)
            print(f"checkpoint written to {path}")
        except (OutputWriteError, OutputPathError) as err:
            failures.append(str(err))
    if failures:
        raise OutputWriteError(None, "; ".join(failures))


def interrupted_message(progress: dict) -> str:
    """The one line an interrupted run ends with: what it kept and how to resume."""
    resume_file, done = progress.get("resume_file"), progress.get("tasks_done", 0)
    if resume_file is not None and done and Path(resume_file).is_file():
        return (f"interrupted after task {done}: no results written; the state after task {done} "
                f"is kept in {resume_file}, and the same command resumes from there")
    if resume_file is not None:
        return "interrupted before the first task ended: nothing written, nothing to resume"
    return ("interrupted: no results written; this run keeps no state between tasks (no --out or "
            "--checkpoint, or a replay method), so the same command starts from task 1")


def main(argv: list[str] | None = None):
    """Entry point; returns the :class:`ContinualResult` (None with --print-config; the final
    row with --evaluate). An expected error prints one ``error:`` line and exits with status 2;
    an interruption (Ctrl-C, SIGTERM) one line saying what was kept, with status 130."""
    args, cfg = parse_config(argv)
    if args.print_config:
        import json

        print(json.dumps(cfg.to_dict(), indent=2))
        return None
    progress: dict = {}
    try:
        return _run(args, cfg, progress)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"\n{interrupted_message(progress)}", file=sys.stderr)
        raise SystemExit(130) from None
    except EXPECTED_ERRORS as err:
        if args.debug:
            raise
        print(f"error: {err}\n{HINT}", file=sys.stderr)
        raise SystemExit(2) from None


def stop_on_sigterm() -> None:
    """Treat SIGTERM (``kill``, a batch system's time limit) like Ctrl-C: the run ends with the
    same one line and keeps the same state."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


if __name__ == "__main__":
    stop_on_sigterm()
    main()
