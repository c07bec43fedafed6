"""Replay buffer: the same episodes and the same sampled indices give the same batches in both backends."""

from __future__ import annotations

import numpy as np
import torch

from jax_impl.buffer import Buffer as JBuffer
from parity.helpers import compare
from tdmpc_parity.core.config import load_config
from torch_ref.buffer import Buffer as TBuffer


def test_buffer_sampling_matches_and_respects_episodes():
    # 2 slots per env with 3 envs, so the ring wraps; episode length 6, horizon 3
    cfg = load_config(overrides=["task=cartpole-balance", "episode_length=6", "buffer_size=36", "steps=36",
                                 "batch_size=64", "n_envs=3"])
    E, L = 3, cfg.episode_length
    rng = np.random.default_rng(0)
    tb, jbuf = TBuffer(cfg, E, torch.device("cpu"), torch.float32), JBuffer(cfg, E, np.float32)
    js = jbuf.init()
    assert tb.slots == 2
    for ep in range(5):  # 5 episodes: the ring holds the last 2 completed + the one being written
        obs0 = rng.standard_normal((E, cfg.obs_dim)).astype(np.float32)
        tb.add_reset(torch.as_tensor(obs0))
        js = jbuf.add_reset(js, obs0)
        for t in range(L):
            o = (rng.standard_normal((E, cfg.obs_dim)) + 100 * ep).astype(np.float32)
            a = rng.uniform(-1, 1, (E, cfg.action_dim)).astype(np.float32)
            r = np.full((E,), 10.0 * ep + t, np.float32)
            tb.add(torch.as_tensor(o), torch.as_tensor(a), torch.as_tensor(r))
            js = jbuf.add(js, o, a, r)
    episode = rng.integers(0, tb.num_episodes, 64)
    start = rng.integers(0, L - cfg.horizon + 1, 64)
    t_out = tb.sample_core(torch.as_tensor(episode), torch.as_tensor(start))
    j_out = jbuf.sample_core(js, np.asarray(episode, np.int32), np.asarray(start, np.int32))
    compare(t_out, j_out, "buffer/sample_core", "float32", rtol=0, atol=0)
    obs, action, reward = (x.numpy() for x in t_out)
    assert tb.num_episodes == 6 and int(jbuf.num_episodes(js)) == 6
    assert not np.isnan(action).any() and not np.isnan(reward).any()  # never the reset row's NaN
    # only the two newest completed episodes (3 and 4) are sampled; rewards encode (episode, step)
    assert set(np.unique(reward[0, :, 0] // 10).astype(int)) == {3, 4}
    # rewards of one sample are consecutive steps of one episode: r_t = a_t's reward, start..start+H-1
    np.testing.assert_array_equal(reward[:, :, 0] % 10, (start[None, :] + np.arange(cfg.horizon)[:, None]))
