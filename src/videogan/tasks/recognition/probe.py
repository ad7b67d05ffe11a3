"""The linear probe ("VGAN + Logistic Reg", section 3.3): logistic regression on frozen discriminator features.

Features are the last hidden layer (b c t' h' w', the map the one-logit layer reads) of every covering
clip, in eval mode (pretrained BatchNorm statistics). `flatten` keeps the whole map, so the probe is the
fine-tuned head's linear layer learned on fixed features; `mean` averages it over t', h', w' (c numbers).
Each training clip is one sample; test videos average the clip probabilities, as fine-tuning does.
"""
from __future__ import annotations

import numpy as np
import torch

from ...models import VideoDiscriminator
from .data import LabelledVideos
from .finetune import clip_outputs, summarize

POOLS = ("flatten", "mean")
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)  # inverse regularization strengths tried on the validation part
VALIDATION_FRACTION = 0.2


def extract_features(discriminator: VideoDiscriminator, videos: LabelledVideos, pool: str, batch: int, device):
    """(features n_clips d, video index of each clip)."""
    if pool not in POOLS:
        raise ValueError(f"unknown pooling {pool!r}; choose from {POOLS}")
    discriminator.to(device).eval()
    reduce = (lambda h: h.flatten(1)) if pool == "flatten" else (lambda h: h.mean((2, 3, 4)))
    cfg = discriminator.cfg
    return clip_outputs(lambda x: reduce(discriminator.features(x)), videos, cfg.frames, cfg.size, batch, device)


def _fit(features, labels, c: float, seed: int):
    # imported here: scikit-learn takes a second to load, and every `videogan` command imports this module
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features)
    model = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(scaler.transform(features), labels)
    return scaler, model


def _probs(fitted, features, num_classes: int) -> np.ndarray:
    """Class probabilities n K, with zeros for classes the fit never saw."""
    scaler, model = fitted
    out = np.zeros((len(features), num_classes))
    out[:, model.classes_] = model.predict_proba(scaler.transform(features))
    return out


def select_videos(features: np.ndarray, owner: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clips of videos `indices` (sorted), with owners renumbered to positions in `indices`."""
    mask = np.isin(owner, indices)
    return features[mask], np.searchsorted(indices, owner[mask])


def probe(train_feats, train_owner, train: LabelledVideos, test_feats, test_owner, test: LabelledVideos,
          seed: int = 0) -> dict:
    """Pick C on a validation part of the training videos, refit on all of them, evaluate on test videos."""
    k = len(train.classes)
    train_labels = np.asarray(train.labels)
    # whole videos (whole groups) are held out, so no clip of a validation video or of its twin is trained on;
    # empty with one video per class
    kept, held = train.hold_out(VALIDATION_FRACTION, np.random.default_rng([seed, 104729]))
    scores = {}
    if len(held):
        fit_feats, fit_owner = select_videos(train_feats, train_owner, kept)
        val_feats, val_owner = select_videos(train_feats, train_owner, held)
        for c in C_GRID:
            fitted = _fit(fit_feats, train_labels[kept][fit_owner], c, seed)
            # validation score at the video level, like the test metric
            scores[c] = summarize(_probs(fitted, val_feats, k), val_owner, train_labels[held],
                                  train.classes)["video_accuracy"]
        best = max(C_GRID, key=lambda c: (scores[c], -abs(np.log10(c))))  # ties: the C closest to 1
    else:
        best = 1.0  # nothing to validate on (one video per class): scikit-learn's default
    fitted = _fit(train_feats, train_labels[train_owner], best, seed)
    result = summarize(_probs(fitted, test_feats, k), test_owner, test.labels, test.classes)
    result.update(method="probe", C=best, validation={str(c): s for c, s in scores.items()},
                  validation_videos=int(len(held)), train_videos=len(train), feature_dim=int(train_feats.shape[1]))
    return result


def run_probe(discriminator: VideoDiscriminator, train: LabelledVideos, test: LabelledVideos, pool: str,
              batch: int, device, seed: int = 0) -> dict:
    with torch.no_grad():
        train_feats, train_owner = extract_features(discriminator, train, pool, batch, device)
        test_feats, test_owner = extract_features(discriminator, test, pool, batch, device)
    result = probe(train_feats, train_owner, train, test_feats, test_owner, test, seed)
    result["pool"] = pool
    return result
