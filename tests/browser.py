"""Open local report files in a real headless Chromium with the network cut off.

Reports must work offline and must actually draw; string checks on the HTML cannot prove either (a page
can be free of CDN URLs and still throw in its script). So tests load the page in Debian's Chromium,
driven through Playwright's Python package. Playwright's own browser download cannot run on these
machines, hence ``executable_path`` points at the system browser that ``.ci/install-browser`` installs.

The network is unreachable three ways, so that a page that tries to fetch anything fails loudly instead of
being rescued by a lucky connection: every non-local request is aborted by a route handler and recorded,
Chromium's resolver maps every host name to NOTFOUND, and a dead proxy catches whatever is left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route

__all__ = [
    "INSTALL_HINT",
    "BrowserSession",
    "Visit",
    "browser_session",
    "chromium_available",
    "chromium_path",
    "require_chromium",
    "screenshot_is_drawn",
    "visit",
]

INSTALL_HINT = "run `bash .ci/install-browser` (installs Debian's chromium) and `pip install -e '.[test]'`"

# Known to work as root in these containers. Sandbox needs user namespaces, which containers lack; the
# rest stops Chromium from talking to Google services in the background, which would both slow start-up
# and show up as failed requests.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9",
]

# Schemes a self-contained page may load; everything else is the network.
_LOCAL_SCHEMES = ("file:", "data:", "blob:", "about:")

_CHARTS_READY_JS = """
(selector) => {
  const containers = Array.from(document.querySelectorAll(selector));
  if (containers.length === 0) return false;
  if (document.body.dataset.renderState === "error") return "error: " + document.body.dataset.renderError;
  return containers.every((el) => {
    // Vega gives its drawing surface (canvas or root svg) the class "marks"; the actions menu has an
    // svg icon too, so a bare "svg" selector would be satisfied before anything was drawn.
    const marks = el.querySelector("canvas.marks, svg.marks");
    if (!marks) return false;
    const box = marks.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  });
}
"""

_BROKEN_IMAGES_JS = """
() => Array.from(document.images)
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.currentSrc || img.src)
"""

_IMAGES_SETTLED_JS = "() => Array.from(document.images).every((img) => img.complete)"

# Two animation frames: vega-embed resolves before the browser has necessarily painted the canvas.
_TWO_FRAMES_JS = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def chromium_path() -> Path | None:
    """The system Chromium, wherever Debian or a developer's distribution put it."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def chromium_available() -> bool:
    """True when both the browser and Playwright's driver are present, i.e. a visit can actually run."""
    if chromium_path() is None:
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def require_chromium() -> Path:
    """Fail (never skip) the calling test when the browser is missing: a skipped check proves nothing."""
    import pytest

    path = chromium_path()
    if path is None:
        pytest.fail(f"Chromium is not installed; {INSTALL_HINT}", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail(f"the playwright Python package is not installed; {INSTALL_HINT}", pytrace=False)
    return path


class Visit(NamedTuple):
    """What a page did while loading; unpacks as (screenshot, console_errors, failed_requests)."""

    screenshot: Path
    console_errors: list[str]
    failed_requests: list[str]
    chart_screenshots: list[Path]


@dataclass
class _Recorder:
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_urls: set[str] = field(default_factory=set)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "assert"):
            loc = msg.location
            where = f" ({loc.get('url', '')}:{loc.get('lineNumber', '')})" if loc else ""
            self.console_errors.append(f"console.{msg.type}: {msg.text}{where}")

    def on_page_error(self, error: Exception) -> None:
        self.console_errors.append(f"uncaught: {error}")

    def on_request_failed(self, request: Request) -> None:
        if request.url in self.blocked_urls:
            return  # already recorded by on_route, with the reason
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def on_route(self, route: Route) -> None:
        url = route.request.url
        if url.startswith(_LOCAL_SCHEMES):
            route.continue_()
            return
        self.blocked_urls.add(url)
        self.failed_requests.append(f"{route.request.method} {url}: blocked (network is unreachable)")
        route.abort("internetdisconnected")


class BrowserSession:
    """One Chromium process reused across pages, since starting it dominates the cost of a visit."""

    def __init__(self, browser: Browser, viewport: tuple[int, int]) -> None:
        self._browser = browser
        self._viewport = viewport

    def visit(
        self,
        path: Path,
        screenshot: Path,
        *,
        chart_selector: str | None = None,
        timeout_s: float = 20.0,
    ) -> Visit:
        """Load ``path``, wait until it has drawn, and screenshot the whole page to ``screenshot``.

        With ``chart_selector`` (e.g. ``"#vis"``), waits until every matching element holds a Vega drawing
        of nonzero size and also screenshots each one (``<screenshot stem>.chart<i>.png``), so a blank
        chart on an otherwise busy page is caught. Images that fail to decode count as failed requests:
        Chromium does not always report a missing ``file://`` image as a failed request.

        Each visit gets a fresh browser context (no cache, cookies or storage shared between pages).
        """
        url = Path(path).resolve().as_uri()
        screenshot = Path(screenshot)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        rec = _Recorder()
        context = self._browser.new_context(
            viewport={"width": self._viewport[0], "height": self._viewport[1]},
            offline=True,
            service_workers="block",
        )
        timeout_ms = timeout_s * 1000
        context.set_default_timeout(timeout_ms)
        try:
            context.route("**/*", rec.on_route)
            page: Page = context.new_page()
            page.on("console", rec.on_console)
            page.on("pageerror", rec.on_page_error)
            page.on("requestfailed", rec.on_request_failed)
            page.goto(url, wait_until="load")
            page.wait_for_function(_IMAGES_SETTLED_JS, timeout=timeout_ms)
            chart_shots: list[Path] = []
            if chart_selector is not None:
                try:
                    handle = page.wait_for_function(_CHARTS_READY_JS, arg=chart_selector, timeout=timeout_ms)
                except Exception as exc:
                    raise AssertionError(
                        f"{path}: no chart drawn in {chart_selector!r} within {timeout_s:g} s; "
                        f"console errors: {rec.console_errors}; failed requests: {rec.failed_requests}"
                    ) from exc
                state = handle.json_value()
                if isinstance(state, str):
                    rec.console_errors.append(f"vega-embed {state}")
            page.evaluate(_TWO_FRAMES_JS)
            rec.failed_requests.extend(f"broken image: {src}" for src in page.evaluate(_BROKEN_IMAGES_JS))
            page.screenshot(path=str(screenshot), full_page=True)
            if chart_selector is not None:
                for i, el in enumerate(page.query_selector_all(chart_selector)):
                    shot = screenshot.with_name(f"{screenshot.stem}.chart{i}.png")
                    el.screenshot(path=str(shot))
                    chart_shots.append(shot)
        finally:
            context.close()
        return Visit(screenshot, rec.console_errors, rec.failed_requests, chart_shots)


@contextmanager
def browser_session(viewport: tuple[int, int] = (1280, 900)) -> Iterator[BrowserSession]:
    """Start the system Chromium headless, with a throwaway profile and no route to the network."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    if executable is None:
        raise RuntimeError(f"Chromium is not installed; {INSTALL_HINT}")
    with (
        tempfile.TemporaryDirectory(prefix="mwh-chromium-") as tmp,
        sync_playwright() as pw,
    ):
        # Playwright refuses --user-data-dir in args; launch() instead gives every browser a fresh
        # temporary profile and deletes it on close. HOME and TMPDIR point at a throwaway folder so that
        # Chromium's other scratch files (crash dumps, ~/.config, ~/.cache) stay out of the real home.
        browser = pw.chromium.launch(
            executable_path=str(executable),
            headless=True,
            args=CHROMIUM_ARGS,
            env={**os.environ, "TMPDIR": tmp, "HOME": tmp},
        )
        try:
            yield BrowserSession(browser, viewport)
        finally:
            browser.close()


def visit(
    path: Path, screenshot: Path, *, chart_selector: str | None = None, timeout_s: float = 20.0
) -> Visit:
    """One-off visit; tests that open several pages should share a ``browser_session()`` instead."""
    with browser_session() as session:
        return session.visit(path, screenshot, chart_selector=chart_selector, timeout_s=timeout_s)


def screenshot_is_drawn(
    png_path: Path,
    *,
    min_colours: int = 16,
    min_inked_fraction: float = 0.01,
    min_chromatic_fraction: float = 0.0,
) -> bool:
    """Whether a screenshot shows something rather than an empty or single-colour page.

    ``inked`` pixels are clearly darker than white (text, axes, marks); ``chromatic`` pixels are clearly
    coloured (r, g, b differ by more than 40), which axes and text never are, so asking for some of those
    distinguishes a drawn chart from an empty frame with only its axes.
    """
    from PIL import Image

    with Image.open(png_path) as img:
        rgb = img.convert("RGB")
    # Shrinking keeps the count cheap on 2x full-page shots without losing what we look for.
    rgb.thumbnail((800, 800))
    raw = rgb.tobytes()  # getdata() is deprecated in Pillow 12 and its replacement is not in Pillow 10
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    if not pixels:
        return False
    colours = len(set(pixels))
    inked = sum(1 for r, g, b in pixels if min(r, g, b) < 200)
    chromatic = sum(1 for r, g, b in pixels if max(r, g, b) - min(r, g, b) > 40)
    return (
        colours >= min_colours
        and inked / len(pixels) >= min_inked_fraction
        and chromatic / len(pixels) >= min_chromatic_fraction
    )
