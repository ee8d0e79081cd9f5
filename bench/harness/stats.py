"""Summary statistics of a list of samples, as stored in the results JSON."""

import statistics


def summarize(samples: list[float]) -> dict:
    """median, min, mean, stddev (sample, n-1; 0 for one sample), max and run count."""
    if not samples:
        raise ValueError("no samples to summarize")
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "mean": statistics.fmean(samples),
        "stddev": statistics.stdev(samples) if len(samples) > 1 else 0.0,
        "max": max(samples),
        "runs": len(samples),
    }
