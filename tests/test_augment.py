"""Augmentation of the clips D sees: one transform per clip for all of its frames, differentiable, seeded."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

from videogan.config import ConfigError, ModelConfig, TrainConfig
from videogan.models import VideoDiscriminator
from videogan.train.augment import AUGMENTATIONS, ClipAugment, cutout, mirror, parse_augment, translation
from videogan.train.loss import VideoGANLoss

policies = st.lists(st.sampled_from(AUGMENTATIONS), min_size=1, max_size=3).map(",".join)
shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.sampled_from([4, 8, 16]), st.sampled_from([4, 8, 16]))


def _clips(b, t, h, w, seed=0):
    return torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@settings(max_examples=40, deadline=None)
@given(policy=policies, shape=shapes, seed=st.integers(0, 2 ** 32))
def test_a_still_clip_stays_still_and_the_draws_repeat(policy, shape, seed):
    """The same transform for every frame: a clip of one repeated frame comes out with its frames equal
    (augmenting makes no motion D could learn), in the input's shape and dtype, the same for the same seed."""
    b, t, h, w = shape
    still = _clips(b, 1, h, w, seed % 1000).expand(b, 3, t, h, w)
    augment = ClipAugment(policy)
    out = augment(still, torch.Generator().manual_seed(seed))
    assert out.shape == still.shape and out.dtype == still.dtype and torch.isfinite(out).all()
    assert torch.equal(out, out[:, :, :1].expand_as(out))
    assert torch.equal(out, augment(still, torch.Generator().manual_seed(seed)))


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 32))
def test_translation_moves_content_and_fills_with_grey(shape, seed):
    b, t, h, w = shape
    x = _clips(b, t, h, w, seed % 1000) * 0.5 + 0.5  # (0, 1]: no real pixel is the grey fill 0
    out = translation(x, torch.Generator().manual_seed(seed))
    for clip_in, clip_out in zip(x, out):
        kept = clip_out[0, 0] != 0
        # the kept pixels are the input's pixels shifted by a whole number of rows and columns (at most 1/8 + 1)
        # and nothing wraps around: exactly the pixels shifted in from outside are grey
        shifts = [(dy, dx) for dy in range(-h // 8 - 1, h // 8 + 2) for dx in range(-w // 8 - 1, w // 8 + 2)
                  if torch.equal(clip_out[..., kept], torch.roll(clip_in, (-dy, -dx), (2, 3))[..., kept])
                  and kept.sum() == (h - abs(dy)) * (w - abs(dx))]
        assert shifts, "translation is not a shift with a grey border"


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 32))
def test_cutout_zeroes_at_most_a_quarter(shape, seed):
    b, t, h, w = shape
    x = _clips(b, t, h, w, seed % 1000) * 0.5 + 0.75  # no zeros before
    out = cutout(x, torch.Generator().manual_seed(seed))
    zero = out == 0
    assert torch.equal(out[~zero], x[~zero])
    size_h, size_w = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    assert (zero.flatten(1).sum(1) <= 3 * t * size_h * size_w).all()


@pytest.mark.parametrize("policy", ["colour", "translation,", "cutout,,color", "Translation", "flip"])
def test_unknown_augmentations_are_refused_by_name(policy):
    with pytest.raises(ConfigError, match="augment"):
        TrainConfig(augment=policy)
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_augment(policy)


def test_r1_and_g_gradients_flow_through_the_augmentation():
    """R1 differentiates D's output at the *unaugmented* real clips through the transforms; G's loss reaches
    the generated clips; an augmenting loss without its random draws refuses."""
    cfg = ModelConfig(frames=8, size=16, d_width=8, d_norm="none")
    d = VideoDiscriminator(cfg)
    real, fake = _clips(2, 8, 16, 16, 1), _clips(2, 8, 16, 16, 2).requires_grad_(True)
    loss = VideoGANLoss(d, r1_gamma=1.0, augment="color,translation,cutout")
    total, stats = loss.discriminator_loss(real, fake, 0, torch.Generator().manual_seed(0))
    assert stats["r1"] > 0 and torch.isfinite(total)
    g_loss, _ = loss.generator_loss({"video": fake}, rng=torch.Generator().manual_seed(1))
    g_loss.backward()
    assert fake.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="rng"):
        loss.generator_loss({"video": fake})
    plain = VideoGANLoss(d).generator_loss({"video": fake})[0]  # no augmentation: no rng needed
    assert torch.isfinite(plain)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 32))
def test_mirror_flips_whole_clips_left_right_or_leaves_them(shape, seed):
    b, t, h, w = shape
    x = _clips(b, t, h, w, seed % 1000)
    out = mirror(x, torch.Generator().manual_seed(seed))
    assert torch.equal(out, mirror(x, torch.Generator().manual_seed(seed)))
    for clip_in, clip_out in zip(x, out):
        assert torch.equal(clip_out, clip_in) or torch.equal(clip_out, clip_in.flip(3))


def test_mirror_flips_about_half_of_the_clips():
    x = _clips(400, 1, 1, 2)
    flipped = (mirror(x, torch.Generator().manual_seed(0)) != x).any(dim=(1, 2, 3, 4)).float().mean()
    assert 0.4 < flipped < 0.6
