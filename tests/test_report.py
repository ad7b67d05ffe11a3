"""`videogan report RUN` and the page `train` writes when it finishes, checked in a real browser at desktop
and phone widths; the files it reads (stats.jsonl, eval-*.json, config.json), bad ones generated."""
from __future__ import annotations

import html
import json
import re
import shutil

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from browser import Page, chromium, wait_for_media
from videogan.cli import main
from videogan.eval.metrics import METRIC_KEYS, METRICS, EvalContext, VideoSet
from videogan.eval.results import registered_keys
from videogan.tasks.report import eval_table, write_report
from videogan.tasks.report_files import Evaluation, read_evaluations
from videogan.train.log import read_stats

TINY = ["--preset", "tiny", "--sample-every", "2", "--log-every", "1", "--checkpoint-every", "2", "--device", "cpu",
        "--no-progress"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny GAN run of 4 iterations with checkpoints at 2 and 4; tests copy it before changing it."""
    run = tmp_path_factory.mktemp("tiny") / "run"
    assert main(["train", *TINY, "--iterations", "4", "--out", str(run)]) == 0
    return run


def _copy(run, tmp_path):
    return shutil.copytree(run, tmp_path / "run")


def _evaluation(iteration: int, **numbers) -> str:
    return json.dumps({"iteration": iteration, "n": 8, **numbers})


def test_train_writes_a_report_that_renders_at_desktop_and_phone_widths(tiny_run, tmp_path):
    run = _copy(tiny_run, tmp_path)
    assert main(["train", "--resume", str(run), "--iterations", "6", "--device", "cpu", "--no-progress"]) == 0
    assert "streams-0000006" in (run / "report.html").read_text()  # a resumed run's page is brought up to date
    # evaluations whose file names sort in another order than their iterations; one by `evaluate` itself
    assert main(["evaluate", str(run), "--n", "4", "--metrics", "flicker,colour", "--device", "cpu"]) == 0
    (run / "eval-4.json").write_text(_evaluation(4, fvd=812.5, fvd_real_floor=127.7, builtin_shape_score=1.5))
    (run / "eval-golf-2.json").write_text(_evaluation(2, fvd=990.0, fvd_real_floor=130.1))
    assert main(["report", str(run)]) == 0
    page_text = (run / "report.html").read_text()
    # self-contained: nothing is fetched from elsewhere (the inline SVGs only name their XML namespaces)
    assert not re.search(r'(src|href)="(?!#|data:)\w+:', page_text)
    for src in ("report/losses.png", "report/d_outputs.png", "report/mask.png", "report/speed.png",
                "samples/0000002_videos.gif", "samples/0000006_videos.gif", "report/streams-0000006/mask.gif",
                "report/streams-0000006/background.png"):
        assert f'src="{src}"' in page_text and (run / src).stat().st_size > 0
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page_text
    # the summary: what ran, how long, the best FVD read against its floor
    assert "<code>tiny</code> with" in page_text and "<code>--iterations 6</code>" in page_text
    assert "6 of 6" in page_text and "the built-in dataset (seed 1234)" in page_text
    assert '<b class="best-fvd">812.5</b> at iteration 4' in page_text and "floor at the same n, frames and size: <b>127.7" in page_text
    assert "of training (across resumes)" in page_text
    with chromium() as browser:
        for name, context in (("report-desktop.png", {"viewport": {"width": 1100, "height": 900}}),
                              ("report-phone.png", PHONE)):
            page = Page(browser, **context)
            page.page.goto((run / "report.html").as_uri())
            assert wait_for_media(page.page) == []
            assert page.page.locator("img").count() >= 12
            width = context["viewport"]["width"]
            # laid out at the device's width (no shrinking to a 980 px desktop page), nothing wider than it
            assert page.page.evaluate("[innerWidth, document.documentElement.scrollWidth]") == [width, width]
            # the evaluations in order of iteration; one FVD marker per file that measured FVD
            rows = page.page.locator("table.evaluations tr td:first-child").all_inner_texts()
            assert rows == ["eval-golf-2.json", "eval-4.json", "eval-6.json"]
            assert page.page.locator('figure[data-metric="fvd"] g#metric-fvd use').count() == 2
            assert page.page.locator('figure[data-metric="flicker"] g#metric-flicker use').count() == 1
            assert json.loads(page.page.get_attribute('figure[data-metric="fvd"]', "data-points")) == {
                "fvd": 2, "fvd_real_floor": 2}
            assert page.page.locator('figure[data-metric="fvd"] svg').bounding_box()["width"] <= width
            page.screenshot(tmp_path / name)
            assert page.errors == []


def test_report_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_a_future_task_run_gets_a_report_without_streams(tmp_path):
    run = tmp_path / "future"
    assert main(["train", "--task", "future", "--preset", "future-tiny", "--iterations", "1", "--device", "cpu",
                 "--no-progress", "--out", str(run)]) == 0
    page_text = (run / "report.html").read_text()
    assert "use `videogan predict`" in page_text and "future generation from a still image" in page_text


class _StubI3D(torch.nn.Module):
    """Stands in for the I3D (400 logits per clip) where only the names of the fvd metric's numbers matter."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, clips):  # b 3 t 224 224 -> b 400
        return torch.randn(len(clips), 400, generator=torch.Generator().manual_seed(len(clips))) * self.scale


def test_every_metric_writes_the_keys_it_registers_and_each_key_has_a_column():
    """A metric whose numbers are renamed (motion_energy_w1 -> motion_w1) fails here, instead of silently
    dropping out of the report's table, its plots and TensorBoard."""
    assert set(METRIC_KEYS) == set(METRICS)
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 256, (9, 16, 16, 3), dtype=np.uint8) for _ in range(4)]
    masks = [rng.random((9, 16, 16)).astype(np.float32) for _ in range(4)]
    context = EvalContext(i3d=_StubI3D(), frames=9, batch_size=4,
                          real_description={"kind": "dataset", "data": "synthetic"})
    real = VideoSet(videos, labels=["bend", "bend", "wave", "wave"])  # labelled, for class_coverage
    for name, metric in METRICS.items():
        written = set(metric(VideoSet(videos, masks), real, context))
        expected = set(METRIC_KEYS[name]) - ({"fvd_real_floor"} if name == "fvd" else set())  # evaluate adds it
        expected |= {"class_shares"} if name == "class_coverage" else set()  # a description, not a number
        assert written == expected, name
    table = eval_table([Evaluation("eval-1.json", 1, 8, {key: 1.0 for key in registered_keys()}, (), "")])
    for metric, keys in METRIC_KEYS.items():
        assert f">{metric}</th>" in table and all(f'<th class="key">{key}</th>' in table for key in keys)


# ---------------------------------------------------------------------------------------------
# Bad files, generated: each bad line or file is left out with a note naming it; the page is built.

GOOD_RECORD = st.builds(lambda i, loss: {"iteration": i, "loss_d": loss, "time": 1.5},
                        st.integers(0, 10**6), st.floats(allow_nan=True, allow_infinity=True))
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
BAD_ITERATION = (st.none() | st.booleans() | st.floats() | st.text(max_size=10) | st.integers(max_value=-1)
                 | st.integers(min_value=2**53 + 1) | st.lists(st.integers(), max_size=2))
BAD_LINE = st.one_of(
    JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(json.dumps),  # `5`, a list, a string
    st.dictionaries(st.text(max_size=8).filter(lambda k: k != "iteration"), JSON_SCALARS, max_size=3).map(json.dumps),
    BAD_ITERATION.map(lambda i: json.dumps({"iteration": i, "loss_d": 0.5})),
    st.tuples(GOOD_RECORD.map(json.dumps), st.floats(0, 0.99)).map(lambda t: t[0][:int(len(t[0]) * t[1])]).filter(
        str.strip),  # torn by a kill
    st.binary(min_size=1, max_size=30).map(lambda b: b.decode("utf-8", "replace").replace("\n", " ").replace(
        "\r", " ")).filter(lambda s: s.strip() and not s.strip().startswith("{")),
    st.just("[" * 100_000),  # nested too deep for the parser
)
STATS = st.lists(st.one_of(GOOD_RECORD.map(lambda r: (True, json.dumps(r))), BAD_LINE.map(lambda s: (False, s))),
                 max_size=12)


@given(lines=STATS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(lines=[(False, "5"), (False, '{"loss_d": 1}'), (True, '{"iteration": 3, "loss_d": 0.5}'),
                (False, '{"iteration": 4, "time": 12.')])
@example(lines=[(False, "\x00\x0b"), (False, "null")])  # \v: a line break to str.splitlines, not to the file
def test_every_bad_stats_line_is_left_out_with_its_file_and_line(tmp_path, lines):
    path = tmp_path / "stats.jsonl"
    path.write_text("".join(line + "\n" for _, line in lines))
    records, notes = read_stats(path)
    assert records == [json.loads(line) for good, line in lines if good]
    assert [note.split(": ")[0] for note in notes] == [f"{path}:{number}" for number, (good, _) in
                                                      enumerate(lines, 1) if not good]


NUMBERS = st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-10**400, max_value=10**400)
EVALUATION = st.fixed_dictionaries({"iteration": st.integers(0, 10**6), "n": st.integers(1, 2048)},
                                   optional={key: NUMBERS | st.none() for key in registered_keys()})
BAD_EVALUATION = st.one_of(
    JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(json.dumps),
    BAD_ITERATION.map(lambda i: json.dumps({"iteration": i, "fvd": 1.0})),
    EVALUATION.map(json.dumps).map(lambda s: s[:len(s) // 2]),  # torn
    st.just("[" * 100_000),
)


@given(good=st.lists(EVALUATION, max_size=4), bad=st.lists(BAD_EVALUATION, max_size=3),
       bad_value=st.sampled_from(["text", [1], {"a": 1}, True]))
@settings(max_examples=100, deadline=None)
def test_a_broken_evaluation_is_named_and_left_out_and_bad_values_are_not_plotted(tmp_path_factory, good, bad,
                                                                                  bad_value):
    run = tmp_path_factory.mktemp("evals")
    for index, result in enumerate(good):
        (run / f"eval-good{index}.json").write_text(json.dumps({**result, "colour_w1": bad_value}))
    for index, text in enumerate(bad):
        (run / f"eval-bad{index}.json").write_text(text)
    evaluations, notes = read_evaluations(run)
    assert sorted(e.name for e in evaluations) == sorted(f"eval-good{i}.json" for i in range(len(good)))
    assert [e.iteration for e in evaluations] == sorted(r["iteration"] for r in good)
    for index in range(len(bad)):
        assert sum(note.startswith(f"{run / f'eval-bad{index}.json'}: ") for note in notes) == 1
    assert sum("colour_w1 is" in note for note in notes) == len(good)
    for evaluation in evaluations:
        assert all(v is None or np.isfinite(v) for v in evaluation.numbers.values())
        assert evaluation.numbers["colour_w1"] is None


def _edited(config: dict, field: str, value) -> dict:
    section, key = field.split(".")
    return {**config, section: {**config[section], key: value}}


CONFIG_EDITS = st.one_of(
    st.tuples(st.sampled_from(["train.iterations", "model.g_width", "data.data", "train.lr"]),
              JSON_SCALARS).map(lambda t: ("edit", t)),
    st.text(max_size=30).filter(lambda s: not s.strip().startswith(("{", "[", '"')) or not s.strip()).map(
        lambda s: ("text", s)),
    JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(lambda v: ("text", json.dumps(v))),
)


@given(lines=STATS, evaluations=st.lists(EVALUATION | BAD_EVALUATION, max_size=3), config=CONFIG_EDITS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_run_folder_of_bad_files_still_gives_a_page_that_names_them(tiny_run, tmp_path_factory, lines, evaluations,
                                                                      config, capsys):
    run = _copy(tiny_run, tmp_path_factory.mktemp("bad"))
    (run / "stats.jsonl").write_text("".join(line + "\n" for _, line in lines))
    for index, result in enumerate(evaluations):
        (run / f"eval-{index}.json").write_text(json.dumps(result) if isinstance(result, dict) else result)
    written = json.loads((run / "config.json").read_text())
    kind, change = config
    if kind == "edit":
        field, value = change
        (run / "config.json").write_text(json.dumps(_edited(written, field, value)))
    else:
        (run / "config.json").write_text(change)
    page = write_report(run, generate_streams=False).read_text()
    warnings = capsys.readouterr().err
    for number, (good, _) in enumerate(lines, 1):
        assert (f"{run / 'stats.jsonl'}:{number}:" in page) != good
        assert (f"{run / 'stats.jsonl'}:{number}:" in warnings) != good
    for index, result in enumerate(evaluations):
        is_one = isinstance(result, dict)
        assert (f"<td>eval-{index}.json</td>" in page) == is_one
        assert is_one or f"{run / f'eval-{index}.json'}: " in page
    if kind == "edit" and value != written[field.split(".")[0]][field.split(".")[1]]:
        assert "config.json differs from the config in" in page and f"<td>{field}</td>" in page
    elif kind == "text":
        assert "the checkpoint's config is what runs" in page and f"<pre>{html.escape(change)}</pre>" in page
    assert "<code>tiny</code>" in page  # the summary comes from the checkpoint, whatever config.json says


def test_a_run_before_its_first_checkpoint_gets_a_page_from_its_config_json(tmp_path, capsys):
    run = tmp_path / "young"
    run.mkdir()
    (run / "stats.jsonl").write_text('{"iteration": 5, "loss_d": 1.2, "time": 75.0}\n5\n')
    (run / "config.json").write_text('{"model": {"frames": 16, "size": 32, "g_width": 16, "d_width": 16}}')
    page = write_report(run).read_text()
    assert "5 of 100000 (no checkpoint yet)" in page and "1 min 15 s of training" in page
    assert f"{run / 'stats.jsonl'}:2: not a whole record" in page
    (run / "config.json").write_text('{"model": ')
    page = write_report(run).read_text()
    assert f"{run / 'config.json'}: not JSON" in page and "<pre>{&quot;model&quot;: </pre>" in page
    assert f"{run / 'config.json'}: not JSON" in capsys.readouterr().err
