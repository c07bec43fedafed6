"""parity/mutants.py: the mutant list is well formed and the tool's pure parts behave (nothing is run)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from parity import mutants as mu

ROOT = Path(__file__).resolve().parents[1]


def test_every_old_occurs_exactly_once_and_changes_something():
    for m in mu.MUTANTS:
        assert m.new != m.old, m.id
        assert "\n" not in m.old and "\n" not in m.new, f"{m.id}: one line or a fragment of one"
        assert mu.occurrences(m, ROOT) == 1, f"{m.id}: {m.old!r} must occur exactly once in {m.path}"
    mu.check_applicable(mu.MUTANTS, ROOT)


def test_ids_unique_backends_and_kinds():
    ids = [m.id for m in mu.MUTANTS]
    assert len(ids) == len(set(ids))
    for m in mu.MUTANTS:
        assert m.backend in mu.BACKENDS and m.kind in mu.KINDS, m.id
        assert m.path.startswith(mu.PACKAGES[m.backend] + "/"), m.id
        assert m.id.startswith(m.backend + "-"), m.id
        assert m.tests, m.id
        assert m.equivalent is None or len(m.equivalent) > 20, f"{m.id}: say why it is equivalent"
    for backend in mu.BACKENDS:
        assert sum(m.backend == backend for m in mu.MUTANTS) >= 30, backend


def test_every_test_id_names_an_existing_parity_test():
    """Parity tests, or the random-draw tests (the wrappers parity cannot compare) for the noise mutants."""
    for m in mu.MUTANTS:
        for node in m.tests:
            path, _, rest = node.partition("::")
            allowed = path.startswith("parity/test_") or path == "tests/test_random_draws.py"
            assert allowed and (ROOT / path).is_file(), f"{m.id}: {node}"
            if rest:
                name = rest.split("[")[0]
                assert re.search(rf"^def {re.escape(name)}\(", (ROOT / path).read_text(), re.M), f"{m.id}: {node}"


def test_random_wrappers_have_a_mutant_per_noise_kind_and_buffer_bound_in_both_backends():
    ids = {m.id for m in mu.MUTANTS}
    for backend in mu.BACKENDS:
        noise = [m for m in mu.MUTANTS if m.backend == backend and m.path.endswith("/noise.py")]
        named = " ".join(m.id for m in noise)
        for kind in ("normal", "gumbel", "uniform", "keep", "pair", "index"):
            assert f"-{kind}-" in named, f"{backend}: no mutant of noise kind {kind}"
        assert all(m.tests[0].startswith("tests/test_random_draws.py::") for m in noise)
        assert {f"{backend}-buffer-never-newest-episode", f"{backend}-buffer-never-last-start"} <= ids


def test_select():
    assert len(mu.select(mu.MUTANTS, "both")) == len(mu.MUTANTS)
    assert all(m.backend == "jax" for m in mu.select(mu.MUTANTS, "jax"))
    one = mu.MUTANTS[0].id
    assert [m.id for m in mu.select(mu.MUTANTS, "both", [one])] == [one]
    with pytest.raises(mu.MutantError, match="unknown mutant"):
        mu.select(mu.MUTANTS, "both", ["no-such-mutant"])


def test_apply_mutant_fails_loudly(tmp_path):
    (tmp_path / "jax_impl").mkdir()
    f = tmp_path / "jax_impl" / "x.py"
    m = mu.Mutant("jax-x-a", "jax", "jax_impl/x.py", "a = 1", "a = 2", ("parity/test_math_parity.py",), "constant")
    f.write_text("a = 1\nb = 1\n")
    assert mu.line_of(m, tmp_path) == 1
    mu.apply_mutant(m, tmp_path)
    assert f.read_text() == "a = 2\nb = 1\n"
    for text in ("b = 1\n", "a = 1\na = 1\n"):
        f.write_text(text)
        with pytest.raises(mu.MutantError, match="exactly once"):
            mu.apply_mutant(m, tmp_path)
        with pytest.raises(mu.MutantError):
            mu.check_applicable([m], tmp_path)


def test_classify_outcomes():
    out = ("F\n=== short test summary info ===\n"
           "FAILED parity/test_math_parity.py::test_soft_ce[float32] - AssertionError: math/soft_ce (float32): max\n"
           "!!! stopping after 1 failures !!!\n1 failed in 3.2s\n")
    assert mu.classify(1, out, None) == ("killed", "parity/test_math_parity.py::test_soft_ce[float32]",
                                         "AssertionError: math/soft_ce (float32): max")
    assert mu.classify(1, "ERROR parity/test_x.py::test_y - RuntimeError\n", None)[:2] == (
        "killed", "ERROR parity/test_x.py::test_y")
    assert mu.classify(0, "1 passed", None)[0] == "survived"
    assert mu.classify(0, "1 passed", "it cannot matter")[0] == "equivalent"
    assert mu.classify(2, "ERROR collecting\n1 error in 1s\n", None)[0] == "error"
    assert mu.classify(None, "", None)[0] == "timeout"


def test_shorten_mutation_keeps_the_change():
    old = "x" * 80 + " * cfg.rho**t" + "y" * 80
    new = "x" * 80 + " * cfg.rho**(t + 1)" + "y" * 80
    o, n = mu.shorten_mutation(old, new)
    assert "rho**t" in o and "rho**(t + 1)" in n and len(o) <= 56 and len(n) <= 56
    assert mu.shorten_mutation("a = 1", "a = 2") == ("a = 1", "a = 2")


def test_render_and_store_round_trip(tmp_path):
    ms = [m for m in mu.MUTANTS if m.id in ("jax-math-log-sqrt-2pi", "torch-math-log-sqrt-2pi",
                                            "jax-world-model-q-stop-gradient")]
    date = "2026-01-01T00:00:00+00:00"
    rows = {
        ms[0].id: {"result": "killed", "killing_test": "parity/test_math_parity.py::test_policy_math[float32-1.0]",
                   "detail": "", "seconds": 12.3, "run": date, "mutant": mu._definition(ms[0])},
        ms[1].id: {"result": "survived", "killing_test": None, "detail": "", "seconds": 40.0, "run": date,
                   "mutant": mu._definition(ms[1])},
        ms[2].id: {"result": "equivalent", "killing_test": None, "detail": "", "seconds": 50.0, "run": date,
                   "mutant": mu._definition(ms[2])},
    }
    store = {"runs": [{"command": "python -m parity.mutants", "date": date, "machine": "test"}], "results": rows}
    md = mu.render_markdown(ms, store, ROOT)
    assert "| jax | 2 | 1 | 0 | 1 | 0 | 0 | 0 |" in md and "| torch | 1 | 0 | 1 | 0 | 0 | 0 | 0 |" in md
    assert "SURVIVED — needs a test" in md and "equivalent: jax.grad" in md
    assert f"jax_impl/math.py:{mu.line_of(ms[0], ROOT)}" in md
    # stored rows survive a reload only while the mutant's definition is unchanged
    path = tmp_path / "mutation.json"
    stale = dict(rows[ms[1].id], mutant={**mu._definition(ms[1]), "new": "something else"})
    path.write_text(json.dumps({"runs": [], "results": {**rows, ms[1].id: stale, "gone": rows[ms[0].id]}}))
    assert sorted(mu.load_store(path, ms)["results"]) == sorted([ms[0].id, ms[2].id])


def test_list_runs_without_touching_anything(capsys):
    assert mu.main(["--list", "--backend", "torch"]) == 0
    out = capsys.readouterr().out
    assert "torch-math-log-sqrt-2pi" in out and "jax-math-log-sqrt-2pi" not in out


def test_snapshot_copies_the_work_tree(tmp_path):
    files = mu.source_files(ROOT)
    assert "parity/mutants.py" in files and not any(f.startswith(".venv/") for f in files)
    picked = [f for f in files if f.startswith("jax_impl/")]
    mu.copy_sources(ROOT, tmp_path, picked)
    assert (tmp_path / "jax_impl" / "math.py").read_text() == (ROOT / "jax_impl" / "math.py").read_text()
