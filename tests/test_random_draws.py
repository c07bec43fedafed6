"""The random draws of both backends follow the spec of tdmpc_parity/core/noise.py: every noise kind, the Q-head pair,
the dropout keep-masks, the replay buffers' episode and start draws, and the actions of the seed phase and the
collectors as the training code draws them.

Parity feeds both backends the same noise, so it cannot see a wrong distribution in the random wrappers; these
tests can. Each is seeded (deterministic) and uses a sample size at which a wrong distribution fails with near
certainty: a goodness-of-fit p-value below ALPHA fails, and the moments must lie within 6 standard errors.
"""

from __future__ import annotations

import functools
import itertools
from types import SimpleNamespace
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from scipy import stats

from jax_impl import noise as jnoise
from tdmpc_parity.core.config import Config, load_config
from tdmpc_parity.core.noise import NoiseSpec, buffer_noise, planner_noise
from tdmpc_parity.core.schedule import Schedule
from torch_ref import noise as tnoise

ALPHA = 1e-4  # goodness-of-fit p-values below this fail (the seeded draws of a correct wrapper sit far above it)
N = 100_000  # values per continuous noise kind
BACKENDS = ("torch", "jax")
PAIRS_5 = list(itertools.combinations(range(5), 2))  # the 10 unordered pairs of 5 heads


def config(*overrides: str) -> Config:
    return load_config(overrides=["task=cartpole-balance", "enc_dim=16", "mlp_dim=16", "latent_dim=16", "num_q=5",
                                  *overrides])


def draw(backend: str, specs: dict[str, NoiseSpec], cfg: Config, seed: int = 0) -> dict[str, np.ndarray]:
    """The backend's random wrapper (torch_ref/noise.py or jax_impl/noise.py), as NumPy."""
    if backend == "torch":
        g = torch.Generator().manual_seed(seed)
        return {k: v.numpy() for k, v in tnoise.draw(specs, g, cfg, torch.device("cpu"), torch.float32).items()}
    return {k: np.asarray(v) for k, v in jnoise.draw(specs, jax.random.PRNGKey(seed), cfg, jnp.float32).items()}


def assert_moments(x: np.ndarray, mean: float, var: float, what: str) -> None:
    """Sample mean and variance within 6 standard errors (the 4th moment from the sample)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    n = x.size
    se_mean = np.sqrt(var / n)
    se_var = np.sqrt(max(np.mean((x - mean) ** 4) - var**2, 1e-12) / n)
    assert abs(x.mean() - mean) < 6 * se_mean, f"{what}: mean {x.mean():.5f}, expected {mean:.5f}"
    assert abs(x.var() - var) < 6 * se_var, f"{what}: variance {x.var():.5f}, expected {var:.5f}"


def assert_fits(x: np.ndarray, dist: stats.rv_continuous, what: str) -> None:
    res = stats.kstest(np.asarray(x, dtype=np.float64).ravel(), dist.cdf)
    assert res.pvalue > ALPHA, f"{what}: KS statistic {res.statistic:.4f}, p = {res.pvalue:.3g}"


def assert_uniform_counts(counts: np.ndarray, what: str) -> None:
    """Chi-squared goodness of fit of the counts against equal frequencies."""
    counts = np.asarray(counts, dtype=np.float64)
    assert counts.min() > 0, f"{what}: a category never drawn: {counts.tolist()}"
    res = stats.chisquare(counts)
    assert res.pvalue > ALPHA, f"{what}: chi-squared {res.statistic:.1f}, p = {res.pvalue:.3g}, counts {counts}"


def pair_counts(pairs: np.ndarray, num_q: int = 5) -> np.ndarray:
    """Counts of the unordered pairs {i, j} (PAIRS_5 order) of (n, 2) head indices."""
    lo, hi = pairs.min(1), pairs.max(1)
    index = {p: i for i, p in enumerate(itertools.combinations(range(num_q), 2))}
    return np.bincount([index[(int(a), int(b))] for a, b in zip(lo, hi, strict=True)], minlength=len(index))


# ----------------------------------------------------------------------------------------------------------
# The noise kinds of the random wrappers
# ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_continuous_kinds_follow_their_distributions(backend):
    cfg = config()
    x = draw(backend, {"normal": NoiseSpec((N,), "normal"), "gumbel": NoiseSpec((N,), "gumbel"),
                       "uniform": NoiseSpec((N,), "uniform")}, cfg)
    # normal = N(0, 1)
    assert_moments(x["normal"], 0.0, 1.0, f"{backend} normal")
    assert_fits(x["normal"], stats.norm(), f"{backend} normal")
    # gumbel = -log(Exp(1)): the standard Gumbel of maxima, mean = Euler's gamma, variance pi^2 / 6
    assert_moments(x["gumbel"], float(np.euler_gamma), np.pi**2 / 6, f"{backend} gumbel")
    assert_fits(x["gumbel"], stats.gumbel_r(), f"{backend} gumbel")
    # uniform = U[-1, 1]: mean 0, variance 1/3
    u = x["uniform"]
    assert u.min() >= -1.0 and u.max() <= 1.0
    assert_moments(u, 0.0, 1.0 / 3.0, f"{backend} uniform")
    assert_fits(u, stats.uniform(-1.0, 2.0), f"{backend} uniform")
    # the three arrays are independent draws (not one stream reused)
    assert abs(np.corrcoef(x["normal"], u)[0, 1]) < 6 / np.sqrt(N)


@pytest.mark.parametrize("backend", BACKENDS)
def test_index_kind_is_uniform_on_its_range(backend):
    d = draw(backend, {"i": NoiseSpec((60_000,), "index:7"), "j": NoiseSpec((100,), "index:1")}, config())
    x = d["i"]
    assert (d["j"] == 0).all()  # index:1 has one value
    assert x.min() == 0 and x.max() == 6
    assert_uniform_counts(np.bincount(x, minlength=7), f"{backend} index:7")


@pytest.mark.parametrize("backend", BACKENDS)
def test_q_pair_is_uniform_over_the_ten_pairs_never_one_head_twice(backend):
    n = 20_000
    pairs = draw(backend, {"p": NoiseSpec((n // 4, 4, 2), "pair")}, config("num_q=5"))["p"].reshape(n, 2)
    assert pairs.min() >= 0 and pairs.max() <= 4
    assert (pairs[:, 0] != pairs[:, 1]).all(), "a pair with the same head twice"
    assert_uniform_counts(pair_counts(pairs), f"{backend} unordered pairs")
    # ordered as randperm(num_q)[:2]: each of the 20 ordered pairs equally likely
    assert_uniform_counts(np.bincount(pairs[:, 0] * 5 + pairs[:, 1], minlength=25)[
        [i * 5 + j for i in range(5) for j in range(5) if i != j]], f"{backend} ordered pairs")
    # the spec's single pair (shape (2,)) of the update noise: distinct heads too
    one = draw(backend, {"p": NoiseSpec((2,), "pair")}, config("num_q=5"))["p"]
    assert one.shape == (2,) and one[0] != one[1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_keep_masks_drop_at_the_rate_independently_per_head(backend):
    p = 0.3
    cfg = config(f"dropout={p}")
    Q, M = 5, 4_000
    keep = draw(backend, {"k": NoiseSpec((Q, 2, 4, M), "keep")}, cfg)["k"].reshape(Q, -1)
    assert set(np.unique(keep).tolist()) == {0.0, 1.0}
    n = keep.size
    kept = int(keep.sum())
    assert stats.binomtest(kept, n, 1 - p).pvalue > ALPHA, f"{backend} keep rate {kept / n:.4f}, expected {1 - p}"
    for h in range(Q):  # every head at the rate on its own
        assert stats.binomtest(int(keep[h].sum()), keep.shape[1], 1 - p).pvalue > ALPHA, f"{backend} head {h}"
    for a, b in itertools.combinations(range(Q), 2):  # heads independent: 2x2 contingency table of (kept, kept)
        table = np.array([[np.sum((keep[a] == i) & (keep[b] == j)) for j in (0, 1)] for i in (0, 1)])
        res = stats.chi2_contingency(table, correction=False)
        assert res.pvalue > ALPHA, f"{backend} heads {a} and {b} not independent: {table.tolist()}"


def test_torch_pair_draw_matches_the_permutation_draw():
    """The vectorised pair draw has the distribution of the per-pair `torch.randperm(num_q)[:2]` it replaced
    (chi-squared homogeneity of the 20 ordered pair frequencies)."""
    n, num_q = 20_000, 5
    g = torch.Generator().manual_seed(1)
    old = torch.stack([torch.randperm(num_q, generator=g)[:2] for _ in range(n)]).numpy()
    new = draw("torch", {"p": NoiseSpec((n, 2), "pair")}, config("num_q=5"), seed=2)["p"]
    ordered = [i * 5 + j for i in range(5) for j in range(5) if i != j]
    table = np.stack([np.bincount(x[:, 0] * 5 + x[:, 1], minlength=25)[ordered] for x in (old, new)])
    res = stats.chi2_contingency(table, correction=False)
    assert res.pvalue > ALPHA, f"pair frequencies differ: p = {res.pvalue:.3g}\n{table}"


# ----------------------------------------------------------------------------------------------------------
# The replay buffers' episode and start draws
# ----------------------------------------------------------------------------------------------------------

E, L, H = 2, 8, 3  # envs, episode length, horizon: starts 0..L-H (6 of them)


def buffer_config() -> Config:
    # 3 slots per env (capacity 48 transitions / (8 x 2)); one sample = 6,000 draws
    return config(f"episode_length={L}", f"horizon={H}", "buffer_size=48", "steps=48", "batch_size=6000",
                  f"n_envs={E}")


def fill(cfg: Config, add_reset, add, episodes: int, partial: int) -> None:
    """`episodes` completed episodes then `partial` rows of the next; obs = 1000 * (episode + 1) + 100 * env + row,
    so a sampled obs names its episode, env and row."""

    def obs(ep: int, t: int) -> np.ndarray:
        return np.repeat(1000.0 * (ep + 1) + 100.0 * np.arange(E)[:, None] + t, cfg.obs_dim, 1).astype(np.float32)

    for ep in range(episodes + 1):
        add_reset(obs(ep, 0))
        for t in range(1, L + 1 if ep < episodes else partial + 1):
            add(obs(ep, t), np.zeros((E, cfg.action_dim), np.float32), np.zeros(E, np.float32))


@functools.cache
def _jax_buffer():
    """The JAX buffer of `buffer_config` and its add_reset, add and sample, jitted (as in training) once."""
    from jax_impl.buffer import Buffer

    jbuf = Buffer(buffer_config(), E, jnp.float32)
    return jbuf, jax.jit(jbuf.add_reset), jax.jit(jbuf.add), jax.jit(jbuf.sample)


def sampled(backend: str, episodes: int, partial: int, seed: int) -> np.ndarray:
    """obs[0] (first coordinate) of one sample of the backend's buffer after `fill`."""
    cfg = buffer_config()
    if backend == "torch":
        from torch_ref.buffer import Buffer

        buf = Buffer(cfg, E, torch.device("cpu"), torch.float32)
        fill(cfg, lambda o: buf.add_reset(torch.as_tensor(o)),
             lambda o, a, r: buf.add(torch.as_tensor(o), torch.as_tensor(a), torch.as_tensor(r)), episodes, partial)
        obs, _, _ = buf.sample(torch.Generator().manual_seed(seed))
        return obs[0, :, 0].numpy()
    jbuf, jit_reset, jit_add, jit_sample = _jax_buffer()
    box = [jbuf.init()]

    def add_reset(o):
        box[0] = jit_reset(box[0], o)

    def add(o, a, r):
        box[0] = jit_add(box[0], o, a, r)

    fill(cfg, add_reset, add, episodes, partial)
    obs, _, _ = jit_sample(box[0], jax.random.PRNGKey(seed))
    return np.asarray(obs[0, :, 0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("episodes", [2, 5])  # 2: fewer than the 3 slots; 5: the ring has wrapped
def test_buffer_draws_every_stored_episode_and_start_uniformly(backend, episodes):
    obs0 = sampled(backend, episodes, partial=4, seed=episodes)
    ep, env, row = (obs0 // 1000).astype(int) - 1, (obs0 % 1000 // 100).astype(int), (obs0 % 100).astype(int)
    stored = list(range(max(0, episodes - 3), episodes))  # the 3 slots keep the newest completed episodes
    assert set(ep.tolist()) <= set(stored), f"{backend}: sampled episodes {sorted(set(ep.tolist()))}, stored {stored}"
    assert episodes not in ep, f"{backend}: sampled the episode being written"
    counts = np.array([[np.sum((ep == s) & (env == e)) for e in range(E)] for s in stored]).ravel()
    assert_uniform_counts(counts, f"{backend} episodes (newest last) x envs")
    assert row.min() == 0 and row.max() == L - H, f"{backend}: starts {row.min()}..{row.max()}, admissible 0..{L - H}"
    assert_uniform_counts(np.bincount(row, minlength=L - H + 1), f"{backend} starts")
    # episode and start independent
    table = np.array([[np.sum((ep == s) & (row == r)) for r in range(L - H + 1)] for s in stored])
    assert stats.chi2_contingency(table).pvalue > ALPHA


def test_buffer_start_spec_covers_every_admissible_start():
    cfg = buffer_config()
    assert buffer_noise(cfg, 6)["start"].kind == f"index:{L - H + 1}"


# ----------------------------------------------------------------------------------------------------------
# The actions of a run: the seed phase's uniform actions and the collectors' noise, on the training code path
# ----------------------------------------------------------------------------------------------------------

E_ACT = 4096  # envs of one vector step (one draw gives E_ACT x action_dim values)
SMALL_PLANNER = ("num_samples=32", "num_pi_trajs=4", "num_elites=4", "iterations=2")


def test_torch_seed_phase_actions_are_uniform():
    from torch_ref.agent import TDMPC2
    from torch_ref.train import Trainer

    cfg = config(f"n_envs={E_ACT}", "seed_steps=8192")
    trainer = Trainer.__new__(Trainer)  # only the pieces `_act` reads (no env, no run folder)
    trainer.cfg, trainer.sched, trainer.agent, trainer.iteration = cfg, Schedule(cfg), TDMPC2(cfg, n_envs=1), 0
    assert trainer.sched.random_actions(0) and trainer.sched.random_actions(1)
    first = trainer._act(np.zeros((E_ACT, cfg.obs_dim), np.float32)).numpy()
    trainer.iteration = 1
    second = trainer._act(np.zeros((E_ACT, cfg.obs_dim), np.float32)).numpy()
    assert first.shape == (E_ACT, cfg.action_dim)
    a = np.concatenate([first, second]).ravel()
    assert a.min() >= -1 and a.max() <= 1
    assert_moments(a, 0.0, 1.0 / 3.0, "torch seed actions")
    assert_fits(a, stats.uniform(-1.0, 2.0), "torch seed actions")
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 6 / np.sqrt(first.size)


class _FakeEnvState(NamedTuple):
    obs: jax.Array


def test_jax_seed_phase_actions_are_uniform():
    from jax_impl.buffer import Buffer
    from jax_impl.train import Programs, TrainState

    cfg = config(f"n_envs={E_ACT}", "seed_steps=8192", "episode_length=4", "buffer_size=16384")

    def step_batch(env, action, reset=None):  # the env of `Programs.iteration`, without physics
        n = action.shape[0]
        return env, SimpleNamespace(next_obs=jnp.zeros((n, cfg.obs_dim)), reward=jnp.zeros(n),
                                    done=jnp.zeros(n, bool))

    progs = Programs.__new__(Programs)  # the real `iteration`, with a stand-in env (no MJX model)
    progs.cfg, progs.layout, progs.dtype = cfg, None, jnp.float32
    progs.env, progs.buffer = SimpleNamespace(step_batch=step_batch), Buffer(cfg, E_ACT, jnp.float32)
    ts = TrainState(None, _FakeEnvState(jnp.zeros((E_ACT, cfg.obs_dim))), progs.buffer.init(), jax.random.PRNGKey(3),
                    jnp.zeros((), jnp.int32))
    step = jax.jit(lambda ts: progs.iteration(ts, random=True, end=False)[0])
    ts = step(step(ts))
    stored = np.asarray(ts.buffer.action[0])  # (E, L + 1, A): row t = the action of step t
    first, second = stored[:, 1], stored[:, 2]
    assert first.shape == (E_ACT, cfg.action_dim) and int(ts.iteration) == 2
    a = np.concatenate([first, second]).ravel()
    assert a.min() >= -1 and a.max() <= 1
    assert_moments(a, 0.0, 1.0 / 3.0, "jax seed actions")
    assert_fits(a, stats.uniform(-1.0, 2.0), "jax seed actions")
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 6 / np.sqrt(first.size)


def acted_noise(backend: str, collector: str, monkeypatch, calls: int = 2) -> list[dict[str, np.ndarray]]:
    """The noise `agent.act` (training mode) hands its collector core in `calls` successive calls for E_ACT envs.

    The cores (`policy_act`, `plan`: parity-tested on given noise) are replaced by recorders; everything before
    them, the key or generator handling and the draw, is the agent's own code."""
    cfg = config(*SMALL_PLANNER, f"collector={collector}", f"n_envs={E_ACT}")
    record: list = []
    H, A = cfg.horizon, cfg.action_dim
    obs = np.zeros((E_ACT, cfg.obs_dim), np.float32)
    if backend == "torch":
        import torch_ref.agent as tagent

        def policy_act(model, obs, noise_std, noise):
            record.append({"action_noise": noise.numpy()})
            return torch.zeros(E_ACT, A)

        def plan(model, cfg, obs, prev_mean, t0, noise, eval_mode):
            record.append({k: v.numpy() for k, v in noise.items()})
            return SimpleNamespace(mean=torch.zeros(E_ACT, H, A), action=torch.zeros(E_ACT, A))

        monkeypatch.setattr(tagent, "policy_act", policy_act)
        monkeypatch.setattr(tagent, "plan", plan)
        agent = tagent.TDMPC2(cfg, n_envs=E_ACT)
        for _ in range(calls):
            agent.act(torch.as_tensor(obs), torch.ones(E_ACT, dtype=torch.bool), env_step=0)
        return record
    import jax_impl.agent as jagent

    def jpolicy_act(model, params, obs, noise_std, noise):
        record.append({"action_noise": np.asarray(noise)})
        return jnp.zeros((E_ACT, A))

    def jplan(model, params, cfg, obs, prev_mean, t0, noise, eval_mode):
        record.append({k: np.asarray(v) for k, v in noise.items()})
        return SimpleNamespace(mean=jnp.zeros((E_ACT, H, A)), action=jnp.zeros((E_ACT, A)))

    monkeypatch.setattr(jagent, "policy_act", jpolicy_act)
    monkeypatch.setattr(jagent, "plan", jplan)
    agent = jagent.TDMPC2(cfg, n_envs=E_ACT)
    # only the key and the warm start are read on this path (no parameters: the core is a recorder)
    state = jagent.AgentState(None, None, (), None, None, jnp.zeros((E_ACT, H, A)), jax.random.PRNGKey(0), None)
    for _ in range(calls):
        state, _ = agent.act(state, jnp.asarray(obs), jnp.ones(E_ACT, bool), env_step=0)
    return record


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("collector", ["policy", "mppi"])
def test_collector_action_noise_is_standard_normal_and_fresh_each_step(backend, collector, monkeypatch):
    first, second = acted_noise(backend, collector, monkeypatch)
    cfg = config(*SMALL_PLANNER, f"n_envs={E_ACT}")
    expected = ({"action_noise"} if collector == "policy" else set(planner_noise(cfg, E_ACT)))
    assert set(first) == expected
    noise = [d["action_noise"] for d in (first, second)]
    assert noise[0].shape == (E_ACT, cfg.action_dim)
    x = np.concatenate(noise).ravel()
    assert_moments(x, 0.0, 1.0, f"{backend} {collector} action noise")
    assert_fits(x, stats.norm(), f"{backend} {collector} action noise")
    assert abs(np.corrcoef(noise[0].ravel(), noise[1].ravel())[0, 1]) < 6 / np.sqrt(noise[0].size), \
        "the same action noise in two successive steps"
    if collector == "mppi":  # the planner's other draws, as one act draws them
        g = np.concatenate([d["gumbel"].ravel() for d in (first, second)])
        assert_fits(g, stats.gumbel_r(), f"{backend} planner gumbel")
        pairs = np.concatenate([d["value_q_pair"].reshape(-1, 2) for d in (first, second)])
        assert (pairs[:, 0] != pairs[:, 1]).all()
        assert_uniform_counts(pair_counts(pairs), f"{backend} planner Q pairs")
