"""Who may do what: the owner (train, upload, evaluate, promote, refresh, server paths) and visitors (the rest).

Configuration comes from the app's secrets (the page passes `st.secrets`; nothing here imports streamlit):

    [access]
    owner_password = "..."             # typed once per browser session on the training page
    owners = ["me@example.com"]        # with Streamlit's built-in login (an [auth] section): verified
                                       # e-mails, or "sub:<id>" for a provider that does not verify them
    server_paths = ["/data/datasets"]  # folders the owner may train or evaluate from by path (off when absent)

The rule without an [access] section (`default_role`): a browser on the machine that runs the app (`Client.local`:
a loopback peer that no proxy forwards, which asked for this machine by name) is its owner, with no set-up; anyone
else, from the network, through a proxy or through a web page's re-pointed name, is a visitor, and on Streamlit
Community Cloud everybody is. The same browser alone keeps its profile on this machine's disk (`own_machine`).
Community Cloud is recognised from the server's own environment (`hosted`), never from anything a browser sends,
and any one sign of it is enough: when in doubt, read-only.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fer.files import ROOT

OWNER, VISITOR = "owner", "visitor"
OWNER_KEY = "fer_owner"  # session-state key the password gate sets (no widget has it, so no browser can)
MAX_TRIES = 5  # wrong passwords from one client address before it must wait
SERVER_TRIES = 20  # wrong passwords from anywhere before the whole server must wait (addresses are cheap)
LOCKOUT_S = 300  # the first wait; each further lockout of the same client (or of the server) doubles it
MAX_LOCKOUT_S = 86_400
MAX_CLIENTS = 10_000  # addresses whose wrong passwords are remembered (the server-wide count is always kept)
# Never readable as a dataset, whatever the owner lists.
FORBIDDEN = (Path("/proc"), Path("/sys"), Path("/dev"), Path("/run"), Path("/etc"))


@dataclass(frozen=True)
class AccessConfig:
    owner_password: str | None = None
    owners: tuple[str, ...] = ()
    server_paths: tuple[Path, ...] = ()

    @classmethod
    def from_secrets(cls, secrets: Mapping) -> AccessConfig | None:
        """The [access] section of the app's secrets, or None when there is none."""
        section = secrets.get("access") if hasattr(secrets, "get") else None
        if not section:
            return None
        password = section.get("owner_password") or None
        owners = tuple(str(o).strip().lower() for o in section.get("owners", ()) if str(o).strip())
        paths = tuple(Path(str(p)).resolve() for p in section.get("server_paths", ()))
        return cls(str(password) if password else None, owners, paths)


def hosted(environ: Mapping[str, str] = os.environ, app_dir: Path = ROOT) -> bool:
    """True when this server looks like Streamlit Community Cloud: its app folder under /mount/src, the
    `appuser` account's home, or the host name `streamlit`. FER_PUBLIC=1 says so for any other public host."""
    return (str(app_dir).startswith("/mount/src/") or environ.get("HOME") == "/home/appuser"
            or environ.get("HOSTNAME") == "streamlit" or environ.get("FER_PUBLIC") == "1")


# Request headers by which a proxy says it forwards someone else; a browser sends none of them itself.
FORWARDING = ("forwarded", "via", "x-real-ip", "cf-connecting-ip", "true-client-ip")  # and every "x-forwarded-*"


def _ip(address: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A peer address read as IP (an IPv6-mapped IPv4 one as IPv4: Streamlit listens on both, so a browser or
    proxy on this machine may show as ::ffff:127.0.0.1); None for none or anything unreadable."""
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:
        return None
    return ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip


# A Host header: a name or IPv4 address, or a bracketed IPv6 one, then an optional port.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]]+))(?::\d{1,5})?")


def names_this_machine(host: str | None) -> bool:
    """A Host header that names this machine: `localhost` or a loopback address (also a bare IPv6 one), any port.
    A hostile page whose own name was re-pointed at 127.0.0.1 (DNS rebinding) still sends its own name here, and
    Streamlit lets in any page whose Origin matches its Host. None (no Host, or several) never counts."""
    host = (host or "").strip().lower()
    match = _HOST.fullmatch(host)  # a bare IPv6 address ("::1") does not match: its colons are not a port
    name = (match["v6"] or match["name"]) if match else host
    ip = _ip(name)
    return name == "localhost" or (ip is not None and ip.is_loopback)


@dataclass(frozen=True)
class Client:
    """A browser session's connection as this server saw it: the socket's peer address (None: unknown), whether
    its request carries a proxy's forwarding header (FORWARDING), its Host header (None: none, or several) and
    its Origin header ("" when absent, None when several)."""

    address: str | None
    forwarded: bool = False
    host: str | None = None
    origin: str | None = ""

    @classmethod
    def of(cls, address: object, headers: Iterable[tuple[str, str]]) -> Client:
        """From the session's peer (anything but a string is unknown) and its request's (name, value) headers."""
        headers = [(str(n).lower(), str(v)) for n, v in headers]
        hosts = [v for n, v in headers if n == "host"]
        origins = [v for n, v in headers if n == "origin"]
        return cls(address if isinstance(address, str) else None,
                   any(n in FORWARDING or n.startswith("x-forwarded-") for n, _ in headers),
                   hosts[0] if len(hosts) == 1 else None,
                   origins[0] if len(origins) == 1 else "" if not origins else None)

    @property
    def same_origin(self) -> bool:
        """The page that opened the connection is this app's own: its Origin names the Host it asked (browsers
        always send an Origin; a script on this machine that sends none already has the machine). Streamlit also
        lets in pages on this machine's other ports (a dev server, a downloaded HTML file served locally), and any
        page when CORS is off: those are someone else's code."""
        if self.origin == "":
            return True
        return self.origin is not None and self.host is not None \
            and urlsplit(self.origin).netloc.lower() == self.host.strip().lower()

    @property
    def local(self) -> bool:
        """A browser on this machine: a loopback peer with no forwarding header that asked for this machine by
        name (`localhost`, 127.0.0.1, [::1]) from the app's own page (`same_origin`). A proxy on this machine
        connects from loopback for every visitor, so a forwarding header means someone else; an unknown peer
        never counts."""
        ip = _ip(self.address)
        return ip is not None and ip.is_loopback and not self.forwarded and names_this_machine(self.host) \
            and self.same_origin


@dataclass(frozen=True)
class Owner:
    """Proof that the caller is the owner: the owner-only functions of fer (runs.start, promote, refresh, ...)
    take one and refuse anything else. Pages get one only from `session_owner`; the CLIs, run by whoever owns
    the machine, make their own."""

    how: str  # "local", "password", "login" or "cli"


def require(owner: Owner | None) -> None:
    """PermissionError unless `owner` is an Owner: the last line of defence behind the pages' own checks."""
    if not isinstance(owner, Owner):
        raise PermissionError("Only the app's owner can do this.")


def load_config(secrets: Mapping) -> AccessConfig | None:
    """The [access] configuration; None when there are no secrets at all or no such section."""
    try:
        return AccessConfig.from_secrets(secrets)
    except Exception:  # noqa: BLE001 (Streamlit raises its own error types when there is no secrets file)
        return None


def account_id(user: Mapping) -> str | None:
    """Who is logged in, from `st.user`: their e-mail when the identity provider says it is verified, else the
    provider's stable subject id as "sub:<id>" (an unverified address can be anybody's); None when nobody is
    logged in or login is not set up."""
    try:
        if not user.get("is_logged_in"):
            return None
        if user.get("email") and user.get("email_verified") is True:
            return str(user.get("email"))
        return f"sub:{user.get('sub')}" if user.get("sub") else None
    except Exception:  # noqa: BLE001 (st.user raises when no [auth] section exists)
        return None


def session_owner(state: Mapping, config: AccessConfig | None, email: str | None, client: Client,
                  is_hosted: bool | None = None) -> Owner | None:
    """The Owner of a browser session, or None for a visitor.

    `state` is the session's state (the password gate writes OWNER_KEY there), `email` the logged-in account
    (st.user), `client` the session's connection, `is_hosted` defaults to `hosted()`. Nothing a browser sends
    beyond a password or a login makes an owner (a forwarding header can only make a visitor).
    """
    if state.get(OWNER_KEY) == "password" and config and config.owner_password:
        return Owner("password")
    if is_owner_login(config, email):
        return Owner("login")
    if default_role(config, hosted() if is_hosted is None else is_hosted, client) == OWNER:
        return Owner("local")
    return None


def default_role(config: AccessConfig | None, is_hosted: bool, client: Client) -> str:
    """The role of a browser session before it proves anything: the owner only for a browser on the machine
    that runs an unconfigured, unhosted app (Streamlit listens on every interface: the network may reach it)."""
    return OWNER if config is None and own_machine(is_hosted, client) else VISITOR


def own_machine(is_hosted: bool, client: Client) -> bool:
    """A browser on the machine that runs an app not hosted publicly (`Client.local`): that machine's person.
    Their anonymous profile is the one on this machine's disk; anyone else's stays in their own browser."""
    return not is_hosted and client.local


def is_owner_login(config: AccessConfig | None, email: str | None) -> bool:
    """A logged-in account (`account_id`: a verified e-mail, or "sub:<id>") listed in `owners`."""
    return bool(config and email and email.strip().lower() in config.owners)


@dataclass
class _Tries:
    failures: int = 0
    lockouts: int = 0
    locked_until: float = 0.0


SERVER = "*"  # the key that counts every wrong password on this server


class PasswordGate:
    """Wrong owner passwords, counted for the whole server (one gate per process, `GATE`, shared by every
    browser session, so a new session or connection gets no new tries) and per client address where known.
    MAX_TRIES from one address, or SERVER_TRIES from anywhere, lock out that address (or everybody) for
    LOCKOUT_S, doubling with each further lockout up to a day; the right password clears its address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # NOTE: every session's script thread checks passwords here
        self._tries: dict[str, _Tries] = {}

    def locked_for(self, client: str | None = None, now: float | None = None) -> float:
        """Seconds this client must still wait (0 when it may try)."""
        now = time.time() if now is None else now
        with self._lock:
            return max([0.0] + [self._tries[k].locked_until - now for k in self._keys(client) if k in self._tries])

    def check(self, config: AccessConfig | None, attempt: str, client: str | None = None,
              now: float | None = None) -> bool:
        """True for the right password. Constant-time; refuses every try while locked out."""
        now = time.time() if now is None else now
        if self.locked_for(client, now) or not (config and config.owner_password):
            return False
        ok = hmac.compare_digest(hashlib.sha256(attempt.encode()).digest(),
                                 hashlib.sha256(config.owner_password.encode()).digest())
        with self._lock:
            if ok:
                for key in self._keys(client)[1:]:
                    self._tries.pop(key, None)
                return True
            if len(self._tries) > MAX_CLIENTS:  # addresses are cheap: forget those not locked out now
                self._tries = {k: t for k, t in self._tries.items() if k == SERVER or t.locked_until > now}
            for key in self._keys(client):
                t = self._tries.setdefault(key, _Tries())
                if now - t.locked_until > MAX_LOCKOUT_S:
                    t.lockouts = 0  # a quiet day forgives
                t.failures += 1
                if t.failures >= (SERVER_TRIES if key == SERVER else MAX_TRIES):
                    t.failures, t.locked_until = 0, now + min(LOCKOUT_S * 2 ** t.lockouts, MAX_LOCKOUT_S)
                    t.lockouts += 1
        return False

    @staticmethod
    def _keys(client: str | None) -> list[str]:
        key = client_key(client)
        return [SERVER] + ([f"ip:{key}"] if key else [])


def client_key(address: str | None) -> str | None:
    """What per-address limits count a client address as (`st.context.ip_address`, the socket's peer;
    .streamlit/DEPLOY.md says when a proxy's X-Forwarded-For replaces it): IPv4 as is, also when IPv6-mapped;
    IPv6 by its /64 (one host or household is given a whole /64); None for none, a loopback address (this
    machine, or a proxy on it that forwards nothing: every visitor would share it) and anything unreadable."""
    ip = _ip(address)
    if ip is None or ip.is_loopback or ip.is_unspecified:
        return None
    return str(ip) if ip.version == 4 else str(ipaddress.ip_network(f"{ip}/64", strict=False))


GATE = PasswordGate()


def server_path(owner: Owner, text: str, config: AccessConfig | None) -> Path:
    """A dataset path typed by the owner: anywhere on their own machine (no [access] section), else confined
    to the folders listed under `server_paths` (none listed: the option is off).

    Refused with one sentence: anything outside those folders (after resolving links), system folders,
    and anything that is neither a regular file nor a folder (FIFOs, devices, sockets).
    """
    require(owner)
    if config is not None and not config.server_paths:
        raise ValueError("Server paths are off: list the allowed folders under [access] server_paths.")
    path = Path(text).expanduser().resolve()
    if any(path == f or f in path.parents for f in FORBIDDEN):
        raise ValueError(f"{text}: system folders cannot be read as datasets.")
    if config is not None and not any(path == r or r in path.parents for r in config.server_paths):
        raise ValueError(f"{text}: not inside a folder listed under [access] server_paths.")
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ValueError(f"{text}: no such file or folder.") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ValueError(f"{text}: not a regular file or folder.")
    return path
