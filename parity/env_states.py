"""The same physics state in dm_control and in Playground's model: helpers of the per-task env parity tests.

A `SimState` is what dm_control's task functions read: the integration state (qpos, qvel, act, ctrl, warm
start) and, for the tasks whose goal is a `target` geom/site that dm_control moves in the MODEL (reacher,
finger-turn, fish, swimmer), the target's world position. Playground's XMLs hold that target in a mocap body
named `target` (the geom/site at its origin), so the same state there is the same data plus
`mocap_pos[target] = target`.

`goal_states` puts rollout states where the task pays: sparse rewards are 0 on almost every random state, so
without them a reward function could be wrong unnoticed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np

DATA_KEYS = ("qpos", "qvel", "act", "ctrl", "qacc_warmstart")
# dm_control's solver settings copied onto Playground's model for the function checks (see converged_model)
SOLVER_KEYS = ("iterations", "ls_iterations", "tolerance", "ls_tolerance", "cone", "impratio",
               "noslip_iterations")


@dataclass(frozen=True)
class SimState:
    """One physics state of a dm_control task (see the module docstring)."""

    data: dict[str, np.ndarray]
    target: np.ndarray | None  # world position of the task's target, None for tasks without one


def _dm_target(physics: Any) -> tuple[str, int] | None:
    """("geom" | "site", id) of dm_control's world-body `target` element, None when the task has none."""
    model = physics.model.ptr
    for kind, n, body in (("geom", model.ngeom, model.geom_bodyid), ("site", model.nsite, model.site_bodyid)):
        for i in range(n):
            if mujoco.mj_id2name(model, getattr(mujoco.mjtObj, f"mjOBJ_{kind.upper()}"), i) == "target" \
                    and body[i] == 0:
                return kind, i
    return None


def capture(physics: Any) -> SimState:
    """The state of a dm_control Physics (after its last step or forward)."""
    data = {k: np.array(getattr(physics.data.ptr, k)) for k in DATA_KEYS}
    where = _dm_target(physics)
    target = None if where is None else np.array(getattr(physics.data.ptr, f"{where[0]}_xpos")[where[1]])
    return SimState(data, target)


def apply_dm(physics: Any, state: SimState) -> None:
    """Put `state` into a dm_control Physics (the target into the model, as the task does) and forward it."""
    for k, v in state.data.items():
        getattr(physics.data.ptr, k)[:] = v
    where = _dm_target(physics)
    if (where is None) != (state.target is None):
        raise ValueError("state and physics disagree on whether the task has a target")
    if where is not None:
        getattr(physics.model.ptr, f"{where[0]}_pos")[where[1]] = state.target
    physics.forward()


def target_mocap(model: mujoco.MjModel) -> int | None:
    """Mocap index of Playground's `target` body, None when the model has none."""
    bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "target")
    return None if bid < 0 or model.body_mocapid[bid] < 0 else int(model.body_mocapid[bid])


def apply_mj(model: mujoco.MjModel, data: mujoco.MjData, state: SimState, forward: bool = True) -> None:
    """Put `state` into MuJoCo data of Playground's model (the target as its mocap body) and forward it."""
    for k, v in state.data.items():
        getattr(data, k)[:] = v
    mocap = target_mocap(model)
    if mocap is not None:  # (point_mass: dm_control's target geom never moves, Playground's is no mocap)
        if state.target is None:
            raise ValueError("the model has a target mocap body but the state has no target")
        data.mocap_pos[mocap] = state.target
    if forward:
        mujoco.mj_forward(model, data)


def converged_model(pg_model: mujoco.MjModel, dm_model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of Playground's model with dm_control's solver settings (SOLVER_KEYS).

    Contact-force sensors (touch) are outputs of the constraint solver; Playground's XMLs stop it after 1-4
    iterations and finger's uses pyramidal cones where dm_control's is elliptic (a different force split:
    log1p(touch) off by up to 1.8 on the same state). With dm_control's settings both solves converge to the
    same forces, so the observation FUNCTIONS are compared; the solver difference is a physics difference,
    measured by the stepping comparisons.
    """
    m = copy.copy(pg_model)
    for k in SOLVER_KEYS:
        setattr(m.opt, k, getattr(dm_model.opt, k))
    return m


def rollout(env: Any, n_agent_steps: int, seed: int) -> list[SimState]:
    """States of a torch_ref DMControlEnv (reset, then uniform random actions) after every agent step."""
    env.reset()
    rng = np.random.default_rng(seed)
    out = [capture(env.physics)]
    for _ in range(n_agent_steps):
        env.step(rng.uniform(-1, 1, env.action_dim))
        out.append(capture(env.physics))
    return out


# --- states where each task's reward is not 0 -------------------------------------------------------------

def _upright(physics: Any, rng: np.random.Generator) -> None:
    """Near qpos0 (acrobot, cartpole, pendulum upright; the point mass at its target), slow."""
    physics.data.qpos[:] = physics.model.qpos0 + 0.02 * rng.standard_normal(physics.model.nq)
    physics.data.qvel[:] = 0.1 * rng.standard_normal(physics.model.nv)


def _running(physics: Any, rng: np.random.Generator) -> None:
    """Hopper/cheetah near their standing pose (qpos0) moving forward at 1-12 m/s."""
    physics.data.qpos[:] = physics.model.qpos0 + 0.05 * rng.standard_normal(physics.model.nq)
    physics.data.qvel[:] = 0.5 * rng.standard_normal(physics.model.nv)
    physics.data.qvel[0] = rng.uniform(1.0, 12.0)


def _running_backwards(physics: Any, rng: np.random.Generator) -> None:
    """Hopper/cheetah near their standing pose moving backwards at 1-12 m/s (the custom *-backwards tasks)."""
    _running(physics, rng)
    physics.data.qvel[0] *= -1


def _spinning(physics: Any, rng: np.random.Generator) -> None:
    """The pendulum turning at 5-12 rad/s either way (pendulum-spin pays from 9 rad/s)."""
    physics.named.data.qvel["hinge"] = rng.choice([-1.0, 1.0]) * rng.uniform(5.0, 12.0)


def _cup_spinning(physics: Any, rng: np.random.Generator) -> None:
    """The ball out of the cup, 0.3-0.5 m from its target, swinging at up to 8 m/s (cup-spin pays there)."""
    physics.named.data.qpos["ball_x"] = rng.choice([-1.0, 1.0]) * rng.uniform(0.3, 0.5)
    physics.named.data.qpos["ball_z"] = rng.uniform(-0.2, 0.2)
    physics.named.data.qvel["ball_x"] = rng.uniform(-8.0, 8.0)
    physics.named.data.qvel["ball_z"] = rng.uniform(-8.0, 8.0)


def _ball_in_cup(physics: Any, rng: np.random.Generator) -> None:
    """The ball inside the cup's target box (within 1.5 cm of its centre; it pays within 2.5 cm)."""
    physics.forward()
    target = physics.named.data.site_xpos["target"]
    ball0 = physics.named.model.body_pos["ball"]
    physics.named.data.qpos["ball_x"] = target[0] - ball0[0] + rng.uniform(-0.015, 0.015)
    physics.named.data.qpos["ball_z"] = target[2] - ball0[2] + rng.uniform(-0.015, 0.015)


def _spin(physics: Any, rng: np.random.Generator) -> None:
    """The finger's spinner turning faster than 15 rad/s the paying way."""
    physics.named.data.qvel["hinge"] = -rng.uniform(16.0, 25.0)


def _target_at(kind: str, name: str) -> Callable[[Any, np.random.Generator], None]:
    """The target moved onto the `name` geom/site (reacher finger, finger tip, fish mouth, swimmer nose)."""

    def move(physics: Any, rng: np.random.Generator) -> None:
        physics.forward()
        pos = getattr(physics.named.data, f"{kind}_xpos")[name] + 0.005 * rng.standard_normal(3)
        where = _dm_target(physics)
        assert where is not None
        getattr(physics.model.ptr, f"{where[0]}_pos")[where[1]] = pos

    return move


GOALS: dict[str, Callable[[Any, np.random.Generator], None]] = {
    "acrobot": _upright, "cartpole": _upright, "pendulum": _upright, "point_mass": _upright,
    "reacher": _target_at("geom", "finger"), "fish": _target_at("geom", "mouth"),
    "swimmer": _target_at("geom", "nose"), "finger": _spin, "cheetah": _running, "hopper": _running,
    "ball_in_cup": _ball_in_cup,
}
FINGER_TURN = _target_at("site", "tip")
TASK_GOALS: dict[str, Callable[[Any, np.random.Generator], None]] = {  # where a custom task pays, not its domain
    "cheetah-run-backwards": _running_backwards, "hopper-hop-backwards": _running_backwards,
    "pendulum-spin": _spinning, "cup-spin": _cup_spinning,
}


def goal_states(env: Any, states: list[SimState], seed: int) -> list[SimState]:
    """`states` moved where the task pays (TASK_GOALS, else the domain's GOALS; none for walker and humanoid:
    random rollouts pay there)."""
    spec = env.task_spec
    goal = TASK_GOALS.get(spec.name) or (FINGER_TURN if spec.task.startswith("turn") else GOALS.get(spec.domain))
    if goal is None:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for s in states:
        apply_dm(env.physics, s)
        goal(env.physics, rng)
        env.physics.forward()
        out.append(capture(env.physics))
    return out


def dm_task_functions(env: Any, states: list[SimState]) -> tuple[np.ndarray, np.ndarray]:
    """dm_control's flattened observation and reward of each state (official layout, float32 obs)."""
    from torch_ref.env import flatten_observation

    obs, rew = [], []
    for s in states:
        apply_dm(env.physics, s)
        obs.append(flatten_observation(env.task.get_observation(env.physics)))
        rew.append(env.task.get_reward(env.physics))
    return np.stack(obs), np.asarray(rew, np.float64)
