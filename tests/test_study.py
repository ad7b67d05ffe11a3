"""`videogan study make|serve|tally`: the pair design, the answers' checks, the tally, and the pages in a
real browser (tests/browser.py)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser import Page, chromium, study_server, wait_for_media
from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.tasks.study.make import make_study, parse_source
from videogan.tasks.study.manifest import load_study
from videogan.tasks.study.tally import tally, wilson_interval
from videogan.train.gan import train


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny GAN against the built-in data: 9 trials and 2 catch trials."""
    root = tmp_path_factory.mktemp("study")
    config = replace(get_preset("tiny"), train={"iterations": 2, "sample_every": 100, "device": "cpu"})
    train(config, root / "gan", progress=False)
    return make_study([f"gan={root / 'gan'}", "real:synthetic:1235"], root / "site", videos=4, per_comparison=9,
                      catch=2, platform=True)


def _answer(study, trial, participant="p1", choice="left", swap=False):
    left, right = (trial.b, trial.a) if swap else (trial.a, trial.b)
    return {"study": study.id, "participant": participant, "trial": trial.id, "left": left, "right": right,
            "choice": choice, "response_ms": 900, "position": 0}


def test_wilson_interval_matches_the_formula_and_stays_in_range():
    low, high = wilson_interval(82, 100)
    assert (round(low, 4), round(high, 4)) == (0.7333, 0.8830)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_sources_and_the_pair_design(study, tmp_path):
    assert parse_source("real:synthetic").kind == "real"
    folder = parse_source(f"{study / 'videos' / 'v0'}/")
    assert (folder.name, folder.kind) == ("v0", "folder")
    assert parse_source(f"ae={study / 'videos' / 'v0'}").name == "ae"
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        parse_source(str(tmp_path / "nothing"))
    loaded = load_study(study)
    trials = list(loaded.trials.values())
    assert loaded.comparisons == [("gan", "real")]
    assert sum(not t.catch for t in trials) == 9 and sum(t.catch for t in trials) == 2
    # every video of a source is used before any is repeated
    assert sorted(t.a_video for t in trials[:4]) == [f"videos/v0/{i:03d}" for i in range(4)]
    # the page is blind: neither its data nor a video's address names a source or marks a catch trial
    page_data = (study / "study-data.js").read_text()
    assert '"gan"' not in page_data and '"real"' not in page_data and "catch" not in page_data
    for trial in trials:
        for video in (trial.a_video, trial.b_video):
            assert (study / f"{video}.mp4").stat().st_size > 0 and (study / f"{video}.gif").stat().st_size > 0
    assert all(t.b == "catch:noise" and t.a == "real" for t in trials if t.catch)
    assert len((study / "platform.csv").read_text().splitlines()) == 1 + len(trials)


def test_tally_excludes_participants_who_fail_a_catch_trial_and_reports_bad_lines(study, tmp_path):
    loaded = load_study(study)
    normal = [t for t in loaded.trials.values() if not t.catch]
    catch = [t for t in loaded.trials.values() if t.catch]
    good = [_answer(loaded, t, "good", "left") for t in normal[:6]] + [_answer(loaded, catch[0], "good", "left")]
    bad = [_answer(loaded, t, "bad", "right") for t in normal[:6]] + [_answer(loaded, catch[0], "bad", "right")]
    lines = [json.dumps(a) for a in good + bad]
    lines += [lines[0], json.dumps({**good[0], "trial": "t9999"}), json.dumps({**good[0], "study": "other"}),
              '{"study": "torn']
    answers = tmp_path / "answers-download.jsonl"
    answers.write_text("\n".join(lines))
    result = tally(study, [answers])
    assert result["excluded_participants"] == ["bad"]
    assert result["rows"] == [{"prefer": "gan", "over": "real", "n": 6, "chosen": 6, "percent": 100.0,
                               "ci95": [61.0, 100.0], "participants": 1}]
    assert result["duplicates_left_out"] == 1
    problems = "\n".join(result["problems"])
    assert "no trial 't9999'" in problems and "another study" in problems and "line 18: not a complete JSON" in problems
    assert answers.read_text().count("\n") == len(lines) - 1  # nothing rewritten


def test_tally_and_serve_refuse_bad_folders_with_one_line(study, tmp_path, capsys):
    assert main(["study", "tally", str(study)]) == 2
    assert "no valid answers" in capsys.readouterr().err
    assert main(["study", "tally", str(tmp_path)]) == 2
    assert "not a study folder" in capsys.readouterr().err
    other = tmp_path / "v2"
    other.mkdir()
    data = json.loads((study / "study.json").read_text())
    (other / "study.json").write_text(json.dumps({**data, "version": 2}))
    assert main(["study", "serve", str(other)]) == 2
    assert "study format version 2" in capsys.readouterr().err


def _choose(page, study: Path) -> str:
    """Click the video that is not noise (on a normal trial: the left one); returns the side."""
    noise = "/" + json.loads((study / "study.json").read_text())["settings"]["catch_folder"] + "/"
    sources = page.page.evaluate("() => ['left', 'right'].map(s => document.querySelector('#' + s + ' > *').src)")
    side = "right" if noise in sources[0] else "left"
    page.page.click(f"#{side}")
    return side


def test_a_participant_answers_leaves_comes_back_and_the_tally_counts_it(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))  # its own answers.jsonl
    with chromium() as browser, study_server(study) as url:
        page = Page(browser)
        page.page.goto(url + "?pid=tester")
        for choice in range(10):
            assert wait_for_media(page.page) == [], f"choice {choice}: media did not render"
            assert page.page.inner_text("#progress") == f"Comparison {choice + 1} of 11"
            if choice == 0:
                page.screenshot(tmp_path / "study-trial.png")
            _choose(page, study)
            if choice == 4:  # leave and come back
                page.page.wait_for_function("() => !document.getElementById('status').textContent.includes('not yet')")
                page.page.reload()
        page.page.wait_for_function("() => document.getElementById('status').textContent === '10 answer(s) saved'")
        assert page.page.inner_text("#progress") == "Comparison 11 of 11"
        _choose(page, study)
        page.page.wait_for_selector("#done:not([hidden])")
        page.screenshot(tmp_path / "study-done.png")
        assert page.errors == []
        elsewhere = Page(browser)  # another browser, no localStorage: the server knows what "tester" answered
        elsewhere.page.goto(url + "?pid=tester")
        elsewhere.page.wait_for_selector("#done:not([hidden])")
        assert elsewhere.errors == []
    answers = [json.loads(line) for line in (study / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 11 and len({a["trial"] for a in answers}) == 11
    assert {a["participant"] for a in answers} == {"tester"}
    assert sum(a["catch"] for a in answers) == 2 and all(a["chosen"] == "real" for a in answers if a["catch"])
    assert all(len(a["ua_hash"]) == 16 and a["response_ms"] >= 0 for a in answers)
    assert {a["left"] for a in answers} != {"gan"} or {a["right"] for a in answers} != {"real"}  # sides vary
    out = subprocess.run([sys.executable, "-m", "videogan.cli", "study", "tally", str(study)], capture_output=True,
                         text=True, check=True).stdout
    assert "Prefer gan over real" in out
    result = json.loads((study / "tally.json").read_text())
    assert result["excluded_participants"] == [] and result["rows"][0]["n"] == 9
    assert (study / "tally.png").stat().st_size > 0


def test_the_page_works_without_the_server_and_answers_download(study, tmp_path):
    with chromium() as browser:
        page = Page(browser, accept_downloads=True)
        page.page.goto((study / "index.html").as_uri() + "?pid=offline")
        for _ in range(3):
            assert wait_for_media(page.page) == []
            _choose(page, study)
        assert "kept in this browser" in page.page.inner_text("#status")
        with page.page.expect_download() as download:
            page.page.click("#download")
        saved = tmp_path / "answers-offline.jsonl"
        download.value.save_as(saved)
        assert page.errors == []
    result = tally(study, [saved])
    assert result["answers"] == 3 and result["participants"] == 1


def test_a_browser_that_cannot_play_h264_gets_the_gifs(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    for mp4 in (study / "videos" / "v0").glob("*.mp4"):  # the GAN's
        mp4.write_bytes(b"not a video")  # a file the browser fails to decode: its GIF must take its place
    with chromium() as browser:
        for cannot_play in (False, True):
            page = Page(browser)
            if cannot_play:  # as a Chromium built without the proprietary codecs answers
                page.page.add_init_script("HTMLMediaElement.prototype.canPlayType = () => ''")
            page.page.goto((study / "index.html").as_uri() + f"?pid=gif{cannot_play}")
            for _ in range(3):
                assert wait_for_media(page.page) == []
                shown = page.page.evaluate("() => [...document.querySelectorAll('.choice > *')].map(e => e.src)")
                assert all(src.endswith(".gif") for src in shown if cannot_play or "/v0/" in src), shown
                assert cannot_play or any(src.endswith(".mp4") for src in shown)
                _choose(page, study)
            # the broken MP4s' failed loads are expected; nothing else may go wrong
            assert [e for e in page.errors if "/v0/" not in e] == []


def test_the_server_checks_answers_keeps_them_private_and_survives_a_torn_line(study, tmp_path):
    import threading
    import urllib.error
    import urllib.request

    from videogan.tasks.study.serve import make_server

    study = Path(shutil.copytree(study, tmp_path / "site"))
    trial = next(iter(load_study(study).trials.values()))
    (study / "answers.jsonl").write_text(json.dumps({**_answer(load_study(study), trial, "early"), "ua_hash": ""})
                                         + '\n{"study": "torn')
    server = make_server(study, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    def post(answer):
        request = urllib.request.Request(url + "api/answer", json.dumps(answer).encode(),
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    try:
        answer = _answer(load_study(study), trial, "p2", "right", swap=True)
        assert post(answer) == (200, {"status": "recorded"})
        assert post(answer) == (200, {"status": "duplicate"})
        assert post(_answer(load_study(study), trial, "early")) == (200, {"status": "duplicate"})
        status, body = post({**answer, "trial": "t9999"})
        assert status == 400 and "no trial" in body["error"]
        status, body = post({**answer, "left": "gan", "right": "gan"})
        assert status == 400 and "shows" in body["error"]
        status, body = post({**answer, "shown_left": "c"})
        assert status == 400 and "shown_left" in body["error"]
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(url + "study.json")  # it says which video is which source
        with urllib.request.urlopen(url + "api/answers?participant=p2") as response:
            assert json.loads(response.read()) == {"trials": [trial.id]}
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(url + "answers.jsonl")
    finally:
        server.shutdown()
        server.server_close()
    lines = (study / "answers.jsonl").read_text().splitlines()
    assert lines[1] == '{"study": "torn' and json.loads(lines[2])["participant"] == "p2" and len(lines) == 3
    assert json.loads(lines[2])["chosen"] == trial.a  # swapped sides: the right video was from source a
