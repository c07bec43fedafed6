"""`physics=dm_control`: every JAX task on dm_control's own model and options, with Playground's env classes.

MuJoCo Playground's DM Control Suite envs step re-tuned models (other timesteps, Euler's implicit joint damping
off, 1-4 solver iterations, Euler for RK4, MJX-only contact caps, fish's torso a sphere; docs/physics.md). Here
the same env classes (their observation, reward and reset functions) are built on dm_control's XML instead: the
class's module reads its XML from `_XML_PATH`, which `load_env` points at the edited dm_control model for the
duration of the construction, and `sim_dt` is set to dm_control's timestep, so that the env steps
`ctrl_dt / sim_dt` = dm_control's `n_sub_steps` physics steps per control step.

The model is dm_control 1.0.50's as its suite builds it (`tdmpc_parity/data/dm_control_tasks/<domain>.xml`: the suite's
XML, `cartpole.make_model(1)`, `swimmer.make_model(6)`; the official repository's custom tasks use the official
XMLs the torch backend steps, `tdmpc_parity/data/official_tasks/`), with the task's own model edits as Playground's env
class makes them (finger-spin's hinge damping 0.03, reacher's and finger-turn's target size). Every option is
dm_control's (timestep, integrator, solver, iterations, tolerances, cone, eulerdamp, gravity, density...), except
these deviations, each needed by MJX or by Playground's env class, none moving MuJoCo C's trajectory beyond
round-off (`tests/test_dm_control_physics.py` steps both models in C to the same bits, `ls_iterations` aside):
- `energy` enable flag cleared (acrobot, cartpole, pendulum): MJX's `put_model` refuses it; it only fills
  `data.energy`, which no task reads.
- `contype = conaffinity = 0` on every geom (fish, swimmer, through the top-level default): MJX's `put_model`
  needs a collision function for every geom pair, whatever the contact/constraint disable flags say, and has
  none for ellipsoid-box; both models disable contacts (swimmer) or all constraints (fish) anyway.
- the world element `target` in a mocap body `target` at its position (reacher, finger, fish, swimmer): the
  Playground env class moves its target through `mocap_pos`; dm_control moves it in the model (`geom_pos`,
  `site_pos`). A mocap body is welded to the world and holds no mass.
- `ls_iterations` = Playground's value for the domain (`LS_ITERATIONS`; dm_control: 50), except finger: under
  `vmap`, MJX runs every line-search step of every solver iteration (a `lax.cond` becomes a select), so 50 costs
  up to 5x on contact-rich domains. In MuJoCo C, one control step from the same state with Playground's value
  moves qvel by at most 1.8e-13 (walker), 2.2e-16 (cup) and 0 on cheetah, hopper, humanoid and reacher (300
  random control steps each; `tests/test_dm_control_physics.py` checks every domain along its steps); finger's
  elliptic cones need the longer line search (Playground's 8 moved one control step's qvel by up to 0.09 at
  contacts), so finger keeps 50.

quadruped-* and reacher-three-* are dm_control's already (`jax_impl/quadruped.py`, `jax_impl/reacher_three.py`);
`load_env` builds them with their own constructors (they have no Playground physics).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import import_module, resources
from typing import Any

import mujoco

from jax_impl.quadruped import MJX_ENVS as QUADRUPED_ENVS
from jax_impl.reacher_three import MJX_ENVS as REACHER_THREE_ENVS
from tdmpc_parity.core.tasks import TaskSpec

# the project's own MJX envs (tdmpc_parity.core.tasks.OWN_MJX_ENVS): dm_control's models in both physics modes
OWN_ENVS: dict[str, Callable[..., Any]] = {**REACHER_THREE_ENVS, **QUADRUPED_ENVS}

# dm_control domain -> (shipped XML, the ls_iterations it runs: Playground's, or None for dm_control's 50 (finger))
DOMAINS: dict[str, tuple[str, int | None]] = {
    "acrobot": ("acrobot.xml", 4), "ball_in_cup": ("ball_in_cup.xml", 4), "cartpole": ("cartpole.xml", 4),
    "cheetah": ("cheetah.xml", 8), "finger": ("finger.xml", None), "fish": ("fish.xml", 6),
    "hopper": ("hopper.xml", 10), "humanoid": ("humanoid.xml", 8), "pendulum": ("pendulum.xml", 8),
    "point_mass": ("point_mass.xml", 4), "reacher": ("reacher.xml", 6), "swimmer": ("swimmer6.xml", 8),
    "walker": ("walker.xml", 5),
}
LS_ITERATIONS: dict[str, int] = {domain: ls for domain, (_, ls) in DOMAINS.items() if ls is not None}
ENERGY_DOMAINS = ("acrobot", "cartpole", "pendulum")
NO_COLLISION_DOMAINS = ("fish", "swimmer")
MOCAP_TARGET_DOMAINS = ("reacher", "finger", "fish", "swimmer")
_NO_COLLISION_DEFAULT = '<geom contype="0" conaffinity="0"/>'
_TARGET = re.compile(r'<(geom|site) name="target"([^>]*?)\s*/>')
_POS = re.compile(r'\s+pos="([^"]*)"')


def data_text(folder: str, name: str) -> str:
    """A model shipped in tdmpc_parity/data/<folder>/ (dm_control_tasks or official_tasks), as text."""
    return resources.files("tdmpc_parity").joinpath("data", folder, name).read_text()


def source_xml(spec: TaskSpec) -> str:
    """The unedited model of `spec`: the official XML the torch backend steps for a custom task that has one,
    else dm_control's (module docstring)."""
    name = DOMAINS[spec.domain][0]
    official = resources.files("tdmpc_parity").joinpath("data", "official_tasks", name)
    return official.read_text() if spec.custom and official.is_file() else data_text("dm_control_tasks", name)


def mocap_target(xml: str) -> str:
    """`xml` with its one world element `target` (geom or site) in a mocap body `target` at the element's `pos`."""
    found = _TARGET.findall(xml)
    if len(found) != 1:
        raise ValueError(f"expected exactly one <geom/site name=\"target\"> to put in a mocap body, found {len(found)}")
    match = _TARGET.search(xml)
    assert match is not None
    kind, attrs = match.group(1), match.group(2)
    pos = _POS.search(attrs)
    where = pos.group(1) if pos else "0 0 0"
    inner = f'<{kind} name="target"{_POS.sub("", attrs)}/>'
    return xml[:match.start()] + f'<body name="target" pos="{where}" mocap="true">{inner}</body>' + xml[match.end():]


def _set_ls_iterations(xml: str, ls_iterations: int) -> str:
    """`<option ... ls_iterations=N>`: on the model's `<option>` element, or a new one where it has none."""
    if "ls_iterations" in xml:
        raise ValueError("the model already sets ls_iterations")
    if "<option" in xml:
        return xml.replace("<option", f'<option ls_iterations="{ls_iterations}"', 1)
    head = re.search(r"<mujoco[^>]*>", xml)
    assert head is not None, "not an MJCF model"
    return xml[:head.end()] + f'\n  <option ls_iterations="{ls_iterations}"/>' + xml[head.end():]


def edited_xml(domain: str, xml: str) -> str:
    """dm_control's model `xml` of `domain` with the deviations MJX and Playground's env class need (module
    docstring), and nothing else."""
    if domain in ENERGY_DOMAINS:
        if xml.count(' energy="enable"') != 1:
            raise ValueError(f"{domain}: expected one energy=\"enable\" flag to clear")
        xml = xml.replace(' energy="enable"', "")
    if domain in NO_COLLISION_DOMAINS:
        xml = xml.replace("<default>", "<default>\n    " + _NO_COLLISION_DEFAULT, 1)
    if domain in MOCAP_TARGET_DOMAINS:
        xml = mocap_target(xml)
    return _set_ls_iterations(xml, LS_ITERATIONS[domain]) if domain in LS_ITERATIONS else xml


def timestep(xml: str) -> float:
    """The physics timestep `xml` compiles to (dm_control's `Physics.timestep()`)."""
    return float(mujoco.MjModel.from_xml_string(xml, _assets()).opt.timestep)


def _assets() -> dict[str, bytes]:
    """dm_control's `suite/common` include files (the same files as Playground's `common.get_assets()`)."""
    from mujoco_playground._src.dm_control_suite import common

    return common.get_assets()


class _XmlSource:
    """Stands in for a Playground module's `_XML_PATH` (an `epath.Path`): the edited model's text."""

    def __init__(self, text: str, name: str):
        self._text, self._name = text, name

    def read_text(self) -> str:
        return self._text

    def as_posix(self) -> str:
        return self._name


def reacher_model(xml_path: Any, target_size: float, assets: dict[str, Any]) -> mujoco.MjModel:
    """Playground's Reacher `_make_model` with `MjSpec.body` (its version-string check picks the removed
    `find_body` on mujoco 3.17)."""
    spec = mujoco.MjSpec.from_string(xml_path.read_text(), assets)
    spec.body("target").first_geom().size[0] = target_size
    return spec.compile()


@contextmanager
def patched(module: Any, **attrs: Any) -> Iterator[None]:
    """Set module attributes for the duration of the block."""
    old = {k: getattr(module, k) for k in attrs}
    for k, v in attrs.items():
        setattr(module, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(module, k, v)


def load_env(spec: TaskSpec, impl: str) -> Any:
    """The Playground env class of `spec.playground` on dm_control's model and options (module docstring)."""
    from mujoco_playground import registry

    if spec.playground in OWN_ENVS:
        return OWN_ENVS[spec.playground](config_overrides={"impl": impl})
    xml = edited_xml(spec.domain, source_xml(spec))
    module = import_module(f"mujoco_playground._src.dm_control_suite.{spec.domain}")
    attrs: dict[str, Any] = {"_XML_PATH": _XmlSource(xml, DOMAINS[spec.domain][0])}
    if spec.domain == "swimmer":  # Playground's swimmer builds its chain from a file path; ours is built
        attrs["_make_model"] = lambda xml_path, n_bodies: xml
    if spec.domain == "reacher":
        attrs["_make_model"] = reacher_model
    with patched(module, **attrs):
        return registry.load(spec.playground, config_overrides={"impl": impl, "sim_dt": timestep(xml)})
