"""The browser UI end to end: the real `furet serve` over a small flowers collection, driven by
Debian's Chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import base64
import contextlib
import json
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
    ConsoleMessage,
    Locator,
    Page,
    expect,
    sync_playwright,
)
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError  # noqa: E402

expect.set_options(timeout=30_000)


def furet_cli(
    home: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None
) -> str:
    proc = subprocess.run(
        [*CLI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    if proc.returncode != 0:
        raise AssertionError(f"furet {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


@dataclass
class Server:
    url: str
    images: Path  # the ingested files, named <kind>_<original name>
    query: Path  # a daisy photo that is not in the collection
    text: bool  # collection "texts" (6 daisies) has an mclip space (tiny weights)


def build_text_collection(root: Path, home: Path, env: dict[str, str]) -> bool:
    """Collection ``texts``: a few daisies, lite0 plus an ``mclip`` space with tiny random
    weights (tests.unit.test_hf_embedders), so that the UI can search it by text."""
    try:
        from tests.unit.test_hf_embedders import build_tiny_clip, build_tiny_mclip
    except ImportError:  # transformers absent
        return False
    build_tiny_clip(root / "models" / "clip-vit-b32")  # mclip's image tower
    build_tiny_mclip(root / "models" / "mclip")
    files = root / "texts"
    files.mkdir()
    for src in sorted((FLOWERS / "daisy").glob("*.jpg"))[:6]:
        shutil.copy(src, files / src.name)
    furet_cli(home, "ingest", str(files), "-c", "texts", env=env)
    furet_cli(home, "embed", "-c", "texts", "--model", "mclip", env=env)
    return True


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until ``furet serve`` at ``url`` answers /healthz (its ``log`` shown if it never does)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("furet serve did not start:\n" + log.read_text())
        time.sleep(0.3)


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
    env = {**os.environ, "FURET_HOME": str(home), "FURET_MODEL_DIR": str(root / "models")}
    text = build_text_collection(root, home, env)

    port = free_port()
    log = (root / "serve.log").open("w")
    proc = subprocess.Popen(
        [*CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, root / "serve.log")
        yield Server(url, images, query, text)
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


#: Run before any script of every page: each Content-Security-Policy violation is reported on
#: the console (Chromium also prints its own "Refused to ..." line for most of them).
REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) => {
  const what = `${e.violatedDirective} blocked ${e.blockedURI || "inline"}`;
  console.error(`CSP violation: ${what} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


def is_csp_report(text: str) -> bool:
    return "CSP violation" in text or "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """The CSP reports of the test's page: none allowed (checked when the page closes)."""
    return []


@pytest.fixture
def page(browser: Browser, csp_violations: list[str]) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    context.add_init_script(REPORT_CSP)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))

    def on_console(message: ConsoleMessage) -> None:
        if is_csp_report(message.text):
            csp_violations.append(message.text)

    pg.on("console", on_console)
    pg.set_default_timeout(20_000)
    yield pg
    context.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not csp_violations, f"Content-Security-Policy violations: {csp_violations}"


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
    assert all(re.fullmatch(r"Similarity: -?\d+\.\d{4}", s) for s in scores), scores
    values = [float(s.split()[1]) for s in scores]
    assert values == sorted(values, reverse=True)
    # lite0 features: most of the nearest neighbours of a daisy are daisies.
    assert sum(kind_of(c) == "daisy" for c in cards.all()[:5]) >= 4

    # No text search on a model without a text tower: the box says so before any typing.
    expect(page.get_by_test_id("text-input")).to_be_disabled()
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
        # Marking a selection clears it.
        expect(page.get_by_test_id("selection-count")).to_have_text("0")
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


# ---------------------------------------------------------------- issue 12, points 18-24


def search_query_image(page: Page, server: Server, collection: str = "flowers") -> Locator:
    """Log in and search by the query image: the grid's cards."""
    login(page, server.url)
    page.get_by_test_id("collection-select").select_option(collection)
    page.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(15)
    return cards


def create_class_from(page: Page, card: Locator, name: str) -> None:
    """The card's "Create class from this image", then its first page."""
    card.get_by_test_id("card-more").click()
    page.get_by_test_id("create-class").click()
    page.get_by_test_id("new-class-name").fill(name)
    page.get_by_test_id("new-class-submit").click()
    expect(page.locator("#class-name")).to_have_text(name)
    expect(page.get_by_test_id("round-info")).to_contain_text("version 1")


def class_item(page: Page, name: str) -> Locator:
    return page.get_by_test_id("class-item").filter(
        has=page.locator(".class-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def scores_of(page: Page) -> tuple[list[str], list[float]]:
    texts = page.get_by_test_id("score").all_inner_texts()
    return [t.split(":")[0] for t in texts], [float(t.split(":")[1]) for t in texts]


def test_add_image_to_an_existing_class_from_the_card_menu(server: Server, page: Page) -> None:
    """Point 18: one menu entry per class (was "[object HTMLButtonElement],[object ...]")."""
    cards = search_query_image(page, server)
    create_class_from(page, cards.nth(0), "menu-a")
    create_class_from(page, cards.nth(1), "menu-b")
    target = cards.nth(3)
    target.get_by_test_id("card-more").click()
    menu = page.get_by_test_id("card-menu")
    expect(menu).to_be_visible()
    assert "[object" not in menu.inner_text()
    entries = menu.get_by_test_id("add-to-class")
    assert entries.count() >= 2
    expect(entries.filter(has_text="menu-a")).to_have_text("Add image to existing class “menu-a”")
    before = class_item(page, "menu-a").get_by_test_id("class-positives").inner_text()
    entries.filter(has_text="menu-a").click()
    expect(menu).to_be_hidden()
    expect(page.get_by_test_id("toast").last).to_contain_text("Added 1 image to “menu-a”")
    # "menu-a" is not the current class: its count in My Classes follows all the same.
    want = f"{int(before.rstrip('+')) + 1}+"
    expect(class_item(page, "menu-a").get_by_test_id("class-positives")).to_have_text(want)


def test_a_key_marks_the_pointed_card_once_the_selection_was_marked(
    server: Server, page: Page
) -> None:
    """Point 19: marking a selection clears it; then a key marks the card under the mouse."""
    cards = search_query_image(page, server)
    create_class_from(page, cards.nth(0), "keys")
    hint = page.get_by_test_id("mark-hint")
    expect(hint).to_contain_text("under the mouse")
    cards.nth(1).get_by_test_id("card-select").click()
    cards.nth(4).get_by_test_id("card-select").click(modifiers=["Shift"])
    expect(page.get_by_test_id("selection-count")).to_have_text("4")
    expect(hint).to_contain_text("mark the 4 selected images, then the selection clears")
    page.get_by_test_id("mark-positive").click()
    for i in range(1, 5):
        expect(cards.nth(i).get_by_test_id("set-positive")).to_have_attribute(
            "aria-pressed", "true"
        )
    expect(page.get_by_test_id("selection-count")).to_have_text("0")
    expect(hint).to_contain_text("under the mouse")
    cards.nth(6).hover()
    page.keyboard.press("n")
    expect(cards.nth(6).get_by_test_id("set-negative")).to_have_attribute("aria-pressed", "true")
    for i in range(1, 5):  # the four positives stay positive
        expect(cards.nth(i).get_by_test_id("set-positive")).to_have_attribute(
            "aria-pressed", "true"
        )
    # A key with a selection marks the selection (not the pointed card), and clears it too.
    cards.nth(8).get_by_test_id("card-select").click()
    cards.nth(9).hover()
    page.keyboard.press("p")
    expect(cards.nth(8).get_by_test_id("set-positive")).to_have_attribute("aria-pressed", "true")
    expect(cards.nth(9).get_by_test_id("set-positive")).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_test_id("selection-count")).to_have_text("0")
    expect(page.get_by_test_id("class-counts")).to_have_text("6+ 1−")


def test_a_page_shows_the_score_that_ranked_it(server: Server, page: Page) -> None:
    """Point 20: the first page of a class is ranked by similarity and says so; the next ones
    by the model's probability."""
    cards = search_query_image(page, server)
    labels, values = scores_of(page)
    assert set(labels) == {"Similarity"} and values == sorted(values, reverse=True)
    create_class_from(page, cards.nth(0), "scores")
    expect(page.get_by_test_id("query-info")).to_contain_text("ranked by similarity")
    labels, values = scores_of(page)
    assert set(labels) == {"Similarity"}, labels
    assert values == sorted(values, reverse=True) and all(-1 <= v <= 1 for v in values)
    # Mark the page by kind, then a Search round: the model ranks, probabilities in order.
    for card in cards.all():
        want = "positive" if kind_of(card) == "daisy" else "negative"
        card.get_by_test_id(f"set-{want}").click()
        expect(card.get_by_test_id(f"set-{want}")).to_have_attribute("aria-pressed", "true")
    run_round(page, page.get_by_test_id("mode-search"), "Search")
    expect(page.get_by_test_id("query-info")).to_contain_text("probability")
    labels, values = scores_of(page)
    assert set(labels) == {"Probability"}, labels
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    kinds = {c.get_attribute("data-score-kind") for c in page.get_by_test_id("score").all()}
    assert kinds == {"probability"}


def test_spot_check_precision_after_classify_random_images(server: Server, page: Page) -> None:
    """Point 21: the precision estimate with its interval, "not enough marks" before any
    marked image the model called positive."""
    cards = search_query_image(page, server)
    create_class_from(page, cards.nth(0), "spot")
    # A few marks of each kind, so that daisies are left for the random page to find.
    marked = {"positive": 0, "negative": 0}
    for card in cards.all():
        want = "positive" if kind_of(card) == "daisy" else "negative"
        if marked[want] == 4:
            continue
        marked[want] += 1
        card.get_by_test_id(f"set-{want}").click()
        expect(card.get_by_test_id(f"set-{want}")).to_have_attribute("aria-pressed", "true")
    page.get_by_test_id("setting-page-size").fill("42")
    page.get_by_test_id("setting-page-size").blur()  # the key goes to the page, not the box
    run_round(page, "6", "Classify Random Images")
    precision = page.get_by_test_id("precision")
    expect(precision).to_have_text("Precision: mark this page to estimate it")
    verdicts = page.get_by_test_id("verdict")
    said_no = [
        c
        for c in cards.all()
        if c.get_by_test_id("verdict").get_attribute("data-verdict") == "negative"
    ]
    said_yes = [
        c
        for c in cards.all()
        if c.get_by_test_id("verdict").get_attribute("data-verdict") == "positive"
    ]
    assert verdicts.count() == cards.count() and said_no and said_yes
    # Marks of images the model called negative: no precision yet, in words (not nan).
    for card in said_no[:2]:
        card.get_by_test_id("set-negative").click()
    expect(precision).to_have_text(
        re.compile(r"^Precision: not enough marks \(\d+ spot-checked\)$")
    )
    for card in said_yes:
        want = "positive" if kind_of(card) == "daisy" else "negative"
        card.get_by_test_id(f"set-{want}").click()
    shown = re.compile(r"^Precision (\d\.\d\d) \[(\d\.\d\d), (\d\.\d\d)\] \((\d+) spot-checked\)$")
    expect(precision).to_have_text(shown)
    cid = class_item(page, "spot").get_attribute("data-class-id")
    full = page.request.get(f"{server.url}/v1/classes/{cid}").json()
    m = shown.match(precision.inner_text())
    assert m is not None
    est = full["precision"]
    assert [float(x) for x in m.groups()[:3]] == [
        round(est["value"], 2),
        round(est["low"], 2),
        round(est["high"], 2),
    ]
    assert int(m.group(4)) == full["spot_checked"]


def test_rename_and_export_a_class(server: Server, page: Page, tmp_path: Path) -> None:
    """Point 21: rename (PATCH) and export (a download of <name>.json)."""
    cards = search_query_image(page, server)
    create_class_from(page, cards.nth(0), "before-rename")
    page.get_by_test_id("class-rename").click()
    expect(page.get_by_test_id("new-class-name")).to_have_value("before-rename")
    page.get_by_test_id("new-class-name").fill("after-rename")
    page.get_by_test_id("new-class-submit").click()
    expect(page.locator("#class-name")).to_have_text("after-rename")
    expect(class_item(page, "after-rename")).to_have_count(1)
    expect(class_item(page, "before-rename")).to_have_count(0)
    page.reload()  # the server has it
    expect(class_item(page, "after-rename")).to_have_count(1)
    expect(page.locator("#class-name")).to_have_text("after-rename")

    with page.expect_download() as info:
        page.get_by_test_id("class-export").click()
    download = info.value
    assert download.suggested_filename == "after-rename.json"
    target = tmp_path / download.suggested_filename
    download.save_as(target)
    data = json.loads(target.read_text())
    assert data["class"]["name"] == "after-rename"
    assert [x["label"] for x in data["labels"]] == ["positive"]


def test_result_count_and_image_detail_view(server: Server, page: Page) -> None:
    """Point 21: "Search result: N images", and the detail view of an image: larger image,
    metadata, the card's actions."""
    cards = search_query_image(page, server)
    expect(page.get_by_test_id("result-count")).to_have_text("Search result: 15 images")
    create_class_from(page, cards.nth(0), "details")
    expect(page.get_by_test_id("result-count")).to_have_text(
        re.compile(r"^Search result: \d+ images$")
    )
    card = cards.nth(2)
    item_id = card.get_attribute("data-item-id")
    name = card.locator("img").get_attribute("alt") or ""
    card.get_by_test_id("open-detail").click()
    dialog = page.get_by_test_id("detail-dialog")
    expect(dialog).to_be_visible()
    image = dialog.get_by_test_id("detail-image")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("src", f"/v1/items/{item_id}/original")
    thumb = card.locator("img").bounding_box()
    big = image.bounding_box()
    assert thumb and big and big["width"] > 2 * thumb["width"]
    expect(dialog.get_by_test_id("detail-title")).to_have_text(name)
    expect(dialog.get_by_test_id("detail-id")).to_have_text(str(item_id))
    expect(dialog.get_by_test_id("detail-path")).to_contain_text(name)
    expect(dialog.get_by_test_id("detail-kind")).to_have_text("image")
    expect(dialog.get_by_test_id("detail-size")).to_have_text(re.compile(r"^\d+ × \d+$"))
    expect(dialog.get_by_test_id("detail-score")).to_have_text(re.compile(r"^-?\d\.\d{4}$"))
    expect(dialog.get_by_test_id("detail-mark")).to_have_text("not marked")
    assert dialog.get_by_test_id("add-to-class").count() >= 1
    # Marking in the detail view marks the card.
    dialog.get_by_test_id("detail-positive").click()
    expect(dialog.get_by_test_id("detail-positive")).to_have_attribute("aria-pressed", "true")
    expect(dialog.get_by_test_id("detail-mark")).to_have_text("positive")
    expect(card.get_by_test_id("set-positive")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("class-counts")).to_have_text("2+ 0−")
    # Search similar from there: the dialog closes on the new results.
    dialog.get_by_test_id("detail-search-similar").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("query-info")).to_have_text(f"Similar to image {item_id}")
    # The card menu opens it too; Escape closes it.
    cards.nth(0).get_by_test_id("card-more").click()
    page.get_by_test_id("menu-details").click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()


def test_a_class_made_from_an_uploaded_image_counts_it(server: Server, page: Page) -> None:
    """Point 22: My Classes says 1+ for a class made from an uploaded image (was 0+)."""
    search_query_image(page, server)
    page.get_by_test_id("class-from-query").click()
    page.get_by_test_id("new-class-name").fill("uploaded")
    page.get_by_test_id("new-class-submit").click()
    expect(page.get_by_test_id("round-info")).to_contain_text("1 pos / 0 neg")
    expect(class_item(page, "uploaded").get_by_test_id("class-positives")).to_have_text("1+")
    expect(class_item(page, "uploaded").get_by_test_id("class-negatives")).to_have_text("0−")
    expect(page.get_by_test_id("class-counts")).to_have_text("1+ 0−")
    page.reload()
    expect(class_item(page, "uploaded").get_by_test_id("class-positives")).to_have_text("1+")


def test_an_error_clears_on_the_next_successful_action(server: Server, page: Page) -> None:
    """Point 23: the "Pick a class..." error goes away once an action succeeds."""
    cards = search_query_image(page, server)
    cards.nth(2).hover()
    page.keyboard.press("p")
    error = page.get_by_test_id("toast-error")
    expect(error).to_contain_text("Pick a class in My Classes")
    started = time.monotonic()
    cards.nth(2).get_by_test_id("search-similar").click()
    expect(page.get_by_test_id("query-info")).to_contain_text("Similar to image")
    expect(error).to_have_count(0, timeout=3_000)
    assert time.monotonic() - started < 7  # before the toast's own 8 s timer
    # An error that comes after stays.
    page.get_by_test_id("card").nth(1).hover()
    page.keyboard.press("n")
    expect(error).to_have_count(1)


def test_the_selection_bar_stays_in_view_below_the_mode_bar(server: Server, page: Page) -> None:
    """Point 23: scrolled down a long page, the selection bar is visible, under the mode bar
    and not covered by it."""
    page.set_viewport_size({"width": 1200, "height": 640})
    login(page, server.url)
    page.get_by_test_id("collection-select").select_option("flowers")
    page.get_by_test_id("setting-page-size").fill("40")
    page.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(40)
    cards.last.scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300
    bar = page.get_by_test_id("selection-bar").bounding_box()
    modes = page.get_by_test_id("mode-bar").bounding_box()
    assert bar and modes
    assert bar["y"] >= modes["y"] + modes["height"] - 1, (bar, modes)
    assert bar["y"] + bar["height"] <= 640
    # What is drawn at the selection count is the selection bar (nothing covers it).
    count = page.get_by_test_id("selection-count").bounding_box()
    assert count
    on_top = page.evaluate(
        "([x, y]) => Boolean(document.elementFromPoint(x, y)"
        "?.closest('[data-testid=selection-bar]'))",
        [count["x"] + count["width"] / 2, count["y"] + count["height"] / 2],
    )
    assert on_top
    # And it works from there: select the last card, the count says 1.
    cards.last.get_by_test_id("card-select").click()
    expect(page.get_by_test_id("selection-count")).to_have_text("1")
    page.get_by_test_id("clear-selection").click()
    expect(page.get_by_test_id("selection-count")).to_have_text("0")


def test_modes_and_sampling_settings_are_explained(server: Server, page: Page) -> None:
    """Point 23: a one-line explanation of each mode and setting (tooltip, help, mode line)."""
    login(page, server.url)
    for mode, label in [
        ("search", "Search"),
        ("most_useful", "Most useful"),
        ("ambiguous", "Ambiguous"),
        ("discovery", "Discovery"),
        ("refine", "Refine"),
        ("classify_random", "Classify Random Images"),
    ]:
        title = page.get_by_test_id(f"mode-{mode}").get_attribute("title") or ""
        assert title.startswith(label) and len(title) > len(label) + 30, title
    for setting_id in (
        "discovery-rate",
        "sampling-min",
        "sampling-max",
        "temporal-range",
        "page-size",
    ):
        field = page.get_by_test_id(f"setting-{setting_id}").locator("xpath=ancestor::label")
        assert len(field.get_attribute("title") or "") > 30, setting_id
    assert "between Sampling Min and Max" in (
        page.get_by_test_id("setting-discovery-rate")
        .locator("xpath=ancestor::label")
        .get_attribute("title")
        or ""
    )
    # The current mode's line under the mode bar.
    help_line = page.get_by_test_id("mode-help")
    expect(help_line).to_contain_text("Search: ")
    page.get_by_test_id("mode-discovery").click()
    expect(help_line).to_contain_text("Discovery: ")
    expect(help_line).to_contain_text("Sampling Min and Max")
    # The help dialog lists them all.
    page.get_by_test_id("help-btn").click()
    dialog = page.get_by_test_id("help-dialog")
    expect(dialog.get_by_test_id("help-mode-refine")).to_contain_text("contradicts")
    expect(dialog.get_by_test_id("help-s-smin")).to_contain_text("lowest class probability")
    expect(dialog.get_by_test_id("help-s-smax")).to_contain_text("highest class probability")
    page.keyboard.press("Escape")


def test_text_search_box_says_when_the_collection_has_no_text_space(
    server: Server, page: Page
) -> None:
    """Point 24: before any typing, the box says there is no text search here and how to add
    one; a collection with a text-capable space (mclip) is searched by text in it."""
    login(page, server.url)
    page.get_by_test_id("collection-select").select_option("flowers")
    box = page.get_by_test_id("text-input")
    expect(box).to_be_disabled()
    expect(box).to_have_attribute("placeholder", re.compile(r"furet embed --model clip-vit-b32"))
    note = page.get_by_test_id("text-note")
    expect(note).to_be_visible()
    expect(note).to_contain_text("furet embed -c flowers --model clip-vit-b32")
    expect(page.get_by_test_id("text-submit")).to_be_disabled()
    if not server.text:
        pytest.skip("transformers is absent: no tiny mclip space to search by text")
    page.get_by_test_id("collection-select").select_option("texts")
    expect(box).to_be_enabled()
    expect(note).to_be_hidden()
    box.fill("une marguerite")
    page.get_by_test_id("text-submit").click()
    expect(page.get_by_test_id("query-info")).to_have_text("Text: “une marguerite” (mclip)")
    expect(page.get_by_test_id("result-count")).to_have_text("Search result: 6 images")
    # Back to a collection without a text space: the box says so again.
    page.get_by_test_id("collection-select").select_option("flowers")
    expect(box).to_be_disabled()


def test_ui_pages_run_under_the_content_security_policy(
    server: Server, page: Page, csp_violations: list[str]
) -> None:
    """The UI pages are sent with a CSP without 'unsafe-inline', and work under it (every test
    fails on a CSP report; this one checks that a report would be seen)."""
    response = page.goto(server.url + "/")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    login(page, server.url)
    page.get_by_test_id("help-btn").click()
    page.keyboard.press("Escape")
    response = page.goto(server.url + "/static/admin.html")
    assert response is not None and "content-security-policy" in response.headers
    expect(page.get_by_test_id("user-row").first).to_be_visible()
    assert not csp_violations, csp_violations
    # The watch works: an inline style attribute is refused, and reported.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    deadline = time.monotonic() + 10
    while not csp_violations and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert any("style-src" in v for v in csp_violations), csp_violations
    page.wait_for_timeout(500)  # Chromium's own "Refused to apply..." line comes too
    csp_violations.clear()
