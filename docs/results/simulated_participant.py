"""A SIMULATED participant, for testing `videogan study tally` on the Table 1 study: NOT a human result.

It answers every trial of a served study in headless Chromium (Debian's chromium, driven by Playwright):
on catch trials it picks the real video (it passes the check), otherwise always the left video, so its
preferences only measure the page's left/right randomisation and should sit near 50%.

    videogan study serve runs/table1-study --port 8000 &
    python docs/results/simulated_participant.py runs/table1-study http://127.0.0.1:8000/ --screenshots docs/img
    videogan study tally runs/table1-study --label "SIMULATED participant, not people"
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from playwright.sync_api import sync_playwright

WAIT_FOR_MEDIA = """() => [...document.querySelectorAll('.choice > *')].every(e =>
    e.tagName === 'IMG' ? e.complete && e.naturalWidth > 0 : e.readyState >= 2)"""
ANSWERABLE = "#trial[data-state=answerable]"  # the page takes an answer once both videos played through


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="the study folder (its study.json says which videos are noise)")
    parser.add_argument("url")
    parser.add_argument("--pid", default="SIMULATED-left-clicker")
    parser.add_argument("--screenshots", type=Path, default=None, help="folder for the pages' screenshots")
    args = parser.parse_args()
    noise = {t["b_video"] for t in json.loads((args.study / "study.json").read_text())["trials"] if t["catch"]}
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 560})
        page.goto(f"{args.url}?pid={args.pid}")
        page.wait_for_selector("#intro:not([hidden])")
        if args.screenshots:
            page.screenshot(path=str(args.screenshots / "study-instructions.png"), full_page=True)
        page.click("#start")
        answered = 0
        while page.is_hidden("#done"):
            page.wait_for_function(WAIT_FOR_MEDIA)
            page.wait_for_selector(ANSWERABLE)
            if args.screenshots and answered == 3:
                page.wait_for_timeout(700)  # a few frames into the loop
                page.screenshot(path=str(args.screenshots / "study-trial.png"))
            sources = page.evaluate("() => ['left', 'right'].map(s => document.querySelector('#' + s + ' > *').src)")
            page.click("#right" if any(f"/{video}." in sources[0] for video in noise) else "#left")
            answered += 1
        page.wait_for_function("() => document.getElementById('status').textContent.endsWith('saved')")
        if args.screenshots:
            page.screenshot(path=str(args.screenshots / "study-done.png"))
        browser.close()
    print(f"{args.pid}: answered {answered} trials")


if __name__ == "__main__":
    main()
