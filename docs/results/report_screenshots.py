"""The report's screenshots in docs/img (the README shows them): the top of RUN/report.html in headless
Chromium (Debian's chromium, driven by Playwright) at a desktop width and at a phone's 390 px.

    videogan train --preset cpu --iterations 600 --sample-every 100 --checkpoint-every 200 --log-every 20 \\
        --keep-checkpoints 0 --device cpu --out runs/report-demo
    for i in 200 400 600; do videogan evaluate runs/report-demo/checkpoints/checkpoint-0000$i.pt --n 32; done
    videogan report runs/report-demo
    python docs/results/report_screenshots.py runs/report-demo --out docs/img
"""
from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ALL_MEDIA_LOADED = "() => [...document.images].every(e => e.complete && e.naturalWidth > 0)"
VIEWS = {"report.png": {"viewport": {"width": 1280, "height": 1150}},
         "report-phone.png": {"viewport": {"width": 390, "height": 1500}, "is_mobile": True, "device_scale_factor": 2}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder with its report.html")
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for name, context in VIEWS.items():
            page = browser.new_context(**context).new_page()
            page.goto((args.run / "report.html").resolve().as_uri())
            page.wait_for_function(ALL_MEDIA_LOADED)
            page.wait_for_timeout(500)  # a few frames into the GIFs
            page.screenshot(path=str(args.out / name))
            print(f"wrote {args.out / name}")
        browser.close()


if __name__ == "__main__":
    main()
