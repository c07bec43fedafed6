"""The Glass head and loss in both backends: gradient routing, presets, init, loss terms, diagnostics."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tdmpc_parity.core.config import Config, GlassConfig, load_config

LATENT = 32  # small latent (a multiple of simnorm_dim 8) keeps every test fast


def make_cfg(preset: str = "phase1", **glass: Any) -> Config:
    cfg = load_config(overrides=[f"glass={preset}", f"latent_dim={LATENT}"])
    return replace(cfg, glass=replace(cfg.glass, **glass)) if glass else cfg


def latents(seed: int, shape: tuple[int, ...] = (2, 8, LATENT)) -> tuple[np.ndarray, np.ndarray]:
    """SimNorm-like latents (positive, groups of 8 summing to 1) for z_src and z_next."""
    rng = np.random.default_rng(seed)

    def one() -> np.ndarray:
        x = np.exp(2.0 * rng.normal(size=shape)).reshape(*shape[:-1], -1, 8)
        return (x / x.sum(-1, keepdims=True)).reshape(shape)

    return one(), one()


# ----------------------------------------------------------------------------------------------------------
# Backends
# ----------------------------------------------------------------------------------------------------------


class TorchBackend:
    name = "torch"

    def __init__(self) -> None:
        import torch

        from torch_ref import glass

        self.torch, self.glass = torch, glass

    def init(self, cfg: Config) -> dict[str, np.ndarray]:
        self.torch.manual_seed(0)
        head = self.glass.GlassHead(cfg)
        return {k: v.detach().numpy() for k, v in head.named_parameters()}

    def run(self, params: dict[str, np.ndarray], z_src: np.ndarray, z_next: np.ndarray, gcfg: GlassConfig):
        """(loss, metrics as floats, grads as NumPy arrays or None for no gradient at all)."""
        t = {k: self.torch.tensor(v, requires_grad=True) for k, v in params.items()}
        zs = self.torch.tensor(z_src, requires_grad=True)
        zn = self.torch.tensor(z_next, requires_grad=True)
        loss, metrics = self.glass.glass_loss(t, zs, zn, gcfg)
        assert all(not m.requires_grad and m.ndim == 0 for m in metrics.values())
        loss.backward()
        grads = {k: (None if x.grad is None else x.grad.numpy())
                 for k, x in [*t.items(), ("z_src", zs), ("z_next", zn)]}
        return float(loss.detach()), {k: float(v) for k, v in metrics.items()}, grads

    def diagnostics(self, S: np.ndarray, P: np.ndarray) -> dict[str, float]:
        out = self.glass.glass_diagnostics(self.torch.tensor(S), self.torch.tensor(P))
        return {k: float(v) for k, v in out.items()}

    def balance(self, S: np.ndarray, c: np.ndarray, kind: str) -> float:
        return float(self.glass.balance_loss(self.torch.tensor(S), self.torch.tensor(c), kind))

    def temporal(self, c_src: np.ndarray, c_next: np.ndarray, S: np.ndarray) -> float:
        t = self.torch.tensor
        return float(self.glass.temporal_loss(t(c_src), t(c_next), t(S)))

    def matrices(self, params: dict[str, np.ndarray], z_src, z_next, gcfg: GlassConfig):
        t = {k: self.torch.tensor(v) for k, v in params.items()}
        return self.glass.glass_matrices(t, self.torch.tensor(z_src), self.torch.tensor(z_next), gcfg)


class JaxBackend:
    name = "jax"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        from jax_impl import glass

        self.jax, self.jnp, self.glass = jax, jnp, glass

    def init(self, cfg: Config) -> dict[str, np.ndarray]:
        params = self.glass.init_glass_params(self.jax.random.PRNGKey(0), cfg)
        return {k: np.asarray(v) for k, v in params.items()}

    def run(self, params: dict[str, np.ndarray], z_src: np.ndarray, z_next: np.ndarray, gcfg: GlassConfig):
        jnp = self.jnp
        p = {k: jnp.asarray(v) for k, v in params.items()}
        vg = self.jax.value_and_grad(self.glass.glass_loss, argnums=(0, 1, 2), has_aux=True)  # eager: the
        (loss, metrics), grads = vg(p, jnp.asarray(z_src), jnp.asarray(z_next), gcfg)  # op cache is shared
        assert all(m.ndim == 0 for m in metrics.values())
        out = {k: np.asarray(v) for k, v in grads[0].items()}
        out.update(z_src=np.asarray(grads[1]), z_next=np.asarray(grads[2]))
        return float(loss), {k: float(v) for k, v in metrics.items()}, out

    def diagnostics(self, S: np.ndarray, P: np.ndarray) -> dict[str, float]:
        out = self.glass.glass_diagnostics(self.jnp.asarray(S), self.jnp.asarray(P))
        return {k: float(v) for k, v in out.items()}

    def balance(self, S: np.ndarray, c: np.ndarray, kind: str) -> float:
        return float(self.glass.balance_loss(self.jnp.asarray(S), self.jnp.asarray(c), kind))

    def temporal(self, c_src: np.ndarray, c_next: np.ndarray, S: np.ndarray) -> float:
        a = self.jnp.asarray
        return float(self.glass.temporal_loss(a(c_src), a(c_next), a(S)))

    def matrices(self, params: dict[str, np.ndarray], z_src, z_next, gcfg: GlassConfig):
        a = self.jnp.asarray
        return self.glass.glass_matrices({k: a(v) for k, v in params.items()}, a(z_src), a(z_next), gcfg)


@pytest.fixture(params=["torch", "jax"])
def be(request) -> TorchBackend | JaxBackend:
    return TorchBackend() if request.param == "torch" else JaxBackend()


def _no_grad(g: np.ndarray | None) -> bool:
    return g is None or not np.any(g)


# ----------------------------------------------------------------------------------------------------------
# Gradient routing
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stopgrad", [True, False])
def test_stopgrad_graph_routes_latent_gradient(be, stopgrad: bool) -> None:
    cfg = make_cfg("phase1", stopgrad_graph=stopgrad)
    params = be.init(cfg)
    z_src, z_next = latents(0)
    _, _, grads = be.run(params, z_src.astype(np.float32), z_next.astype(np.float32), cfg.glass)
    assert _no_grad(grads["z_next"])  # always stop-gradiented
    if stopgrad:
        assert _no_grad(grads["z_src"])
    else:
        assert np.all(np.isfinite(grads["z_src"])) and np.abs(grads["z_src"]).max() > 0
    for name in ("prototypes", "assign_logits"):
        assert np.all(np.isfinite(grads[name])) and np.abs(grads[name]).max() > 0, name


@pytest.mark.parametrize("preset", ["phase0", "phase1", "phase1b", "phase2"])
def test_every_preset_gives_finite_loss_and_metrics(be, preset: str) -> None:
    cfg = make_cfg(preset)
    params = be.init(cfg)
    z_src, z_next = latents(1)
    loss, metrics, grads = be.run(params, z_src.astype(np.float32), z_next.astype(np.float32), cfg.glass)
    from torch_ref.glass import METRIC_KEYS

    assert set(metrics) == set(METRIC_KEYS)
    assert all(math.isfinite(v) for v in metrics.values()) and math.isfinite(loss)
    g = cfg.glass
    parts = g.lambda_se * metrics["glass_se"] + g.lambda_bal * metrics["glass_bal"]
    parts += g.lambda_tmp * metrics["glass_tmp"]
    assert loss == pytest.approx(parts, rel=1e-5) and metrics["glass_loss"] == pytest.approx(loss, rel=1e-6)
    assert all(np.all(np.isfinite(v)) for v in grads.values() if v is not None)


# ----------------------------------------------------------------------------------------------------------
# Presets and init
# ----------------------------------------------------------------------------------------------------------


def test_phase_presets_resolve() -> None:
    off = load_config().glass
    assert not off.enabled
    p1 = load_config(overrides=["glass=phase1"]).glass
    assert p1.enabled and p1 == replace(GlassConfig(), preset="phase1", enabled=True)
    p1b = load_config(overrides=["glass=phase1b"]).glass
    assert (p1b.t_proto, p1b.assign_logits_init_scale, p1b.stopgrad_graph) == (0.7, 0.5, True)
    p2 = load_config(overrides=["glass=phase2"]).glass
    assert (p2.t_proto, p2.assign_logits_init_scale, p2.stopgrad_graph) == (0.7, 0.5, False)
    p0 = load_config(overrides=["glass=phase0"]).glass
    assert (p0.assignment, p0.balance, p0.t_proto, p0.assign_logits_init_scale) == ("l2", "l2", 0.2, 0.01)
    explicit = load_config(overrides=["glass=phase1b", "glass.t_proto=0.3"]).glass
    assert explicit.t_proto == 0.3 and explicit.assign_logits_init_scale == 0.5


@pytest.mark.parametrize("preset", ["phase0", "phase1", "phase1b"])
def test_init_shapes_simnorm_and_scale(be, preset: str) -> None:
    cfg = make_cfg(preset, num_prototypes=64, num_clusters=16)
    params = be.init(cfg)
    assert params["prototypes"].shape == (64, LATENT) and params["assign_logits"].shape == (64, 16)
    assert params["prototypes"].dtype == np.float32 and params["assign_logits"].dtype == np.float32
    groups = params["prototypes"].reshape(64, -1, cfg.simnorm_dim).sum(-1)
    np.testing.assert_allclose(groups, 1.0, rtol=1e-5)
    std = params["assign_logits"].std()
    assert 0.8 * cfg.glass.assign_logits_init_scale < std < 1.2 * cfg.glass.assign_logits_init_scale


def test_torch_head_canonical_names() -> None:
    import torch

    from torch_ref.glass import GlassHead
    from torch_ref.world_model import WorldModel

    cfg = make_cfg("phase1")
    head = GlassHead(cfg)
    assert [n for n, _ in head.named_parameters()] == ["prototypes", "assign_logits"]
    model = WorldModel(cfg, glass=head)
    keys = set(model.state_dict())
    assert {"_glass.prototypes", "_glass.assign_logits"} <= keys
    assert model.state_dict()["_glass.assign_logits"].dtype == torch.float32


# ----------------------------------------------------------------------------------------------------------
# Loss terms and diagnostics on constructed inputs
# ----------------------------------------------------------------------------------------------------------

N, K = 16, 8


def test_diagnostics_uniform_s(be) -> None:
    S = np.full((N, K), 1.0 / K)
    d = be.diagnostics(S, np.full((N, N), 1.0 / N))
    assert d["glass_H_cm"] == pytest.approx(math.log(K), rel=1e-6)
    assert d["glass_active_clusters"] == K
    assert d["glass_max_cluster_mass"] == pytest.approx(1.0 / K)
    assert d["glass_cut_mass"] == pytest.approx(0.0, abs=1e-7)  # ties: every argmax is cluster 0


def test_diagnostics_four_soft_equal_clusters(be) -> None:
    labels = np.arange(N) % 4
    S = np.eye(K)[labels] * (1 - K * 1e-3) + 1e-3  # own cluster 0.993, every other cluster 0.001
    d = be.diagnostics(S, np.full((N, N), 1.0 / N))
    s_bar = np.r_[np.full(4, (4 * 0.993 + 12 * 0.001) / N), np.full(4, 0.001)]  # 4 x 0.249, 4 x 0.001
    assert d["glass_H_cm"] == pytest.approx(-(s_bar * np.log(s_bar)).sum(), rel=1e-6)
    assert d["glass_H_cm"] == pytest.approx(math.log(4), abs=0.05)
    assert d["glass_active_clusters"] == 4  # 0.001 < 0.05 / K = 0.00625
    assert d["glass_max_cluster_mass"] == pytest.approx(0.249, rel=1e-6)
    assert d["glass_cut_mass"] == pytest.approx(0.75, rel=1e-6)  # uniform P, 4 equal clusters: 1 - 1/4
    block_P = (labels[:, None] == labels[None, :]) / 4.0
    assert be.diagnostics(S, block_P)["glass_cut_mass"] == pytest.approx(0.0, abs=1e-7)
    half_P = 0.5 * block_P + 0.5 / N  # half the mass stays in the block, the other half is uniform
    assert be.diagnostics(S, half_P)["glass_cut_mass"] == pytest.approx(0.375, rel=1e-6)


def test_diagnostics_hard_four_clusters(be) -> None:
    S = np.eye(K)[np.arange(N) % 4]
    d = be.diagnostics(S, np.full((N, N), 1.0 / N))
    assert d["glass_H_cm"] == pytest.approx(math.log(4), rel=1e-6)
    assert d["glass_active_clusters"] == 4
    assert d["glass_max_cluster_mass"] == pytest.approx(0.25)


def test_balance_terms(be) -> None:
    S = np.zeros((N, K))
    S[:, 0] = 1.0  # collapse onto one cluster
    c_uniform = np.full((10, N), 1.0 / N)
    assert be.balance(S, c_uniform, "hinge") == pytest.approx((1 - 2 / K) ** 2)
    assert be.balance(S, c_uniform, "l2") == pytest.approx((1 - 1 / K) ** 2 + (K - 1) / K**2)
    assert be.balance(np.full((N, K), 1.0 / K), c_uniform, "hinge") == 0.0
    c_collapsed = np.zeros((10, N))
    c_collapsed[:, 3] = 1.0
    assert be.balance(np.full((N, K), 1.0 / K), c_collapsed, "hinge") == pytest.approx((1 - 2 / N) ** 2)
    with pytest.raises(ValueError, match="balance"):
        be.balance(S, c_uniform, "l1")


def test_temporal_term(be) -> None:
    c = np.eye(N)[:5]
    S = np.eye(K)[np.arange(N) % K]
    assert be.temporal(c, c, S) == 0.0
    shifted = np.eye(N)[1:6]  # prototype n -> n+1: every sample changes cluster, ||e_a - e_b||^2 = 2
    assert be.temporal(c, shifted, S) == pytest.approx(2.0)


@pytest.mark.parametrize("shift, expected_cut", [(4, 0.0), (1, 1.0)])
def test_cut_mass_through_the_whole_pipeline(be, shift: int, expected_cut: float) -> None:
    """Prototypes e_n, z_src = e_n, z_next = e_{n+shift}, sharp T_proto: P ~ a permutation; clusters n % 4."""
    cfg = make_cfg("phase1", num_prototypes=N, num_clusters=K, t_proto=0.01)
    params = {"prototypes": np.eye(N, LATENT, dtype=np.float32),
              "assign_logits": (30.0 * np.eye(K)[np.arange(N) % 4]).astype(np.float32)}
    z_src = np.eye(N, LATENT, dtype=np.float32).reshape(2, 8, LATENT)  # same shapes as latents(): shared
    z_next = np.eye(N, LATENT, dtype=np.float32)[(np.arange(N) + shift) % N].reshape(2, 8, LATENT)
    _, metrics, _ = be.run(params, z_src, z_next, cfg.glass)
    assert metrics["glass_cut_mass"] == pytest.approx(expected_cut, abs=5e-3)
    assert metrics["glass_H_cm"] == pytest.approx(math.log(4), abs=1e-4)
    assert metrics["glass_active_clusters"] == 4 and metrics["glass_max_cluster_mass"] == pytest.approx(0.25)
    mats = be.matrices(params, z_src, z_next, cfg.glass)
    assert {k: v.shape for k, v in mats.items()} == {"S": (N, K), "P": (N, N), "A": (N, N)}
    assert all(isinstance(v, np.ndarray) for v in mats.values())
    np.testing.assert_allclose(mats["P"].sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(mats["A"], mats["A"].T)
    perm = np.eye(N)[(np.arange(N) + shift) % N]
    np.testing.assert_allclose(mats["P"], perm, atol=1e-2)


def test_latent_shape_mismatch_raises(be) -> None:
    cfg = make_cfg("phase1")
    params = be.init(cfg)
    z_src, z_next = latents(2)
    with pytest.raises(ValueError, match="shape"):
        be.run(params, z_src.astype(np.float32), z_next[:, :-1].astype(np.float32), cfg.glass)


def test_jax_glass_loss_jits() -> None:
    jax = pytest.importorskip("jax")
    from jax_impl import glass

    cfg = make_cfg("phase2")
    params = glass.init_glass_params(jax.random.PRNGKey(3), cfg)
    z_src, z_next = (jax.numpy.asarray(z, dtype=jax.numpy.float32) for z in latents(4))
    eager_loss, eager_m = glass.glass_loss(params, z_src, z_next, cfg.glass)
    jit_loss, jit_m = jax.jit(glass.glass_loss, static_argnums=3)(params, z_src, z_next, cfg.glass)
    assert float(jit_loss) == pytest.approx(float(eager_loss), rel=1e-5)
    assert all(float(jit_m[k]) == pytest.approx(float(eager_m[k]), rel=1e-5, abs=1e-7) for k in eager_m)


# ----------------------------------------------------------------------------------------------------------
# Glass inside an update: computed only when active, logged with `glass_active`
# ----------------------------------------------------------------------------------------------------------

TINY_GLASS = ["task=cartpole-balance", "glass=phase1b", "glass.num_prototypes=8", "glass.num_clusters=4",
              "batch_size=8"]


def _update_inputs(cfg: Config, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    H, B = cfg.horizon, cfg.batch_size
    return (rng.standard_normal((H + 1, B, cfg.obs_dim)).astype(np.float32),
            rng.uniform(-1, 1, (H, B, cfg.action_dim)).astype(np.float32),
            rng.standard_normal((H, B, 1)).astype(np.float32))


def _check_update_metrics(metrics: dict[str, float], active: bool, glass_keys: tuple[str, ...]) -> None:
    assert metrics["glass_active"] == float(active)
    if active:
        assert metrics["glass_loss"] > 0 and metrics["glass_H_cm"] > 0
    else:  # nothing computed: NaN-free zeros, marked by glass_active 0
        assert all(metrics[k] == 0.0 for k in glass_keys)


def test_torch_update_computes_glass_only_when_active(monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    from tdmpc_parity.core.noise import update_noise
    from tests.train_helpers import tiny_config
    from torch_ref import glass
    from torch_ref.agent import TDMPC2

    cfg = tiny_config("torch", 100, *TINY_GLASS)
    agent = TDMPC2(cfg)
    calls = []
    real = glass.glass_loss
    monkeypatch.setattr(glass, "glass_loss", lambda *a, **k: calls.append(1) or real(*a, **k))
    for i, active in enumerate([False, True, False]):
        obs, act, rew = (torch.as_tensor(x) for x in _update_inputs(cfg, i))
        m = agent.update_core(obs, act, rew, agent.draw(update_noise(cfg)), glass_active=active)
        _check_update_metrics({k: float(v) for k, v in m.items()}, active, glass.METRIC_KEYS)
        assert len(calls) == int(i >= 1)  # the Glass loss ran on the active update only


def mark_jax_glass_loss(monkeypatch) -> None:
    """Tag the JAX Glass loss with a primitive nothing else uses (optimization_barrier: an identity)."""
    import jax

    from jax_impl import glass

    real = glass.glass_loss

    def marked(params, z_src, *args, **kwargs):  # on the latents, which every Glass output depends on
        return real(params, jax.lax.optimization_barrier(z_src), *args, **kwargs)

    monkeypatch.setattr(glass, "glass_loss", marked)


def primitives_outside_and_inside_cond(closed: Any) -> tuple[set[str], set[str]]:
    """Names of the primitives of a (closed) jaxpr outside any lax.cond branch, and inside one."""
    outside: set[str] = set()
    inside: set[str] = set()

    def subs(value: Any) -> list[Any]:
        if isinstance(value, (tuple, list)):
            return [j for v in value for j in subs(v)]
        if hasattr(value, "eqns"):
            return [value]
        return [value.jaxpr] if hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns") else []

    def walk(jaxpr: Any, in_cond: bool) -> None:
        for eqn in jaxpr.eqns:
            (inside if in_cond else outside).add(eqn.primitive.name)
            for sub in subs(list(eqn.params.values())):
                walk(sub, in_cond or eqn.primitive.name == "cond")

    walk(closed.jaxpr, False)
    return outside, inside


def test_jax_update_computes_glass_only_when_active(monkeypatch) -> None:
    jax = pytest.importorskip("jax")
    from jax_impl import glass
    from jax_impl import noise as jnoise
    from jax_impl.agent import TDMPC2
    from tdmpc_parity.core.noise import update_noise
    from tests.train_helpers import tiny_config

    mark_jax_glass_loss(monkeypatch)  # before any trace: JAX caches the traced cond branches
    cfg = tiny_config("jax", 100, *TINY_GLASS)
    agent = TDMPC2(cfg)
    state = agent.init(jax.random.PRNGKey(0))
    update = jax.jit(agent.update_core)
    for i, active in enumerate([False, True, False]):
        noise = jnoise.draw(update_noise(cfg), jax.random.PRNGKey(i), cfg, agent.dtype)
        state, m = update(state, *_update_inputs(cfg, i), noise, active)
        _check_update_metrics({k: float(v) for k, v in m.items()}, active, glass.METRIC_KEYS)
    # the activity flag decides through lax.cond: an inactive update runs no Glass computation
    closed = jax.make_jaxpr(agent.update_core)(state, *_update_inputs(cfg, 0), noise, jax.numpy.asarray(True))
    outside, inside = primitives_outside_and_inside_cond(closed)
    assert "optimization_barrier" in inside and "optimization_barrier" not in outside
