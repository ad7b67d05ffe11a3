"""`videogan report RUN` and the page `train` writes when it finishes, checked in a real browser."""
from __future__ import annotations

import json

from browser import Page, chromium, wait_for_media
from videogan.cli import main


def test_train_writes_a_report_that_renders_with_no_broken_media(tmp_path):
    run = tmp_path / "run"
    flags = ["--preset", "tiny", "--iterations", "4", "--sample-every", "2", "--log-every", "1",
             "--checkpoint-every", "2", "--device", "cpu", "--no-progress"]
    assert main(["train", *flags, "--out", str(run)]) == 0
    page_text = (run / "report.html").read_text()
    assert "http" not in page_text.replace('charset="utf-8"', "")  # self-contained: nothing fetched
    for src in ("report/losses.png", "report/d_outputs.png", "report/mask.png", "report/speed.png",
                "samples/0000002_videos.gif", "samples/0000004_videos.gif", "report/streams-0000004/mask.gif",
                "report/streams-0000004/background.png"):
        assert f'src="{src}"' in page_text and (run / src).stat().st_size > 0
    # evaluate results appear when present; a resumed run's page is brought up to date
    (run / "eval-4.json").write_text(json.dumps({"iteration": 4, "n": 8, "fvd": 812.5, "fvd_real_floor": 127.7}))
    assert main(["train", "--resume", str(run), "--iterations", "6", "--device", "cpu", "--no-progress"]) == 0
    page_text = (run / "report.html").read_text()
    assert "streams-0000006" in page_text and "812.5" in page_text and "fvd_real_floor" in page_text
    with chromium() as browser:
        page = Page(browser, viewport={"width": 1100, "height": 900})
        page.page.goto((run / "report.html").as_uri())
        assert wait_for_media(page.page) == []
        assert page.page.locator("img").count() >= 12
        page.screenshot(tmp_path / "report.png")
        assert page.errors == []


def test_report_of_a_missing_run_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "no such run folder" in capsys.readouterr().err


def test_a_future_task_run_gets_a_report_without_streams(tmp_path):
    run = tmp_path / "future"
    assert main(["train", "--task", "future", "--preset", "future-tiny", "--iterations", "1", "--device", "cpu",
                 "--no-progress", "--out", str(run)]) == 0
    assert "use `videogan predict`" in (run / "report.html").read_text()
