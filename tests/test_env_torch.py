"""torch_ref.env: dm_control behind gymnasium with the official TD-MPC2 DMC semantics."""

from __future__ import annotations

import numpy as np
import pytest

from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import TASKS
from torch_ref.env import DMControlEnv, flatten_observation, load_dm_env, make_env, make_vector_env


def _raw_env(task: str, seed: int):
    """A raw dm_control env (no gymnasium wrapper) of `task` with task RNG `seed`."""
    from dm_control import suite

    spec = TASKS[task]
    return suite.load(spec.domain, spec.task, task_kwargs={"random": seed})


@pytest.mark.parametrize("task", sorted(TASKS))
def test_obs_and_action_dims_match_task_table(task: str) -> None:
    env = DMControlEnv(task, seed=0)
    obs, info = env.reset()
    spec = TASKS[task]
    assert obs.shape == (spec.obs_dim,) and obs.dtype == np.float32
    assert env.observation_space.shape == (spec.obs_dim,)
    assert env.action_space.shape == (spec.action_dim,)
    assert info == {}
    # the task table's 1000 control steps are dm_control's time limit
    assert env.dm_env._step_limit == spec.control_steps


def _check_episode_against_raw(task: str, seed: int, episode_length: int) -> list[float]:
    """Step the wrapper and a raw dm_control env with the same actions; every number must be equal."""
    env = DMControlEnv(task, seed=seed, episode_length=episode_length, action_repeat=2)
    raw = _raw_env(task, seed)
    spec = raw.action_spec()
    # every DMC task's action spec is [-1, 1]: action_scale is the identity, so raw takes the same action
    assert np.all(spec.minimum == -1.0) and np.all(spec.maximum == 1.0)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, flatten_observation(raw.reset().observation))
    rng = np.random.default_rng(seed)
    rewards = []
    for t in range(1, episode_length + 1):
        action = rng.uniform(-1, 1, env.action_dim).astype(np.float32)
        obs, reward, terminated, truncated, _ = env.step(action)
        r1 = raw.step(action.astype(np.float64)).reward
        ts = raw.step(action.astype(np.float64))
        assert reward == r1 + ts.reward  # the two sub-step rewards, summed
        np.testing.assert_array_equal(obs, flatten_observation(ts.observation))
        assert terminated is False
        assert truncated is (t == episode_length)
        rewards.append(reward)
    return rewards


def test_hopper_hop_episode_is_500_agent_steps_of_summed_rewards() -> None:
    _check_episode_against_raw("hopper-hop", seed=7, episode_length=500)


def test_full_episode_ends_with_dm_control_time_limit() -> None:
    env = make_env(load_config(), seed=2)  # official: 500 agent steps x repeat 2 = 1000 control steps
    raw = _raw_env("hopper-hop", 2)
    env.reset()
    raw.reset()
    a = np.zeros(4, np.float32)
    for _ in range(env.episode_length):
        env.step(a)
        raw.step(a)
        ts = raw.step(a)
    assert ts.last() and env.elapsed_steps == 500
    with pytest.raises(RuntimeError, match="reset"):
        env.step(a)


def test_reward_is_sum_of_substep_rewards_with_nonzero_rewards() -> None:
    # hopper-hop pays 0 under random actions; cartpole-balance pays a different reward every control step,
    # so this catches a wrapper that returns the last or the mean sub-step reward.
    rewards = _check_episode_against_raw("cartpole-balance", seed=3, episode_length=50)
    assert max(rewards) > 1.0 and len(set(rewards)) == len(rewards)  # non-trivial, varying rewards


def test_same_seed_same_observations_different_seed_different() -> None:
    cfg = load_config()
    a, b, c = make_env(cfg, 11), make_env(cfg, 11), make_env(cfg, 12)
    oa, ob, oc = a.reset()[0], b.reset()[0], c.reset()[0]
    np.testing.assert_array_equal(oa, ob)
    assert not np.array_equal(oa, oc)
    rng = np.random.default_rng(0)
    for _ in range(20):
        act = rng.uniform(-1, 1, 4)
        np.testing.assert_array_equal(a.step(act)[0], b.step(act)[0])
    # reset(seed=s) reseeds the task RNG exactly as building the env with seed s
    np.testing.assert_array_equal(c.reset(seed=11)[0], make_env(cfg, 11).reset()[0])


def test_vector_env_two_envs_lockstep_and_reset_together() -> None:
    cfg = load_config(overrides=["episode_length=4"])
    vec = make_vector_env(cfg, n_envs=2, seed=5)
    obs, _ = vec.reset()
    assert obs.shape == (2, 15) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[0], make_env(cfg, 5).reset()[0])
    np.testing.assert_array_equal(obs[1], make_env(cfg, 6).reset()[0])
    for t in range(1, 5):
        obs, reward, term, trunc, _ = vec.step(np.zeros((2, 4), np.float32))
        assert reward.shape == (2,) and not term.any()
        assert trunc.tolist() == [t == 4, t == 4]
    obs2, _ = vec.reset()  # the caller resets all envs together after the last step
    assert not np.array_equal(obs, obs2)
    vec.step(np.zeros((2, 4), np.float32))
    vec.close()


BAD_ACTIONS = [np.zeros(3), np.zeros((1, 4)), np.zeros(5), np.array([0.0, np.nan, 0.0, 0.0])]


@pytest.mark.parametrize("bad", BAD_ACTIONS)
def test_bad_action_is_value_error(bad: np.ndarray) -> None:
    env = make_env(load_config(), 0)
    env.reset()
    with pytest.raises(ValueError, match="action"):
        env.step(bad)


def test_bad_construction_is_value_error() -> None:
    with pytest.raises(ValueError, match="unknown task"):
        DMControlEnv("hopper-fly", 0)
    with pytest.raises(ValueError, match="episode_length"):
        DMControlEnv("hopper-hop", 0, episode_length=501, action_repeat=2)
    with pytest.raises(ValueError, match="n_envs"):
        make_vector_env(load_config(), 0, 0)
    with pytest.raises(RuntimeError, match="reset"):
        DMControlEnv("hopper-hop", 0).step(np.zeros(4))


def test_load_dm_env_rescales_actions_from_unit_box() -> None:
    env = load_dm_env(TASKS["hopper-hop"], 0)
    spec = env.action_spec()
    assert np.all(spec.minimum == -1.0) and np.all(spec.maximum == 1.0)
    env.reset()
    env.step(np.full(4, 0.25))
    np.testing.assert_array_equal(env.physics.data.ctrl, np.full(4, 0.25))


def test_actions_rescale_onto_a_non_unit_ctrlrange() -> None:
    """quadruped's actuators are not all [-1, 1]: the official action_scale maps [-1, 1] linearly onto each range."""
    env = DMControlEnv("quadruped-walk", seed=0)
    env.reset()
    lo, hi = env.physics.model.actuator_ctrlrange.T
    assert not (np.all(lo == -1.0) and np.all(hi == 1.0))
    for a, want in ((1.0, hi), (-1.0, lo), (0.0, (lo + hi) / 2)):
        env.step(np.full(env.action_dim, a, np.float32))
        np.testing.assert_allclose(env.physics.data.ctrl, want, rtol=1e-12, atol=1e-12)
