"""jax_impl.dm_control_physics: `physics=dm_control` steps dm_control's own model, in MuJoCo C to the same bits.

Cheap (no MJX compile): the env's MuJoCo model (the model its MJX model is put from) against dm_control's
`env.physics` model of the same task after `reset` (task edits applied), stepped by MuJoCo C from the same state
with the same controls; options equal except the deviations the module lists. The JAX env stepping in MJX
against the torch env: parity/test_dm_control_physics.py (slow).
"""

from __future__ import annotations

import copy
import re
from importlib import import_module

import mujoco
import numpy as np
import pytest
from dm_control.suite import cartpole, common, swimmer

from jax_impl import dm_control_physics as dmp
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.tasks import TASKS
from torch_ref.env import DMControlEnv

# one task per distinct model: every domain, each official custom-task XML, and the task-level model edits
# (finger-spin's damping, finger-turn's and reacher's target size); quadruped and reacher-three: their own tests
TASKS_BY_MODEL = ("acrobot-swingup", "cartpole-swingup", "cheetah-run", "cheetah-run-backwards", "cup-catch",
                  "cup-spin", "finger-spin", "finger-turn-hard", "fish-swim", "hopper-hop", "hopper-hop-backwards",
                  "humanoid-run", "pendulum-swingup", "pendulum-spin", "pointmass-easy", "reacher-hard",
                  "swimmer-swimmer6", "walker-walk", "walker-run-backwards")
# MjOption fields that may differ (module docstring): ls_iterations (Playground's value), the energy flag
DEVIATING_OPTIONS = ("ls_iterations", "enableflags")
CONTROL_STEPS = 20
CONTACT_DOMAINS = ("cheetah", "hopper", "humanoid", "walker")  # they touch the floor within these steps


def _option_fields() -> list[str]:
    return [n for n in dir(mujoco.MjOption) if not n.startswith("_") and not callable(getattr(mujoco.MjOption, n))]


def test_shipped_xmls_are_dm_controls() -> None:
    """Every shipped model is dm_control 1.0.50's suite model as its suite builds it, byte for byte."""
    for domain, (name, _) in dmp.DOMAINS.items():
        shipped = dmp.data_text("dm_control_tasks", name)
        if domain == "swimmer":
            assert shipped.encode() == swimmer._make_model(6)
        elif domain == "cartpole":
            assert shipped.encode() == cartpole._make_model(1) == common.read_model(name)
        else:
            assert shipped.encode() == common.read_model(name), domain


def test_ls_iterations_are_playgrounds() -> None:
    """LS_ITERATIONS holds the value of Playground's XML for each domain."""
    for domain in dmp.DOMAINS:
        xml = import_module(f"mujoco_playground._src.dm_control_suite.{domain}")._XML_PATH.read_text()
        playground = int(re.search(r'ls_iterations="(\d+)"', xml).group(1))
        assert dmp.LS_ITERATIONS.get(domain, playground) == playground, domain
    assert set(dmp.DOMAINS) - set(dmp.LS_ITERATIONS) == {"finger"}  # elliptic cones: dm_control's 50 (docstring)


def test_every_jax_task_is_tested_on_its_model() -> None:
    """The tasks below cover every domain and custom XML the JAX backend runs on dm_control's model."""
    loaded = {(s.domain, s.custom) for s in TASKS.values() if s.playground not in (None, *dmp.OWN_ENVS)}
    tested = {(TASKS[t].domain, TASKS[t].custom) for t in TASKS_BY_MODEL}
    assert loaded == tested


def test_edits_refuse_a_model_they_do_not_fit() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        dmp.mocap_target("<mujoco><worldbody/></mujoco>")
    with pytest.raises(ValueError, match="energy"):
        dmp.edited_xml("pendulum", "<mujoco><option/></mujoco>")
    with pytest.raises(ValueError, match="ls_iterations"):
        dmp.edited_xml("cheetah", '<mujoco><option ls_iterations="3"/></mujoco>')


def _target(model: mujoco.MjModel, data: mujoco.MjData) -> np.ndarray | None:
    """World position of the world element `target` (geom or site) dm_control moves in the model, if any."""
    for kind in ("geom", "site"):
        i = mujoco.mj_name2id(model, getattr(mujoco.mjtObj, f"mjOBJ_{kind.upper()}"), "target")
        if i >= 0 and getattr(model, f"{kind}_bodyid")[i] == 0:
            return np.array(getattr(data, f"{kind}_xpos")[i])
    return None


@pytest.mark.parametrize("task", TASKS_BY_MODEL)
def test_model_steps_as_dm_controls_to_the_bit(task: str) -> None:
    """Same options as dm_control's model (but DEVIATING_OPTIONS), same control step, and MuJoCo C steps both models
    from the same state (after 10 random dm_control control steps, 20 more) with the same controls to the same bits
    with dm_control's ls_iterations; with Playground's, one control step from the same state moves qvel by round-off
    only."""
    spec = TASKS[task]
    env = DMControlEnv(task, seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(rng.uniform(-1, 1, env.action_dim).astype(np.float32))
    dm = env.physics
    theirs, d_theirs = dm.model.ptr, dm.data.ptr
    jenv = dmp.load_env(spec, "jax")
    ours = jenv.mj_model
    assert jenv.n_substeps == env.dm_env._n_sub_steps
    for name in _option_fields():
        a, b = getattr(ours.opt, name), getattr(theirs.opt, name)
        if name == "ls_iterations":
            assert (a, b) == (dmp.LS_ITERATIONS.get(spec.domain, 50), 50)
        elif name == "enableflags":
            assert a == b & ~int(mujoco.mjtEnableBit.mjENBL_ENERGY), (a, b)
            assert (a != b) == (spec.domain in dmp.ENERGY_DOMAINS)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)
    d_ours = mujoco.MjData(ours)
    for k in ("qpos", "qvel", "act", "qacc_warmstart", "ctrl"):
        getattr(d_ours, k)[:] = getattr(d_theirs, k)
    target = _target(theirs, d_theirs)
    if spec.domain in dmp.MOCAP_TARGET_DOMAINS:
        d_ours.mocap_pos[ours.body("target").mocapid[0]] = target
    mujoco.mj_forward(theirs, d_theirs)
    mujoco.mj_forward(ours, d_ours)
    exact = copy.copy(ours)  # the bits: with dm_control's ls_iterations; Playground's value: one step at a time
    exact.opt.ls_iterations = theirs.opt.ls_iterations
    contacts, ls_gap = 0, 0.0
    for _ in range(CONTROL_STEPS):
        d_ours.ctrl[:] = d_theirs.ctrl[:] = rng.uniform(-1, 1, ours.nu)
        d_ls = copy.copy(d_ours)
        for _ in range(jenv.n_substeps):
            mujoco.mj_step(theirs, d_theirs)
            mujoco.mj_step(exact, d_ours)
            mujoco.mj_step(ours, d_ls)
            contacts += d_theirs.ncon
        ls_gap = max(ls_gap, float(np.abs(d_ls.qvel - d_ours.qvel).max()))
    assert contacts > 0 or spec.domain not in CONTACT_DOMAINS
    assert ls_gap <= 1e-12, ls_gap  # ls_iterations: round-off (measured max 1.8e-13, walker)
    for k in ("qpos", "qvel", "act", "qacc", "sensordata"):
        np.testing.assert_array_equal(getattr(d_ours, k), getattr(d_theirs, k), err_msg=k)
    if target is not None:
        np.testing.assert_array_equal(_target(ours, d_ours) if spec.domain not in dmp.MOCAP_TARGET_DOMAINS
                                      else d_ours.xpos[ours.body("target").id], target)
    assert np.abs(d_theirs.qvel).max() > 0  # it moved


def test_config_physics_defaults_to_dm_control_and_fast_to_playground() -> None:
    assert load_config(overrides=["backend=jax"]).physics == "dm_control"
    assert load_config("fast", overrides=["backend=jax"]).physics == "playground"
    assert load_config("fast", overrides=["backend=jax", "physics=dm_control"]).physics == "dm_control"
    # torch is always dm_control: its runs record it
    assert load_config("fast", overrides=["physics=playground"]).physics == "dm_control"
    # Playground has no quadruped: the fast profile keeps dm_control there, an explicit request is refused
    assert load_config("fast", overrides=["backend=jax", "task=quadruped-walk"]).physics == "dm_control"


@pytest.mark.parametrize(("overrides", "message"), [
    (["physics=foo"], r"'foo' is not one of \('dm_control', 'playground'\)"),
    (["backend=jax", "task=quadruped-run", "physics=playground"], "no quadruped-run environment.*physics=dm_control"),
    (["backend=jax", "task=reacher-three-easy", "physics=playground"], "no reacher-three-easy environment"),
])
def test_bad_physics_is_one_clear_sentence(overrides: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(overrides=overrides)


def _run_folder(tmp_path, *overrides: str, drop_physics: bool = False):
    """A run folder's config.json as `RunLog` writes it (optionally without the `physics` key, as older runs)."""
    import json

    from tdmpc_parity.core.runlog import CONFIG_FILE

    data = load_config(overrides=list(overrides)).to_dict()
    data["_meta"] = {"created": "2026-01-01T00:00:00"}
    if drop_physics:
        del data["physics"]
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(data))
    return tmp_path


def test_older_run_folders_without_the_key_read_as_the_physics_they_stepped(tmp_path) -> None:
    """Before the key, a JAX run stepped Playground's physics (quadruped: dm_control's); torch always dm_control."""
    from tdmpc_parity.core.runlog import CONFIG_FILE, read_config

    jax_run = _run_folder(tmp_path / "j", "backend=jax", drop_physics=True)
    assert read_config(jax_run).physics == "playground"
    assert load_config(yaml_path=jax_run / CONFIG_FILE).physics == "playground"  # eval/resume read it so too
    assert read_config(_run_folder(tmp_path / "q", "backend=jax", "task=quadruped-walk",
                                   drop_physics=True)).physics == "dm_control"
    assert read_config(_run_folder(tmp_path / "t", drop_physics=True)).physics == "dm_control"
    assert read_config(_run_folder(tmp_path / "n", "backend=jax")).physics == "dm_control"
    # a plain config file without the key is a new run: the default
    plain = tmp_path / "plain.yaml"
    plain.write_text("backend: jax\n")
    assert load_config(yaml_path=plain).physics == "dm_control"


def test_a_checkpoint_of_another_physics_is_refused(tmp_path) -> None:
    from tdmpc_parity.core.checkpoints import CheckpointError, check_same_run

    pg = load_config(overrides=["backend=jax", "physics=playground"])
    dm = load_config(overrides=["backend=jax"])
    check_same_run(dm, dm, tmp_path)
    with pytest.raises(CheckpointError, match="trained with physics=playground but the run has physics=dm_control: "
                                              "continue it with physics=playground"):
        check_same_run(pg, dm, tmp_path)


def test_evaluating_a_run_in_another_physics_is_refused(tmp_path) -> None:
    from tdmpc_parity.app.backends import CLIError
    from tdmpc_parity.app.evaluate import EvalOptions, resolve_source

    run = _run_folder(tmp_path / "r", "backend=jax", "physics=playground")
    assert resolve_source(EvalOptions(source=str(run))).cfg.physics == "playground"
    with pytest.raises(CLIError, match="trained with physics=playground; evaluating it with physics=dm_control "
                                       r"\(jax backend\) is refused: evaluate it with physics=playground on"):
        resolve_source(EvalOptions(source=str(run), overrides=["physics=dm_control"]))
    with pytest.raises(CLIError, match=r"physics=dm_control \(torch backend\) is refused"):
        resolve_source(EvalOptions(source=str(run), backend="torch"))
    old = _run_folder(tmp_path / "o", "backend=jax", drop_physics=True)
    assert resolve_source(EvalOptions(source=str(old))).cfg.physics == "playground"
