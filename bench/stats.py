"""Summary statistics of a list of numbers, in plain Python (no numpy)."""

# Probabilities at which the distribution is kept for plotting: evenly spaced,
# denser in the upper tail.
CDF_P = sorted(
    set([i / 200 for i in range(201)] + [0.99 + i / 1000 for i in range(10)] + [0.9995, 0.9999])
)


def quantile(sorted_values, p):
    """Nearest-rank quantile of an already sorted list (p in [0, 1])."""
    n = len(sorted_values)
    return sorted_values[min(n - 1, max(0, int(p * n)))]


RAW_MAX = 5000  # runs with at most this many samples keep them all (pooled later)


def summarize(values):
    v = sorted(values)
    if not v:
        return {
            "n": 0,
            "min": None,
            "median": None,
            "mean": None,
            "p90": None,
            "p99": None,
            "p999": None,
            "max": None,
            "cdf": [],
        }
    return {
        "n": len(v),
        "min": v[0],
        "median": quantile(v, 0.5),
        "mean": sum(v) / len(v),
        "p90": quantile(v, 0.90),
        "p99": quantile(v, 0.99),
        "p999": quantile(v, 0.999),
        "max": v[-1],
        "cdf": [[p, quantile(v, p)] for p in CDF_P],
        "raw": v if len(v) <= RAW_MAX else None,
    }
