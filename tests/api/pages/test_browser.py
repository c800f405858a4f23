"""The web viewer in a real browser: Debian's Chromium driven by Playwright, against ``tgpipe api``
serving trantor (and, for a Persian search, hejazizo) archived through the pipeline. Screenshots go to the artifacts folder (printed;
TGPIPE_TEST_ARTIFACTS) and, with TGPIPE_UPDATE_SCREENSHOTS=1, to docs/screenshots."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DEVELOPER_ENV
from tests.api.pages.test_pages import EVIL_CHAT, PAYLOAD
from tests.support.api import written
from tests.support.browser import CHROMIUM, api_process, artifacts_dir, publish_screenshot
from tests.support.factories import message_event
from tgpipe.db.search import normalise

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")]


@pytest.fixture(scope="module")
async def viewer(trantor, tmp_path_factory) -> AsyncIterator[str]:
    """The base URL of ``tgpipe api`` on trantor's archive, which also holds a chat whose message is an HTML payload."""
    await written(trantor.settings, message_event(EVIL_CHAT, 1, text=PAYLOAD, title="evil"))
    async with api_process(trantor.settings, tmp_path_factory.mktemp("api") / "api.log") as base:
        yield base


@pytest.fixture(scope="module")
async def persian_viewer(hejazizo, tmp_path_factory) -> AsyncIterator[str]:
    """The base URL of ``tgpipe api`` on hejazizo's archive (Persian; some words written with Arabic letters)."""
    async with api_process(hejazizo.settings, tmp_path_factory.mktemp("api") / "api.log") as base:
        yield base


@pytest.fixture(scope="module")
async def browser():
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        await chromium.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    return artifacts_dir(tmp_path_factory.getbasetemp() / "screenshots", DEVELOPER_ENV)


@pytest.fixture
async def page(browser, viewer):
    context = await browser.new_context(base_url=viewer, viewport={"width": 1280, "height": 900}, color_scheme="light")
    yield await context.new_page()
    await context.close()


async def _land_on_the_first_hit(page, word: str) -> str:
    """Click the first hit of the search results shown; check its marked text is ``word`` once
    normalised and that the message's timeline opens on it, targeted and highlighted. Returns the marked text."""
    first = page.locator("li.hit").first
    marked = await first.locator("mark").first.inner_text()
    assert normalise(marked) == normalise(word)
    href = await first.locator("a.snippet").get_attribute("href")
    message = href.rsplit("#m-", 1)[1]
    await first.locator("a.snippet").click()
    await page.wait_for_url(f"**{href}")
    assert await page.evaluate("document.querySelector(':target').id") == f"m-{message}"
    assert await _in_view(page, f"#m-{message}")
    assert await page.eval_on_selector(f"#m-{message} article", "element => getComputedStyle(element).outlineStyle") == "solid"
    assert marked in await page.locator(f"#m-{message} .text").inner_text()
    return marked


async def _count(page) -> int:
    return await page.locator("li.msg").count()


async def _in_view(page, selector: str) -> bool:
    return await page.eval_on_selector(selector, """element => {
        const box = element.getBoundingClientRect();
        return box.bottom > 0 && box.top < window.innerHeight;
    }""")


async def test_from_the_chats_list_to_the_timeline_scrolling_back(page, trantor, shots):
    await page.goto("/")
    await page.get_by_role("link", name=trantor.raw["name"]).click()
    await page.wait_for_url(f"**/chats/{trantor.chat_id}")
    last = max(trantor.raw["messages"], key=lambda m: (int(m["date_unixtime"]), m["id"]))["id"]
    assert await _in_view(page, f"#m-{last}")  # opened on the latest message
    await page.screenshot(path=shots / "latest.png")
    before = await _count(page)
    first_id = await page.eval_on_selector("li.msg", "element => element.id")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.wait_for_function("count => document.querySelectorAll('li.msg').length > count", arg=before)
    assert await page.eval_on_selector("li.msg", "element => element.id") != first_id  # older ones above
    assert await page.locator(f"#{first_id}").count() == 1  # nothing repeated


async def test_jump_to_a_date_then_scroll_forward(page, trantor):
    await page.goto(f"/chats/{trantor.chat_id}")
    await page.get_by_label("Jump to date").fill("2024-01-01")
    await page.get_by_role("button", name="Go").click()
    await page.wait_for_url("**?date=2024-01-01")
    focused = await page.eval_on_selector("li[data-focus]", "element => element.querySelector('time').dateTime")
    assert focused >= "2024-01-01"
    assert await _in_view(page, "li[data-focus]")
    assert await page.evaluate("""() => {
        const boxes = selector => [...document.querySelectorAll(selector)].map(e => e.getBoundingClientRect());
        const articles = boxes("li.msg article");
        return boxes("li.day h2").filter(day => articles.some(a => day.bottom > a.top && day.top < a.bottom
                                                                    && day.right > a.left && day.left < a.right));
    }""") == []  # no day separator covers a message
    before = await _count(page)
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_function("count => document.querySelectorAll('li.msg').length > count", arg=before)
    days = await page.eval_on_selector_all("li.day", "items => items.map(item => item.dataset.day)")
    assert days == sorted(set(days))  # one separator per day, in order, across the loaded fragments


async def test_a_reply_link_lands_on_the_quoted_message(page, trantor, shots):
    await page.goto(f"/chats/{trantor.chat_id}/99")
    await page.wait_for_function("() => document.querySelector('#m-99 img').complete")
    await page.screenshot(path=shots / "timeline.png")  # a reply with its photo, the message highlighted
    publish_screenshot(shots / "timeline.png", DEVELOPER_ENV)
    await page.locator("#m-99 a.reply").click()
    await page.wait_for_url(f"**/chats/{trantor.chat_id}/90#m-90")
    assert await page.evaluate("document.querySelector(':target').id") == "m-90"
    assert await _in_view(page, "#m-90")
    outline = await page.eval_on_selector("#m-90 article", "element => getComputedStyle(element).outlineStyle")
    assert outline == "solid"  # highlighted


async def test_search_a_chinese_word_in_a_chat_and_land_on_its_message(page, trantor, shots):
    await page.goto(f"/chats/{trantor.chat_id}")
    await page.get_by_label("Search this chat").fill("音乐")
    await page.get_by_label("Search this chat").press("Enter")
    await page.wait_for_url("**/search?*")
    assert await page.get_by_label("Chat", exact=True).input_value() == str(trantor.chat_id)
    assert await page.locator("li.hit").count() == 20 and await page.locator("li.more a").count() == 1
    await page.screenshot(path=shots / "search.png")
    publish_screenshot(shots / "search.png", DEVELOPER_ENV)
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    await page.wait_for_function("() => document.querySelectorAll('li.hit').length > 20")  # the next hits loaded
    await page.evaluate("window.scrollTo(0, 0)")
    await _land_on_the_first_hit(page, "音乐")


async def test_search_a_persian_word_written_with_arabic_yeh_and_land_on_its_message(browser, persian_viewer, hejazizo):
    context = await browser.new_context(base_url=persian_viewer, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    await page.goto("/search")
    await page.get_by_label("Words").fill("بیدار")  # Persian yeh; the export writes بيدار (Arabic yeh)
    await page.get_by_label("Chat", exact=True).select_option(str(hejazizo.chat_id))
    await page.get_by_role("main").get_by_role("button", name="Search").click()
    await page.wait_for_url("**/search?q=*")
    marked = await _land_on_the_first_hit(page, "بیدار")
    assert marked == "بيدار" and await page.locator(":target .text").get_attribute("dir") == "auto"
    await context.close()


async def test_a_photo_and_its_original_load(page, trantor, shots):
    message = next(m["id"] for m in trantor.raw["messages"] if "photo" in m)
    await page.goto(f"/chats/{trantor.chat_id}/{message}")
    thumbnail = page.locator(f"#m-{message} a.photo img").first
    await thumbnail.scroll_into_view_if_needed()
    await page.wait_for_function("image => image.complete", arg=await thumbnail.element_handle())
    assert await thumbnail.evaluate("image => image.naturalWidth") > 0
    await page.locator(f"#m-{message}").screenshot(path=shots / "photo.png")
    await page.locator(f"#m-{message} a.photo").first.click()
    await page.wait_for_url("**/media/*")
    await page.wait_for_function("() => document.images.length === 1 && document.images[0].complete")
    assert await page.evaluate("document.images[0].naturalWidth") > 0


async def test_an_html_payload_shows_as_text_and_runs_nothing(page):
    response = await page.goto(f"/chats/{EVIL_CHAT}")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert await page.locator("#m-1 .text").inner_text() == PAYLOAD
    assert await page.locator("#m-1 .text").is_visible()
    assert await page.evaluate("window.__pwned") is None  # undefined


async def test_the_keyboard_reaches_the_links(page, trantor):
    await page.goto("/")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    chat = f"/chats/{trantor.chat_id}"
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.getAttribute('href')") == chat:
            break
    else:
        pytest.fail("Tab never reached the chat's link")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**{chat}")


async def test_the_dark_theme_follows_the_system(browser, viewer, trantor, shots):
    backgrounds = {}
    for scheme in ("light", "dark"):
        context = await browser.new_context(base_url=viewer, color_scheme=scheme, viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        await page.goto(f"/chats/{trantor.chat_id}")
        backgrounds[scheme] = await page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        if scheme == "dark":
            await page.screenshot(path=shots / "dark.png")
        await context.close()
    assert backgrounds["light"] != backgrounds["dark"]


async def test_a_phone_screen_has_no_horizontal_scroll(browser, viewer, trantor, shots):
    context = await browser.new_context(base_url=viewer, viewport={"width": 390, "height": 844}, is_mobile=True,
                                        has_touch=True)
    page = await context.new_page()
    for path in ("/", f"/chats/{trantor.chat_id}", f"/chats/{trantor.chat_id}/media", f"/chats/{trantor.chat_id}/99",
                 "/search?q=技术"):
        await page.goto(path)
        width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path, width)
    await page.screenshot(path=shots / "phone.png")
    await context.close()
