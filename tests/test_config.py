"""The one config: official defaults, presets, derived values, loading order and clear errors."""

from __future__ import annotations

import json

import pytest

from tdmpc_parity.core.config import MODEL_SIZE, config_from_dict, discount_heuristic, load_config


def test_official_defaults_and_derived_values():
    cfg = load_config()
    assert (cfg.batch_size, cfg.horizon, cfg.num_samples, cfg.num_elites, cfg.num_pi_trajs) == (256, 3, 512, 64, 24)
    assert (cfg.consistency_coef, cfg.reward_coef, cfg.value_coef, cfg.rho) == (20, 0.1, 0.1, 0.5)
    assert (cfg.lr, cfg.enc_lr_scale, cfg.grad_clip_norm, cfg.tau, cfg.temperature) == (3e-4, 0.3, 20, 0.01, 0.5)
    assert (cfg.min_std, cfg.max_std, cfg.num_bins, cfg.vmin, cfg.vmax) == (0.05, 2, 101, -10, 10)
    assert cfg.bin_size == pytest.approx(0.2)
    assert cfg.episode_length == 500 and cfg.discount == pytest.approx(0.99)
    assert cfg.seed_steps == 2500 and cfg.pretrain_updates == 2500 and cfg.seed_iterations == 2500
    assert cfg.plan_iterations == 6 and cfg.updates_per_iteration == 1
    assert (cfg.obs_dim, cfg.action_dim) == (15, 4)


def test_checkpoints_are_written_every_50k_agent_steps_by_default():
    """So that a crash loses a bounded amount of work (0 = only at the end, which a crash never reaches)."""
    assert load_config().save_every == load_config("fast").save_every == 50_000
    assert load_config(overrides=["save_every=0"]).save_every == 0


def test_discount_heuristic_and_seed_steps():
    assert discount_heuristic(500) == pytest.approx(0.99)
    assert discount_heuristic(100) == pytest.approx(0.95)
    assert discount_heuristic(1000) == pytest.approx(0.995)
    assert load_config(overrides=["episode_length=100"]).seed_steps == 1000  # max(1000, 5 L)


def test_plus_two_iterations_for_large_action_spaces(monkeypatch):
    from tdmpc_parity.core import tasks

    big = tasks.TaskSpec("dog-run", "dog", "run", None, 223, 38)
    monkeypatch.setitem(tasks.TASKS, "dog-run", big)
    assert load_config(overrides=["task=dog-run"]).plan_iterations == 8


def test_profiles():
    fast = load_config("fast")
    assert (fast.n_envs, fast.updates_per_iteration, fast.collector, fast.action_repeat) == (256, 64, "policy", 2)
    assert fast.updates_per_step == 0.25
    off = load_config("official")
    assert (off.n_envs, off.updates_per_iteration, off.collector) == (1, 1, "mppi")


@pytest.mark.parametrize("size", sorted(MODEL_SIZE))
def test_model_size_presets(size):
    cfg = load_config(overrides=[f"model_size={size}"])
    for key, value in MODEL_SIZE[size].items():
        assert getattr(cfg, key) == value


def test_loading_order_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model_size: 1\nlatent_dim: 64\nlr: 0.001\nglass:\n  lambda_se: 0.02\n")
    cfg = load_config("official", path, ["lr=0.002", "glass=phase1b"])
    assert cfg.latent_dim == 64  # explicit keys beat the preset
    assert cfg.mlp_dim == 384  # the preset fills the rest
    assert cfg.lr == 0.002  # overrides beat the YAML
    assert cfg.glass.enabled and cfg.glass.t_proto == 0.7 and cfg.glass.lambda_se == 0.02


@pytest.mark.parametrize("override, message", [
    (["foo=1"], "unknown config key 'foo'"),
    (["glass.nope=1"], "unknown config key 'glass.nope'"),
    (["lr=fast"], "config field 'lr': cannot read 'fast' as float"),
    (["horizon=2.5"], "config field 'horizon': cannot read '2.5' as int"),
    (["mpc=maybe"], "config field 'mpc': cannot read 'maybe' as bool"),
    (["num_elites=600"], "config field 'num_elites': num_elites=600 > num_samples=512"),
    (["horizon=0"], "config field 'horizon': must be >= 1"),
    (["num_q=1"], "config field 'num_q'"),
    (["latent_dim=100"], "config field 'latent_dim': latent_dim=100 is not a multiple of simnorm_dim=8"),
    (["collector=greedy"], "config field 'collector'"),
    (["task=hopper-fly"], "unknown task 'hopper-fly'"),
    (["discount=0.9"], "config field 'discount' is derived"),
    (["n_envs=3", "updates_per_step=0.25"], "config field 'updates_per_step'"),
    (["episodic=true"], "config field 'episodic'"),
    (["model_size=7"], "config field 'model_size'"),
    (["glass=phase9"], "config field 'glass.preset'"),
    (["lr"], "not of the form key=value"),
])
def test_bad_values_name_the_field(override, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(overrides=override)


def test_yaml_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_config(yaml_path=tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: [1, 2]\n")
    with pytest.raises(ValueError, match="config field 'lr': expected float"):
        load_config(yaml_path=bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_config(yaml_path=bad)


def test_round_trip_through_json():
    cfg = load_config("fast", overrides=["glass=phase2", "model_size=1"])
    assert config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_a_runs_config_json_is_a_config_file(tmp_path, monkeypatch, capsys):
    """A run folder's config.json (`_meta`, derived fields and all) passed back with --config gives the run's
    config: `_meta` is ignored and derived fields are recomputed (so an edited copy stays consistent)."""
    from types import SimpleNamespace

    import tdmpc_parity.app.cli as cli_mod
    from tdmpc_parity.core.runlog import RunLog

    overrides = ["backend=jax", "seed=3", "glass=phase1b", "model_size=1", "task=cartpole-balance", "lr=0.001"]
    cfg = load_config("fast", overrides=overrides)
    RunLog(tmp_path / "run", cfg)
    path = tmp_path / "run" / "config.json"
    assert "_meta" in json.loads(path.read_text()) and "obs_dim" in json.loads(path.read_text())
    assert load_config(yaml_path=path) == cfg
    data = json.loads(path.read_text())
    data["n_envs"] = 4  # its derived updates_per_iteration (64) is now stale: recomputed, not an error
    (tmp_path / "edited.json").write_text(json.dumps(data))
    edited = load_config(yaml_path=tmp_path / "edited.json")
    assert edited == load_config("fast", overrides=[*overrides, "n_envs=4"]) and edited.updates_per_iteration == 1
    # the CLI: --config alone reproduces the run (its backend and seed included)
    capsys.readouterr()
    assert cli_mod.main(["info", "--config", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["config"] == cfg.to_dict()
    seen = {}
    stub = SimpleNamespace(train=lambda c, run_dir, **kw: seen.update(cfg=c) or 0)
    monkeypatch.setattr(cli_mod, "backend_module", lambda backend, name: stub)
    assert cli_mod.main(["train", "--config", str(path), "--run-dir", str(tmp_path / "again")]) == 0
    assert seen["cfg"] == cfg
    assert cli_mod.main(["train", "--config", str(path), "--run-dir", str(tmp_path / "b"), "--seed", "5"]) == 0
    assert seen["cfg"].seed == 5


# ----------------------------------------------------------------------------------------------------------
# Unknown keys: the closest keys, and what replaces the official code's keys
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("override, expected", [
    ("horizn=5", "did you mean 'horizon'?"),
    ("lambda_se=0.1", "did you mean 'glass.lambda_se'"),  # a Glass key without its glass. prefix
    ("glass.lamda_se=0.1", "did you mean 'glass.lambda_se'"),
    ("glass.num_cluster=4", "did you mean 'glass.num_clusters'"),
    ("enable_wandb=true", "`logger=wandb`"),
    ("save_video=true", "`video_every=N`"),
    ("checkpoint=model.pt", "`tdmpc-parity eval SOURCE`"),
    ("exp_name=test", "`tdmpc-parity train --run-dir DIR`"),
])
def test_unknown_keys_say_what_was_meant(override, expected):
    with pytest.raises(ValueError) as exc:
        load_config(overrides=[override])
    msg = str(exc.value)
    key = override.split("=")[0]
    assert msg.startswith(f"unknown config key {key!r}") and expected in msg, msg
    assert msg.count(".") + msg.count("?") >= 1 and "\n" not in msg  # one sentence, one line


def test_unknown_key_without_a_close_one_names_the_listing(tmp_path):
    with pytest.raises(ValueError, match=r"^unknown config key 'zzzz' \(`tdmpc-parity keys` lists every key\)$"):
        load_config(overrides=["zzzz=1"])
    path = tmp_path / "c.yaml"
    path.write_text("batchsize: 64\n")  # a config file's key gets the same help
    with pytest.raises(ValueError, match="did you mean 'batch_size'"):
        load_config(yaml_path=path)
    data = load_config().to_dict()
    data["horizn"] = data.pop("horizon")
    with pytest.raises(ValueError, match="did you mean 'horizon'"):  # a run's config.json
        config_from_dict(data)


# ----------------------------------------------------------------------------------------------------------
# The key reference (tdmpc_parity/core/config_keys.py, docs/reference/config-keys.md)
# ----------------------------------------------------------------------------------------------------------


def test_every_key_has_type_default_and_a_doc_line():
    from dataclasses import fields

    from tdmpc_parity.core.config import DERIVED_FIELDS, Config, GlassConfig
    from tdmpc_parity.core.config_keys import DERIVED_NOTE, FALLBACK_DOCS, all_keys

    keys = {k.name: k for k in all_keys()}
    expected = [f.name for f in fields(Config) if f.name != "glass"] + [f"glass.{f.name}" for f in fields(GlassConfig)]
    assert sorted(keys) == sorted(expected) and len(keys) == len(all_keys())
    for k in keys.values():
        assert k.doc.strip() and "\n" not in k.doc, (
            f"{k.name} has no one-line doc: add a comment in tdmpc_parity/core/config.py")
        assert k.derived == (k.name in DERIVED_FIELDS)
        assert k.doc.startswith(DERIVED_NOTE) == k.derived and (k.default == "derived") == k.derived
    names = {n.removeprefix("glass.") for n in keys}
    assert not set(FALLBACK_DOCS) - names, "FALLBACK_DOCS names a key that no longer exists"
    cfg, glass = Config(), GlassConfig()
    assert keys["steps"].default == str(cfg.steps) == "10000000" and keys["steps"].type == "int"
    assert (keys["model_size"].default, keys["model_size"].type) == ("none", "int | None")
    assert (keys["mpc"].default, keys["glass.log_eps"].default) == ("true", str(glass.log_eps))
    assert keys["glass.num_clusters"].default == str(glass.num_clusters)


def test_docs_come_from_the_comments_beside_the_fields():
    from tdmpc_parity.core.config_keys import all_keys

    keys = {k.name: k.doc for k in all_keys()}
    assert keys["save_every"] == "agent steps between checkpoints (at the next episode end); 0 = only at the end"
    assert keys["matmul_precision"].startswith("the agent's matmuls, set per computation")  # the lines above
    assert "REDQ-style" in keys["q_reset_every_env_steps"] and "Adam state" in keys["q_reset_every_env_steps"]
    # the block above and the comment at the end of the line, both
    noise_end = keys["policy_noise_end"]
    assert "goes linearly from" in noise_end and "a constant policy_noise_std" in noise_end
    assert keys["glass.diag_every"] == "agent steps between diagnostic dumps"
    assert not any(doc.startswith("---") for doc in keys.values())  # section headers are no doc


def test_key_patterns_substring_and_glob():
    from tdmpc_parity.core.config_keys import all_keys, match_keys

    keys = all_keys()
    assert [k.name for k in match_keys(keys, "HORIZON")] == ["horizon"]
    glass = [k.name for k in match_keys(keys, "glass.*")]
    assert len(glass) == 20 and all(n.startswith("glass.") for n in glass)
    assert {k.name for k in match_keys(keys, "*_std")} == {"min_std", "max_std", "policy_noise_std"}
    assert {k.name for k in match_keys(keys, "lambda")} == {"glass.lambda_se", "glass.lambda_bal", "glass.lambda_tmp"}
    assert match_keys(keys, "no_such") == [] and match_keys(keys, None) == keys


def test_the_committed_key_reference_is_up_to_date():
    from pathlib import Path

    from tdmpc_parity.core.config_keys import REFERENCE_PAGE, all_keys, render_markdown

    page = Path(__file__).resolve().parents[1] / REFERENCE_PAGE
    assert page.read_text() == render_markdown(all_keys()), (
        f"{REFERENCE_PAGE} is stale: python -m tdmpc_parity.core.config_keys --markdown {REFERENCE_PAGE}")
    rows = [line for line in page.read_text().splitlines() if line.startswith("| `")]
    assert len(rows) == len(all_keys())
