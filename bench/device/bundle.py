"""Build the device bundle: the wheels a GPU machine lacks, stripped of what this project never loads.

    python -m bench.device.bundle [--out .device_bundle] [--python-version 3.12]

The GPU machine has torch, JAX, flax, optax, orbax, numpy, scipy, pytest and
pytest-benchmark, but not MuJoCo, MJX, Playground, dm_control or gymnasium, and it cannot reach a package
index. Everything it lacks travels inside the working tree, and one device command carries at most 64 MiB.
This command (which needs the package index) downloads the wheels for the device's Python and platform,
removes the files the project never opens (dm_control's locomotion and dog assets, Playground's robot
meshes, MuJoCo's studio GUI, MJX's test data, ...), repacks each wheel with a consistent RECORD, and writes

    OUT/wheels/*.whl      installable offline: pip install --no-index --no-deps --target DIR OUT/wheels/*.whl
    OUT/manifest.json     versions, sizes before/after, what was stripped, target Python and platform

printing the total size and the contents. Versions: the exact versions CI tests (`.ci/constraints.txt`, else
pyproject.toml's `==` pins) for mujoco, mujoco-mjx, playground, dm_control and gymnasium, `SUPPORT_PINS` below
for the small dependencies those pull in, and the test runner (`TEST_STACK`) as installed here.
"""

from __future__ import annotations

import argparse
import base64
import fnmatch
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / ".device_bundle"
CARRY_LIMIT_BYTES = 64 * 2**20  # one device command carries at most 64 MiB (tree + carried paths)
TREE_RESERVE_BYTES = 4 * 2**20  # room kept for the tracked working tree (about 1 MB today)

# What the device image has preinstalled; the bundle never carries these (except the TEST_STACK).
DEVICE_PREINSTALLED = (
    "jax", "jaxlib", "torch", "flax", "optax", "orbax-checkpoint", "chex", "numpy", "scipy", "pytest",
    "pytest-benchmark", "pytest-timeout", "tqdm", "matplotlib", "imageio", "opencv-python-headless",
    "ml-dtypes", "etils", "absl-py", "lxml", "networkx", "tensorboard", "pyyaml", "pip",
)

# Taken with the exact version pyproject.toml pins for them.
PYPROJECT_PACKAGES = ("mujoco", "mujoco-mjx", "playground", "dm_control", "gymnasium")

# The test runner the benchmarks run under, carried although the device has a pytest and a pytest-benchmark of
# its own: their versions there are unknown (pytest-benchmark <= 5.2 does not run on pytest 9, and writes its
# JSON through another API), so the device run uses these, at the versions installed where the bundle is built
# (the versions CI tests), and starts pytest with plugin autoloading off (bench/device/run.py).
TEST_STACK = ("pytest", "pluggy", "iniconfig", "pytest-benchmark", "py-cpuinfo2")

# What those import that the device lacks (found by importing every project module in a device-like
# environment: tests/test_device_run.py), at the versions installed beside them on the CPU machines.
SUPPORT_PINS = {
    "brax": "0.14.2",  # mujoco_playground imports brax's env base classes
    "ml-collections": "1.1.0",  # Playground's env configs
    "jaxopt": "0.8.5",  # imported by brax
    "trimesh": "5.2.0",  # imported by mujoco_playground
    "dm-env": "1.6",  # dm_control's environment API
    "dm-tree": "0.1.10",  # dm_env / dm_control nests (compiled)
    "cloudpickle": "3.1.3",  # gymnasium
    "farama-notifications": "0.0.6",  # gymnasium
    "safetensors": "0.8.0",  # tdmpc_parity/core/weights.py (.safetensors weight files; compiled)
}


@dataclass(frozen=True)
class StripRule:
    """Remove files of distribution `dist` whose wheel path matches `pattern` (fnmatch), keeping `.py` files
    when `keep_python` (modules that are imported even though their assets are never read)."""

    dist: str
    pattern: str
    why: str
    keep_python: bool = False


STRIP_RULES = (
    StripRule("dm_control", "dm_control/locomotion/*", "locomotion walkers, soccer, arenas: never loaded",
              keep_python=True),
    StripRule("dm_control", "dm_control/suite/dog_assets/*", "dog meshes: dog is torch-only, not run here"),
    StripRule("dm_control", "dm_control/mujoco/testing/*", "dm_control's own test assets"),
    StripRule("dm_control", "dm_control/mjcf/test_assets/*", "dm_control's own test assets"),
    StripRule("dm_control", "dm_control/blender/*", "Blender exporter"),
    StripRule("dm_control", "dm_control/third_party/*", "Kinova arm assets (manipulation)", keep_python=True),
    StripRule("dm_control", "dm_control/*_test.py", "dm_control's unit tests"),
    StripRule("mujoco", "mujoco/experimental/*", "MuJoCo Studio GUI, dear_imgui, implot"),
    StripRule("mujoco", "mujoco/include/*", "C headers"),
    StripRule("mujoco-mjx", "mujoco/mjx/test_data/*", "MJX test models"),
    StripRule("mujoco-mjx", "mujoco/mjx/integration_test/*", "MJX integration tests"),
    StripRule("mujoco-mjx", "mujoco/mjx/*_test.py", "MJX unit tests"),
    StripRule("playground", "mujoco_playground/_src/locomotion/*", "robot meshes: no locomotion task here",
              keep_python=True),
    StripRule("playground", "mujoco_playground/_src/manipulation/*", "robot meshes: no manipulation task here",
              keep_python=True),
    StripRule("playground", "learning/*", "Playground's training scripts and notebooks"),
    StripRule("playground", "mujoco_playground/*_test.py", "Playground's unit tests"),
)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_pins(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, str]:
    """`name -> version` of every `name==version` requirement in pyproject.toml (all extras)."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs.extend(extra)
    pins = {}
    for req in reqs:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([A-Za-z0-9_.+\-]+)\s*", req)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def constraint_pins(path: Path = ROOT / ".ci" / "constraints.txt") -> dict[str, str]:
    """`name -> version` of every `name==version` line of a pip constraints file (comments ignored)."""
    pins = {}
    if path.exists():
        for line in path.read_text().splitlines():
            m = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*==\s*([A-Za-z0-9_.+\-]+)\s*(#.*)?", line)
            if m:
                pins[_norm(m.group(1))] = m.group(2)
    return pins


def pinned_versions() -> dict[str, str]:
    """The exact versions CI tests: pyproject.toml's `==` requirements, overridden by .ci/constraints.txt."""
    return {**pyproject_pins(), **constraint_pins()}


def test_stack_requirements() -> list[str]:
    """`TEST_STACK` at the versions installed in this environment (ValueError naming one that is missing)."""
    import importlib.metadata as md

    reqs = []
    for name in TEST_STACK:
        try:
            reqs.append(f"{name}=={md.version(name)}")
        except md.PackageNotFoundError:
            raise ValueError(f"{name} is not installed here; the bundle carries the test runner CI uses: "
                             "pip install -e '.[test]'") from None
    return reqs


def bundle_requirements() -> list[str]:
    """The `name==version` list of the bundle (tested pins + SUPPORT_PINS + TEST_STACK), in a stable order."""
    pins = pinned_versions()
    missing = [p for p in PYPROJECT_PACKAGES if _norm(p) not in pins]
    if missing:
        raise ValueError(f"neither pyproject.toml nor .ci/constraints.txt pins an exact version of "
                         f"{', '.join(missing)} (needed by the bundle)")
    reqs = [f"{p}=={pins[_norm(p)]}" for p in PYPROJECT_PACKAGES]
    reqs += [f"{name}=={version}" for name, version in SUPPORT_PINS.items()]
    clash = sorted({_norm(r.split('==')[0]) for r in reqs} & {_norm(n) for n in DEVICE_PREINSTALLED})
    if clash:
        raise ValueError(f"the bundle would carry packages the device already has: {', '.join(clash)}")
    return reqs + test_stack_requirements()


def _platform_args(python_version: str) -> list[str]:
    abi = "cp" + python_version.replace(".", "")
    args = ["--python-version", python_version, "--implementation", "cp", "--abi", abi, "--abi", "abi3",
            "--abi", "none"]
    for plat in ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
                 "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any"):
        args += ["--platform", plat]
    return args


def download(reqs: list[str], dest: Path, python_version: str) -> list[Path]:
    """`pip download` the exact wheels (no dependencies: the list is complete) for the target Python."""
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", str(dest),
           *_platform_args(python_version), *reqs]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = "\n".join(res.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"pip download failed (the bundle needs the package index):\n{tail}")
    wheels = sorted(dest.glob("*.whl"))
    names = {_norm(w.name.split("-")[0]) for w in wheels}
    absent = [r for r in reqs if _norm(r.split("==")[0]) not in names]
    if absent:
        raise RuntimeError(f"pip download produced no wheel for {', '.join(absent)}")
    return wheels


def wheel_dist(wheel: Path) -> str:
    """The distribution name of a wheel file, normalised (mujoco_mjx-3.17.0-... -> mujoco-mjx)."""
    return _norm(wheel.name.split("-")[0])


def stripped_by(dist: str, path: str) -> StripRule | None:
    """The rule that removes wheel member `path` of distribution `dist`, or None if it is kept."""
    for rule in STRIP_RULES:
        if _norm(rule.dist) != dist or not fnmatch.fnmatch(path, rule.pattern):
            continue
        if rule.keep_python and path.endswith(".py"):
            continue
        return rule
    return None


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def strip_wheel(src: Path, dest_dir: Path) -> dict:
    """Copy wheel `src` into dest_dir without the members STRIP_RULES remove; RECORD lists what remains."""
    dist = wheel_dist(src)
    dest = dest_dir / src.name
    removed: dict[str, int] = {}
    with zipfile.ZipFile(src) as zin:
        members = zin.infolist()
        record_name = next((m.filename for m in members if m.filename.endswith(".dist-info/RECORD")), None)
        if record_name is None:
            raise ValueError(f"{src.name}: not a wheel (no .dist-info/RECORD)")
        kept = []
        for m in members:
            rule = stripped_by(dist, m.filename)
            if rule is not None and not m.is_dir():
                removed[rule.pattern] = removed.get(rule.pattern, 0) + m.file_size
            elif m.filename != record_name:
                kept.append(m)
        record_lines = []
        with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zout:
            for m in kept:
                data = zin.read(m.filename)
                zout.writestr(m, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
                if not m.is_dir():
                    record_lines.append(f"{m.filename},{_record_hash(data)},{len(data)}")
            record_lines.append(f"{record_name},,")
            zout.writestr(record_name, "\n".join(record_lines) + "\n")
    return {"wheel": src.name, "dist": dist, "downloaded_bytes": src.stat().st_size,
            "bundled_bytes": dest.stat().st_size, "removed_unpacked_bytes": removed}


def _source_commit() -> str | None:
    """The commit the bundle was built from (`-dirty` with local changes outside results/), for the device
    run's record names: the GPU machine gets the working tree without its git history."""
    def git(*args: str) -> str | None:
        res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return res.stdout.strip() if res.returncode == 0 else None

    commit = git("rev-parse", "--short=10", "HEAD")
    if commit and git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!results"):
        commit += "-dirty"
    return commit


def build_bundle(out: Path, python_version: str = "3.12", download_dir: Path | None = None) -> dict:
    """Download, strip and write the bundle to `out` (wheels/ + manifest.json); return the manifest."""
    reqs = bundle_requirements()
    out = Path(out)
    wheels_dir = out / "wheels"
    if wheels_dir.exists():
        for old in wheels_dir.glob("*.whl"):
            old.unlink()
    wheels_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="device-wheels-") as tmp:
        wheels = download(reqs, Path(download_dir or tmp), python_version)
        entries = [strip_wheel(w, wheels_dir) for w in wheels]
    total = sum(e["bundled_bytes"] for e in entries)
    manifest = {
        "python_version": python_version,
        "source_commit": _source_commit(),
        "requirements": reqs,
        "install": "python3 -m pip install --no-index --no-deps --target DIR wheels/*.whl",
        "wheels": entries,
        "total_bytes": total,
        "carry_limit_bytes": CARRY_LIMIT_BYTES,
        "strip_rules": [{"dist": r.dist, "pattern": r.pattern, "why": r.why, "keep_python": r.keep_python}
                        for r in STRIP_RULES],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if total > CARRY_LIMIT_BYTES - TREE_RESERVE_BYTES:
        raise RuntimeError(f"the bundle is {total / 2**20:.1f} MiB: over the {CARRY_LIMIT_BYTES / 2**20:.0f} MiB "
                           f"a device command carries, less {TREE_RESERVE_BYTES / 2**20:.0f} MiB for the tree")
    return manifest


def describe(manifest: dict) -> str:
    """A table of the bundle: wheel, downloaded and bundled MB, what was stripped; the total."""
    lines = [f"{'wheel':<78} {'download':>9} {'bundled':>9}  stripped (unpacked)"]
    for e in sorted(manifest["wheels"], key=lambda e: -e["bundled_bytes"]):
        stripped = ", ".join(f"{p} {b / 1e6:.1f} MB" for p, b in e["removed_unpacked_bytes"].items()) or "-"
        lines.append(f"{e['wheel']:<78} {e['downloaded_bytes'] / 1e6:8.2f}M {e['bundled_bytes'] / 1e6:8.2f}M  "
                     f"{stripped}")
    down = sum(e["downloaded_bytes"] for e in manifest["wheels"])
    lines.append(f"total: {len(manifest['wheels'])} wheels, {down / 2**20:.1f} MiB downloaded -> "
                 f"{manifest['total_bytes'] / 2**20:.1f} MiB bundled (a device command carries "
                 f"{manifest['carry_limit_bytes'] / 2**20:.0f} MiB with the tree); Python "
                 f"{manifest['python_version']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.device.bundle", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(DEFAULT_OUT), help="bundle folder (default: %(default)s, git-ignored)")
    p.add_argument("--python-version", default="3.12",
                   help="Python of the machine that installs it (default: %(default)s, the GPU machine's)")
    p.add_argument("--download-dir", default=None, help="keep the downloaded (unstripped) wheels here")
    args = p.parse_args(argv)
    try:
        manifest = build_bundle(Path(args.out), args.python_version,
                                Path(args.download_dir) if args.download_dir else None)
    except (RuntimeError, ValueError) as exc:
        print(f"device bundle: error: {exc}", file=sys.stderr)
        return 2
    print(describe(manifest))
    print(f"written: {Path(args.out) / 'wheels'} and {Path(args.out) / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
