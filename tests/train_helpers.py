"""Shared settings of the training tests: one tiny cartpole config, so JAX compiles its programs once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tdmpc_parity.core.config import Config, load_config

TINY_YAML = "tiny"  # the shipped config (tdmpc_parity/configs/tiny.yaml): --config tiny, yaml_path="tiny"
# 50-step episodes: seed phase = 2 episodes (100 agent steps), then 1 update per agent step
RUN = ["task=cartpole-balance", "episode_length=50", "seed_steps=100", "eval_freq=100", "eval_episodes=2",
       "save_every=100", "buffer_size=5000"]
VOLATILE = {"elapsed", "steps_per_second"}  # wall-clock fields: everything else must repeat exactly


def tiny_config(backend: str, steps: int, *extra: str) -> Config:
    return load_config(yaml_path=TINY_YAML, overrides=[*RUN, f"backend={backend}", f"steps={steps}", *extra])


def cli_args(backend: str, steps: int, run_dir: Path, *extra: str) -> list[str]:
    return ["train", "--backend", backend, "--config", str(TINY_YAML), "--steps", str(steps), "--run-dir",
            str(run_dir), "--no-progress", *RUN, *extra]


def rows(run_dir: Path, kind: str | None = None) -> list[dict]:
    out = []
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if kind is None or row["kind"] == kind:
            out.append({k: v for k, v in row.items() if k not in VOLATILE})
    return out


def assert_csv_matches_jsonl(run_dir: Path) -> None:
    """metrics.csv and eval.csv hold every key and value of metrics.jsonl's train and eval rows."""
    for kind, name in (("train", "metrics.csv"), ("eval", "eval.csv")):
        jsonl = [{k: v for k, v in json.loads(line).items() if k != "kind"}
                 for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines()
                 if json.loads(line)["kind"] == kind]
        with (Path(run_dir) / name).open(newline="") as fh:
            table = list(csv.DictReader(fh))
        assert len(table) == len(jsonl), name
        assert set(table[0]) == set().union(*jsonl), name
        for got, want in zip(table, jsonl, strict=True):
            assert {k for k, v in got.items() if v != ""} == set(want), (name, want["agent_step"])
            assert all(float(got[k]) == float(v) for k, v in want.items()), (name, want["agent_step"])


def tensorboard_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of RUN_DIR/tb as TensorBoard itself reads it: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(Path(run_dir) / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def assert_tensorboard_matches_jsonl(run_dir: Path) -> None:
    """RUN_DIR/tb holds each numeric value of metrics.jsonl as `<kind>/<key>` at its env step, once, float32-exact."""
    import numpy as np

    want: dict[str, list[tuple[int, float]]] = {}
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        for key, value in row.items():
            if key in ("kind", "env_step", "agent_step") or not isinstance(value, (int, float)):
                continue
            want.setdefault(f"{row['kind']}/{key}", []).append((row["env_step"], float(value)))
    got = tensorboard_scalars(run_dir)
    assert set(got) == set(want), set(got) ^ set(want)
    for tag, points in want.items():
        assert [s for s, _ in got[tag]] == [s for s, _ in points], tag
        np.testing.assert_array_equal(np.float32([v for _, v in got[tag]]), np.float32([v for _, v in points]),
                                      err_msg=tag)
