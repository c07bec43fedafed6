"""A time budget for a benchmark session (`pytest bench/ --bench-budget SECONDS`), for scarce GPU minutes.

With a budget the cases run in priority order (`case_priority`: the seed's configuration — the `fast`
training iteration with the policy collector — and the official training iteration of both backends first,
then the cheap env/update/plan cases, the expensive ones last) and each case gets only what is left:
* before a case: fewer than `MIN_START_SECONDS` left -> skipped with the reason;
* after its untimed first call (compile) and one measured warm-up call: the rounds are as many calls as fit
  in `min(case_seconds, left - RESERVE_SECONDS)`, at most the profile's rounds; fewer than `MIN_ROUNDS`
  fit -> skipped with the reason (compile seconds, seconds per call, seconds left).
So the session overruns its budget by at most one case's set-up and first call. Every skip is kept with its
reason in the benchmark JSON (`skipped_cases`, by bench/conftest.py), and the JSON is rewritten
after every case, so a kill loses at most the running case.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

MIN_START_SECONDS = 10.0  # a case needs at least this much left to start
RESERVE_SECONDS = 5.0  # kept back when sizing rounds (JSON writing, teardown)
MIN_ROUNDS = 3  # fewer timed calls than this is no measurement
DEFAULT_CASE_SECONDS = 20.0  # timed seconds per case at most (rounds are cut to fit)

# Lower runs first. Keys: (bench test function, case id) with "*" wildcards at the end of the id.
# The seed's configuration and the official one come first (both backends next to each other, so a pair is
# never split by the budget), then the cheap cases, the expensive ones last.
PRIORITIES: tuple[tuple[str, str, int], ...] = (
    ("test_bench_train_iteration", "*-fast-*-policy", 0),
    ("test_bench_train_iteration", "*-official-*", 1),
    ("test_bench_env_step", "*-E1", 2),
    ("test_bench_update", "*-noglass", 3),
    ("test_bench_plan", "*-E1-mppi", 4),
    ("test_bench_env_step", "*", 5),
    ("test_bench_update", "*-glass", 6),
    ("test_bench_plan", "*", 7),
    ("test_bench_train_iteration", "*-fast-*-mppi", 8),
)
LAST = 99


def _match(pattern: str, text: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(text, pattern)


def case_priority(function: str, case_id: str) -> int:
    """Rank of a benchmark case (lower runs first); unknown cases run last."""
    for fn, pattern, rank in PRIORITIES:
        if fn == function and _match(pattern, case_id):
            return rank
    return LAST


class BudgetSkip(Exception):
    """Raised inside a case when the budget cannot fit it; the caller turns it into pytest.skip."""


@dataclass
class Budget:
    """Seconds left until `deadline` (time.monotonic()) and the timed seconds one case may take."""

    seconds: float
    case_seconds: float = DEFAULT_CASE_SECONDS
    deadline: float = 0.0

    def __post_init__(self) -> None:
        if self.seconds <= 0 or self.case_seconds <= 0:
            raise ValueError(f"a benchmark budget needs positive seconds, got {self.seconds} / {self.case_seconds}")
        self.deadline = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check_start(self, expected: float | None = None) -> None:
        """BudgetSkip when a new case cannot start: fewer than MIN_START_SECONDS left, or (a planned case,
        bench/device/plan.py) fewer than its `expected` seconds (compile + the minimum timed rounds)."""
        left = self.left()
        if left < MIN_START_SECONDS:
            raise BudgetSkip(f"budget: {max(left, 0):.0f} s of {self.seconds:.0f} s left, a case needs "
                             f">= {MIN_START_SECONDS:.0f} s to start")
        if expected is not None and expected > left:
            raise BudgetSkip(f"budget: planned at {expected:.0f} s (expected compile + {MIN_ROUNDS} timed calls, "
                             f"from the probe), {left:.0f} s left")

    def rounds(self, max_rounds: int, compile_seconds: float, call_seconds: float) -> int:
        """Timed rounds that fit (<= max_rounds); BudgetSkip when fewer than MIN_ROUNDS fit."""
        left = self.left() - RESERVE_SECONDS
        window = min(self.case_seconds, left)
        n = min(max_rounds, int(window // max(call_seconds, 1e-9)))
        if n < MIN_ROUNDS:
            raise BudgetSkip(f"budget: first call (compile) {compile_seconds:.1f} s, one call {call_seconds:.2f} s, "
                             f"{max(left, 0):.0f} s left: fewer than {MIN_ROUNDS} timed calls fit")
        return n
