"""Every config key with its type, default and a one-line doc, for `tdmpc-parity keys` and the reference page.

The docs live beside the fields in `tdmpc_parity/core/config.py` (read with `tokenize`/`ast`): the comment lines
directly
above a field (section headers `# ---` excluded) and the comment at the end of its line, after the line of
`FALLBACK_DOCS` below where a field has one (the fields without a comment, and terse comments such as "agent
steps"). Derived fields (filled by `resolve_config`, never set) are marked as such.

    python -m tdmpc_parity.core.config_keys                       # the text table
    python -m tdmpc_parity.core.config_keys --markdown PATH       # the Markdown page docs/reference/config-keys.md
"""

from __future__ import annotations

import argparse
import ast
import difflib
import fnmatch
import inspect
import io
import shutil
import sys
import textwrap
import tokenize
import types
import typing
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from tdmpc_parity.core.config import DERIVED_FIELDS, GLASS_PRESETS, MODEL_SIZE, PROFILES, Config, GlassConfig

REFERENCE_PAGE = Path("docs") / "reference" / "config-keys.md"

# Docs of the fields that carry no comment in tdmpc_parity/core/config.py (the official TD-MPC2 keys keep the official
# config.yaml's names and defaults; their meaning is the official one).
FALLBACK_DOCS: dict[str, str] = {
    "task": "the task to train on (`tdmpc-parity tasks` lists them and the backends that run each)",
    "obs": "observation type; only \"state\" (proprioceptive state vectors) is supported",
    "episodic": "episodic (termination) training; not supported (DMC tasks never terminate), must stay false",
    "eval_freq": "evaluation period (also one at agent step 0, before training)",
    "eval_episodes": "episodes per evaluation (run side by side on separate eval envs)",
    "batch_size": "sub-trajectories per gradient update",
    "horizon": "planning and training horizon H (steps the latent dynamics are unrolled)",
    "consistency_coef": "weight of the latent consistency loss",
    "reward_coef": "weight of the reward loss (two-hot cross-entropy)",
    "value_coef": "weight of the value loss (two-hot cross-entropy per Q head)",
    "termination_coef": "weight of the termination loss (unused: no episodic tasks)",
    "rho": "temporal weight of the losses over the horizon: step t weighs rho^t",
    "lr": "Adam learning rate",
    "enc_lr_scale": "the encoder's learning rate is lr x enc_lr_scale",
    "grad_clip_norm": "gradients are clipped to this global norm",
    "tau": "Polyak rate of the target Q networks: target <- (1 - tau) target + tau online",
    "discount_denom": "discount heuristic: gamma = clip((L/denom - 1) / (L/denom), discount_min, discount_max)",
    "discount_min": "lower clip of the discount heuristic",
    "discount_max": "upper clip of the discount heuristic",
    "buffer_size": "replay buffer capacity in transitions (FIFO)",
    "seed": "random seed of the run (weights, envs, noise)",
    "mpc": "plan with MPPI (true) or act with the policy prior alone (false)",
    "iterations": "MPPI iterations per planning step (+2 for action spaces of 20 or more dimensions)",
    "num_samples": "MPPI action sequences sampled per iteration",
    "num_elites": "MPPI elite sequences (highest value) that update the mean and std",
    "num_pi_trajs": "of the samples, sequences proposed by the policy prior",
    "min_std": "lower bound of the MPPI std",
    "max_std": "upper bound (and initial value) of the MPPI std",
    "temperature": "MPPI softmax temperature over the elites' values",
    "log_std_min": "lower bound of the policy's log std",
    "log_std_max": "upper bound of the policy's log std",
    "entropy_coef": "weight of the policy's entropy bonus",
    "num_bins": "bins of the two-hot reward and value distributions",
    "vmin": "lowest bin of the two-hot distributions (symlog space)",
    "vmax": "highest bin of the two-hot distributions (symlog space)",
    "model_size": "model size preset in millions of parameters (1, 5, 19, 48, 317): fills the architecture keys "
                  "not given explicitly; none = the keys as given (the 5M model by default)",
    "num_enc_layers": "layers of the state encoder",
    "enc_dim": "hidden width of the state encoder",
    "num_channels": "channels of the pixel encoder (unused: state observations only)",
    "mlp_dim": "hidden width of the dynamics, reward, policy and Q networks",
    "latent_dim": "size of the latent state (a multiple of simnorm_dim)",
    "num_q": "Q heads of the ensemble (at least 2)",
    "dropout": "dropout rate of the Q networks' first layer",
    "simnorm_dim": "group size of the simplicial normalisation of the latent",
    "backend": "the framework that trains: torch (the reference) or jax",
    "device": "where the torch backend computes",
    "dtype": "dtype of the parameters and the computation",
    "seed_steps": "agent steps of the seed phase (uniform random actions, then the pretraining updates)",
    "episode_length": "agent steps per episode (every env runs fixed-length episodes)",
    "profile": "preset of harness settings (official | fast); set with --profile",
    "n_envs": "environments stepped side by side (one vector step = n_envs agent steps)",
    "policy_noise_anneal_env_steps": "env steps over which the `policy` collector's noise std goes from "
                                     "policy_noise_std to policy_noise_end (when that is set)",
    "action_repeat": "env (physics control) steps per agent step; rewards are summed over them",
    "preset": "Glass preset (off, phase0, phase1, phase1b, phase2): fills the glass.* keys not given explicitly; "
              "`glass=PRESET` and `--glass PRESET` set it",
    "enabled": "Glass on or off (set by the preset)",
    "lambda_se": "weight of the structural-entropy loss",
    "lambda_bal": "weight of the cluster-balance loss",
    "lambda_tmp": "weight of the temporal-consistency loss of the assignments",
    "t_proto": "temperature of the soft assignment of latents to prototypes",
    "t_assign": "temperature of the prototype-to-cluster assignment softmax",
    "num_prototypes": "learned prototypes in latent space",
    "num_clusters": "clusters the prototypes are assigned to",
    "every_k_updates": "Glass is computed on every k-th gradient update",
    "warmup_env_steps": "env steps before Glass becomes active",
    "stopgrad_graph": "stop gradients through the rollout latents of the transition graph (off in phase 2)",
    "assign_logits_init_scale": "std of the initial prototype-to-cluster logits (scale x N(0, 1))",
    "row_smoothing_eps": "added to every transition count before the rows are normalised",
    "log_eps": "epsilon inside the logarithms of the entropies",
    "lr_mult": "the Glass parameters' learning rate is lr x lr_mult",
    # derived (filled by resolve_config)
    "obs_dim": "observation size of the task",
    "action_dim": "action size of the task",
    "bin_size": "width of a two-hot bin: (vmax - vmin) / (num_bins - 1)",
    "discount": "discount of the task's episode length (discount heuristic)",
    "plan_iterations": "MPPI iterations used: iterations, +2 for action spaces of 20 or more dimensions",
    "updates_per_iteration": "gradient updates per vector step: updates_per_step x n_envs",
    "seed_iterations": "vector steps of the seed phase (whole episodes of every env)",
    "pretrain_updates": "updates at the end of the seed phase: seed_iterations x n_envs x updates_per_step",
    "buffer_capacity": "replay buffer capacity in transitions (buffer_size)",
}
DERIVED_NOTE = "derived (filled by resolve_config; cannot be set)"


@dataclass(frozen=True)
class KeyDoc:
    """One config key: its dotted name, type, default (as text), doc line, and whether it is derived."""

    name: str
    type: str
    default: str
    doc: str
    derived: bool = False


# ----------------------------------------------------------------------------------------------------------
# Reading the comments of the dataclass source
# ----------------------------------------------------------------------------------------------------------


def _comments(source: str) -> dict[int, str]:
    """Line number -> text of the comment on that line (without `#`), from the tokenizer (strings are skipped)."""
    out: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = tok.string[1:].strip()
    return out


def field_comments(cls: type) -> dict[str, str]:
    """Field name -> its doc from the class source: the comment lines directly above the field (not a `---`
    section header), then the comment at the end of its line, joined."""
    lines, _ = inspect.getsourcelines(cls)
    source = textwrap.dedent("".join(lines))
    comments = _comments(source)
    text_lines = source.splitlines()
    tree = ast.parse(source)
    body = tree.body[0].body  # type: ignore[attr-defined]
    out: dict[str, str] = {}
    for node in body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        line = node.lineno
        above: list[str] = []
        i = line - 1
        while i >= 1 and text_lines[i - 1].strip().startswith("#") and not comments.get(i, "").startswith("---"):
            above.insert(0, comments.get(i, ""))
            i -= 1
        parts = [" ".join(above).rstrip(".")] if above else []
        if line in comments and not text_lines[line - 1].strip().startswith("#"):
            parts.append(comments[line])
        if parts:
            out[node.target.id] = "; ".join(p for p in parts if p)
    return out


# ----------------------------------------------------------------------------------------------------------
# The keys
# ----------------------------------------------------------------------------------------------------------


def type_text(tp: Any) -> str:
    """`int`, `float | None`, ... as written in the dataclass."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " | ".join(type_text(a) for a in typing.get_args(tp))
    return "None" if tp is type(None) else getattr(tp, "__name__", str(tp))


def default_text(value: Any) -> str:
    """A default as one would type it in `key=value` (None as `none`, bools lowercase)."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _rows(cls: type, prefix: str, comments: dict[str, str]) -> list[KeyDoc]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        if f.name == "glass" and prefix == "":  # the GlassConfig group: its keys follow as glass.*
            continue
        derived = prefix == "" and f.name in DERIVED_FIELDS
        doc = "; ".join(d for d in (FALLBACK_DOCS.get(f.name), comments.get(f.name)) if d)
        default = f.default if f.default is not MISSING else None
        out.append(KeyDoc(prefix + f.name, type_text(hints[f.name]), "derived" if derived else default_text(default),
                          f"{DERIVED_NOTE}: {doc}" if derived and doc else doc, derived))
    return out


def all_keys() -> list[KeyDoc]:
    """Every key of Config (in declaration order, the derived ones last) and then every glass.* key."""
    top = _rows(Config, "", field_comments(Config))
    top = [k for k in top if not k.derived] + [k for k in top if k.derived]
    return top + _rows(GlassConfig, "glass.", field_comments(GlassConfig))


def match_keys(keys: list[KeyDoc], pattern: str | None) -> list[KeyDoc]:
    """The keys whose name holds `pattern` (case-insensitive), or matches it as a glob when it has * ? or [."""
    if not pattern:
        return keys
    pat = pattern.lower()
    if any(c in pat for c in "*?["):
        return [k for k in keys if fnmatch.fnmatchcase(k.name.lower(), pat)]
    return [k for k in keys if pat in k.name.lower()]


def suggest(name: str, keys: list[str] | None = None) -> list[str]:
    """Up to three key names close to `name` (difflib), e.g. `horizon` for `horizn`."""
    names = keys if keys is not None else [k.name for k in all_keys()]
    return difflib.get_close_matches(name, names, n=3, cutoff=0.6)


# ----------------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------------


def render_text(keys: list[KeyDoc], width: int | None = None) -> str:
    """An aligned table: key, type, default, then the doc wrapped to the terminal width."""
    width = width or shutil.get_terminal_size((120, 24)).columns
    head = ("key", "type", "default")
    cols = [max(len(h), *(len(getattr(k, a)) for k in keys)) for h, a in zip(head, ("name", "type", "default"),
                                                                               strict=True)]
    cols = [min(c, 36) for c in cols]
    indent = sum(cols) + 6
    doc_width = max(30, width - indent)
    lines = [f"{head[0]:<{cols[0]}}  {head[1]:<{cols[1]}}  {head[2]:<{cols[2]}}  doc"]
    for k in keys:
        doc = textwrap.wrap(k.doc, doc_width) or [""]
        left = f"{k.name:<{cols[0]}}  {k.type:<{cols[1]}}  {k.default:<{cols[2]}}  "
        if len(left) > indent:  # a long default: the doc starts on the next line
            lines.append(left.rstrip())
            left = " " * indent
        lines.append(left + doc[0])
        lines += [" " * indent + rest for rest in doc[1:]]
    return "\n".join(lines)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(keys: list[KeyDoc]) -> str:
    """The reference page: how values are set, the presets, then one table row per key."""
    profiles = "; ".join(f"`{n}`: " + ", ".join(f"{k}={default_text(v)}" for k, v in kw.items())
                         for n, kw in PROFILES.items())
    sizes = "; ".join(f"{n}: " + ", ".join(f"{k}={v}" for k, v in kw.items()) for n, kw in MODEL_SIZE.items())
    out = [
        "# Config keys",
        "",
        "<!-- Generated by `python -m tdmpc_parity.core.config_keys --markdown docs/reference/config-keys.md`; "
        "do not edit. -->",
        "",
        "Every key of the one config both backends read (`tdmpc_parity/core/config.py`). Set them as `key=value` "
        "after a "
        "subcommand (`tdmpc-parity train --task cartpole-swingup model_size=1 steps=20000`), in a YAML file given "
        "with `--config` (or a shipped one by name: `--config tiny`), or in a sweep file; `tdmpc-parity keys "
        "[PATTERN]` prints this table. Loading order: "
        "defaults, then the profile, then the YAML file, then `key=value` overrides; then `model_size` fills the "
        "architecture keys not given explicitly, and the Glass preset the `glass.*` keys not given explicitly. "
        "Derived keys are computed by `resolve_config` and cannot be set.",
        "",
        f"Profiles (`--profile`): {profiles}. The defaults below are the `official` profile's.",
        "",
        f"Model sizes (`model_size`): {sizes}.",
        "",
        f"Glass presets (`--glass` or `glass=`): {', '.join(GLASS_PRESETS)}.",
        "",
        "| key | type | default | doc |",
        "|---|---|---|---|",
    ]
    out += [f"| `{k.name}` | {_md_cell(k.type)} | `{_md_cell(k.default)}` | {_md_cell(k.doc)} |" for k in keys]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tdmpc_parity.core.config_keys",
                                     description=__doc__.splitlines()[0],
                                     allow_abbrev=False)
    parser.add_argument("pattern", nargs="?", default=None, help="substring or glob of the key names")
    parser.add_argument("--markdown", default=None, metavar="PATH", help="write the Markdown reference page")
    args = parser.parse_args(argv)
    keys = match_keys(all_keys(), args.pattern)
    if args.markdown:
        path = Path(args.markdown)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_markdown(keys))
        print(f"written: {path}")
        return 0
    print(render_text(keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
