"""Evaluation episodes of the JAX agent: the loop of `Programs.eval_episodes` (which calls `run_episodes`), plus
what `tdmpc-parity eval` records and the trainer's videos.

`run_episodes` (pure, jit-able) runs one episode in each env of a batch side by side in a `lax.scan`, acting with
MPPI in eval mode (`agent.act(state, obs, t0, eval_mode=True)`), and returns the undiscounted returns and,
when asked (static flags), the reward of every agent step, the encoder latents z_t = enc(o_t) of o_0..o_L
(L = episode_length) and the MJX states after every physics control step. The envs are fresh, so the episode
ends at the scan's last step and no auto-reset is traced (`step_batch(..., reset=False)`). The MJX env steps
its action_repeat control steps inside one scan, so `replay` re-runs them from the step's start data with the
same ctrl (`env.control_step`, the env's own function) and keeps each one's qpos/qvel: the frames of a video.
`Evaluator` is what `tdmpc_parity/app/evaluate.py` drives through jax_impl/rollout.py (the same interface as
torch_ref/rollout.py): an agent built from canonical weights, episode i from the keys split from
fold_in(PRNGKey(seed), 10_000 + i), frames rendered by copying the states into an `mujoco.MjData` of the env's
MjModel. `write_training_video` renders the trainer's videos with it (tdmpc_parity/core/training_video.py).
The trainer (jax_impl/train.py) imports this module; jax_impl/rollout.py, which reads the trainer's checkpoints,
imports the trainer, so these pieces are not in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jax_impl.agent import TDMPC2, AgentState
from jax_impl.env import EnvState, MJXEnv
from tdmpc_parity.core.config import Config, GlassConfig
from tdmpc_parity.core.episodes import EpisodeRecord
from tdmpc_parity.core.training_video import render_training_video
from tdmpc_parity.core.video import FrameRenderer, RenderSpec


class Episodes(NamedTuple):
    """returns (E,) (the running float32 sum of the rewards); the agent state after the episodes; with `record`,
    latents (L+1, E, Z) of o_0..o_L and rewards (L, E) of each agent step; with `replay`, qpos / qvel
    (L, R, E, nq / nv) after each of the R = action_repeat control steps of each agent step (else None)."""

    returns: jax.Array
    agent: AgentState
    latents: jax.Array | None = None
    qpos: jax.Array | None = None
    qvel: jax.Array | None = None
    rewards: jax.Array | None = None


def _replay(env: MJXEnv, state: EnvState, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """qpos, qvel (R, E, ...) after each control step of `action` from `state` (as env.step_batch computes them)."""
    ctrl = jax.vmap(env.action_to_ctrl)(action)

    def one(data, _):
        data = jax.vmap(env.control_step)(data, ctrl)
        return data, (data.qpos, data.qvel)

    _, (qpos, qvel) = jax.lax.scan(one, state.playground.data, None, length=env.action_repeat)
    return qpos, qvel


def run_episodes(agent: TDMPC2, env: MJXEnv, agent_state: AgentState, env_state: EnvState, episode_length: int,
                 record: bool = False, replay: bool = False) -> Episodes:
    """One episode per env of `env_state` (E envs, fresh), MPPI in eval mode; `record`/`replay` as Episodes."""
    n = env_state.t.shape[0]

    def step(carry, t):
        env_s, ag, ret = carry[:3]
        out: dict[str, jax.Array] = {}
        if record:
            out["z"] = agent.model.encode(ag.params, env_s.obs)
        ag, action = agent.act(ag, env_s.obs, jnp.full((n,), t == 0), eval_mode=True)
        if replay:
            out["qpos"], out["qvel"] = _replay(env, env_s, action)
        env_s, tr = env.step_batch(env_s, action, reset=False)  # one episode: the final reset is unused
        if record:
            out["reward"] = tr.reward
        new = (env_s, ag, ret + tr.reward)
        return (new + (tr.next_obs,) if record else new), (out or None)

    carry = (env_state, agent_state, jnp.zeros((n,), jnp.float32))
    if record:
        carry = carry + (env_state.obs,)
    carry, out = jax.lax.scan(step, carry, jnp.arange(episode_length))
    res = Episodes(carry[2], carry[1])
    if record:
        final = agent.model.encode(carry[1].params, carry[3])  # the final observation o_L (before the auto-reset)
        res = res._replace(latents=jnp.concatenate([out["z"], final[None]], axis=0), rewards=out["reward"])
    if replay:
        res = res._replace(qpos=out["qpos"], qvel=out["qvel"])
    return res


# ----------------------------------------------------------------------------------------------------------
# Weights in
# ----------------------------------------------------------------------------------------------------------


def make_agent_state(agent: TDMPC2, canon: Mapping[str, np.ndarray], key: jax.Array) -> AgentState:
    """A fresh agent state around the canonical weights (strict keys and shapes; jax_impl.weights)."""
    from jax_impl.weights import from_canonical

    template = jax.eval_shape(agent.init, key).params
    template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), template)
    return agent.state_from_params(from_canonical(agent.model, canon, template), key)


# ----------------------------------------------------------------------------------------------------------
# What `tdmpc-parity eval` drives
# ----------------------------------------------------------------------------------------------------------

# Config fields that do not shape the episode program: one compiled program serves every value (Glass neither:
# acting never reads the Glass head, so the program gets the parameters without it).
_FREE_FIELDS = ("steps", "seed", "eval_freq", "eval_episodes", "save_every", "video_every")
_EPISODE_PROGRAMS: dict[tuple[Config, bool], tuple[TDMPC2, MJXEnv, Callable]] = {}


def _episode_program(cfg: Config, render: bool) -> tuple[TDMPC2, MJXEnv, Callable]:
    """(agent, env, jitted episode) for `cfg`, cached, so evaluating several weights of one config compiles once.

    The episode maps (agent state, key) to its return, latents and (render) the reset state and the states after
    every control step; the key splits into the env reset key and the act key."""
    key = (replace(cfg, glass=GlassConfig(), **{f: getattr(Config, f) for f in _FREE_FIELDS}), render)
    if key in _EPISODE_PROGRAMS:
        return _EPISODE_PROGRAMS[key]
    agent, env = TDMPC2(key[0], n_envs=1), MJXEnv(cfg)

    def episode(agent_state: AgentState, key: jax.Array) -> dict[str, jax.Array]:
        k_env, k_act = jax.random.split(key)
        env_state = env.reset_batch(k_env, 1)
        agent_state = agent_state._replace(key=k_act, prev_mean=jnp.zeros_like(agent_state.prev_mean))
        res = run_episodes(agent, env, agent_state, env_state, cfg.episode_length, record=True, replay=render)
        out = {"ret": res.returns[0], "latents": res.latents[:, 0], "rewards": res.rewards[:, 0]}
        if render:
            data = env_state.playground.data
            out.update(qpos0=data.qpos[0], qvel0=data.qvel[0], qpos=res.qpos[:, :, 0], qvel=res.qvel[:, :, 0],
                       mocap_pos=data.mocap_pos[0], mocap_quat=data.mocap_quat[0])  # the episode's goal (target)
        return out

    _EPISODE_PROGRAMS[key] = (agent, env, jax.jit(episode))
    return _EPISODE_PROGRAMS[key]


class Evaluator:
    """Episodes of one agent on one MJX env: one compiled episode program (replaying the control steps when
    `render` is set, so the video episode and the others share it); episode i uses the key
    fold_in(PRNGKey(seed), 10_000 + i)."""

    def __init__(self, cfg: Config, canon: Mapping[str, np.ndarray], seed: int, render: bool = False):
        self.cfg, self.seed, self.render = cfg, seed, render
        self.agent, self.env, self._episode = _episode_program(cfg, render)
        self.glass_params = None
        if cfg.glass.enabled:  # the Glass head stays outside the episode program
            self.glass_params = {"prototypes": jnp.asarray(canon["_glass.prototypes"], self.agent.dtype),
                                 "assign_logits": jnp.asarray(canon["_glass.assign_logits"], self.agent.dtype)}
        canon = {k: v for k, v in canon.items() if not k.startswith("_glass.")}
        self.state = make_agent_state(self.agent, canon, jax.random.PRNGKey(seed))
        self.fps = 1.0 / float(self.env.pg_env.dt)

    def episode(self, i: int, render: RenderSpec | None = None) -> EpisodeRecord:
        if render is not None and not self.render:
            raise ValueError("this Evaluator was built without render=True")
        key = jax.random.fold_in(jax.random.PRNGKey(self.seed), 10_000 + i)
        out = jax.device_get(self._episode(self.state, key))
        frames = None
        if render is not None:
            renderer = FrameRenderer(self.env.mj_model, render)
            goal = {"mocap_pos": out["mocap_pos"], "mocap_quat": out["mocap_quat"]}  # fixed for the episode
            frames = [renderer.render_state(out["qpos0"], out["qvel0"], **goal)]
            L, R = out["qpos"].shape[:2]
            frames += [renderer.render_state(out["qpos"][t, j], out["qvel"][t, j], **goal)
                       for t in range(L) for j in range(R)]
            renderer.close()
        return EpisodeRecord(float(out["ret"]), np.asarray(out["latents"]), frames, np.asarray(out["rewards"]))

    def glass(self, latents: np.ndarray) -> dict[str, np.ndarray]:
        """With the backend's Glass code: q = c(z) S (T, K), the latents' cluster probabilities (c = soft_assign
        to the prototypes, S = softmax(assign_logits / T_assign)); the Glass similarity (T, N) of each latent to
        each prototype (the soft-assignment logits before / T_proto); S (N, K)."""
        from jax_impl.glass import normalize_rows, soft_assign
        from jax_impl.structural_entropy import s_from_logits

        head, g = self.glass_params, self.cfg.glass
        z = jnp.asarray(latents, self.agent.dtype)
        mu = head["prototypes"]
        S = s_from_logits(head["assign_logits"], g.t_assign)
        if g.assignment == "cosine":
            sim = normalize_rows(z) @ normalize_rows(mu).T
        else:
            sim = -((z[:, None, :] - mu[None]) ** 2).sum(-1)
        q = soft_assign(z, mu, g) @ S
        return {"q": np.asarray(q), "similarity": np.asarray(sim), "S": np.asarray(S)}


def write_training_video(cfg: Config, canon: Mapping[str, np.ndarray], seed: int, run_dir: str | Path,
                         env_step: int) -> Path:
    """The training video at `env_step` (tdmpc_parity/core/training_video.py): episode 0 of an `Evaluator` of the
    canonical weights `canon` and `seed`, rendered into RUN_DIR/videos/step_<env_step>.mp4."""
    return render_training_video(cfg, Evaluator(cfg, canon, seed, render=True), run_dir, env_step)
