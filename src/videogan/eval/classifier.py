"""A small convolutional network that names what a built-in video shows: its objects' shapes and their motion.

It is the built-in dataset's stand-in for the C3D that TGAN and MoCoGAN scored UCF-101 generations with
(builtin_score.py turns its outputs into an Inception-style score). It sees 16 frames of 32x32, the
`cpu` preset's clip; any other clip is resampled to that first (`resample`). Its weights ship with the
package (`builtin_classifier.pt`, retrained by `videogan classifier train`): a plain dict of the
config, the state dict and a sha256 of the tensors' contents, checked on every load.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import content_hash
from ..data.synthetic import MOTIONS, SHAPES
from ..files import write_torch
from .weights import WeightsError, read_weights_file

WEIGHTS = Path(__file__).with_name("builtin_classifier.pt")
# the shipped weights' content hash: a replaced or damaged package file is refused, not silently used
WEIGHTS_SHA256 = "9dc83a113f192f621f55f142937bb9c143b73c8ae6d375c1ef95b7d0fc8e52dd"
RETRAIN_HINT = "retrain them with `videogan classifier train`"


@dataclass(frozen=True)
class ClassifierConfig:
    frames: int = 16  # every clip is resampled to frames x size x size
    size: int = 32
    width: int = 16  # channels of the first layer of each path; doubled at each of the next two


def resample(video: torch.Tensor, frames: int, size: int) -> torch.Tensor:
    """b 3 t h w -> b 3 frames size size. Time: `frames` evenly spaced frames over the whole clip (the
    first and last included, so the whole motion is seen; a shorter clip repeats frames). Space: area
    resize (averaging: no aliasing when shrinking; pixel repetition when growing)."""
    t = video.shape[2]
    if t != frames:
        video = video[:, :, torch.linspace(0, t - 1, frames).round().long()]
    if video.shape[3:] != (size, size):
        video = F.interpolate(video, size=(frames, size, size), mode="area")
    return video


class BuiltinClassifier(nn.Module):
    """b 3 t h w in [-1, 1] -> {"shapes": b len(SHAPES) presence logits, "motion": b len(MOTIONS) logits}.

    Two paths over the video and its deviation from each pixel's mean over time (the built-in scenes are
    still: what deviates is the moving objects; a network finds that cue alone too, but only slowly).
    Motion: three stride-2 3-D convolutions, features kept in place (where an object is at which frame
    tells the motions apart). Shapes: 2-D convolutions of every fourth frame, then the maximum and the mean
    of each feature over the clip (is there one anywhere, at any time); 3-D kernels would blur a moving
    object's outline over the frames they span, and in our trials learned nothing of the shapes.
    """

    def __init__(self, cfg: ClassifierConfig = ClassifierConfig()):
        super().__init__()
        self.cfg = cfg
        widths = (cfg.width, 2 * cfg.width, 4 * cfg.width)
        self.motion_features = nn.Sequential(*[
            layer for c_in, c_out in zip((6,) + widths, widths)
            for layer in (nn.Conv3d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))])
        self.motion = nn.Linear(widths[-1] * (cfg.frames // 8) * (cfg.size // 8) ** 2, len(MOTIONS))
        self.shape_features = nn.Sequential(*[
            layer for c_in, c_out, stride in zip((6,) + widths, widths, (1, 2, 2))
            for layer in (nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                          nn.ReLU(inplace=True))])
        self.shapes = nn.Linear(2 * widths[-1], len(SHAPES))

    def forward(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        video = resample(video, self.cfg.frames, self.cfg.size)  # b 3 t h w
        x = torch.cat([video, video - video.mean(2, keepdim=True)], 1)  # b 6 t h w
        motion = self.motion_features(x)  # b 4w t/8 h/8 w/8
        frames = x[:, :, ::4].transpose(1, 2)  # b t/4 6 h w
        shapes = self.shape_features(frames.flatten(0, 1))  # (b t/4) 4w h/4 w/4
        shapes = shapes.unflatten(0, frames.shape[:2]).transpose(1, 2).flatten(2)  # b 4w (t/4 h/4 w/4)
        pooled = torch.cat([shapes.amax(2), shapes.mean(2)], 1)
        return {"shapes": self.shapes(pooled), "motion": self.motion(motion.flatten(1))}

    @torch.no_grad()
    def probabilities(self, video: torch.Tensor) -> dict[str, torch.Tensor]:
        """Presence probability of each shape (independent sigmoids) and the motion distribution (softmax)."""
        logits = self(video)
        return {"shapes": logits["shapes"].sigmoid(), "motion": logits["motion"].softmax(1)}


def save_classifier(path: str | Path, model: BuiltinClassifier, recipe: dict) -> str:
    """Write the weights (plain data: config, state dict, content hash, how they were trained); returns the hash."""
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    sha = content_hash(state)
    saved = {"config": dataclasses.asdict(model.cfg), "state_dict": state, "sha256": sha, "recipe": recipe}
    write_torch(path, saved)
    return sha


def load_classifier(path: str | Path | None = None, device: str | torch.device = "cpu") -> BuiltinClassifier:
    """The classifier in eval mode: the shipped weights (hash pinned in this module), or a file `path`
    written by `videogan classifier train` (its own stored hash checked)."""
    file = Path(path) if path is not None else WEIGHTS
    saved = read_weights_file(file, RETRAIN_HINT)
    if not isinstance(saved, dict) or not {"config", "state_dict", "sha256"} <= set(saved):
        raise WeightsError(f"{file}: not classifier weights (needs config, state_dict and sha256)")
    sha = content_hash(saved["state_dict"])
    if sha != saved["sha256"] or (path is None and sha != WEIGHTS_SHA256):
        raise WeightsError(f"{file}: weights' sha256 {sha} differs from the expected "
                           f"{saved['sha256'] if path is not None else WEIGHTS_SHA256}; {RETRAIN_HINT}")
    model = BuiltinClassifier(ClassifierConfig(**saved["config"]))
    model.load_state_dict(saved["state_dict"])
    return model.eval().requires_grad_(False).to(device)
