"""Logged-in people's profiles in one PostgreSQL database, shared by every replica of the app.

    PgProfile("postgresql://user:pass@host/db", "sub:1234")   # one account's rows in the shared tables

Same methods, same statements and same JSON document as the SQLite profile (fer/profiles/store.py): every table
gains an `account` column (a hash of the account id, never the address itself), the schema has its own
version table and migrations, applied under an advisory lock so replicas that start together migrate once.
Every write is one transaction that returns only after COMMIT: a mark the page shows was stored. A database
that cannot be reached costs one sentence (ProfileError) and changes nothing. Each read or transaction borrows
one connection from the process's bounded pool (Connections), so many logged-in people share a few
connections. Needs `psycopg` (requirements.txt), imported only when a database URL is configured.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from fer.profiles.store import RETRIES, Profile, ProfileBusy, ProfileError

# Each migration takes the schema from version i to i + 1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE marks (account TEXT NOT NULL, tconst TEXT NOT NULL, seen INTEGER NOT NULL DEFAULT 0,
                        rating INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)), updated TEXT NOT NULL,
                        PRIMARY KEY (account, tconst));
    CREATE TABLE settings (account TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (account, key));
    CREATE TABLE answers (account TEXT NOT NULL, pair TEXT NOT NULL, chosen TEXT NOT NULL, n INTEGER NOT NULL,
                          PRIMARY KEY (account, pair, chosen));
    CREATE TABLE mood_marks (account TEXT NOT NULL, emotion TEXT NOT NULL, tconst TEXT NOT NULL,
                             rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), updated TEXT NOT NULL,
                             PRIMARY KEY (account, emotion, tconst));
    """,
]
MIGRATION_LOCK = 7_246_151  # pg_advisory_xact_lock key: one migrating replica at a time
UNREACHABLE = "Your profile's database cannot be reached right now; nothing was changed, try again in a moment."
PAUSE_S = 5.0  # after the database was found down, every session's calls fail at once for this long
POOL_SIZE = 4  # connections per app process, lent to every logged-in session in turn (hosted databases allow few)
OPTIONS = "-c statement_timeout=5000"  # a stuck database costs a statement 5 s, not a page forever
BUSY = "Your profile's database is busy right now; nothing was changed, try again in a moment."


def account_key(account: str) -> str:
    """The account's rows are keyed by a hash: the database never holds the address or provider id itself."""
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


def _migrate(db) -> None:
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT version FROM schema_version").fetchone()
        version = row[0] if row else 0
        if version > len(MIGRATIONS):
            raise ProfileError(f"The profile database's schema ({version}) is newer than this app; update it.")
        for sql in MIGRATIONS[version:]:
            for statement in filter(str.strip, sql.split(";")):
                db.execute(statement)
        db.execute("DELETE FROM schema_version")
        db.execute("INSERT INTO schema_version VALUES (%s)", (len(MIGRATIONS),))


class Connections:
    """At most POOL_SIZE open connections to one database, each lent to one thread at a time, shared by every
    session of this process (one connection per logged-in session would run a hosted database out of them).
    A connection is opened when none is idle, so a database that comes back is reached by the very next call;
    one that failed is closed with every idle one (after a restart they are all broken). Once calls have failed
    through every retry, the pool refuses at once for PAUSE_S (`down_until`): every session, not each in turn, is
    spared the waits of a database that is down."""

    def __init__(self, url: str, connect_timeout: float):
        self.url, self.connect_timeout = url, connect_timeout
        self._slots = threading.BoundedSemaphore(POOL_SIZE)
        self._idle: list = []
        self._lock = threading.Lock()  # NOTE: guards _idle; a connection itself is only ever held by one thread
        self._migrated = False  # migrating twice is safe (advisory lock, version check), so no lock for this
        self.down_until = 0.0  # time.monotonic() until which the database counts as down (a float: no lock needed)

    @contextmanager
    def connection(self) -> Iterator:
        import psycopg

        if not self._slots.acquire(timeout=self.connect_timeout):
            raise ProfileBusy(BUSY)
        db = None
        try:
            with self._lock:
                db = self._idle.pop() if self._idle else None
            db = db or self._open()
            yield db
        except psycopg.OperationalError:
            self.close_idle()
            raise
        finally:
            if db is not None:
                if db.closed or db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    db.close()
                else:
                    with self._lock:
                        self._idle.append(db)
            self._slots.release()

    def _open(self):
        import psycopg

        db = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout, options=OPTIONS)
        try:
            if not self._migrated:
                _migrate(db)
                self._migrated = True
        except BaseException:
            db.close()
            raise
        return db

    def close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()


_POOLS: dict[str, Connections] = {}  # database URL -> its connections, one pool per process
_POOLS_LOCK = threading.Lock()


def connections(url: str, connect_timeout: float) -> Connections:
    """This process's pool for the database at `url` (every session of the server uses the same one; the first
    call's timeout is the pool's)."""
    with _POOLS_LOCK:
        return _POOLS.setdefault(url, Connections(url, connect_timeout))


class PgProfile(Profile):
    SCOPE = {"k": "account, ", "v": "?, ", "w": "account = ? AND "}

    def __init__(self, url: str, account: str, connect_timeout: float = 3.0):
        try:
            import psycopg  # noqa: F401 (checked here, so a deploy without it says so once, at login)
        except ImportError:
            raise ProfileError("The profile database needs the psycopg package (pip install -r requirements.txt)."
                               ) from None
        self.path = None
        self.KEY = (account_key(account),)
        self.notice: str | None = None
        self.revision = 0
        self._lock = threading.Lock()  # NOTE: guards `revision`; connections are the process's (Connections)
        self._db = None  # Profile's own connection: a PgProfile borrows one per call instead
        self._pool = connections(url, connect_timeout)

    def _scoped(self, sql: str, args: tuple) -> tuple[str, tuple]:
        sql, args = super()._scoped(sql, args)
        return sql.replace("?", "%s"), args

    def _retry(self, work: Callable[[object], object]):
        """Runs `work` on a borrowed connection; a lost connection is opened again and the work retried (writes
        are upserts, safe to repeat), then one sentence."""
        import psycopg

        if time.monotonic() < self._pool.down_until:
            raise ProfileBusy(UNREACHABLE)
        for attempt in range(RETRIES):
            try:
                with self._pool.connection() as db:
                    return work(db)
            except psycopg.OperationalError:
                if attempt == RETRIES - 1:
                    self._pool.down_until = time.monotonic() + PAUSE_S
                    raise ProfileBusy(UNREACHABLE) from None
                time.sleep(0.1 * 2 ** attempt)
            except psycopg.Error as e:
                raise ProfileError(f"Your profile could not be read or saved ({type(e).__name__}); nothing was "
                                   "changed.") from None

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        def run(db):
            with db.transaction():
                for sql, args in statements:
                    db.execute(*self._scoped(sql, args))
            with self._lock:
                self.revision += 1
        self._retry(run)

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        return self._retry(lambda db: db.execute(*self._scoped(sql, args)).fetchall())
