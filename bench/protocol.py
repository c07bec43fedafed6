"""Shared pieces of the sps benchmarks: sizes per bench profile, cases (the physics cases among them), device
labels, the timing protocol, the JAX env rollout shared by the env and train benches, and the torch training-loop
body.

Nothing here imports torch or JAX at module level: a backend that is not installed only skips its cases.

Timing protocol (`time_call`): the first call is untimed and recorded as `compile_seconds` (JAX: trace +
XLA compile + one run; torch: lazy initialisation + one run); then `benchmark.pedantic(fn,
rounds=profile.rounds, warmup_rounds=profile.warmup_rounds, iterations=1)`. Every timed function blocks on
the device itself (`jax.block_until_ready`; `torch.cuda.synchronize` on CUDA) and threads its state into
the next call (JAX: donated arguments), so state-carrying benches really advance.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.budget import Budget, BudgetSkip
from tdmpc_parity.analysis.benchmeta import PHYSICS, BenchProfile, bench_config, has_playground_physics, make_extra_info
from tdmpc_parity.core.config import Config, load_config

# ----------------------------------------------------------------------------------------------------------
# Sizes and cases
# ----------------------------------------------------------------------------------------------------------


# The train_iteration settings of the physics cases, in the order they run: (config profile, collector); the
# profile gives n_envs (official 1, fast `fast_n_envs`).
TRAIN_SETTINGS: tuple[tuple[str, str], ...] = (("fast", "policy"), ("official", "mppi"), ("fast", "mppi"))


@dataclass(frozen=True)
class BenchSizes:
    """What the cases of one bench profile run (everything here is also recorded per record)."""

    task: str
    env_n_envs: tuple[int, ...]  # env_step cases, both backends
    env_n_envs_jax_only: tuple[int, ...]  # env_step cases, JAX only
    env_steps_per_call: int  # agent steps per env_step call (divides episode_length: it also seeds the buffer)
    plan_n_envs: tuple[int, ...]  # one MPPI act for this many envs
    fast_n_envs: int  # n_envs of the `fast` train cases (UTD 0.25 as the profile: n_envs / 4 updates per step)
    train_iterations: dict[str, int] = field(default_factory=dict)  # training iterations per call, by profile
    updates_per_call: int = 4  # update bench: consecutive updates per call (one Glass cycle, every_k_updates)
    # physics cases (bench/test_bench_physics.py, `physics_cases`): JAX env_step (env_n_envs) and train_iteration
    # (physics_train) in both physics modes on the main task and these
    physics_tasks: tuple[str, ...] = ()
    physics_train: tuple[tuple[str, str], ...] = TRAIN_SETTINGS


SIZES: dict[str, BenchSizes] = {
    # 2 CPU cores, minutes: a contact-free task (MJX compiles cartpole ~5x faster than hopper on CPU), the
    # tiny model, 8 envs for the `fast` cases (UTD 0.25 -> 2 updates per vector step instead of 64). Physics
    # cases on the main task only: dm_control's contact physics in MJX takes minutes per case on 2 cores
    # (humanoid-run ~70 ms per control step of 8 envs, docs/physics.md).
    "cpu": BenchSizes("cartpole-swingup", (1, 8), (), 50, (1, 8), 8, {"official": 5, "fast": 2}),
    # The seed's setting: hopper-hop, the 5M model, 256 envs and 64 updates per vector step. Physics cases on
    # hopper-hop and on a task without contacts (cartpole: RK4 in dm_control, Euler in Playground), one with
    # contacts (walker) and one with many (humanoid).
    "gpu": BenchSizes("hopper-hop", (1, 256), (4096,), 20, (1, 256), 256, {"official": 10, "fast": 2},
                      physics_tasks=("cartpole-swingup", "walker-walk", "humanoid-run")),
}


# `--benchmark-disable` (the CI smoke mode: every body once, nothing timed) defaults to the task whose MJX
# physics compiles fastest; JAX compilation is most of a smoke run on CPU.
SMOKE_TASK = "pendulum-swingup"


def bench_sizes(profile_name: str, task: str | None = None, smoke: bool = False) -> BenchSizes:
    """The sizes of a bench profile, on `task` if given; the smoke mode runs `SMOKE_TASK` unless a task is given,
    and its physics cases are the main task's, in the env bench and the seed's training setting only."""
    sizes = SIZES[profile_name]
    task = task or (SMOKE_TASK if smoke else None)
    if task:
        sizes = replace(sizes, task=task)
    if smoke:
        sizes = replace(sizes, physics_tasks=(), physics_train=TRAIN_SETTINGS[:1])
    return sizes


def sizes_from_config(config: pytest.Config) -> BenchSizes:
    """The sizes of `--bench-profile`, with `--bench-task` (or the smoke task under --benchmark-disable)."""
    return bench_sizes(config.getoption("bench_profile"), config.getoption("bench_task", default=None),
                       smoke=benchmarks_disabled(config))


def benchmarks_disabled(config: pytest.Config) -> bool:
    """pytest-benchmark's own rule: `--benchmark-disable` (in the project's addopts) unless `--benchmark-enable`."""
    return bool(config.getoption("benchmark_disable", default=False)
                and not config.getoption("benchmark_enable", default=False))


def profile_label(n_envs: int, sizes: BenchSizes) -> str:
    """Config profile a record is labelled with: 1 env = official, the fast n_envs = fast, else custom."""
    if n_envs == 1:
        return "official"
    return "fast" if n_envs == sizes.fast_n_envs else "custom"


def config_profile(label: str) -> str:
    """Config profile to load for a record label (`custom` sweeps start from `official`)."""
    return "fast" if label == "fast" else "official"


@dataclass(frozen=True)
class PhysicsCase:
    """One JAX case of the physics benchmarks: `bench` ("env_step" | "train_iteration") on `task` in `physics`,
    at the settings of the single-backend case of record label `profile`, `n_envs` and `collector`."""

    bench: str
    task: str | None  # None: the sizes' main task (the id names no task: it stays the same under --bench-task)
    physics: str
    profile: str
    n_envs: int
    collector: str  # "random" for env_step

    @property
    def case_id(self) -> str:
        head = "-".join(["jax", *([self.task] if self.task else []), self.physics])
        if self.bench == "env_step":
            return f"{head}-E{self.n_envs}"
        return f"{head}-{self.profile}-E{self.n_envs}-{self.collector}"


def main_physics(label: str, task: str) -> str:
    """The physics the main JAX case of a record label runs on `task` (its config profile's default)."""
    return load_config(config_profile(label), values={"task": task, "backend": "jax"}).physics


def physics_tasks(sizes: BenchSizes) -> tuple[str, ...]:
    """The tasks of the physics cases: the main task, then `sizes.physics_tasks`, without those MuJoCo Playground
    lacks (they have one physics only)."""
    return tuple(t for t in dict.fromkeys((sizes.task, *sizes.physics_tasks)) if has_playground_physics(t))


def physics_cases(sizes: BenchSizes, bench: str) -> list[PhysicsCase]:
    """The JAX `bench` cases in both physics modes on `physics_tasks(sizes)`, but not the main task's case in the
    physics its main case already runs (bench/test_bench_env.py, bench/test_bench_train.py). env_step: each of
    `env_n_envs`, most envs first; train_iteration: `physics_train` in order. Within a setting the tasks in order,
    both physics of a task next to each other, so that a budget that cuts the list keeps whole comparisons."""
    if bench == "env_step":
        settings = [(profile_label(n, sizes), n, "random") for n in sorted(sizes.env_n_envs, reverse=True)]
    else:
        settings = [(p, 1 if p == "official" else sizes.fast_n_envs, c) for p, c in sizes.physics_train]
    cases = []
    for label, n_envs, collector in settings:
        for task in physics_tasks(sizes):
            main = task == sizes.task
            covered = main_physics(label, task) if main else None
            cases += [PhysicsCase(bench, None if main else task, physics, label, n_envs, collector)
                      for physics in PHYSICS if physics != covered]
    return cases


@cache
def has_gpu(backend: str) -> bool:
    """True when `backend` is installed and sees a GPU (imports the framework)."""
    try:
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
        import jax

        return jax.default_backend() == "gpu"
    except ImportError:
        return False


def case_param(case: Any, backend: str, profile_name: str, case_id: str) -> Any:
    """A pytest.param; in the gpu profile a backend without a GPU is skipped (never run at full size on CPU)."""
    marks = []
    if profile_name == "gpu":
        marks.append(pytest.mark.skipif(not has_gpu(backend), reason=f"bench profile gpu: {backend} sees no GPU; "
                                        "run --bench-profile cpu on this machine"))
    return pytest.param(case, marks=marks, id=case_id)


def profile_of(metafunc: pytest.Metafunc) -> tuple[str, BenchSizes]:
    return metafunc.config.getoption("bench_profile"), sizes_from_config(metafunc.config)


def import_backend(backend: str) -> None:
    """Skip the test when the backend's framework is not installed."""
    pytest.importorskip("torch" if backend == "torch" else "jax")


# ----------------------------------------------------------------------------------------------------------
# Devices and parameters
# ----------------------------------------------------------------------------------------------------------


def torch_device_label(device: Any) -> str:
    import torch

    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    return str(device)


def torch_sync(device: Any) -> Callable[[], None]:
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def jax_device() -> Any:
    import jax

    return jax.devices()[0]


def jax_device_label() -> str:
    d = jax_device()
    return "cpu" if d.platform == "cpu" else f"cuda:{d.id} {d.device_kind}"


def jax_commit(tree: Any) -> Any:
    """Place every leaf on the default device, committed: a jitted function then sees the same input kind on
    every call (an uncommitted first input would compile a second executable)."""
    import jax

    return jax.device_put(tree, jax_device())


def jax_param_count(params: Any) -> int:
    """Learnable parameters of a JAX parameter tree (target ensemble not counted), as torch's count."""
    import jax

    return int(sum(x.size for k, v in params.items() if k != "_target_Qs" for x in jax.tree.leaves(v)))


def record_sanity(benchmark: Any, **checks: bool) -> None:
    """The checks made after timing (no retrace, the state advanced, ...), stored in the record's
    `extra_info["sanity"]` (name -> passed); then the case fails if one did not pass. The timed record stays in
    the JSON either way, marked: a failed check never throws away a measurement."""
    sanity = dict(benchmark.extra_info.get("sanity", {}))
    sanity.update({name: bool(ok) for name, ok in checks.items()})
    benchmark.extra_info["sanity"] = sanity
    failed = [name for name, ok in checks.items() if not ok]
    assert not failed, f"sanity check(s) failed after timing (the record is kept, marked in extra_info): {failed}"


def jit_cache_size(fn: Any) -> int | None:
    """Compiled executables of a jitted function (1 after warm-up when nothing retraced); None where the JAX
    version lacks the private `_cache_size` (the GPU machine runs another JAX: the benchmark still counts)."""
    size = getattr(fn, "_cache_size", None)
    return None if size is None else int(size())


# ----------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------


def time_call(benchmark: Any, bench_profile: BenchProfile, fn: Callable[[], Any],
              extra_info: Callable[[float], dict[str, Any]]) -> int:
    """Untimed first call (compile_seconds), extra_info, then pedantic rounds; returns the calls made.

    Under `--benchmark-disable` (smoke mode) pedantic's single untimed call is the first call. Under a
    `--bench-budget` (bench/budget.py) one more untimed call measures a call, the rounds are cut to fit the
    budget (recorded as extra_info.budget_rounds) and the case is skipped when too few fit."""
    if benchmark.disabled:
        t0 = time.perf_counter()
        benchmark.pedantic(fn, rounds=1, iterations=1)
        benchmark.extra_info.update(extra_info(time.perf_counter() - t0))
        return 1
    t0 = time.perf_counter()
    fn()
    compile_seconds = time.perf_counter() - t0
    benchmark.extra_info.update(extra_info(compile_seconds))
    rounds, warmup_rounds, calls = bench_profile.rounds, bench_profile.warmup_rounds, 1
    if _ACTIVE_BUDGET is not None:  # --bench-budget: one measured warm-up call, then the rounds that fit
        t0 = time.perf_counter()
        fn()
        call_seconds = time.perf_counter() - t0
        calls += 1
        try:
            rounds = _ACTIVE_BUDGET.rounds(rounds, compile_seconds, call_seconds)
        except BudgetSkip as exc:
            _skip_measured(benchmark, call_seconds, str(exc))
        warmup_rounds = 0
        benchmark.extra_info["budget_rounds"] = rounds
    before = _cpu_counters()
    benchmark.pedantic(fn, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
    foreign = _foreign_cores(before, _cpu_counters())
    if foreign is not None:
        benchmark.extra_info["foreign_cpu_cores"] = round(foreign, 3)
        if foreign > FOREIGN_CPU_WARN:
            warnings.warn(f"other processes used {foreign:.2f} CPU cores on average while this benchmark was "
                          "timed: its timing is unreliable (recorded as extra_info.foreign_cpu_cores)",
                          ForeignLoadWarning, stacklevel=2)
    return calls + warmup_rounds + rounds


# What a case measured before the budget skipped it (its extra_info, compile seconds included, and one call's
# seconds): bench/conftest.py keeps it with the skipped case, and the GPU run's plan uses it (bench/device/plan.py).
MEASURED_SKIPS: dict[str, dict[str, Any]] = {}


def _skip_measured(benchmark: Any, call_seconds: float, reason: str) -> None:
    """pytest.skip(reason), keeping the measured first call and one timed call for the case's skip record."""
    MEASURED_SKIPS[benchmark.fullname] = {"extra_info": dict(benchmark.extra_info), "call_seconds": call_seconds}
    pytest.skip(reason)


PAIR_BOOT = 2000  # bootstrap resamples of the paired speedup's median


def paired_speedup(first_seconds: list[float], second_seconds: list[float], seed: int = 0
                   ) -> tuple[float, float, float]:
    """(median, low, high): the median over rounds of first_i / second_i (the second backend's speedup when both
    do the same work per call), with a 95 % bootstrap interval of that median over the rounds."""
    ratios = np.asarray(first_seconds, float) / np.asarray(second_seconds, float)
    rng = np.random.default_rng(seed)
    boot = np.median(ratios[rng.integers(0, len(ratios), size=(PAIR_BOOT, len(ratios)))], axis=1)
    low, high = np.percentile(boot, [2.5, 97.5])
    return float(np.median(ratios)), float(low), float(high)


def time_pair(benchmark: Any, bench_profile: BenchProfile, first: Any, second: Any, first_name: str = "torch"
              ) -> tuple[int, int]:
    """The two backends' cases of the same settings in alternating rounds: first, second, first, second, ...

    Both untimed first calls (compiles), the warm-up rounds in pairs, then `pedantic` times `second.call` with
    `first.call` as its per-round set-up, timed here: round i holds one call of each, back to back, so a load
    change hits both alike and the per-round ratio first_i / second_i cancels it. The record is the second's,
    with `extra_info["paired"]`: the first's per-round seconds, its compile seconds, and the paired speedup
    (`paired_speedup`). Under a `--bench-budget` the rounds are cut as `time_call` does (one call of each per
    round). Returns the calls made of (first, second)."""
    if benchmark.disabled:
        first.call()
        benchmark.pedantic(second.call, rounds=1, iterations=1)
        benchmark.extra_info.update(second.info(0.0))
        return 1, 1
    t0 = time.perf_counter()
    first.call()
    first_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    second.call()
    benchmark.extra_info.update(second.info(time.perf_counter() - t0))
    rounds, warmup_rounds, calls = bench_profile.rounds, bench_profile.warmup_rounds, 1
    if _ACTIVE_BUDGET is not None:
        t0 = time.perf_counter()
        first.call()
        second.call()
        calls += 1
        call_seconds = time.perf_counter() - t0
        try:
            rounds = _ACTIVE_BUDGET.rounds(rounds, first_compile, call_seconds)
        except BudgetSkip as exc:
            _skip_measured(benchmark, call_seconds, str(exc))
        benchmark.extra_info["budget_rounds"] = rounds
    for _ in range(warmup_rounds):
        first.call()
        second.call()
    first_seconds: list[float] = []

    def first_round() -> None:
        t = time.perf_counter()
        first.call()
        first_seconds.append(time.perf_counter() - t)

    benchmark.pedantic(second.call, setup=first_round, rounds=rounds, iterations=1)
    second_seconds = list(benchmark.stats.stats.data)
    median, low, high = paired_speedup(first_seconds, second_seconds)
    benchmark.extra_info["paired"] = {
        "with": first_name, "order": f"{first_name} then this record's backend, in every round",
        "rounds": len(first_seconds), "first_seconds": first_seconds, "first_compile_seconds": first_compile,
        "speedup_median": median, "speedup_ci95": [low, high]}
    n = calls + warmup_rounds + rounds
    return n, n


_ACTIVE_BUDGET: Budget | None = None


def set_active_budget(budget: Budget | None) -> None:
    """The session's `--bench-budget` (bench/conftest.py); `time_call` sizes its rounds to fit it."""
    global _ACTIVE_BUDGET
    _ACTIVE_BUDGET = budget


# Contamination check (an extra_info field outside tdmpc_parity.analysis.benchmeta's schema, which the report ignores):
# CPU seconds that OTHER processes used per wall second during the timed rounds (warm-up included), from
# /proc/stat minus this process's own CPU time. 0 on a quiet machine; on 2 cores a value near 1 means another
# process held a whole core, which slows torch's 2-thread intra-op pool many-fold and XLA's pool less.
FOREIGN_CPU_WARN = 0.25


class ForeignLoadWarning(UserWarning):
    """A benchmark was timed while other processes were using the CPU."""


def _cpu_counters() -> tuple[float, float, float] | None:
    """(wall seconds, busy CPU seconds of the whole host, CPU seconds of this process); None off Linux."""
    try:
        with open("/proc/stat") as fh:
            fields = [int(x) for x in fh.readline().split()[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    busy = (sum(fields) - fields[3] - fields[4]) / hz  # all but idle and iowait
    own = os.times()
    return time.perf_counter(), busy, own.user + own.system


def _foreign_cores(before: tuple[float, float, float] | None, after: tuple[float, float, float] | None
                   ) -> float | None:
    if before is None or after is None or after[0] <= before[0]:
        return None
    wall, busy, own = (a - b for a, b in zip(after, before, strict=True))
    return max(0.0, (busy - own) / wall)


def extra_info_fn(cfg: Config, bench_profile: BenchProfile, *, bench: str, device: str, agent_steps_per_call: int,
                  updates_per_call: int, params: int | None = None, profile: str | None = None,
                  collector: str | None = None) -> Callable[[float], dict[str, Any]]:
    def make(compile_seconds: float) -> dict[str, Any]:
        info = make_extra_info(cfg, bench=bench, device=device, compile_seconds=compile_seconds,
                               agent_steps_per_call=agent_steps_per_call, updates_per_call=updates_per_call,
                               collector=collector, model_size=bench_profile.model_label, params=params,
                               profile=profile)
        return {**info, **runtime_settings(cfg)}

    return make


def runtime_settings(cfg: Config) -> dict[str, Any]:
    """Optional extra_info fields (outside the versioned schema) that shape a record's speed: the physics
    (`dm_control`: the official tasks' models; `playground`: MuJoCo Playground's), the MJX implementation (JAX
    records), XLA flags and JAX's GPU allocator settings (read from the environment,
    which bench/conftest.py sets before JAX starts)."""
    out: dict[str, Any] = {"physics": cfg.physics}
    if cfg.backend == "jax":
        out["mjx_impl"] = cfg.mjx_impl
        for key in XLA_ENV:
            out[key.lower()] = os.environ.get(key, "")
    return out


# Environment variables that change how XLA compiles and allocates (recorded per JAX record).
XLA_ENV = ("XLA_FLAGS", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
           "XLA_PYTHON_CLIENT_ALLOCATOR", "JAX_COMPILATION_CACHE_DIR")


def config_for(bench_profile: BenchProfile, sizes: BenchSizes, backend: str, profile: str, task: str | None = None,
               **values: Any) -> Config:
    """The resolved config of a case: the bench profile's model on `task` (default: the sizes' task)."""
    return bench_config(bench_profile, backend=backend, profile=profile, task=task or sizes.task, **values)


# ----------------------------------------------------------------------------------------------------------
# JAX: one MJX env per physics setting, one jitted rollout per (env, n_envs, steps), shared across benches
# ----------------------------------------------------------------------------------------------------------


def _physics_key(cfg: Config) -> tuple[Any, ...]:
    return (cfg.task, cfg.episode_length, cfg.action_repeat, cfg.mjx_impl, cfg.physics)


_MJX_ENVS: dict[tuple[Any, ...], Any] = {}
_ROLLOUTS: dict[tuple[Any, ...], JaxEnvRollout] = {}


def mjx_env(cfg: Config) -> Any:
    """The MJXEnv of cfg's physics (task, episode length, action repeat, MJX impl), built once."""
    from jax_impl.env import MJXEnv

    key = _physics_key(cfg)
    if key not in _MJX_ENVS:
        _MJX_ENVS[key] = MJXEnv(cfg)
    return _MJX_ENVS[key]


class JaxEnvRollout:
    """`steps` agent steps of `n_envs` MJX envs with U[-1, 1] actions, one jitted `lax.scan`.

    `fn(env_state, key) -> (env_state, key, (next_obs, action, reward))`, the env state donated; each step is
    `MJXEnv.step_batch` (the vmapped step, with one reset guarded by any(done) per batch), as in
    `jax_impl.train.Programs.iteration`, so the envs auto-reset at the episode end. Used by the env_step
    bench (timed) and to run the JAX seed phase of the train bench (untimed): both share one compiled program.
    """

    def __init__(self, env: Any, n_envs: int, steps: int):
        import jax
        import jax.numpy as jnp

        self.env, self.n_envs, self.steps, self.traces = env, n_envs, steps, 0

        def roll(state, key):
            self.traces += 1
            keys = jax.random.split(key, steps + 1)

            def body(s, k):
                a = jax.random.uniform(k, (n_envs, env.action_dim), jnp.float32, -1.0, 1.0)
                s, tr = env.step_batch(s, a)  # vmapped step, one guarded reset per batch (as training)
                return s, (tr.next_obs, a, tr.reward)

            state, out = jax.lax.scan(body, state, keys[1:])
            return state, keys[0], out

        self.fn = jax.jit(roll, donate_argnums=0)

    def start(self, seed: int) -> tuple[Any, Any]:
        """(env state, key): `n_envs` fresh envs, committed to the device."""
        import jax

        k_env, k_act = jax.random.split(jax.random.PRNGKey(seed))
        return jax_commit(self.env.reset_batch(k_env, self.n_envs)), jax_commit(k_act)


def jax_rollout(cfg: Config, n_envs: int, steps: int) -> JaxEnvRollout:
    key = (*_physics_key(cfg), n_envs, steps)
    if key not in _ROLLOUTS:
        _ROLLOUTS[key] = JaxEnvRollout(mjx_env(cfg), n_envs, steps)
    return _ROLLOUTS[key]


_AGENT_INITS: dict[tuple[Any, ...], Any] = {}


def jax_agent_init(agent: Any) -> Any:
    """`jax.jit(agent.init)`, shared by every agent whose fresh state has the same shapes and values
    (architecture, horizon, n_envs, Glass, dtype): the plan, update and train benches compile it once."""
    import jax

    cfg = agent.cfg
    key = (cfg.task, cfg.obs_dim, cfg.action_dim, cfg.enc_dim, cfg.mlp_dim, cfg.latent_dim, cfg.num_enc_layers,
           cfg.num_q, cfg.num_bins, cfg.simnorm_dim, cfg.horizon, cfg.log_std_min, cfg.log_std_max, cfg.glass,
           cfg.dtype, cfg.matmul_precision, agent.n_envs)
    if key not in _AGENT_INITS:
        _AGENT_INITS[key] = jax.jit(agent.init)
    return _AGENT_INITS[key]


def jax_post_seed_state(programs: Any, rollout: JaxEnvRollout, seed: int) -> Any:
    """A `TrainState` (leading seed axis of 1) right after the seed phase, as `Programs.seed_chunk` leaves it.

    The seed phase (one episode of U[-1, 1] actions in every env, `cfg.seed_iterations` = episode_length) is
    run with the shared env rollout and written into the buffer on the host: reset row, the L transitions
    with the true final observation, `num_completed` = 1, then the reset row of the next episode. The
    one-off pretrain updates are not run (the torch bench skips them too): they are not part of a
    steady-state iteration.
    """
    import jax
    import jax.numpy as jnp

    from jax_impl.buffer import BufferState
    from jax_impl.train import TrainState

    cfg, E, L = programs.cfg, programs.cfg.n_envs, programs.cfg.episode_length
    if rollout.n_envs != E or L % rollout.steps:
        raise ValueError(f"rollout of {rollout.n_envs} envs x {rollout.steps} steps cannot seed {E} envs x {L}")
    if cfg.seed_iterations != L:
        raise ValueError(f"the bench seeds one episode (seed_iterations {cfg.seed_iterations} != {L})")
    env_state, key = rollout.start(seed)
    first_obs = np.asarray(env_state.obs)
    parts = []
    for _ in range(L // rollout.steps):
        env_state, key, out = rollout.fn(env_state, key)
        parts.append(jax.device_get(out))
    next_obs, action, reward = (np.concatenate([p[i] for p in parts]).swapaxes(0, 1) for i in range(3))
    buf = programs.buffer
    P = buf.slots + 1
    obs_rows = np.zeros((P, E, L + 1, cfg.obs_dim), np.float32)
    act_rows = np.full((P, E, L + 1, cfg.action_dim), np.nan, np.float32)
    rew_rows = np.full((P, E, L + 1), np.nan, np.float32)
    obs_rows[0, :, 0], obs_rows[0, :, 1:] = first_obs, next_obs
    act_rows[0, :, 1:], rew_rows[0, :, 1:] = action, reward
    obs_rows[1 % P, :, 0] = np.asarray(env_state.obs)  # the auto-reset observation starts episode 2
    buffer = BufferState(obs_rows, act_rows, rew_rows, np.int32(1), np.int32(0))
    k_agent, k_loop = jax.random.split(jax.random.PRNGKey(seed + 1))
    agent = jax_agent_init(programs.agent)(k_agent)
    ts = TrainState(jax.tree.map(lambda x: x[None], agent), jax.tree.map(lambda x: x[None], env_state),
                    jax.tree.map(lambda x: jnp.asarray(x)[None], buffer), k_loop[None],
                    jnp.full((1,), cfg.seed_iterations, jnp.int32))
    return jax_commit(ts)


# ----------------------------------------------------------------------------------------------------------
# torch: the training-loop body of torch_ref/train.py
# ----------------------------------------------------------------------------------------------------------


class TorchTrainLoop:
    """The body of `torch_ref.train.Trainer.run`'s loop, one iteration per `iterate()`: act (uniform in the
    seed phase) -> env step -> NaN check -> buffer add -> updates (each with the per-update finiteness sync
    and the metric read-back of the trainer) -> at an episode end the row's means, env reset and reset row.
    Not included (as in the JAX chunk): logging, evaluation, checkpoints, the progress bar, and the one-off
    pretrain updates at the end of the seed phase."""

    def __init__(self, cfg: Config, run_dir: Path):
        import torch

        from tdmpc_parity.core.schedule import Schedule
        from torch_ref.agent import TDMPC2
        from torch_ref.buffer import Buffer
        from torch_ref.env import make_vector_env

        self._torch = torch
        self.cfg, self.run_dir, self.sched = cfg, run_dir, Schedule(cfg)
        self.agent = TDMPC2(cfg)
        self.device, self.dtype = self.agent.device, self.agent.dtype
        self.env = make_vector_env(cfg, cfg.n_envs, cfg.seed)
        self.buffer = Buffer(cfg, cfg.n_envs, self.device, self.dtype)
        self.iteration = 0
        self.num_updates = 0
        self.obs, _ = self.env.reset()
        self.buffer.add_reset(self._tensor(self.obs))
        self.ep_return = np.zeros(cfg.n_envs)
        self.window: dict[str, list[float]] = {}
        self.last_row: dict[str, float] = {}

    def _tensor(self, x: np.ndarray) -> Any:
        return self._torch.as_tensor(np.asarray(x), device=self.device, dtype=self.dtype)

    def _act(self, obs: np.ndarray) -> Any:
        from tdmpc_parity.core.noise import NoiseSpec

        E, A = self.cfg.n_envs, self.cfg.action_dim
        if self.sched.random_actions(self.iteration):
            return self.agent.draw({"a": NoiseSpec((E, A), "uniform")})["a"]
        t0 = self._torch.full((E,), self.buffer.t == 0, device=self.device)
        return self.agent.act(self._tensor(obs), t0)

    def iterate(self) -> None:
        from tdmpc_parity.core.runlog import NonFiniteError
        from torch_ref.train import _check_finite

        cfg, sched, it = self.cfg, self.sched, self.iteration
        action = self._act(self.obs)
        next_obs, reward, _, _, _ = self.env.step(action.cpu().numpy())
        if not (np.isfinite(next_obs).all() and np.isfinite(reward).all()):
            raise NonFiniteError(sched.agent_step(it + 1), "env state (observation/reward)", None)
        self.buffer.add(self._tensor(next_obs), action, self._tensor(reward))
        self.ep_return += reward
        n_updates = cfg.updates_per_iteration if it >= cfg.seed_iterations else 0  # pretrain skipped
        for _ in range(n_updates):
            metrics = self.agent.update(self.buffer.sample(self.agent.generator), env_steps=sched.env_step(it + 1))
            _check_finite(metrics, sched.agent_step(it + 1), self.run_dir)
            for k, v in metrics.items():
                self.window.setdefault(k, []).append(float(v))
        self.num_updates += n_updates
        self.iteration += 1
        self.obs = next_obs
        if sched.episode_end(it):
            self.last_row = {"episode_reward": float(self.ep_return.mean()),
                             **{k: float(np.mean(v)) for k, v in self.window.items()}}
            self.ep_return[:], self.window = 0.0, {}
            self.obs, _ = self.env.reset()
            self.buffer.add_reset(self._tensor(self.obs))

    def run_seed_phase(self) -> None:
        while self.iteration < self.cfg.seed_iterations:
            self.iterate()
