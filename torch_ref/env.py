"""DMC environments for the torch reference: dm_control behind gymnasium, as the official TD-MPC2 wrapper.

Official `envs/dmcontrol.py` (nicklashansen/tdmpc2 @ e9f5932, section 1 of tdmpc2_official.md):
`suite.load(domain, task, task_kwargs={'random': seed})` -> `action_scale.Wrapper(env, -1, 1)` (actions in
[-1, 1] mapped linearly onto the action-spec bounds) -> `DMControlWrapper` (action repeat 2 with the two
sub-step rewards SUMMED, observation = every value of the observation dict flattened and concatenated as
float32 in dict order, never terminated) -> `Timeout(max_episode_steps=500)`. Here the repeat and the
episode length come from the config (`action_repeat`, `episode_length`), and the episode's end is reported
the gymnasium way: `terminated` is always False, `truncated` is True at the last agent step.

Differences from the official wrapper that change no number: observations are NumPy float32 arrays (the
official TensorWrapper turns them into torch tensors later), the action space is float32 (the official one
is float64; float32 actions convert to float64 exactly), a wrong action shape is a ValueError and stepping
a finished episode is a RuntimeError (the official wrapper would silently run on into dm_control's own
auto-reset).

Tasks of your own (`tdmpc_parity.core.task_registry.register_task`): their `torch_env(seed)` factory builds the
dm_control environment that `suite.load` builds for the suite's tasks; everything else is the same.

Vector env: `make_vector_env` builds a gymnasium `SyncVectorEnv` with `AutoresetMode.DISABLED`. Every
episode has the same fixed length, so all envs finish on the same step; the caller then calls
`vec.reset()` once for all of them (stepping a finished vector env without that reset is an
AssertionError inside gymnasium). `vec.reset(seed=s)` reseeds env i with s + i, the same seeds as
`make_vector_env(cfg, n, s)`.
"""

from __future__ import annotations

import os

# dm_control picks an OpenGL backend on import and prints a GLFW "DISPLAY missing" warning on headless
# machines. Nothing here renders, so pick MuJoCo's "disable" backend unless the user chose one.
os.environ.setdefault("MUJOCO_GL", "disable")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from dm_control import suite  # noqa: E402
from dm_control.rl import control  # noqa: E402
from dm_control.suite.wrappers import action_scale  # noqa: E402

from tdmpc_parity.core.config import Config  # noqa: E402
from tdmpc_parity.core.task_registry import RegisteredTask  # noqa: E402
from tdmpc_parity.core.tasks import TaskSpec, get_task  # noqa: E402
from torch_ref import custom_tasks  # noqa: E402, F401  (registers the official custom tasks in dm_control's suite)


def flatten_observation(obs: dict[str, Any]) -> np.ndarray:
    """Official `_obs_to_array`: every value of the dm_control observation dict, flattened, in dict order."""
    return np.concatenate([np.asarray(v).ravel() for v in obs.values()]).astype(np.float32)


def registered_dm_env(spec: RegisteredTask, seed: int) -> control.Environment:
    """The dm_control env of a task of your own: its `torch_env(seed)` factory's, checked to be one."""
    try:
        env = spec.torch_env(seed)  # type: ignore[misc]  (register_task: always a callable)
    except Exception as exc:  # parity: not compared (a factory that fails is the user's error)
        raise ValueError(f"task {spec.name!r}: its torch_env factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(env, control.Environment):
        raise TypeError(f"task {spec.name!r}: its torch_env factory returned a {type(env).__name__}; it must return "
                        "a dm_control control.Environment (physics and task), as dm_control's suite functions do")
    return env


def load_dm_env(spec: TaskSpec, seed: int) -> action_scale.Wrapper:
    """The official dm_control env: suite.load with task RNG `seed` (a task of your own: its factory's), actions
    rescaled from [-1, 1]."""
    if isinstance(spec, RegisteredTask):
        env = registered_dm_env(spec, seed)
    else:
        env = suite.load(spec.domain, spec.task, task_kwargs={"random": seed}, visualize_reward=False)
    return action_scale.Wrapper(env, minimum=-1.0, maximum=1.0)


class DMControlEnv(gym.Env):
    """One dm_control task as a gymnasium env with the official TD-MPC2 DMC semantics (module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, task: str, seed: int, episode_length: int = 500, action_repeat: int = 2):
        self.task_spec = get_task(task)
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}")
        if episode_length < 1 or episode_length * action_repeat > self.task_spec.control_steps:
            raise ValueError(
                f"episode_length={episode_length} x action_repeat={action_repeat} must be in "
                f"[1, {self.task_spec.control_steps}] control steps of {task}"
            )
        self.episode_length = episode_length
        self.action_repeat = action_repeat
        self.task_seed = seed
        self.dm_env = load_dm_env(self.task_spec, seed)
        act_spec = self.dm_env.action_spec()
        self._act_dtype = act_spec.dtype
        self.action_dim = int(np.prod(act_spec.shape))
        self.obs_dim = int(sum(int(np.prod(v.shape)) for v in self.dm_env.observation_spec().values()))
        if isinstance(self.task_spec, RegisteredTask):
            self.task_spec.check_sizes("torch", self.obs_dim, self.action_dim)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (self.action_dim,), np.float32)
        self._t: int | None = None  # agent steps in the current episode; None before the first reset

    @property
    def physics(self) -> Any:
        """The dm_control Physics (MjModel/MjData behind `.model.ptr`, `.data.ptr`), for parity tests."""
        return self.dm_env.physics

    @property
    def task(self) -> Any:
        """The dm_control Task (its `get_observation(physics)` and `get_reward(physics)`)."""
        return self.dm_env.task

    @property
    def elapsed_steps(self) -> int:
        """Agent steps taken in the current episode."""
        return 0 if self._t is None else self._t

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode (dm_control's random initial state). A seed reseeds the task RNG, as at build."""
        super().reset(seed=seed)
        if seed is not None:
            self.dm_env.task._random = np.random.RandomState(seed)  # what task_kwargs={'random': seed} sets
            self.task_seed = seed
        self._t = 0
        return flatten_observation(self.dm_env.reset().observation), {}

    def _check_action(self, action: Any) -> np.ndarray:
        arr = np.asarray(action, dtype=np.float64)
        if arr.shape != (self.action_dim,):
            raise ValueError(
                f"{self.task_spec.name}: action must have shape ({self.action_dim},), got {arr.shape}"
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{self.task_spec.name}: action has non-finite values: {arr}")
        return arr.astype(self._act_dtype, copy=False)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """One agent step = `action_repeat` dm_control steps with the same action; rewards summed."""
        if self._t is None or self._t >= self.episode_length:
            raise RuntimeError(f"{self.task_spec.name}: call reset() first (episode over or not begun)")
        act = self._check_action(action)
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self.dm_env.step(act)
            reward += float(ts.reward)
        self._t += 1
        truncated = self._t >= self.episode_length
        return flatten_observation(ts.observation), reward, False, truncated, {}


def make_env(cfg: Config, seed: int) -> DMControlEnv:
    """One env of `cfg.task` with the config's episode length and action repeat, task RNG `seed`."""
    if cfg.episode_length is None:
        raise ValueError("make_env needs a resolved config (episode_length is None); use load_config()")
    return DMControlEnv(cfg.task, seed, cfg.episode_length, cfg.action_repeat)


def _env_factory(cfg: Config, seed: int) -> Callable[[], DMControlEnv]:
    return lambda: make_env(cfg, seed)


def make_vector_env(cfg: Config, n_envs: int, seed: int) -> gym.vector.SyncVectorEnv:
    """n_envs envs seeded seed, seed+1, ...; no auto-reset: reset all together after the last step."""
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    fns = [_env_factory(cfg, seed + i) for i in range(n_envs)]
    return gym.vector.SyncVectorEnv(fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
