"""Weight interchange: torch_ref <-> canonical <-> jax_impl round trips are exact, mismatches are named,
and an official TD-MPC2 checkpoint (through torch_ref's loader) runs in JAX with the torch outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jax_impl import weights as jweights
from jax_impl.world_model import WorldModel as JWorldModel
from parity.helpers import compare, make_config, precision, random_canonical
from tdmpc_parity.core.weights import WeightMismatch, load_weights, save_weights
from torch_ref import official_checkpoint
from torch_ref import weights as tweights
from torch_ref.world_model import WorldModel as TWorldModel


@pytest.mark.parametrize("glass", [False, True])
def test_round_trips_are_exact(tmp_path, glass):
    import jax

    cfg = make_config("float32", overrides=["glass=phase1"] if glass else [])
    head = None
    if glass:
        from torch_ref.glass import GlassHead

        head = GlassHead(cfg)
    tm = TWorldModel(cfg, glass=head)
    canon = {k: v.astype(np.float32) for k, v in random_canonical(tweights.to_canonical(tm), 7).items()}
    tweights.load_canonical(tm, canon)
    jm = JWorldModel(cfg)
    template = jm.init(jax.random.PRNGKey(0))
    if glass:
        from jax_impl.glass import init_glass_params

        template["_glass"] = init_glass_params(jax.random.PRNGKey(1), cfg)
    jp = jweights.from_canonical(jm, tweights.to_canonical(tm), template)
    back = jweights.to_canonical(jm, jp)
    assert sorted(back) == sorted(canon)
    for k in canon:
        np.testing.assert_array_equal(back[k], canon[k], err_msg=k)
    for suffix in (".npz", ".safetensors"):  # files round-trip too
        path = save_weights(tmp_path / f"w{suffix}", back)
        loaded = load_weights(path)
        assert all(np.array_equal(loaded[k], back[k]) for k in back)
    tm2 = TWorldModel(cfg, glass=type(head)(cfg) if glass else None)
    tweights.load_canonical(tm2, back)
    assert all(torch.equal(a, b) for a, b in zip(tm.state_dict().values(), tm2.state_dict().values(), strict=True))


def test_mismatches_are_named(tmp_path):
    import jax

    cfg = make_config("float32")
    tm, jm = TWorldModel(cfg), JWorldModel(cfg)
    canon = tweights.to_canonical(tm)
    template = jm.init(jax.random.PRNGKey(0))
    missing = {k: v for k, v in canon.items() if k != "_dynamics.1.ln.bias"}
    with pytest.raises(WeightMismatch, match=r"missing weight '_dynamics.1.ln.bias'"):
        jweights.from_canonical(jm, missing, template)
    wrong = {**canon, "_pi.2.weight": np.zeros((3, 3), np.float32)}
    with pytest.raises(WeightMismatch, match=r"'_pi.2.weight' has shape \(3, 3\), expected \(8, 32\)"):
        jweights.from_canonical(jm, wrong, template)
    with pytest.raises(WeightMismatch, match=r"unexpected weight '_extra'"):
        tweights.load_canonical(tm, {**canon, "_extra": np.zeros(1)})
    before = {k: v.clone() for k, v in tm.state_dict().items()}
    with pytest.raises(WeightMismatch):
        tweights.load_canonical(tm, wrong)
    assert all(torch.equal(before[k], v) for k, v in tm.state_dict().items())  # nothing half-loaded
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_weights(bad)


def test_official_checkpoint_runs_in_jax(tmp_path, dtype):
    """official format file -> torch_ref loader -> canonical -> jax_impl: same outputs as torch."""
    import jax

    cfg = make_config(dtype, "5M")
    f = np.float64 if dtype == "float64" else np.float32
    with precision(dtype):
        source = TWorldModel(cfg).to(torch.float64 if dtype == "float64" else torch.float32)
        tweights.load_canonical(source, {k: v.astype(f) for k, v in
                                         random_canonical(tweights.to_canonical(source), 8).items()})
        path = tmp_path / "official.pt"
        official_checkpoint.save_official(source, path)
        raw = torch.load(path, weights_only=True)["model"]
        assert raw["log_std_min"].dtype == raw["log_std_dif"].dtype == torch.int64  # as the official code's
        tm = TWorldModel(cfg).to(source.log_std_min.dtype)
        official_checkpoint.load_official(tm, path)
        jm = JWorldModel(cfg)
        jp = jweights.from_canonical(jm, tweights.to_canonical(tm), jm.init(jax.random.PRNGKey(0)))
        direct = {k: v.numpy() for k, v in official_checkpoint.from_official_state_dict(raw).items()}
        jp_direct = jweights.from_canonical(jm, direct, jm.init(jax.random.PRNGKey(0)))  # int64 buffers in it
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(jp), jax.tree.leaves(jp_direct), strict=True))
        obs = np.random.default_rng(0).standard_normal((4, cfg.obs_dim)).astype(f)
        a = np.random.default_rng(1).uniform(-1, 1, (4, cfg.action_dim)).astype(f)
        with torch.no_grad():
            tz = tm.encode(torch.as_tensor(obs))
            t_out = {"z": tz, "next": tm.next(tz, torch.as_tensor(a)), "q": tm.Q(tz, torch.as_tensor(a), "all"),
                     "target_q": tm.Q(tz, torch.as_tensor(a), "all", target=True)}
        jz = jm.encode(jp, obs)
        j_out = {"z": jz, "next": jm.next(jp, jz, a), "q": jm.Q(jp, jz, a, "all"),
                 "target_q": jm.Q(jp, jz, a, "all", target=True)}
        compare(t_out, j_out, "official checkpoint -> jax", dtype)
