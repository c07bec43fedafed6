"""Environment parity on a task of your own: `examples/my_tasks.py`'s cartpole-long-pole, registered with
`register_task`, built by both backends from its factories (torch: dm_control's Balance task on the edited XML;
JAX: Playground's cartpole Balance class on the same XML, dm_control's physics options).

The checks `parity/test_env_parity.py` applies to the built-in tasks, applied to the registered one:
1. the observation and reward functions agree on the SAME physics states (dm_control rollout states, and near-upright
   states where the balance reward is high);
2. the same initial state and the same actions give the same observations, summed rewards and episode end in both
   envs (the JAX env steps dm_control's model, so float32 MJX against float64 MuJoCo C round-off only, as for the
   tasks the JAX backend runs on dm_control's model).
(2) compiles the JAX env's step, so it is marked slow (`-m slow`), as its built-in counterpart. Both checks also
confirm that each backend built the edited model (the pole's capsule 1.5 m long, dm_control's 1 m).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.env import MJXEnv
from jax_impl.env import make_env as make_jax_env
from parity.env_states import GOALS, apply_dm, capture, dm_task_functions, rollout
from parity.helpers import compare
from parity.test_env_parity import STEP_AGENT_STEPS, jax_state_from, playground_functions
from tdmpc_parity.core import task_registry
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import REGISTERED
from torch_ref.env import DMControlEnv
from torch_ref.env import make_env as make_torch_env

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "my_tasks.py"
TASK = "cartpole-long-pole"
POLE_HALF_LENGTH = 0.75  # the capsule's half-length: 1.5 m pole (dm_control's cartpole: 0.5)


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    """The example module imported (its task registered) for this file's tests, and forgotten after them."""
    before, imported = dict(REGISTERED), set(task_registry._IMPORTED)
    task_registry.load_task_module(str(EXAMPLE))
    yield
    REGISTERED.clear()
    REGISTERED.update(before)
    task_registry._IMPORTED.clear()
    task_registry._IMPORTED.update(imported)


def _envs(episode_length: int | None = None) -> tuple[DMControlEnv, MJXEnv]:
    extra = [] if episode_length is None else [f"episode_length={episode_length}"]
    tenv = make_torch_env(load_config(overrides=[f"task={TASK}", *extra]), seed=0)
    jenv = make_jax_env(load_config(overrides=[f"task={TASK}", "backend=jax", *extra]))
    for model in (tenv.physics.model.ptr, jenv.mj_model):  # both built the edited model
        assert model.geom("pole_1").size[1] == pytest.approx(POLE_HALF_LENGTH)
    return tenv, jenv


def test_registered_task_obs_and_reward_functions_match_dm_control() -> None:
    """Same state -> same observation (every entry, dm_control's layout) and same reward in both backends' envs."""
    tenv, jenv = _envs()
    spec = REGISTERED[TASK]
    assert (jenv.obs_dim, jenv.action_dim) == (tenv.obs_dim, tenv.action_dim) == (spec.obs_dim, spec.action_dim)
    np.testing.assert_allclose(jenv.pg_env.dt, tenv.dm_env.control_timestep(), rtol=1e-12)  # same control step
    states = rollout(tenv, 12, seed=0)
    rng = np.random.default_rng(1)
    for s in states[::3]:  # near upright and slow: where the balance reward is close to 1
        apply_dm(tenv.physics, s)
        GOALS["cartpole"](tenv.physics, rng)
        tenv.physics.forward()
        states.append(capture(tenv.physics))
    dm_obs, dm_rew = dm_task_functions(tenv, states)
    pg_obs, pg_rew = playground_functions(jenv, tenv.physics.model.ptr, states)
    assert (dm_rew > 0.5).sum() >= 3 and dm_rew.min() < dm_rew.max()  # the reward is exercised
    name = "test_registered_task_obs_and_reward_functions_match_dm_control"
    compare(dm_obs, pg_obs, f"env/obs fn ({TASK})", "float32", test=name)
    compare(dm_rew, pg_rew, f"env/reward fn ({TASK})", "float32", test=name)


@pytest.mark.slow
def test_registered_task_steps_alike_in_both_backends() -> None:
    """Same initial state, same actions -> both envs' observations, summed rewards and episode end agree.
    Slow: one compile of the JAX env's step (about 30 s of CPU time, over a minute on 2 busy cores)."""
    tenv, jenv = _envs(STEP_AGENT_STEPS)
    obs0, _ = tenv.reset()
    key = jax.random.PRNGKey(0)
    state = jax_state_from(jenv, capture(tenv.physics), key)
    actions = np.random.default_rng(1).uniform(-1, 1, (STEP_AGENT_STEPS, jenv.action_dim)).astype(np.float32)
    _, tr = jax.jit(lambda s, a: jax.lax.scan(jenv.step, s, a))(state, jnp.asarray(actions))
    t_obs, t_rew, t_end = [], [], []
    for a in actions:
        o, r, terminated, truncated, _ = tenv.step(a)
        assert terminated is False
        t_obs.append(o)
        t_rew.append(r)
        t_end.append(truncated)
    # never terminated; truncated at the episode's last agent step in both
    assert t_end == np.asarray(tr.done).tolist() == [False] * (STEP_AGENT_STEPS - 1) + [True]
    assert np.asarray(tr.next_obs).dtype == np.float32 and np.stack(t_obs).dtype == np.float32
    name = "test_registered_task_steps_alike_in_both_backends"
    compare(obs0, np.asarray(state.obs), f"env/reset obs ({TASK})", "float32", test=name)
    # float32 MJX against float64 MuJoCo C, 8 RK4 control steps of the same model (no contacts): round-off only
    compare({"obs": np.stack(t_obs), "reward": np.asarray(t_rew)},
            {"obs": np.asarray(tr.next_obs), "reward": np.asarray(tr.reward)},
            f"env/torch vs JAX step ({TASK}, {STEP_AGENT_STEPS} agent steps)", "float32", test=name)
