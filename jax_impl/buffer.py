"""Episode replay buffer in device arrays (mirror of torch_ref/buffer.py), functional and jittable.

An episode is stored as L + 1 rows: the reset observation with NaN action and reward, then L rows
(obs_{t+1}, a_t, r_t). Only completed episodes are sampled. Sampling draws an episode uniformly among the
stored ones and a start uniformly in [0, L + 1 - (H + 1)], and returns obs rows start..start+H and
action/reward rows start+1..start+H. Storage: (num_slots + 1, n_envs, L + 1, .) preallocated: num_slots
completed episodes per env (FIFO) plus the one being written. `sample_core` takes the indices as arguments.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import buffer_noise


def num_slots(cfg: Config, n_envs: int) -> int:
    """Completed episodes kept per env: capacity (transitions) / (episode_length * n_envs), at least 1."""
    return max(1, cfg.buffer_capacity // (cfg.episode_length * n_envs))


class BufferState(NamedTuple):
    obs: jax.Array  # (P, E, L + 1, obs_dim)
    action: jax.Array  # (P, E, L + 1, A), row 0 NaN
    reward: jax.Array  # (P, E, L + 1), row 0 NaN
    num_completed: jax.Array  # int32 (): episodes completed per env
    t: jax.Array  # int32 (): rows written after the reset row of the current episode


class Buffer:
    """Static description (sizes) + pure functions on a BufferState."""

    def __init__(self, cfg: Config, n_envs: int, dtype):
        self.cfg, self.n_envs, self.dtype = cfg, n_envs, dtype
        self.slots = num_slots(cfg, n_envs)

    def init(self) -> BufferState:
        cfg, P, L, E = self.cfg, self.slots + 1, self.cfg.episode_length, self.n_envs
        return BufferState(
            obs=jnp.zeros((P, E, L + 1, cfg.obs_dim), self.dtype),
            action=jnp.full((P, E, L + 1, cfg.action_dim), jnp.nan, self.dtype),
            reward=jnp.full((P, E, L + 1), jnp.nan, self.dtype),
            num_completed=jnp.zeros((), jnp.int32),
            t=jnp.zeros((), jnp.int32),
        )

    def num_episodes(self, state: BufferState) -> jax.Array:
        """Sampleable episodes (over all envs)."""
        return jnp.minimum(state.num_completed, self.slots) * self.n_envs

    def _slot(self, state: BufferState) -> jax.Array:
        return state.num_completed % (self.slots + 1)

    @jax.named_scope("buffer_add_reset")  # named: tests find it in a compiled chunk's jaxpr
    def add_reset(self, state: BufferState, obs: jax.Array) -> BufferState:
        """Start an episode in every env: row 0 = reset obs, NaN action and reward."""
        s = self._slot(state)
        return state._replace(
            obs=state.obs.at[s, :, 0].set(obs),
            action=state.action.at[s, :, 0].set(jnp.nan),
            reward=state.reward.at[s, :, 0].set(jnp.nan),
            t=jnp.zeros((), jnp.int32),
        )

    def add(self, state: BufferState, next_obs: jax.Array, action: jax.Array, reward: jax.Array) -> BufferState:
        """Append (obs_{t+1}, a_t, r_t) for every env; completing row L completes the episode."""
        s, t = self._slot(state), state.t + 1
        done = t == self.cfg.episode_length
        return state._replace(
            obs=state.obs.at[s, :, t].set(next_obs),
            action=state.action.at[s, :, t].set(action),
            reward=state.reward.at[s, :, t].set(reward),
            num_completed=state.num_completed + done.astype(jnp.int32),
            t=t,
        )

    def sample_core(self, state: BufferState, episode: jax.Array, start: jax.Array):
        """Pure sampling core: episode in [0, num_episodes), start in [0, L - H] -> (obs, action, reward)
        of shapes (H+1, B, obs_dim), (H, B, A), (H, B, 1)."""
        H = self.cfg.horizon
        stored = jnp.minimum(state.num_completed, self.slots)
        first = state.num_completed - stored
        slot = (first + episode // self.n_envs) % (self.slots + 1)
        env = episode % self.n_envs
        rows = start[None, :] + jnp.arange(H + 1)[:, None]  # (H+1, B)
        slot, env = jnp.broadcast_to(slot, rows.shape), jnp.broadcast_to(env, rows.shape)
        obs = state.obs[slot, env, rows]
        action = state.action[slot[1:], env[1:], rows[1:]]
        reward = state.reward[slot[1:], env[1:], rows[1:]][..., None]
        return obs, action, reward

    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def sample(self, state: BufferState, key: jax.Array):  # parity: not compared
        """Random wrapper: uniform episode among the stored ones, uniform start."""
        specs = buffer_noise(self.cfg, 1)
        k_ep, k_start = jax.random.split(key)
        episode = jax.random.randint(k_ep, specs["episode"].shape, 0, jnp.maximum(self.num_episodes(state), 1))
        start = jax.random.randint(k_start, specs["start"].shape, 0, int(specs["start"].kind[6:]))
        return self.sample_core(state, episode, start)
