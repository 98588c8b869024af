"""Issue 13 in the browser: a class shared with a group, seen by a member of that group and not
by an outsider, forked, made public; the real `furet serve` over a small flowers collection of
its own, driven by Debian's Chromium (the fixtures of test_browser.py)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CLI,
    FLOWERS,
    REPO,
    REPORT_CSP,
    furet_cli,
    is_csp_report,
    kind_of,
    wait_healthy,
)

pytestmark = pytest.mark.slow

pytest.importorskip("playwright", reason="pip install playwright (the dev extra)")
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, expect  # noqa: E402

from tests.web.test_browser import browser  # noqa: E402, F401  (a fixture, over our server)

KINDS = ("daisy", "sunflower", "tulip")
PER_KIND = 12
PASSWORD = "correct-horse-42"
#: Who is who: olga owns the class; rita is in olga's institution (ina); otto is in another one.
USERS = {"olga": ["ina"], "rita": ["ina"], "otto": ["bnf"]}


@dataclass
class Server:
    url: str
    home: Path
    query: Path  # a daisy photo that is not in the collection


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent: apt-get install chromium (the CI script does)")
    if not FLOWERS.is_dir():
        pytest.skip(f"test data {FLOWERS} is absent (it lies beside the clone as ../shared/data)")
    import furet
    from furet.catalog.accounts import AccountStore

    root = tmp_path_factory.mktemp("ui-sharing")
    images = root / "images"
    images.mkdir()
    for kind in KINDS:
        for src in sorted((FLOWERS / kind).glob("*.jpg"))[:PER_KIND]:
            shutil.copy(src, images / f"{kind}_{src.name}")
    query = sorted((FLOWERS / "daisy").glob("*.jpg"))[PER_KIND + 1]
    home = root / "home"
    furet_cli(home, "ingest", str(images), "-c", "flowers")
    accounts = AccountStore(furet.open(home).catalog.sessions)
    for name, groups in USERS.items():
        accounts.create_user(name, PASSWORD, groups=groups)

    port = free_port()
    log_path = root / "serve.log"
    # One row per enrichment block: a job over 36 items commits (and reports its progress) 36
    # times, slowly enough that the UI usually shows it running.
    env = {**os.environ, "FURET_HOME": str(home), "FURET_ENRICH_BLOCK_ROWS": "1"}
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [*CLI, "--home", str(home), "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc, log_path)
            yield Server(url, home, query)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


PageFactory = Callable[[str], Page]


@pytest.fixture
def login_as(browser: Browser, server: Server) -> Iterator[PageFactory]:  # noqa: F811
    """``login_as(user)``: a page of its own (one browser context per user) logged in as
    ``user``. Every page fails the test on a JavaScript error or a CSP report."""
    contexts = []
    errors: list[str] = []

    def open_page(user: str) -> Page:
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        contexts.append(context)
        context.add_init_script(REPORT_CSP)
        pg = context.new_page()
        pg.on("pageerror", lambda e: errors.append(f"{user}: {e}"))

        def on_console(message: ConsoleMessage) -> None:
            if is_csp_report(message.text):
                errors.append(f"{user}: {message.text}")

        pg.on("console", on_console)
        pg.set_default_timeout(20_000)
        pg.goto(server.url + "/")
        pg.get_by_test_id("login-user").fill(user)
        pg.get_by_test_id("login-password").fill(PASSWORD)
        pg.get_by_test_id("login-submit").click()
        expect(pg.get_by_test_id("user-name")).to_have_text(user)
        return pg

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors or CSP reports: {errors}"


def class_item(page: Page, name: str, section: str | None = None) -> Locator:
    scope = page.get_by_test_id(f"classes-{section}") if section else page
    return scope.get_by_test_id("class-item").filter(
        has=page.locator(".class-name", has_text=re.compile(f"^{re.escape(name)}$"))
    )


def teach_daisy(page: Page, server: Server, name: str, pages: int = 1) -> None:
    """Search by the query daisy, create ``name`` from the best daisy, mark the first page by
    the true kind of each image, run a Search round (``pages`` times)."""
    teach(page, name, "daisy", server.query, pages)


def teach(page: Page, name: str, kind: str, query: Path, pages: int = 1) -> None:
    """Search by ``query``, create ``name`` from the best image of ``kind``, mark each page
    by the true kind of its images and run a Search round, ``pages`` times."""
    page.get_by_test_id("collection-select").select_option("flowers")
    page.get_by_test_id("upload-input").set_input_files(str(query))
    # (the grid may still show the last round's page: wait for the search's)
    expect(page.get_by_test_id("query-info")).to_contain_text("Similar to")
    cards = page.get_by_test_id("card")
    expect(cards).to_have_count(15)
    first = next(c for c in cards.all() if kind_of(c) == kind)
    first.get_by_test_id("card-more").click()
    page.get_by_test_id("create-class").click()
    page.get_by_test_id("new-class-name").fill(name)
    page.get_by_test_id("new-class-submit").click()
    expect(page.locator("#class-name")).to_have_text(name)
    info = page.get_by_test_id("round-info")
    expect(info).to_contain_text("version 1")
    expect(cards).to_have_count(15)
    for n in range(pages):
        mark_by_kind(page, kind)
        page.get_by_test_id("mode-search").click()
        expect(info).to_contain_text(f"version {n + 2}")


def share_with(page: Page, group: str, right: str) -> None:
    """The current class's Share dialog: give ``group`` the ``right``."""
    page.get_by_test_id("class-share").click()
    dialog = page.get_by_test_id("share-dialog")
    dialog.get_by_test_id("share-group").filter(has_text=group).get_by_test_id(
        "share-group-right"
    ).select_option(right)
    dialog.get_by_test_id("share-save").click()
    expect(dialog).to_be_hidden()


def mark_by_kind(page: Page, kind: str = "daisy") -> None:
    for card in page.get_by_test_id("card").all():
        want = "positive" if kind_of(card) == kind else "negative"
        button = card.get_by_test_id(f"set-{want}")
        if button.get_attribute("aria-pressed") != "true":
            button.click()
            expect(button).to_have_attribute("aria-pressed", "true")


def test_share_with_a_group_seen_by_its_member_not_by_an_outsider_then_fork(
    server: Server, login_as: PageFactory
) -> None:
    olga = login_as("olga")
    teach_daisy(olga, server, "daisy")
    mine = class_item(olga, "daisy", "mine")
    expect(mine.get_by_test_id("class-visibility")).to_have_text("private")

    # The owner shares it with her institution, for reading.
    olga.get_by_test_id("class-share").click()
    dialog = olga.get_by_test_id("share-dialog")
    expect(dialog).to_be_visible()
    ina = dialog.get_by_test_id("share-group").filter(has_text="ina")
    ina.get_by_test_id("share-group-right").select_option("read")
    expect(dialog.get_by_test_id("share-public")).to_have_value("")
    ARTIFACTS.mkdir(exist_ok=True)
    olga.screenshot(path=str(ARTIFACTS / "share-dialog.png"))
    dialog.get_by_test_id("share-save").click()
    expect(dialog).to_be_hidden()
    expect(mine.get_by_test_id("class-visibility")).to_have_text("ina (read)")
    expect(olga.get_by_test_id("class-bar-visibility")).to_have_text("ina (read)")
    expect(olga.get_by_test_id("class-bar-owner")).to_have_text("ina (read)")

    # A member of ina sees it, marked with its owner and her right, and may only read it.
    rita = login_as("rita")
    shared = class_item(rita, "daisy", "shared")
    expect(shared).to_have_count(1)
    expect(shared.get_by_test_id("class-owner")).to_have_text("by olga")
    expect(shared.get_by_test_id("class-right")).to_have_text("read")
    expect(rita.get_by_test_id("classes-mine")).not_to_contain_text("daisy")
    shared.click()
    expect(rita.locator("#class-name")).to_have_text("daisy")
    expect(rita.get_by_test_id("class-bar-right")).to_have_text("read")
    note = rita.get_by_test_id("read-only-note")
    expect(note).to_be_visible()
    expect(note).to_have_attribute("title", re.compile("Read only: olga shares “daisy”"))
    expect(rita.get_by_test_id("next-round")).to_be_disabled()
    expect(rita.get_by_test_id("mode-search")).to_be_disabled()
    expect(rita.locator("#round-controls")).to_have_attribute("title", re.compile("Fork it"))
    expect(rita.get_by_test_id("class-share")).to_be_hidden()
    expect(rita.get_by_test_id("class-rename")).to_be_hidden()
    # Her search grid: the mark buttons are disabled and say why; a key says it too.
    rita.get_by_test_id("upload-input").set_input_files(str(server.query))
    cards = rita.get_by_test_id("card")
    expect(cards).to_have_count(15)
    plus = cards.first.get_by_test_id("set-positive")
    expect(plus).to_be_disabled()
    expect(plus).to_have_attribute("title", re.compile("Read only"))
    cards.nth(1).get_by_test_id("card-select").click()
    expect(rita.get_by_test_id("mark-positive")).to_be_disabled()
    cards.first.hover()
    rita.keyboard.press("p")
    expect(rita.get_by_test_id("toast").last).to_contain_text("Read only")
    # A class she may only read is not offered in "Add image to existing class".
    cards.first.get_by_test_id("card-more").click()
    expect(rita.get_by_test_id("card-menu").get_by_test_id("add-to-class")).to_have_count(0)
    rita.keyboard.press("Escape")

    # An outsider (another institution) does not see it, not even by its id.
    otto = login_as("otto")
    expect(otto.get_by_test_id("classes-list")).not_to_contain_text("daisy")
    expect(otto.get_by_test_id("classes-shared")).to_have_count(0)
    cid = shared.get_attribute("data-class-id")
    assert otto.request.get(f"{server.url}/v1/classes/{cid}").status == 404

    # Fork: one click; the copy is hers (Mine), editable, with a link to its origin.
    rita.get_by_test_id("class-fork").click()
    expect(rita.get_by_test_id("toast").last).to_contain_text("Forked olga/daisy")
    fork = class_item(rita, "daisy", "mine")
    expect(fork).to_have_count(1)
    expect(fork.get_by_test_id("class-origin")).to_have_text("↳ forked from olga/daisy")
    expect(fork).to_have_attribute("aria-pressed", "true")
    expect(rita.get_by_test_id("class-counts")).to_have_text(
        olga.get_by_test_id("class-counts").inner_text()
    )
    expect(rita.get_by_test_id("read-only-note")).to_be_hidden()
    expect(rita.locator("#class-origin-slot")).to_have_text("↳ forked from olga/daisy")
    expect(rita.get_by_test_id("next-round")).to_be_enabled()
    rita.get_by_test_id("mode-search").click()
    expect(rita.get_by_test_id("round-info")).to_contain_text("version")
    expect(cards.first.get_by_test_id("set-positive")).to_be_enabled()
    # The origin link shows the class it came from.
    rita.locator("#class-origin-slot").get_by_test_id("class-origin").click()
    expect(shared).to_have_attribute("aria-pressed", "true")
    expect(rita.get_by_test_id("read-only-note")).to_be_visible()

    # Made public, the outsider sees it under Public after a refresh, read only.
    olga.get_by_test_id("class-share").click()
    dialog.get_by_test_id("share-public").select_option("read")
    dialog.get_by_test_id("share-save").click()
    expect(mine.get_by_test_id("class-visibility")).to_have_text("ina (read), public (read)")
    otto.get_by_test_id("classes-refresh").click()
    public = class_item(otto, "daisy", "public")
    expect(public).to_have_count(1)
    expect(public.get_by_test_id("class-access")).to_contain_text("by olga read")
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "sharing.png"))


def test_enrich_a_shared_class_browse_its_tags_and_export_them(
    server: Server, login_as: PageFactory, tmp_path: Path
) -> None:
    olga = login_as("olga")
    teach_daisy(olga, server, "daisy tags", pages=2)
    olga.get_by_test_id("class-share").click()
    dialog = olga.get_by_test_id("share-dialog")
    dialog.get_by_test_id("share-group").filter(has_text="ina").get_by_test_id(
        "share-group-right"
    ).select_option("read")
    dialog.get_by_test_id("share-save").click()
    expect(dialog).to_be_hidden()

    # A reader may enrich: the Enrich action of the class, at a calibrated precision.
    rita = login_as("rita")
    class_item(rita, "daisy tags", "shared").click()
    expect(rita.get_by_test_id("read-only-note")).to_be_visible()
    expect(rita.get_by_test_id("class-tags")).to_be_hidden()  # no tags yet
    rita.get_by_test_id("class-enrich").click()
    enrich = rita.get_by_test_id("enrich-dialog")
    expect(enrich).to_be_visible()
    expect(enrich.get_by_test_id("enrich-collection")).to_have_value("flowers")
    expect(enrich.get_by_test_id("enrich-rule-precision")).to_be_checked()
    expect(enrich.get_by_test_id("enrich-current")).to_have_text("No tags in flowers yet.")
    enrich.get_by_test_id("enrich-precision").fill("0.9")
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "enrich-dialog.png"))
    # Every text the status bar shows, in order.
    rita.evaluate(
        """() => {
            window.enrichStates = [];
            const el = document.querySelector("[data-testid=enrich-state]");
            new MutationObserver(() => window.enrichStates.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )
    enrich.get_by_test_id("enrich-start").click()
    expect(enrich).to_be_hidden()
    # Its progress while it runs, then what it wrote.
    status = rita.get_by_test_id("enrich-status")
    expect(status).to_be_visible()
    expect(rita.get_by_test_id("enrich-state")).to_have_text(
        "Enriched flowers with “daisy tags”", timeout=60_000
    )
    states = rita.evaluate("window.enrichStates")
    assert states[0] == "Enrichment of flowers with “daisy tags”: queued", states
    running = re.compile(r"Enriching flowers with “daisy tags”: \d+% \(\d+ / 36 items\)")
    assert all(running.fullmatch(t) for t in states[1:-1] if t != states[0]), states
    expect(rita.get_by_test_id("enrich-progress")).to_have_js_property("value", 1)
    summary = rita.get_by_test_id("enrich-summary").inner_text()
    m = re.search(
        r"daisy tags: (\d+) tags? \(threshold (-?[\d.]+), estimated precision ([\d.]+)\)", summary
    )
    assert m, summary
    n_tags = int(m.group(1))
    assert 5 <= n_tags <= 20 and float(m.group(3)) >= 0.85, summary

    # The tags as a result grid, best first, with their count; mostly daisies.
    bar = rita.get_by_test_id("tags-bar")
    expect(bar).to_be_visible()
    expect(rita.get_by_test_id("tags-count")).to_have_text(f"{n_tags} images")
    expect(bar).not_to_contain_text("null")
    expect(rita.get_by_test_id("result-count")).to_have_text(f"Tagged: {n_tags} images")
    cards = rita.get_by_test_id("card")
    expect(cards).to_have_count(min(15, n_tags))
    scores = rita.get_by_test_id("score").all_inner_texts()
    assert all(re.fullmatch(r"Confidence: \d\.\d{4}", s) for s in scores), scores
    values = [float(s.split()[1]) for s in scores]
    assert values == sorted(values, reverse=True)
    assert sum(kind_of(c) == "daisy" for c in cards.all()) >= 0.85 * cards.count()
    # Counts per class: My Classes and the Tags button say how many.
    item = class_item(rita, "daisy tags", "shared")
    expect(item.get_by_test_id("class-tag-count")).to_have_text(f" · {n_tags} tags")
    expect(rita.get_by_test_id("class-tags")).to_have_text(f"Tags ({n_tags})")
    # Paged by the page size.
    rita.get_by_test_id("setting-page-size").fill("4")
    rita.get_by_test_id("class-tags").click()
    expect(rita.get_by_test_id("tags-range")).to_have_text(f"1–4 of {n_tags}")
    expect(cards).to_have_count(4)
    first_page = [c.get_attribute("data-item-id") for c in cards.all()]
    expect(rita.get_by_test_id("tags-prev")).to_be_disabled()
    rita.get_by_test_id("tags-next").click()
    expect(rita.get_by_test_id("tags-range")).to_have_text(f"5–8 of {n_tags}")
    assert not {c.get_attribute("data-item-id") for c in cards.all()} & set(first_page)
    rita.get_by_test_id("tags-prev").click()
    expect(rita.get_by_test_id("tags-range")).to_have_text(f"1–4 of {n_tags}")

    # The detail view of a tagged image lists the classes that tag it.
    cards.first.get_by_test_id("open-detail").click()
    detail = rita.get_by_test_id("detail-dialog")
    tag = detail.get_by_test_id("detail-tag").filter(has_text="daisy tags")
    expect(tag).to_have_count(1)
    expect(tag).to_contain_text("daisy tags (olga)")
    expect(tag).to_contain_text("confidence")
    detail.get_by_test_id("detail-close").click()

    # Export: CSV, JSON Lines and Parquet downloads, one row per tag, with file paths.
    rows: dict[str, list[dict[str, object]]] = {}
    for fmt in ("csv", "jsonl", "parquet"):
        with rita.expect_download() as download:
            rita.get_by_test_id(f"tags-export-{fmt}").click()
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        assert path.suffix == f".{fmt}", path
        rows[fmt] = read_rows(path, fmt)
    for fmt, got in rows.items():
        assert len(got) == n_tags, (fmt, len(got))
        assert all(str(r["path"]).endswith(".jpg") and r["class"] == "daisy tags" for r in got)
        assert {str(r["item_id"]) for r in got} >= set(map(str, first_page)), fmt

    # An outsider sees neither the class nor its tags.
    otto = login_as("otto")
    cid = item.get_attribute("data-class-id")
    assert otto.request.get(f"{server.url}/v1/classes/{cid}/tags").status == 404
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "enrich.png"))


def read_rows(path: Path, fmt: str) -> list[dict[str, object]]:
    if fmt == "csv":
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def test_discover_the_classes_of_others_and_the_closest_users(
    server: Server, login_as: PageFactory
) -> None:
    sunflower = sorted((FLOWERS / "sunflower").glob("*.jpg"))[PER_KIND + 1]
    olga = login_as("olga")
    teach_daisy(olga, server, "olga daisy")
    share_with(olga, "ina", "read")
    teach(olga, "olga sunflower", "sunflower", sunflower)
    share_with(olga, "ina", "read")
    rita = login_as("rita")
    teach_daisy(rita, server, "rita daisy")

    # An uploaded image (the query of a search): olga's daisies first, with owner and group
    # (the other tests of this module may have left more classes of olga's: daisies too).
    rita.get_by_test_id("upload-input").set_input_files(str(server.query))
    expect(rita.get_by_test_id("query-info")).to_contain_text("Similar to")
    rita.get_by_test_id("discover-query").click()
    dialog = rita.get_by_test_id("discover-dialog")
    expect(dialog).to_be_visible()
    found = dialog.get_by_test_id("found")
    expect(found.first.get_by_test_id("found-name")).to_contain_text("daisy")
    expect(found.first.get_by_test_id("found-owner")).to_have_text("by olga")
    names = dialog.get_by_test_id("found-name").all_inner_texts()
    assert names.index("olga daisy") < names.index("olga sunflower"), names
    target = found.filter(has=rita.get_by_test_id("found-name").get_by_text("olga daisy"))
    expect(target.get_by_test_id("found-owner")).to_have_text("by olga")
    expect(target.get_by_test_id("found-sharing")).to_have_text("ina (read)")
    expect(target.get_by_test_id("found-right")).to_have_text("read")
    expect(target.get_by_test_id("found-evidence")).to_contain_text("fires")
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "discover.png"))
    assert "rita daisy" not in names  # hers only when asked
    dialog.get_by_test_id("discover-mine").check()
    expect(dialog.get_by_test_id("found-name").filter(has_text="rita daisy")).to_have_count(1)
    dialog.get_by_test_id("discover-mine").uncheck()
    expect(dialog.get_by_test_id("found-name").filter(has_text="rita daisy")).to_have_count(0)
    # One click to fork it.
    target.get_by_test_id("found-fork").click()
    expect(dialog).to_be_hidden()
    expect(rita.get_by_test_id("toast").last).to_contain_text("Forked olga/olga daisy")
    fork = class_item(rita, "olga daisy", "mine")
    expect(fork.get_by_test_id("class-origin")).to_have_text("↳ forked from olga/olga daisy")

    # An item of the collection (its card menu): one click to use the class found.
    cards = rita.get_by_test_id("card")
    daisy = next(c for c in cards.all() if kind_of(c) == "daisy")
    daisy.get_by_test_id("card-more").click()
    rita.get_by_test_id("menu-discover").click()
    expect(found.first.get_by_test_id("found-name")).to_contain_text("daisy")
    target.get_by_test_id("found-use").click()
    expect(dialog).to_be_hidden()
    expect(class_item(rita, "olga daisy", "shared")).to_have_attribute("aria-pressed", "true")
    expect(rita.get_by_test_id("class-bar-right")).to_have_text("read")

    # One of her classes: the classes of others that resemble it.
    class_item(rita, "rita daisy", "mine").click()
    rita.get_by_test_id("class-similar").click()
    expect(found.first.get_by_test_id("found-name")).to_contain_text("daisy")
    expect(target.get_by_test_id("found-evidence")).to_contain_text("its model on my positives")
    dialog.get_by_role("button", name="Close").click()

    # Communities: olga is the closest user, through pairs of daisy classes.
    rita.get_by_test_id("communities-btn").click()
    community = rita.get_by_test_id("community-dialog")
    expect(community).to_be_visible()
    users = community.get_by_test_id("community-users").get_by_test_id("neighbour")
    expect(users.first.get_by_test_id("neighbour-name")).to_have_text("olga")
    expect(users.first).to_contain_text("classes compared")
    pair = users.first.get_by_test_id("pair").filter(has_text="rita daisy")
    expect(pair.first.get_by_test_id("pair-theirs")).to_contain_text("daisy")
    community.get_by_role("button", name="Close").click()
    # And for one class: who made classes like it.
    rita.get_by_test_id("class-community").click()
    expect(users.first.get_by_test_id("neighbour-name")).to_have_text("olga")
    expect(users.first.get_by_test_id("pair-mine").first).to_have_text("“rita daisy”")
    ARTIFACTS.mkdir(exist_ok=True)
    rita.screenshot(path=str(ARTIFACTS / "community.png"))


def test_near_duplicates_dialog(login_as: PageFactory) -> None:
    page = login_as("rita")
    page.get_by_test_id("duplicates-btn").click()
    dialog = page.get_by_test_id("dup-dialog")
    expect(dialog).to_be_visible()
    # 36 distinct photographs: no near-duplicate at the default threshold...
    expect(page.get_by_test_id("dup-note")).to_contain_text("No near-duplicates")
    # ... but neighbours whose pixels merely correlate, once the threshold is lowered.
    page.get_by_test_id("dup-threshold").fill("0")
    page.get_by_test_id("dup-refresh").click()
    groups = page.get_by_test_id("dup-group")
    expect(groups.first).to_be_visible()
    assert groups.count() >= 1
    first = page.get_by_test_id("dup-item").first.locator("img")
    expect(first).to_have_attribute("src", re.compile(r"^/v1/items/\d+/thumbnail$"))
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first.element_handle()
    )
    expect(page.get_by_test_id("dup-note")).to_contain_text("neighbour pairs compared")
