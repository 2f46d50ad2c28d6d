"""Logged-in people's profiles in one PostgreSQL database, shared by every replica of the app.

    PgProfile("postgresql://user:pass@host/db", "sub:1234")   # one account's rows in the shared tables

Same methods, same statements and same JSON document as the SQLite profile (fer/profile.py): every table
gains an `account` column (a hash of the account id, never the address itself), the schema has its own
version table and migrations, applied under an advisory lock so replicas that start together migrate once.
Every write is one transaction that returns only after COMMIT: a mark the page shows was stored. A database
that cannot be reached costs one sentence (ProfileError) and changes nothing; the connection is opened again
on the next call. Needs `psycopg` (requirements.txt), imported only when a database URL is configured.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from fer.profile import RETRIES, Profile, ProfileBusy, ProfileError

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
PAUSE_S = 5.0  # after the database was found down, calls fail at once for this long (a page run makes several)


def account_key(account: str) -> str:
    """The account's rows are keyed by a hash: the database never holds the address or provider id itself."""
    return hashlib.sha256(account.strip().lower().encode()).hexdigest()[:32]


class PgProfile(Profile):
    SCOPE = {"k": "account, ", "v": "?, ", "w": "account = ? AND "}

    def __init__(self, url: str, account: str, connect_timeout: float = 3.0):
        try:
            import psycopg  # noqa: F401 (checked here, so a deploy without it says so once, at login)
        except ImportError:
            raise ProfileError("The profile database needs the psycopg package (pip install -r requirements.txt)."
                               ) from None
        self.path = None
        self.url, self.connect_timeout = url, connect_timeout
        self.KEY = (account_key(account),)
        self.notice: str | None = None
        self.revision = 0
        self._lock = threading.Lock()  # NOTE: one connection, shared by the session's threads
        self._db = None  # opened by the first call: an unreachable database costs that call one sentence
        self._down_until = 0.0

    def _connection(self, create: bool = True):
        """The open connection (reads and writes both need one; `create` is the SQLite file's concern)."""
        if self._db is None or self._db.closed:
            import psycopg

            self._db = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout,
                                       options="-c statement_timeout=5000")  # a stuck database costs 5 s
            self._migrate(self._db)
        return self._db

    def _migrate(self, db) -> None:
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

    def _scoped(self, sql: str, args: tuple) -> tuple[str, tuple]:
        sql, args = super()._scoped(sql, args)
        return sql.replace("?", "%s"), args

    def _retry(self, work: Callable[[], object]):
        """Runs `work`; a lost connection is opened again and the work retried (writes are upserts, safe to
        repeat), then one sentence."""
        import psycopg

        if time.monotonic() < self._down_until:
            raise ProfileBusy(UNREACHABLE)
        for attempt in range(RETRIES):
            try:
                return work()
            except psycopg.OperationalError:
                with self._lock:
                    if self._db is not None:
                        self._db.close()
                    self._db = None
                if attempt == RETRIES - 1:
                    self._down_until = time.monotonic() + PAUSE_S
                    raise ProfileBusy(UNREACHABLE) from None
                time.sleep(0.1 * 2 ** attempt)
            except psycopg.Error as e:
                raise ProfileError(f"Your profile could not be read or saved ({type(e).__name__}); nothing was "
                                   "changed.") from None

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        def run():
            with self._lock:
                db = self._connection()
                with db.transaction():
                    for sql, args in statements:
                        db.execute(*self._scoped(sql, args))
                self.revision += 1
        self._retry(run)

