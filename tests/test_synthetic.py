import numpy as np
import torch

from videogan.data.synthetic import MOTIONS, MovingObjects, render_video


def test_each_video_depends_only_on_seed_and_index():
    a, b = render_video(7, 3, 8, 32), render_video(7, 3, 8, 32)
    assert np.array_equal(a["video"], b["video"]) and a["label"] == b["label"]
    assert not np.array_equal(a["video"], render_video(7, 4, 8, 32)["video"])
    assert not np.array_equal(a["video"], render_video(8, 3, 8, 32)["video"])


def test_any_frame_count_and_size():
    for frames, size in ((4, 16), (16, 32), (32, 64), (7, 48)):
        item = render_video(0, 0, frames, size)
        assert item["video"].shape == (frames, size, size, 3) and item["video"].dtype == np.uint8
        assert item["mask"].shape == (frames, size, size)


def test_background_is_static_and_only_masked_pixels_change():
    for index in range(20):
        item = render_video(1, index, 16, 32)
        video, mask = item["video"].astype(int), item["mask"]
        changed = np.abs(np.diff(video, axis=0)).max(-1) > 0  # t-1 h w
        touched = (mask[1:] > 0) | (mask[:-1] > 0)
        assert not np.any(changed & ~touched), index  # the camera is still: nothing else moves
        assert changed.any(), index  # and the objects do move
        assert 0 < mask.mean() < 0.6


def test_labels_cover_every_motion_class():
    labels = {render_video(2, i, 8, 16)["label"] for i in range(60)}
    assert labels == set(range(len(MOTIONS)))


def test_dataset_items_are_model_ready():
    ds = MovingObjects(frames=8, size=16, seed=3, length=10, with_mask=True)
    item = ds[4]
    assert item["video"].shape == (3, 8, 16, 16) and item["video"].dtype == torch.float32
    assert -1 <= item["video"].min() and item["video"].max() <= 1
    assert item["mask"].shape == (8, 16, 16) and 0 <= item["label"] < MovingObjects.num_classes
    assert len(ds) == 10


def test_shape_labels_leave_every_pixel_as_it_was():
    import hashlib

    # hashes of video and mask bytes computed before render_video returned its shapes: same RNG draws
    expected = {(1234, 0, 16, 32): "807806e3b64d70db0c854b3014429077b176a589cbcb08096509ea8de043a2ef",
                (1234, 7, 16, 32): "f80da9ea9f73dfaff8580f938bac562500b66703c6b91426e75618fd8f90a0f9",
                (99, 3, 8, 16): "6b36aa2250f967bbe59bb1a15550e69c536810965fbc987b7a75fadf92f68cdc"}
    for args, digest in expected.items():
        item = render_video(*args)
        assert hashlib.sha256(item["video"].tobytes() + item["mask"].tobytes()).hexdigest() == digest, args


def test_shape_labels_name_one_to_max_objects_shapes_and_cover_all():
    from videogan.data.synthetic import SHAPES

    seen = np.zeros(len(SHAPES), int)
    for index in range(40):
        shapes = render_video(4, index, 4, 16)["shapes"]
        assert shapes.shape == (len(SHAPES),) and shapes.dtype == bool and 1 <= shapes.sum() <= 3
        assert render_video(4, index, 4, 16, max_objects=1)["shapes"].sum() == 1
        seen += shapes
    assert (seen > 0).all()


def test_object_scale_grows_the_objects_and_keeps_them_moving_inside_the_frame():
    """--object-scale multiplies every radius (the default, 1, leaves each video as the hashes above say);
    large objects still move, on every motion class (the minimum travel shrinks with the room left)."""
    labels = set()
    for index in range(30):
        small, large = render_video(5, index, 8, 32), render_video(5, index, 8, 32, object_scale=2.5)
        assert large["label"] == small["label"]  # the same draws: only the radius differs
        assert large["mask"].mean() > 2 * small["mask"].mean(), index
        assert (np.abs(np.diff(large["video"].astype(int), axis=0)).max(-1) > 0).any(), index
        labels.add(large["label"])
    assert labels == set(range(len(MOTIONS)))
