"""`videogan classifier train|accuracy`: (re)train the built-in classifier, and measure it on held-out clips.

Training is reproducible: a fixed pool of built-in videos (seed TRAIN_SEED), a fixed seed for the
initialisation, the batches and the augmentation, and a fixed number of iterations. The held-out clips
come from TEST_SEED. Neither is the GAN's default data seed (1234) nor its held-out seed (1235), so the
classifier never saw the real videos `evaluate` compares with.
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..data.synthetic import MOTIONS, SHAPES, render_video, to_model_range
from .classifier import BuiltinClassifier, ClassifierConfig

TRAIN_SEED = 2016
TEST_SEED = 2017


def render_set(seed: int, n: int, cfg: ClassifierConfig, max_objects: int = 3, object_scale: float = 1.0
               ) -> dict[str, torch.Tensor]:
    """n built-in videos at the classifier's clip size: video n t h w 3 uint8, shapes n 5 float, motion n."""
    items = [render_video(seed, i, cfg.frames, cfg.size, max_objects, object_scale) for i in range(n)]
    return {"video": torch.from_numpy(np.stack([it["video"] for it in items])),
            "shapes": torch.from_numpy(np.stack([it["shapes"] for it in items])).float(),
            "motion": torch.tensor([it["label"] for it in items])}


def _to_model_range(videos: torch.Tensor) -> torch.Tensor:
    return torch.stack([to_model_range(v) for v in videos])  # b 3 t h w


def _augment(video: torch.Tensor, op: int) -> torch.Tensor:
    """One of the 8 flips and transposes of the frame: every shape and every motion class is symmetric
    under them, so the labels stay true. b 3 t h w."""
    if op & 1:
        video = video.flip(3)
    if op & 2:
        video = video.flip(4)
    if op & 4:
        video = video.transpose(3, 4)
    return video


def train_builtin_classifier(iterations: int = 3000, batch_size: int = 32, train_videos: int = 8192, seed: int = 0,
                     cfg: ClassifierConfig = ClassifierConfig(), lr: float = 2e-3, log=print,
                     log_every: int = 100) -> BuiltinClassifier:
    """Adam on the sum of the shapes' binary cross-entropy and the motion's cross-entropy."""
    start = time.time()
    data = render_set(TRAIN_SEED, train_videos, cfg)
    log(f"rendered {train_videos} training videos in {time.time() - start:.0f} s")
    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BuiltinClassifier(cfg)
    optimizer = torch.optim.Adam(model.parameters(), lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, iterations)
    model.train()
    for it in range(1, iterations + 1):
        index = torch.randint(train_videos, (batch_size,), generator=rng)
        video = _augment(_to_model_range(data["video"][index]), int(torch.randint(8, (), generator=rng)))
        logits = model(video)
        shape_loss = F.binary_cross_entropy_with_logits(logits["shapes"], data["shapes"][index])
        motion_loss = F.cross_entropy(logits["motion"], data["motion"][index])
        optimizer.zero_grad(set_to_none=True)
        (shape_loss + motion_loss).backward()
        optimizer.step()
        schedule.step()
        if it % log_every == 0 or it == iterations:
            log(f"it {it:6d}  shape_loss {shape_loss.item():.4f}  motion_loss {motion_loss.item():.4f}  "
                f"{time.time() - start:.0f} s")
    return model.eval()


@torch.no_grad()
def accuracy(model: BuiltinClassifier, n: int = 1024, seed: int = TEST_SEED, batch_size: int = 128,
             max_objects: int = 3, object_scale: float = 1.0) -> dict:
    """On n held-out built-in videos: motion accuracy, presence accuracy of each shape (threshold 0.5) and
    their mean, and the fraction of videos whose whole set of shapes is right."""
    data = render_set(seed, n, model.cfg, max_objects, object_scale)
    shapes, motion = [], []
    for start in range(0, n, batch_size):
        probs = model.probabilities(_to_model_range(data["video"][start:start + batch_size]))
        shapes.append(probs["shapes"] > 0.5)
        motion.append(probs["motion"].argmax(1))
    shape_right = torch.cat(shapes) == data["shapes"].bool()  # n 5
    return {"n": n, "seed": seed, "max_objects": max_objects, "object_scale": object_scale,
            "motion_accuracy": (torch.cat(motion) == data["motion"]).float().mean().item(),
            "shape_accuracy": shape_right.float().mean().item(),
            "shape_set_accuracy": shape_right.all(1).float().mean().item(),
            "per_shape_accuracy": dict(zip(SHAPES, shape_right.float().mean(0).tolist())),
            "per_motion_count": dict(zip(MOTIONS, torch.bincount(data["motion"], minlength=len(MOTIONS)).tolist()))}
