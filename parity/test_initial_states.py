"""Episode starts: the JAX env's initial states are drawn as dm_control draws them, and observed as it observes them.

dm_control (the torch env) and the JAX env use different random streams, so their initial states are compared
as distributions: N resets of each (deterministic seeds), per coordinate of qpos, qvel, the target's position
and its horizontal radius:
a two-sample Kolmogorov-Smirnov statistic below KS_MAX (the critical value at 1e-5 for N = 256 per side: ~300
coordinates are compared over all tasks, and at 1e-3 (0.17) cartpole's cart velocity once drew 0.18 from the same
distribution (0.034 at N = 2000); Playground's own draws give 0.5-1),
and, for tasks with a few random coordinates, the correlation of every pair within CORR_MAX of dm_control's
(Playground's own reset reuses keys: cart velocity = slider, spinner angle = proximal angle · π / 1.92, which
fails both). Where dm_control redraws until nothing touches, MuJoCo C finds no contact in any JAX initial state
put into dm_control's model. And the first observation of an episode is dm_control's observation function of
that state (Playground's reset observes reacher, finger-turn, fish and swimmer targets before placing them).
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import pytest
from scipy import stats

from jax_impl.env import MJXEnv
from jax_impl.env import make_env as make_jax_env
from jax_impl.initial_states import INITIAL_STATES, SAME_AS_DM_CONTROL, TASK_INITIAL_STATES
from parity.env_states import SimState, apply_dm, capture, target_mocap
from parity.helpers import compare
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, TASKS
from torch_ref.env import DMControlEnv, flatten_observation

N = 256
KS_MAX = 0.22
RANDOM = 1e-6  # a coordinate varies between episodes (constants differ by float round-off only)
CORR_MAX = 0.35  # |corr_jax - corr_dm| per pair; sampling sd of the difference ~0.09 at N = 256
FEW = 6  # correlation check for tasks with at most this many random coordinates
DEFAULT = ["cartpole-swingup", "cup-spin", "finger-turn-easy", "fish-swim", "pendulum-swingup", "reacher-easy",
           "reacher-three-hard"]
# one task per MJX env (custom tasks on a Playground env start as their domain's env) and the custom tasks with
# their own start
ALL = sorted([*{spec.playground: name for name, spec in sorted(TASKS.items(), reverse=True)
                if spec.playground is not None and (not spec.custom or spec.playground in OWN_MJX_ENVS)}.values(),
              *TASK_INITIAL_STATES])
SLOW = [t for t in ALL if t not in DEFAULT]
# the same procedure, but the state is physics: cheetah settles 200 steps from its draw with the env's physics (MJX
# float32 on dm_control's model here; with physics=playground, solver iterations 4 and eulerdamp off too)
NOT_A_DRAW = {"cheetah-run": "200 settling steps with the JAX env's physics (MJX float32)"}
REDRAWN = {"BallInCup", "FingerSpin", "FingerTurnEasy", "FingerTurnHard", "HumanoidRun", "HumanoidStand",
           "HumanoidWalk", "QuadrupedRun", "QuadrupedWalk"}  # (quadruped: raised until nothing touches)


@functools.lru_cache(maxsize=2)
def _jax_env(task: str) -> MJXEnv:
    return make_jax_env(load_config(overrides=[f"task={task}", "backend=jax"]))


def dm_starts(task: str, n: int, seed: int) -> tuple[DMControlEnv, list[SimState]]:
    env = DMControlEnv(task, seed=seed)
    out = []
    for _ in range(n):
        env.reset()
        out.append(capture(env.physics))
    return env, out


def jax_starts(jenv: MJXEnv, n: int, seed: int) -> tuple[list[SimState], np.ndarray]:
    """n JAX initial states (as SimStates: data + target) and their reset observations."""
    states = jax.jit(jax.vmap(jenv.reset))(jax.random.split(jax.random.PRNGKey(seed), n))
    d = states.playground.data
    mocap = target_mocap(jenv.mj_model)
    out = []
    for i in range(n):
        data = {k: np.asarray(getattr(d, k)[i], np.float64) for k in ("qpos", "qvel", "act", "ctrl", "qacc_warmstart")}
        target = None if mocap is None else np.asarray(d.mocap_pos[i, mocap], np.float64)
        out.append(SimState(data, target))
    return out, np.asarray(states.obs)


def coordinates(states: list[SimState]) -> np.ndarray:
    """(n, k): qpos, qvel, the target's position and its horizontal distance from the origin (dm_control's reacher
    draws that radius: a wrong range barely moves x and y) of each state, as float32 (the JAX env's precision)."""
    rows = [np.concatenate([s.data["qpos"], s.data["qvel"],
                            [] if s.target is None else [*s.target, np.hypot(*s.target[:2])]]) for s in states]
    return np.asarray(rows, np.float32)


def check(task: str, jenv: MJXEnv | None = None) -> None:
    spec = TASKS[task]
    env, dm = dm_starts(task, N, seed=0)
    jx, jax_obs = jax_starts(jenv or _jax_env(task), N, seed=0)
    if jx[0].target is None and dm[0].target is not None:  # a target that never moves (acrobot, point_mass)
        assert all(np.array_equal(s.target, dm[0].target) for s in dm), task
        jx = [SimState(s.data, dm[0].target) for s in jx]
    a, b = coordinates(dm), coordinates(jx)
    if task not in NOT_A_DRAW:
        ks = [stats.ks_2samp(a[:, i], b[:, i]).statistic for i in range(a.shape[1])]
        assert max(ks) < KS_MAX, (task, int(np.argmax(ks)), max(ks))
        random = [i for i in range(a.shape[1]) if a[:, i].std() > RANDOM]
        assert random == [i for i in range(b.shape[1]) if b[:, i].std() > RANDOM], task
        if 2 <= len(random) <= FEW:
            gap = np.abs(np.corrcoef(a[:, random].T) - np.corrcoef(b[:, random].T))
            assert gap.max() < CORR_MAX, (task, gap.round(2))
    if spec.playground in REDRAWN:  # dm_control's criterion on its own model: no contact in any start
        for s in jx:
            apply_dm(env.physics, s)
            assert env.physics.data.ncon == 0, task
    obs = []
    for s in jx:
        apply_dm(env.physics, s)
        obs.append(flatten_observation(env.task.get_observation(env.physics)))
    # float32 kinematics of float32 copies of the same state (measured max 2.4e-7 over the default tasks)
    compare(np.stack(obs), jax_obs, f"env/reset obs ({task})", "float32", test="test_initial_states")


def test_every_playground_env_is_classified() -> None:
    playground = {spec.playground for spec in TASKS.values() if spec.playground is not None}
    assert sorted(set(INITIAL_STATES) | set(SAME_AS_DM_CONTROL)) == sorted(playground)
    assert not set(INITIAL_STATES) & set(SAME_AS_DM_CONTROL)
    assert len(ALL) == len(playground) + len(TASK_INITIAL_STATES) and set(DEFAULT) <= set(ALL)


@pytest.mark.parametrize("task", DEFAULT)
def test_initial_states(task: str) -> None:
    check(task)


@pytest.mark.slow
@pytest.mark.parametrize("task", SLOW)
def test_initial_states_slow(task: str) -> None:
    check(task)


@pytest.mark.slow
def test_quadruped_start_height_is_dm_controls() -> None:
    """The root height of a JAX quadruped start is dm_control's `_find_non_contacting_height` of its orientation
    (the lowest of 0, 1, 2, ... cm at which nothing touches)."""
    from dm_control.suite import quadruped

    starts, _ = jax_starts(_jax_env("quadruped-walk"), 32, seed=1)
    env = DMControlEnv("quadruped-walk", seed=0)
    heights = []
    for s in starts:
        quadruped._find_non_contacting_height(env.physics, s.data["qpos"][3:7])
        heights.append((float(env.physics.named.data.qpos["root"][2]), s.data["qpos"][2]))
    dm, jx = np.array(heights).T
    assert np.ptp(dm) > 0.05  # orientations that need different heights
    np.testing.assert_allclose(jx, dm, atol=1e-6)


def test_playgrounds_own_draw_fails_the_check(monkeypatch) -> None:
    """The check can fail: with Playground's own draw, cartpole's cart velocity equals its slider position."""
    from jax_impl import env as env_module

    monkeypatch.setattr(env_module, "INITIAL_STATES", {})
    with pytest.raises(AssertionError, match="cartpole-swingup"):
        check("cartpole-swingup", make_jax_env(load_config(overrides=["task=cartpole-swingup", "backend=jax"])))
