import json

import numpy as np
import pytest
import torch
from PIL import Image
from videos import read_video

from videogan.checkpoint import load_checkpoint, save_checkpoint
from videogan.cli import main
from videogan.config import ConfigError, ModelConfig, get_preset, replace
from videogan.eval import diagnostics
from videogan.models import FutureGenerator, VideoDiscriminator, VideoGenerator
from videogan.models.describe import describe
from videogan.models.sampler import load_generator
from videogan.tasks.future import load_future_generator, load_image, output_names, predict
from videogan.tasks.units import highlight, selectivity
from videogan.train.gan import init_networks, train
from videogan.train.loss import VideoGANLoss, first_frame_loss


def _tiny(**model):
    config = replace(get_preset("future-tiny"), train={"iterations": 2, "log_every": 1, "checkpoint_every": 2,
                                                      "sample_every": 100, "keep_checkpoints": 0, "device": "cpu"})
    return replace(config, model=model) if model else config


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    run = tmp_path_factory.mktemp("future")
    return train(_tiny(), run, progress=False)


def test_paper_networks_follow_the_released_code():
    cfg = get_preset("future-paper").model
    g = FutureGenerator(cfg)
    weights = {name: list(p.shape) for name, p in g.named_parameters() if p.dim() > 1}
    assert weights == {  # (out, in) for convs, (in, out) for transposed convs; no 100-d code anywhere
        "encoder.0.0.weight": [128, 3, 4, 4], "encoder.1.0.weight": [256, 128, 4, 4],
        "encoder.2.0.weight": [512, 256, 4, 4], "encoder.3.0.weight": [1024, 512, 4, 4],
        "video.0.0.weight": [1024, 1024, 2, 1, 1], "video.1.0.weight": [1024, 512, 4, 4, 4],
        "video.2.0.weight": [512, 256, 4, 4, 4], "video.3.0.weight": [256, 128, 4, 4, 4],
        "heads.weight": [128, 4, 4, 4, 4],
        "background.0.0.0.weight": [1024, 512, 4, 4], "background.0.1.0.weight": [512, 256, 4, 4],
        "background.0.2.0.weight": [256, 128, 4, 4], "background.1.weight": [128, 3, 4, 4]}
    assert [type(m).__name__ for m in g.encoder[0]] == ["Conv2d", "ReLU"]  # no BatchNorm on the first layer
    assert g.encoder[1][1].eps == 1e-3
    # the spatial pattern, checked on the cpu preset (same layers, one stage fewer): 32x32 -> 4x4 -> 16x32x32
    table = describe(get_preset("future-cpu"))["generator"]["layers"]
    convs = {kind: [r["output"] for r in table if r["layer"].startswith(kind) and "Conv" in r["type"]]
             for kind in ("encoder", "video", "background")}
    assert convs == {"encoder": [[32, 16, 16], [64, 8, 8], [128, 4, 4]],
                     "video": [[128, 2, 4, 4], [64, 4, 8, 8], [32, 8, 16, 16]],
                     "background": [[64, 8, 8], [32, 16, 16], [3, 32, 32]]}
    d = VideoDiscriminator(get_preset("future-cpu").model)  # widths doubled with the generator's
    assert d.features(torch.zeros(1, 3, 16, 32, 32)).shape == (1, 128, 2, 4, 4)


def test_paper_forward_shapes_on_the_meta_device():
    cfg = get_preset("future-paper").model
    with torch.device("meta"):  # shapes only: no memory, no arithmetic
        g, d = FutureGenerator(cfg).eval(), VideoDiscriminator(cfg)
        parts = g(torch.zeros(2, 3, 64, 64), parts=True)
        assert {k: tuple(v.shape) for k, v in parts.items()} == {
            "video": (2, 3, 32, 64, 64), "foreground": (2, 3, 32, 64, 64), "mask": (2, 1, 32, 64, 64),
            "background": (2, 3, 64, 64)}
        assert [block[0].out_channels for block in d.features] == [128, 256, 512, 1024]
        assert d.classifier.kernel_size == (2, 4, 4)
        assert d.features(parts["video"]).shape == (2, 1024, 2, 4, 4) and d(parts["video"]).shape == (2,)


def test_tiny_shapes_and_deterministic_output():
    cfg = get_preset("future-tiny").model
    g = FutureGenerator(cfg).eval()
    image = torch.rand(2, 3, 16, 16) * 2 - 1
    parts = g(image, parts=True)
    assert parts["video"].shape == (2, 3, 8, 16, 16) and parts["foreground"].shape == (2, 3, 8, 16, 16)
    assert parts["mask"].shape == (2, 1, 8, 16, 16) and parts["background"].shape == (2, 3, 16, 16)
    assert g.encoder(image).shape == (2, 32, 4, 4)  # as many stride-2 stages as the streams: always 4x4
    assert torch.equal(g(image), g(image))
    with pytest.raises(ValueError, match="deterministic"):
        g(image, torch.zeros(2, 4))


def test_noise_futures_differ_between_seeds_and_repeat_with_one(tmp_path):
    cfg = _tiny(noise_dim=4)
    assert main(["train", "--task", "future", "--preset", "future-tiny", "--noise-dim", "4", "--iterations", "2",
                 "--device", "cpu", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    ckpt = tmp_path / "run"
    image = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(image)
    assert main(["predict", str(ckpt), str(image), "--samples", "2", "--out", str(tmp_path / "a")]) == 0
    assert main(["predict", str(ckpt), str(image), "--seed", "1", "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "in" / "foreground-1.mp4").exists()  # one file per sample
    assert not (tmp_path / "b" / "in" / "foreground-1.mp4").exists()
    # the futures themselves, before 8-bit rounding: a barely trained foreground sits near 0, i.e. at 127.5
    # levels, where CPU kernels' rounding differences from call to call flip pixels between two levels
    generator, pixels = load_future_generator(ckpt), load_image(image, 16)[None]
    futures = lambda samples, seed: predict(generator, pixels, samples, seed)["foreground"]  # noqa: E731
    a, c, b = futures(2, 0), futures(2, 0), futures(1, 1)
    assert torch.allclose(a, c, atol=1e-6)  # same seed: same futures
    assert min((a[0] - a[1]).abs().mean(), (a[0] - b[0]).abs().mean()) > 2e-5  # other noise: other futures
    with pytest.raises(ValueError, match=r"noise of shape \(batch, 4\)"):
        FutureGenerator(cfg.model)(torch.zeros(1, 3, 16, 16))


def test_task_flag_starts_from_the_future_cpu_preset(capsys):
    assert main(["describe", "--task", "future", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["config"] == get_preset("future-cpu").to_dict()
    assert described["generator"]["params"] == sum(p.numel() for p in FutureGenerator(get_preset("future-cpu").model)
                                                   .parameters())


def test_psnr_and_ssim():
    rng = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=rng) * 2 - 1
    assert diagnostics.psnr(x + 0.1, x).tolist() == pytest.approx([26.0206, 26.0206], abs=1e-3)  # 0.05 on [0, 1]
    assert diagnostics.ssim(x, x).tolist() == pytest.approx([1.0, 1.0])
    noisy = diagnostics.ssim(x + 0.2 * torch.randn(x.shape, generator=rng), x)
    assert (noisy < 0.95).all() and (diagnostics.ssim(-x, x) < noisy).all()


def test_first_frame_loss_on_hand_made_tensors():
    video = torch.zeros(1, 3, 2, 2, 2)
    video[:, :, 0] = 0.5
    video[:, :, 1] = 9.0  # later frames do not count
    image = torch.zeros(1, 3, 2, 2)
    image[..., 0, 0] = -0.5  # 3 of 12 elements differ by 1, the rest by 0.5
    assert first_frame_loss(video, image, "l1").item() == pytest.approx((3 * 1 + 9 * 0.5) / 12)
    assert first_frame_loss(video, image, "l2").item() == pytest.approx((3 * 1 + 9 * 0.25) / 12)
    d = torch.nn.Module()
    d.forward = lambda v: torch.zeros(v.shape[0])  # D(x) = 0.5: adversarial term log 2
    loss = VideoGANLoss(d, mask_l1=0.0, first_frame_weight=10.0, first_frame_kind="l2")
    value, stats = loss.generator_loss({"video": video, "mask": torch.ones(1, 1, 2, 2, 2)}, image=image)
    assert value.item() == pytest.approx(np.log(2) + 10 * (3 + 9 * 0.25) / 12, rel=1e-5)
    assert stats["first_frame"].item() == pytest.approx((3 + 9 * 0.25) / 12)
    with pytest.raises(ConfigError, match="first_frame_loss"):
        replace(get_preset("future-tiny"), train={"first_frame_loss": "l3"})
    with pytest.raises(ConfigError, match="two_stream"):
        ModelConfig(task="future", arch="one_stream")


def test_one_training_step_and_resume(tmp_path):
    config = _tiny(noise_dim=2)
    reference = init_networks(config.model, config.train.seed)[0].state_dict()
    train(replace(config, train={"iterations": 1, "checkpoint_every": 1}), tmp_path / "parts", progress=False)
    state = load_checkpoint(tmp_path / "parts")
    assert state["config"]["model"]["task"] == "future"
    for prefix in ("encoder", "video", "background"):
        assert any(not torch.equal(v, reference[k]) for k, v in state["generator"].items()
                   if k.startswith(prefix) and k.endswith("weight")), prefix
    train(config, tmp_path / "parts", resume=True, progress=False)
    train(config, tmp_path / "whole", progress=False)
    stats = [[json.loads(line) for line in (tmp_path / run / "stats.jsonl").read_text().splitlines()]
             for run in ("parts", "whole")]
    assert [r["iteration"] for r in stats[0]] == [1, 2]
    for a, b in zip(*stats):
        assert all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6) for k in ("loss_d", "loss_g", "first_frame"))
        assert np.isfinite(a["first_frame"])


def test_predict_writes_decodable_files_with_the_input_first(tmp_path, checkpoint):
    image = tmp_path / "wide photo.jpg"
    pixels = np.zeros((30, 60, 3), np.uint8)
    pixels[:, 15:45] = (200, 40, 10)  # the centre square the model sees: the crop keeps only this colour
    Image.fromarray(pixels).convert("L").convert("RGB").save(image)  # and a mode round trip
    grey = tmp_path / "grey.png"
    Image.fromarray(pixels[..., 0]).save(grey)  # a one-channel image
    assert main(["predict", str(checkpoint), str(image), str(grey), "--out", str(tmp_path / "out")]) == 0
    folder = tmp_path / "out" / "wide photo"
    frames = read_video(folder / "video-0.mp4")
    assert frames.shape == (9, 16, 16, 3)  # the input, then the 8 generated frames, at the model's size
    with Image.open(folder / "input.png") as im:
        model_input = np.asarray(im.convert("RGB")).astype(int)
    with Image.open(folder / "video-0.gif") as im:
        assert im.size == (16, 16)
        first = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(first - model_input).mean() < 3 and np.abs(frames[0] - model_input).mean() < 8
    assert np.abs(model_input - int(np.asarray(Image.fromarray(pixels).convert("L"))[0, 30])).max() <= 1
    for name in ("foreground", "mask", "foreground_masked"):
        assert len(read_video(folder / f"{name}-0.mp4")) == 8 and (folder / f"{name}-0.gif").exists()
    assert (folder / "background-0.png").exists() and (tmp_path / "out" / "grey" / "video-0.gif").exists()


def test_visualize_units_writes_its_grid(tmp_path, checkpoint):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(images / f"{i}.png")
    out = tmp_path / "units"
    assert main(["visualize-units", str(checkpoint), "--images", str(images), "--layer", "2", "--out", str(out),
                 "--units", "3", "--top", "4"]) == 0
    with Image.open(out / "units-layer2.png") as im:
        # 3 rows x 4 columns of 16-pixel tiles with 1-pixel borders, enlarged 4x (to 64 pixels a tile)
        assert im.size == (4 * (4 * 17 + 1), 4 * (3 * 17 + 1))
    rows = json.loads((out / "units-layer2.json").read_text())["units"]
    assert len(rows) == 3 and all(len(r["images"]) == 4 for r in rows)
    assert rows[0]["selectivity"] >= rows[-1]["selectivity"]


def test_clear_errors(tmp_path, checkpoint, capsys, monkeypatch):
    image = tmp_path / "ok.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["predict", str(tmp_path / "missing.pt"), str(image), "--out", str(tmp_path)]) == 2
    assert "missing.pt: no such checkpoint" in capsys.readouterr().err
    video_run = tmp_path / "video"
    train(replace(get_preset("tiny"), train={"iterations": 1, "device": "cpu"}), video_run, progress=False)
    assert main(["predict", str(video_run), str(image), "--out", str(tmp_path)]) == 2
    assert "not a future-generation checkpoint (task 'video')" in capsys.readouterr().err
    assert main(["visualize-units", str(video_run), "--images", str(tmp_path), "--layer", "1",
                 "--out", str(tmp_path)]) == 2
    assert "not a future-generation checkpoint" in capsys.readouterr().err
    assert main(["sample", str(checkpoint), "--out", str(tmp_path)]) == 2
    assert "videogan predict" in capsys.readouterr().err
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert main(["predict", str(checkpoint), str(image), str(text), "--out", str(tmp_path / "x")]) == 2
    assert "notes.png: not a readable image" in capsys.readouterr().err
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # the decompression bomb limit, scaled down
    Image.new("L", (101, 100)).save(tmp_path / "bomb.png")
    assert main(["predict", str(checkpoint), str(tmp_path / "bomb.png"), "--out", str(tmp_path / "x")]) == 2
    assert "bomb.png: refused as a possible decompression bomb" in capsys.readouterr().err.splitlines()[-1]
    monkeypatch.undo()
    assert not (tmp_path / "x").exists()  # every image is checked before anything is written
    assert main(["predict", str(checkpoint), str(tmp_path / "nope.jpg"), "--out", str(tmp_path)]) == 2
    assert "nope.jpg: no such image file" in capsys.readouterr().err
    assert main(["predict", str(checkpoint), str(tmp_path), "--out", str(tmp_path / "y")]) == 2
    assert f"{tmp_path}: is a folder, not an image file" in capsys.readouterr().err
    assert main(["visualize-units", str(checkpoint), "--images", str(tmp_path), "--layer", "5",
                 "--out", str(tmp_path)]) == 2
    assert "--layer must be between 1 and 2" in capsys.readouterr().err


def test_weights_of_another_network_are_a_clear_error_naming_the_file(tmp_path, capsys):
    # each config names one task, the weights are the other task's generator
    future_cfg, video_cfg = get_preset("future-tiny"), get_preset("tiny")
    mixed = {"future.pt": (future_cfg, VideoGenerator(video_cfg.model)),
             "video.pt": (video_cfg, FutureGenerator(future_cfg.model))}
    paths = {name: save_checkpoint(tmp_path / name, {"config": config.to_dict(), "iteration": 0,
                                                     "generator": net.state_dict()})
             for name, (config, net) in mixed.items()}
    fits = "its generator does not fit the {} its config describes: "
    with pytest.raises(ValueError, match=r"future\.pt: " + fits.format("FutureGenerator")):
        load_future_generator(paths["future.pt"])
    with pytest.raises(ValueError, match=r"video\.pt: " + fits.format("VideoGenerator")):
        load_generator(paths["video.pt"])
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    assert main(["predict", str(paths["future.pt"]), str(image), "--out", str(tmp_path / "out")]) == 2
    assert "future.pt: its generator does not fit" in capsys.readouterr().err


def test_images_with_the_same_name_get_their_own_folders(tmp_path, checkpoint):
    assert output_names([tmp_path / "a" / "x.png", tmp_path / "b" / "x.png", tmp_path / "x-2.png",
                         tmp_path / "x.jpg", tmp_path / "y.png"]) == ["x", "x-2", "x-2-2", "x-3", "y"]
    for folder, colour in (("a", (250, 0, 0)), ("b", (0, 0, 250))):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.full((16, 16, 3), colour, np.uint8)).save(tmp_path / folder / "x.png")
    assert main(["predict", str(checkpoint), str(tmp_path / "a" / "x.png"), str(tmp_path / "b" / "x.png"),
                 "--out", str(tmp_path / "out")]) == 0
    for name, colour in (("x", (250, 0, 0)), ("x-2", (0, 0, 250))):
        with Image.open(tmp_path / "out" / name / "input.png") as im:
            assert np.abs(np.asarray(im.convert("RGB")).astype(int) - colour).max() <= 1, name


def test_16_bit_and_float_images_are_scaled_not_saturated(tmp_path):
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.full((8, 8), 128 * 257, np.uint16)).save(grey16)  # 8-bit 128 at 16 bits
    grey_float = tmp_path / "grey_float.tif"
    Image.fromarray(np.full((8, 8), 128 / 255, np.float32)).save(grey_float)
    for path, mode in ((grey16, "I;16"), (grey_float, "F")):
        with Image.open(path) as im:
            assert im.mode == mode  # the modes Pillow's convert("RGB") clips at 255
        pixels = load_image(path, 8)
        assert pixels.shape == (3, 8, 8)
        assert torch.allclose(pixels, torch.full_like(pixels, 128 / 127.5 - 1), atol=1e-6), path.name


def test_selectivity_and_highlight_on_hand_made_maps():
    acts = torch.zeros(8, 3, 4, 4)  # 8 images, 3 units, 4x4 maps
    acts[:, 0] = 1.0  # fires the same on every image: not selective
    acts[[2, 5], 1, :, 2] = 5.0  # fires on images 2 and 5 only (map column 2): the selective one
    acts[:, 2, 0, 0] = 1 + 0.1 * torch.arange(8)  # fires on all, a little more on some
    scores = acts.flatten(2).amax(dim=2)  # 8 3, as `visualize_units` scores units
    selective = selectivity(scores, top=2)
    assert selective.argmax().item() == 1 and selective[0].item() == 0
    assert selective[1].item() == pytest.approx((5 - 1.25) / scores[:, 1].std().item())
    assert 0 < selective[2] < selective[1]
    # highlighted: where the map, upsampled bilinearly to 16x16, exceeds the threshold. Map column 2 spans
    # pixel columns 8..11, where it is 5 * 0.625 or more (the neighbours get 5 * 0.375 < 2.5); elsewhere a
    # white image is darkened to 0.25 of its brightness
    image = torch.ones(1, 3, 16, 16)
    shown = highlight(image, acts[[2], 1], threshold=2.5)
    expected = torch.full_like(image, 2 * 0.25 - 1)
    expected[..., 8:12] = 1.0
    assert torch.allclose(shown, expected)
