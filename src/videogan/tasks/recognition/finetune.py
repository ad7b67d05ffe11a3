"""Fine-tuning the discriminator for action recognition (section 3.3), as the released code did it:
the one-logit layer replaced by channel dropout and a K-way layer of the same (t', 4, 4) kernel, then
every layer trained with Adam (or only the new head with `freeze_features`)."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from ...checkpoint import config_of, load_checkpoint, load_weights
from ...config import ModelConfig
from ...data.sampler import EpochDataset, ResumableSampler
from ...models import VideoDiscriminator
from ...models.init import init_weights
from ...stop_signals import helper_loader_options
from .config import FinetuneConfig
from .data import LabelledVideos, covering_clips


class ActionClassifier(nn.Module):
    """The discriminator's `features` with a new head: video b 3 t h w -> class scores b K."""

    def __init__(self, discriminator: VideoDiscriminator, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.cfg = discriminator.cfg
        self.features = discriminator.features
        old = discriminator.classifier
        # channel dropout on the penultimate layer (section 3.3), then the binary layer's shape with K outputs
        self.head = nn.Sequential(nn.Dropout3d(dropout),
                                  nn.Conv3d(discriminator.feature_width, num_classes, kernel_size=old.kernel_size))
        init_weights(self.head)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(video)).flatten(1)  # b K


def load_discriminator(init: str, model_cfg: ModelConfig | None = None) -> tuple[VideoDiscriminator, dict | None]:
    """A trained discriminator from a checkpoint (or run folder), or the same architecture with the paper's
    random init (`init == "random"`, shape from `model_cfg`). Returns it and the checkpoint (None if random)."""
    if init == "random":
        if model_cfg is None:  # only `finetune` passes one: the probe and the sweep read trained features
            raise ValueError("--init random: probe and sweep need a trained discriminator; give a GAN checkpoint "
                             "or run folder (random init is `videogan recognize finetune --init random`, "
                             "and a method of the sweep)")
        return VideoDiscriminator(model_cfg), None
    state = load_checkpoint(init)
    if "discriminator" not in state:
        raise ValueError(f"{state['path']}: checkpoint holds no discriminator to initialise from")
    discriminator = VideoDiscriminator(config_of(state).model)
    load_weights(state, "discriminator", discriminator)
    return discriminator, state


def build_classifier(init: str, num_classes: int, cfg: FinetuneConfig, model_cfg: ModelConfig | None = None):
    """ActionClassifier with the random parts (random init, new head) drawn from `cfg.seed`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        discriminator, state = load_discriminator(init, model_cfg)
        return ActionClassifier(discriminator, num_classes, cfg.dropout), state


def freeze_features(model: ActionClassifier) -> None:
    """Only the head learns: no gradients, and BatchNorm keeps its pretrained running statistics."""
    model.features.requires_grad_(False)
    model.features.eval()


def train_action_classifier(model: ActionClassifier, train: LabelledVideos, cfg: FinetuneConfig, device: torch.device,
                     frozen: bool = False, log=None) -> list[dict]:
    """cfg.iterations Adam steps on random temporal crops of the training videos; returns the loss curve."""
    model.to(device).train()
    if frozen:
        freeze_features(model)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    clips = train.clips(model.cfg.frames, model.cfg.size, cfg.seed)
    loader = DataLoader(EpochDataset(clips), batch_size=cfg.batch_size, sampler=ResumableSampler(len(clips), cfg.seed),
                        persistent_workers=cfg.workers > 0, **helper_loader_options(cfg.workers))
    curve, start, window = [], time.time(), []
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed + 1)  # dropout masks
        for iteration, batch in zip(range(1, cfg.iterations + 1), loader):
            video, label = batch["video"].to(device), batch["label"].to(device)  # b 3 t h w, b
            loss = F.cross_entropy(model(video), label)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            window.append(loss.item())
            if iteration % max(1, cfg.iterations // 10) == 0 or iteration == cfg.iterations:
                curve.append({"iteration": iteration, "loss": float(np.mean(window)), "seconds": time.time() - start})
                window = []
                if log:
                    log(f"iteration {iteration}/{cfg.iterations} loss {curve[-1]['loss']:.4f}")
    return curve


@torch.no_grad()
def clip_outputs(fn, videos: LabelledVideos, frames: int, size: int, batch: int, device) -> tuple[np.ndarray, np.ndarray]:
    """fn over the covering clips of every video: (outputs n_clips ..., video index of each clip)."""
    outputs, owner, pending = [], [], []

    def flush():
        outputs.append(fn(torch.cat(pending).to(device)).float().cpu().numpy())
        pending.clear()

    for i in range(len(videos)):
        clips = covering_clips(videos.video(i, size), frames, size)  # n 3 t h w
        owner += [i] * len(clips)
        pending.append(clips)
        if sum(len(p) for p in pending) >= batch:
            flush()
    if pending:
        flush()
    return np.concatenate(outputs), np.asarray(owner)


def summarize(clip_probs: np.ndarray, owner: np.ndarray, labels, classes) -> dict:
    """Clip accuracy, and video accuracy from class probabilities averaged over each video's clips, with
    per-class accuracy and the confusion matrix (rows: true class, columns: predicted) of the videos."""
    labels = np.asarray(labels)
    k = len(classes)
    video_probs = np.zeros((len(labels), k))
    np.add.at(video_probs, owner, clip_probs)
    video_probs /= np.bincount(owner, minlength=len(labels))[:, None]
    predicted = video_probs.argmax(1)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    support = confusion.sum(1)
    return {
        "video_accuracy": float((predicted == labels).mean()),
        "clip_accuracy": float((clip_probs.argmax(1) == labels[owner]).mean()),
        "test_videos": int(len(labels)),
        "test_clips": int(len(owner)),
        "per_class_accuracy": {name: (float(confusion[c, c] / support[c]) if support[c] else None)
                               for c, name in enumerate(classes)},
        "classes": list(classes),
        "confusion": confusion.tolist(),
    }


def evaluate(model: ActionClassifier, test: LabelledVideos, batch: int, device) -> dict:
    model.to(device).eval()
    probs, owner = clip_outputs(lambda x: model(x).softmax(1), test, model.cfg.frames, model.cfg.size, batch, device)
    return summarize(probs, owner, test.labels, test.classes)


def finetune(init: str, train: LabelledVideos, test: LabelledVideos, cfg: FinetuneConfig, device,
             model_cfg: ModelConfig | None = None, frozen: bool = False, log=None):
    """Build, train and evaluate one classifier; returns (model, result dict)."""
    model, state = build_classifier(init, len(train.classes), cfg, model_cfg)
    curve = train_action_classifier(model, train, cfg, device, frozen, log)
    result = evaluate(model, test, cfg.eval_batch, device)
    result.update(method="random" if state is None else "finetune", init=state["path"] if state else "random",
                  frozen_features=frozen, train_videos=len(train), loss_curve=curve)
    return model, result
