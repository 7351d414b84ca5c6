"""Pinned numbers of short fast-preset runs: a refactoring must not change what the engine computes.

The matrices below were produced by the engine on the shipped MNIST-mini
subset (no mirror) with one thread. A change that alters any of them changes
behaviour, and must say so in its commit (and update the pin deliberately).
"""

from __future__ import annotations

import math

import pytest

from hnet_utils.experiments.configs import preset_config
from hnet_utils.continual.training import train_continual

N = None
PINNED = {
    # regression re-pinned: full batches across epoch ends (training.BatchSampler) and the
    # authors' Xavier init of the hypernetwork in the regression preset (hnet_init="xavier")
    ("regression", "hnet", 1): [[0.0005992551147937775, N, N],
                                [0.5557665634155273, 0.3919099044799805, N],
                                [3.8646450805664063, 0.583927001953125, 0.1048512840270996]],
    ("regression", "finetune", 1): [[0.0006594833731651306, N, N],
                                    [0.4620035552978516, 0.38757171630859377, N],
                                    [20.455267333984374, 6.546329345703125, 0.02959583520889282]],
    # split_mnist hnet re-pinned: the paper preset gives the generated network one head per task
    # in CL1 and CL3 (hnet_heads="per_task", the authors' layout)
    ("split_mnist", "hnet", 1): [[100.0, N, N, N, N], [100.0, 93.0, N, N, N], [100.0, 93.0, 96.0, N, N],
                                 [99.0, 93.0, 93.0, 98.0, N], [99.0, 83.0, 84.0, 99.0, 91.0]],
    ("split_mnist", "hnet", 3): [[100.0, N, N, N, N], [98.0, 44.0, N, N, N], [98.0, 29.0, 44.0, N, N],
                                 [97.0, 13.0, 24.0, 84.0, N], [95.0, 21.0, 8.0, 70.0, 12.0]],
    ("split_mnist", "ewc", 1): [[99.0, N, N, N, N], [99.0, 52.0, N, N, N], [99.0, 52.0, 54.0, N, N],
                                [99.0, 52.0, 53.0, 58.0, N], [99.0, 53.0, 54.0, 58.0, 50.0]],
    ("split_mnist", "si", 2): [[99.0, N, N, N, N], [99.0, 47.0, N, N, N], [100.0, 48.0, 43.0, N, N],
                               [100.0, 49.0, 44.0, 68.0, N], [100.0, 50.0, 43.0, 68.0, 51.0]],
}


@pytest.mark.parametrize("benchmark, method, scenario", list(PINNED))
def test_fast_run_matches_pinned_matrix(no_mirror, benchmark, method, scenario):
    cfg = preset_config(benchmark, "fast", method=method, scenario=scenario)
    result = train_continual(cfg, progress=False)
    for i, (row, pinned_row) in enumerate(zip(result.matrix, PINNED[benchmark, method, scenario])):
        for j, (value, pinned) in enumerate(zip(row, pinned_row)):
            if pinned is None:
                assert value is None, (i, j)
            elif benchmark == "regression":  # MSE: equal up to float noise
                assert math.isclose(value, pinned, rel_tol=1e-3, abs_tol=1e-6), (i, j, value, pinned)
            else:  # accuracy on 100 test images: the same images right
                assert abs(value - pinned) < 0.5, (i, j, value, pinned)
