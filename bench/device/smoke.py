"""A short smoke test of a freshly installed machine: both backends import, every task's env builds, one
jitted JAX step and update, one torch step and update run on the default device.

    python -m bench.device.smoke [--out smoke.json] [--task pendulum-swingup] [--no-torch]

Each check is timed and recorded (passed / failed with the error, or skipped with the reason) in the JSON; one
failing check never stops the others. Exit code 0 when every check passed, 1 otherwise. Run by
bench/device/run.py before the budgeted benchmark, so a broken install shows in seconds, not after the first
compile. `--no-torch` (a JAX-only rehearsal, `.ci/gpu_run_rehearsal.sh`) leaves torch out on purpose: no torch
import, no dm_control env, the torch step skipped with that reason; without it a missing torch fails the smoke.
With `TDMPC_DEPRECATIONS_AS_ERRORS` set, the DeprecationWarnings those packages issue are errors
(`bench.device.dryrun.deprecations_as_errors`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.device.dryrun import deprecations_as_errors, packages_from_env

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # share the GPU with torch (before JAX starts)
os.environ.setdefault("MUJOCO_GL", "disable")

SMOKE_TASK = "pendulum-swingup"  # MJX compiles it fastest


def _tiny_config(backend: str, task: str):
    from tdmpc_parity.analysis.benchmeta import bench_config

    return bench_config("cpu", backend=backend, task=task, batch_size=16, num_samples=32, num_elites=4,
                        num_pi_trajs=4, horizon=3)


class CheckSkipped(Exception):
    """Raised by a check that does not apply to this run; `run_checks` records it as skipped with the reason."""


NO_TORCH_REASON = "torch left out on purpose (--no-torch: a JAX-only rehearsal)"


def check_imports(no_torch: bool = False) -> dict[str, Any]:
    import dm_control.suite  # noqa: F401
    import flax
    import gymnasium
    import jax
    import mujoco
    import mujoco_playground  # noqa: F401
    import optax
    from mujoco import mjx  # noqa: F401

    out: dict[str, Any] = {"torch": NO_TORCH_REASON}
    if not no_torch:
        import torch

        out = {"torch": torch.__version__, "torch_cuda": torch.cuda.is_available(),
               "torch_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    return {**out, "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "jax_devices": [str(d) for d in jax.devices()],
            "flax": flax.__version__, "optax": optax.__version__, "mujoco": mujoco.__version__,
            "gymnasium": gymnasium.__version__}


def check_task_envs(no_torch: bool = False) -> dict[str, Any]:
    """Every task both backends run (the device benchmarks' domain): the dm_control env (torch; not with
    `no_torch`) and the Playground env (jax) are built (XMLs and assets present); the task table's observation and
    action sizes are checked against both. Torch-only tasks (dog: its assets are stripped from the bundle) are
    not built."""
    from jax_impl.env import MJXEnv
    from tdmpc_parity.core.config import load_config
    from tdmpc_parity.core.tasks import TASKS

    built: dict[str, list[str]] = {}
    for name, spec in sorted(TASKS.items()):
        if spec.playground is None:
            continue
        built[name] = []
        if not no_torch:
            from torch_ref.env import make_env

            env = make_env(load_config("official", values={"task": name}), seed=1)
            obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
            env.close()
            if (obs_dim, act_dim) != (spec.obs_dim, spec.action_dim):
                raise AssertionError(f"{name}: dm_control env has obs/action {obs_dim}/{act_dim}, task table "
                                     f"{spec.obs_dim}/{spec.action_dim}")
            built[name].append("torch")
        mj = MJXEnv(load_config("official", values={"task": name, "backend": "jax"}))
        if (mj.obs_dim, mj.action_dim) != (spec.obs_dim, spec.action_dim):
            raise AssertionError(f"{name}: MJX env has obs/action {mj.obs_dim}/{mj.action_dim}")
        built[name].append("jax")
    return built


def check_jax_step(task: str) -> dict[str, Any]:
    import jax
    import numpy as np

    from jax_impl.agent import TDMPC2
    from jax_impl.env import MJXEnv

    cfg = _tiny_config("jax", task)
    env = MJXEnv(cfg)
    # jitted: eagerly, each of the reset's hundreds of small ops compiles on its own (20 s on a 2-core CPU)
    state = jax.jit(env.reset_batch, static_argnums=1)(jax.random.PRNGKey(0), 2)
    t0 = time.perf_counter()
    step = jax.jit(env.step_batch)
    state, tr = step(state, jax.numpy.zeros((2, env.action_dim)))
    jax.block_until_ready(tr)
    env_seconds = time.perf_counter() - t0
    agent = TDMPC2(cfg)
    agent_state = jax.jit(agent.init)(jax.random.PRNGKey(1))
    rng = np.random.default_rng(0)
    H, B = cfg.horizon, cfg.batch_size
    batch = (rng.standard_normal((H + 1, B, cfg.obs_dim)).astype(np.float32),
             rng.uniform(-1, 1, (H, B, cfg.action_dim)).astype(np.float32),
             rng.standard_normal((H, B, 1)).astype(np.float32))
    t0 = time.perf_counter()
    agent_state, metrics = jax.jit(lambda s, b: agent.update(s, b, 0))(agent_state, batch)
    loss = float(metrics["total_loss"])
    if not np.isfinite(loss) or not np.all(np.isfinite(np.asarray(tr.reward))):
        raise AssertionError(f"non-finite JAX step: loss {loss}, reward {tr.reward}")
    return {"device": str(jax.devices()[0]), "env_step_compile_and_run_s": round(env_seconds, 2),
            "update_compile_and_run_s": round(time.perf_counter() - t0, 2), "total_loss": loss}


def check_torch_step(task: str, no_torch: bool = False) -> dict[str, Any]:
    if no_torch:
        raise CheckSkipped(NO_TORCH_REASON)
    import numpy as np
    import torch

    from torch_ref.agent import TDMPC2
    from torch_ref.env import make_env

    cfg = _tiny_config("torch", task)
    env = make_env(cfg, seed=1)
    env.reset()
    _, reward, *_ = env.step(np.zeros(cfg.action_dim, np.float32))
    env.close()
    agent = TDMPC2(cfg)
    g = torch.Generator().manual_seed(0)
    H, B = cfg.horizon, cfg.batch_size
    kw = {"device": agent.device, "dtype": agent.dtype}
    batch = (torch.randn((H + 1, B, cfg.obs_dim), generator=g).to(**kw),
             (torch.rand((H, B, cfg.action_dim), generator=g) * 2 - 1).to(**kw),
             torch.randn((H, B, 1), generator=g).to(**kw))
    t0 = time.perf_counter()
    metrics = agent.update(batch, env_steps=0)
    if agent.device.type == "cuda":
        torch.cuda.synchronize()
    loss = float(metrics["total_loss"])
    if not np.isfinite(loss) or not np.isfinite(reward):
        raise AssertionError(f"non-finite torch step: loss {loss}, reward {reward}")
    return {"device": str(agent.device), "update_s": round(time.perf_counter() - t0, 2), "total_loss": loss}


def run_checks(checks: list[tuple[str, Callable[[], Any]]]) -> list[dict[str, Any]]:
    results = []
    for name, fn in checks:
        t0 = time.perf_counter()
        try:
            detail = fn()
            entry = {"check": name, "passed": True, "detail": detail}
        except CheckSkipped as exc:
            entry = {"check": name, "passed": True, "skipped": str(exc)}
        except Exception as exc:  # every check is reported; one failure never hides the others
            entry = {"check": name, "passed": False, "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc(limit=8)}
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        status = "ok" if entry["passed"] else "FAILED: " + entry["error"]
        status = f"skipped: {entry['skipped']}" if "skipped" in entry else status
        print(f"smoke {name:<12} {entry['seconds']:7.2f} s  {status}", flush=True)
        if "detail" in entry:
            print(f"    {json.dumps(entry['detail'], default=str)[:600]}", flush=True)
        results.append(entry)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.device.smoke", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="write the results as JSON here")
    p.add_argument("--task", default=SMOKE_TASK, help="task of the step checks (default: %(default)s)")
    p.add_argument("--no-torch", action="store_true",
                   help="leave torch out on purpose (a JAX-only rehearsal); without it a missing torch fails")
    args = p.parse_args(argv)
    packages = packages_from_env()
    if packages:  # before anything imports jax
        deprecations_as_errors(packages)
        print(f"smoke: DeprecationWarnings issued by {', '.join(packages)} are errors", flush=True)
    no_torch = args.no_torch
    checks = [("imports", lambda: check_imports(no_torch)), ("task_envs", lambda: check_task_envs(no_torch)),
              ("jax_step", lambda: check_jax_step(args.task)),
              ("torch_step", lambda: check_torch_step(args.task, no_torch))]
    results = run_checks(checks)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"checks": results}, indent=2, default=str) + "\n")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
