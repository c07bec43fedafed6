"""The training state over several devices (`jax.sharding`): the seed axis and one agent's env axis.

A layout is a 2-D device mesh with axes ("seeds", "envs") of sizes (ds, de), ds * de devices in all:

* the leading seed axis of the TrainState is split over ds devices: independent agents, no communication;
* each seed's `n_envs` envs are split over de devices: the env states, the planner's warm start
  (`prev_mean`) and the replay buffer's env axis live on the device that steps those envs, so acting,
  the env step and the buffer insert are local; the sampled batch of an update is gathered from all env
  shards (`replicated`) and the update runs replicated on the seed's de devices (the same numbers on each).

XLA's partitioner compiles the same program per device (GSPMD); the numbers equal the one-device run up to
float32 rounding (partitioned reductions and fusions round differently: tests/test_train_jax.py measures it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXES = ("seeds", "envs")


@dataclass(frozen=True)
class Layout:
    """ds devices over the seeds x de devices over each seed's envs."""

    seeds: int
    envs: int
    mesh: Mesh

    def describe(self) -> str:
        """E.g. 'seeds sharded over 2 cpu devices, envs sharded over 2 cpu devices per seed' (the trainer prints
        it; empty for a single device)."""
        platform = jax.devices()[0].platform
        parts = []
        if self.seeds > 1:
            parts.append(f"seeds sharded over {self.seeds} {platform} devices")
        if self.envs > 1:
            parts.append(f"envs sharded over {self.envs} {platform} devices" + (" per seed" if self.seeds > 1 else ""))
        return ", ".join(parts)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def split_devices(n_seeds: int, n_envs: int, devices: int, visible: int) -> tuple[int, int]:
    """(ds, de): devices over the seeds x over each seed's envs, for `devices` asked (0 = up to `visible`).

    ds divides the seeds and de the envs; of the splits that fit, the one using most devices wins, and among
    those the one with most devices on the seed axis (seeds never communicate). An explicit count must be
    visible and split exactly."""
    if devices > visible:
        raise ValueError(f"devices={devices} asked for, but JAX sees {visible}")
    limit = devices or visible
    splits = [(ds * de, ds, de) for ds in _divisors(n_seeds) for de in _divisors(n_envs)
              if (ds * de == limit if devices else ds * de <= limit)]
    if not splits:
        raise ValueError(f"devices={devices} cannot be split as (devices over the {n_seeds} seeds) x (devices over "
                         f"each seed's n_envs={n_envs} envs): each factor must divide its count")
    _, ds, de = max(splits)
    return ds, de


def train_layout(n_seeds: int, n_envs: int, devices: int = 0) -> Layout | None:
    """The layout (`split_devices`) of `devices` visible devices (0 = all) for `n_seeds` seeds of `n_envs` envs,
    or None when it is one device."""
    visible = jax.devices()
    try:
        ds, de = split_devices(n_seeds, n_envs, devices, len(visible))
    except ValueError as exc:
        raise ValueError(f"{exc} ({visible[0].platform})" if devices > len(visible) else str(exc)) from None
    if ds * de == 1:
        return None
    return Layout(ds, de, Mesh(np.asarray(visible[:ds * de]).reshape(ds, de), AXES))


def _spec(mesh: Mesh, env_axis: int | None, shape: tuple[int, ...]) -> NamedSharding:
    """Seed axis (0) on "seeds"; `env_axis` (if any) on "envs"; every other axis whole. Written as XLA returns
    it (no mesh axis of size 1, no trailing None, an empty array — MJX keeps some — replicated): a chunk's
    output then has its input's sharding exactly, and the next call reuses the compiled program instead of
    compiling it again for an equivalent spelling."""
    axes: list[str | None] = [None] * len(shape)
    if 0 not in shape:
        if mesh.shape["seeds"] > 1:
            axes[0] = "seeds"
        if env_axis is not None and mesh.shape["envs"] > 1:
            axes[env_axis] = "envs"
    while axes and axes[-1] is None:
        axes.pop()
    return NamedSharding(mesh, P(*axes))


def state_shardings(layout: Layout, ts: Any) -> Any:
    """Shardings of a seed-batched `jax_impl.train.TrainState` (arrays or shapes): see the module docstring."""
    mesh = layout.mesh

    def whole(x: Any) -> NamedSharding:
        return _spec(mesh, None, tuple(x.shape))

    def env_at(axis: int):
        return lambda x: _spec(mesh, axis, tuple(x.shape))

    agent = jax.tree.map(whole, ts.agent)._replace(prev_mean=env_at(1)(ts.agent.prev_mean))
    buffer = jax.tree.map(whole, ts.buffer)._replace(obs=env_at(2)(ts.buffer.obs), action=env_at(2)(ts.buffer.action),
                                                     reward=env_at(2)(ts.buffer.reward))
    return ts._replace(agent=agent, env=jax.tree.map(env_at(1), ts.env), buffer=buffer, key=whole(ts.key),
                       iteration=whole(ts.iteration))


def constrain_state(layout: Layout | None, ts: Any) -> Any:
    """`ts` pinned to the layout inside a jitted program (so each chunk returns the state as it took it)."""
    return ts if layout is None else jax.lax.with_sharding_constraint(ts, state_shardings(layout, ts))


def replicated(layout: Layout | None, tree: Any) -> Any:
    """Inside a program vmapped over seeds with `spmd_axis_name="seeds"`: `tree` whole on every env device of
    its seed (the gathered update batch)."""
    if layout is None:
        return tree
    return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, NamedSharding(layout.mesh, P())), tree)
