"""torch_ref.official_checkpoint: load / save checkpoints of the official TD-MPC2 code (current and 2023)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from tdmpc_parity.core.config import Config, load_config
from torch_ref.official_checkpoint import (
    from_official_state_dict,
    load_official,
    official_state_dict,
    save_official,
)
from torch_ref.world_model import WorldModel

LAYERS = ("weight", "bias", "ln.weight", "ln.bias")


def _cfg(*overrides: str) -> Config:
    return load_config(overrides=["task=hopper-hop", "model_size=1", *overrides])


def _model(cfg: Config, seed: int, glass: nn.Module | None = None) -> WorldModel:
    """A world model whose every parameter is random (init zeroes some layers; that would hide bugs)."""
    torch.manual_seed(seed)
    model = WorldModel(cfg, glass=glass)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
    return model


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _official_buffers(cfg: Config) -> dict[str, torch.Tensor]:
    """`log_std_min` / `log_std_dif` as the official code registers them: its config.yaml gives -10 and 2 as
    integers, so the buffers are int64 (torch.tensor(-10), torch.tensor(2) - torch.tensor(-10))."""
    lo, hi = int(cfg.log_std_min), int(cfg.log_std_max)
    assert (lo, hi) == (cfg.log_std_min, cfg.log_std_max)
    log_std_min = torch.tensor(lo)
    return {"log_std_min": log_std_min, "log_std_dif": torch.tensor(hi) - log_std_min}


def _current_by_hand(model: WorldModel) -> dict[str, object]:
    """A current-format official state_dict written out from the note's table, as the official code has it:
    template copies as meta tensors (`_Qs.module` one head, `_detach_Qs.module` / `_target_Qs.module`
    stacked), `_detach_Qs_params` aliases and tensordict metadata entries."""
    cfg = model.cfg
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    out: dict[str, object] = _official_buffers(cfg)
    for name in ("_encoder.state", "_dynamics", "_reward", "_pi"):
        n = 2 if name == "_encoder.state" else 3
        for i in range(n):
            last_plain = i == n - 1 and name in ("_reward", "_pi")
            for p in LAYERS[:2] if last_plain else LAYERS:
                out[f"{name}.{i}.{p}"] = sd[f"{name}.{i}.{p}"]
    q_keys = [f"{i}.{p}" for i in range(3) for p in (LAYERS[:2] if i == 2 else LAYERS)]
    for k in q_keys:
        out[f"_Qs.params.{k}"] = sd[f"_Qs.params.{k}"]
    out["_Qs.params.__batch_size"] = torch.Size([cfg.num_q])
    out["_Qs.params.__device"] = None
    for k in q_keys:
        out[f"_Qs.module.{k}"] = torch.empty(sd[f"_Qs.params.{k}"].shape[1:], device="meta")
    for k in q_keys:
        out[f"_detach_Qs_params.{k}"] = sd[f"_Qs.params.{k}"].clone()
    out["_detach_Qs_params.__batch_size"] = torch.Size([cfg.num_q])
    out["_detach_Qs_params.__device"] = torch.device("cpu")
    for k in q_keys:
        out[f"_target_Qs_params.{k}"] = sd[f"_target_Qs.params.{k}"]
    out["_target_Qs_params.__batch_size"] = torch.Size([cfg.num_q])
    out["_target_Qs_params.__device"] = None
    for k in q_keys:
        out[f"_detach_Qs.module.{k}"] = torch.empty(sd[f"_Qs.params.{k}"].shape, device="meta")
        out[f"_target_Qs.module.{k}"] = torch.empty(sd[f"_Qs.params.{k}"].shape, device="meta")
    return out


def _old_by_hand(model: WorldModel) -> dict[str, torch.Tensor]:
    """A 2023-format state_dict: ensembles as `_Qs.params.{n}`, n = 4 * layer + j; no log_std buffers."""
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    out = {k: v for k, v in sd.items() if not k.startswith(("_Qs.", "_target_Qs.", "log_std"))}
    for layer in range(3):
        for j, p in enumerate(LAYERS[:2] if layer == 2 else LAYERS):
            out[f"_Qs.params.{4 * layer + j}"] = sd[f"_Qs.params.{layer}.{p}"]
            out[f"_target_Qs.params.{4 * layer + j}"] = sd[f"_target_Qs.params.{layer}.{p}"]
    return out


@pytest.fixture(scope="module")
def cfg() -> Config:
    return _cfg()


@pytest.fixture()
def src(cfg: Config) -> WorldModel:
    model = _model(cfg, seed=1)
    with torch.no_grad():  # make the target ensemble differ from the live one
        for p in model._target_Qs.parameters():
            p.add_(1.0)
    return model


# ----------------------------------------------------------------------------------------------------------


def test_official_keys_and_shapes_match_the_note_table_5m() -> None:
    cfg = load_config(overrides=["task=hopper-hop"])
    sd = official_state_dict(WorldModel(cfg))
    A, obs = 4, 15
    expected: dict[str, tuple[int, ...]] = {"log_std_min": (), "log_std_dif": ()}

    def block(prefix: str, dims: list[int], plain_last: bool, stack: tuple[int, ...] = ()) -> None:
        for i in range(len(dims) - 1):
            out_, in_ = dims[i + 1], dims[i]
            expected[f"{prefix}{i}.weight"] = (*stack, out_, in_)
            expected[f"{prefix}{i}.bias"] = (*stack, out_)
            if not (plain_last and i == len(dims) - 2):
                expected[f"{prefix}{i}.ln.weight"] = (*stack, out_)
                expected[f"{prefix}{i}.ln.bias"] = (*stack, out_)

    block("_encoder.state.", [obs, 256, 512], plain_last=False)
    block("_dynamics.", [512 + A, 512, 512, 512], plain_last=False)
    block("_reward.", [512 + A, 512, 512, 101], plain_last=True)
    block("_pi.", [512, 512, 512, 2 * A], plain_last=True)
    q_dims = [512 + A, 512, 512, 101]
    for prefix in ("_Qs.params.", "_detach_Qs_params.", "_target_Qs_params.", "_detach_Qs.module.",
                   "_target_Qs.module."):
        block(prefix, q_dims, plain_last=True, stack=(5,))
    block("_Qs.module.", q_dims, plain_last=True)
    assert {k: tuple(v.shape) for k, v in sd.items()} == expected
    assert sd["log_std_min"].item() == -10.0 and sd["log_std_dif"].item() == 12.0
    assert sd["log_std_min"].dtype == sd["log_std_dif"].dtype == torch.int64  # as the official code writes them
    # spot checks straight from the table
    assert sd["_encoder.state.0.weight"].shape == (256, 15)
    assert sd["_dynamics.0.weight"].shape == (512, 516)
    assert sd["_reward.2.weight"].shape == (101, 512)
    assert sd["_pi.2.weight"].shape == (8, 512)
    assert sd["_Qs.params.0.weight"].shape == (5, 512, 516)
    assert sd["_Qs.params.2.weight"].shape == (5, 101, 512)
    learnable = sum(v.numel() for k, v in sd.items()
                    if k.startswith(("_encoder.", "_dynamics.", "_reward.", "_pi.", "_Qs.params.")))
    assert learnable == 4_949_094  # the note's parameter count for hopper 5M


def test_canonical_official_names_round_trip(src: WorldModel) -> None:
    off = official_state_dict(src)
    assert not any(k.startswith("_target_Qs.params.") for k in off)
    assert torch.equal(off["_target_Qs_params.1.weight"], src._target_Qs.params[1].weight)
    assert torch.equal(off["_Qs.module.0.weight"], src._Qs.params[0].weight[0])
    back = from_official_state_dict(off)
    _assert_same(dict(sorted(back.items())), dict(sorted(src.state_dict().items())))


def test_save_load_round_trip_reproduces_tensors_and_outputs(src: WorldModel, cfg: Config,
                                                             tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "model.pt"
    save_official(src, path)
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]  # no temp file left behind
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model"} and "_detach_Qs_params.0.weight" in raw["model"]
    dst = _model(cfg, seed=2)
    info = load_official(dst, path)
    assert info["format"] == "current" and info["num_tensors"] == len(dst.state_dict())
    assert info["kept"] == []
    _assert_same(_snapshot(dst), _snapshot(src))
    torch.manual_seed(0)
    obs, a = torch.randn(7, cfg.obs_dim), torch.rand(7, cfg.action_dim) * 2 - 1
    eps, keep = torch.randn(7, cfg.action_dim), (torch.rand(cfg.num_q, 7, cfg.mlp_dim) > 0.01).float()
    for m in (src, dst):
        m.eval()
    with torch.no_grad():
        outs = []
        for m in (src, dst):
            z = m.encode(obs)
            act, info_pi = m.pi(z, eps)
            outs.append([z, m.next(z, a), m.reward(z, a), act, info_pi["log_std"],
                         m.Q(z, a, "all", keep_mask=keep), m.Q(z, a, "all", target=True),
                         m.Q(z, a, "min", pair=torch.tensor([0, 1]))])
    for x, y in zip(*outs, strict=True):
        assert torch.equal(x, y)
    save_official(dst, path)  # overwriting an existing file works
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def test_hand_built_current_format_with_copies_aliases_metadata_loads(src: WorldModel, cfg: Config) -> None:
    ckpt = _current_by_hand(src)
    dst = _model(cfg, seed=3)
    info = load_official(dst, {"model": ckpt})
    assert info["format"] == "current"
    n_q = len([k for k in ckpt if k.startswith("_Qs.params.") and "__" not in k])
    assert info["num_ignored"] == 4 * n_q + 6  # 3 template copies + aliases, 6 metadata entries
    _assert_same(_snapshot(dst), _snapshot(src))


def test_official_int64_buffers_load_into_the_model_dtype(src: WorldModel, cfg: Config) -> None:
    ckpt = _current_by_hand(src)
    assert ckpt["log_std_min"].dtype == ckpt["log_std_dif"].dtype == torch.int64
    for dtype in (torch.float32, torch.float64):
        dst = _model(cfg, seed=3).to(dtype)
        expected = {k: v.to(dtype) for k, v in _snapshot(src).items()}
        load_official(dst, {"model": {k: (v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point()
                                          and v.device.type != "meta" else v) for k, v in ckpt.items()}})
        assert dst.log_std_min.dtype == dst.log_std_dif.dtype == dtype
        _assert_same(_snapshot(dst), expected)
    wrong = {**ckpt, "log_std_dif": torch.tensor(5)}  # an integer buffer must still hold the config's value
    with pytest.raises(ValueError, match=r"log_std_dif is 5 in the checkpoint but 12 in the model"):
        load_official(_model(cfg, seed=3), wrong)


@pytest.mark.parametrize(("key", "dtype"), [("_dynamics.0.weight", torch.float16),
                                            ("_pi.2.weight", torch.int64),
                                            ("_target_Qs_params.1.bias", torch.bfloat16),
                                            ("log_std_min", torch.float16)])
def test_other_dtype_mismatches_fail_naming_the_key(src: WorldModel, cfg: Config, key: str,
                                                    dtype: torch.dtype) -> None:
    ckpt = official_state_dict(src)
    ckpt[key] = ckpt[key].to(dtype)
    dst = _model(cfg, seed=3)
    before = _snapshot(dst)
    with pytest.raises(ValueError, match=re.escape(f"{key!r} has dtype {dtype} but the model wants torch.float32")):
        load_official(dst, ckpt)
    _assert_same(_snapshot(dst), before)


def test_metadata_layout_round_trip(src: WorldModel, cfg: Config, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_official(src, path, layout="metadata")
    raw = torch.load(path, weights_only=True)["model"]
    assert raw["_target_Qs_params.__batch_size"] == torch.Size([cfg.num_q])
    assert not any(".module." in k for k in raw)
    dst = _model(cfg, seed=4)
    load_official(dst, path)
    _assert_same(_snapshot(dst), _snapshot(src))


def test_2023_format_loads_and_equals_current_load(src: WorldModel, cfg: Config) -> None:
    old, new = _model(cfg, seed=5), _model(cfg, seed=6)
    info = load_official(old, {"model": _old_by_hand(src)})
    assert info["format"] == "2023" and info["kept"] == ["log_std_min", "log_std_dif"]
    load_official(new, _current_by_hand(src))
    _assert_same(_snapshot(old), _snapshot(new))
    _assert_same(_snapshot(old), _snapshot(src))


def test_bare_state_dict_loads_from_dict_and_file(src: WorldModel, cfg: Config, tmp_path: Path) -> None:
    dst = _model(cfg, seed=7)
    load_official(dst, official_state_dict(src))
    _assert_same(_snapshot(dst), _snapshot(src))
    path = tmp_path / "bare.pt"
    torch.save(official_state_dict(src), path)
    dst = _model(cfg, seed=8)
    load_official(dst, str(path))
    _assert_same(_snapshot(dst), _snapshot(src))


@pytest.mark.parametrize(("key", "value", "words"), [
    ("_task_emb.weight", torch.zeros(80, 96), "multitask checkpoint"),
    ("_action_masks", torch.ones(80, 6), "multitask checkpoint"),
    ("_encoder.rgb.2.weight", torch.zeros(32, 9, 7, 7), "pixel (rgb) checkpoint"),
])
def test_multitask_and_pixel_checkpoints_fail_clearly(src: WorldModel, cfg: Config, key: str,
                                                      value: torch.Tensor, words: str) -> None:
    ckpt = official_state_dict(src)
    ckpt[key] = value
    dst = _model(cfg, seed=9)
    before = _snapshot(dst)
    with pytest.raises(ValueError, match=re.escape(f"{words} (it has key '{key}')")):
        load_official(dst, {"model": ckpt})
    _assert_same(_snapshot(dst), before)


def test_another_task_fails_naming_key_and_shapes(cfg: Config) -> None:
    walker = _model(_cfg("task=walker-run"), seed=10)
    dst = _model(cfg, seed=11)
    before = _snapshot(dst)
    msg = ("_encoder.state.0.weight has shape (256, 24) in the checkpoint but (256, 15) in the model: "
           "the checkpoint is for another task or model size")
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_official(dst, official_state_dict(walker))
    _assert_same(_snapshot(dst), before)


def test_another_model_size_fails_naming_key_and_shapes(cfg: Config) -> None:
    big = WorldModel(load_config(overrides=["task=hopper-hop", "model_size=5"]))
    dst = _model(cfg, seed=12)
    before = _snapshot(dst)
    msg = ("_encoder.state.1.weight has shape (512, 256) in the checkpoint but (128, 256) in the model: "
           "the checkpoint is for another task or model size")
    with pytest.raises(ValueError, match="^" + re.escape(msg)):
        load_official(dst, official_state_dict(big))
    _assert_same(_snapshot(dst), before)


def test_truncated_file_fails_naming_it_and_leaves_model_unchanged(src: WorldModel, cfg: Config,
                                                                   tmp_path: Path) -> None:
    path = tmp_path / "trunc.pt"
    save_official(src, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    dst = _model(cfg, seed=13)
    before = _snapshot(dst)
    with pytest.raises(ValueError, match=rf"checkpoint file '{path}' cannot be read"):
        load_official(dst, path)
    _assert_same(_snapshot(dst), before)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="trunc.pt"):
        load_official(dst, path)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_official(dst, tmp_path / "missing.pt")


def test_unknown_extra_key_fails_naming_it(src: WorldModel, cfg: Config) -> None:
    dst = _model(cfg, seed=14)
    before = _snapshot(dst)
    ckpt = official_state_dict(src)
    ckpt["_extra.weight"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"unknown key '_extra\.weight'"):
        load_official(dst, ckpt)
    old = _old_by_hand(src)
    old["_Qs.params.10"] = torch.zeros(cfg.num_q, 101)  # would be layer 2's ln.weight, which does not exist
    msg = "unknown key '_Qs.params.10' (read as '_Qs.params.2.ln.weight')"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_official(dst, old)
    ours = src.state_dict()  # torch_ref's own names are not the official format
    msg = "unknown key '_target_Qs.params.0.weight': this is torch_ref"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_official(dst, ours)
    _assert_same(_snapshot(dst), before)


def test_missing_key_and_inconsistent_alias_fail(src: WorldModel, cfg: Config) -> None:
    dst = _model(cfg, seed=15)
    before = _snapshot(dst)
    ckpt = official_state_dict(src)
    del ckpt["_target_Qs_params.2.bias"]
    with pytest.raises(ValueError, match=r"missing key '_target_Qs_params\.2\.bias'"):
        load_official(dst, ckpt)
    ckpt = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in official_state_dict(src).items()}
    ckpt["_detach_Qs_params.1.bias"] += 1
    msg = "alias '_detach_Qs_params.1.bias' differs from '_Qs.params.1.b"
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_official(dst, ckpt)
    ckpt = official_state_dict(src)
    ckpt["log_std_dif"] = torch.tensor(5.0)
    with pytest.raises(ValueError, match=r"log_std_dif is 5 in the checkpoint but 12 in the model"):
        load_official(dst, ckpt)
    _assert_same(_snapshot(dst), before)


class _TinyGlass(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.prototypes = nn.Parameter(torch.randn(4, 8))
        self.assign_logits = nn.Parameter(torch.randn(4, 2))


def test_glass_head_needs_include_glass(cfg: Config, tmp_path: Path) -> None:
    src = _model(cfg, seed=16, glass=_TinyGlass())
    path = tmp_path / "glass.pt"
    with pytest.raises(ValueError, match=r"Glass head \('_glass\.prototypes'.*include_glass=True"):
        save_official(src, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []
    save_official(src, path, include_glass=True)
    dst = _model(cfg, seed=17, glass=_TinyGlass())
    load_official(dst, path)
    _assert_same(_snapshot(dst), _snapshot(src))
    plain = _model(cfg, seed=18)  # an official checkpoint has no Glass head
    with pytest.raises(ValueError, match=r"unknown key '_glass\.prototypes' \(a Glass head"):
        load_official(plain, path)
    glass_before = dst._glass.prototypes.detach().clone()
    with pytest.raises(ValueError, match=r"missing key '_glass\.prototypes'.*allow_missing_glass=True"):
        load_official(dst, official_state_dict(plain))
    info = load_official(dst, official_state_dict(plain), allow_missing_glass=True)
    assert info["kept"] == ["_glass.prototypes", "_glass.assign_logits"]
    assert torch.equal(dst._glass.prototypes, glass_before)
    assert torch.equal(dst._pi[0].weight, plain._pi[0].weight)
