"""What the repeated-run scripts share (`profile_repeats.py`, `threads_repeats.py`): the median and range of
one figure over runs, under the key names the speed pages read."""
import numpy as np


def spread(runs: list[dict], key: str) -> dict:
    """{"median_KEY", "min_KEY", "max_KEY"} of runs[i][key] over the runs, as floats."""
    values = np.array([r[key] for r in runs], dtype=np.float64)
    return {f"median_{key}": float(np.median(values)), f"min_{key}": float(values.min()),
            f"max_{key}": float(values.max())}
