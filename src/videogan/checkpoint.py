"""Checkpoints as plain data: state dicts, the resolved config, counters and RNG states.

They load with `torch.load(path, weights_only=True)`: no module is pickled, and loading never runs
code from the file. Writes are atomic (`files.write_atomic`), so a kill at any moment, or a full disk,
leaves the previous checkpoints intact. A sha256 of the whole content is stored inside and checked on load,
so flipped bytes in tensor data are an error, not silently different weights (files from before the hash
load as they are).
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from .config import RunConfig
from .files import write_torch

FORMAT_VERSION = 1
HASH_KEY = "content_sha256"
_NAME = re.compile(r"checkpoint-(\d+)\.pt$")
DAMAGED_SUFFIX = ".damaged"


def _feed(digest, obj) -> None:
    """Add a nest of dicts, lists, tensors and plain values to `digest`, structure included."""
    if isinstance(obj, torch.Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor {flat.dtype} {tuple(obj.shape)}:".encode())
        digest.update(memoryview(flat.view(torch.uint8).numpy()))
    elif isinstance(obj, dict):
        digest.update(f"dict {len(obj)}:".encode())
        for key in sorted(obj, key=repr):
            digest.update(f"{key!r}=".encode())
            _feed(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__} {len(obj)}:".encode())
        for item in obj:
            _feed(digest, item)
    else:
        digest.update(f"{type(obj).__name__} {obj!r};".encode())


def content_hash(state: dict) -> str:
    """sha256 of everything in a state dict except the hash itself: tensors by their bytes, dtype and shape."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != HASH_KEY})
    return digest.hexdigest()


def with_hash(state: dict) -> dict:
    return {**state, HASH_KEY: content_hash(state)}


def loaded_hash(state: dict) -> str:
    """The content hash of a loaded checkpoint (`load_checkpoint` has verified the stored one; a file from
    before the hash gets it computed)."""
    return state.get(HASH_KEY) or content_hash({k: v for k, v in state.items() if k != "path"})


def verify_hash(state: dict, path: str | Path) -> None:
    """A ValueError naming the file when its content differs from the hash stored in it."""
    stored = state.get(HASH_KEY) if isinstance(state, dict) else None
    if stored is not None and stored != content_hash(state):
        raise ValueError(f"{path}: damaged: its content does not match the sha256 stored in it")


def checkpoint_path(run_dir: str | Path, iteration: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"checkpoint-{iteration:07d}.pt"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Periodic checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    found = [(int(m.group(1)), p) for p in folder.glob("checkpoint-*.pt") if (m := _NAME.search(p.name))]
    return [p for _, p in sorted(found)]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run folder (its latest checkpoint)."""
    path = Path(path)
    if path.is_dir():
        found = list_checkpoints(path)
        if not found:
            raise FileNotFoundError(f"{path}: no checkpoints in {path / 'checkpoints'}")
        return found[-1]
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such checkpoint file or run folder")
    return path


def save_checkpoint(path: str | Path, state: dict) -> Path:
    return write_torch(path, with_hash({"format_version": FORMAT_VERSION, **state}))


NETWORK_KEYS = ("generator", "generator_ema", "discriminator", "encoder")  # state dicts of modules
OPTIMIZER_KEYS = ("opt_g", "opt_d", "opt")
_COVARIANCE_SHAPES = {"full": "kdd", "tied": "dd", "diag": "kd", "spherical": "k"}  # k components, d z_dim


def _whole(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def _non_finite(obj, where: str) -> str | None:
    """The first floating tensor in a nest of dicts and lists holding NaN or infinity, by its place, or None."""
    if isinstance(obj, torch.Tensor):
        # a sum is finite when every element is (NaN and infinity propagate), and 10x faster than isfinite;
        # only a sum that overflowed needs the element-wise look
        if (obj.is_floating_point() or obj.is_complex()) and not bool(torch.isfinite(obj.sum())) \
                and not bool(torch.isfinite(obj).all()):
            return f"{where} holds NaN or infinite values"
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if problem := _non_finite(value, f"{where}[{key!r}]" if where else str(key)):
                return problem
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            if problem := _non_finite(value, f"{where}[{i}]"):
                return problem
    return None


def _rng_problem(rng) -> str | None:
    """Whether `restore_rng` can apply these states: tried on throwaway generators, never the global ones."""
    try:
        state = rng["global"]
        if not isinstance(state["torch"], torch.Tensor):
            return "rng: its torch state is not a tensor"
        torch.Generator().set_state(state["torch"])
        n, p = state["numpy"], state["python"]
        np.random.RandomState().set_state(
            ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
        random.Random().setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RuntimeError, OverflowError) as err:
        return f"rng: not the random states a checkpoint saves ({type(err).__name__}: {err})"
    return None


def _mixture_problem(gmm, z_dim: int) -> str | None:
    """The code distribution of a baseline checkpoint: tensors whose shapes agree with each other and z_dim."""
    if not isinstance(gmm, dict) or not all(isinstance(gmm.get(k), torch.Tensor)
                                            for k in ("weights", "means", "covariances")):
        return "gmm is not a mixture (weights, means and covariances as tensors)"
    kind = gmm.get("covariance_type")
    if kind not in _COVARIANCE_SHAPES:
        return f"gmm covariance_type {kind!r} is not one of {sorted(_COVARIANCE_SHAPES)}"
    k = len(gmm["weights"]) if gmm["weights"].dim() == 1 else -1
    sizes = {"k": k, "d": z_dim}
    expected = {"weights": (k,), "means": (k, z_dim), "covariances": tuple(sizes[c] for c in _COVARIANCE_SHAPES[kind])}
    for key, shape in expected.items():
        if k < 1 or tuple(gmm[key].shape) != shape:
            return f"gmm {key} has shape {tuple(gmm[key].shape)}, not {shape} ({max(k, 0)} components of z_dim {z_dim})"
    if bool((gmm["weights"] < 0).any()) or not float(gmm["weights"].sum()) > 0:
        return "gmm weights are not a distribution (negative, or summing to 0)"
    covariances = gmm["covariances"].double()
    if kind in ("full", "tied") and bool(torch.linalg.cholesky_ex(covariances).info.any()):
        return "gmm covariances are not positive definite"  # drawing a code factors them
    if kind in ("diag", "spherical") and bool((covariances < 0).any()):
        return "gmm covariances hold negative variances"
    return None


def _problem(state: dict) -> str | None:
    """What is wrong with a loaded checkpoint's fields, or None: every field a reader uses has its type
    (the counters a resume trusts before it changes the run folder, the config, state dicts, random states,
    the baseline's mixture), and every weight is finite (NaN weights would sample black videos)."""
    if not _whole(state["format_version"], 0):
        return f"format_version {state['format_version']!r} is not a whole number"
    if not isinstance(state["config"], dict):
        return f"config is a {type(state['config']).__name__}, not a mapping"
    try:
        config = RunConfig.from_dict(state["config"])
    except (ValueError, TypeError, AttributeError) as err:  # ConfigError names the field
        return f"config: {err}"
    for key, least in (("iteration", 0), ("world_size", 1)):
        if key in state and not _whole(state[key], least):
            return f"{key} {state[key]!r} is not a whole number >= {least}"
    for key in NETWORK_KEYS:
        weights = state.get(key)
        if key in state and not (isinstance(weights, dict) and all(
                isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items())):
            return f"{key} is a {type(weights).__name__}, not a state dict of named tensors"
    for key in OPTIMIZER_KEYS:
        if key in state and not isinstance(state[key], dict):
            return f"{key} is a {type(state[key]).__name__}, not an optimiser's state"
    if "kind" in state and not isinstance(state["kind"], str):
        return f"kind {state['kind']!r} is not a name"
    if "rng" in state and (problem := _rng_problem(state["rng"])):
        return problem
    if "gmm" in state and (problem := _mixture_problem(state["gmm"], config.model.z_dim)):
        return problem
    return _non_finite(state, "")


def _reason(err: Exception) -> str:
    """torch.load's reason in one short line: its weights-only unpickler wraps the reason in paragraphs of
    advice (one of which, loading with weights_only=False, would run the file's code)."""
    text = str(err)
    text = text.split("WeightsUnpickler error:", 1)[1] if "WeightsUnpickler error:" in text else text
    return textwrap.shorten(" ".join(text.split()), 200, placeholder=" ...")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load safely into trusted data: a missing, truncated, damaged or foreign file, or one whose fields a
    reader would stumble on (see `_problem`), is a clear error naming it. For a run folder: its newest
    checkpoint that loads (see `load_latest`)."""
    if Path(path).is_dir():
        return load_latest(path, map_location)
    path = resolve_checkpoint(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for a damaged zip/pickle
        raise ValueError(f"{path}: not a readable videogan checkpoint ({type(err).__name__}: {_reason(err)})") from None
    if not isinstance(state, dict) or "config" not in state or "format_version" not in state:
        raise ValueError(f"{path}: not a videogan checkpoint (no config / format_version)")
    if _whole(state["format_version"], FORMAT_VERSION + 1):
        raise ValueError(f"{path}: written by a newer videogan (format {state['format_version']})")
    verify_hash(state, path)  # first: a damaged file is called damaged, whatever field the damage hit
    if problem := _problem(state):
        raise ValueError(f"{path}: not a valid videogan checkpoint: {problem}")
    state["path"] = str(path)
    return state


def require(state: dict, *keys: str, purpose: str) -> None:
    """A ValueError naming the file and the first of `keys` it lacks, which `purpose` needs."""
    if lacking := next((key for key in keys if key not in state), None):
        raise ValueError(f"{state['path']}: holds no {lacking}, which {purpose} needs")


def load_weights(state: dict, key: str, module: torch.nn.Module) -> None:
    """Load the checkpoint's state dict `key` into `module` (built from the checkpoint's config), after
    comparing their keys and shapes: the first that differs is named in one line, instead of PyTorch's
    multi-line RuntimeError (weights of another preset, task or architecture)."""
    require(state, key, purpose=f"a {type(module).__name__}")
    weights, expected = state[key], module.state_dict()
    where = f"{state['path']}: its {key} does not fit the {type(module).__name__} its config describes"
    for name, tensor in expected.items():
        if name not in weights:
            raise ValueError(f"{where}: no {name}")
        if weights[name].shape != tensor.shape:
            raise ValueError(f"{where}: {name} has shape {tuple(weights[name].shape)}, the model's "
                             f"{tuple(tensor.shape)}")
    if extra := next((name for name in weights if name not in expected), None):
        raise ValueError(f"{where}: {extra!r} is not one of the model's weights")
    module.load_state_dict(weights)


def load_optimizer(state: dict, key: str, optimizer: torch.optim.Optimizer) -> None:
    """Load the checkpoint's optimiser state `key` (after its networks' weights), checking what PyTorch
    leaves to the first step to find: each parameter's moments have its shape and dtype, and its step count
    is one number >= 1 (Adam's bias correction divides by 1 - beta ** step)."""
    where = f"{state['path']}: its {key} does not fit this run"
    try:
        optimizer.load_state_dict(state[key])
    except (KeyError, RuntimeError, ValueError, TypeError, IndexError) as err:  # torch's words span lines
        raise ValueError(f"{where} ({' '.join(str(err).split())[:300]})") from None
    for param, moments in optimizer.state.items():
        for name, value in moments.items():
            if name == "step":
                count = torch.as_tensor(value) if torch.is_tensor(value) or isinstance(value, (int, float)) else None
                if count is None or count.numel() != 1 or not float(count) >= 1:
                    raise ValueError(f"{where}: a step count {value!r} is not one number >= 1")
            elif not (isinstance(value, torch.Tensor) and value.shape == param.shape and value.dtype == param.dtype):
                found = f"a {tuple(value.shape)} {value.dtype} tensor" if torch.is_tensor(value) else repr(value)[:40]
                raise ValueError(f"{where}: the {name} of a {tuple(param.shape)} {param.dtype} parameter is {found}")


def load_latest(run_dir: str | Path, map_location="cpu", set_aside: bool = False) -> dict:
    """The newest checkpoint of a run that loads. Newer ones that fail are reported on stderr; with
    `set_aside` (a resume) they are renamed to NAME.damaged, kept for inspection but neither listed nor
    overwritten by the resumed run."""
    found = list_checkpoints(run_dir)
    if not found:
        raise FileNotFoundError(f"{run_dir}: no checkpoints in {Path(run_dir) / 'checkpoints'}")
    failed = []
    for path in reversed(found):
        try:
            state = load_checkpoint(path, map_location)
        except ValueError as err:
            failed.append((path, err))
            continue
        for bad, err in failed:
            kept = bad.with_name(bad.name + DAMAGED_SUFFIX) if set_aside else None
            if kept:  # under torchrun rank 0 alone (train/agreement.py)
                os.replace(bad, kept)
            print(f"videogan: warning: {err}" + (f" (moved to {kept.name})" if kept else ""), file=sys.stderr)
        if failed:
            print(f"videogan: using {path} instead", file=sys.stderr)
        return state
    raise ValueError(f"{run_dir}: none of its {len(found)} checkpoints loads; the newest: {failed[0][1]}")


def config_of(state: dict) -> RunConfig:
    return RunConfig.from_dict(state["config"])


def prune_checkpoints(run_dir: str | Path, keep: int) -> None:
    """Delete all but the newest `keep` periodic checkpoints (keep <= 0 keeps every one)."""
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            old.unlink(missing_ok=True)


def capture_rng() -> dict:
    """Global RNG states as tensors and lists (no numpy objects: weights_only must load them)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
