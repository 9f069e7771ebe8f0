"""Run every benchmark in BENCHMARKS and print one table.

Each benchmark is a function returning Measurements; a baseline measured in
the same run shows how far the measured code is from a trivial loop over the
same input, so that the ratio says something even on a slow machine.

    python -m bench.run            # all benchmarks
    python -m bench.run parse      # those whose name contains "parse"
    python -m bench.run refresh    # the refresh and web targets only
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bench.synthetic import synthetic_listing
from feedsvc.listing import parse_text_listing


@dataclass(frozen=True)
class Measurement:
    """One timed run: ``units`` things (items, lines, ...) done in ``seconds``."""

    name: str
    units: int
    unit: str
    seconds: float
    target_per_second: float | None = None

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else float("inf")


Benchmark = Callable[[], Sequence[Measurement]]

REPEATS = 3


def best_time(work: Callable[[], object]) -> float:
    """The fastest of REPEATS runs: the least disturbed by the rest of the machine.

    Each run starts after a full garbage collection, and freeing what it made
    happens after its clock stops: neither belongs to the work measured.
    """
    timings = []
    for _ in range(REPEATS):
        gc.collect()
        start = time.perf_counter()
        made = work()
        timings.append(time.perf_counter() - start)
        del made
    return min(timings)


def parse_large_listing() -> list[Measurement]:
    """Parse a 100,000-item numbered listing; baseline: split it into lines and strip them."""
    count = 100_000
    # Every title ends in a number, which makes the parser look for a date.
    text = synthetic_listing(count)

    def baseline() -> int:
        kept = 0
        for line in text.splitlines():
            if line.strip():
                kept += 1
        return kept

    check_parse(text, count)
    return [
        Measurement("baseline: splitlines + strip", count, "items", best_time(baseline)),
        Measurement("parse_text_listing, detected language", count, "items",
                    best_time(lambda: parse_text_listing(text)), target_per_second=50_000),
        Measurement("parse_text_listing, language='en'", count, "items",
                    best_time(lambda: parse_text_listing(text, language="en")),
                    target_per_second=50_000),
    ]


def check_parse(text: str, count: int) -> None:
    """Fail loudly rather than time a parser that gets the listing wrong."""
    result = parse_text_listing(text)
    if len(result.items) != count or result.warnings:
        raise AssertionError(f"expected {count} clean items, got {len(result.items)}")


def serve_published_feeds() -> Sequence[Measurement]:
    """Answer feed polls through the web layer (see bench/web.py)."""
    # Imported here so that the parser benchmark runs without the web layer.
    from bench.web import serve_published_feeds as measure

    return measure()


BENCHMARKS: list[Benchmark] = [parse_large_listing, serve_published_feeds]


def format_table(measurements: Sequence[Measurement]) -> str:
    baseline = measurements[0].seconds
    header = (
        f"{'benchmark':<40} {'units':>9} {'seconds':>8} {'per second':>12} {'x base':>7}  target"
    )
    rows = [header, "-" * len(header)]
    for m in measurements:
        verdict = ""
        if m.target_per_second is not None:
            ok = "ok" if m.rate >= m.target_per_second else "MISSED"
            verdict = f">= {m.target_per_second:,.0f}/s {ok}"
        rows.append(
            f"{m.name:<40} {m.units:>9,} {m.seconds:>8.3f} {m.rate:>12,.0f} "
            f"{m.seconds / baseline:>7.1f}  {verdict}"
        )
    return "\n".join(rows)


def refresh_cost() -> tuple[str, bool]:
    """Refresh and web worker cost as history grows, against each target (bench/refresh.py)."""
    from bench.refresh import run_all

    return run_all()


def main(argv: Sequence[str]) -> int:
    wanted = argv[0] if argv else ""
    missed = False
    for benchmark in BENCHMARKS:
        if wanted not in benchmark.__name__:
            continue
        measurements = benchmark()
        print(f"{benchmark.__name__}: {(benchmark.__doc__ or '').strip()}")
        print(format_table(measurements))
        print()
        missed |= any(
            m.target_per_second is not None and m.rate < m.target_per_second
            for m in measurements
        )
    if wanted in refresh_cost.__name__:
        table, met = refresh_cost()
        print(f"refresh_cost: {(refresh_cost.__doc__ or '').strip()}")
        print(table)
        missed |= not met
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
