"""Logged-in profiles in PostgreSQL (fer/profiles/postgres.py), against a real throw-away server started here:
replicas see each other's marks, accounts stay apart, 8 processes marking at once lose nothing, and a
database that goes away costs one sentence and no acknowledged mark."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fer.profiles import open_profile
from fer.profiles.document import dumps, parse
from fer.profiles.postgres import POOL_SIZE, PgProfile, account_key
from fer.profiles.store import ProfileError
from tests.conftest import ROOT, free_port

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(not BIN and not os.environ.get("CI"),
                                reason="needs PostgreSQL (bash tests/run.sh installs it)")


class Cluster:
    """A throw-away PostgreSQL server on a Unix socket in a temp folder (run as `postgres` when we are root:
    initdb refuses root)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fer-pg-"))
        self.data, self.port = self.dir / "data", free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.dir, "postgres")
        self._pg("initdb", "-D", str(self.data), "-A", "trust", "-U", "fer", "--no-sync", "-E", "UTF8")
        self.start()

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run([*self.as_user, f"{BIN[-1]}/{tool}", *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-w", "-l", str(self.dir / "log"), "-o",
                 f"-k {self.dir} -p {self.port} -c listen_addresses='' -c fsync=off", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://fer@/{db}?host={self.dir}&port={self.port}"

    def fresh_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name}")
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    yield c
    c.stop()
    shutil.rmtree(c.dir, ignore_errors=True)


@pytest.fixture
def url(cluster, request):
    return cluster.fresh_database("t_" + request.node.name.split("[")[0][-40:].lower())


def test_two_replicas_see_one_accounts_marks_and_accounts_stay_apart(url):
    one, other = PgProfile(url, "ana@example.org"), PgProfile(url, "ana@example.org")  # two app processes
    one.mark_seen("tt0111161")
    one.rate("tt0068646", 1, "sad")
    one.set("filters", {"mix": True})
    one.count_answer("sad or angry", "sad")
    assert other.seen() == {"tt0111161"} and other.ratings() == {"tt0068646": 1}
    assert other.mood_ratings() == {"sad": {"tt0068646": 1}} and other.get("filters") == {"mix": True}
    assert other.answers() == {"sad or angry": {"sad": 1}}
    stranger = PgProfile(url, "bo@example.org")
    assert stranger.export()["marks"] == [] and stranger.get("filters") is None
    stranger.restore(parse(dumps(one.export())))  # an import into another account copies, never links
    stranger.delete_all()
    assert other.seen() == {"tt0111161"} and stranger.seen() == set()


def test_my_marks_are_one_accounts_with_their_moods(url):
    """PgProfile.marks is the SQLite profile's: each marked film once with its thumb's mood, this account's only."""
    ana, bo = PgProfile(url, "ana@example.org"), PgProfile(url, "bo@example.org")
    ana.mark_seen("tt0111161")
    ana.rate("tt0068646", 1, "sad")
    ana.rate("tt0071562", -1)
    bo.rate("tt0110912", 1, "happy")
    assert {m["tconst"]: (m["seen"], m["rating"], m["mood"]) for m in ana.marks()} == {
        "tt0111161": (True, 0, None), "tt0068646": (False, 1, "sad"), "tt0071562": (False, -1, None)}
    ana.rate("tt0068646", 0)  # undone in one click
    assert [m["tconst"] for m in bo.marks()] == ["tt0110912"] and len(ana.marks()) == 2

def test_the_database_holds_no_address_and_records_its_schema_version(url):
    import psycopg

    PgProfile(url, "ana@example.org").mark_seen("tt0111161")
    with psycopg.connect(url) as db:
        assert db.execute("SELECT account FROM marks").fetchall() == [(account_key("ana@example.org"),)]
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    PgProfile(url, "ANA@example.org ").mark_seen("tt0068646")  # the same account, written the same way
    assert PgProfile(url, "ana@example.org").seen() == {"tt0111161", "tt0068646"}


def test_open_profile_uses_the_database_for_accounts_only(url, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path))
    account, kind = open_profile("ana@example.org", True, url)
    assert isinstance(account, PgProfile) and "database" in kind
    visitor, _ = open_profile(None, True, url)
    assert not isinstance(visitor, PgProfile) and visitor.path is None  # a visitor's stays in their browser


def test_a_deploy_without_psycopg_says_so_in_one_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(ProfileError, match="needs the psycopg package"):
        PgProfile("postgresql://nowhere/db", "ana@example.org")


def test_many_logged_in_sessions_share_a_few_connections(cluster, url):
    import threading

    import psycopg

    name = url.split("@/")[1].split("?")[0]  # the test database's name
    done, most = threading.Event(), [0]

    def watch():  # the server's own count of connections to this database, while everyone marks
        with psycopg.connect(cluster.url(), autocommit=True) as db:
            while not done.is_set():
                n = db.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (name,)).fetchone()[0]
                most[0] = max(most[0], n)

    def visit(i: int) -> None:  # one browser session: its own profile object, as the app makes per session
        p = PgProfile(url, f"person{i}@example.org")
        for k in range(10):
            p.rate(f"tt{i:03d}{k:04d}", 1, "happy")
            assert len(p.ratings()) == k + 1

    watcher = threading.Thread(target=watch)
    watcher.start()
    people = [threading.Thread(target=visit, args=(i,)) for i in range(40)]
    try:
        for t in people:
            t.start()
        for t in people:
            t.join(timeout=120)
    finally:
        done.set()
        watcher.join()
    assert 1 <= most[0] <= POOL_SIZE  # one connection per session would have been 40
    assert all(len(PgProfile(url, f"person{i}@example.org").ratings()) == 10 for i in range(40))


MARKER = """
import sys
from fer.profiles.postgres import PgProfile
url, worker = sys.argv[1], int(sys.argv[2])
p = PgProfile(url, "crowd@example.org")
for i in range(100):
    p.rate(f"tt{worker:02d}{i:05d}", 1, "happy")
    p.count_answer("sad or angry", "sad")
"""


def test_eight_processes_marking_at_once_lose_nothing(url):
    workers = [subprocess.Popen([sys.executable, "-c", MARKER, url, str(w)], cwd=ROOT, stderr=subprocess.PIPE)
               for w in range(8)]
    for w in workers:
        assert w.wait(timeout=300) == 0, w.stderr.read().decode()[-2000:]
    p = PgProfile(url, "crowd@example.org")
    assert len(p.ratings()) == 800 and len(p.mood_ratings()["happy"]) == 800
    assert p.answers() == {"sad or angry": {"sad": 800}}


def test_a_database_that_goes_away_costs_one_sentence_and_no_acknowledged_mark(cluster, url, monkeypatch):
    import time

    from fer.profiles import postgres as profile_pg

    monkeypatch.setattr(profile_pg, "PAUSE_S", 1.0)
    p = PgProfile(url, "ana@example.org", connect_timeout=1)
    p.mark_seen("tt0111161")  # acknowledged: returned after COMMIT
    cluster.stop()
    try:
        with pytest.raises(ProfileError) as e:
            p.rate("tt0068646", 1)
        assert str(e.value) == "Your profile's database cannot be reached right now; nothing was changed, try " \
                               "again in a moment."
        start = time.monotonic()
        with pytest.raises(ProfileError):
            p.seen()  # a page run reads several times: after one failure the others fail at once
        assert time.monotonic() - start < 0.1
        start = time.monotonic()
        with pytest.raises(ProfileError):
            PgProfile(url, "bo@example.org").seen()  # another session meanwhile: spared the waits as well
        assert time.monotonic() - start < 0.1
    finally:
        cluster.start()
    while PgProfile(url, "ana@example.org")._pool.down_until > time.monotonic():  # waits on the pause's own end
        time.sleep(0.05)
    again = PgProfile(url, "ana@example.org")  # the next page run (after the pause)
    assert again.seen() == {"tt0111161"} and again.ratings() == {}  # nothing lost, nothing half-written
    again.rate("tt0068646", 1)
    assert PgProfile(url, "ana@example.org").ratings() == {"tt0068646": 1}
