"""A wall-clock budget for a training run (`train --max-minutes M`).

The budget is spent when at least `seconds` have passed since the run (this process) started. A trainer checks it
only at an episode end, after that boundary's eval, diagnostics and checkpoint are logged; then it stops there,
writes its final checkpoint and model, and says how to continue (`train --resume RUN_DIR`): the run's rows are
those of an uninterrupted run cut at that episode end.
"""

from __future__ import annotations

import time


class TimeBudget:
    """`spent()` is True once `seconds` (None: never) have passed since construction."""

    def __init__(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"--max-minutes must be > 0, got {seconds / 60:g}")
        self.seconds = seconds
        self.start = time.perf_counter()

    def spent(self) -> bool:
        return self.seconds is not None and time.perf_counter() - self.start >= self.seconds

    def message(self, run_dir: str, env_steps: int) -> str:
        """The line a stopped run prints: where it stopped and how to go on."""
        return (f"stopped by --max-minutes {self.seconds / 60:g} at {env_steps} env steps (an episode end, "
                f"checkpointed); continue with: tdmpc-parity train --resume {run_dir}")
