"""An Inception-style score for the built-in dataset: can a classifier name the generated objects and motions?

TGAN and MoCoGAN scored UCF-101 generations with the Inception Score of a C3D trained on UCF-101; this
is the same construction with the built-in classifier (classifier.py): exp of the mean KL divergence
between each video's class distribution and the set's marginal. It is ours and domain-specific: it is
not comparable with the literature's UCF-101 numbers. Definitions: docs/evaluation.md.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

from .classifier import BuiltinClassifier, load_classifier

CONFIDENT = 0.9  # a probability the classifier commits to


def inception_score(probs: torch.Tensor) -> float:
    """exp(mean_i KL(p_i || mean_j p_j)) of n k per-video distributions (rows sum to 1): 1 when every video
    gets the same distribution, k when each is sure of one class and the classes are equally common."""
    marginal = probs.mean(0, keepdim=True)
    kl = (torch.special.xlogy(probs, probs) - torch.special.xlogy(probs, marginal)).sum(1)  # n; 0 log 0 = 0
    return float(kl.mean().exp())


def shape_distribution(presence: torch.Tensor) -> torch.Tensor:
    """n 5 independent presence probabilities -> n 5 rows summing to 1: a video with one clear shape puts
    its mass on it; one with two clear shapes splits it; one with none spreads it out."""
    presence = presence.double().clamp_min(1e-12)
    return presence / presence.sum(1, keepdim=True)


def named_confidently(presence: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """n bools: the classifier is sure (>= CONFIDENT) of the motion and of at least one shape present, as a
    person who can name one object and how it moves (another, ambiguous object does not undo that)."""
    return (motion.max(1).values >= CONFIDENT) & (presence.max(1).values >= CONFIDENT)


def scores(presence: torch.Tensor, motion: torch.Tensor) -> dict[str, float]:
    """The three numbers of a set from its n 5 shape presence probabilities and n 5 motion distributions."""
    return {"shape_score": inception_score(shape_distribution(presence)),
            "motion_score": inception_score(motion.double()),
            "named_fraction": named_confidently(presence, motion).double().mean().item()}


def builtin_scores(batches: Iterable[torch.Tensor], model: BuiltinClassifier | None = None,
                   suffix: str = "") -> dict[str, float]:
    """The scores of a set of videos given as batches b 3 t h w in [-1, 1], named as `evaluate` reports them
    (builtin_shape_score{suffix}, ...); `model` defaults to the shipped classifier."""
    model = model or load_classifier()
    outputs = [model.probabilities(batch) for batch in batches]
    numbers = scores(torch.cat([o["shapes"] for o in outputs]), torch.cat([o["motion"] for o in outputs]))
    return {f"builtin_{name}{suffix}": value for name, value in numbers.items()}


def is_builtin(described: dict | None) -> bool:
    """Whether a real set's description (`source.describe()`) is clips of the built-in dataset."""
    return bool(described) and described.get("kind") == "dataset" and described.get("data") == "synthetic"


def builtin_score(fake, real, context) -> dict:
    """The `builtin_score` metric: the scores of the generated videos, and of the real ones (the ceiling)."""
    if not is_builtin(context.real_description):
        return {"builtin_score_skipped": "the real videos are not the built-in dataset, "
                                         "which is the only data its classifier knows"}
    model = load_classifier()
    return {**builtin_scores((batch for batch, _ in fake.batches()), model),
            **builtin_scores((batch for batch, _ in real.batches()), model, "_real")}
