"""Environment parity on hopper-hop: dm_control (torch_ref.env) vs MuJoCo Playground on MJX (jax_impl.env).

The function checks run the JAX env in its default physics (`physics=dm_control`); the stepping checks here run
`physics=playground` (Playground's XML, and its measured distance from dm_control's); the dm_control physics'
stepping against the torch env is parity/test_dm_control_physics.py.

1. The observation and reward functions agree on the SAME physics states (taken from a dm_control rollout,
   plus near-upright states where the hop and stand rewards are not 0).
2. MJX stepping (the JAX env's control step, float32) agrees with MuJoCo C stepping (float64, dm_control's
   `Physics.step`) of the SAME MjModel, Playground's, over a short horizon with the same actions; this also
   checks the JAX env's dm_control observation timing (kinematics of the new state, touch one sub-step old).
3. `measure_xml_drift` measures how far Playground's XML (solver iterations 4, ls_iterations 10, eulerdamp
   off) takes the dynamics from dm_control's XML (iterations 100): both in MuJoCo C, same states and
   actions. It lives here, not in `tdmpc_parity/` (which may not import mujoco) nor in one backend (it needs
   dm_control's physics and the Playground model the JAX env steps); `drift_notes` formats it for the
   parity report (`parity/conftest.py` calls it).
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from jax_impl.env import MJXEnv
from jax_impl.env import make_env as make_jax_env
from parity.env_states import SimState, apply_mj, capture, converged_model, dm_task_functions, goal_states, rollout
from parity.helpers import compare
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import OWN_MJX_ENVS, TASKS
from torch_ref.env import DMControlEnv, flatten_observation
from torch_ref.env import make_env as make_torch_env

TASK = "hopper-hop"
N_TOUCH = 2  # hopper obs: qpos[1:] (6), qvel (7), log1p(touch) (2)


@functools.lru_cache(maxsize=4)
def _jax_env(task: str, physics: str = "dm_control") -> MJXEnv:
    return make_jax_env(load_config(overrides=[f"task={task}", "backend=jax", f"physics={physics}"]))


def _physics_of(mj_model: mujoco.MjModel, like: Any) -> Any:
    """A dm_control Physics of `like`'s class (so the task's helpers work) around a copy of `mj_model`."""
    from dm_control.mujoco import wrapper

    return type(like).from_model(wrapper.MjModel(copy.copy(mj_model)))


def _copy_state(dst: Any, src: Any) -> None:
    """Copy the integration state (qpos, qvel, act, ctrl, warm start, time, ...) and recompute dst."""
    sig = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(src.model.ptr, sig))
    mujoco.mj_getState(src.model.ptr, src.data.ptr, state, sig)
    mujoco.mj_setState(dst.model.ptr, dst.data.ptr, state, sig)
    dst.forward()


def rollout_states(env: DMControlEnv, n_agent_steps: int, seed: int) -> dict[str, np.ndarray]:
    """dm_control rollout with uniform random actions; the physics state after every agent step."""
    env.reset()
    rng = np.random.default_rng(seed)
    data = env.physics.data
    keys = ("qpos", "qvel", "ctrl", "qacc_warmstart")
    out: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for _ in range(n_agent_steps):
        env.step(rng.uniform(-1, 1, env.action_dim))
        for k in keys:
            out[k].append(np.array(getattr(data, k)))
    return {k: np.stack(v) for k, v in out.items()}


def upright_states(n: int, nq: int, nv: int, nu: int, seed: int) -> dict[str, np.ndarray]:
    """Near-upright poses moving forward at 0-3 m/s: states where hop and stand rewards are not 0."""
    rng = np.random.default_rng(seed)
    qpos = 0.05 * rng.standard_normal((n, nq))
    qvel = 0.5 * rng.standard_normal((n, nv))
    qvel[:, 0] = rng.uniform(0.0, 3.0, n)
    ctrl = rng.uniform(-1, 1, (n, nu))
    return {"qpos": qpos, "qvel": qvel, "ctrl": ctrl, "qacc_warmstart": np.zeros((n, nv))}


def dm_functions(env: DMControlEnv, states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """dm_control's observation and hop/stand rewards on each state (after mj_forward of that state)."""
    from dm_control.suite import hopper

    phys, stand = env.physics, hopper.Hopper(hopping=False, random=0)
    out: dict[str, list[Any]] = {"obs": [], "hop": [], "stand": []}
    for i in range(len(states["qpos"])):
        for k in ("qpos", "qvel", "ctrl", "qacc_warmstart"):
            getattr(phys.data, k)[:] = states[k][i]
        phys.forward()
        out["obs"].append(flatten_observation(env.task.get_observation(phys)))
        out["hop"].append(env.task.get_reward(phys))
        out["stand"].append(stand.get_reward(phys))
    return {k: np.asarray(v) for k, v in out.items()}


def mjx_functions(mj_model: mujoco.MjModel, hop: MJXEnv, stand: MJXEnv,
                  states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Playground's observation and hop/stand rewards on each state, after mjx.forward on `mj_model`."""
    m = mjx.put_model(mj_model, impl="jax")

    def one(qpos, qvel, ctrl, warm):
        d = mjx.make_data(m).replace(qpos=qpos, qvel=qvel, ctrl=ctrl, qacc_warmstart=warm)
        d = mjx.forward(m, d)
        return {"obs": hop.obs_fn(d), "hop": hop.reward_fn(d, ctrl)[0], "stand": stand.reward_fn(d, ctrl)[0]}

    args = [jnp.asarray(states[k], jnp.float32) for k in ("qpos", "qvel", "ctrl", "qacc_warmstart")]
    return {k: np.asarray(v) for k, v in jax.jit(jax.vmap(one))(*args).items()}


def test_obs_and_reward_functions_agree_on_same_states() -> None:
    env = make_torch_env(load_config(), seed=3)
    hop, stand = _jax_env("hopper-hop"), _jax_env("hopper-stand")
    dm_model = env.physics.model.ptr
    # Which model computes the kinematics on the MJX side: dm_control's own MjModel, put into MJX. The two
    # XMLs have the same bodies, joints, sites and sensors (asserted below: Playground's functions read
    # addresses from Playground's model) and differ only in solver options, so positions, velocities,
    # height and speed do not depend on the choice. Touch is the contact normal force, an output of the
    # constraint solver: dm_control's solve (100 iterations) is converged, Playground's stops after 4
    # Newton iterations. Using dm_control's model compares the FUNCTIONS on exactly the state dm_control
    # saw; the solver difference is measured separately (measure_xml_drift).
    pg_model = hop.mj_model
    assert (pg_model.nq, pg_model.nv, pg_model.nu) == (dm_model.nq, dm_model.nv, dm_model.nu)
    np.testing.assert_array_equal(pg_model.sensor_adr, dm_model.sensor_adr)
    np.testing.assert_array_equal(pg_model.sensor_type, dm_model.sensor_type)
    assert [pg_model.body(i).name for i in range(pg_model.nbody)] == \
        [dm_model.body(i).name for i in range(dm_model.nbody)]
    roll = rollout_states(env, 60, seed=0)
    up = upright_states(40, dm_model.nq, dm_model.nv, dm_model.nu, seed=1)
    states = {k: np.concatenate([roll[k], up[k]]) for k in roll}
    dm, pg = dm_functions(env, states), mjx_functions(dm_model, hop, stand, states)
    assert (dm["hop"] > 0).sum() >= 10 and (dm["stand"] > 0).sum() >= 10  # the rewards are exercised
    assert (dm["obs"][:, -N_TOUCH:] > 0).sum() >= 10  # so are the touch sensors (contacts)
    # qpos/qvel parts: float64 -> float32 copies; height, speed and rewards: float32 kinematics
    # (measured ~3e-7): the default float32 tolerance 1e-5.
    compare(dm["obs"][:, :-N_TOUCH], pg["obs"][:, :-N_TOUCH], "env/obs fn qpos+qvel (hopper)", "float32",
            test="test_obs_and_reward_functions_agree_on_same_states")
    compare({"hop": dm["hop"], "stand": dm["stand"]}, {"hop": pg["hop"], "stand": pg["stand"]},
            "env/reward fns (hopper)", "float32", test="test_obs_and_reward_functions_agree_on_same_states")
    # log1p(touch): a float32 constraint solve of forces up to ~1e3 N (measured max 1e-4 abs, 2e-5 rel)
    compare(dm["obs"][:, -N_TOUCH:], pg["obs"][:, -N_TOUCH:], "env/obs fn touch (hopper)", "float32",
            rtol=1e-4, atol=5e-4, test="test_obs_and_reward_functions_agree_on_same_states")


def test_mjx_step_matches_mujoco_c_on_playground_model() -> None:
    env = make_torch_env(load_config(), seed=4)
    jenv = _jax_env(TASK, "playground")  # Playground's model: also the `physics=playground` path of the JAX env
    roll = rollout_states(env, 20, seed=2)  # start from a dm_control state 20 agent steps in (on the floor)
    c = _physics_of(jenv.mj_model, env.physics)  # Playground's model, stepped by dm_control's Physics.step
    start = {k: v[-1] for k, v in roll.items()}
    for k, v in start.items():
        getattr(c.data, k)[:] = v
    c.forward()
    n, rng = 20, np.random.default_rng(5)
    actions = rng.uniform(-1, 1, (n, jenv.action_dim))
    ref: dict[str, list[Any]] = {"qpos": [], "qvel": [], "obs": [], "reward": [], "height": [], "speed": []}
    contacts = 0
    for a in actions:
        c.set_control(a)
        c.step(jenv.n_substeps)
        contacts += c.data.ncon
        ref["qpos"].append(c.data.qpos.copy())
        ref["qvel"].append(c.data.qvel.copy())
        ref["obs"].append(flatten_observation(env.task.get_observation(c)))
        ref["reward"].append(env.task.get_reward(c))
        ref["height"].append(c.height())
        ref["speed"].append(c.speed())
    assert contacts > 0

    def roll_mjx(qpos, qvel, warm, acts):
        data = mjx.make_data(jenv.mjx_model).replace(qpos=qpos, qvel=qvel, qacc_warmstart=warm)

        def body(data, a):
            ctrl = jenv.action_to_ctrl(a)
            data = jenv.control_step(data, ctrl)
            return data, {"qpos": data.qpos, "qvel": data.qvel, "obs": jenv.obs_fn(data),
                          "reward": jenv.reward_fn(data, ctrl)[0], "height": jenv.pg_env._height(data),
                          "speed": jenv.pg_env._speed(data)}

        return jax.lax.scan(body, data, acts)[1]

    inputs = (start["qpos"], start["qvel"], start["qacc_warmstart"], actions)
    args = [jnp.asarray(x, jnp.float32) for x in inputs]
    out = jax.jit(roll_mjx)(*args)
    ref_np = {k: np.asarray(v) for k, v in ref.items()}
    name = "test_mjx_step_matches_mujoco_c_on_playground_model"
    # float32 MJX vs float64 C through 80 sub-steps with contacts: round-off grows along the rollout
    # (measured max 2.4e-6 qpos, 2e-5 qvel over 25 control steps); tolerances give ~10x headroom.
    compare(ref_np["qpos"], out["qpos"], "env/MJX vs C step qpos (hopper, 20 control steps)", "float32",
            rtol=1e-5, atol=2e-5, test=name)
    # height and speed (the hop reward's inputs) must describe the NEW state, as after dm_control's mj_step1:
    # without the JAX env's kinematics sync they are one sub-step old (speed off by up to ~0.5)
    compare({"qvel": ref_np["qvel"], "obs": ref_np["obs"][:, :-N_TOUCH], "height": ref_np["height"],
             "speed": ref_np["speed"]},
            {"qvel": out["qvel"], "obs": out["obs"][:, :-N_TOUCH], "height": out["height"],
             "speed": out["speed"]},
            "env/MJX vs C step qvel+obs+height+speed (hopper, 20 control steps)", "float32",
            rtol=1e-5, atol=2e-4, test=name)
    # touch (one sub-step old in both, as dm_control) and the reward: same round-off through the solver
    compare({"touch": ref_np["obs"][:, -N_TOUCH:], "reward": ref_np["reward"]},
            {"touch": out["obs"][:, -N_TOUCH:], "reward": out["reward"]},
            "env/MJX vs C step touch+reward (hopper, 20 control steps)", "float32", rtol=1e-3, atol=1e-3,
            test=name)


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


def measure_xml_drift(n_steps: int = 200, seed: int = 0, task: str = TASK) -> dict[str, float]:
    """How far Playground's XML drifts from dm_control's, both stepped by dm_control in MuJoCo C (float64).

    From dm_control's random initial state (task RNG `seed`) and the same uniform random actions:
    - one_step_*: max over the rollout of |Playground - dm_control| after ONE control step from the same
      state (dm_control's trajectory): the per-step model difference, without compounding;
      one_step_qvel_pg_converged: the same with Playground's XML given dm_control's solver settings
      (iterations, ls_iterations, tolerance), i.e. what is left once the solver truncation is removed;
    - open_loop_*_upto_K: max over the first K control steps of |Playground rollout - dm_control rollout|;
    - chaos_qpos_upto_K: the same for dm_control's XML against itself with qvel perturbed by 1e-9 (how fast
      a tiny difference grows in this system, for scale);
    - return_dm / return_pg: the summed task reward of each open-loop rollout.
    """
    cfg = load_config(overrides=[f"task={task}"])
    tenv = make_torch_env(cfg, seed)
    tenv.reset()
    jenv = _jax_env(task, "playground")
    dm = tenv.physics
    n_dm, n_pg = int(tenv.dm_env._n_sub_steps), jenv.n_substeps
    dt = float(dm.model.opt.timestep) * n_dm
    if not np.isclose(dt, float(jenv.mj_model.opt.timestep) * n_pg):
        raise ValueError(f"{task}: control steps differ between dm_control and Playground")
    converged = copy.copy(jenv.mj_model)
    for name in ("iterations", "ls_iterations", "tolerance", "ls_tolerance"):
        setattr(converged.opt, name, getattr(dm.model.opt, name))
    pg, one = _physics_of(jenv.mj_model, dm), _physics_of(jenv.mj_model, dm)
    one_conv = _physics_of(converged, dm)
    chaos = dm.copy()
    _copy_state(pg, dm)
    chaos.data.qvel[:] += 1e-9
    chaos.forward()
    rng = np.random.default_rng(seed)

    def obs(p: Any) -> np.ndarray:
        return flatten_observation(tenv.task.get_observation(p))

    marks = sorted({1, 10, 100, n_steps} & set(range(1, n_steps + 1)))
    out: dict[str, float] = {"n_steps": n_steps, "control_dt": dt,
                             "dm_iterations": int(dm.model.opt.iterations),
                             "pg_iterations": int(jenv.mj_model.opt.iterations),
                             "pg_ls_iterations": int(jenv.mj_model.opt.ls_iterations)}
    one_step = {"qpos": 0.0, "qvel": 0.0, "obs": 0.0, "qvel_pg_converged": 0.0}
    gap = {"qpos": 0.0, "qvel": 0.0, "obs": 0.0, "chaos": 0.0}
    ret_dm = ret_pg = 0.0
    for k in range(1, n_steps + 1):
        a = rng.uniform(-1, 1, tenv.action_dim)
        _copy_state(one, dm)
        _copy_state(one_conv, dm)
        for p, n_sub in ((dm, n_dm), (chaos, n_dm), (pg, n_pg), (one, n_pg), (one_conv, n_pg)):
            p.set_control(a)
            p.step(n_sub)
        one_step["qpos"] = max(one_step["qpos"], _max_abs(one.data.qpos, dm.data.qpos))
        one_step["qvel"] = max(one_step["qvel"], _max_abs(one.data.qvel, dm.data.qvel))
        one_step["obs"] = max(one_step["obs"], _max_abs(obs(one), obs(dm)))
        one_step["qvel_pg_converged"] = max(one_step["qvel_pg_converged"],
                                            _max_abs(one_conv.data.qvel, dm.data.qvel))
        gap["qpos"] = max(gap["qpos"], _max_abs(pg.data.qpos, dm.data.qpos))
        gap["qvel"] = max(gap["qvel"], _max_abs(pg.data.qvel, dm.data.qvel))
        gap["obs"] = max(gap["obs"], _max_abs(obs(pg), obs(dm)))
        gap["chaos"] = max(gap["chaos"], _max_abs(chaos.data.qpos, dm.data.qpos))
        ret_dm += float(tenv.task.get_reward(dm))
        ret_pg += float(tenv.task.get_reward(pg))
        if k in marks:
            for name in ("qpos", "qvel", "obs"):
                out[f"open_loop_{name}_upto_{k}"] = gap[name]
            out[f"chaos_qpos_upto_{k}"] = gap["chaos"]
    out.update({f"one_step_{k}": v for k, v in one_step.items()})
    out.update(return_dm=ret_dm, return_pg=ret_pg)
    return out


def test_xml_drift_is_measured() -> None:
    drift = measure_xml_drift(n_steps=200, seed=0)
    print("\nPlayground XML vs dm_control XML (hopper-hop, MuJoCo C):")
    for k, v in drift.items():
        print(f"  {k}: {v:.4g}")
    assert all(np.isfinite(v) for v in drift.values())
    assert drift["pg_iterations"] < drift["dm_iterations"]  # the XMLs really differ ...
    assert drift["one_step_qvel"] > 0.0  # ... and so does one control step from the same state


def drift_notes(n_steps: int = 500, seed: int = 0) -> dict[str, str]:
    """The drift measurement as a parity-report section: {title: markdown}."""
    d = measure_xml_drift(n_steps, seed)
    rows = "\n".join(f"| {k} | {v:.4g} |" for k, v in d.items())
    body = (
        f"{TASK}: Playground's XML (iterations {d['pg_iterations']:.0f}, ls_iterations "
        f"{d['pg_ls_iterations']:.0f}, eulerdamp off) vs dm_control's (iterations {d['dm_iterations']:.0f}), "
        f"both stepped by dm_control in MuJoCo C from the same state with the same uniform random actions "
        f"(task seed {seed}). one_step_* = largest difference after one control step from the same state; "
        "open_loop_*_upto_K / chaos_qpos_upto_K = largest difference over the first K control steps of "
        "Playground's XML / of dm_control's XML with qvel perturbed by 1e-9; one_step_qvel_pg_converged = "
        "one_step_qvel with Playground's XML given dm_control's solver settings.\n\n"
        "| quantity | value |\n|---|---|\n" + rows
    )
    return {"Environment: Playground XML vs dm_control XML": body}


# --- every task both backends run -------------------------------------------------------------------------

BOTH_BACKENDS = sorted(name for name, spec in TASKS.items() if spec.playground is not None)


def playground_functions(jenv: MJXEnv, dm_model: mujoco.MjModel, states: list) -> tuple[np.ndarray, np.ndarray]:
    """The JAX env's observation (dm_control layout) and reward functions on each state.

    Each state is put into Playground's model with dm_control's solver settings (`converged_model`) and
    forwarded by MuJoCo C; `mjx.put_data` hands the result to the JAX functions (one small jit, no MJX
    physics to compile: MJX vs C is the slow stepping test's business).
    """
    model = converged_model(jenv.mj_model, dm_model)
    data = mujoco.MjData(model)
    batch = []
    for s in states:
        apply_mj(model, data, s)
        batch.append(mjx.put_data(model, data, impl="jax"))
    stacked = jax.tree.map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *batch)  # (jnp.stack: ~2 s)
    fn = jax.vmap(lambda d: (jenv.obs_fn(d), jenv.reward_fn(d, d.ctrl)[0]))
    obs, rew = jax.jit(fn)(stacked)
    return np.asarray(obs), np.asarray(rew)


@pytest.mark.parametrize("task", BOTH_BACKENDS)
def test_task_obs_layout_and_reward_functions_match_dm_control(task: str) -> None:
    """Same state -> same observation (every entry, in the official dict-order layout) and same reward.

    States: a dm_control rollout (reset + 12 random agent steps) and rollout states moved where the task
    pays (`goal_states`), so sparse rewards are exercised too.
    """
    spec = TASKS[task]
    env = DMControlEnv(task, seed=0)
    jenv = _jax_env(task)
    assert (jenv.obs_dim, jenv.action_dim) == (env.obs_dim, env.action_dim) == (spec.obs_dim, spec.action_dim)
    np.testing.assert_allclose(jenv.pg_env.dt, env.dm_env.control_timestep(), rtol=1e-12)  # same control step
    states = rollout(env, 12, seed=0)
    states += goal_states(env, states[::3], seed=1)
    dm_obs, dm_rew = dm_task_functions(env, states)
    pg_obs, pg_rew = playground_functions(jenv, env.physics.model.ptr, states)
    assert (dm_rew > 0.05).sum() >= 3, f"{task}: the reward is ~0 on all but {(dm_rew > 0.05).sum()} states"
    name = "test_task_obs_layout_and_reward_functions_match_dm_control"
    # float32 functions of float32 copies of the same MuJoCo C state (measured max 5e-7 abs over all tasks)
    compare(dm_obs, pg_obs, f"env/obs fn ({task})", "float32", test=name)
    compare(dm_rew, pg_rew, f"env/reward fn ({task})", "float32", test=name)


STEP_AGENT_STEPS = 4  # = the shortest episode the config allows (horizon + 1): the last step ends it


def jax_state_from(jenv: MJXEnv, state: SimState, key: jax.Array) -> Any:
    """The JAX env's EnvState holding `state` (forwarded by MuJoCo C on Playground's own model)."""
    from jax_impl.env import EnvState

    model = jenv.mj_model
    data = mujoco.MjData(model)
    apply_mj(model, data, state)
    mjx_data = jax.tree.map(jnp.asarray, mjx.put_data(model, data, impl="jax"))
    blank = jax.eval_shape(jenv.reset, key)
    pg = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), blank.playground)
    pg = pg.replace(data=mjx_data, obs=jenv.obs_fn(mjx_data), info={**pg.info, "rng": key})
    return EnvState(playground=pg, t=jnp.zeros((), jnp.int32), key=key)


def c_rollout(jenv: MJXEnv, tenv: DMControlEnv, start: SimState, actions: np.ndarray) -> dict[str, np.ndarray]:
    """MuJoCo C (float64) steps Playground's own model as dm_control's Physics.step does, from `start`:
    per agent step the obs and the summed reward of dm_control's task functions."""
    c = _physics_of(jenv.mj_model, tenv.physics)
    apply_mj(c.model.ptr, c.data.ptr, start)
    lo, hi = c.model.actuator_ctrlrange.T  # dm_control's action_scale: [-1, 1] -> [lo, hi] (quadruped: not [-1, 1])
    obs, rew = [], []
    for a in actions:
        r = 0.0
        for _ in range(jenv.action_repeat):
            c.set_control(lo + (hi - lo) / 2 * (np.asarray(a, np.float64) + 1))
            c.step(jenv.n_substeps)
            r += float(tenv.task.get_reward(c))
        obs.append(flatten_observation(tenv.task.get_observation(c)))
        rew.append(r)
    return {"obs": np.stack(obs), "reward": np.asarray(rew)}


# (b) measured on CPU (seed 0, 4 agent steps = 8 control steps from dm_control's initial state): max |JAX env -
# torch env| of the observations and of the summed rewards. The cause is Playground's XML, not the JAX env ((a)
# matches to round-off): every Playground XML disables Euler's implicit joint damping (eulerdamp) and stops the
# constraint solver after 1-4 iterations (dm_control: 100-200); acrobot and cartpole integrate with Euler where
# dm_control uses RK4; finger, fish, pendulum, reacher and swimmer use other physics timesteps (finger also
# implicitfast, pyramidal cones and no contacts on its decorations). One control step from the same state, with
# eulerdamp and the integrator set as dm_control's and dm_control's solver settings, the qvel difference is 0.
# Eulerdamp alone: one control step of humanoid moves qvel by up to 3.5 rad/s (cheetah 1.6, cup 0.09).
# The sparse tasks pay 0 from these initial states (their reward functions: the default test above).
XML_DIFFERENCE: dict[str, tuple[float, float]] = {
    "acrobot-swingup": (6.03e-3, 2.08e-4), "acrobot-swingup-sparse": (6.03e-3, 0.0),
    "cartpole-balance": (1.50e-3, 8.74e-6), "cartpole-balance-sparse": (1.50e-3, 0.0),
    "cartpole-swingup": (1.53e-3, 1.51e-5), "cartpole-swingup-sparse": (1.53e-3, 0.0),
    "cheetah-run": (1.77, 0.0), "cup-catch": (0.204, 1.0),  # cup: the ball is caught in one env only
    "finger-spin": (0.313, 0.0), "finger-turn-easy": (0.286, 0.0), "finger-turn-hard": (0.286, 0.0),
    "fish-swim": (0.291, 2.01e-3), "hopper-hop": (5.17e-3, 3.86e-5), "hopper-stand": (5.17e-3, 1.4e-7),
    "humanoid-run": (4.56, 3.46e-3), "humanoid-stand": (4.56, 1.98e-2), "humanoid-walk": (4.56, 4.74e-3),
    "pendulum-swingup": (8.38e-3, 0.0), "pointmass-easy": (1.23e-3, 0.0),
    "reacher-easy": (0.71, 0.0), "reacher-hard": (0.71, 0.0), "swimmer-swimmer6": (9.89e-3, 3.58e-7),
    "walker-run": (0.458, 1.35e-4), "walker-stand": (0.458, 8.07e-4), "walker-walk": (0.458, 1.35e-4),
    # the official repository's custom tasks: their domain's XML, initial state and observation (so the obs
    # difference of the domain's tasks), their own reward
    "cheetah-jump": (1.77, 4.71e-4), "cheetah-run-back": (1.77, 1.71e-4), "cheetah-run-backwards": (1.77, 2.43e-3),
    "cheetah-run-front": (1.77, 1.53e-4), "hopper-hop-backwards": (5.17e-3, 1.31e-6),
    "pendulum-spin": (8.38e-3, 1.69e-3), "walker-run-backwards": (0.458, 2.03e-4),
    "walker-walk-backwards": (0.458, 2.05e-3), "cup-spin": (4.37e-2, 1.95e-3),
    # reacher-three-*: the JAX env runs the official XML itself (jax_impl/reacher_three.py), so float32 round-off
    # only (measured 4.8e-7 obs; reward 0: the sparse target is not reached in 4 steps)
    "reacher-three-easy": (0.0, 0.0), "reacher-three-hard": (0.0, 0.0),
    "quadruped-run": (1.86e-4, 0.0), "quadruped-walk": (1.86e-4, 0.0),
}


# (a) exceptions: MJX's own contact solve differs from MuJoCo C's on the same model and state. cup-spin starts with
# the ball in the cup, which it hits within 4 agent steps: with Playground's 1 solver iteration, MJX's qvel after
# that contact differs from C's by 0.0055 (in float64 MJX too: not round-off), 0.028 in the obs 3 steps later.
MJX_CONTACT_GAP: dict[str, float] = {"cup-spin": 0.05}


def test_actions_map_onto_asymmetric_ctrlranges_as_dm_controls_action_scale() -> None:
    """quadruped's lift and extend actuators have ctrlranges (-1, 1.1) and (-0.8, 0.8): the same actions in [-1, 1]
    give the same ctrl in the torch env (dm_control's `action_scale.Wrapper`, float64) and the JAX env."""
    tenv, jenv = DMControlEnv("quadruped-walk", seed=0), _jax_env("quadruped-walk")
    lo, hi = tenv.physics.model.actuator_ctrlrange.T
    assert np.any(lo + hi != 0)  # an off-centre range, where a mapping without the centre would fail
    tenv.reset()
    actions = np.concatenate([np.random.default_rng(0).uniform(-1, 1, (6, 12)), -np.ones((1, 12)), np.ones((1, 12))])
    torch_ctrl = []
    for a in actions.astype(np.float32):
        tenv.step(a)
        torch_ctrl.append(np.array(tenv.physics.data.ctrl))
    jax_ctrl = np.stack([np.asarray(jenv.action_to_ctrl(jnp.asarray(a, jnp.float32))) for a in actions])
    compare(np.stack(torch_ctrl), jax_ctrl, "env/action -> ctrl (quadruped-walk)", "float32",
            test="test_actions_map_onto_asymmetric_ctrlranges_as_dm_controls_action_scale")


def test_xml_difference_covers_every_both_backend_task() -> None:
    assert sorted(XML_DIFFERENCE) == BOTH_BACKENDS


# the physics the slow test below steps: Playground's, where Playground has the task (its XML_DIFFERENCE)
XML_PHYSICS = {task: "dm_control" if TASKS[task].playground in OWN_MJX_ENVS else "playground" for task in BOTH_BACKENDS}


@pytest.mark.slow
@pytest.mark.parametrize("task", BOTH_BACKENDS)
def test_task_jax_env_steps_like_dm_control(task: str) -> None:
    """Same initial state, same actions -> the JAX env's observations, summed rewards and episode end against
    (a) MuJoCo C stepping Playground's XML with dm_control's task functions: the JAX env's implementation
        (MJX float32 vs C float64 round-off only);
    (b) the torch env (dm_control's XML): adds the physics difference of the two XMLs, XML_DIFFERENCE.
    The JAX env runs `physics=playground` (XML_PHYSICS; dm_control's where Playground has no env).
    About 1 min per task on 2 cores (one compile of the JAX env's step).
    """
    cfg = load_config(overrides=[f"task={task}", f"episode_length={STEP_AGENT_STEPS}", "backend=jax",
                                 f"physics={XML_PHYSICS[task]}"])
    tenv, jenv = make_torch_env(cfg, seed=0), make_jax_env(cfg)
    obs0, _ = tenv.reset()
    start = capture(tenv.physics)
    key = jax.random.PRNGKey(0)
    state = jax_state_from(jenv, start, key)
    actions = np.random.default_rng(1).uniform(-1, 1, (STEP_AGENT_STEPS, jenv.action_dim)).astype(np.float32)
    _, tr = jax.jit(lambda s, a: jax.lax.scan(jenv.step, s, a))(state, jnp.asarray(actions))
    j = {"obs": np.asarray(tr.next_obs), "reward": np.asarray(tr.reward)}
    # termination: never; the episode ends (truncation) at its last agent step in both
    assert np.asarray(tr.done).tolist() == [False] * (STEP_AGENT_STEPS - 1) + [True]
    t_obs, t_rew, t_end = [], [], []
    for a in actions:
        o, r, terminated, truncated, _ = tenv.step(a)
        assert terminated is False
        t_obs.append(o)
        t_rew.append(r)
        t_end.append(truncated)
    assert t_end == np.asarray(tr.done).tolist()
    t = {"obs": np.stack(t_obs), "reward": np.asarray(t_rew)}
    c = c_rollout(jenv, tenv, start, actions)
    name = "test_task_jax_env_steps_like_dm_control"
    # the same initial state: dm_control's reset observation (float32 copies of kinematics: measured <= 1.2e-7)
    compare(obs0, np.asarray(state.obs), f"env/reset obs ({task})", "float32", test=name)
    # (a) float32 MJX vs float64 C over 8 control steps (measured max 8e-5 obs (cup-catch), 6e-7 reward; quadruped
    # 1.9e-4 in the arcsinh of its toes' force sensors as it lands)
    compare(c, j, f"env/MJX vs C step ({task}, {STEP_AGENT_STEPS} agent steps)", "float32", rtol=1e-4,
            atol=MJX_CONTACT_GAP.get(task, 5e-4), test=name)
    # (b) the two XMLs: the measured difference, reproduced within a factor 2 (0 stays below 1e-6)
    for k, measured in zip(("obs", "reward"), XML_DIFFERENCE[task], strict=True):
        got = _max_abs(t[k], j[k])
        print(f"{task} {k}: |JAX env - torch env| max {got:.3g} (recorded {measured:.3g})")
        assert (measured / 2 <= got <= 2 * measured) if measured > 1e-6 else got <= 1e-6, (task, k, got)
