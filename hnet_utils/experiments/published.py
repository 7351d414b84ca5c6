"""The paper's published numbers: the one place in the project where they are typed.

Table 1 of von Oswald et al. (ICLR 2020) gives the average final test accuracy (%) over all
tasks after learning all of them, as mean ± SEM over seeds. :data:`PUBLISHED_TABLE1` holds
its 42 cells, each with its source and whether it was **verified** from a primary source or
is **recalled** (a value of the same table not re-read from the paper: a target, not a
fact; docs/method.md §5).

Everything that shows a published number reads it from here: the notebooks,
``scripts/make_tables.py`` (and through it the tables of ``results/README.md``),
:func:`hnet_utils.experiments.studies.results_table` and
:mod:`hnet_utils.experiments.reproduction` (notebook 06). ``str(published)`` marks recalled
values as such; callers label the column as the paper's. ``tests/test_published_table.py``
fails when a published value is typed anywhere else.

* :data:`PUBLISHED_TABLE1`: ``{(benchmark, scenario, column label): Published}``;
* :func:`method_label`: the paper's name (its column label) of one of our methods;
* :func:`published_for`, :func:`published_text`: the paper's number for one of our runs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published number: ``value`` (%), ``sem`` (± SEM over seeds, when given), where it
    comes from and whether it was ``verified`` from a primary source or ``recalled``."""

    value: float
    sem: float | None
    status: str
    source: str

    def text(self, unit: str = "") -> str:
        """``"69.48 ± 0.80"``, ``"87.01 (recalled)"``; ``unit`` goes after the number
        (``text(" %")``: ``"87.01 % (recalled)"``)."""
        number = f"{self.value:.2f}" + (f" ± {self.sem:.2f}" if self.sem is not None else "")
        return number + unit + ("" if self.status == "verified" else " (recalled)")

    def __str__(self) -> str:
        return self.text()


_TABLE1 = "von Oswald et al. (2020), Table 1, as quoted in docs/method.md §5"
_VDV = ("von Oswald et al. (2020), Table 1; agrees with the class-incremental table of "
        "van de Ven & Tolias (2019); docs/method.md §5")

#: Table 1 column labels, in the paper's order.
TABLE1_COLUMNS = ("EWC", "Online EWC", "SI", "DGR+distill", "HNET+ENT", "HNET+TIR", "HNET+R")
_VALUES = {  # (benchmark, scenario): one value per column of TABLE1_COLUMNS (docs/method.md §5)
    ("permuted_mnist", 1): (94.74, 95.96, 94.75, 97.51, 97.57, 97.57, 97.87),
    ("permuted_mnist", 2): (94.31, 94.42, 95.33, 97.35, 92.80, 97.58, 97.60),
    ("permuted_mnist", 3): (25.04, 33.88, 29.31, 96.38, 91.75, 97.59, 97.76),
    ("split_mnist", 1): (98.64, 99.12, 99.09, 99.61, 99.79, 99.79, 99.83),
    ("split_mnist", 2): (63.95, 64.32, 65.36, 96.83, 87.01, 94.43, 98.00),
    ("split_mnist", 3): (20.01, 19.96, 19.99, 91.79, 69.48, 89.59, 95.30),
}
#: Cells read from a primary source (all others are recalled: targets, not facts).
_VERIFIED = {("split_mnist", 3, "EWC"), ("split_mnist", 3, "Online EWC"),
             ("split_mnist", 3, "SI"), ("split_mnist", 3, "HNET+ENT")}
_SEM = {("split_mnist", 3, "HNET+ENT"): 0.80}

#: ``PUBLISHED_TABLE1[(benchmark, scenario, column label)]``: the paper's average final test
#: accuracy (%) after all tasks (mean ± SEM over seeds in the paper).
PUBLISHED_TABLE1: dict[tuple[str, int, str], Published] = {
    (bench, s, label): Published(
        value, _SEM.get((bench, s, label)),
        "verified" if (bench, s, label) in _VERIFIED else "recalled",
        _VDV if (bench, s, label) in _VERIFIED and label != "HNET+ENT" else _TABLE1)
    for (bench, s), values in _VALUES.items() for label, value in zip(TABLE1_COLUMNS, values)
}

_LABELS = {"finetune": "fine-tuning", "scratch": "from scratch", "multitask": "multitask",
           "ewc": "EWC", "online_ewc": "Online EWC", "si": "SI", "dgr": "DGR+distill",
           "hnet_tir": "HNET+TIR", "hnet_r": "HNET+R"}


def method_label(method: str, scenario: int) -> str:
    """The paper's name of ``method``: HNET (task id given, CL1), HNET+ENT (CL2, CL3), EWC, ..."""
    if method == "hnet":
        return "HNET" if scenario == 1 else "HNET+ENT"
    return _LABELS.get(method, method)


def published_for(benchmark: str, scenario: int, method: str) -> Published | None:
    """The paper's number for our run of ``method`` (a method name of the engine, e.g.
    ``"hnet"``, ``"ewc"``), or None where the paper gives none (e.g. fine-tuning). In CL1
    every HNET variant is the plain task-conditioned hypernetwork, so our HNET in CL1 is
    compared with the HNET+ENT column."""
    label = "HNET+ENT" if method == "hnet" else method_label(method, scenario)
    return PUBLISHED_TABLE1.get((benchmark, scenario, label))


def published_text(benchmark: str, scenario: int, method: str, missing: str = "—",
                   unit: str = "") -> str:
    """:func:`published_for` as text (recalled values marked, see :meth:`Published.text`),
    ``missing`` where the paper gives no number."""
    pub = published_for(benchmark, scenario, method)
    return missing if pub is None else pub.text(unit)
