"""The I3D in its inference form: the function `InceptionI3d` computes, in fewer and cheaper passes.

`for_inference(model)` rewrites a loaded I3D; the logits move by float32 rounding only (about 3e-5 on logits of
magnitude ~10, tests/test_i3d.py). Each change comes from a profile of the forward on 2 CPU cores
(docs/performance.md, "Faster I3D"):

- BatchNorm is folded into the convolution before it (inference only: a fixed affine map per channel),
  so no pass over the activations normalises them;
- an inception block's three 1x1x1 convolutions of the same input are one convolution, split after;
- TF `SAME` padding is the convolution's own where it is symmetric (every conv but the stem's): no padded
  copy of the input, filled first, for each layer;
- max-pools are running maxima of strided slices: PyTorch's CPU `max_pool3d` also computes the argmax
  indices and was 5-20x slower; the maximum is exact, so the result is the same bit for bit;
- on the CPU, every convolution runs in oneDNN on channels-last activations (b t h w c in memory), the
  layout its kernels run fastest on.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .i3d import InceptionBlock, InceptionI3d, Unit3D, pad_same, same_padding


def max_pool_slices(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> torch.Tensor:
    """`max_pool_same` (TF SAME, padded cells never win) as maxima of strided slices, one axis at a time."""
    for axis, (k, s) in enumerate(zip(kernel, stride), start=2):
        if k == 1 and s == 1:
            continue
        size = x.shape[axis]
        before = same_padding(size, k, s)[0]
        count = -(-size // s)  # outputs along this axis: ceil(size / s)
        # output i covers inputs i*s - before + j, j < k; offset j = before is inside for every i
        out = x.narrow(axis, 0, s * (count - 1) + 1)[_every(axis, s)].clone()
        for shift in range(-before, k - before):
            if shift == 0:
                continue
            first = max(0, -(shift // s))  # first i with i*s + shift >= 0: ceil(-shift / s)
            last = min(count - 1, (size - 1 - shift) // s)  # last i with i*s + shift < size
            if last < first:
                continue
            target = out.narrow(axis, first, last - first + 1)
            source = x.narrow(axis, first * s + shift, (last - first) * s + 1)[_every(axis, s)]
            torch.maximum(target, source, out=target)
        x = out
    return x


def _every(axis: int, step: int) -> tuple[slice, ...]:
    return (slice(None),) * axis + (slice(None, None, step),)


def _conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: tuple[int, int, int],
          padding: tuple[int, int, int]) -> torch.Tensor:
    if x.device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return F.conv3d(x, weight, bias, stride, padding)
    # at small batches F.conv3d sends most of these layers to an im2col path instead of oneDNN; calling
    # oneDNN for all of them cut the CPU time of a clip from 0.40 to 0.26 s (docs/performance.md)
    return torch.mkldnn_convolution(x.contiguous(memory_format=torch.channels_last_3d), weight, bias, padding,
                                    stride, (1, 1, 1), 1)


class FoldedUnit3D(nn.Module):
    """`Unit3D` for inference: one convolution with the BatchNorm in its weights and bias, then ReLU."""

    def __init__(self, units: list[Unit3D]):
        """Several units of the same input, kernel and stride become one, their outputs concatenated."""
        super().__init__()
        self.kernel, self.stride = units[0].kernel, units[0].stride
        weights, biases = [], []
        for unit in units:
            bn = unit.bn
            scale = (bn.running_var.double() + bn.eps).rsqrt()  # float64, rounded once to float32 below
            weights.append(unit.conv.weight.double() * scale[:, None, None, None, None])
            biases.append(bn.bias.double() - bn.running_mean.double() * scale)
        self.register_buffer("weight", torch.cat(weights).float().contiguous(memory_format=torch.channels_last_3d))
        self.register_buffer("bias", torch.cat(biases).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = [same_padding(n, k, s) for n, k, s in zip(x.shape[2:], self.kernel, self.stride)]
        if all(before == after for before, after in pads):
            out = _conv(x, self.weight, self.bias, self.stride, tuple(before for before, _ in pads))
        else:
            out = _conv(pad_same(x, self.kernel, self.stride), self.weight, self.bias, self.stride, (0, 0, 0))
        return out.relu_()


class FoldedInceptionBlock(nn.Module):
    """`InceptionBlock` for inference: its three 1x1x1 units of the block's input as one."""

    def __init__(self, block: InceptionBlock):
        super().__init__()
        firsts = [block.branch_0, block.branch_1a, block.branch_2a]
        self.first = FoldedUnit3D(firsts)
        self.widths = [unit.conv.out_channels for unit in firsts]
        self.branch_1b, self.branch_2b = FoldedUnit3D([block.branch_1b]), FoldedUnit3D([block.branch_2b])
        self.branch_3 = FoldedUnit3D([block.branch_3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out_0, in_1, in_2 = self.first(x).split(self.widths, dim=1)
        pooled = max_pool_slices(x, (3, 3, 3), (1, 1, 1))
        return torch.cat([out_0, self.branch_1b(in_1), self.branch_2b(in_2), self.branch_3(pooled)], dim=1)


def for_inference(model: InceptionI3d) -> InceptionI3d:
    """A copy of `model` that computes the same logits faster and can no longer be trained."""
    model = copy.deepcopy(model).eval().requires_grad_(False)
    for name, child in list(model.named_children()):
        if isinstance(child, Unit3D):
            setattr(model, name, FoldedUnit3D([child]))
        elif isinstance(child, InceptionBlock):
            setattr(model, name, FoldedInceptionBlock(child))
    model.pool = max_pool_slices
    return model
