import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from videogan.config import DataConfig, ModelConfig
from videogan.data import build_dataset
from videogan.data.formats import detect_format, open_dataset
from videogan.data.shards import ShardWriter
from videos import moving_pattern, write_strip, write_video


def test_original_videogan_list_format(tmp_path):
    rng = np.random.default_rng(0)
    long = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)  # 40 frames: the first 32 are read
    short = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    write_strip(tmp_path / "golf" / "a" / "long.jpg", long)
    write_strip(tmp_path / "golf" / "a" / "short.jpg", short)
    (tmp_path / "golf.txt").write_text("golf/a/long.jpg 3\ngolf/a/short.jpg\n")
    assert detect_format(tmp_path / "golf.txt") == "videogan"
    data = open_dataset(tmp_path / "golf.txt", frames=32, size=32)
    first, second = data[0], data[1]
    assert first["label"] == 3 and second["label"] == -1
    expected = torch.from_numpy(long[:32]).permute(3, 0, 1, 2).float() / 127.5 - 1
    assert torch.allclose(first["video"], expected)
    assert torch.equal(second["video"][:, 5:], second["video"][:, 4:5].expand(-1, 27, -1, -1))  # last frame repeats
    assert open_dataset(tmp_path / "golf.txt", frames=8, size=16)[0]["video"].shape == (3, 8, 16, 16)


def test_jpeg_strips_decode_at_the_training_size_like_a_full_decode_and_resize(tmp_path):
    from PIL import Image

    from videogan.data.clips import adapt_clip

    y, x = np.mgrid[0:64, 0:64]
    frames = np.stack([np.stack([(x * 4 + 8 * t) % 256, y * 4, (x + y) * 2], -1) for t in range(8)]).astype(np.uint8)
    Image.fromarray(frames.reshape(-1, 64, 3)).save(tmp_path / "clip.jpg", quality=95)  # a real JPEG, 64 px
    (tmp_path / "list.txt").write_text("clip.jpg\n")
    with Image.open(tmp_path / "clip.jpg") as image:
        whole = np.array(image.convert("RGB")).reshape(8, 64, 64, 3)
    for size in (32, 16):  # the decoder scales by 1/2 and 1/4
        read = open_dataset(tmp_path / "list.txt", frames=8, size=size)[0]["video"]
        reference = adapt_clip(whole, 8, size, None)
        assert read.shape == reference.shape == (3, 8, size, size)
        assert (read - reference).abs().mean() < 0.02  # in [-1, 1]: a grey level or two


def test_videogan_list_apart_from_its_data_root(tmp_path):
    # as published: golf.txt in one place, the frames-stable-many/ folder it lists in another
    video = np.random.default_rng(2).integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    root = tmp_path / "data"
    write_strip(root / "frames-stable-many" / "golf" / "0001.jpg", video)
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "golf.txt").write_text("frames-stable-many/golf/0001.jpg\n")
    data = build_dataset(DataConfig(data=str(tmp_path / "lists" / "golf.txt"), data_root=str(root)),
                         ModelConfig(frames=8, size=16))
    assert torch.equal(data[0]["video"], torch.from_numpy(video).permute(3, 0, 1, 2).float() / 127.5 - 1)
    with pytest.raises(ValueError, match="consecutive items failed"):  # beside the list: nothing there
        open_dataset(tmp_path / "lists" / "golf.txt", frames=8, size=16)[0]
    with pytest.raises(ValueError, match="--data-root applies to VideoGAN list files only"):
        open_dataset(root, "videos", root=root)


def test_video_folder_random_crops_are_seeded(tmp_path, caplog):
    for i in range(3):
        write_video(tmp_path / f"v{i}.mp4", moving_pattern(30, 40, 56, seed=i))
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 1000)
    data = open_dataset(tmp_path, frames=8, size=16, seed=5)
    assert detect_format(tmp_path) == "videos" and len(data) == 4
    again = open_dataset(tmp_path, frames=8, size=16, seed=5)
    assert torch.equal(data[1]["video"], again[1]["video"])
    crops = set()
    for epoch in range(4):
        data.set_epoch(epoch)
        crops.add(data[1]["video"].sum().item())
    assert len(crops) > 1
    # the broken file is reported once, and another video served in its place (never a black clip)
    items = [data[0]["video"] for _ in range(2)]
    assert all(v.std() > 0.05 for v in items)
    assert sum("broken.mp4" in r.message for r in caplog.records) == 1


def test_shards_train_through_build_dataset_and_dataloader(tmp_path):
    writer = ShardWriter(tmp_path / "prepared" / "shards", "x")
    rng = np.random.default_rng(1)
    for i in range(4):
        writer.add_clip(f"c{i}", rng.integers(0, 256, (12 + i, 20, 20, 3), dtype=np.uint8), {"source": f"s{i}", "label": i})
        writer.end_input({"source": f"s{i}", "status": "ok"})
    writer.close()
    data = build_dataset(DataConfig(data=str(tmp_path / "prepared")), ModelConfig(frames=8, size=16))
    batch = next(iter(DataLoader(data, batch_size=4, shuffle=True, num_workers=1,
                                 generator=torch.Generator().manual_seed(0))))
    assert batch["video"].shape == (4, 3, 8, 16, 16) and sorted(batch["label"].tolist()) == [0, 1, 2, 3]
    assert batch["video"].min() >= -1 and batch["video"].max() <= 1


def test_unknown_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_dataset(tmp_path / "missing")
    with pytest.raises(ValueError, match="no video files"):
        open_dataset(tmp_path)
    with pytest.raises(ValueError, match="unknown data format"):
        open_dataset(tmp_path, "hdf5")
