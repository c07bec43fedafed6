"""tdmpc_parity.analysis.compare and tdmpc_parity.analysis.official_results on synthetic run folders (config.json
written by RunLog,
eval.csv by hand) with known returns: grouping, statistics, the backend tests, the figure, the official data,
the CLI and its bad-input errors."""

from __future__ import annotations

import csv
import fnmatch
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from scipy import stats

from tdmpc_parity.analysis.compare import compare, read_eval_csv
from tdmpc_parity.analysis.official_results import (
    available_tasks,
    data_dir,
    load_official,
    official_curve,
    read_results_csv,
)
from tdmpc_parity.analysis.runs import config_hash
from tdmpc_parity.app.cli import main as cli
from tdmpc_parity.core.config import load_config
from tdmpc_parity.core.runlog import RunLog
from tdmpc_parity.core.stats import iqm_stratified_ci, probability_of_improvement, welch_tost
from tdmpc_parity.core.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
STEPS = (0, 1000, 2000, 3000)
SEEDS = (1, 2, 3, 4, 5)


def torch_returns(seed: int) -> list[float]:
    return [10.0 + seed, 100.0 + 5 * seed, 200.0 + 3 * seed, 300.0 + 7 * seed]


def jax_returns(seed: int, shift: float = 0.0) -> list[float]:
    return [12.0 + seed, 110.0 + 4 * seed, 190.0 + 6 * seed, 320.0 + 2 * seed + 15 * (seed % 2) + shift]


def write_eval(run_dir: Path, returns: list[float], steps=STEPS, header=("agent_step", "env_step", "elapsed",
                                                                         "episode_reward")) -> None:
    with (run_dir / "eval.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for step, ret in zip(steps, returns, strict=True):
            row = {"agent_step": step // 2, "env_step": step, "elapsed": 0.5, "episode_reward": ret}
            writer.writerow([row.get(h, "") for h in header])


def make_run(run_dir: Path, backend: str, seed: int, returns: list[float], *overrides: str,
             task: str = "cartpole-balance", steps=STEPS) -> Path:
    """A run folder: config.json as the trainers write it (RunLog), eval.csv by hand."""
    cfg = load_config(overrides=[f"task={task}", f"backend={backend}", f"seed={seed}", *overrides])
    RunLog(run_dir, cfg)
    write_eval(run_dir, returns, steps)
    return run_dir


def make_seeds_run(run_dir: Path, returns_of, *overrides: str, seeds=SEEDS, task: str = "cartpole-balance") -> Path:
    """A JAX --seeds folder: RUN/seed_<s>/, one run folder per seed."""
    for s in seeds:
        make_run(run_dir / f"seed_{s}", "jax", s, returns_of(s), *overrides, task=task)
    return run_dir


@pytest.fixture
def two_backends(tmp_path: Path) -> list[Path]:
    """5 torch seeds as separate folders, 5 jax seeds in one --seeds folder, same config."""
    torch_dirs = [make_run(tmp_path / f"torch_s{s}", "torch", s, torch_returns(s)) for s in SEEDS]
    return [*torch_dirs, make_seeds_run(tmp_path / "jax_seeds", jax_returns)]


def _is_real_png(path: Path) -> bool:
    if not path.exists() or path.stat().st_size < 5000 or path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    img = imread(path)
    return img.shape[0] > 300 and img.shape[1] > 500 and float(img[..., :3].std()) > 0.01


# ----------------------------------------------------------------------------------------------------------
# Official results
# ----------------------------------------------------------------------------------------------------------


def test_every_task_has_its_official_results() -> None:
    official = sorted(name for name, spec in TASKS.items() if spec.official)
    assert available_tasks() == official
    for task in official:
        runs = load_official(task)
        assert sorted(runs) == [1, 2, 3], task
        for steps, rewards in runs.values():
            # every 100k env steps to 4M (humanoid, dog: 14M); one seed of a few tasks stops an eval earlier
            last = 14_000_000 if task.split("-")[0] in ("humanoid", "dog") else 4_000_000
            assert steps.tolist() == list(range(0, int(steps[-1]) + 1, 100_000)), task
            assert last - 100_000 <= steps[-1] <= last, task
            assert rewards.shape == steps.shape and np.all((rewards >= 0) & (rewards <= 1000)), task
    folder = data_dir()
    assert folder.parent.parent == REPO / "tdmpc_parity"
    assert (folder / "LICENSE.official").read_text().startswith("MIT License")
    assert "e9f5932" in (folder / "README.md").read_text()


def test_official_curve_is_the_mean_over_seeds_with_its_ci() -> None:
    runs = load_official("cartpole-balance")
    curve = official_curve("cartpole-balance")
    by_seed = np.stack([r for _, r in runs.values()])
    np.testing.assert_array_equal(curve.steps, runs[1][0])
    np.testing.assert_allclose(curve.mean, by_seed.mean(axis=0))
    assert np.all(curve.n == 3)
    assert np.all((curve.low <= curve.mean + 1e-9) & (curve.mean <= curve.high + 1e-9))
    assert curve.mean[-1] > 900  # cartpole-balance is solved


def test_a_task_without_results_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"'pointmass-easy'.*hopper-hop"):
        load_official("pointmass-easy")  # a task of the table that the official results do not cover
    with pytest.raises(ValueError, match=r"'walker-walk'.*none"):
        load_official("walker-walk", tmp_path)


@pytest.mark.parametrize(("text", "match"), [
    ("step,reward,seed\n0,1.0,1\n100000,abc,1\n", r"line 3, column 'reward': 'abc' is not a number"),
    ("step,reward,seed\n0,1.0,1\n100000,2.0\n", r"line 3, column 'seed': the cell is empty"),
    ("step,reward,seed\n0.5,1.0,1\n", r"line 2, column 'step': '0.5' is not an integer"),
    ("step,reward,seed\n0,1.0,1\n0,2.0,1\n", r"line 3, column 'step': seed 1 has step 0 twice"),
    ("step,reward,seed\n0,inf,1\n", r"line 2, column 'reward': 'inf' is not finite"),
    ("step,return,seed\n0,1.0,1\n", r"line 1: missing column\(s\) \['reward'\]"),
    ("", r"is empty"),
    ("step,reward,seed\n", r"no rows"),
])
def test_a_malformed_official_file_names_file_line_and_column(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "hopper-hop.csv").write_text(text)
    with pytest.raises(ValueError, match=match) as err:
        load_official("hopper-hop", tmp_path)
    assert "hopper-hop.csv" in str(err.value)


def test_a_well_formed_file_is_read_per_seed_and_sorted(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("seed,step,reward\n2,100000,5\n2,0,1\n1,0,3.5\n")
    got = read_results_csv(path)
    assert sorted(got) == [1, 2]
    assert got[2][0].tolist() == [0, 100000] and got[2][1].tolist() == [1.0, 5.0]


def test_the_data_files_ship_with_the_package() -> None:
    """pyproject's package-data globs cover every file of tdmpc_parity/data (a wheel built from it holds them)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["tdmpc_parity"]
    package = REPO / "tdmpc_parity"
    files = [p.relative_to(package).as_posix() for p in (package / "data").rglob("*") if p.is_file()]
    results = [f for f in files if f.startswith("data/official_tdmpc2/")]
    models = [f for f in files if f.startswith("data/official_tasks/")]
    dm_models = [f for f in files if f.startswith("data/dm_control_tasks/")]
    assert len(results) == sum(spec.official for spec in TASKS.values()) + 2  # + README.md, LICENSE.official
    # dm_control's task models: quadruped and the 13 domains of physics=dm_control, + README.md, LICENSE.dm_control
    assert len(models) == 6 + 2 and len(dm_models) == 14 + 2
    assert len(files) == len(results) + len(models) + len(dm_models)
    for name in files:
        assert any(fnmatch.fnmatch(name, pat.replace("**/", "*/")) for pat in patterns), name


# ----------------------------------------------------------------------------------------------------------
# compare
# ----------------------------------------------------------------------------------------------------------


def test_groups_statistics_and_table(two_backends: list[Path], tmp_path: Path) -> None:
    result = compare(two_backends, tmp_path / "out")
    torch_g, jax_g = result.groups
    assert (torch_g.backend, jax_g.backend) == ("torch", "jax")
    assert torch_g.key == jax_g.key and torch_g.seeds == jax_g.seeds == list(SEEDS)  # --seeds folder = 5 seeds
    for group, returns_of in ((torch_g, torch_returns), (jax_g, jax_returns)):
        c = group.curve()
        known = np.array([returns_of(s) for s in SEEDS])
        assert c.steps.tolist() == list(STEPS) and c.n.tolist() == [5] * 4
        np.testing.assert_allclose(c.mean, known.mean(axis=0))
        np.testing.assert_allclose(c.iqm, stats.trim_mean(known, 0.25, axis=0))
        assert np.all(c.low <= c.mean) and np.all(c.mean <= c.high) and np.all(c.low < c.high)

    md = (tmp_path / "out" / "learning.md").read_text()
    assert "## cartpole-balance" in md and "![learning curves of cartpole-balance](learning_cartpole-balance.png)" in md
    mean0 = np.mean([torch_returns(s)[3] for s in SEEDS])
    row = next(line for line in md.splitlines() if line.startswith(f"| torch [{torch_g.key}] | 3,000 |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[2] == "5" and cells[3] == f"{mean0:,.1f}"
    lo, hi = (float(v.replace(",", "")) for v in re.findall(r"[\d,.]+", cells[4]))
    assert lo <= mean0 <= hi
    assert sum(line.startswith("| jax [") for line in md.splitlines()) == len(STEPS)


def test_backend_test_matches_scipy(two_backends: list[Path], tmp_path: Path) -> None:
    result = compare(two_backends, tmp_path / "out")
    (test,) = result.tests
    x = np.array([torch_returns(s)[-1] for s in SEEDS])
    y = np.array([jax_returns(s)[-1] for s in SEEDS])
    welch = stats.ttest_ind(x, y, equal_var=False)
    mwu = stats.mannwhitneyu(x, y, alternative="two-sided")
    assert test.step == STEPS[-1]
    np.testing.assert_allclose([test.welch_p, test.mwu_p], [welch.pvalue, mwu.pvalue], rtol=1e-12)
    assert welch.pvalue > 0.05 and mwu.pvalue > 0.05
    md = (tmp_path / "out" / "learning.md").read_text()
    assert f"p = {welch.pvalue:.4g} → not distinguishable at alpha=0.05" in md
    assert f"p = {mwu.pvalue:.4g} → not distinguishable at alpha=0.05" in md
    assert "torch 5 seeds" in md and "jax 5 seeds" in md
    assert "the backends are **not distinguishable at alpha=0.05 (torch 5 seeds, jax 5 seeds)**" in md


def test_a_real_difference_is_distinguishable(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"t{s}", "torch", s, torch_returns(s)) for s in SEEDS]
    runs.append(make_seeds_run(tmp_path / "j", lambda s: jax_returns(s, shift=300.0)))
    (test,) = compare(runs, tmp_path / "out").tests
    assert test.welch_p < 0.05 and test.mwu_p < 0.05
    assert "the backends are **distinguishable at alpha=0.05" in (tmp_path / "out" / "learning.md").read_text()


# ----------------------------------------------------------------------------------------------------------
# Equivalence (TOST), IQM and probability of improvement
# ----------------------------------------------------------------------------------------------------------


def test_tost_on_final_return_and_auc_with_a_relative_margin(two_backends: list[Path], tmp_path: Path) -> None:
    (test,) = compare(two_backends, tmp_path / "out", margin="5%").tests
    x = np.array([torch_returns(s)[-1] for s in SEEDS])
    y = np.array([jax_returns(s)[-1] for s in SEEDS])
    eq = test.equivalence
    assert eq is not None and eq.margin == pytest.approx(50.0)  # 5 % of [0, 500 x 2]: the official episodes
    assert "5 % of the return range [0, 1000]" in eq.margin_note
    ref = welch_tost(x, y, 50.0)
    assert (eq.final.p_lower, eq.final.p_upper, eq.final.ci_low) == (
        pytest.approx(ref.p_lower), pytest.approx(ref.p_upper), pytest.approx(ref.ci_low))
    # AUC by hand: the trapezoid over env steps 0..3000 of each seed, divided by 3000
    t_auc = [np.trapezoid(torch_returns(s), STEPS) / 3000 for s in SEEDS]
    j_auc = [np.trapezoid(jax_returns(s), STEPS) / 3000 for s in SEEDS]
    np.testing.assert_allclose(eq.torch_auc, t_auc)
    np.testing.assert_allclose(eq.jax_auc, j_auc)
    assert eq.auc is not None and eq.auc.diff == pytest.approx(np.mean(t_auc) - np.mean(j_auc))
    assert eq.auc_steps == (0, 3000, 4)
    # verdicts follow the 90 % CIs: final diff CI vs +-50, and the AUC's
    for t in (eq.final, eq.auc):
        inside = -50 < t.ci_low and t.ci_high < 50
        assert t.equivalent == inside
    md = (tmp_path / "out" / "learning.md").read_text()
    assert f"**{eq.final.verdict(2)}**" in md and f"**{eq.auc.verdict(2)}**" in md
    assert "90 % CI [" in md and "H0: diff <= -50" in md and "declared before the data" in md
    js = json.loads((tmp_path / "out" / "learning.json").read_text())
    (row,) = js["tests"]
    assert js["margin"] == "5%" and row["equivalence"]["final_return"]["equivalent"] == eq.final.equivalent
    assert row["equivalence"]["final_return"]["p_upper"] == pytest.approx(ref.p_upper)
    assert row["torch_returns"] == x.tolist()


def test_an_absolute_margin_decides_equivalence_both_ways(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"t{s}", "torch", s, torch_returns(s)) for s in SEEDS]
    runs.append(make_seeds_run(tmp_path / "j", lambda s: [r + 0.1 * s for r in torch_returns(s)]))
    wide = compare(runs, tmp_path / "a", margin=40).tests[0].equivalence
    narrow = compare(runs, tmp_path / "b", margin="0.05").tests[0].equivalence
    assert wide is not None and narrow is not None
    # jax = torch + 0.1 seed: the difference of the means is -0.3; the seeds' spread gives a 90 % CI of about +-13
    assert wide.margin == 40.0 and wide.final.equivalent and wide.auc is not None and wide.auc.equivalent
    assert wide.final.diff == pytest.approx(-0.3) and "(absolute)" in wide.margin_note
    assert "**equivalent within ±40.00**" in (tmp_path / "a" / "learning.md").read_text()
    assert not narrow.final.equivalent and not narrow.auc.equivalent
    assert "not shown equivalent within ±0.05" in (tmp_path / "b" / "learning.md").read_text()


def test_iqm_and_probability_of_improvement_are_reported(two_backends: list[Path], tmp_path: Path) -> None:
    (test,) = compare(two_backends, tmp_path / "out").tests
    x = np.array([torch_returns(s)[-1] for s in SEEDS])
    y = np.array([jax_returns(s)[-1] for s in SEEDS])
    assert test.torch_iqm == pytest.approx(iqm_stratified_ci(x)) and test.jax_iqm == pytest.approx(iqm_stratified_ci(y))
    assert test.improvement == pytest.approx(probability_of_improvement(x, y))
    assert test.improvement[0] == pytest.approx(stats.mannwhitneyu(x, y).statistic / 25)
    md = (tmp_path / "out" / "learning.md").read_text()
    assert f"P(torch > jax) = {test.improvement[0]:.2f}" in md
    assert "Equivalence (TOST): not tested, no margin declared" in md and test.equivalence is None
    assert json.loads((tmp_path / "out" / "learning.json").read_text())["tests"][0]["equivalence"] is None


def test_cli_compare_passes_the_margin(two_backends: list[Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_margin"
    assert cli(["compare", *map(str, two_backends), "--margin", "10%", "--out", str(out)]) == 0
    assert "±100 = 10 % of the return range [0, 1000]" in (out / "learning.md").read_text()
    for bad, message in (("abc", "is not a number"), ("0", "must be a positive return"),
                         ("150%", "must be a positive return or a percentage in \\(0 %")):
        assert cli(["compare", *map(str, two_backends), "--margin", bad, "--out", str(tmp_path / "bad")]) == 2
        assert re.search(f"margin '{re.escape(bad)}' {message}", capsys.readouterr().err)
    assert not (tmp_path / "bad").exists()  # nothing written for a bad margin


def test_png_is_written_with_and_without_official(two_backends: list[Path], tmp_path: Path) -> None:
    plain = compare(two_backends, tmp_path / "plain")
    png = tmp_path / "plain" / "learning_cartpole-balance.png"
    assert png in plain.files and _is_real_png(png)
    with_official = compare(two_backends, tmp_path / "official", official=True)
    png2 = tmp_path / "official" / "learning_cartpole-balance.png"
    assert png2 in with_official.files and _is_real_png(png2)
    assert png.read_bytes() != png2.read_bytes()


def test_official_overlay_uses_the_shipped_data(two_backends: list[Path], tmp_path: Path, monkeypatch) -> None:
    import tdmpc_parity.analysis.compare as compare_mod

    read: list[tuple[str, object]] = []
    real = compare_mod.official_curve

    def spy(task, directory=None):
        read.append((task, directory))
        return real(task, directory)

    monkeypatch.setattr(compare_mod, "official_curve", spy)
    compare(two_backends, tmp_path / "out", official=True)
    assert read == [("cartpole-balance", None)]  # None: the shipped data_dir()
    md = (tmp_path / "out" / "learning.md").read_text()
    step0 = np.mean([r[0] for _, r in load_official("cartpole-balance").values()])
    assert f"| official TD-MPC2 (3 seeds) | 0 | 3 | {step0:,.1f} |" in md
    assert "| official TD-MPC2 (3 seeds) | 100,000 |" not in md  # only up to the runs' last env step
    assert "e9f5932" in md


def test_a_shorter_run_drops_out_and_the_test_uses_the_last_common_step(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"t{s}", "torch", s, torch_returns(s)) for s in (1, 2, 3)]
    runs.append(make_run(tmp_path / "t4", "torch", 4, torch_returns(4)[:3], steps=STEPS[:3]))  # stopped early
    runs.append(make_seeds_run(tmp_path / "j", jax_returns, seeds=(1, 2, 3)))
    result = compare(runs, tmp_path / "out")
    torch_g = next(g for g in result.groups if g.backend == "torch")
    assert torch_g.curve().n.tolist() == [4, 4, 4, 3]
    (test,) = result.tests
    assert test.step == 2000 and test.torch_returns.tolist() == [torch_returns(s)[2] for s in (1, 2, 3, 4)]
    assert "final returns at env step 2,000: torch 4 seeds" in (tmp_path / "out" / "learning.md").read_text()


def test_official_curve_over_a_longer_run(tmp_path: Path) -> None:
    steps = (0, 100_000, 200_000, 250_000)
    runs = [make_run(tmp_path / f"t{s}", "torch", s, torch_returns(s), steps=steps) for s in (1, 2)]
    result = compare(runs, tmp_path / "out", official=True)
    md = (tmp_path / "out" / "learning.md").read_text()
    curve = official_curve("cartpole-balance")
    for i, step in enumerate((0, 100_000, 200_000)):
        assert f"| official TD-MPC2 (3 seeds) | {step:,} | 3 | {curve.mean[i]:,.1f} |" in md
    assert "| official TD-MPC2 (3 seeds) | 300,000 |" not in md
    assert _is_real_png(result.files[0])


def test_short_episodes_are_flagged_against_the_official_scale(tmp_path: Path) -> None:
    official_scale = make_run(tmp_path / "a", "torch", 1, torch_returns(1))
    short = make_run(tmp_path / "b", "torch", 1, torch_returns(1), "episode_length=100")
    assert compare([official_scale], tmp_path / "o1", official=True).notes == []
    result = compare([short], tmp_path / "o2", official=True)
    assert len(result.notes) == 1 and "episodes of 200 control steps" in result.notes[0]
    assert "the official ones have 1000: its returns are not on the official scale" in (
        tmp_path / "o2" / "learning.md").read_text()
    assert compare([short], tmp_path / "o3").notes == []  # no official curve, nothing to warn about


def test_one_seed_has_a_mean_and_no_ci(tmp_path: Path) -> None:
    run = make_run(tmp_path / "one", "torch", 1, torch_returns(1))
    result = compare([run], tmp_path / "out")
    (group,) = result.groups
    c = group.curve()
    assert c.mean.tolist() == torch_returns(1) and np.all(np.isnan(c.low)) and np.all(np.isnan(c.high))
    assert result.tests == []
    md = (tmp_path / "out" / "learning.md").read_text()
    assert f"| torch [{group.key}] | 3,000 | 1 | 307.0 | – | 307.0 |" in md
    assert "No backend-equality test" in md
    assert _is_real_png(tmp_path / "out" / "learning_cartpole-balance.png")


def test_few_seeds_are_not_tested(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / "t1", "torch", 1, torch_returns(1)),
            make_seeds_run(tmp_path / "j", jax_returns, seeds=(1, 2))]
    (test,) = compare(runs, tmp_path / "out").tests
    assert not test.testable
    assert "not tested: both tests need at least 2 seeds per backend (torch 1, jax 2)" in (
        tmp_path / "out" / "learning.md").read_text()


def test_other_configs_and_tasks_are_separate_groups(tmp_path: Path) -> None:
    runs = [make_run(tmp_path / f"t{s}", "torch", s, torch_returns(s)) for s in (1, 2)]
    runs += [make_seeds_run(tmp_path / "j5", jax_returns, "horizon=5", seeds=(1, 2))]
    runs += [make_run(tmp_path / "w1", "torch", 1, torch_returns(1), task="walker-walk")]
    result = compare(runs, tmp_path / "out")
    assert sorted((g.task, g.backend, len(g.runs)) for g in result.groups) == [
        ("cartpole-balance", "jax", 2), ("cartpole-balance", "torch", 2), ("walker-walk", "torch", 1)]
    assert result.tests == []  # the jax group has another config
    labels = {g.label for g in result.groups if g.task == "cartpole-balance"}
    assert any("horizon=3" in label for label in labels) and any("horizon=5" in label for label in labels)
    names = sorted(p.name for p in result.files)
    assert names == ["learning.json", "learning.md", "learning_cartpole-balance.png", "learning_walker-walk.png"]
    md = (tmp_path / "out" / "learning.md").read_text()
    assert "## walker-walk" in md and "Configs differ in: `horizon`" in md


def test_seed_is_not_part_of_the_config_key(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", "torch", 1, torch_returns(1))
    b = make_run(tmp_path / "b", "torch", 2, torch_returns(2))
    (group,) = compare([a, b, a], tmp_path / "out").groups  # the same folder twice counts once
    assert group.seeds == [1, 2]
    assert config_hash(group.config) == group.key


def test_a_step_logged_twice_counts_once_with_its_later_row(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "torch", 1, torch_returns(1))
    with (run / "eval.csv").open("a") as fh:
        fh.write("1000,2000,9.0,555.0\n")  # resumed after a crash: the rows after the checkpoint again
    steps, returns = read_eval_csv(run / "eval.csv")
    assert steps.tolist() == list(STEPS) and returns.tolist() == [*torch_returns(1)[:2], 555.0, torch_returns(1)[3]]


def test_a_torn_last_eval_row_is_skipped(tmp_path: Path) -> None:
    run = make_run(tmp_path / "r", "torch", 1, torch_returns(1))
    with (run / "eval.csv").open("a") as fh:
        fh.write("2000,4000,1.0,12")  # killed mid-write: no newline
    steps, returns = read_eval_csv(run / "eval.csv")
    assert steps.tolist() == list(STEPS) and returns.tolist() == torch_returns(1)


# ----------------------------------------------------------------------------------------------------------
# CLI and bad input
# ----------------------------------------------------------------------------------------------------------


def test_cli_compare(two_backends: list[Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli_out"
    assert cli(["compare", *map(str, two_backends), "--official", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "learning.md") in printed and str(out / "learning_cartpole-balance.png") in printed
    assert "torch vs jax at env step 3000: not distinguishable at alpha=0.05 (torch 5 seeds, jax 5 seeds)" in printed
    assert (out / "learning.md").exists()


def test_cli_default_out_is_beside_the_first_run(tmp_path: Path) -> None:
    run = make_run(tmp_path / "runs" / "a", "torch", 1, torch_returns(1))
    assert cli(["compare", str(run)]) == 0
    assert (tmp_path / "runs" / "compare" / "learning.md").exists()


def _bad_eval(tmp_path: Path, name: str, text: str) -> Path:
    run = make_run(tmp_path / name, "torch", 1, torch_returns(1))
    (run / "eval.csv").write_text(text)
    return run


@pytest.mark.parametrize(("setup", "message"), [
    (lambda p: p / "missing", r"'.*missing' is not a run folder: it does not exist"),
    (lambda p: (p / "empty").mkdir() or p / "empty", r"is not a run folder: it has no config.json and no seed_<s>/"),
    (lambda p: (p / "s" / "seed_1").mkdir(parents=True) or p / "s", r"seed_1' is not a run folder"),
    (lambda p: _bad_eval(p, "nocol", "agent_step,env_step\n0,0\n"),
     r"eval.csv' line 1: missing column\(s\) \['episode_reward'\]"),
    (lambda p: _bad_eval(p, "nan", "env_step,episode_reward\n0,1\n1000,oops\n"),
     r"eval.csv' line 3, column 'episode_reward': 'oops' is not a number"),
    (lambda p: _bad_eval(p, "frac", "env_step,episode_reward\n0,1\n0.5,2\n"),
     r"line 3, column 'env_step': 0.5 is not an env step"),
    (lambda p: _bad_eval(p, "none", "env_step,episode_reward\n"), r"has no eval rows"),
    (lambda p: (make_run(p / "noeval", "torch", 1, [0.0] * 4) / "eval.csv").unlink() or p / "noeval",
     r"eval.csv' does not exist"),
])
def test_bad_input_is_exit_code_2(tmp_path: Path, capsys, setup, message: str) -> None:
    path = setup(tmp_path)
    with pytest.raises(ValueError, match=message):
        compare([path], tmp_path / "out")
    assert cli(["compare", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tdmpc-parity compare: error: ") and re.search(message, err)


def test_the_same_seed_twice_in_a_group_is_refused(tmp_path: Path, capsys) -> None:
    a = make_run(tmp_path / "a", "torch", 1, torch_returns(1))
    b = make_run(tmp_path / "b", "torch", 1, torch_returns(2))
    assert cli(["compare", str(a), str(b), "--out", str(tmp_path / "out")]) == 2
    assert "are both seed 1 of torch cartpole-balance" in capsys.readouterr().err


def test_a_bad_config_json_is_refused(tmp_path: Path, capsys) -> None:
    run = make_run(tmp_path / "r", "torch", 1, torch_returns(1))
    (run / "config.json").write_text("{not json")
    assert cli(["compare", str(run), "--out", str(tmp_path / "out")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
