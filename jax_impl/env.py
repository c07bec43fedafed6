"""DMC environments for the JAX twin: MuJoCo Playground MJX envs with the official TD-MPC2 DMC semantics.

Physics (config field `physics`, docs/physics.md): "dm_control" (the default) builds Playground's env class on
dm_control's own model and options (`jax_impl/dm_control_physics.py`: the official task); "playground" loads the
env as Playground ships it (`registry.load(name, config_overrides={"impl": cfg.mjx_impl})`: its re-tuned XML).
In both, planes collide with capsules with MuJoCo C's contact frame (`jax_impl/collision.py`).

What is taken from Playground's env class: its MJX model (in the physics above), the random initial state
(`env.reset`; where Playground's distribution is not dm_control's, the joints are redrawn as dm_control draws them,
`jax_impl/initial_states.py`), the physics step (`mjx_env.step`, n_substeps MJX steps per control step) and
the task's observation and reward functions (`_get_obs`, `_get_reward`).
The official repository's custom tasks (cheetah-run-backwards, ...) are a Playground env with the official
reward instead of the env's own (`jax_impl/custom_tasks.py`). reacher-three-* and quadruped-* run Playground-style
envs built here on the official three-link XML (`jax_impl/reacher_three.py`) and on dm_control's quadruped
(`jax_impl/quadruped.py`), used as Playground's envs are. A task of your own
(`tdmpc_parity.core.task_registry.register_task`) runs the Playground-style env of its `jax_env()` factory, used
as Playground's envs are too (its one model: `physics=dm_control` only).

What is done here instead of Playground's `step` and its brax wrappers, to match the torch reference
(`torch_ref/env.py`, the official dm_control wrapper):
- One agent step = `cfg.action_repeat` control steps with the same action, rewards SUMMED.
- Actions in [-1, 1] are mapped linearly onto the actuator ctrlrange (dm_control `action_scale.Wrapper`;
  the identity for every DMC task, whose ctrlrange is [-1, 1]).
- Observation/reward timing of dm_control: dm_control's `Physics.step` ends with `mj_step1`, so after a
  control step the position- and velocity-dependent quantities (xpos, xmat, xipos, subtree velocities,
  position/velocity sensors) describe the NEW state, while acceleration-stage sensors (touch) still come
  from the last sub-step's `mj_step2`. `mjx.step` is forward-then-integrate, so Playground's own `step`
  computes obs/reward from kinematics one physics sub-step old (measured: hopper speed off by up to 0.47,
  cartpole cos/sin of the pole angle by up to 0.08). `sync_kinematics` re-runs the position and velocity
  stages (no collision, no constraint solve) after each control step, which reproduces dm_control's
  timing exactly; touch stays from the last sub-step, as in dm_control.
- Episodes of `cfg.episode_length` agent steps, never terminated. At the end the env resets itself with a
  FRESH random initial state drawn from a new key (no cached reset state, unlike the brax wrapper's
  default `full_reset=False`). `Transition.next_obs` is the true final observation of the step; the new
  state's `obs` is then the reset observation.
- Pytree types are stable: reward, Playground's NaN flag and the metrics are cast to strong float32, so a
  jitted step compiles once (Playground's `reward/standing` metric otherwise turns weak-typed after the
  first step and forces a recompile).

Playground's NaN flag (`state.playground.done`, 1.0 when qpos/qvel turned NaN) is kept but does not end
the episode; dm_control would raise a PhysicsError instead.

Observation layout: the official wrapper flattens dm_control's observation dict in order. Playground's
`_get_obs` follows that layout for most tasks; `OBS_TO_DM_CONTROL` maps the others onto it (checked per task
against dm_control on the same states by `parity/test_env_parity.py`):
- FishSwim: Playground puts `upright` before the 7 joint angles; dm_control's order is joint angles, upright.
- PendulumSwingup: Playground's orientation is (xz, zz) of the pole frame; dm_control's is (zz, xz).
- Walker*: Playground's 15th entry is the torso's zz (its uprightness) where dm_control's `height` is the
  torso's z position (the quantity Playground's own stand reward uses); it is replaced by the torso's z.

Loading: Playground 0.2.0's Reacher builds its model with `MjSpec.find_body` whenever the version STRING
`mujoco.__version__ < "3.3.0"`, which "3.17.0" is; `_load_playground` builds that model with `MjSpec.body`
instead (the same model), for the duration of the load only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from mujoco import mjx
from mujoco_playground import State as PlaygroundState
from mujoco_playground import registry
from mujoco_playground import step as playground_step
from mujoco_playground._src.dm_control_suite import reacher as playground_reacher

from jax_impl import dm_control_physics
from jax_impl.collision import c_contact_frames
from jax_impl.custom_tasks import CUSTOM_REWARDS
from jax_impl.initial_states import INITIAL_STATES, TASK_INITIAL_STATES
from jax_impl.runtime import PHYSICS_PRECISION, traced_at
from tdmpc_parity.core.config import Config
from tdmpc_parity.core.task_registry import RegisteredTask
from tdmpc_parity.core.tasks import TaskSpec, get_task


@struct.dataclass
class EnvState:
    """One env: the Playground state, agent steps taken in this episode, and the key for the next reset."""

    playground: PlaygroundState
    t: jax.Array  # int32
    key: jax.Array  # PRNG key (raw uint32[2])

    @property
    def obs(self) -> jax.Array:
        """The current observation (the reset observation right after an auto-reset)."""
        return self.playground.obs


@struct.dataclass
class Transition:
    """What one agent step produced: the true next observation, the summed reward, the episode end."""

    next_obs: jax.Array  # float32 (obs_dim,): observation after the step, before any auto-reset
    reward: jax.Array  # float32 (): sum of the action_repeat control-step rewards
    done: jax.Array  # bool (): the episode ended with this step (truncation; never a termination)


def _f32(x: jax.Array) -> jax.Array:
    """Strong (not weak-typed) float32."""
    return jax.lax.convert_element_type(x, jnp.float32)


ObsFix = Callable[[Any, mjx.Data, jax.Array], jax.Array]  # (Playground env, data, Playground obs) -> obs


def _reorder(index: list[int]) -> ObsFix:
    """dm_control's entry i is Playground's entry index[i]."""
    idx = np.asarray(index)
    return lambda pg_env, data, obs: obs[idx]


def _walker_height(pg_env: Any, data: mjx.Data, obs: jax.Array) -> jax.Array:
    """Entry 14 (after 14 orientations): dm_control's `height` = the torso's z (Playground: its xmat zz)."""
    return obs.at[14].set(data.xpos[pg_env._torso_id, 2])


OBS_TO_DM_CONTROL: dict[str, ObsFix] = {
    "FishSwim": _reorder([*range(1, 8), 0, *range(8, 24)]),  # upright, joints(7) -> joints(7), upright
    "PendulumSwingup": _reorder([1, 0, 2]),  # (xz, zz) -> (zz, xz)
    "WalkerRun": _walker_height,
    "WalkerStand": _walker_height,
    "WalkerWalk": _walker_height,
}


def _load_playground(name: str, impl: str) -> Any:
    """`registry.load(name)`, Playground's own model and options, with the MJX implementation `impl`; Reacher*'s
    model built with `MjSpec.body` (module docstring; the same model wherever Playground's check is right)."""
    with dm_control_physics.patched(playground_reacher, _make_model=dm_control_physics.reacher_model):
        return registry.load(name, config_overrides={"impl": impl})


def registered_env(spec: RegisteredTask, physics: str) -> Any:
    """The Playground-style env of a task of your own: its `jax_env()` factory's, checked to be one."""
    from mujoco_playground._src import mjx_env

    if physics != "dm_control":
        raise ValueError(f"config field 'physics': {physics!r} does not exist for the task {spec.name!r} of your own "
                         "(its jax_env factory builds its one model); use physics=dm_control")
    try:
        env = spec.jax_env()  # type: ignore[misc]  (check_backend: a jax task has a factory)
    except Exception as exc:  # parity: not compared (a factory that fails is the user's error)
        raise ValueError(f"task {spec.name!r}: its jax_env factory failed: {type(exc).__name__}: {exc}") from exc
    if not isinstance(env, mjx_env.MjxEnv):
        raise TypeError(f"task {spec.name!r}: its jax_env factory returned a {type(env).__name__}; it must return a "
                        "MuJoCo Playground env (an mjx_env.MjxEnv subclass, as Playground's dm_control_suite envs)")
    return env


def load_physics(spec: TaskSpec, physics: str, impl: str) -> Any:
    """The Playground-style env of `spec` in the config's `physics`: "dm_control" (dm_control's model and options,
    `jax_impl/dm_control_physics.py`) or "playground" (Playground's re-tuned ones)."""
    if physics == "dm_control":
        return dm_control_physics.load_env(spec, impl)
    return _load_playground(str(spec.playground), impl)


# the project's own MJX envs (tdmpc_parity.core.tasks.OWN_MJX_ENVS), built where Playground has no such model
MJX_ENVS: dict[str, Callable[..., Any]] = dm_control_physics.OWN_ENVS


def sync_kinematics(model: mjx.Model, data: mjx.Data) -> mjx.Data:
    """dm_control's post-step `mj_step1` without collision: position and velocity stages of the NEW state.

    Recomputes kinematics, com positions, cameras/lights, tendons, position sensors, com velocities and
    velocity sensors (subtree velocities included). Acceleration-stage sensors keep their last-sub-step
    values, as after dm_control's `mj_step2`. (MJX's JAX implementation only: `MJXEnv` refuses Warp.)
    """
    data = mjx.kinematics(model, data)
    data = mjx.com_pos(model, data)
    data = mjx.camlight(model, data)
    data = mjx.tendon(model, data)
    data = mjx.sensor_pos(model, data)
    data = mjx.com_vel(model, data)
    return mjx.sensor_vel(model, data)


class MJXEnv:
    """A Playground DMC task with the official semantics; `reset` and `step` are pure, jit/vmap-able."""

    def __init__(self, cfg: Config):
        if cfg.episode_length is None:
            raise ValueError("MJXEnv needs a resolved config (episode_length is None); use load_config()")
        if cfg.mjx_impl != "jax":
            raise ValueError(
                f"config field 'mjx_impl': {cfg.mjx_impl!r} is not supported by the JAX backend; use mjx_impl=jax "
                "(CPU and GPU). Warp's MJX data cannot be merged per env with a tree-map as `step_batch` does "
                "(it needs MJX's own Data.where), and warp-lang is not installed on the project's GPU machine"
            )
        self.task_spec: TaskSpec = get_task(cfg.task)
        self.task_spec.check_backend("jax")
        registered = isinstance(self.task_spec, RegisteredTask)  # a task of your own: its factory's env
        assert registered or self.task_spec.playground is not None  # check_backend: a jax task has a Playground env
        self.episode_length = int(cfg.episode_length)
        self.action_repeat = int(cfg.action_repeat)
        self._obs_fix = OBS_TO_DM_CONTROL.get(self.task_spec.playground)
        self._custom_reward = CUSTOM_REWARDS.get(self.task_spec.name)
        self._initial_state = TASK_INITIAL_STATES.get(self.task_spec.name,
                                                      INITIAL_STATES.get(self.task_spec.playground))
        if self.task_spec.custom and self._custom_reward is None and self.task_spec.playground not in MJX_ENVS:
            raise ValueError(f"{cfg.task}: a custom task on a Playground env without a JAX reward in "
                             "jax_impl/custom_tasks.py")
        self.physics = cfg.physics
        if registered:  # its factory's env (a factory that fails says so in one sentence)
            self.pg_env = registered_env(self.task_spec, cfg.physics)  # type: ignore[arg-type]
        else:
            try:
                self.pg_env = load_physics(self.task_spec, cfg.physics, cfg.mjx_impl)
            except Exception as exc:  # parity: not compared (an env that does not build is an error)
                raise RuntimeError(
                    f"Playground cannot build {self.task_spec.playground} ({cfg.task}, physics={cfg.physics}) with "
                    f"the installed mujoco/playground versions: {type(exc).__name__}: {exc}"
                ) from exc
        self.mj_model = self.pg_env.mj_model
        self.mjx_model = self.pg_env.mjx_model
        self.n_substeps = int(self.pg_env.n_substeps)
        self.action_dim = int(self.mj_model.nu)
        lo, hi = self.mj_model.actuator_ctrlrange[:, 0], self.mj_model.actuator_ctrlrange[:, 1]
        if not np.all(self.mj_model.actuator_ctrllimited) or not np.all(np.isfinite([lo, hi])):
            raise ValueError(f"{cfg.task}: actions can only be rescaled for finite, limited ctrlranges")
        # ctrl = center + half * a: exact for [-1, 1] (center 0, half 1), as dm_control's float64 rescale.
        self._center = jnp.asarray((lo + hi) / 2, jnp.float32)
        self._half = jnp.asarray((hi - lo) / 2, jnp.float32)
        # the observation function's shape on blank data: tracing `reset` (an mjx.forward) would take seconds
        self.obs_dim = int(jax.eval_shape(lambda: self.obs_fn(mjx.make_data(self.mjx_model))).shape[0])
        if registered:
            self.task_spec.check_sizes("jax", self.obs_dim, self.action_dim)  # type: ignore[attr-defined]
        self._reset_batch = jax.jit(lambda key, n: jax.vmap(self.reset)(jax.random.split(key, n)),
                                    static_argnums=1)

    # --- the Playground task's functions, callable on any MJX data ------------------------------------

    def obs_fn(self, data: mjx.Data, info: dict[str, Any] | None = None) -> jax.Array:
        """Playground's observation function on `data` (float32), mapped onto dm_control's layout."""
        obs = self.pg_env._get_obs(data, {} if info is None else info)
        if self._obs_fix is not None:
            obs = self._obs_fix(self.pg_env, data, obs)
        return _f32(obs)

    def reward_fn(self, data: mjx.Data, ctrl: jax.Array, info: dict[str, Any] | None = None,
                  metrics: dict[str, jax.Array] | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Playground's reward function (a custom task's: `CUSTOM_REWARDS`) on `data` and the applied `ctrl`:
        (reward, reward-term metrics)."""
        m = dict(metrics) if metrics is not None else {}
        if self._custom_reward is not None:
            r = self._custom_reward(self.pg_env, data)
        else:
            r = self.pg_env._get_reward(data, ctrl, {} if info is None else info, m)
        return _f32(r), {k: _f32(v) for k, v in m.items()}

    def action_to_ctrl(self, action: jax.Array) -> jax.Array:
        """dm_control `action_scale.Wrapper`: [-1, 1] -> actuator ctrlrange, linearly."""
        if jnp.shape(action) != (self.action_dim,):
            raise ValueError(
                f"{self.task_spec.name}: action must have shape ({self.action_dim},), got {jnp.shape(action)}"
            )
        return self._center + self._half * _f32(action)

    def control_step(self, data: mjx.Data, ctrl: jax.Array) -> mjx.Data:
        """One control step (`pg_env.dt`: n_substeps MJX steps with `ctrl`), then dm_control's timing sync.
        Planes collide with capsules with MuJoCo C's contact frame (`jax_impl/collision.py`), in both physics."""
        with c_contact_frames():  # (ctrl in the data's precision: float64 physics under jax.enable_x64 too)
            data = playground_step(self.mjx_model, data, ctrl.astype(data.ctrl.dtype), self.n_substeps)
        return sync_kinematics(self.mjx_model, data)

    # --- episodes -----------------------------------------------------------------------------------------

    @traced_at(PHYSICS_PRECISION)  # the physics' own matmul precision, whatever the agent's (runtime.py)
    def _playground_reset(self, key: jax.Array) -> PlaygroundState:
        """Playground's reset (its goals/targets), dm_control's initial joint state where Playground draws another
        (`jax_impl/initial_states.py`), then `mjx.forward`: the observation of that state, as dm_control's
        `after_reset` gives it (Playground's own reset observation can hold a target it moved after its forward)."""
        # named: tests find it in a compiled chunk's jaxpr; C's plane-capsule contact frame as in `control_step`
        with jax.named_scope("playground_reset"), c_contact_frames():
            s = self.pg_env.reset(key)
            data = s.data
            if self._initial_state is not None:
                data = self._initial_state(self.pg_env, data, jax.random.fold_in(key, 1))
            data = mjx.forward(self.mjx_model, data)
        return s.replace(data=data, obs=self.obs_fn(data, s.info), reward=_f32(s.reward), done=_f32(s.done),
                         metrics={k: _f32(v) for k, v in s.metrics.items()})

    def reset(self, key: jax.Array) -> EnvState:
        """A fresh episode from a random initial state (`_playground_reset`); `key` also seeds the later auto-resets."""
        key, sub = jax.random.split(key)
        return EnvState(playground=self._playground_reset(sub), t=jnp.zeros((), jnp.int32), key=key)

    def step(self, state: EnvState, action: jax.Array) -> tuple[EnvState, Transition]:
        """One agent step (action_repeat control steps, rewards summed); auto-reset after episode_length.

        The reset is a `lax.cond`; under `vmap` it becomes a select that computes a reset at every step:
        batches use `step_batch`.
        """
        stepped, tr, t, key, sub = self._advance(state, action)
        new_pg = jax.lax.cond(tr.done, lambda: self._playground_reset(sub), lambda: stepped)
        return EnvState(playground=new_pg, t=jnp.where(tr.done, 0, t).astype(jnp.int32), key=key), tr

    def step_batch(self, states: EnvState, actions: jax.Array, reset: bool | None = None
                   ) -> tuple[EnvState, Transition]:
        """`vmap(step)` for a batch of envs, but the auto-reset runs only when some env is done.

        Under vmap the per-env `lax.cond` of `step` becomes a select that computes a reset (an `mjx.forward`)
        at every step; here one unbatched cond on any(done) guards a vmapped reset, merged per env. Same keys,
        same results as `jax.vmap(step)`. Under a further vmap (the training state's seed axis) that cond is
        batched too, so a caller that knows where episodes end says it statically: `reset=False` (no env is
        done at this step: no reset is traced) or `reset=True` (every env is done: all reset, no select).
        """
        stepped, tr, t, key, sub = jax.vmap(self._advance)(states, actions)

        def with_resets(pg: PlaygroundState) -> PlaygroundState:
            fresh = jax.vmap(self._playground_reset)(sub)
            pick = lambda f, s: jnp.where(tr.done.reshape((-1,) + (1,) * (f.ndim - 1)), f, s)  # noqa: E731
            return jax.tree.map(pick, fresh, pg)

        if reset is None:
            new_pg = jax.lax.cond(tr.done.any(), with_resets, lambda pg: pg, stepped)
        elif reset:  # the shared episode end of envs in lockstep
            new_pg = jax.vmap(self._playground_reset)(sub)
        else:
            new_pg = stepped
        return EnvState(playground=new_pg, t=jnp.where(tr.done, 0, t).astype(jnp.int32), key=key), tr

    @traced_at(PHYSICS_PRECISION)  # the physics' own matmul precision, whatever the agent's (runtime.py)
    def _advance(self, state: EnvState, action: jax.Array):
        """The stepped Playground state (before any reset), the transition, the new step count, the carried key
        and the sub-key a reset would use."""
        ctrl = self.action_to_ctrl(action)
        pg = state.playground

        def one(data: mjx.Data, _: None) -> tuple[mjx.Data, tuple[jax.Array, dict[str, jax.Array]]]:
            data = self.control_step(data, ctrl)
            return data, self.reward_fn(data, ctrl, pg.info, pg.metrics)

        data, (rewards, metrics) = jax.lax.scan(one, pg.data, None, length=self.action_repeat)
        reward = jnp.sum(rewards)
        obs = self.obs_fn(data, pg.info)
        nan = jnp.isnan(data.qpos).any() | jnp.isnan(data.qvel).any()
        stepped = pg.replace(data=data, obs=obs, reward=reward, done=_f32(nan),
                             metrics=jax.tree.map(lambda x: x[-1], metrics))
        t = state.t + 1
        done = t >= self.episode_length
        key, sub = jax.random.split(state.key)
        return stepped, Transition(next_obs=obs, reward=reward, done=done), t, key, sub

    def reset_batch(self, key: jax.Array, n_envs: int) -> EnvState:
        """`n_envs` independent envs (vmapped `reset` over split keys); step them with `step_batch`.

        Jitted (n_envs static): run eagerly, the vmapped reset takes ~25 s on CPU, and its uncommitted
        output arrays would make a jitted step compile a second time.
        """
        return self._reset_batch(key, n_envs)


def make_env(cfg: Config) -> MJXEnv:
    """The MJX env of `cfg.task` with the config's episode length, action repeat and physics backend."""
    return MJXEnv(cfg)
