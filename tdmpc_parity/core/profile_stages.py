"""The stages of a training iteration that `tdmpc-parity profile` times (tdmpc_parity/app/profile.py renders them;
torch_ref/profile.py and jax_impl/profile.py measure them): act = planning/acting, env = physics, buffer =
insert + sampling, update = gradient updates."""

from __future__ import annotations

STAGES = ("act", "env", "buffer", "update")
STAGE_WORDS = {"act": "planning/acting", "env": "env physics", "buffer": "replay insert + sample",
               "update": "gradient updates"}
