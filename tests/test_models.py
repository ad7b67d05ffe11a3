import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from videogan.config import ConfigError, ModelConfig, RunConfig, get_preset
from videogan.models import VideoDiscriminator, VideoGenerator, compose
from videogan.models.describe import describe


def _count(module):
    return sum(p.numel() for p in module.parameters())


def test_paper_generator_shapes_and_parameter_count():
    cfg = get_preset("paper").model
    g = VideoGenerator(cfg)
    parts = g(torch.randn(2, 100), parts=True)
    assert parts["video"].shape == (2, 3, 32, 64, 64)
    assert parts["foreground"].shape == (2, 3, 32, 64, 64)
    assert parts["mask"].shape == (2, 1, 32, 64, 64)
    assert parts["background"].shape == (2, 3, 64, 64)
    # trunk: 100*512*2*4*4 + 512*256*64 + 256*128*64 + 128*64*64 weights, BN 2*(512+256+128+64);
    # heads 64*4*64 + 4; background: 100*512*16 + 512*256*16 + 256*128*16 + 128*64*16 + BN + 64*3*16 + 3
    trunk = 100 * 512 * 32 + 512 * 256 * 64 + 256 * 128 * 64 + 128 * 64 * 64 + 2 * (512 + 256 + 128 + 64)
    heads = 64 * 4 * 64 + 4
    background = 100 * 512 * 16 + 512 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 2 * (512 + 256 + 128 + 64)
    background += 64 * 3 * 16 + 3
    assert _count(g) == trunk + heads + background == 16_243_463


def test_paper_discriminator_shapes_and_parameter_count():
    cfg = get_preset("paper").model
    d = VideoDiscriminator(cfg)
    assert d(torch.randn(2, 3, 32, 64, 64)).shape == (2,)
    assert d.features(torch.randn(1, 3, 32, 64, 64)).shape == (1, 512, 2, 4, 4)
    expected = (3 * 64 * 64 + 64) + 64 * 128 * 64 + 128 * 256 * 64 + 256 * 512 * 64 + 2 * (128 + 256 + 512)
    expected += 512 * 32 + 1
    assert _count(d) == expected == 11_040_577


def test_layer_shapes_follow_figure_1():
    table = describe(get_preset("paper"))
    trunk = [r["output"] for r in table["generator"]["layers"] if r["layer"].startswith("trunk") and r["type"] == "ConvTranspose3d"]
    assert trunk == [[512, 2, 4, 4], [256, 4, 8, 8], [128, 8, 16, 16], [64, 16, 32, 32]]
    disc = [r["output"] for r in table["discriminator"]["layers"] if r["type"] == "Conv3d"]
    assert disc == [[64, 16, 32, 32], [128, 8, 16, 16], [256, 4, 8, 8], [512, 2, 4, 4], [1, 1, 1, 1]]
    assert table["generator"]["params"] == 16_243_463


def test_one_stream_is_the_trunk_with_the_foreground_head():
    g = VideoGenerator(ModelConfig(arch="one_stream", frames=16, size=32, g_width=8))
    parts = g(torch.randn(3, 100), parts=True)
    assert set(parts) == {"video"} and parts["video"].shape == (3, 3, 16, 32, 32)
    assert not hasattr(g, "background")


def test_equation_2_on_hand_made_streams():
    mask = torch.tensor([0.0, 0.25, 1.0]).view(1, 1, 3, 1, 1).expand(1, 1, 3, 2, 2)
    foreground = torch.full((1, 3, 3, 2, 2), 0.8)
    background = torch.full((1, 3, 2, 2), -0.4)
    video = compose(mask, foreground, background)
    expected = torch.tensor([-0.4, 0.25 * 0.8 + 0.75 * -0.4, 0.8]).view(1, 1, 3, 1, 1).expand(1, 3, 3, 2, 2)
    assert torch.allclose(video, expected)


def test_background_is_static_and_output_is_the_composition():
    g = VideoGenerator(get_preset("tiny").model).eval()
    with torch.no_grad():
        parts = g(torch.randn(2, 16), parts=True)
    assert torch.allclose(parts["video"], compose(parts["mask"], parts["foreground"], parts["background"]))
    assert parts["mask"].min() >= 0 and parts["mask"].max() <= 1


def test_initialisation_statistics():
    g = VideoGenerator(get_preset("paper").model)
    d = VideoDiscriminator(get_preset("paper").model)
    w = g.trunk[1][0].weight
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.01) < 5e-4
    assert abs(d.features[2][0].weight.std().item() - 0.01) < 5e-4
    bn = g.trunk[0][1]
    assert abs(bn.weight.mean().item() - 1.0) < 0.01 and abs(bn.weight.std().item() - 0.02) < 0.005
    assert torch.all(bn.bias == 0) and torch.all(g.heads.bias == 0)
    assert d.features[1][1].eps == 1e-3


@pytest.mark.parametrize("kwargs, message", [
    (dict(size=48), "power of two"),
    (dict(frames=24), "power of two"),
    (dict(frames=8, size=64), "too short"),
    (dict(arch="three_stream"), "arch"),
])
def test_impossible_configs_are_clear_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig(**kwargs)


def test_longer_videos_use_a_longer_first_kernel():
    cfg = ModelConfig(frames=64, size=32, g_width=4, d_width=4, z_dim=8)
    assert cfg.first_frames == 8
    video = VideoGenerator(cfg)(torch.randn(2, 8))
    assert video.shape == (2, 3, 64, 32, 32)
    assert VideoDiscriminator(cfg)(video).shape == (2,)


@pytest.mark.parametrize("arch", ["two_stream", "one_stream"])
def test_resize_upsampling_keeps_every_shape_and_has_no_transposed_output_layer(arch):
    """--upsample resize replaces only the full-resolution layer(s): nearest doubling, then a 3x3 convolution."""
    cfg = ModelConfig(frames=8, size=16, z_dim=8, g_width=4, arch=arch, upsample="resize")
    generator, paper = VideoGenerator(cfg), VideoGenerator(dataclasses.replace(cfg, upsample="transposed"))
    z = torch.randn(2, 8)
    resized, transposed = generator(z, parts=True), paper(z, parts=True)
    assert {k: v.shape for k, v in resized.items()} == {k: v.shape for k, v in transposed.items()}
    heads = [m for m in generator.modules() if isinstance(m, nn.Upsample)]
    assert len(heads) == (2 if arch == "two_stream" else 1)
    assert isinstance(generator.heads[1], nn.Conv3d) and generator.heads[1].kernel_size == (3, 3, 3)
    # the trunk is the paper's: the same parameters under the same names
    assert {k for k in generator.state_dict() if k.startswith("trunk.")} == \
        {k for k in paper.state_dict() if k.startswith("trunk.")}


def test_configs_saved_before_a_field_existed_load_with_its_default():
    saved = get_preset("tiny").to_dict()
    del saved["model"]["upsample"], saved["train"]["ema_half_life"]
    config = RunConfig.from_dict(saved)
    assert config.model.upsample == "transposed" and config.train.ema_half_life == 0.0


def test_spectral_norm_discriminator_has_unit_norm_convolutions_and_no_batchnorm():
    """--d-norm spectral: every convolution's weight is divided by its largest singular value (estimated by
    power iteration, one step per training forward), and BatchNorm is gone; the output shape is unchanged."""
    cfg = ModelConfig(frames=8, size=16, z_dim=8, d_width=4, d_norm="spectral")
    discriminator = VideoDiscriminator(cfg)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in discriminator.modules())
    video = torch.randn(2, 3, 8, 16, 16)
    for _ in range(30):  # power iterations converge
        discriminator(video)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv3d)]
    assert len(convs) == cfg.stages + 1
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma == pytest.approx(1.0, rel=0.05)
    # a rebuilt D loads the state dict (weights and power-iteration vectors) and gives the same logits
    rebuilt = VideoDiscriminator(cfg)
    rebuilt.load_state_dict(discriminator.state_dict())
    discriminator.eval(), rebuilt.eval()
    assert torch.equal(rebuilt(video), discriminator(video))
    paper = VideoDiscriminator(dataclasses.replace(cfg, d_norm="batch"))
    assert paper(video).shape == discriminator(video).shape == (2,)


def test_discriminator_without_normalisation_has_plain_convolutions_only():
    """--d-norm none (for the R1 penalty): no BatchNorm and no spectral norm, the paper's layers otherwise."""
    cfg = ModelConfig(frames=8, size=16, z_dim=8, d_width=4, d_norm="none")
    discriminator = VideoDiscriminator(cfg)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in discriminator.modules())
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv3d)]
    assert len(convs) == cfg.stages + 1 and not any(hasattr(c, "parametrizations") for c in convs)
    video = torch.randn(3, 3, 8, 16, 16)
    # each clip's logit is its own: no statistic over the batch
    assert torch.allclose(discriminator(video)[:1], discriminator(video[:1]), atol=1e-6)


def test_contact_sheet_shows_each_video_its_background_mask_and_foreground_at_the_same_frames():
    from videogan.data.video_io import to_uint8
    from videogan.train.media import contact_sheet
    cfg = ModelConfig(frames=8, size=16, z_dim=8, g_width=4)
    parts = VideoGenerator(cfg).eval()(torch.randn(3, 8), parts=True)
    sheet = contact_sheet(parts, frames=4)
    assert sheet.shape == (3 * 17 + 1, 13 * 17 + 1, 3)  # 3 videos; 4 frames + background + 4 mask + 4 masked fg
    frames = to_uint8(parts["video"])  # n t h w 3
    assert np.array_equal(sheet[1 + 17:1 + 17 + 16, 1 + 17:1 + 17 + 16], frames[1, 2])  # video 1, frame round(7/3)
    assert np.array_equal(sheet[1:17, 1 + 4 * 17:1 + 4 * 17 + 16], to_uint8(parts["background"][:, :, None])[0, 0])
    one_stream = VideoGenerator(dataclasses.replace(cfg, arch="one_stream")).eval()(torch.randn(2, 8), parts=True)
    assert contact_sheet(one_stream, frames=4).shape == (2 * 17 + 1, 4 * 17 + 1, 3)


def test_the_memory_estimate_allocates_nothing_and_refuses_what_cannot_fit():
    from videogan.config import replace
    from videogan.models.memory import MemoryTooSmall, check_fits, network_sizes, training_bytes

    huge = replace(get_preset("paper"), model={"g_width": 1_000_000})
    assert network_sizes(huge.model).g_params > 10 ** 15  # measured on the meta device, in a test's memory
    paper = network_sizes(get_preset("paper").model)
    assert (paper.g_params, paper.d_params) == (16_243_463, 11_040_577)  # describe's counts
    assert training_bytes(replace(get_preset("tiny"), train={"batch_size": 8})) > training_bytes(get_preset("tiny"))
    with pytest.raises(MemoryTooSmall, match=r"needs about [\d,.]+ GiB of memory, but this machine has"):
        check_fits(training_bytes(huge), torch.device("cpu"), "training")
    check_fits(training_bytes(get_preset("tiny")), torch.device("cpu"), "training")


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 9), group=st.integers(1, 8))
def test_minibatch_std_lets_each_logit_see_how_its_group_differs_and_nothing_else(batch, group):
    """--d-minibatch-std G: a clip's logit depends on the clips of its group (the largest divisor of the batch
    up to G, taken strided as ProGAN does) and on no other; any batch size works."""
    cfg = ModelConfig(frames=8, size=16, z_dim=8, d_width=4, d_norm="none", d_minibatch_std=group)
    discriminator = VideoDiscriminator(cfg)
    rng = torch.Generator().manual_seed(batch * 10 + group)
    video = torch.randn(batch, 3, 8, 16, 16, generator=rng)
    logits = discriminator(video)
    assert logits.shape == (batch,)
    size = math.gcd(group, batch)
    peers = batch // size  # clip i shares its group with i + peers, i + 2 peers, ...
    changed = video.clone()
    changed[0] = 3 * torch.randn(3, 8, 16, 16, generator=rng)
    moved = discriminator(changed) != logits  # the others' arithmetic is the same to the bit
    expected = torch.tensor([i % peers == 0 for i in range(batch)])
    assert torch.equal(moved, expected)
    # a group of identical clips has no spread: the extra channel is ~0
    same = discriminator.spread(torch.ones(batch, 5, 1, 2, 2))
    assert same.shape == (batch, 6, 1, 2, 2) and same[:, 5].abs().max() < 1e-3


def test_a_discriminator_with_minibatch_std_still_gives_recognition_its_features():
    """The extra channel is D's own: the action classifier's head reads the features alone."""
    from videogan.tasks.recognition.finetune import ActionClassifier
    cfg = ModelConfig(frames=8, size=16, z_dim=8, d_width=4, d_norm="none", d_minibatch_std=4)
    classifier = ActionClassifier(VideoDiscriminator(cfg), num_classes=3)
    assert classifier(torch.randn(2, 3, 8, 16, 16)).shape == (2, 3)
