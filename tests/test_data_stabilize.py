import numpy as np
import pytest

from videogan.data.stabilize import Stabilizer
from videos import background_residual, camera_shake_scene

SIZE = 128


@pytest.fixture(scope="module")
def scene():
    return camera_shake_scene(10, SIZE, seed=3)


def test_stabilization_removes_camera_motion(scene):
    video, views = scene
    out = list(Stabilizer().run(video))
    assert [f.segment for f in out] == [0] * len(video)
    assert background_residual(views, [f.transform for f in out], SIZE) < 0.5
    assert background_residual(views, [np.eye(3)] * len(video), SIZE) > 0.5
    assert all(f.matches >= 10 and f.error < 2.5 for f in out[1:])
    # uncovered border pixels are filled from the previous stabilized frame, never left black
    assert all((f.image.sum(-1) > 0).mean() > 0.99 for f in out)


@pytest.mark.parametrize("work_side", [64, 96])
def test_working_resolution_cost(scene, work_side):
    """Features at a reduced resolution: residual background motion in frame pixels (see docs/data.md)."""
    video, views = scene
    residual = background_residual(views, [f.transform for f in Stabilizer(work_side=work_side).run(video)], SIZE)
    assert residual < 0.5


def test_segment_breaks_where_matching_fails(scene):
    video, _ = scene
    other, _ = camera_shake_scene(6, SIZE, seed=9)  # a cut to an unrelated scene
    out = list(Stabilizer().run(np.concatenate([video[:5], other])))
    assert [f.segment for f in out] == [0] * 5 + [1] * 6
    assert out[5].break_reason.startswith("matching failed") and np.array_equal(out[5].transform, np.eye(3))
