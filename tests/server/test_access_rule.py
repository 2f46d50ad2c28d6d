"""Who owns a browser session before it proves anything (fer/server/access.py `session_owner`): without an
[access] section and off Community Cloud, a browser on the app's own machine; never the network that Streamlit
also listens on, a proxy's visitors, a hostile page that re-pointed its own name at 127.0.0.1 (DNS rebinding),
or a peer the server cannot tell. Configured or hosted: prove it."""

from unittest.mock import MagicMock

import pytest

from fer.server import access
from fer.server.access import AccessConfig, Client, Owner

LOCAL = Client("127.0.0.1", host="localhost:8501")


def _owner(client: Client, config: AccessConfig | None = None, state: dict | None = None, email: str | None = None,
           is_hosted: bool = False) -> Owner | None:
    return access.session_owner(state or {}, config, email, client, is_hosted=is_hosted)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.1.1"])
@pytest.mark.parametrize("host", ["localhost:8501", "127.0.0.1:8501", "[::1]:8501", "::1", "LOCALHOST"])
def test_a_browser_on_this_machine_owns_an_unconfigured_app(address, host):
    client = Client(address, host=host)
    assert _owner(client) == Owner("local")
    assert access.default_role(None, False, client) == access.OWNER and access.own_machine(False, client)


@pytest.mark.parametrize("client", [
    Client("192.168.1.20", host="localhost"), Client("192.0.2.2", host="192.0.2.2:8501"),  # the Network URL
    Client("::ffff:10.0.0.5", host="localhost"), Client("fd00::2", host="localhost"),
    Client("203.0.113.9", host="localhost"), Client("2001:db8::1", host="localhost"),
    Client(None, host="localhost"), Client("", host="localhost"), Client("0.0.0.0", host="localhost"),
    Client("::", host="localhost"), Client("localhost", host="localhost"),  # a peer nobody can tell
    Client("127.0.0.1", True, "localhost"), Client("::ffff:127.0.0.1", True, "localhost"),  # a proxy on this machine
    # a hostile page whose own name now points at 127.0.0.1 (DNS rebinding): a loopback peer, its own name
    Client("127.0.0.1", host="evil.example"), Client("127.0.0.1", host="evil.example:8501"),
    Client("::1", host="localhost.evil.example"), Client("127.0.0.1", host="127.0.0.1.evil.example:8501"),
    Client("127.0.0.1", host="192.0.2.2:8501"), Client("127.0.0.1", host="[::1]:x"),
    Client("127.0.0.1"), Client("127.0.0.1", host=""),  # no Host: nothing names this machine
])
def test_anyone_else_is_a_visitor(client):
    assert _owner(client) is None
    assert access.default_role(None, False, client) == access.VISITOR and not access.own_machine(False, client)


def test_a_proxys_forwarding_header_says_someone_else_and_a_browsers_own_headers_do_not():
    browser = [("Host", "localhost:8501"), ("Origin", "http://localhost:8501"), ("User-Agent", "x"),
               ("Cookie", "a=b"), ("Sec-WebSocket-Key", "k"), ("Sec-WebSocket-Version", "13")]
    own = Client.of("127.0.0.1", browser)
    assert own == Client("127.0.0.1", host="localhost:8501", origin="http://localhost:8501") and own.local
    for header in ("X-Forwarded-For", "x-forwarded-proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "Via",
                   "CF-Connecting-IP", "True-Client-IP"):
        client = Client.of("::ffff:127.0.0.1", [*browser, (header, "203.0.113.9")])
        assert client.forwarded and not client.local and _owner(client) is None, header
    assert Client.of(MagicMock(), []) == Client(None)  # AppTest's mock runtime: no peer at all


def test_the_host_header_is_read_once_and_a_second_one_names_nobody():
    rebound = Client.of("127.0.0.1", [("host", "evil.example:8501"), ("origin", "http://evil.example:8501")])
    assert rebound.host == "evil.example:8501" and not rebound.local and _owner(rebound) is None
    twice = Client.of("127.0.0.1", [("Host", "localhost:8501"), ("Host", "evil.example")])
    assert twice.host is None and not twice.local
    assert not Client.of("127.0.0.1", [("User-Agent", "x")]).local  # no Host at all


@pytest.mark.parametrize("origin", [
    "http://localhost:3000", "http://127.0.0.1:8501", "http://localhost",
    "http://evil.example", "null", "http://localhost:8501.evil.example"])
def test_a_page_from_another_origin_on_this_machine_is_a_visitor(origin):
    """Streamlit lets in this machine's pages on any port (and every page with CORS off): a dev server's page, a
    downloaded HTML file served locally or a sandboxed frame ("null") is someone else's code, not the app."""
    client = Client.of("127.0.0.1", [("Host", "localhost:8501"), ("Origin", origin)])
    assert not client.local and _owner(client) is None and not access.own_machine(False, client)
    twice = Client.of("127.0.0.1", [("Host", "localhost:8501"), ("Origin", "http://localhost:8501"),
                                    ("Origin", origin)])
    assert twice.origin is None and not twice.local


@pytest.mark.parametrize("host", ["localhost:8501", "LOCALHOST:8501", "127.0.0.1:8501", "[::1]:8501"])
def test_the_apps_own_page_on_this_machine_is_the_owner(host):
    client = Client.of("127.0.0.1", [("Host", host), ("Origin", f"http://{host.lower()}")])
    assert client.local and _owner(client) == Owner("local")


def test_hosted_or_configured_the_local_browser_proves_itself_like_anyone():
    assert _owner(LOCAL, is_hosted=True) is None  # Community Cloud's own proxy may connect from loopback
    assert not access.own_machine(True, LOCAL)  # nor is its profile this server's
    config = AccessConfig(owner_password="pw")
    assert _owner(LOCAL, config) is None and access.default_role(config, False, LOCAL) == access.VISITOR
    for client in (LOCAL, Client("192.0.2.9"), Client(None)):
        assert _owner(client, config, {access.OWNER_KEY: "password"}, is_hosted=True) == Owner("password")
    assert _owner(Client("192.0.2.9"), None, {access.OWNER_KEY: "password"}) is None  # no password to have typed
    owners = AccessConfig(owners=("me@example.com",))
    assert _owner(Client("192.0.2.9"), owners, email="Me@Example.com", is_hosted=True) == Owner("login")
    assert _owner(LOCAL, owners, email="you@example.com") is None
