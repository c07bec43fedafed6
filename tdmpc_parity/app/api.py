"""The Python API: a config, a training run, a trained agent, an env and an evaluation, without the command line.

    import tdmpc_parity as tp

    cfg = tp.load_config(task="cartpole-balance", backend="torch", config="tiny", steps=2000)
    run = tp.train(cfg, run_dir="runs/api-demo")      # the run folder `tdmpc-parity train` writes
    agent = tp.load_agent(run.run_dir)                 # what `tdmpc-parity eval` accepts as SOURCE
    print(run.final_eval, tp.evaluate(agent, episodes=5).mean)

Each function calls what the `tdmpc-parity` command calls (`tdmpc-parity train` calls `train`; `load_agent` reads
its source with tdmpc_parity/app/evaluate.py). A backend (torch or jax) is imported only inside the function that
needs it. Bad input is a ValueError of one sentence; a backend that is not installed an ImportError saying how to
install it. The user manual's page: docs/python-api.md.
"""

from __future__ import annotations

import csv
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from tdmpc_parity.core.config import Config, GlassConfig, config_from_dict
from tdmpc_parity.core.config import load_config as _core_load_config

EVAL_SEED_OFFSET = 10_000  # episode i of an evaluation starts from env seed seed + 10_000 + i, as the trainers'


# ----------------------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------------------


def _flat(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword overrides as config keys: a `glass={...}` mapping becomes `glass.<key>` entries."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "glass" and isinstance(value, Mapping):
            out.update({f"glass.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def load_config(task: str | None = None, backend: str | None = None, config: str | Path | None = None,
                profile: str | None = None, **overrides: Any) -> Config:
    """The resolved config: the defaults, then `profile` ("official" when None, or "fast"), then `config` (a
    shipped config's name such as "tiny", a YAML file or a run's config.json), then `overrides`, then `task` and
    `backend` when given (they beat the file, as the command's flags do).

    Overrides are config keys (`tdmpc-parity keys`) as keyword arguments with Python values: `model_size=1`,
    `glass="phase1b"` (a preset), `glass={"preset": "phase1b", "num_clusters": 8}` or
    `**{"glass.num_clusters": 8}`. An unknown key is a ValueError naming the closest keys, as on the command line.
    """
    values = _flat(overrides)
    values.update({k: v for k, v in (("task", task), ("backend", backend)) if v is not None})
    return _core_load_config(profile or "official", config, None, values)


def _with(cfg: Config, **changes: Any) -> Config:
    """`cfg` with some fields changed, checked and its derived values computed again."""
    return config_from_dict({**cfg.to_dict(), **changes})


def _backend(backend: str, name: str) -> Any:
    """`<backend package>.<name>` (torch_ref or jax_impl); ImportError saying how to install a missing backend."""
    from tdmpc_parity.app.backends import CLIError, backend_module

    try:
        return backend_module(backend, name)
    except CLIError as exc:
        raise ImportError(str(exc)) from None


# ----------------------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FinalEval:
    """A run's last evaluation: the last row of its eval.csv."""

    agent_step: int
    env_step: int  # physics control steps (agent steps x action_repeat), the x axis of the official curves
    mean_return: float  # the mean undiscounted return over the eval episodes (eval.csv's episode_reward)


@dataclass(frozen=True)
class RunResult:
    """What `train` wrote: one run folder per seed (one seed: `run_dir` itself; several: `run_dir`/seed_<s>/)."""

    run_dir: Path
    seeds: tuple[int, ...]
    run_dirs: tuple[Path, ...]  # each seed's run folder
    final_evals: tuple[FinalEval | None, ...]  # each seed's last evaluation (None: the run has none)
    eval_csvs: tuple[Path, ...]  # each seed's eval.csv
    metrics: tuple[Path, ...]  # the metric files written: each seed's metrics.jsonl, metrics.csv, eval.csv
    files: tuple[Path, ...]  # every file under the run folders (config.json, checkpoints/, model.npz, ...)

    @property
    def final_eval(self) -> FinalEval | None:
        """The one seed's last evaluation; with several seeds their mean return at their last common env step
        (None when a seed has no evaluation or the seeds stopped at different steps)."""
        evals = self.final_evals
        if len(evals) == 1:
            return evals[0]
        if any(e is None for e in evals) or len({e.env_step for e in evals}) != 1:
            return None
        return replace(evals[0], mean_return=float(np.mean([e.mean_return for e in evals])))

    @property
    def eval_csv(self) -> Path:
        """The eval.csv of a one-seed run (a run of several seeds has one per seed: `eval_csvs`)."""
        if len(self.eval_csvs) != 1:
            raise ValueError(f"a run of {len(self.seeds)} seeds has one eval.csv per seed: use eval_csvs")
        return self.eval_csvs[0]


def last_eval(eval_csv: str | Path) -> FinalEval | None:
    """The last row of an eval.csv as a FinalEval; None when the file is missing or has no row."""
    path = Path(eval_csv)
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("episode_reward")]
    if not rows:
        return None
    row = rows[-1]
    return FinalEval(int(row["agent_step"]), int(row["env_step"]), float(row["episode_reward"]))


def run_result(run_dir: str | Path, seeds: Sequence[int]) -> RunResult:
    """The RunResult of a run folder trained with `seeds` (several: one folder seed_<s>/ per seed)."""
    from tdmpc_parity.core.runlog import CSV_FILES, METRICS_FILE

    root = Path(run_dir)
    dirs = (root,) if len(seeds) == 1 else tuple(root / f"seed_{s}" for s in seeds)
    names = (METRICS_FILE, CSV_FILES["train"], CSV_FILES["eval"])
    return RunResult(
        run_dir=root, seeds=tuple(seeds), run_dirs=dirs,
        final_evals=tuple(last_eval(d / CSV_FILES["eval"]) for d in dirs),
        eval_csvs=tuple(d / CSV_FILES["eval"] for d in dirs),
        metrics=tuple(d / n for d in dirs for n in names if (d / n).is_file()),
        files=tuple(sorted(p for d in dirs if d.is_dir() for p in d.rglob("*") if p.is_file())),
    )


def default_run_dir(cfg: Config, seeds: Sequence[int]) -> Path:
    """runs/<task>-<backend>-s<seed>[_<seed>...]-<YYYYmmdd-HHMMSS> (the command's default run folder)."""
    tag = "s" + "_".join(map(str, seeds))
    return Path("runs") / f"{cfg.task}-{cfg.backend}-{tag}-{time.strftime('%Y%m%d-%H%M%S')}"


def _seeds(cfg: Config, seeds: Sequence[int] | int | None) -> list[int]:
    if seeds is None:
        return [cfg.seed]
    out = [seeds] if isinstance(seeds, int) else list(seeds)
    if not out or not all(isinstance(s, int) and not isinstance(s, bool) for s in out) or len(set(out)) != len(out):
        raise ValueError(f"seeds must be distinct integers (at least one), got {seeds!r}")
    return out


def train(cfg: Config, run_dir: str | Path | None = None, seeds: Sequence[int] | int | None = None,
          steps: int | None = None, progress: bool = False, *, overwrite: bool = False, resume: bool = False,
          max_minutes: float | None = None, module: Any = None) -> RunResult:
    """Train `cfg` into `run_dir` with the backend of `cfg.backend` (what `tdmpc-parity train` runs) and return
    what it wrote.

    `run_dir`: default runs/<task>-<backend>-s<seed>-<time>. `seeds`: default the config's seed; several seeds
    write `run_dir`/seed_<s>/ each (JAX: vmapped in one program; torch: one after another). `steps`: agent steps
    (default the config's). `resume`: continue the run in `run_dir` from its last checkpoint (`steps` may extend
    it). `max_minutes`: stop at the first episode end after that wall-clock time (checkpointed). `module`: the
    backend's training module (default torch_ref.train or jax_impl.train)."""
    if steps is not None:
        cfg = _with(cfg, steps=steps)
    seed_list = _seeds(cfg, seeds)
    if seed_list[0] != cfg.seed:
        cfg = _with(cfg, seed=seed_list[0])
    if resume and run_dir is None:
        raise ValueError("resume=True continues the run in run_dir: give run_dir")
    if max_minutes is not None and not max_minutes > 0:
        raise ValueError(f"max_minutes must be > 0, got {max_minutes}")
    root = Path(run_dir) if run_dir is not None else default_run_dir(cfg, seed_list)
    mod = module if module is not None else _backend(cfg.backend, "train")
    kw = dict(resume=resume, overwrite=overwrite, progress=progress,
              max_seconds=None if max_minutes is None else max_minutes * 60.0)
    if len(seed_list) == 1:
        codes = [mod.train(cfg, root, **kw)]
    elif cfg.backend == "jax":
        codes = [mod.train_seeds(cfg, seed_list, root, **kw)]
    else:
        codes = [mod.train(_with(cfg, seed=s), root / f"seed_{s}", **kw) for s in seed_list]
    if any(codes):
        raise RuntimeError(f"training into {str(root)!r} ended with exit code {max(codes)}")
    return run_result(root, seed_list)


# ----------------------------------------------------------------------------------------------------------
# Agents
# ----------------------------------------------------------------------------------------------------------


class _TorchPolicy:
    """A torch_ref TDMPC2 built from canonical weights (torch_ref/rollout.py `make_agent`)."""

    def __init__(self, cfg: Config, canon: Mapping[str, np.ndarray]):
        self.agent = _backend("torch", "rollout").make_agent(cfg, canon)

    def reset(self, seed: int | None) -> None:
        if seed is not None:
            self.agent.generator.manual_seed(seed)

    def act(self, obs: np.ndarray, t0: bool, eval_mode: bool) -> np.ndarray:
        import torch

        a = self.agent
        x = torch.as_tensor(obs[None], device=a.device, dtype=a.dtype)
        first = torch.full((1,), t0, device=a.device)
        return a.act(x, first, eval_mode=eval_mode)[0].cpu().numpy()


class _JaxPolicy:
    """A jax_impl TDMPC2 and its state built from canonical weights (jax_impl/rollout.py `make_agent_state`);
    acting is one jitted program per eval_mode. Acting never reads the Glass head, so the program is built without
    it, as `tdmpc-parity eval` does."""

    def __init__(self, cfg: Config, canon: Mapping[str, np.ndarray]):
        import jax

        model = _backend("jax", "agent").TDMPC2(replace(cfg, glass=GlassConfig()), n_envs=1)
        plain = {k: v for k, v in canon.items() if not k.startswith("_glass.")}
        self.state = _backend("jax", "rollout").make_agent_state(model, plain, jax.random.PRNGKey(cfg.seed))
        self._act = jax.jit(model.act, static_argnames="eval_mode")

    def reset(self, seed: int | None) -> None:
        import jax
        import jax.numpy as jnp

        key = self.state.key if seed is None else jax.random.PRNGKey(seed)
        self.state = self.state._replace(key=key, prev_mean=jnp.zeros_like(self.state.prev_mean))

    def act(self, obs: np.ndarray, t0: bool, eval_mode: bool) -> np.ndarray:
        import jax.numpy as jnp

        self.state, action = self._act(self.state, jnp.asarray(obs[None]), jnp.full((1,), t0), eval_mode=eval_mode)
        return np.asarray(action[0])


class Agent:
    """A trained TD-MPC2 agent of one backend, acting on one observation at a time.

    `act` continues the current episode: the planner warm-starts from its previous plan; `reset` begins a new
    episode (and with a seed restarts the agent's random numbers). Given the same seed, the same observations give
    the same actions. Attributes: `cfg` (the resolved Config), `backend` ("torch" or "jax"), `weights` (the
    canonical weights, tdmpc_parity/core/weights.py) and `loaded` (a sentence saying what was read).
    """

    def __init__(self, cfg: Config, weights: dict[str, np.ndarray], loaded: str):
        self.cfg, self.weights, self.loaded = cfg, weights, loaded
        self._policy = _TorchPolicy(cfg, weights) if cfg.backend == "torch" else _JaxPolicy(cfg, weights)
        self._t = 0

    @property
    def backend(self) -> str:
        return self.cfg.backend

    def reset(self, seed: int | None = None) -> None:
        """Begin an episode: the next `act` plans without a warm start; `seed` restarts the random numbers."""
        self._t = 0
        self._policy.reset(seed)

    def act(self, obs: np.ndarray, eval_mode: bool = True) -> np.ndarray:
        """The action (action_dim,) in [-1, 1] for one observation (obs_dim,).

        eval_mode=True: MPPI as in evaluation (no action noise; the action is drawn from the elite trajectories).
        eval_mode=False: the training collector's exploration: MPPI plus its action noise, or with
        collector=policy the policy's action plus the collector noise at the start of its schedule.
        """
        obs = np.asarray(obs, dtype=np.float32)
        if obs.shape != (self.cfg.obs_dim,):
            raise ValueError(f"{self.cfg.task}: an observation has shape ({self.cfg.obs_dim},), got {obs.shape}")
        action = self._policy.act(obs, self._t == 0, eval_mode)
        self._t += 1
        return action

    def __repr__(self) -> str:
        return f"Agent(backend={self.backend!r}, task={self.cfg.task!r}, loaded={self.loaded!r})"


def load_agent(source: str | Path, backend: str | None = None, *, task: str | None = None,
               config: str | Path | None = None, glass: str | None = None, seed: int | None = None,
               **overrides: Any) -> Agent:
    """The agent of `source`, as `tdmpc-parity eval SOURCE` reads it (tdmpc_parity/app/evaluate.py).

    `source`: a run folder (its newest checkpoint or model.npz, with the run's config), a canonical weights file
    (.npz / .safetensors) or an official TD-MPC2 checkpoint (reading one needs torch installed, for either
    backend). `backend`: default the run's, or torch for a file outside a run folder. A file outside a run folder
    needs `task`, and `config`, `glass` and overrides (`model_size=1`, ...) when its model is not the default one;
    a run folder takes only overrides such as `episode_length=50`. `seed` starts the agent's random numbers
    (default the config's seed). ValueError (one sentence) for a source or setting that does not fit."""
    from tdmpc_parity.app.backends import CLIError
    from tdmpc_parity.app.evaluate import EvalOptions, check_glass, load_source_weights, resolve_source
    from tdmpc_parity.app.sweep_spec import value_text

    texts = [f"{key}={value_text(value)}" for key, value in _flat(overrides).items()]
    opts = EvalOptions(source=str(source), backend=backend, task=task,
                       config=None if config is None else str(config), glass=glass, overrides=texts, progress=False)
    try:
        src = resolve_source(opts)
        weights, loaded = load_source_weights(src)
        check_glass(src.cfg, weights)
    except CLIError as exc:
        raise ValueError(str(exc)) from None
    agent = Agent(src.cfg, weights, loaded)
    agent.reset(seed=src.cfg.seed if seed is None else seed)
    return agent


# ----------------------------------------------------------------------------------------------------------
# Envs and evaluation
# ----------------------------------------------------------------------------------------------------------


def make_env(cfg: Config, seed: int | None = None) -> Any:
    """The backend's env of `cfg.task` with the config's episode length, action repeat and physics.

    torch: torch_ref/env.py's gymnasium env (`DMControlEnv`): `reset(seed=S) -> (obs, info)`,
    `step(action) -> (obs, reward, terminated, truncated, info)`, one agent step = action_repeat control steps,
    truncated after episode_length agent steps; `seed` seeds its task RNG (default the config's seed).
    JAX: jax_impl/env.py's `MJXEnv`, pure functions: `reset(key) -> EnvState` (`.obs`),
    `step(state, action) -> (EnvState, Transition)` (`.reward`, `.next_obs`, `.done`), and their batched
    `reset_batch(key, n)` / `step_batch(states, actions)`; `seed` is unused (keys seed it). Both have `obs_dim`,
    `action_dim` and `episode_length`."""
    if cfg.backend == "torch":
        return _backend("torch", "env").make_env(cfg, cfg.seed if seed is None else seed)
    return _backend("jax", "env").make_env(cfg)


@dataclass(frozen=True)
class EvalResult:
    """Undiscounted returns of evaluation episodes, one per episode, and their mean."""

    returns: tuple[float, ...]
    mean: float
    seed: int


@functools.cache
def _jitted_step_batch(env_type: type) -> Any:
    """`env_type.step_batch` jitted with the env static: one compiled step per env (and per `reset` flag)."""
    import jax

    return jax.jit(env_type.step_batch, static_argnums=0, static_argnames="reset")


def _torch_episode(agent: Agent, env: Any, env_seed: int) -> float:
    obs, _ = env.reset(seed=env_seed)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(agent.act(obs))
        total, done = total + float(reward), terminated or truncated
    return total


def _jax_episode(agent: Agent, env: Any, env_seed: int) -> float:
    import jax

    step = _jitted_step_batch(type(env))
    state = env.reset_batch(jax.random.PRNGKey(env_seed), 1)
    total = 0.0
    for _ in range(env.episode_length):  # one episode: no auto-reset is traced (reset=False), as jax_impl/rollout.py
        state, tr = step(env, state, agent.act(np.asarray(state.obs[0]))[None], reset=False)
        total += float(tr.reward[0])
    return total


def evaluate(agent: Agent, env: Any = None, episodes: int = 10, seed: int = 0) -> EvalResult:
    """Run `episodes` episodes of `agent` in eval mode on `env` (default `make_env(agent.cfg)`).

    Episode i starts from the env seeded seed + 10_000 + i (JAX: the reset key PRNGKey(seed + 10_000 + i)), with
    the agent reset and its random numbers restarted from seed + i, so the same arguments give the same returns.
    (These are not the numbers of `tdmpc-parity eval --seed`, which draws the planner's random numbers in
    another order.)"""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(agent.cfg) if env is None else env
    jax_env = hasattr(env, "step_batch")
    if jax_env != (agent.backend == "jax"):
        raise ValueError(f"a {agent.backend} agent needs its backend's env (make_env(agent.cfg)), got "
                         f"{type(env).__name__}")
    if (env.obs_dim, env.action_dim) != (agent.cfg.obs_dim, agent.cfg.action_dim):
        raise ValueError(f"the env's observations and actions ({env.obs_dim}, {env.action_dim}) are not those of "
                         f"the agent's task {agent.cfg.task} ({agent.cfg.obs_dim}, {agent.cfg.action_dim})")
    episode = _jax_episode if jax_env else _torch_episode
    returns = []
    for i in range(episodes):
        agent.reset(seed=seed + i)
        returns.append(episode(agent, env, seed + EVAL_SEED_OFFSET + i))
    return EvalResult(tuple(returns), float(np.mean(returns)), seed)
