"""`videogan study make|serve|tally`: the pair design, the answers' checks, the tally, and the pages in a
real browser (tests/browser.py)."""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from browser import Page, chromium, study_server, wait_for_media
from videogan.cli import main
from videogan.config import get_preset, replace
from videogan.tasks.study.make import make_study, parse_source
from videogan.tasks.study.answers import read_answers
from videogan.tasks.study.manifest import load_study
from videogan.tasks.study.serve import Limits, StudyServer
from videogan.tasks.study.tally import tally, wilson_interval
from videogan.train.gan import train


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A tiny GAN against the built-in data: 9 trials and 2 catch trials."""
    root = tmp_path_factory.mktemp("study")
    config = replace(get_preset("tiny"), train={"iterations": 2, "sample_every": 100, "device": "cpu"})
    train(config, root / "gan", progress=False)
    # 8 frames at 16 fps: a play-through, which the page waits for on every trial, takes half a second
    return make_study([f"gan={root / 'gan'}", "real:synthetic:1235"], root / "site", videos=4, per_comparison=9,
                      catch=2, platform=True, fps=16)


def _answer(study, trial, participant="p1", choice="left", swap=False):
    left, right = (trial.b, trial.a) if swap else (trial.a, trial.b)
    return {"study": study.id, "participant": participant, "trial": trial.id, "left": left, "right": right,
            "choice": choice, "response_ms": 2500, "position": 0}


def test_wilson_interval_matches_the_formula_and_stays_in_range():
    low, high = wilson_interval(82, 100)
    assert (round(low, 4), round(high, 4)) == (0.7333, 0.8830)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_sources_and_the_pair_design(study, tmp_path):
    assert parse_source("real:synthetic").kind == "real"
    folder = parse_source(f"{study / 'videos'}/")
    assert (folder.name, folder.kind) == ("videos", "folder")
    assert parse_source(f"ae={study / 'videos'}").name == "ae"
    with pytest.raises(FileNotFoundError, match="not a checkpoint"):
        parse_source(str(tmp_path / "nothing"))
    loaded = load_study(study)
    trials = list(loaded.trials.values())
    assert loaded.comparisons == [("gan", "real")]
    assert sum(not t.catch for t in trials) == 9 and sum(t.catch for t in trials) == 2
    # every video of a source is used before any is repeated
    assert len({t.a_video for t in trials[:4]}) == 4
    # a video's address is a keyed hash: the same for every trial that shows it, one folder for all sources
    assert len({t.a_video for t in trials if t.a == "gan"}) == 4 and all(
        t.a_video.count("/") == 1 and t.b_video.count("/") == 1 for t in trials)
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
    good.append({**_answer(loaded, normal[6], "good", "left"), "response_ms": 120})  # quicker than one play-through
    lines = [json.dumps(a) for a in good + bad]
    lines += [lines[0], json.dumps({**good[0], "trial": "t9999"}), json.dumps({**good[0], "study": "other"}),
              '{"study": "torn']
    answers = tmp_path / "answers-download.jsonl"
    answers.write_text("\n".join(lines))
    result = tally(study, [answers])
    assert result["excluded_participants"] == ["bad"]
    assert result["rows"] == [{"prefer": "gan", "over": "real", "n": 6, "chosen": 6, "percent": 100.0,
                               "ci95": [61.0, 100.0], "participants": 1}]
    assert result["duplicates_left_out"] == 1 and result["fast_answers_left_out"] == 1
    assert result["answers_per_participant"] == {"bad": 7, "good": 8}
    problems = "\n".join(result["problems"])
    assert "no trial 't9999'" in problems and "another study" in problems and ":19: not a complete JSON" in problems
    assert result["bad_lines_left_out"] == 3
    assert answers.read_text().count("\n") == len(lines) - 1  # nothing rewritten


# each once a traceback in serve or tally, or a wrong answer counted
BAD_LINES = ['{"response_ms": Infinity}', '{"response_ms": NaN}', '{"response_ms": 1e400}', '{"response_ms": -5}',
             '{"response_ms": ' + "9" * 400 + '}', '{"response_ms": true}', '{"response_ms": "900"}',
             '{"trial": ["t0000"]}', '{"trial": {"a": 1}}', '{"participant": ["p"]}', '{"participant": ""}',
             '{"choice": true}', '{"choice": ["left"]}', '{"shown_left": ["a"]}', '{"left": 1, "right": 2}',
             '{"position": true}', '{"position": -1}', '{"position": 1.5}', '{"ua_hash": {"x": 1}}',
             '{"received": 5}', '{"study": ["x"]}']


def _bad_line(study, fields: str) -> str:
    """A good answer with some of its fields replaced (as text, so JSON that Python would not write fits)."""
    good = {k: v for k, v in _answer(study, next(iter(study.trials.values())), "bad").items()
            if k not in json.loads(fields.replace("Infinity", "0").replace("NaN", "0").replace("1e400", "0"))}
    return json.dumps(good)[:-1] + ", " + fields[1:]


def test_bad_answer_lines_are_skipped_with_file_and_line_and_counted(study, tmp_path, capsys):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    loaded = load_study(study)
    good = _answer(loaded, next(iter(loaded.trials.values())), "good")
    missing = [json.dumps({k: v for k, v in good.items() if k != key}) for key in ("study", "trial", "choice",
                                                                                   "response_ms")]
    lines = [json.dumps(good)] + [_bad_line(loaded, fields) for fields in BAD_LINES] + missing + \
        ["[1, 2]", "5", '"text"', "[" * 5000, "\udcff".encode("utf-8", "surrogateescape").decode("latin-1")]
    (study / "answers.jsonl").write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n\xff\xfe{")
    with serving(study) as url:  # the server starts, and knows the good answer
        status, session = _post(url + "api/session", {"participant": "good"})
        assert status == 200 and session["trials"] == [good["trial"]]
    assert "answers.jsonl:2: Infinity is not a number" in capsys.readouterr().err
    assert main(["study", "tally", str(study)]) == 0
    out = capsys.readouterr().out
    bad = len(lines)  # every line but the good one, and the last (not UTF-8)
    assert f"note: {bad} bad answer lines left out" in out
    for number in range(2, bad + 2):
        assert f"answers.jsonl:{number}: " in out, number
    result = json.loads((study / "tally.json").read_text())
    assert result["answers"] == 1 and result["bad_lines_left_out"] == bad


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(record=st.dictionaries(st.sampled_from(["study", "participant", "trial", "shown_left", "left", "right",
                                                "choice", "response_ms", "position", "ua_hash", "received"]),
                              st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
                              | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=2),
                                                                                     st.integers(), max_size=2)),
       keep=st.booleans(), raw=st.binary(max_size=40))
def test_any_answer_record_is_read_or_skipped_with_its_line(study, tmp_path_factory, record, keep, raw):
    """Swapped types, missing and extra keys, non-finite numbers, bytes that are not JSON: a trusted answer
    or a named skip, never an exception; a record with the right types comes through unchanged."""
    loaded = load_study(study)
    base = _answer(loaded, next(iter(loaded.trials.values())), "h") if keep else {}
    path = tmp_path_factory.mktemp("answers") / "answers.jsonl"
    text = json.dumps({**base, **record}, allow_nan=True).encode()
    path.write_bytes(text + b"\n" + raw.replace(b"\n", b" "))
    log = read_answers(loaded, [path])
    assert len(log.answers) + len(log.problems) == 1 + bool(raw.strip()) - log.duplicates
    assert all(problem.startswith(f"{path}:") for problem in log.problems)
    for answer in log.answers:
        assert isinstance(answer["response_ms"], int) and not isinstance(answer["response_ms"], bool)
        assert isinstance(answer["participant"], str) and answer["trial"] in loaded.trials
        assert answer["choice"] in ("left", "right") and answer["chosen"] in answer["pair"]


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


def _begin(page, url: str) -> None:
    """Open the study and agree to the instructions."""
    page.page.goto(url)
    page.page.click("#start")


def _choose(page, study: Path, tap: bool = False) -> str:
    """Once both videos have played through, click (or tap) the video that is not noise (on a normal
    trial: the left one); returns the side."""
    page.page.wait_for_selector("#trial[data-state=answerable]")
    noise = {t["b_video"] for t in json.loads((study / "study.json").read_text())["trials"] if t["catch"]}
    sources = page.page.evaluate("() => ['left', 'right'].map(s => document.querySelector('#' + s + ' > *').src)")
    side = "right" if any(f"/{video}." in sources[0] for video in noise) else "left"
    (page.page.tap if tap else page.page.click)(f"#{side}")
    return side


def test_a_participant_answers_leaves_comes_back_and_the_tally_counts_it(study, tmp_path, capsys):
    study = Path(shutil.copytree(study, tmp_path / "site"))  # its own answers.jsonl
    data = study / "study-data.js"  # as `study make --completion-url` writes it
    data.write_text(data.read_text().replace('"completion_url": ""',
                                             '"completion_url": "https://example.org/done?cc={code}&id={pid}"'))
    with chromium() as browser, study_server(study) as url:
        page = Page(browser)
        _begin(page, url + "?pid=tester")
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
        code = page.page.inner_text("#code")
        assert page.page.get_attribute("#continue", "href") == f"https://example.org/done?cc={code}&id=tester"
        assert page.errors == []
        resume = page.page.get_attribute("#resume", "href")
        elsewhere = Page(browser)  # another browser, no localStorage: the id alone is refused (403) ...
        elsewhere.page.goto(url + "?pid=tester")
        elsewhere.page.wait_for_selector("#taken:not([hidden])")
        assert "another browser" in elsewhere.page.inner_text("#taken-reason")
        elsewhere = Page(browser)  # ... its link with the token goes on where the participant left
        elsewhere.page.goto(resume)
        elsewhere.page.wait_for_selector("#done:not([hidden])")
        assert elsewhere.errors == []
    answers = [json.loads(line) for line in (study / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 11 and len({a["trial"] for a in answers}) == 11
    assert {a["participant"] for a in answers} == {"tester"}
    assert sum(a["catch"] for a in answers) == 2 and all(a["chosen"] == "real" for a in answers if a["catch"])
    assert all(len(a["ua_hash"]) == 16 and a["response_ms"] >= 500 and not a["fast"] for a in answers)
    assert {a["left"] for a in answers} != {"gan"} or {a["right"] for a in answers} != {"real"}  # sides vary
    assert main(["study", "tally", str(study)]) == 0  # in this process: torch is loaded already
    assert "Prefer gan over real" in capsys.readouterr().out
    result = json.loads((study / "tally.json").read_text())
    assert result["excluded_participants"] == [] and result["rows"][0]["n"] == 9
    assert (study / "tally.png").stat().st_size > 0


def test_instructions_then_a_blocked_early_answer_then_an_accepted_one(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    with chromium() as browser, serving(study) as url:
        page = Page(browser)
        page.page.goto(url + "?pid=rusher")
        page.page.wait_for_selector("#intro:not([hidden])")
        intro = page.page.inner_text("#intro")
        assert "more realistic" in intro and "Consent" in intro and "11 comparisons" in intro
        assert page.page.is_hidden("#trial")
        page.page.keyboard.press("ArrowLeft")  # no answer before agreeing
        page.screenshot(tmp_path / "study-instructions.png")
        page.page.click("#start")
        page.page.keyboard.press("ArrowLeft")  # before the videos played through: refused, and said so
        page.page.wait_for_selector("#wait:not([hidden])")
        assert page.page.inner_text("#progress") == "Comparison 1 of 11"
        assert "press" in page.page.inner_text("#hint")
        page.page.wait_for_selector("#trial[data-state=answerable]")
        page.page.keyboard.press("ArrowLeft")
        page.page.keyboard.press("ArrowLeft")  # a double press: the second meets a trial not yet played
        assert page.page.inner_text("#progress") == "Comparison 2 of 11"
        page.page.wait_for_function("() => document.getElementById('status').textContent === '1 answer(s) saved'")
        page.page.wait_for_timeout(300)
        assert page.page.inner_text("#progress") == "Comparison 2 of 11"
        assert wait_for_media(page.page) == []
        assert page.errors == []
    answers = [json.loads(line) for line in (study / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 1 and answers[0]["response_ms"] >= load_study(study).min_response_ms
    assert answers[0]["fast"] is False


def test_a_phone_taps_through_three_trials(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    with chromium() as browser, serving(study) as url:
        page = Page(browser, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                    device_scale_factor=2)
        page.page.goto(url + "?pid=phone")
        page.page.tap("#start")
        hint = page.page.inner_text("#hint")
        assert "Tap" in hint and "press" not in hint
        for choice in range(3):
            assert wait_for_media(page.page) == []
            assert page.page.inner_text("#progress") == f"Comparison {choice + 1} of 11"
            # both videos side by side, within the screen
            boxes = [page.page.locator(f"#{side}").bounding_box() for side in ("left", "right")]
            assert boxes[0]["y"] == boxes[1]["y"] and boxes[1]["x"] + boxes[1]["width"] <= 390
            _choose(page, study, tap=True)
        page.page.wait_for_function("() => document.getElementById('status').textContent === '3 answer(s) saved'")
        assert page.page.evaluate("() => document.documentElement.scrollWidth") <= 390
        assert page.errors == []
    answers = [json.loads(line) for line in (study / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 3 and {a["participant"] for a in answers} == {"phone"}


def test_make_refuses_what_cannot_take_effect_and_takes_instructions(tmp_path, capsys):
    base = ["study", "make", "a=real:synthetic:1", "b=real:synthetic:2", "--videos", "2", "--per-comparison", "1",
            "--catch", "0", "--size", "16", "--out", str(tmp_path / "s")]
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9")
    (tmp_path / "empty.txt").write_text("  \n")
    for flags, named in ((["--frames", "0"], "--frames 0"), (["--fps", "0"], "--fps 0.0"),
                         (["--fps", "nan"], "--fps: expected a finite number, got 'nan'"), (["--frames", "8", "--fps", "-1"], "--fps -1.0"),
                         (["--size", "0"], "--size 0"), (["--min-response-ms", "-5"], "--min-response-ms"),
                         (["--instructions", str(tmp_path / "latin1.txt")], "not UTF-8"),
                         (["--instructions", str(tmp_path / "empty.txt")], "--instructions"),
                         (["--instructions", str(tmp_path / "none.txt")], "cannot be read"),
                         (["--completion-url", "javascript:alert(1)"], "--completion-url")):
        assert main(base + flags) == 2, flags
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and named in err, (flags, err)
    assert not (tmp_path / "s" / "study.json").exists()
    text = "Judge the motion only.\n\nThere are {trials} comparisons.\n"
    (tmp_path / "mine.txt").write_text(text)
    assert main(base + ["--frames", "8", "--fps", "4", "--instructions", str(tmp_path / "mine.txt"),
                        "--completion-url", "https://example.org/done?cc={code}"]) == 0
    data = json.loads((tmp_path / "s" / "study-data.js").read_text().removeprefix("window.STUDY = ").rstrip(";\n"))
    assert data["instructions"] == ["Judge the motion only.", "There are 1 comparisons."]
    assert data["settings"]["clip_ms"] == 2000 and data["completion_url"] == "https://example.org/done?cc={code}"
    assert load_study(tmp_path / "s").min_response_ms == 2000  # one play-through of 8 frames at 4 fps


def test_the_page_works_without_the_server_and_answers_download(study, tmp_path):
    with chromium() as browser:
        page = Page(browser, accept_downloads=True)
        _begin(page, (study / "index.html").as_uri() + "?pid=offline")
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
            _begin(page, (study / "index.html").as_uri() + f"?pid=gif{cannot_play}")
            for _ in range(3):
                assert wait_for_media(page.page) == []
                shown = page.page.evaluate("() => [...document.querySelectorAll('.choice > *')].map(e => e.src)")
                assert all(src.endswith(".gif") for src in shown if cannot_play or "/v0/" in src), shown
                assert cannot_play or any(src.endswith(".mp4") for src in shown)
                _choose(page, study)
            # the broken MP4s' failed loads are expected; nothing else may go wrong
            assert [e for e in page.errors if "/v0/" not in e] == []


@contextmanager
def serving(study: Path, **limits):
    """`StudyServer` on a free port of 127.0.0.1, in a thread of its own; yields its URL."""
    server = StudyServer(study, port=0, limits=Limits(**limits))
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve():
        loop.run_until_complete(server.start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    async def stop():  # as asyncio.run ends `study serve`: the server, then what its connections left
        await server.stop()
        left = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in left:
            task.cancel()
        await asyncio.gather(*left, return_exceptions=True)

    try:
        yield f"http://127.0.0.1:{server.port}/"
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


def _post(url: str, body) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_server_checks_answers_keeps_them_private_and_survives_a_torn_line(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    trial = next(iter(load_study(study).trials.values()))
    (study / "answers.jsonl").write_text(json.dumps({**_answer(load_study(study), trial, "early"), "ua_hash": ""})
                                         + '\n{"study": "torn')
    with serving(study) as url:
        status, session = _post(url + "api/session", {"participant": "p2"})
        assert status == 200 and session["trials"] == [] and len(session["token"]) >= 20
        answer = {**_answer(load_study(study), trial, "p2", "right", swap=True), "token": session["token"]}
        assert _post(url + "api/answer", answer) == (200, {"status": "recorded"})
        assert _post(url + "api/answer", answer) == (200, {"status": "duplicate"})
        status, body = _post(url + "api/answer", {**answer, "trial": "t9999"})
        assert status == 400 and "no trial" in body["error"]
        status, body = _post(url + "api/answer", {**answer, "left": "gan", "right": "gan"})
        assert status == 400 and "shows" in body["error"]
        status, body = _post(url + "api/answer", {**answer, "shown_left": "c"})
        assert status == 400 and "shown_left" in body["error"]
        status, body = _post(url + "api/answer", {**answer, "response_ms": True})  # a bool is not a time
        assert status == 400 and "response_ms" in body["error"]
        # back in another browser: the same id is given back only with its token
        assert _post(url + "api/session", {"participant": "p2", "token": session["token"]}) == \
            (200, {"participant": "p2", "token": session["token"], "trials": [trial.id]})
        for name in ("study.json", "answers.jsonl", "sessions.jsonl", "%73tudy.json"):
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(url + name)
    lines = (study / "answers.jsonl").read_text().splitlines()
    assert lines[1] == '{"study": "torn' and json.loads(lines[2])["participant"] == "p2" and len(lines) == 3
    assert json.loads(lines[2])["chosen"] == trial.a  # swapped sides: the right video was from source a
    assert "token" not in lines[2] and session["token"] not in (study / "sessions.jsonl").read_text()


def test_nobody_answers_in_another_participants_name(study, tmp_path):
    study = Path(shutil.copytree(study, tmp_path / "site"))
    loaded = load_study(study)
    trial = next(iter(loaded.trials.values()))
    with serving(study) as url:
        status, session = _post(url + "api/session", {"participant": "alice"})
        assert status == 200
        for token in (None, "", "forged", session["token"] + "x", ["list"]):
            body = {**_answer(loaded, trial, "alice"), **({} if token is None else {"token": token})}
            status, refused = _post(url + "api/answer", body)
            assert status == 403 and "token" in refused["error"]
            status, refused = _post(url + "api/session", {"participant": "alice", "token": token})
            assert status == 403 and "another browser" in refused["error"]
        status, _ = _post(url + "api/answer", {**_answer(loaded, trial, "mallory"), "token": session["token"]})
        assert status == 403  # a token is its participant's only
        assert _post(url + "api/answer", {**_answer(loaded, trial, "alice"), "token": session["token"]}) == \
            (200, {"status": "recorded"})
    with serving(study, participants=2) as url:  # tokens outlive a restart of the server
        assert _post(url + "api/answer", {**_answer(loaded, trial, "alice"), "token": session["token"]}) == \
            (200, {"status": "duplicate"})
        assert _post(url + "api/session", {"participant": "bob"})[0] == 200
        status, refused = _post(url + "api/session", {"participant": "carol"})  # sessions.jsonl stays bounded
        assert status == 503 and "as many participants" in refused["error"]
    assert [json.loads(line)["participant"] for line in (study / "answers.jsonl").read_text().splitlines()] == ["alice"]
    (study / "answers.jsonl").unlink()  # the study made again in this folder: its ids are free again
    data = json.loads((study / "study.json").read_text())
    (study / "study.json").write_text(json.dumps({**data, "id": "remade"}))
    with serving(study) as url:
        assert _post(url + "api/session", {"participant": "alice"})[0] == 200


def _exchange(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes; the response (status line, headers and the body its Content-Length announces, or
    all until the server closes), b"" if the server closed without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as connection:
        connection.sendall(request)
        response = b""
        while chunk := connection.recv(65536):
            response += chunk
            head, blank, body = response.partition(b"\r\n\r\n")
            length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.IGNORECASE)
            if blank and (request.startswith(b"HEAD ") or length and len(body) >= int(length[1])):
                break
    return response


def _status(response: bytes) -> int:
    assert response.startswith(b"HTTP/1."), f"no response: {response[:200]!r}"
    return int(response.split(b" ", 2)[1])


# the spellings of a request for a file the participant may not have: each a regression example as well
ATTACKS = ["/study.json", "/%73tudy.json", "/%2573tudy.json", "/%61nswers.jsonl", "/%74ally.json", "/tally.json",
           "/sessions.jsonl", "/platform.csv", "/videos/../study.json", "/videos/%2e%2e/study.json",
           "/videos%2Fv0%2F000.mp4", "/videos/", "/videos/v0/", "/./study.json", "/%2e/study.json", "//study.json",
           "/videos/v0/..%2F..%2Fstudy.json", "/videos\\..\\study.json", "/%5cstudy.json", "/study.json%00.mp4",
           "/study.json\x00", "/%C0%AE%C0%AE/study.json", "/\uff53tudy.json", "/index.html/../study.json",
           "/videos/v1/000.mp4", "http://127.0.0.1/study.json", "*"]
PIECES = ["study.json", "answers.jsonl", "tally.json", "sessions.jsonl", "index.html", "videos", "v0", "v1",
          "000.mp4", "000.gif", "..", ".", "%2e%2e", "%2E%2e", "%252e%252e", "%2f", "%2F", "%5c", "\\", "%00",
          "\x00", "%c0%af", "%ff", "\u2215", "\uff0e\uff0e", "", ";", "?", "#", "%3f", "%23", "%73tudy.json"]
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "CONNECT", "get", "FOO"]


@pytest.fixture(scope="module")
def guarded_site(study, tmp_path_factory):
    """A copy of the study with answers, a session, a tally and a video replaced by a symlink out of the
    folder: everything that must never be served is there to be asked for."""
    root = tmp_path_factory.mktemp("guarded")
    site = Path(shutil.copytree(study, root / "site"))
    (root / "outside.txt").write_text("SECRET-OUTSIDE")
    loaded = load_study(site)
    linked = next(iter(loaded.trials.values())).a_video  # a video the page may fetch, now a way out
    (site / f"{linked}.mp4").unlink()
    (site / f"{linked}.mp4").symlink_to(root / "outside.txt")
    (site / "tally.json").write_text('{"SECRET-TALLY": 1}')
    trial = next(t for t in loaded.trials.values() if linked not in (t.a_video, t.b_video))
    (site / "answers.jsonl").write_text(json.dumps(_answer(loaded, trial, "SECRET-PARTICIPANT")) + "\n")
    return site


def test_the_server_serves_nothing_outside_its_allowlist(guarded_site):
    """Paths of every spelling, methods, headers and bodies: a response for each (never a reset), never a
    500, and nothing but the allowlisted files ever in a 200."""
    from videogan.tasks.study.serve import allowlist

    loaded = load_study(guarded_site)
    allowed = allowlist(loaded)
    linked = next(iter(loaded.trials.values())).a_video  # its MP4 is the symlink out (guarded_site)
    served = sorted(trial.b_video for trial in loaded.trials.values() if linked != trial.b_video)[0]
    secrets = [b"SECRET-OUTSIDE", b"SECRET-TALLY", b"SECRET-PARTICIPANT", b"token_sha256", b'"sources"', b"catch:noise"]
    with serving(guarded_site, idle_s=2, body_s=1) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(path=st.one_of(st.sampled_from(ATTACKS),
                              st.lists(st.sampled_from(PIECES) | st.text(max_size=6), max_size=5).map("/".join)
                              .map(lambda p: "/" + p)),
               method=st.sampled_from(METHODS),
               headers=st.lists(st.sampled_from(["Content-Length: abc", "Content-Length: -1", "Content-Length: 1, 2",
                                                 "Transfer-Encoding: chunked", "Range: bytes=0-", "Range: bytes=-5",
                                                 "Content-Type: text/html", "Expect: 100-continue", "X: \x7f\x01",
                                                 "Content-Length: 99999999999999999999", "Host: evil.example",
                                                 "Authorization: x" * 3]), max_size=3),
               body=st.binary(max_size=64) | st.builds(lambda d: json.dumps(d).encode(),
                                                       st.dictionaries(st.sampled_from(["participant", "token"]),
                                                                       st.text(max_size=8) | st.integers())))
        @example(path="/%73tudy.json", method="GET", headers=[], body=b"")
        @example(path="/api/answer", method="POST", headers=["Content-Length: abc"], body=b"{}")
        def check(path, method, headers, body):
            target = path.encode("utf-8", "surrogatepass")
            head = [f"{method} ".encode() + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
            head += [h.encode("utf-8", "surrogatepass") for h in headers]
            if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
                head.append(f"Content-Length: {len(body)}".encode())
            response = _exchange(port, b"\r\n".join(head) + b"\r\n\r\n" + body)
            status = _status(response)
            assert status < 500, (path, method, response[:300])
            if status in (200, 206):
                plain = path.partition("?")[0]
                assert plain in allowed or plain in ("/api/session", "/api/answer"), (path, method)
            assert not any(secret in response for secret in secrets), (path, method, response[:300])

        check()
        get = "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert _status(_exchange(port, get.format(f"/{linked}.mp4").encode())) == 404  # the symlink out
        # and what must be served still is
        for name in ("/", "/index.html", "/study.js", "/study-data.js", f"/{served}.gif"):
            assert _status(_exchange(port, f"GET {name} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())) == 200


def test_the_server_limits_bodies_headers_and_slow_clients(guarded_site):
    with serving(guarded_site, idle_s=1, body_s=1) as url:
        port = int(url.rsplit(":", 1)[1].strip("/"))
        big = json.dumps({"participant": "p", "pad": "x" * 20_000}).encode()
        assert _post(url + "api/session", big)[0] == 413
        many = "".join(f"X-{i}: {i}\r\n" for i in range(100))
        assert _status(_exchange(port, f"GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n".encode())) in (400, 431)
        long = "X: " + "y" * 10_000
        assert _status(_exchange(port, f"GET / HTTP/1.1\r\nHost: x\r\n{long}\r\n\r\n".encode())) in (400, 431)
        started = time.monotonic()  # headers that never end: closed after the idle limit, not held open
        assert _exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n", timeout=10) == b""
        assert time.monotonic() - started < 5
        slow_body = _exchange(port, b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{", 10)
        assert _status(slow_body) == 408
        # a plain-text post (what another site's page can send without asking) is refused before its body
        text = _exchange(port, b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                               b"Content-Length: 20\r\nConnection: close\r\n\r\n{\"participant\": \"x\"}")
        assert _status(text) == 415
        for length in ("abc", "-1", "1, 2", "99999999999999999999"):
            request = f"POST /api/answer HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode()
            assert _status(_exchange(port, request)) in (400, 413), length
        for body in (b'{"participant": "p", "x": NaN}', b'{"participant": 1e400}', b"[" * 5000, b"\xff\xfe",
                     b'{"participant": ' + b"9" * 400 + b"}", b'"text"', b"{}"):
            status, refused = _post(url + "api/session", body)
            assert status == 400 and refused["error"], body[:40]


def test_200_simultaneous_answers_are_all_recorded(study, tmp_path):
    """200 participants start and answer at the same moment: every answer is recorded, no connection reset."""
    import aiohttp

    study = Path(shutil.copytree(study, tmp_path / "site"))
    loaded = load_study(study)
    trial = next(iter(loaded.trials.values()))

    async def participant(client, url, name, go):
        async with client.post(url + "api/session", json={"participant": name}) as response:
            token = (await response.json())["token"]
        await go.wait()  # every participant's connection is set up: now all answer at once
        async with client.post(url + "api/answer", json={**_answer(loaded, trial, name), "token": token}) as response:
            return response.status, await response.json()

    async def crowd(url):
        go = asyncio.Event()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True)) as client:
            tasks = [asyncio.create_task(participant(client, url, f"p{i:03d}", go)) for i in range(200)]
            await asyncio.sleep(0.5)
            started = time.monotonic()
            go.set()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            return results, time.monotonic() - started

    with serving(study) as url:
        results, seconds = asyncio.run(crowd(url))
    print(f"200 simultaneous POSTs: {sum(r == (200, {'status': 'recorded'}) for r in results)} recorded "
          f"in {seconds:.2f} s")
    assert results == [(200, {"status": "recorded"})] * 200
    assert len((study / "answers.jsonl").read_text().splitlines()) == 200


def test_serve_refuses_a_bad_port_and_warns_about_an_open_host(study, capsys):
    from videogan.tasks.study.serve import check_address

    assert main(["study", "serve", str(study), "--port", "99999"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--port 99999" in err
    check_address("0.0.0.0", 8000)
    assert "reachable from the network" in capsys.readouterr().err
    check_address("127.0.0.1", 8000)
    check_address("localhost", 8000)
    assert capsys.readouterr().err == ""
