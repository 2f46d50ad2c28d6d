"""Who owns a browser session before it proves anything (fer/server/access.py `session_owner`): without an
[access] section and off Community Cloud, a browser on the app's own machine; never the network that Streamlit
also listens on, a proxy's visitors, or a peer the server cannot tell. Configured or hosted: prove it."""

from unittest.mock import MagicMock

import pytest

from fer.server import access
from fer.server.access import AccessConfig, Client, Owner

LOCAL = Client("127.0.0.1")


def _owner(client: Client, config: AccessConfig | None = None, state: dict | None = None, email: str | None = None,
           is_hosted: bool = False) -> Owner | None:
    return access.session_owner(state or {}, config, email, client, is_hosted=is_hosted)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "127.0.1.1"])
def test_a_browser_on_this_machine_owns_an_unconfigured_app(address):
    assert _owner(Client(address)) == Owner("local")
    assert access.default_role(None, False, Client(address)) == access.OWNER


@pytest.mark.parametrize("client", [
    Client("192.168.1.20"), Client("192.0.2.2"), Client("::ffff:10.0.0.5"), Client("fd00::2"),  # the Network URL
    Client("203.0.113.9"), Client("2001:db8::1"),
    Client(None), Client(""), Client("0.0.0.0"), Client("::"), Client("localhost"),  # a peer nobody can tell
    Client("127.0.0.1", forwarded=True), Client("::ffff:127.0.0.1", forwarded=True),  # a proxy on this machine
])
def test_anyone_else_is_a_visitor(client):
    assert _owner(client) is None
    assert access.default_role(None, False, client) == access.VISITOR


def test_a_proxys_forwarding_header_says_someone_else_and_a_browsers_own_headers_do_not():
    browser = ["Host", "Origin", "User-Agent", "Cookie", "Sec-WebSocket-Key", "Sec-WebSocket-Version"]
    assert Client.of("127.0.0.1", browser) == LOCAL and LOCAL.local
    for header in ("X-Forwarded-For", "x-forwarded-proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "Via",
                   "CF-Connecting-IP", "True-Client-IP"):
        client = Client.of("::ffff:127.0.0.1", [*browser, header])
        assert client.forwarded and not client.local and _owner(client) is None, header
    assert Client.of(MagicMock(), []) == Client(None)  # AppTest's mock runtime: no peer at all


def test_hosted_or_configured_the_local_browser_proves_itself_like_anyone():
    assert _owner(LOCAL, is_hosted=True) is None  # Community Cloud's own proxy may connect from loopback
    config = AccessConfig(owner_password="pw")
    assert _owner(LOCAL, config) is None and access.default_role(config, False, LOCAL) == access.VISITOR
    for client in (LOCAL, Client("192.0.2.9"), Client(None)):
        assert _owner(client, config, {access.OWNER_KEY: "password"}, is_hosted=True) == Owner("password")
    assert _owner(Client("192.0.2.9"), None, {access.OWNER_KEY: "password"}) is None  # no password to have typed
    owners = AccessConfig(owners=("me@example.com",))
    assert _owner(Client("192.0.2.9"), owners, email="Me@Example.com", is_hosted=True) == Owner("login")
    assert _owner(LOCAL, owners, email="you@example.com") is None
