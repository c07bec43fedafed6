"""`tdmpc-parity profile`: where a training iteration's time goes, for either backend, on any machine.

The backend's `profile` module (torch_ref/profile.py, jax_impl/profile.py) returns seconds per training
iteration by stage (act = planning/acting, env = physics, buffer = insert + sampling, update = gradient
updates) and the seconds of a real iteration; this module renders the breakdown (share of the measured
iteration per stage; `other` = iteration - sum of stages: host work and launches, or, negative, what the
compiled JAX iteration fuses/overlaps) and writes it as JSON + markdown.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.fsutil import atomic_write_text
from tdmpc_parity.core.profile_stages import STAGE_WORDS, STAGES


def breakdown(result: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Rows (name, ms per iteration, % of the measured iteration): the stages, `other`, the iteration.

    other = iteration - sum(stages); shares are of the measured iteration, so stages + other = 100 %."""
    total = float(result["iteration_seconds"])
    if total <= 0:
        raise ValueError(f"iteration_seconds must be > 0, got {total}")
    stages = result["stage_seconds"]
    missing = [s for s in STAGES if s not in stages]
    if missing:
        raise ValueError(f"profile result lacks the stage(s) {missing}")
    rows = [(s, 1e3 * stages[s], 100 * stages[s] / total) for s in STAGES]
    other = total - sum(stages[s] for s in STAGES)
    rows.append(("other", 1e3 * other, 100 * other / total))
    rows.append(("iteration", 1e3 * total, 100.0))
    return rows


def render(result: dict[str, Any]) -> str:
    cfg = result["config"]
    lines = [
        f"# Profile: {result['backend']} · {cfg['task']} · profile {cfg['profile']} · {result['device']}",
        "",
        f"{cfg['n_envs']} env(s), collector {cfg['collector']}, {cfg['updates_per_iteration']} update(s) per "
        f"iteration, model latent {cfg['latent_dim']} / mlp {cfg['mlp_dim']}, batch {cfg['batch_size']}, "
        f"{cfg['dtype']}, matmul precision {cfg['matmul_precision']}; {result['iterations']} timed iterations "
        f"per stage; machine `{result['machine']}`.",
        "",
        "| stage | what | ms / iteration | share |",
        "|---|---|---:|---:|",
    ]
    for name, ms, share in breakdown(result):
        what = STAGE_WORDS.get(name, "host work, launches (negative: fused/overlapped in the compiled iteration)"
                               if name == "other" else "measured (the trainer's loop body / compiled chunk)")
        lines.append(f"| {name} | {what} | {ms:.3f} | {share:.1f} % |")
    if result.get("compile_seconds"):
        compiled = ", ".join(f"{k} {v:.1f} s" for k, v in result["compile_seconds"].items())
        lines += ["", f"First calls (compile + one run): {compiled}."]
    lines += ["", f"Command: `{result['command']}`", ""]
    return "\n".join(lines)


def run_profile(cfg: Config, iterations: int, out_dir: str | Path | None, command: str,
                progress: bool = True) -> tuple[dict[str, Any], Path | None]:
    """Profile `cfg` in its backend, print the table, write profile_<backend>_<task>_<profile>.json/.md."""
    from tdmpc_parity.core.machine import machine_info, machine_slug

    if iterations < 1:
        raise ValueError(f"--iterations must be >= 1, got {iterations}")
    if cfg.backend == "jax":
        from jax_impl.profile import profile
    else:
        from torch_ref.profile import profile
    result = profile(cfg, iterations, progress=progress)
    info = machine_info(probe_frameworks=False)
    result.update(machine=machine_slug(info), command=command, config=cfg.to_dict())
    text = render(result)
    print(text)
    if out_dir is None:
        return result, None
    folder = Path(out_dir) / result["machine"]
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"profile_{cfg.backend}_{cfg.task}_{cfg.profile}"
    atomic_write_text(folder / f"{stem}.json", json.dumps(result, indent=2, sort_keys=True))
    atomic_write_text(folder / f"{stem}.md", text)
    return result, folder / f"{stem}.md"
