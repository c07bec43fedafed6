"""Evaluation episodes of the torch agent: the loop of `Trainer.evaluate` (which calls `run_episodes`), plus what
`tdmpc-parity eval` records and the trainer's videos.

`run_episodes` runs one episode in each env of a vector env side by side, acting with MPPI in eval mode
(`agent.act(obs, t0, eval_mode=True)`), and returns the undiscounted returns, the reward of every agent step
and, when asked, the encoder latents z_t = enc(o_t) of o_0..o_L (L = episode_length). `control_step_hook`
makes an env call a function with its dm_control Physics after the reset and after every physics control step
(action_repeat per agent step), which is how a video gets the env's full frame rate. `Evaluator` is what
`tdmpc_parity/app/evaluate.py` drives through torch_ref/rollout.py (the same interface as jax_impl/episodes.py):
an agent built from canonical weights, episode i on an env seeded `seed + 10_000 + i` (the trainer's eval env i),
the Glass cluster probabilities of latents. `write_training_video` renders the trainer's videos with it
(tdmpc_parity/core/training_video.py). The trainer (torch_ref/train.py) imports this module; torch_ref/rollout.py
reads the trainer's checkpoints, so these pieces are not in it (as in jax_impl/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tdmpc_parity.core.config import Config
from tdmpc_parity.core.episodes import EpisodeRecord
from tdmpc_parity.core.training_video import render_training_video
from tdmpc_parity.core.video import FrameRenderer, RenderSpec
from torch_ref.agent import TDMPC2
from torch_ref.env import make_vector_env


@dataclass
class Episodes:
    """returns (E,) float64 = the running sum of rewards (E, L) (the reward of each agent step); latents
    (E, L+1, Z) of o_0..o_L, or None when not recorded."""

    returns: np.ndarray
    latents: np.ndarray | None = None
    rewards: np.ndarray | None = None


@torch.no_grad()
def run_episodes(agent: TDMPC2, vec_env: Any, episode_length: int, seed: int | None = None,
                 record_latents: bool = False,
                 progress: Callable[[range], Iterable[int]] | None = None) -> Episodes:
    """One episode per env of `vec_env` (reset with `seed`: env i gets seed + i; None: the envs' own RNG goes
    on), MPPI in eval mode. `progress` wraps the step range (a progress bar)."""
    obs, _ = vec_env.reset(seed=seed)
    E = obs.shape[0]
    total = np.zeros(E)
    rewards = np.zeros((E, episode_length))
    latents: list[torch.Tensor] = []

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(x), device=agent.device, dtype=agent.dtype)

    steps = range(episode_length)
    for t in steps if progress is None else progress(steps):
        if record_latents:
            latents.append(agent.model.encode(tensor(obs)))
        t0 = torch.full((E,), t == 0, device=agent.device)
        action = agent.act(tensor(obs), t0, eval_mode=True)
        obs, reward, _, _, _ = vec_env.step(action.cpu().numpy())
        rewards[:, t] = reward
        total += reward
    if not record_latents:
        return Episodes(total, rewards=rewards)
    latents.append(agent.model.encode(tensor(obs)))  # the final observation o_L
    return Episodes(total, torch.stack(latents, dim=1).cpu().numpy(), rewards)


class _HookedDmEnv:
    """Stands in for a DMControlEnv's dm_control env: forwards everything; calls `hook(physics)` after `reset`
    and after every `step` (one physics control step)."""

    def __init__(self, inner: Any, hook: Callable[[Any], None]):
        self._inner, self._hook = inner, hook

    def reset(self) -> Any:
        ts = self._inner.reset()
        self._hook(self._inner.physics)
        return ts

    def step(self, action: Any) -> Any:
        ts = self._inner.step(action)
        self._hook(self._inner.physics)
        return ts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextmanager
def control_step_hook(vec_env: Any, hook: Callable[[Any], None], index: int = 0) -> Iterator[None]:
    """While inside, env `index` of `vec_env` calls `hook(physics)` after its reset and each control step."""
    env = vec_env.envs[index]
    inner = env.dm_env
    env.dm_env = _HookedDmEnv(inner, hook)
    try:
        yield
    finally:
        env.dm_env = inner


# ----------------------------------------------------------------------------------------------------------
# Weights in
# ----------------------------------------------------------------------------------------------------------


def make_agent(cfg: Config, canon: Mapping[str, np.ndarray]) -> TDMPC2:
    """A TD-MPC2 agent of `cfg` holding the canonical weights (strict keys and shapes)."""
    from torch_ref.weights import load_canonical

    agent = TDMPC2(cfg)
    load_canonical(agent.model, canon)
    return agent


# ----------------------------------------------------------------------------------------------------------
# What `tdmpc-parity eval` drives
# ----------------------------------------------------------------------------------------------------------



class Evaluator:
    """Episodes of one agent on a 1-env vector env; episode i starts from the env seeded seed + 10_000 + i."""

    def __init__(self, cfg: Config, canon: Mapping[str, np.ndarray], seed: int, render: bool = False):
        self.cfg, self.seed = cfg, seed  # `render`: the JAX Evaluator's flag; any episode here can be rendered
        self.agent = make_agent(cfg, canon)
        self.env = make_vector_env(cfg, 1, seed + 10_000)
        self.fps = 1.0 / float(self.env.envs[0].dm_env.control_timestep())

    def episode(self, i: int, render: RenderSpec | None = None) -> EpisodeRecord:
        frames: list[np.ndarray] = []
        renderer: list[FrameRenderer] = []

        def hook(physics: Any) -> None:
            if not renderer:
                renderer.append(FrameRenderer(physics.model.ptr, render))
            frames.append(renderer[0].render(physics.data.ptr))

        seed = self.seed + 10_000 + i
        if render is None:
            res = run_episodes(self.agent, self.env, self.cfg.episode_length, seed=seed, record_latents=True)
        else:
            with control_step_hook(self.env, hook):
                res = run_episodes(self.agent, self.env, self.cfg.episode_length, seed=seed, record_latents=True)
            renderer[0].close()
        return EpisodeRecord(float(res.returns[0]), res.latents[0], frames if render is not None else None,
                             res.rewards[0])

    @torch.no_grad()
    def glass(self, latents: np.ndarray) -> dict[str, np.ndarray]:
        """With the backend's Glass code: q = c(z) S (T, K), the latents' cluster probabilities (c = soft_assign
        to the prototypes, S = softmax(assign_logits / T_assign)); the Glass similarity (T, N) of each latent to
        each prototype (the soft-assignment logits before / T_proto); S (N, K)."""
        from torch_ref.glass import normalize_rows, soft_assign
        from torch_ref.structural_entropy import s_from_logits

        head, g = self.agent.model._glass, self.cfg.glass
        z = torch.as_tensor(np.asarray(latents), device=self.agent.device, dtype=self.agent.dtype)
        mu = head.prototypes
        S = s_from_logits(head.assign_logits, g.t_assign)
        if g.assignment == "cosine":
            sim = normalize_rows(z) @ normalize_rows(mu).T
        else:
            sim = -((z[:, None, :] - mu[None]) ** 2).sum(-1)
        q = soft_assign(z, mu, g) @ S
        return {"q": q.cpu().numpy(), "similarity": sim.cpu().numpy(), "S": S.cpu().numpy()}


def write_training_video(cfg: Config, canon: Mapping[str, np.ndarray], seed: int, run_dir: str | Path,
                         env_step: int) -> Path:
    """The training video at `env_step` (tdmpc_parity/core/training_video.py): episode 0 of an `Evaluator` of the
    canonical weights `canon` and `seed`, rendered into RUN_DIR/videos/step_<env_step>.mp4."""
    return render_training_video(cfg, Evaluator(cfg, canon, seed, render=True), run_dir, env_step)
