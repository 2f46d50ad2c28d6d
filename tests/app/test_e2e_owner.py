"""End to end in a real browser: who owns an unconfigured app (fer/server/access.py, ui/training.py `connection`)
and whose profile a session gets (ui/browser.py `own_machine`). `streamlit run` listens on every interface, so the
same server is opened from this machine (loopback), from the network (this machine's own LAN address), as a
proxy on this machine would pass a stranger on, and as a hostile page whose own name was re-pointed at 127.0.0.1
(DNS rebinding: the browser resolves REBOUND to this machine, and still sends that name as the Host)."""

from __future__ import annotations

import socket

import pytest

from fer.profiles.store import Profile
from tests.app.conftest import ARTIFACTS, REBOUND, WAIT, _settled, needs_browser
from ui.browser import BROWSER_KEY

pytestmark = needs_browser


def _lan_address() -> str | None:
    """This machine's address on its network (the route out; no packet is sent), None without a network."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("198.51.100.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") else address


def _url(url: str, where: str) -> str:
    """The server's loopback URL as opened from `where`: "lan" or "rebound"."""
    if where == "lan":
        if not (address := _lan_address()):
            pytest.skip("this machine has no network address")
        return url.replace("127.0.0.1", address)
    return url.replace("127.0.0.1", REBOUND)


def _drawn(page, url: str):
    """The page at `url` once its runs are over (a button it draws is there); its sidebar."""
    from playwright.sync_api import expect

    page.goto(url)
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar).to_contain_text("Catalogue:", timeout=WAIT)
    _settled(page)
    return sidebar


def _refresh(sidebar):
    """The owner's "Refresh from IMDb" button, as a locator (a visitor's page has none)."""
    return sidebar.get_by_role("button", name="Refresh from IMDb")


@pytest.mark.parametrize("headers,owner", [
    ({}, True),
    ({"Forwarded": "for=203.0.113.9"}, False),  # a peer uvicorn keeps: only the header tells
])
def test_only_a_browser_on_this_machine_owns_an_unconfigured_app(server, browser, headers, owner):
    """From loopback. The network ("lan") and a loopback peer under a rebound name are no owners either: the next
    test checks that on the page it opens as each of them."""
    from playwright.sync_api import expect

    context = browser.new_context(extra_http_headers=headers)
    try:
        expect(_refresh(_drawn(context.new_page(), server[0]))).to_have_count(1 if owner else 0)
    finally:
        context.close()


@pytest.mark.parametrize("where", [
    "lan",
    "rebound",  # a loopback peer with no forwarding header: only the Host tells
])
def test_a_visitor_of_an_unconfigured_app_is_no_owner_and_keeps_their_profile_in_their_browser(server, browser,
                                                                                               where):
    """Not the owner: no owner's control. Seen on a real server: from the LAN the page said "Your profile is kept
    on this computer (/…/profile.db)" and let the visitor read, download, import over or delete the machine's own
    marks."""
    from playwright.sync_api import expect

    url, log, db = server
    url = _url(url, where)
    Profile(db).rate("tt0068646", 1, "happy")  # the machine's own person's mark
    stored = f"() => (localStorage.getItem('{BROWSER_KEY}') || '')"
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    try:
        page = context.new_page()
        sidebar = _drawn(page, url)
        expect(_refresh(sidebar), f"a browser from {where} owns the app").to_have_count(0)
        sidebar.get_by_text("My data", exact=True).click()
        expect(sidebar).to_contain_text("kept in this browser's own storage", timeout=WAIT)
        sidebar.get_by_text("My marks", exact=True).click()
        expect(sidebar).to_contain_text("No marks yet", timeout=WAIT)  # not the machine's mark
        search = sidebar.locator(".st-key-catalogue_search input")
        search.fill("pulp fiction")
        search.press("Enter")
        sidebar.locator(".st-key-add_up_tt0110912 button").click(timeout=WAIT)
        page.wait_for_function(f"() => ({stored})().includes('tt0110912')", timeout=WAIT)
        assert "tt0068646" not in page.evaluate(stored)
        expect(sidebar).not_to_contain_text(str(db.parent))
        assert Profile(db).ratings() == {"tt0068646": 1}  # the visitor's mark is not on this machine's disk
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"streamlit-owner-{where}.log").write_text(log.read_text())
        raise
    finally:
        context.close()
