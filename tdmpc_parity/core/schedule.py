"""When things happen in a training run, shared by both backends' loops (ARCHITECTURE.md, "The training loop").

All counts are derived from the resolved config; the loops ask this object instead of re-deriving them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tdmpc_parity.core.config import Config


@dataclass(frozen=True)
class Schedule:
    cfg: Config

    @property
    def n_envs(self) -> int:
        return self.cfg.n_envs

    @property
    def total_iterations(self) -> int:
        """Vector steps of the whole run: ceil(steps / n_envs)."""
        return math.ceil(self.cfg.steps / self.cfg.n_envs)

    def agent_step(self, iteration: int) -> int:
        return iteration * self.cfg.n_envs

    def env_step(self, iteration: int) -> int:
        """Physics control steps: agent steps x action_repeat (the unit of the report and official CSVs)."""
        return iteration * self.cfg.n_envs * self.cfg.action_repeat

    def random_actions(self, iteration: int) -> bool:
        """Uniform random actions during the seed phase."""
        return iteration < self.cfg.seed_iterations

    def updates_after(self, iteration: int) -> int:
        """Gradient updates after the env step of `iteration` (0-based)."""
        if iteration == self.cfg.seed_iterations - 1:
            return self.cfg.pretrain_updates
        if iteration >= self.cfg.seed_iterations:
            return self.cfg.updates_per_iteration
        return 0

    def episode_end(self, iteration: int) -> bool:
        """True when the env step of `iteration` ended an episode (all envs in lockstep)."""
        return (iteration + 1) % self.cfg.episode_length == 0

    def eval_due(self, iterations_done: int, last_eval_index: int) -> bool:
        """An eval is due when agent_step // eval_freq grew since the last eval (index -1: never evaluated)."""
        return self.agent_step(iterations_done) // self.cfg.eval_freq > last_eval_index

    def eval_index(self, iterations_done: int) -> int:
        return self.agent_step(iterations_done) // self.cfg.eval_freq

    def save_due(self, iterations_done: int, last_save_index: int) -> bool:
        """A checkpoint is due at an episode end once agent_step // save_every grew (save_every > 0)."""
        if self.cfg.save_every <= 0:
            return False
        return self.agent_step(iterations_done) // self.cfg.save_every > last_save_index

    def save_index(self, iterations_done: int) -> int:
        return self.agent_step(iterations_done) // self.cfg.save_every if self.cfg.save_every > 0 else 0

    def glass_diag_due(self, iterations_done: int, last_diag_index: int) -> bool:
        if not self.cfg.glass.enabled:
            return False
        return self.agent_step(iterations_done) // self.cfg.glass.diag_every > last_diag_index

    def glass_diag_index(self, iterations_done: int) -> int:
        return self.agent_step(iterations_done) // self.cfg.glass.diag_every


# ----------------------------------------------------------------------------------------------------------
# Phase 1c knobs (config `policy_noise_end`, `q_reset_every_env_steps`): pure functions of the step, shared by
# both backends. Plain arithmetic, so a traced JAX counter works too (pass `minimum=jnp.minimum`); Python
# ints give Python numbers.
# ----------------------------------------------------------------------------------------------------------


def linear_anneal(start: float, end: float, duration: int, step, minimum=min):
    """start + (end - start) * min(step, duration) / duration: `start` at step 0, `end` from `duration` on."""
    return start + (end - start) * (minimum(step, duration) / duration)


def policy_noise_std_at(cfg: Config, env_step, minimum=min):
    """The `policy` collector's noise std for an action taken after `env_step` env steps: policy_noise_std, or
    with `policy_noise_end` set, linear from policy_noise_std to it over `policy_noise_anneal_env_steps`."""
    if cfg.policy_noise_end is None:
        return cfg.policy_noise_std
    return linear_anneal(cfg.policy_noise_std, cfg.policy_noise_end, cfg.policy_noise_anneal_env_steps, env_step,
                         minimum)


def q_reset_due(cfg: Config, iteration):
    """True when the Q ensemble is reset before the updates of vector step `iteration` (0-based): its env steps
    (iteration * n_envs * action_repeat, (iteration + 1) * ...] reach a multiple of `q_reset_every_env_steps`,
    and it is a training iteration (>= seed_iterations; earlier no update has run). False when the reset is off."""
    every = cfg.q_reset_every_env_steps
    if every <= 0:
        return False
    per = cfg.n_envs * cfg.action_repeat
    crossed = (iteration + 1) * per // every > iteration * per // every
    return (iteration >= cfg.seed_iterations) & crossed
