"""`physics=dm_control`: the JAX env (MJX, float32) steps like the torch env (dm_control, MuJoCo C float64).

Same initial state (dm_control's reset), same actions, DM_AGENT_STEPS agent steps: the observations and summed
rewards of both envs. Both step the same model and options (up to the deviations of
`jax_impl/dm_control_physics.py`, which `tests/test_dm_control_physics.py` shows are exact in MuJoCo C), so what is
left is float32 round-off, compounded by the dynamics. Where contacts make the dynamics chaotic (walker,
humanoid), MuJoCo C itself moves as far from a float32-rounded start (`c_chaos`), and the JAX env in float64
(`jax.enable_x64(True)`) shows the agreement instead. Slow: one compile of the JAX env's step per task
(about 1-3 min on 2 cores).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_impl.env import make_env as make_jax_env
from parity.env_states import SimState, apply_dm, capture
from parity.test_env_parity import jax_state_from
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import TASKS
from torch_ref.env import make_env as make_torch_env

DM_AGENT_STEPS = 10
DM_TASKS = sorted(name for name, spec in TASKS.items() if spec.playground is not None)
# the priority order of a partial run (`-k`): the domains whose physics Playground changes most
PRIORITY = ("cartpole-swingup", "walker-walk", "cheetah-run", "reacher-easy", "finger-spin", "fish-swim",
            "humanoid-run")
# measured max |JAX env - torch env| over DM_AGENT_STEPS agent steps from dm_control's reset (seed 0), CPU, float32:
# (obs, reward); every JAX task is measured (a task added later is checked at round-off scale, ROUND_OFF, and the
# test prints its numbers)
MEASURED: dict[str, tuple[float, float]] = {
    "cartpole-swingup": (3.52e-7, 4.43e-8), "cartpole-swingup-sparse": (3.52e-7, 0.0),
    "cheetah-run": (5.25e-6, 0.0), "reacher-easy": (4.17e-7, 0.0), "finger-spin": (1.98e-5, 0.0),
    "fish-swim": (2.03e-6, 3.65e-8), "hopper-hop": (3.43e-5, 1.49e-7), "cup-catch": (1.81e-4, 0.0),
    "acrobot-swingup": (2.38e-7, 9.34e-9), "pendulum-swingup": (2.38e-7, 0.0), "pointmass-easy": (2.79e-9, 0.0),
    "swimmer-swimmer6": (2.84e-5, 2.67e-9), "cartpole-balance": (5.96e-8, 1.93e-7), "reacher-hard": (4.17e-7, 0.0),
    "pendulum-spin": (2.38e-7, 1.3e-7), "finger-turn-easy": (4.77e-7, 0.0), "reacher-three-easy": (7.15e-7, 0.0),
    # ball-cup and toe-floor contacts solved in float32 (MuJoCo C from the float32-rounded start: 1.2e-7, 5.7e-6)
    "cup-spin": (4.82e-4, 5.61e-5), "quadruped-walk": (2.71e-4, 5.6e-7),
    # float32 with contacts (float64: F64_TASKS); MuJoCo C from the float32-rounded start: 5.1e-6, 2.3e-5
    "walker-walk": (1.87e-4, 6.53e-7), "humanoid-run": (1.79e-3, 8.92e-7),
    # the other tasks of these models: stepped from the same start with the same actions, their obs differ as their
    # sibling's (measured); their rewards are their own
    "acrobot-swingup-sparse": (2.38e-7, 0.0), "cartpole-balance-sparse": (5.96e-8, 0.0),
    "cheetah-jump": (5.25e-6, 5.75e-8), "cheetah-run-back": (5.25e-6, 1.42e-8),
    "cheetah-run-backwards": (5.25e-6, 2.01e-7), "cheetah-run-front": (5.25e-6, 1.43e-8),
    "finger-turn-hard": (4.77e-7, 0.0), "hopper-hop-backwards": (3.43e-5, 1.33e-7), "hopper-stand": (3.43e-5, 1.4e-7),
    "quadruped-run": (2.71e-4, 3.24e-7), "reacher-three-hard": (7.15e-7, 0.0),
    "walker-run": (1.87e-4, 6.53e-7), "walker-run-backwards": (1.87e-4, 1.32e-6), "walker-stand": (1.87e-4, 3.92e-6),
    "walker-walk-backwards": (1.87e-4, 7.62e-6), "humanoid-stand": (1.79e-3, 4.37e-6),
    "humanoid-walk": (1.79e-3, 2.36e-6),
}
ROUND_OFF = 1e-3  # float32 through 10-150 physics steps, no chaos (the measured values are far below)
# contact-rich tasks whose float32 difference grows as MuJoCo C's own from a float32-rounded start: float64 instead
F64_TASKS = ("humanoid-run", "humanoid-stand", "humanoid-walk", "walker-run", "walker-stand", "walker-walk",
             "walker-run-backwards", "walker-walk-backwards")
F64_RTOL, F64_ATOL = 1e-6, 1e-6  # measured walker-walk: obs identical, reward 1.6e-8
# humanoid in float64 stays 1.6e-3 (obs) from dm_control, as in float32: not round-off but MJX's capsule-capsule
# collider (its closest-point math is regularised by 1e-6 and it returns one contact where MuJoCo C can return two;
# measured on humanoid-run, seed 0; stand and walk step the same model from the same start with the same actions),
# the one MJX-C contact difference left once planes meet capsules as in C
MJX_CAPSULE_GAP = {"humanoid-run": 1.61e-3, "humanoid-stand": 1.61e-3, "humanoid-walk": 1.61e-3}


def _torch_rollout(tenv, actions: np.ndarray) -> dict[str, np.ndarray]:
    obs, rew = [], []
    for a in actions:
        o, r, terminated, _, _ = tenv.step(a)
        assert terminated is False
        obs.append(o)
        rew.append(r)
    return {"obs": np.stack(obs), "reward": np.asarray(rew)}


def _x64_contact_ids(data):
    """Under `jax.enable_x64`, MJX's collision returns int64 contact geom ids where `put_data` holds int32."""
    contact = data._impl.contact
    contact = contact.replace(**{k: getattr(contact, k).astype(jnp.int64) for k in ("geom1", "geom2", "geom")})
    return data.replace(_impl=data._impl.replace(contact=contact))


def _jax_rollout(cfg, start: SimState, actions: np.ndarray) -> dict[str, np.ndarray]:
    """The JAX env of `cfg` from `start` (built inside the caller's precision context)."""
    jenv = make_jax_env(cfg)
    key = jax.random.PRNGKey(0)
    state = jax_state_from(jenv, start, key)
    if jax.config.jax_enable_x64:
        state = state.replace(playground=state.playground.replace(data=_x64_contact_ids(state.playground.data)))
    _, tr = jax.jit(lambda s, a: jax.lax.scan(jenv.step, s, a))(state, jnp.asarray(actions))
    return {"obs": np.asarray(tr.next_obs), "reward": np.asarray(tr.reward)}


def _c_chaos(task: str, start: SimState, actions: np.ndarray, reference: dict[str, np.ndarray]) -> float:
    """max |obs| difference of dm_control from `start` rounded to float32 against `reference` (from `start`)."""
    cfg = load_config(overrides=[f"task={task}", f"episode_length={DM_AGENT_STEPS}"])
    tenv = make_torch_env(cfg, seed=0)
    tenv.reset()
    rounded = SimState({k: v.astype(np.float32).astype(np.float64) for k, v in start.data.items()}, start.target)
    apply_dm(tenv.physics, rounded)
    return float(np.abs(_torch_rollout(tenv, actions)["obs"] - reference["obs"]).max())


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())


@pytest.mark.slow
@pytest.mark.parametrize("task", list(PRIORITY) + [t for t in DM_TASKS if t not in PRIORITY])
def test_jax_env_in_dm_control_physics_steps_like_the_torch_env(task: str) -> None:
    cfg = load_config(overrides=[f"task={task}", f"episode_length={DM_AGENT_STEPS}", "backend=jax"])
    assert cfg.physics == "dm_control"
    tenv = make_torch_env(cfg, seed=0)
    tenv.reset()
    start = capture(tenv.physics)
    actions = np.random.default_rng(1).uniform(-1, 1, (DM_AGENT_STEPS, cfg.action_dim)).astype(np.float32)
    t = _torch_rollout(tenv, actions)
    j = _jax_rollout(cfg, start, actions)
    got = (_max_abs(t["obs"], j["obs"]), _max_abs(t["reward"], j["reward"]))
    chaos = _c_chaos(task, start, actions, t)
    print(f"\n{task}: |JAX f32 - torch| obs {got[0]:.3g} reward {got[1]:.3g}; MuJoCo C from the float32-rounded "
          f"start: obs {chaos:.3g}")
    if task in F64_TASKS:
        with jax.enable_x64(True):
            j64 = _jax_rollout(cfg, start, actions)
        got64 = (_max_abs(t["obs"], j64["obs"]), _max_abs(t["reward"], j64["reward"]))
        print(f"{task}: |JAX f64 - torch| obs {got64[0]:.3g} reward {got64[1]:.3g}")
        # both envs return float32 observations of a float64 state: one float32 ulp apart at most
        atol = 2 * MJX_CAPSULE_GAP.get(task, F64_ATOL / 2)
        np.testing.assert_allclose(j64["obs"], t["obs"], rtol=F64_RTOL, atol=atol)
        np.testing.assert_allclose(j64["reward"], t["reward"], rtol=F64_RTOL, atol=atol)
        f32_obs = 2 * MEASURED[task][0] if task in MEASURED else ROUND_OFF
        assert got[0] <= max(f32_obs, 100 * chaos), (got, chaos)  # float32: as far as MuJoCo C's own drift allows
    elif task in MEASURED:
        for k, g, m in zip(("obs", "reward"), got, MEASURED[task], strict=True):
            assert g <= max(2 * m, 1e-6), (task, k, g, m)
    else:
        assert max(got) <= ROUND_OFF, got


def test_every_jax_task_is_measured_and_documented() -> None:
    """Cheap, in the default suite: each JAX task has its measured numbers here and the same in docs/physics.md."""
    table = Path(__file__).resolve().parents[1] / "docs" / "physics.md"
    text = table.read_text().split("| task | obs | reward | MuJoCo C from the float32-rounded start (obs) |")[1]
    rows = {}
    for line in text.split("\n\n")[0].splitlines()[2:]:  # the rows of that table, up to its blank line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = (float(cells[1]), float(cells[2]))
    assert sorted(MEASURED) == DM_TASKS, sorted(set(DM_TASKS) ^ set(MEASURED))
    assert sorted(rows) == DM_TASKS, sorted(set(DM_TASKS) ^ set(rows))
    for task, measured in MEASURED.items():
        for doc, value in zip(rows[task], measured, strict=True):
            assert abs(doc - value) <= max(0.06 * value, 1e-12), (task, doc, value)
