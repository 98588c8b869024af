"""The browser UI end to end: the real `furet serve` over a small flowers collection, driven by
Debian's Chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
FLOWERS = REPO.parent / "shared" / "data" / "oxford-flowers17" / "images"
CLIP = REPO.parent / "shared" / "data" / "mdn-cc0-videos" / "concat_flower_friday_flower.mp4"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KINDS = ("daisy", "sunflower", "tulip")
PER_KIND = 14
USER, PASSWORD = "alice", "correct-horse-42"
CLI = [sys.executable, "-m", "furet.cli.main"]

pytestmark = pytest.mark.slow

pytest.importorskip("playwright", reason="pip install playwright (the dev extra)")
from playwright.sync_api import (  # noqa: E402
    Browser,
    Locator,
    Page,
    expect,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

expect.set_options(timeout=30_000)


def furet_cli(home: Path, *args: str, timeout: float = 600) -> str:
    proc = subprocess.run(
        [*CLI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    if proc.returncode != 0:
        raise AssertionError(f"furet {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass
class Server:
    url: str
    images: Path  # the ingested files, named <kind>_<original name>
    query: Path  # a daisy photo that is not in the collection


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (the CI script does)")
    if not FLOWERS.is_dir():
        pytest.skip(f"test data {FLOWERS} is absent (it lies beside the clone as ../shared/data)")
    root = tmp_path_factory.mktemp("ui")
    images = root / "images"
    images.mkdir()
    for kind in KINDS:
        for src in sorted((FLOWERS / kind).glob("*.jpg"))[:PER_KIND]:
            shutil.copy(src, images / f"{kind}_{src.name}")
    query = sorted((FLOWERS / "daisy").glob("*.jpg"))[PER_KIND + 1]
    home = root / "home"
    furet_cli(home, "ingest", str(images), "-c", "flowers")
    if CLIP.is_file():
        clips = root / "clips"
        clips.mkdir()
        shutil.copy(CLIP, clips / CLIP.name)
        furet_cli(home, "ingest", str(clips), "-c", "clips")
    furet_cli(home, "user", "add", USER, "--password", PASSWORD, "--admin")

    port = free_port()
    log = (root / "serve.log").open("w")
    env = {**os.environ, "FURET_HOME": str(home)}
    proc = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError(
                    "furet serve did not start:\n" + (root / "serve.log").read_text()
                )
            time.sleep(0.3)
        yield Server(url, images, query)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"


def login(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.get_by_test_id("login-user").fill(USER)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("user-name")).to_have_text(USER)


def kind_of(card: Locator) -> str:
    alt = card.locator("img").get_attribute("alt") or ""
    return alt.split("_", 1)[0]


def page_ids(page: Page) -> list[str]:
    return [c.get_attribute("data-item-id") or "" for c in page.get_by_test_id("card").all()]


def version(page: Page) -> int:
    m = re.search(r"version (\d+)", page.get_by_test_id("round-info").inner_text())
    return int(m.group(1)) if m else 0


def run_round(page: Page, action: Locator | str, mode_label: str) -> None:
    """Click a mode button (or press a key) and wait for the next version's page."""
    before = version(page)
    if isinstance(action, str):
        page.keyboard.press(action)
    else:
        action.click()
    info = page.get_by_test_id("round-info")
    expect(info).to_contain_text(f"version {before + 1}")
    expect(info).to_contain_text(mode_label)


def test_login_logout_and_a_wrong_password(server: Server, page: Page) -> None:
    page.goto(server.url + "/")
    page.get_by_test_id("login-user").fill(USER)
    page.get_by_test_id("login-password").fill("wrong password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).not_to_be_empty()
    expect(page.get_by_test_id("user-name")).not_to_be_visible()
    # The right one logs in; logging out brings the form back, and a reload stays logged out.
    login(page, server.url)
    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()


def test_search_teach_and_rounds(server: Server, page: Page) -> None:
    login(page, server.url)
    page.get_by_test_id("collection-select").select_option("flowers")

    # Query by an uploaded image: a grid of 15 results, each with its score.
    page.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(15)
    scores = page.get_by_test_id("score").all_inner_texts()
    assert all(re.fullmatch(r"Score: -?\d+\.\d{4}", s) for s in scores), scores
    values = [float(s.split()[1]) for s in scores]
    assert values == sorted(values, reverse=True)
    # lite0 features: most of the nearest neighbours of a daisy are daisies.
    assert sum(kind_of(c) == "daisy" for c in cards.all()[:5]) >= 4

    # A text search on a model without a text tower: the 422 detail in a toast, grid kept.
    page.get_by_test_id("text-input").fill("a yellow flower")
    page.get_by_test_id("text-submit").click()
    expect(page.get_by_test_id("toast-error").last).to_contain_text("text")
    expect(cards).to_have_count(15)

    # Create class from this image (the best daisy): it becomes the current class and a first
    # Search page comes.
    first = next(c for c in cards.all() if kind_of(c) == "daisy")
    first.get_by_test_id("card-more").click()
    page.get_by_test_id("create-class").click()
    page.get_by_test_id("new-class-name").fill("daisy")
    page.get_by_test_id("new-class-submit").click()
    expect(page.get_by_test_id("class-item")).to_contain_text(["daisy"])
    expect(page.get_by_test_id("current-class")).to_contain_text("daisy")
    expect(page.get_by_test_id("round-info")).to_contain_text("version 1")
    expect(cards).to_have_count(15)
    expect(page.get_by_test_id("class-counts")).to_have_text("1+ 0−")

    # Mark with the mouse: the first three cards, each by its true kind.
    for card in cards.all()[:3]:
        want = "positive" if kind_of(card) == "daisy" else "negative"
        button = card.get_by_test_id(f"set-{want}")
        button.click()
        expect(button).to_have_attribute("aria-pressed", "true")
    # Clicking the pressed toggle again takes the mark back.
    undo = cards.nth(0).locator("[data-testid^=set-][aria-pressed=true]")
    undo.click()
    expect(cards.nth(0).locator("[aria-pressed=true][data-testid^=set-]")).to_have_count(0)

    # Mark with the keyboard: hover and press p / n.
    for i in range(3, 6):
        card = cards.nth(i)
        card.hover()
        page.keyboard.press("p" if kind_of(card) == "daisy" else "n")
        want = "positive" if kind_of(card) == "daisy" else "negative"
        expect(card.get_by_test_id(f"set-{want}")).to_have_attribute("aria-pressed", "true")

    # Selection: click, shift-click a range, mark the non-daisies among them negative with the
    # "Mark as" bar, Escape clears.
    cards.nth(6).get_by_test_id("card-select").click()
    cards.nth(8).get_by_test_id("card-select").click(modifiers=["Shift"])
    expect(page.get_by_test_id("selection-count")).to_have_text("3")
    expect(cards.nth(7).get_by_test_id("card-select")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("selection-count")).to_have_text("0")
    others = [i for i in range(6, 15) if kind_of(cards.nth(i)) != "daisy"]
    daisies = [i for i in range(6, 15) if kind_of(cards.nth(i)) == "daisy"]
    for i in others:
        cards.nth(i).get_by_test_id("card-select").click()
    if others:
        page.get_by_test_id("mark-negative").click()
        for i in others:
            expect(cards.nth(i).get_by_test_id("set-negative")).to_have_attribute(
                "aria-pressed", "true"
            )
        page.get_by_test_id("clear-selection").click()
    for i in daisies:
        cards.nth(i).get_by_test_id("card-select").click()
    if daisies:
        page.keyboard.press("p")
        expect(cards.nth(daisies[0]).get_by_test_id("set-positive")).to_have_attribute(
            "aria-pressed", "true"
        )
    # The counts of the class follow the marks (+1: the image the class was made from).
    pos = 1 + page.locator("[data-testid=set-positive][aria-pressed=true]").count()
    neg = page.locator("[data-testid=set-negative][aria-pressed=true]").count()
    assert pos + neg == 15 and pos >= 2 and neg >= 1
    expect(page.get_by_test_id("class-counts")).to_have_text(f"{pos}+ {neg}−")

    # Rounds: Search with the button, then Most useful with the key "2": new pages.
    before = page_ids(page)
    run_round(page, page.get_by_test_id("mode-search"), "Search")
    expect(page.get_by_test_id("mode-search")).to_have_attribute("aria-pressed", "true")
    after_search = page_ids(page)
    assert after_search != before
    assert not set(after_search) & {before[i] for i in range(15) if i != 0}  # marked ones left
    run_round(page, "2", "Most useful")
    expect(page.get_by_test_id("mode-most_useful")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("round-info")).to_contain_text(f"{pos} pos / {neg} neg")
    scores = page.get_by_test_id("score").all_inner_texts()
    assert len(scores) == len(page_ids(page)) > 0
    # Space = next round in the current mode.
    page.mouse.move(5, 5)
    run_round(page, " ", "Most useful")

    # The help lists the shortcuts.
    page.get_by_test_id("help-btn").click()
    expect(page.get_by_test_id("help-dialog")).to_contain_text("Classify Random Images")
    page.keyboard.press("Escape")

    run_round(page, "1", "Search")
    # Pictures size is a CSS variable: the thumbnails follow the slider.
    page.get_by_test_id("setting-picture-size").fill("160")
    assert cards.first.bounding_box()["width"] == pytest.approx(160, abs=1)  # type: ignore[index]
    # Every state in the picture: a positive, a negative, a selected image.
    # (the focus is still on the slider: the shortcuts work all the same)
    cards.nth(0).hover()
    page.keyboard.press("p")
    expect(cards.nth(0).get_by_test_id("set-positive")).to_have_attribute("aria-pressed", "true")
    cards.nth(1).hover()
    page.keyboard.press("n")
    expect(cards.nth(1).get_by_test_id("set-negative")).to_have_attribute("aria-pressed", "true")
    cards.nth(2).get_by_test_id("card-select").click()
    expect(page.get_by_test_id("selection-count")).to_have_text("1")
    page.mouse.move(5, 5)
    # Closing a toast shifts the others (and they also leave by themselves): always the first.
    toasts = page.locator(".toast-close")
    for _ in range(20):
        if not toasts.count():
            break
        with contextlib.suppress(PlaywrightTimeoutError):
            toasts.first.click(timeout=2_000)
    expect(toasts).to_have_count(0)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "grid.png"), full_page=False)


def test_admin_page_lists_and_creates_users(server: Server, page: Page) -> None:
    login(page, server.url)
    page.get_by_test_id("admin-link").click()
    rows = page.get_by_test_id("user-row")
    expect(rows.filter(has_text=USER)).to_have_count(1)
    page.get_by_test_id("new-user-name").fill("bob")
    page.get_by_test_id("new-user-password").fill("bob-password-1")
    page.get_by_test_id("new-user-submit").click()
    expect(rows.filter(has_text="bob")).to_have_count(1)
    # A second user with the same name: the API's problem detail in a toast.
    page.get_by_test_id("new-user-name").fill("bob")
    page.get_by_test_id("new-user-password").fill("bob-password-1")
    page.get_by_test_id("new-user-submit").click()
    expect(page.get_by_test_id("toast-error")).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin.png"))


def test_dropped_image_finds_video_keyframes_with_time_and_play_link(
    server: Server, page: Page
) -> None:
    if not CLIP.is_file():
        pytest.skip(f"test video {CLIP} is absent")
    login(page, server.url)
    page.get_by_test_id("collection-select").select_option("clips")
    # Query by dropping an image file on the page.
    data = page.evaluate_handle(
        """(b64) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "query.jpg", { type: "image/jpeg" }));
            return dt;
        }""",
        base64.b64encode(server.query.read_bytes()).decode(),
    )
    page.get_by_test_id("empty").dispatch_event("dragenter", {"dataTransfer": data})
    expect(page.get_by_test_id("drop-overlay")).to_be_visible()
    page.get_by_test_id("empty").dispatch_event("drop", {"dataTransfer": data})
    expect(page.get_by_test_id("drop-overlay")).to_be_hidden()
    expect(page.get_by_test_id("query-info")).to_contain_text("Similar to")
    card = page.get_by_test_id("card").first
    expect(card.get_by_test_id("timestamp")).to_contain_text(re.compile(r"◷ \d+:\d\d\.\d"))
    href = card.get_by_test_id("play").get_attribute("href") or ""
    assert re.fullmatch(r"/v1/items/\d+/original#t=\d+\.\d\d", href), href
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "video.png"))

    # Spreading a keyframe's mark to its shot is on by default: one click marks the whole shot.
    expect(page.get_by_test_id("setting-spread")).to_be_checked()
    card.get_by_test_id("card-more").click()
    page.get_by_test_id("create-class").click()
    page.get_by_test_id("new-class-name").fill("film")
    page.get_by_test_id("new-class-submit").click()
    expect(page.get_by_test_id("class-counts")).to_have_text("1+ 0−")
    expect(page.get_by_test_id("round-info")).to_contain_text("version 1")  # the first page
    page.get_by_test_id("card").first.get_by_test_id("set-positive").click()
    expect(page.get_by_test_id("class-counts")).to_have_text(re.compile(r"^([3-9]|\d\d+)\+ 0−$"))
