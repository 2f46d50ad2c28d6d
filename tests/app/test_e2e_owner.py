"""End to end in a real browser: who owns an unconfigured app (fer/server/access.py, ui/training.py `connection`).
`streamlit run` listens on every interface, so the same server is opened from this machine (loopback), from the
network (this machine's own LAN address) and as a proxy on this machine would pass a stranger on."""

from __future__ import annotations

import socket

import pytest

from tests.app.conftest import WAIT, _settled, needs_browser

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


@pytest.mark.parametrize("where,headers,owner", [
    ("loopback", {}, True),
    ("lan", {}, False),
    ("loopback", {"Forwarded": "for=203.0.113.9"}, False),  # a peer uvicorn keeps: only the header tells
])
def test_only_a_browser_on_this_machine_owns_an_unconfigured_app(server, browser, where, headers, owner):
    from playwright.sync_api import expect

    url = server[0]
    if where == "lan":
        if not (address := _lan_address()):
            pytest.skip("this machine has no network address")
        url = url.replace("127.0.0.1", address)
    context = browser.new_context(extra_http_headers=headers)
    try:
        page = context.new_page()
        page.goto(url)
        sidebar = page.get_by_test_id("stSidebar")
        expect(sidebar).to_contain_text("Catalogue:", timeout=WAIT)
        _settled(page)  # the page's runs are over: a button it draws is there
        expect(sidebar.get_by_role("button", name="Refresh from IMDb")).to_have_count(1 if owner else 0)
    finally:
        context.close()
