"""Screenshots of the web app for the README: a real run, the real weights, Debian's Chromium.

    python docs/images/web/make_screenshots.py            # ~2-4 minutes on 2 cores

Writes desktop_running.png (live preview), desktop_done.png (before/after slider) and
phone_done.png (390x844 viewport, scrolled to the result) beside this file.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests"))  # tests/support: the server helper and Chromium flags
from support.web import CHROMIUM, CHROMIUM_ARGS, serve_cli  # noqa: E402


def main() -> int:
    with (
        tempfile.TemporaryDirectory() as data,
        serve_cli(data, "--preview-every", "5") as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(url)
        page.wait_for_selector(".card img")
        page.click(".sample")
        page.eval_on_selector(
            "#iterations", "el => { el.value = 100; el.dispatchEvent(new Event('input')); }"
        )
        page.click("#go")
        page.wait_for_function(
            "() => /Iteration (2[5-9]|[3-9][0-9]) /.test("
            "document.getElementById('progress-text').textContent)",
            timeout=300_000,
        )
        page.wait_for_function("() => document.getElementById('after').complete", timeout=10_000)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(HERE / "desktop_running.png"))
        page.wait_for_selector("#download:not([hidden])", timeout=600_000)
        page.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.5)
        page.screenshot(path=str(HERE / "desktop_done.png"))
        job_url = page.url
        phone = browser.new_page(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        phone.goto(job_url)
        phone.wait_for_selector("#download:not([hidden])")
        phone.eval_on_selector(
            "#compare-range", "el => { el.value = 62; el.dispatchEvent(new Event('input')); }"
        )
        phone.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # the result, on a phone
        time.sleep(0.5)
        phone.screenshot(path=str(HERE / "phone_done.png"))
        browser.close()
    for path in sorted(HERE.glob("*.png")):  # 256 colours: a third of the size, same look
        Image.open(path).convert("RGB").quantize(256, Image.Quantize.MEDIANCUT).save(path, optimize=True)
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
