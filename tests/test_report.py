"""tdmpc_parity/analysis/report.py on the synthetic fixtures (tests/fixtures/bench, NOT measurements): merging,
per-machine ratios checked by hand from the fixture medians, no cross-machine ratio, records keyed on their physics
(legacy records without it, table c pairing torch with JAX dm_control only, the physics table g), refusals that
name the file and leave an existing REPORT.md and every input untouched; tdmpc_parity/analysis/benchmeta.py record
checks."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from tdmpc_parity.analysis import flops, report
from tdmpc_parity.analysis.benchmeta import (
    bench_config,
    bench_version,
    make_extra_info,
    record_physics,
    validate_extra_info,
    validate_record,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bench"
CPU, H100, TI = "cpu-amd-epyc-7b13-2c", "gpu-nvidia-h100-80gb", "gpu-nvidia-geforce-rtx-4070-ti-12gb"


def raw(machine: str, name: str) -> dict:
    """The newest fixture record `name` of `machine`, read straight from the JSON (not through the report)."""
    found = []
    for path in sorted((FIXTURES / machine).glob("*.json")):
        data = json.loads(path.read_text())
        found += [(data["datetime"], b) for b in data["benchmarks"] if b["name"] == name]
    assert found, (machine, name)
    return max(found, key=lambda x: x[0])[1]


def rate(b: dict, stat: str = "median") -> float:
    i = b["extra_info"]
    units = i["env_steps_per_call"] or i["updates_per_call"]
    return units / b["stats"][stat]


def fixture_physics(info: dict) -> str:
    """The physics the `results` copy gives a fixture record (the committed fixtures predate the field): what
    the bench writes now, the config profile's physics (JAX fast: playground; torch and JAX official: dm_control)."""
    return "playground" if info["backend"] == "jax" and info["profile"] == "fast" else "dm_control"


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A copy of the fixtures laid out as results/, every record with its `physics` (`fixture_physics`); the
    fixtures folder itself is never written, and `legacy_results` reads it as it is."""
    out = tmp_path / "results"
    shutil.copytree(FIXTURES, out)
    for path in out.glob("*/*.json"):
        data = json.loads(path.read_text())
        for b in data["benchmarks"]:
            b["extra_info"]["physics"] = fixture_physics(b["extra_info"])
        path.write_text(json.dumps(data))
    return out


@pytest.fixture
def legacy_results(tmp_path: Path) -> Path:
    """A copy of the fixtures as committed: records written before extra_info.physics."""
    out = tmp_path / "legacy"
    shutil.copytree(FIXTURES, out)
    return out


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------------------
# Fixtures are what they claim
# ----------------------------------------------------------------------------------------------------------


def test_fixtures_are_marked_synthetic_and_current():
    files = sorted(FIXTURES.glob("*/*.json"))
    assert {p.parent.name for p in files} == {CPU, H100, TI}
    for p in files:
        data = json.loads(p.read_text())
        assert data["machine_info"]["fixture"] is True, p
        for b in data["benchmarks"]:
            assert b["extra_info"]["bench_version"] == bench_version(), (
                f"{p}: fixtures carry an old bench_version; see tests/fixtures/bench/README.md to refresh")
    assert "NOT measurements" in (FIXTURES / "README.md").read_text()


# ----------------------------------------------------------------------------------------------------------
# Merging and ratios
# ----------------------------------------------------------------------------------------------------------


def test_merges_every_file_and_machine(results):
    data = report.collect(results)
    assert set(data.machines) == {CPU, H100, TI}
    assert [len(data.machines[m].files) for m in (CPU, H100, TI)] == [1, 3, 1]
    assert all(m.fixture for m in data.machines.values())
    n_records = sum(len(json.loads(p.read_text())["benchmarks"]) for p in results.glob("*/*.json"))
    assert len(data.records) + len(data.superseded) == n_records == 18
    # the older H100 JAX update (2026-01-11) is superseded by the newer one (2026-01-12)
    assert [(r.machine, r.name, r.source.name) for r in data.superseded] == [
        (H100, "test_bench_jax_update", "2026-01-11T080000-0000000000.json")]


def test_matched_ratios_equal_hand_computed_from_fixture_medians(results):
    data = report.collect(results)
    got = {(p.machine, p.torch.info["bench"]): p for p in data.pairs}
    names = {"update": ("test_bench_torch_update", "test_bench_jax_update"),
             "train_iteration": ("test_bench_torch_train_iteration[official]",
                                 "test_bench_jax_train_iteration[official]"),
             "plan": ("test_bench_torch_plan[official]", "test_bench_jax_plan[official]")}
    expected_keys = {(CPU, "update"), (CPU, "train_iteration"), (H100, "update"), (H100, "train_iteration"),
                     (H100, "plan"), (TI, "update")}
    assert set(got) == expected_keys
    text = report.render_markdown(data)
    for machine, bench in expected_keys:
        t, j = raw(machine, names[bench][0]), raw(machine, names[bench][1])
        units_t = t["extra_info"]["env_steps_per_call"] or t["extra_info"]["updates_per_call"]
        units_j = j["extra_info"]["env_steps_per_call"] or j["extra_info"]["updates_per_call"]
        hand = (units_j / j["stats"]["median"]) / (units_t / t["stats"]["median"])
        assert got[(machine, bench)].ratio == pytest.approx(hand, rel=1e-12)
        assert f"{report.fmt(hand)}× [" in text
    # the values the fixtures were built around: H100 update 0.012 s vs 0.004 s (newest JAX file) = 3x;
    # H100 train_iteration 2 env steps / 0.030 s vs 200 / 0.8 s = 3.75x
    assert got[(H100, "update")].ratio == pytest.approx(3.0)
    assert got[(H100, "train_iteration")].ratio == pytest.approx(3.75)


def test_spread_bootstrap_and_quartile_bounds(results):
    data = report.collect(results)
    for p in data.pairs:
        assert p.low <= p.ratio * 1.02 and p.high >= p.ratio * 0.98 and p.low <= p.high
    again = {(p.machine, p.torch.info["bench"]): (p.low, p.high) for p in report.collect(results).pairs}
    assert again == {(p.machine, p.torch.info["bench"]): (p.low, p.high) for p in data.pairs}  # deterministic
    ti = next(p for p in data.pairs if p.machine == TI)
    assert ti.method == "quartile bounds"  # the 4070 Ti update records carry no per-round data
    t, j = raw(TI, "test_bench_torch_update"), raw(TI, "test_bench_jax_update")
    assert ti.low == pytest.approx(rate(j, "q3") / rate(t, "q1"))
    assert ti.high == pytest.approx(rate(j, "q1") / rate(t, "q3"))
    assert all(p.method == "bootstrap" for p in data.pairs if p.machine != TI)


def test_geometric_mean_per_machine(results):
    data = report.collect(results)
    cpu = [p.ratio for p in data.pairs if p.machine == CPU]
    assert len(cpu) == 2
    hand = math.sqrt(cpu[0] * cpu[1])
    assert report.geomean(cpu) == pytest.approx(hand)
    assert f"**{report.fmt(hand)}×** (n=2)" in report.render_markdown(data)


def test_no_cross_machine_ratio_is_ever_formed(results):
    data = report.collect(results)
    assert all(p.torch.machine == p.jax.machine == p.machine for p in data.pairs + data.seed_pairs)
    # The 4070 Ti torch official train_iteration has the same settings as the H100 JAX official one, but no
    # JAX record of its own: it must stay unpaired.
    ti_torch = next(r for r in data.records if r.machine == TI and r.backend == "torch"
                    and r.info["bench"] == "train_iteration")
    h100_jax = next(r for r in data.records if r.machine == H100 and r.backend == "jax"
                    and r.info["bench"] == "train_iteration" and r.info["profile"] == "official")
    assert report.match_key(ti_torch.info) == report.match_key(h100_jax.info)
    assert not any(p.machine == TI and p.torch.info["bench"] == "train_iteration" for p in data.pairs)
    with pytest.raises(ValueError, match="different machines"):
        report.speedup(ti_torch, h100_jax)


def test_a_sharded_jax_record_has_no_torch_partner():
    """A JAX record sharded over several devices (extra_info.devices, `bench --bench-devices N`) is its own
    series: never paired with the one-device torch record of the same settings."""
    torch_info = _record()["extra_info"]
    jax_info = {**torch_info, "backend": "jax"}
    assert report.match_key(jax_info) == report.match_key(torch_info)
    assert report.match_key({**jax_info, "devices": 1}) == report.match_key(torch_info)
    sharded = report.match_key({**jax_info, "devices": 2})
    assert sharded != report.match_key(torch_info) and ("devices", 2) in sharded
    assert report.settings_label({**jax_info, "devices": 2}).endswith(" · envs over 2 devices")
    assert "devices" not in report.settings_label(jax_info)


def test_seed_table_is_official_torch_vs_fast_jax_per_machine(results):
    data = report.collect(results)
    assert sorted(p.machine for p in data.seed_pairs) == sorted([CPU, H100, TI])
    for p in data.seed_pairs:
        assert p.torch.info["profile"] == "official" and p.torch.info["collector"] == "mppi"
        assert p.torch.info["n_envs"] == 1 and p.torch.info["updates_per_agent_step"] == 1
        assert p.jax.info["profile"] == "fast"
        t = raw(p.machine, "test_bench_torch_train_iteration[official]")
        j = raw(p.machine, "test_bench_jax_train_iteration[fast]")
        assert p.ratio == pytest.approx(rate(j) / rate(t), rel=1e-12)
    text = report.render_markdown(data)
    assert "not a speedup" in text and "~580" in text  # the seed's quoted table sits next to the measured one
    assert "n_envs: 1 vs 256" in text and "collector: mppi vs policy" in text  # footnote: what differs
    assert "physics: dm_control vs playground" in text  # footnote, and each row names both sides' physics:
    assert text.count("| dm_control / playground |") == len(data.seed_pairs) == 3


def test_flop_accounting_in_report(results):
    data = report.collect(results)
    text = report.render_markdown(data)
    t = raw(H100, "test_bench_torch_update")
    cfg = bench_config("gpu", "torch")
    per_update = flops.update_flops(cfg)
    assert flops.update_flops(t["extra_info"]) == per_update  # recomputed from the recorded fields
    assert report.fmt(per_update / t["stats"]["median"] / 1e9) in text  # achieved GFLOP/s
    assert report.gflop(flops.plan_flops(cfg)) in text


def test_build_report_writes_markdown_and_charts(results, capsys):
    before = digest(results)
    assert report.main([str(results)]) == 0
    assert str(results / "REPORT.md") in capsys.readouterr().out
    text = (results / "REPORT.md").read_text()
    for slug in (CPU, H100, TI):
        assert f"{slug} (FIXTURE)" in text
    assert "synthetic test fixtures, not measurements" in text
    for png in ("report_speedup.png", *(f"report_rates_{b}.png" for b in ("env_step", "plan", "update",
                                                                          "train_iteration"))):
        head = (results / png).read_bytes()
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        assert 800 <= width <= 4000 and 200 <= height <= 3000, (png, width, height)
        assert 10_000 <= len(head) <= 2_000_000, (png, len(head))
        assert f"]({png})" in text
    after = digest(results)
    assert {k: v for k, v in after.items() if k in before} == before  # inputs untouched
    assert not [k for k in after if k.endswith(".tmp")]


# ----------------------------------------------------------------------------------------------------------
# Charts (inspected as matplotlib objects before saving, not as pixels)
# ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def figures(results):
    """(data, markdown, {bench or "speedup": Figure}); the figures are closed afterwards."""
    import matplotlib.pyplot as plt

    data = report.collect(results)
    figs = {b: report.rate_figure(data, b) for b in ("env_step", "plan", "update", "train_iteration")}
    figs["speedup"] = report.speedup_figure(data)
    assert all(f is not None for f in figs.values())
    yield data, report.render_markdown(data), figs
    plt.close("all")


def _tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The markdown tables under each `### bench ...` heading and table (c), as lists of {header: cell}."""
    out: dict[str, list[dict[str, str]]] = {}
    section = None
    header: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("### bench `"):
            section, header = line.split("`")[1], None
        elif line.startswith("## (c)"):
            section, header = "speedup", None
        elif line.startswith("## "):
            section = None
        elif section and line.startswith("| "):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            if header is None:
                header = cells
            else:
                out.setdefault(section, []).append(dict(zip(header, cells, strict=True)))
    return out


def _labels(fig) -> dict[str, str]:
    return {t.get_gid(): t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid()}


def test_value_labels_equal_the_markdown_numbers(figures):
    data, text, figs = figures
    tables = _tables(text)
    slugs = sorted(data.machines)
    for bench in ("env_step", "plan", "update", "train_iteration"):
        want = {f"{s}|{row['backend']}|{row['profile']}|{row['settings']}": row[s].split(" [")[0]
                for row in tables[bench] for s in slugs if row[s] != "—"}
        assert want and _labels(figs[bench]) == want, bench
    want = {f"{s}|{row['bench']}|{row['settings']}": row[s].split(" [")[0]
            for row in tables["speedup"] if row["bench"] != "all" for s in slugs if row[s] != "—"}
    assert want and _labels(figs["speedup"]) == want
    assert all(v.endswith("×") for v in want.values())
    assert "1,463" in _labels(figs["train_iteration"]).values()  # thousands separator, as in the table


def test_speedup_axis_is_linear_from_zero_with_a_line_at_one(figures):
    data, _, figs = figures
    fig = figs["speedup"]
    assert len(fig.axes) == len(data.machines)
    top = max(p.high for p in data.pairs)
    for ax in fig.axes:
        assert ax.get_xscale() == "linear"
        lo, hi = ax.get_xlim()
        assert lo == 0 and hi > max(1.0, top)
        assert any(list(line.get_xdata()) == [1.0, 1.0] for line in ax.lines)  # the 1× reference line
        assert all(p.get_x() == 0 for p in ax.patches)  # bars start at 0, the baseline is not cropped
    # a bar's length is its speedup: the H100 update pair (3x by construction) is drawn 3 units long
    bars = {p.get_gid(): p.get_width() for ax in fig.axes for p in ax.patches}
    assert any(k.startswith(f"{H100}|update|") and w == pytest.approx(3.0) for k, w in bars.items())


def test_rate_axes_linear_from_zero_or_labelled_log(figures):
    _, _, figs = figures
    scales = {}
    for bench in ("env_step", "plan", "update", "train_iteration"):
        for ax in figs[bench].axes:
            scales[bench] = ax.get_xscale()
            assert ("log scale" in ax.get_xlabel()) == (ax.get_xscale() == "log"), bench
            if ax.get_xscale() == "linear":
                assert ax.get_xlim()[0] == 0
            assert all(p.get_height() < 1 for p in ax.patches)  # horizontal bars: one row per unit of y
    assert scales["train_iteration"] == "log"  # the fixture rates span 5.7 .. 1,463 env steps/s


def test_one_colour_per_backend_everywhere_and_a_legend_naming_them(figures):
    from matplotlib.colors import to_rgba

    data, _, figs = figures
    seen = set()
    for bench in ("env_step", "plan", "update", "train_iteration"):
        fig = figs[bench]
        for ax in fig.axes:
            for p in ax.patches:
                backend = p.get_gid().split("|")[1]
                seen.add(backend)
                assert p.get_facecolor() == to_rgba(report.BACKEND_COLORS[backend])
        here = {p.get_gid().split("|")[1] for ax in fig.axes for p in ax.patches}
        (legend,) = fig.legends
        names = {t.get_text(): h.get_facecolor() for t, h in zip(legend.get_texts(), legend.legend_handles,
                                                                 strict=True)}
        assert names == {b: to_rgba(report.BACKEND_COLORS[b]) for b in here}, bench
    assert seen == {"torch", "jax"}
    assert report.BACKEND_COLORS["torch"] != report.BACKEND_COLORS["jax"]


def test_machines_side_by_side_sharing_row_labels(figures):
    data, _, figs = figures
    labels = [report._machine_label(data.machines[s]) for s in sorted(data.machines)]
    for fig in figs.values():
        axes = fig.axes
        assert [ax.get_title() for ax in axes] == labels
        assert all(axes[0].get_shared_y_axes().joined(axes[0], ax) for ax in axes)
        rows = [t.get_text() for t in axes[0].get_yticklabels()]
        assert rows and all(rows)
        for ax in axes[1:]:
            assert not any(t.get_visible() and t.get_text() for t in ax.get_yticklabels())
        assert all(p.get_gid().split("|")[0] == s for ax, s in zip(axes, sorted(data.machines), strict=True)
                   for p in ax.patches)


def test_legend_inside_the_saved_area_and_clear_of_plots_and_title(figures):
    _, _, figs = figures
    for name, fig in figs.items():
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        saved = fig.get_tightbbox(r).transformed(fig.dpi_scale_trans)  # what bbox_inches="tight" keeps
        (legend,) = fig.legends
        box = legend.get_window_extent(r)
        assert saved.x0 <= box.x0 and box.x1 <= saved.x1 and saved.y0 <= box.y0 and box.y1 <= saved.y1, name
        for other in [ax.get_tightbbox(r) for ax in fig.axes] + [fig._suptitle.get_window_extent(r)]:
            assert not box.overlaps(other), name


def test_figure_height_grows_with_the_rows():
    import matplotlib.pyplot as plt

    def fig(n: int):
        rows = [(f"row {i} · a long settings label · B=256", [report.Bar("torch", f"t{i}", {"m": (1.0, 0.9, 1.1)}),
                                                              report.Bar("jax", f"j{i}", {"m": (2.0, 1.9, 2.1)})])
                for i in range(n)]
        return report._bar_chart(rows, ["m"], ["m"], "x", "t", report.fmt, legend={"torch": "torch"})

    heights = [fig(n).get_size_inches()[1] for n in (1, 4, 12)]
    plt.close("all")
    assert heights[0] < heights[1] < heights[2]
    assert heights[2] / 12 >= 0.5  # at least half an inch per row of two bars


# ----------------------------------------------------------------------------------------------------------
# Refusals: each names the file, and the existing report survives
# ----------------------------------------------------------------------------------------------------------


def _edit_one(results: Path, edit) -> Path:
    """Write an edited copy of a fixture file as a new file in the same machine folder."""
    src = results / H100 / "2026-01-12T110000-4444444444.json"
    data = json.loads(src.read_text())
    edit(data)
    dst = results / H100 / "2026-02-01T000000-badbadbad0.json"
    dst.write_text(json.dumps(data))
    return dst


def _drop_field(data):
    del data["benchmarks"][1]["extra_info"]["n_envs"]


def _other_version(data):
    data["benchmarks"][0]["extra_info"]["bench_version"] = "deadbeef0000"


def _drop_median(data):
    del data["benchmarks"][0]["stats"]["median"]


def _wrong_machine(data):
    data["machine_info"]["machine_slug"] = CPU


def _unknown_physics(data):
    data["benchmarks"][0]["extra_info"]["physics"] = "mujoco"


BAD = {
    "not json": lambda r: (r / H100 / "broken.json", "{not json"),
    "not pytest-benchmark": lambda r: (r / TI / "other.json", json.dumps({"hello": [1, 2]})),
    "no benchmarks": lambda r: (r / TI / "empty.json", json.dumps(
        {"machine_info": {}, "commit_info": {}, "benchmarks": [], "datetime": "x", "version": "5.3.1"})),
    "stray top-level json": lambda r: (r / "loose.json", json.dumps({"hello": 1})),
}
EDITS = {"missing extra_info field": (_drop_field, "'n_envs' is missing"),
         "other bench_version": (_other_version, "deadbeef0000"),
         "missing stats": (_drop_median, "'median'"),
         "wrong machine folder": (_wrong_machine, "does not match its folder"),
         "unknown physics": (_unknown_physics, "'physics' = 'mujoco'")}


def _assert_refused(results: Path, bad: Path, needle: str, capsys) -> None:
    """`results` holds a good REPORT.md and one bad file: both entry points refuse, naming the file."""
    good = (results / "REPORT.md").read_bytes()
    inputs = digest(results)
    with pytest.raises(ValueError) as exc:
        report.build_report(results)
    assert bad.name in str(exc.value) and needle in str(exc.value)
    assert report.main([str(results)]) == 2
    err = capsys.readouterr().err
    assert bad.name in err and "refused" in err
    assert (results / "REPORT.md").read_bytes() == good
    assert digest(results) == inputs  # nothing written, nothing deleted


@pytest.mark.parametrize("case", sorted(BAD))
def test_refuses_malformed_files(results, case, capsys):
    report.build_report(results, charts=False)  # an existing, good report
    path, text = BAD[case](results)
    path.write_text(text)
    needle = {"not json": "not valid JSON", "not pytest-benchmark": "not a pytest-benchmark JSON",
              "no benchmarks": "machine_info field", "stray top-level json": "<machine-slug>"}[case]
    _assert_refused(results, path, needle, capsys)


@pytest.mark.parametrize("case", sorted(EDITS))
def test_refuses_bad_records(results, case, capsys):
    report.build_report(results, charts=False)  # an existing, good report
    edit, needle = EDITS[case]
    bad = _edit_one(results, edit)
    _assert_refused(results, bad, needle, capsys)


def test_reads_a_results_folder_as_the_project_writes_it(results):
    """results/ also holds the parity table and the mutation run's JSON at its top: not benchmark files."""
    (results / "parity.json").write_text("{}")
    (results / "mutation.json").write_text("{}")
    _, records = report.load_results(results)
    assert records
    (results / "stray.json").write_text("{}")
    with pytest.raises(ValueError, match="stray.json: benchmark JSON must live in"):
        report.load_results(results)


def test_committed_results_folder_builds(tmp_path):
    """The repository's own results/ (CPU records, parity.json, mutation.json) is accepted as it is."""
    root = Path(__file__).resolve().parents[1] / "results"
    _, records = report.load_results(root)
    assert records and all(r.machine for r in records)


def test_refuses_empty_and_missing_folders(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        report.build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no benchmark JSON"):
        report.build_report(tmp_path / "empty")
    assert not (tmp_path / "empty" / "REPORT.md").exists()


def test_failure_while_writing_keeps_old_report(results, monkeypatch):
    report.build_report(results, charts=False)
    good = (results / "REPORT.md").read_bytes()

    def boom(data, charts=None):
        raise RuntimeError("render failed")

    monkeypatch.setattr(report, "render_markdown", boom)
    with pytest.raises(RuntimeError):
        report.build_report(results, charts=False)
    assert (results / "REPORT.md").read_bytes() == good
    assert not list(results.glob(".REPORT.md.*"))


def test_failure_midway_through_the_write_keeps_old_report(results, monkeypatch):
    report.build_report(results, charts=False)
    good = (results / "REPORT.md").read_bytes()
    real_write = Path.write_text

    def half_write(self, text, *args, **kwargs):
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", half_write)
    with pytest.raises(OSError, match="disk full"):
        report.build_report(results, charts=False)
    monkeypatch.undo()
    assert (results / "REPORT.md").read_bytes() == good
    assert not list(results.glob(".REPORT.md.*"))


# ----------------------------------------------------------------------------------------------------------
# benchmeta: the records the report accepts
# ----------------------------------------------------------------------------------------------------------


def _record(**changes) -> dict:
    cfg = bench_config("cpu", "torch")
    info = make_extra_info(cfg, bench="update", device="cpu", compile_seconds=1.5, agent_steps_per_call=0,
                           updates_per_call=1, model_size="tiny")
    info.update(changes)
    stats = {"min": 0.1, "max": 0.3, "mean": 0.2, "median": 0.2, "q1": 0.15, "q3": 0.25, "iqr": 0.1,
             "rounds": 3, "data": [0.1, 0.2, 0.3]}
    return {"name": "test_x", "extra_info": info, "stats": stats}


def test_make_extra_info_is_accepted_and_complete():
    rec = _record()
    validate_record(rec, "f.json", expected_version=bench_version())
    cfg = bench_config("cpu", "torch")
    assert rec["extra_info"]["params"] == flops.param_counts(cfg)["total"]
    assert rec["extra_info"]["collector"] == "none" and rec["extra_info"]["iterations"] == cfg.plan_iterations


@pytest.mark.parametrize("changes, needle", [
    ({"n_envs": True}, "'n_envs'"),  # a bool is not an int
    ({"backend": "tf"}, "'backend'"),
    ({"env_steps_per_call": 2}, "'env_steps_per_call'"),  # not agent steps x action_repeat
    ({"obs_dim": 16}, "'obs_dim'"),  # hopper has 15
    ({"updates_per_call": 0}, "'updates_per_call'"),  # an update bench updates
    ({"bench": "plan", "agent_steps_per_call": 1, "env_steps_per_call": 2}, "'updates_per_call'"),
])
def test_validate_record_names_file_and_field(changes, needle):
    with pytest.raises(ValueError) as exc:
        validate_record(_record(**changes), "results/m/f.json")
    assert "results/m/f.json" in str(exc.value) and needle in str(exc.value)


def test_validate_record_checks_stats():
    rec = _record()
    bad = copy.deepcopy(rec)
    bad["stats"]["q1"] = 0.5  # q1 above the median
    with pytest.raises(ValueError, match="f.json.*ordered"):
        validate_record(bad, "f.json")
    bad = copy.deepcopy(rec)
    bad["stats"]["data"] = [0.1, -1.0]
    with pytest.raises(ValueError, match="f.json.*'data'"):
        validate_record(bad, "f.json")


# ----------------------------------------------------------------------------------------------------------
# Physics: part of the settings of the benches that step envs
# ----------------------------------------------------------------------------------------------------------


def _add_file(results: Path, machine: str, stamp: str, benchmarks: list[dict]) -> Path:
    """A new file of `benchmarks` in `machine`'s folder (machine_info of its newest fixture), dated `stamp`."""
    template = json.loads(sorted((results / machine).glob("*.json"))[-1].read_text())
    template.update(benchmarks=benchmarks, datetime=f"{stamp}+00:00")
    path = results / machine / f"{stamp.replace(':', '')}-5555555555.json"
    path.write_text(json.dumps(template))
    return path


def _twin(machine: str, name: str, physics: str, scale: float, keep_data: bool = True) -> dict:
    """The fixture record `name` of `machine` in `physics`, every time per call `scale` times as long."""
    b = copy.deepcopy(raw(machine, name))
    b["extra_info"]["physics"] = physics
    for k in ("min", "max", "mean", "median", "q1", "q3", "iqr"):
        b["stats"][k] *= scale
    if keep_data:
        b["stats"]["data"] = [x * scale for x in b["stats"]["data"]]
    else:
        del b["stats"]["data"]
    return b


def test_a_legacy_record_reads_as_the_physics_it_stepped(legacy_results, results):
    """Records written before extra_info.physics: torch stepped dm_control, JAX Playground (its default then), so
    the torch/JAX training pairs of the committed fixtures no longer form; plan and update step no env and keep
    theirs."""
    data = report.collect(legacy_results)
    assert data.records and all(r.legacy_physics for r in data.records)
    assert {r.backend: r.info["physics"] for r in data.records} == {"torch": "dm_control", "jax": "playground"}
    assert {(p.machine, p.torch.info["bench"]) for p in data.pairs} == {
        (CPU, "update"), (H100, "update"), (H100, "plan"), (TI, "update")}
    text = report.render_markdown(data)
    n_jax = sum(r.backend == "jax" for r in data.records)
    assert (f"{len(data.records)} record(s) carry no `extra_info.physics`" in text
            and f"jax `playground` {n_jax}, torch `dm_control` {len(data.records) - n_jax}." in text)
    # the same files with the field: read as written, the official training pairs back
    stamped = report.collect(results)
    assert not any(r.legacy_physics for r in stamped.records)
    assert {(p.machine, p.torch.info["bench"]) for p in stamped.pairs} > {(p.machine, p.torch.info["bench"])
                                                                          for p in data.pairs}
    assert "carry no `extra_info.physics`" not in report.render_markdown(stamped)
    # a task MuJoCo Playground lacks always ran in dm_control physics
    assert record_physics({"backend": "jax", "task": "quadruped-walk"}) == "dm_control"
    assert record_physics({"backend": "jax", "task": "hopper-hop"}) == "playground"
    assert record_physics({"backend": "jax", "task": "hopper-hop", "physics": "dm_control"}) == "dm_control"


def test_table_c_never_pairs_torch_with_jax_playground(results):
    data = report.collect(results)
    assert all(p.jax.info["physics"] == "dm_control" for p in data.pairs if p.torch.info["bench"] in
               report.STEPS_ENVS)
    assert (H100, "train_iteration") in {(p.machine, p.torch.info["bench"]) for p in data.pairs}
    # the H100 JAX official training record in playground physics instead: its torch partner is gone
    path = results / H100 / "2026-01-12T110000-4444444444.json"
    d = json.loads(path.read_text())
    (b,) = [b for b in d["benchmarks"] if b["name"] == "test_bench_jax_train_iteration[official]"]
    b["extra_info"]["physics"] = "playground"
    path.write_text(json.dumps(d))
    data = report.collect(results)
    assert (H100, "train_iteration") not in {(p.machine, p.torch.info["bench"]) for p in data.pairs}
    jax_rec = next(r for r in data.records if r.name == "test_bench_jax_train_iteration[official]" and
                   r.machine == H100)
    torch_rec = next(r for r in data.records if r.name == "test_bench_torch_train_iteration[official]" and
                     r.machine == H100)
    assert report.match_key(jax_rec.info) != report.match_key(torch_rec.info)  # they differ in physics only:
    assert ({k: v for k, v in report.match_key(jax_rec.info) if k != "physics"}
            == {k: v for k, v in report.match_key(torch_rec.info) if k != "physics"})
    # with a dm_control twin beside it, table (c) pairs torch with the twin, never with the playground record
    _add_file(results, H100, "2026-01-13T09:00:00", [_twin(H100, "test_bench_jax_train_iteration[official]",
                                                            "dm_control", 2.0)])
    data = report.collect(results)
    (pair,) = [p for p in data.pairs if p.machine == H100 and p.torch.info["bench"] == "train_iteration"]
    assert pair.jax.info["physics"] == "dm_control" and pair.jax.source.name.endswith("5555555555.json")
    assert pair.ratio == pytest.approx(3.75 / 2.0)  # 3.75x in the fixture, the twin twice as slow


def test_physics_table_from_known_numbers(results):
    """Table (g): each JAX record in playground physics over its dm_control twin of the same machine; the
    fixtures' fast training records get dm_control twins 4x (H100, per-round data) and 2.5x (CPU, without it)
    slower per call, the 4070 Ti none."""
    text = report.render_markdown(report.collect(results))
    assert "_No machine has JAX records of both physics with otherwise the same settings._" in text  # no twins
    name = "test_bench_jax_train_iteration[fast]"
    _add_file(results, H100, "2026-01-13T09:00:00", [_twin(H100, name, "dm_control", 4.0)])
    _add_file(results, CPU, "2026-01-13T09:00:00", [_twin(CPU, name, "dm_control", 2.5, keep_data=False)])
    data = report.collect(results)
    assert [r.name for r in data.superseded] == ["test_bench_jax_update"]  # the fixtures' own: twins supersede none
    got = {sv.machine: sv for sv in data.savings}
    assert set(got) == {CPU, H100}  # none on the 4070 Ti: no twin there, and no ratio across machines
    for machine, factor in ((H100, 4.0), (CPU, 2.5)):
        sv = got[machine]
        assert sv.dm_control.info["physics"] == "dm_control" and sv.playground.info["physics"] == "playground"
        assert sv.dm_control.machine == sv.playground.machine == machine
        assert sv.ratio == pytest.approx(factor, rel=1e-12)
        assert sv.low <= sv.ratio <= sv.high
    assert got[H100].method == "bootstrap" and got[CPU].method == "quartile bounds"
    pg, dm = raw(CPU, name), _twin(CPU, name, "dm_control", 2.5, keep_data=False)
    assert got[CPU].low == pytest.approx(rate(pg, "q3") / rate(dm, "q1"))
    assert got[CPU].high == pytest.approx(rate(pg, "q1") / rate(dm, "q3"))
    text = report.render_markdown(data)
    section = text.split("## (g)")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith(f"| {H100} ") or line.startswith(f"| {CPU} ")]
    assert len(rows) == 2
    h100 = next(r for r in rows if r.startswith(f"| {H100} "))
    assert "| **4.00×** [" in h100 and f"| {report.fmt(rate(raw(H100, name)))} [" in h100
    assert "dm_control" not in h100.split(" | ")[2]  # the settings column: both physics share it
    cpu = next(r for r in rows if r.startswith(f"| {CPU} "))
    assert "| **2.50×** [" in cpu and cpu.endswith("]† |")  # † = quartile bounds


def test_records_of_two_physics_with_equal_settings_do_not_collide(results):
    """The JAX env_step record and a newer twin that differs only in physics: two series, neither superseded."""
    name = "test_bench_jax_env_step[fast]"
    _add_file(results, H100, "2026-01-13T09:00:00", [_twin(H100, name, "dm_control", 3.0)])
    data = report.collect(results)
    recs = [r for r in data.records if r.name == name]
    assert sorted(r.info["physics"] for r in recs) == ["dm_control", "playground"]
    assert [r.name for r in data.superseded] == ["test_bench_jax_update"]  # the fixtures' own, only
    assert report.series_key(recs[0]) != report.series_key(recs[1])
    labels = {report.settings_label(r.info) for r in recs}
    assert labels == {"hopper-hop · dm_control · E=256", "hopper-hop · playground · E=256"}
    rows = _tables(report.render_markdown(data))["env_step"]
    assert sorted(row["settings"] for row in rows) == sorted(labels)
    (sv,) = data.savings
    assert sv.ratio == pytest.approx(3.0)
    # plan and update calls step no env: their physics is not a setting
    update = _record()["extra_info"]
    assert report.match_key({**update, "backend": "jax", "physics": "playground"}) == report.match_key(update)


@pytest.mark.parametrize("changes, needle", [
    ({"physics": "mujoco"}, "'physics' = 'mujoco' is not one of"),
    ({"physics": "playground"}, "the torch backend always steps dm_control"),
    ({"backend": "jax", "physics": "playground", "task": "quadruped-walk", "obs_dim": 78, "action_dim": 12},
     "no quadruped-walk environment"),
])
def test_the_physics_field_is_checked(changes, needle):
    info = {**_record()["extra_info"], **changes}
    with pytest.raises(ValueError, match=needle):
        validate_extra_info(info, "f.json")
    for ok in ({"backend": "jax", "physics": "playground"}, {"physics": "dm_control"}):
        validate_extra_info({**_record()["extra_info"], **ok}, "f.json")
