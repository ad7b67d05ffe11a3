"""Result JSONs are strict JSON: a NaN or infinite number is written as null, with the reason beside it."""
import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from videogan.files import write_result_json

numbers = st.floats() | st.integers() | st.sampled_from([math.nan, math.inf, -math.inf])  # floats: NaN and inf too
keys = st.text("abcdefgh_", min_size=1, max_size=6)
values = st.recursive(numbers | st.text(max_size=5) | st.booleans() | st.none(),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=20)


def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"{constant} in a result JSON")
    return json.loads(text, parse_constant=refuse)


def _leaves(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


@settings(max_examples=150, deadline=None)
@given(result=st.dictionaries(keys.filter(lambda k: k != "null_reasons"), values, min_size=1, max_size=5))
def test_non_finite_numbers_become_null_with_a_reason(tmp_path_factory, result):
    path = tmp_path_factory.mktemp("json") / "eval.json"
    text = write_result_json(path, result)
    assert path.read_text() == text
    written = _strict(text)
    reasons = written.pop("null_reasons", {})
    written_leaves = dict(_leaves(written))
    for leaf_path, value in _leaves(result):
        if isinstance(value, float) and not math.isfinite(value):
            assert written_leaves[leaf_path] is None and str(value) in reasons[leaf_path]
        else:
            assert written_leaves[leaf_path] == value and leaf_path not in reasons
    assert set(reasons) <= set(written_leaves)


def test_an_evaluate_result_with_a_nan_metric(tmp_path):
    path = tmp_path / "eval.json"
    write_result_json(path, {"fvd": 12.5, "mask_motion_correlation": math.nan, "null_reasons": {"x": "kept"}})
    written = _strict(path.read_text())
    assert written["fvd"] == 12.5 and written["mask_motion_correlation"] is None
    assert written["null_reasons"] == {"x": "kept", "mask_motion_correlation": written["null_reasons"][
        "mask_motion_correlation"]} and "nan" in written["null_reasons"]["mask_motion_correlation"]
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed
