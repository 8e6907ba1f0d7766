"""Screenshots of the web app for the docs: a real run, the real weights, Debian's Chromium.

    python docs/images/web/make_screenshots.py [--painting FILE]      # ~2-5 minutes on 2 cores

Writes beside this file:

* desktop_fast.png: **Fast** (the default) with a painting of one's own uploaded (``--painting``;
  default: Kandinsky's Composition VIII from ../shared/data/styles when it is there, else the
  bundled Great Wave), style strength 85 %, blended 35 % with The Starry Night from the gallery;
* desktop_running.png and desktop_done.png: **Quality** (Gatys, the command line's schedule at the
  page's 512 px: 40 + 20 L-BFGS steps, each scale stopped once converged) with its live preview and
  the time left, then the before/after slider and the history strip;
* desktop_grid.png: the two paintings ticked in the strip, side by side;
* desktop_dark.png: the system's dark mode, the Fast painting reopened from the strip;
* phone_done.png: a 390x844 phone, Fast with The Starry Night, scrolled to the result.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # tests/support: the server helper and Chromium flags
from support.web import CHROMIUM, CHROMIUM_ARGS, serve_cli  # noqa: E402

SHARED_PAINTING = ROOT.parent / "shared" / "data" / "styles" / "kandinsky_composition_viii.jpg"
BUNDLED_PAINTING = ROOT / "src" / "brushwork" / "data" / "samples" / "great_wave.jpg"
SET_RANGE = "(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); }"


def paint_fast_with_own_painting(page, painting: Path) -> None:
    page.click(".sample")
    with page.expect_file_chooser() as chooser:
        page.click("#upload-card")
    chooser.value.set_files(str(painting))
    page.eval_on_selector("#strength", SET_RANGE, 85)
    page.check("#blend-on")
    page.select_option("#second-style", "starry_night")
    page.eval_on_selector("#mix", SET_RANGE, 35)
    page.click("#go")
    page.wait_for_selector("#download:not([hidden])", timeout=120_000)
    page.wait_for_function("() => document.getElementById('after').complete", timeout=10_000)
    page.eval_on_selector("#compare-range", SET_RANGE, 70)


def paint_quality(page) -> None:
    page.click('label.segment:has(input[value="gatys"])')  # iterations left at auto: the CLI's schedule
    page.click("#go")
    page.wait_for_function(
        "() => /Iteration (2[5-9]|[3-9][0-9]) .*left/.test("
        "document.getElementById('progress-text').textContent)",
        timeout=300_000,
    )
    page.wait_for_function("() => document.getElementById('after').complete", timeout=10_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = SHARED_PAINTING if SHARED_PAINTING.is_file() else BUNDLED_PAINTING
    parser.add_argument("--painting", type=Path, default=default, help=f"painting to upload ({default.name})")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory() as data,
        serve_cli(data, "--preview-every", "5") as url,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1280})
        page.goto(url)
        page.wait_for_selector(".card img")
        paint_fast_with_own_painting(page, args.painting)
        # The uploaded painting's card, the method step with its new controls, and the result.
        page.evaluate(
            "window.scrollTo(0, document.getElementById('method-heading').getBoundingClientRect().top"
            " + window.scrollY - 420)"
        )
        time.sleep(0.5)
        page.screenshot(path=str(HERE / "desktop_fast.png"))

        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(url)
        page.wait_for_selector(".card img")
        page.click(".sample")
        paint_quality(page)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(HERE / "desktop_running.png"))
        page.wait_for_selector("#download:not([hidden])", timeout=600_000)
        page.wait_for_function("() => document.querySelectorAll('#history-list .shot').length >= 2")
        page.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.5)
        page.screenshot(path=str(HERE / "desktop_done.png"))
        for box in page.query_selector_all(".shot-pick input")[:2]:
            box.check()
        page.click("#compare-picked")
        page.wait_for_function("() => [...document.querySelectorAll('#grid img')].every((i) => i.complete)")
        time.sleep(0.5)
        page.screenshot(path=str(HERE / "desktop_grid.png"))

        dark = browser.new_page(viewport={"width": 1280, "height": 860}, color_scheme="dark")
        dark.goto(url)
        dark.wait_for_selector("#history-list .shot")
        dark.click("#history-list .shot:nth-child(2) .shot-open")  # the older one: Fast
        dark.wait_for_selector("#download:not([hidden])")
        dark.wait_for_function("() => document.getElementById('after').complete")
        dark.evaluate("window.scrollTo(0, 0)")
        time.sleep(0.8)
        dark.screenshot(path=str(HERE / "desktop_dark.png"))

        phone = browser.new_page(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        phone.goto(url)
        phone.wait_for_selector(".card img")
        phone.click(".sample")
        phone.click("#go")  # Fast, The Starry Night: the page's defaults
        phone.wait_for_selector("#download:not([hidden])", timeout=120_000)
        phone.wait_for_function("() => document.getElementById('after').complete", timeout=10_000)
        phone.eval_on_selector("#compare-range", SET_RANGE, 62)
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
