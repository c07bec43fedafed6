"""The noise every stochastic function consumes, named and shaped in one place.

Both backends implement each stochastic step as a pure core that takes these arrays as arguments; their
random wrappers only draw arrays of these shapes and call the core. The parity tests draw them once in NumPy
(`draw_numpy`) and feed both backends.

Kinds: "normal" = N(0, 1); "gumbel" = -log(Exp(1)); "uniform" = U[-1, 1]; "keep" = dropout keep-mask
(1 with probability 1 - p, else 0; the core scales kept values by 1/(1 - p)); "pair" = two distinct Q-head
indices (torch.randperm(num_q)[:2]); "index:N" = integers in [0, N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tdmpc_parity.core.config import Config


@dataclass(frozen=True)
class NoiseSpec:
    shape: tuple[int, ...]
    kind: str


def pi_noise(batch_shape: tuple[int, ...], cfg: Config) -> dict[str, NoiseSpec]:
    """Policy sample: eps for a = tanh(mu + eps * exp(log_std))."""
    return {"eps": NoiseSpec((*batch_shape, cfg.action_dim), "normal")}


def planner_noise(cfg: Config, n_envs: int) -> dict[str, NoiseSpec]:
    """One MPPI `act` for n_envs envs (official `_plan` + `_estimate_value`), leading axis = env."""
    E, H, A = n_envs, cfg.horizon, cfg.action_dim
    I, N, P, K = cfg.plan_iterations, cfg.num_samples, cfg.num_pi_trajs, cfg.num_elites
    return {
        "pi_traj_eps": NoiseSpec((E, H, P, A), "normal"),  # sampled policy trajectories
        "sample_normals": NoiseSpec((E, I, H, N - P, A), "normal"),  # mean + std * r per iteration
        "value_pi_eps": NoiseSpec((E, I, N, A), "normal"),  # terminal action a_H ~ pi(z_H) per iteration
        "value_q_pair": NoiseSpec((E, I, 2), "pair"),  # Q_avg head pair per iteration
        "gumbel": NoiseSpec((E, K), "gumbel"),  # Gumbel-max draw of one elite
        "action_noise": NoiseSpec((E, A), "normal"),  # a + std[0] * noise in training mode
    }


def policy_collector_noise(cfg: Config, n_envs: int) -> dict[str, NoiseSpec]:
    """The seed's collector: a = clip(tanh(mu) + policy_noise_std * noise, -1, 1)."""
    return {"action_noise": NoiseSpec((n_envs, cfg.action_dim), "normal")}


def update_noise(cfg: Config) -> dict[str, NoiseSpec]:
    """One TD-MPC2 update (official `_update` + `update_pi`) on a (H+1, B) batch."""
    H, B, A, Q, M = cfg.horizon, cfg.batch_size, cfg.action_dim, cfg.num_q, cfg.mlp_dim
    return {
        "td_pi_eps": NoiseSpec((H, B, A), "normal"),  # a' ~ pi(next_z) in the TD target
        "td_q_pair": NoiseSpec((2,), "pair"),  # target Q_min pair, shared over batch and time
        "q_dropout": NoiseSpec((Q, H, B, M), "keep"),  # dropout of the Q loss (train mode)
        "pi_eps": NoiseSpec((H + 1, B, A), "normal"),  # policy-loss sample at zs
        "pi_q_pair": NoiseSpec((2,), "pair"),  # detached Q_avg pair in the policy loss
        "pi_q_dropout": NoiseSpec((Q, H + 1, B, M), "keep"),  # dropout of the detached Qs (train mode)
    }


def buffer_noise(cfg: Config, num_episodes: int) -> dict[str, NoiseSpec]:
    """Uniform sub-trajectory sampling: an episode, then a start in [0, L + 1 - (H + 1)]."""
    starts = cfg.episode_length + 1 - (cfg.horizon + 1) + 1
    return {
        "episode": NoiseSpec((cfg.batch_size,), f"index:{num_episodes}"),
        "start": NoiseSpec((cfg.batch_size,), f"index:{starts}"),
    }


def draw_numpy(specs: dict[str, NoiseSpec], rng: np.random.Generator, cfg: Config,
               dtype: np.dtype | type = np.float32) -> dict[str, np.ndarray]:
    """Draw every array of `specs` with NumPy (for parity tests: one draw fed to both backends)."""
    out: dict[str, np.ndarray] = {}
    for name, spec in specs.items():
        if spec.kind == "normal":
            out[name] = rng.standard_normal(spec.shape).astype(dtype)
        elif spec.kind == "gumbel":
            out[name] = (-np.log(rng.exponential(size=spec.shape))).astype(dtype)
        elif spec.kind == "uniform":
            out[name] = rng.uniform(-1.0, 1.0, size=spec.shape).astype(dtype)
        elif spec.kind == "keep":
            out[name] = (rng.random(spec.shape) >= cfg.dropout).astype(dtype)
        elif spec.kind == "pair":
            flat = [rng.permutation(cfg.num_q)[:2] for _ in range(int(np.prod(spec.shape[:-1], dtype=int)))]
            out[name] = np.asarray(flat, dtype=np.int64).reshape(spec.shape)
        elif spec.kind.startswith("index:"):
            out[name] = rng.integers(0, int(spec.kind[6:]), size=spec.shape, dtype=np.int64)
        else:
            raise ValueError(f"noise {name!r}: unknown kind {spec.kind!r}")
    return out
