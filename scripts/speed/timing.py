"""Interleaved timing, shared by the step benchmarks of this folder.

Scripts here run as ``python scripts/speed/<name>.py``, so this folder is on
``sys.path`` and ``from timing import interleaved_ms`` needs no path patching.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Hashable, Mapping


def interleaved_ms(steps: Mapping[Hashable, Callable[[], None]], warmup: int, rounds: int,
                   seed: int = 0) -> dict[Hashable, float]:
    """Median milliseconds of each step function, timed interleaved.

    Every round calls each function once, in a new random order (seeded), so
    all see the same machine load; the first ``warmup`` rounds are not timed.
    """
    times = {key: [] for key in steps}
    order, shuffler = list(steps), random.Random(seed)
    for round_ in range(warmup + rounds):
        shuffler.shuffle(order)
        for key in order:
            start = time.perf_counter()
            steps[key]()
            if round_ >= warmup:
                times[key].append(1000 * (time.perf_counter() - start))
    return {key: statistics.median(values) for key, values in times.items()}
