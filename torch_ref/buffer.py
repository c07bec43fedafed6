"""Episode replay buffer (official `common/buffer.py` semantics) for n_envs envs in lockstep.

An episode is stored as L + 1 rows: the reset observation with NaN action and reward, then L rows
(obs_{t+1}, a_t, r_t). Only completed episodes are sampled (the in-progress one cannot be, as official).
Sampling draws an episode uniformly among the stored ones and a start uniformly in [0, L + 1 - (H + 1)],
and returns obs rows start..start+H and action/reward rows start+1..start+H, so obs[0] = s_t, action[0] = a_t,
reward[0] = r_t. Storage: (num_slots + 1, n_envs, L + 1, .): num_slots completed episodes per env (FIFO) plus
the one being written. The pure core `sample_core` takes the episode and start indices as arguments.
"""

from __future__ import annotations

import torch

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.noise import buffer_noise
from torch_ref.noise import draw


def num_slots(cfg: Config, n_envs: int) -> int:
    """Completed episodes kept per env: capacity (transitions) / (episode_length * n_envs), at least 1."""
    return max(1, cfg.buffer_capacity // (cfg.episode_length * n_envs))


class Buffer:
    """Preallocated episode storage on `device`."""

    def __init__(self, cfg: Config, n_envs: int, device: torch.device, dtype: torch.dtype):
        self.cfg, self.n_envs = cfg, n_envs
        self.slots = num_slots(cfg, n_envs)
        P, L = self.slots + 1, cfg.episode_length
        self.obs = torch.zeros(P, n_envs, L + 1, cfg.obs_dim, device=device, dtype=dtype)
        self.action = torch.full((P, n_envs, L + 1, cfg.action_dim), float("nan"), device=device, dtype=dtype)
        self.reward = torch.full((P, n_envs, L + 1), float("nan"), device=device, dtype=dtype)
        self.num_completed = 0  # episodes completed per env (all envs in lockstep)
        self.t = 0  # rows written after the reset row of the current episode

    @property
    def num_episodes(self) -> int:
        """Sampleable episodes (over all envs)."""
        return min(self.num_completed, self.slots) * self.n_envs

    def _slot(self) -> int:
        return self.num_completed % (self.slots + 1)

    def add_reset(self, obs: torch.Tensor) -> None:
        """Start an episode in every env: row 0 = reset obs, NaN action and reward."""
        s = self._slot()
        self.obs[s, :, 0] = obs
        self.action[s, :, 0] = float("nan")
        self.reward[s, :, 0] = float("nan")
        self.t = 0

    def add(self, next_obs: torch.Tensor, action: torch.Tensor, reward: torch.Tensor) -> bool:
        """Append (obs_{t+1}, a_t, r_t) for every env; returns True when the episode is complete."""
        if self.t >= self.cfg.episode_length:
            raise ValueError("episode already complete: call add_reset before adding more rows")
        s, self.t = self._slot(), self.t + 1
        self.obs[s, :, self.t] = next_obs
        self.action[s, :, self.t] = action
        self.reward[s, :, self.t] = reward
        if self.t == self.cfg.episode_length:
            self.num_completed += 1
            return True
        return False

    def sample_core(self, episode: torch.Tensor, start: torch.Tensor):
        """Pure sampling core: episode in [0, num_episodes), start in [0, L - H] -> (obs, action, reward)
        of shapes (H+1, B, obs_dim), (H, B, A), (H, B, 1)."""
        H = self.cfg.horizon
        stored = min(self.num_completed, self.slots)
        first = self.num_completed - stored
        slot = (first + torch.div(episode, self.n_envs, rounding_mode="floor")) % (self.slots + 1)
        env = episode % self.n_envs
        rows = start.unsqueeze(0) + torch.arange(H + 1, device=start.device).unsqueeze(1)  # (H+1, B)
        slot, env = slot.unsqueeze(0).expand_as(rows), env.unsqueeze(0).expand_as(rows)
        obs = self.obs[slot, env, rows]
        action = self.action[slot[1:], env[1:], rows[1:]]
        reward = self.reward[slot[1:], env[1:], rows[1:]].unsqueeze(-1)
        return obs, action, reward

    # random wrapper: draws noise with its framework's RNG, then calls a compared core
    def sample(self, generator: torch.Generator):  # parity: not compared
        """Random wrapper: uniform episode, uniform start."""
        if self.num_episodes == 0:
            raise ValueError("the buffer holds no completed episode yet")
        idx = draw(buffer_noise(self.cfg, self.num_episodes), generator, self.cfg, self.obs.device, self.obs.dtype)
        return self.sample_core(idx["episode"], idx["start"])

    def state_dict(self) -> dict:  # parity: not compared (checkpoint bookkeeping; exact resume is tested in tests/)
        return {"obs": self.obs, "action": self.action, "reward": self.reward,
                "num_completed": self.num_completed, "t": self.t}

    # checkpoint bookkeeping; exact resume is tested in tests/
    def load_state_dict(self, state: dict) -> None:  # parity: not compared
        for key in ("obs", "action", "reward"):
            if tuple(state[key].shape) != tuple(getattr(self, key).shape):
                raise ValueError(f"buffer {key} has shape {tuple(state[key].shape)} in the checkpoint but "
                                 f"{tuple(getattr(self, key).shape)} here")
            getattr(self, key).copy_(state[key])
        self.num_completed, self.t = int(state["num_completed"]), int(state["t"])
