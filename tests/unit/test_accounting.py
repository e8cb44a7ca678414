from __future__ import annotations

from collections import deque

import numpy as np

from pipeline.accounting import Accounting, LatencyHistogram


def exact(samples: np.ndarray, q: float) -> float:
    """The nearest-rank percentile the processor used to report from its sorted samples."""
    ordered = np.sort(samples)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def test_a_stall_early_in_a_run_still_shows_in_its_p99() -> None:
    acc = Accounting()
    with acc.lock:
        acc.latencies_ms.extend([250.0] * 600)  # the stall: 600 events waited 250 ms
        for _ in range(50):  # then a long quiet run: 50,000 events at 2 ms
            acc.latencies_ms.extend(np.full(1000, 2.0))
    lat = acc.latency_percentiles()
    assert lat["p99"] == 250.0 and lat["max"] == 250.0 and lat["p50"] == 2.0
    assert len(acc.latencies_ms) == 50_600  # every sample counted


def test_percentiles_are_within_one_percent_of_every_sample() -> None:
    rng = np.random.default_rng(7)
    samples = np.concatenate([rng.lognormal(1.0, 0.8, 200_000), rng.uniform(200, 300, 3000), [0.0004, 4e6]])
    hist = LatencyHistogram()
    for part in np.array_split(samples, 97):
        hist.extend(iter(part.tolist()))  # as a generator, as the speed-layer writers hand them
    for q in (0.5, 0.9, 0.99, 0.999):
        got, want = hist.percentile(q), exact(samples, q)
        assert got is not None and abs(got - want) <= 0.01 * want, (q, got, want)
    assert hist.max == 4e6 and hist.min == 0.0004 and len(hist) == len(samples)


def test_memory_stays_fixed_however_many_samples() -> None:
    hist = LatencyHistogram()
    before = hist._counts.nbytes + hist._sums.nbytes
    for _ in range(20):
        hist.extend(np.random.default_rng(1).exponential(5.0, 50_000))
    assert hist._counts.nbytes + hist._sums.nbytes == before < 64 * 1024
    assert len(hist) == 1_000_000


def test_an_empty_run_reports_none_and_clear_starts_again() -> None:
    acc = Accounting()
    assert acc.latency_percentiles() == {"p50": None, "p99": None, "max": None}
    acc.latencies_ms.extend([5.0, float("nan")])  # a sample without a time is not a latency
    assert acc.latency_percentiles() == {"p50": 5.0, "p99": 5.0, "max": 5.0}
    acc.latencies_ms.clear()
    assert len(acc.latencies_ms) == 0 and acc.snapshot()["latency_ms"]["p99"] is None


def test_samples_read_back_sorted_and_histograms_merge() -> None:
    a, b = LatencyHistogram([3.0, 1.0]), LatencyHistogram([2.0])
    a.merge(b)
    assert list(a) == [1.0, 2.0, 3.0]  # a bucket of one sample gives it back exactly
    assert a.percentiles() == {"p50": 2.0, "p99": 3.0, "max": 3.0}


def test_plain_samples_still_give_percentiles() -> None:
    acc = Accounting(latencies_ms=deque([1.0, 2.0, 3.0, 4.0], maxlen=10))
    assert acc.latency_percentiles() == {"p50": 3.0, "p99": 4.0, "max": 4.0}
