"""A person's profile: films seen, thumbs up/down, their mapping and filters, their resting-face reading and
their answers to "not sure" — numbers and film ids only, never an image. One SQLite file, no server.

    Profile(path)   # a file: the local user's (per-user data dir) or a logged-in account's
    Profile(None)   # in memory only: an anonymous visitor of a public deploy; nothing touches the disk

fer/profiles/postgres.py is the same profile in a PostgreSQL database shared by replicas (same methods and statements).

WAL mode (readers never block the writer), a schema version table with migrations from the first
version on, every write one transaction, and a busy timeout plus retries when another process holds the
write lock. A file that is not this profile's database (corrupt, foreign) is moved aside, never deleted,
and a fresh one started; `notice` then says so in one sentence. Safe from several threads and processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fer.profiles.document import FORMAT, VERSION

# Each migration takes the schema from version i to i + 1; never edit one that has shipped.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE marks (tconst TEXT PRIMARY KEY, seen INTEGER NOT NULL DEFAULT 0,
                        rating INTEGER NOT NULL DEFAULT 0 CHECK (rating IN (-1, 0, 1)), updated TEXT NOT NULL);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE answers (pair TEXT NOT NULL, chosen TEXT NOT NULL, n INTEGER NOT NULL,
                          PRIMARY KEY (pair, chosen));
    """,
    # The mood a thumb was given in (fer/recommend/preferences.py learns which genres the person accepts in which mood).
    """
    CREATE TABLE mood_marks (emotion TEXT NOT NULL, tconst TEXT NOT NULL,
                             rating INTEGER NOT NULL CHECK (rating IN (-1, 1)), updated TEXT NOT NULL,
                             PRIMARY KEY (emotion, tconst));
    """,
]
TABLES = ("marks", "settings", "answers", "mood_marks")  # what a person owns: exported, deleted
CLEAR = [(f"DELETE FROM {table} WHERE {{w}}1 = 1", ()) for table in TABLES]  # "Delete my data", in one transaction
DAMAGED = ("not a database", "not a profile database", "malformed")  # what is moved aside
RETRIES = 4  # on "database is locked" beyond the busy timeout, with growing pauses


def default_path() -> Path:
    """The local user's profile: FER_PROFILE_DIR, else $XDG_DATA_HOME or ~/.local/share, /mood-to-movie/."""
    base = os.environ.get("FER_PROFILE_DIR") or \
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "mood-to-movie"
    return Path(base) / "profile.db"


def account_path(email: str, folder: Path | None = None) -> Path:
    """One file per logged-in account, named by a hash (the address itself is not written)."""
    folder = folder or default_path().parent / "accounts"
    return folder / f"{hashlib.sha256(email.strip().lower().encode()).hexdigest()[:24]}.db"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


MARKS = ("seen", "up", "down")  # what one film's mark buttons hold; up and down exclude each other


def apply_marks(profile: Profile, tconst: str, before: list[str], now: list[str], mood: str | None = None) -> list[str]:
    """Write what one click changed between the marks shown (`before`) and the marks chosen (`now`); returns the
    marks the film now holds (a new thumb replaces the other). Only a change is written: a replayed or repeated
    widget state writes nothing, and a film nobody clicked gets no row."""
    held = [m for m in MARKS if m in now]
    if "up" in held and "down" in held:
        held.remove("down" if "up" not in before else "up")
    if ("seen" in held) != ("seen" in before):
        profile.mark_seen(tconst) if "seen" in held else profile.unmark_seen(tconst)
    if _thumb(held) != _thumb(before):
        profile.rate(tconst, _thumb(held), mood)
    return held


def _thumb(marks: list[str]) -> int:
    return 1 if "up" in marks else -1 if "down" in marks else 0


class ProfileError(RuntimeError):
    """The profile could not be read or saved; the message is one sentence for the person."""


class ProfileBusy(ProfileError):
    """The database stayed locked by another process through every retry."""


class Profile:
    def __init__(self, path: str | Path | None):
        self.path = None if path is None else Path(path)
        self.notice: str | None = None  # one sentence when a damaged file was moved aside
        self.revision = 0  # writes made through this object (a browser copy is sent again when it moves)
        self._lock = threading.Lock()  # NOTE: one connection, shared by the session's threads
        # A file is created by the first write, not by looking: a visit that marks nothing leaves no trace.
        self._db = self._open() if self.path is None or self.path.exists() else None

    # ---------------------------------------------------------------- storage

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            return self._migrate(sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = None
        try:
            db = self._connect()
            return self._migrate(db)
        except sqlite3.DatabaseError as e:
            if db is not None:
                db.close()
            if "locked" in str(e) or "busy" in str(e):
                raise ProfileBusy("Your profile is busy (another program is writing to it); try again in a "
                                  "moment.") from None
            if not any(k in str(e) for k in DAMAGED):  # e.g. no permission: the file itself may be fine
                raise ProfileError(f"Your profile could not be opened ({e}).") from None
            stamp = f"damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}"
            for extra in ("-wal", "-shm", ""):  # the file and its journal, all kept
                if Path(f"{self.path}{extra}").exists():
                    os.replace(f"{self.path}{extra}", f"{self.path}.{stamp}{extra}")
            self.notice = f"Your profile file could not be read; it was kept as {self.path.name}.{stamp} and a " \
                "new one started."
            return self._migrate(self._connect())

    def _connect(self) -> sqlite3.Connection:
        """Opens the file and checks it is a profile (or empty) before changing anything in it."""
        db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA busy_timeout=2000")
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "schema_version" not in tables:
            db.close()
            raise sqlite3.DatabaseError("not a profile database")
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def _migrate(self, db: sqlite3.Connection) -> sqlite3.Connection:
        self._retry(lambda: self._apply(db))
        return db

    def _apply(self, db: sqlite3.Connection) -> None:
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = db.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > len(MIGRATIONS):
                raise sqlite3.DatabaseError(f"profile schema {version} is newer than this app")
            for sql in MIGRATIONS[version:]:
                for statement in filter(str.strip, sql.split(";")):
                    db.execute(statement)
            db.execute("DELETE FROM schema_version")
            db.execute("INSERT INTO schema_version VALUES (?)", (len(MIGRATIONS),))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _retry(self, work: Callable[[], object]):
        for attempt in range(RETRIES):
            try:
                return work()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise ProfileError(f"Your profile could not be read or saved ({e}); nothing was changed.") \
                        from None
                if attempt == RETRIES - 1:
                    raise ProfileBusy("Your profile is busy (another program is writing to it); nothing was "
                                      "changed, try again in a moment.") from None
                time.sleep(0.05 * 2 ** attempt)
            except OSError as e:  # e.g. its folder cannot be created
                raise ProfileError(f"Your profile could not be read or saved ({e.strerror or e}); nothing was "
                                   "changed.") from None

    def _connection(self, create: bool) -> sqlite3.Connection | None:
        """The open database; opened now if the file exists (another process may have made it) or `create`."""
        if self._db is None and (create or self.path.exists()):
            self._db = self._open()
        return self._db

    # Every statement is written once for both engines: {k} (key columns), {v} (their values) and {w} (a
    # WHERE on them) are empty for a SQLite file (one person per file) and name the account in a shared
    # database (fer/profiles/postgres.py); the key's values come before the statement's own.
    SCOPE = {"k": "", "v": "", "w": ""}
    KEY: tuple = ()

    def _scoped(self, sql: str, args: tuple) -> tuple[str, tuple]:
        keyed = "{v}" in sql or "{w}" in sql
        return sql.format(**self.SCOPE), (*self.KEY, *args) if keyed else args

    def _write(self, statements: list[tuple[str, tuple]]) -> None:
        """Run statements as one transaction (retried while another process holds the lock)."""
        def run():
            with self._lock:
                db = self._connection(create=True)
                db.execute("BEGIN IMMEDIATE")
                try:
                    for sql, args in statements:
                        db.execute(*self._scoped(sql, args))
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:  # some errors (a full disk) end the transaction themselves
                        db.execute("ROLLBACK")
                    raise
                self.revision += 1
        self._retry(run)

    def _read(self, sql: str, args: tuple = ()) -> list[tuple]:
        def run():
            with self._lock:
                db = self._connection(create=False)
                return db.execute(*self._scoped(sql, args)).fetchall() if db is not None else []
        return self._retry(run)

    # ---------------------------------------------------------------- marks

    def mark_seen(self, tconst: str) -> None:
        self._upsert(tconst, "seen", 1)

    def unmark_seen(self, tconst: str) -> None:
        self._upsert(tconst, "seen", 0)

    def rate(self, tconst: str, value: int, mood: str | None = None) -> None:
        """+1 (thumbs up), -1 (thumbs down) or 0 (no opinion); `mood`: the emotion whose list showed the film.
        A film holds one thumb, so only its latest mood is kept."""
        if value not in (-1, 0, 1):
            raise ValueError("a rating is +1, -1 or 0.")
        statements = [self._upsert_sql(tconst, "rating", value),
                      ("DELETE FROM mood_marks WHERE {w}tconst = ?", (tconst,))]
        if mood is not None and value:
            statements.append(("INSERT INTO mood_marks ({k}emotion, tconst, rating, updated) VALUES ({v}?, ?, ?, ?)",
                               (mood, tconst, value, _now())))
        self._write(statements)

    def _upsert(self, tconst: str, column: str, value: int) -> None:
        self._write([self._upsert_sql(tconst, column, value)])

    @staticmethod
    def _upsert_sql(tconst: str, column: str, value: int) -> tuple[str, tuple]:
        return (f"INSERT INTO marks ({{k}}tconst, {column}, updated) VALUES ({{v}}?, ?, ?) ON CONFLICT({{k}}tconst) "
                f"DO UPDATE SET {column} = excluded.{column}, updated = excluded.updated", (tconst, value, _now()))

    def seen(self) -> set[str]:
        return {r[0] for r in self._read("SELECT tconst FROM marks WHERE {w}seen = 1")}

    def ratings(self) -> dict[str, int]:
        return dict(self._read("SELECT tconst, rating FROM marks WHERE {w}rating != 0"))

    def marks(self) -> list[dict]:
        """Every film the person marked (seen, or a thumb), newest first, each with the mood its thumb was given in
        (None: no thumb, or one given outside a mood's list): what "My marks" lists, to review and undo."""
        moods: dict[str, tuple[str, str]] = {}
        for emotion, tconst, updated in self._read("SELECT emotion, tconst, updated FROM mood_marks WHERE {w}1 = 1"):
            if updated >= moods.get(tconst, ("", ""))[1]:
                moods[tconst] = (emotion, updated)
        rows = self._read("SELECT tconst, seen, rating, updated FROM marks WHERE {w}(seen = 1 OR rating != 0) "
                          "ORDER BY updated DESC, tconst")
        return [{"tconst": t, "seen": bool(s), "rating": r, "mood": moods[t][0] if r and t in moods else None,
                 "updated": u} for t, s, r, u in rows]

    def mood_ratings(self) -> dict[str, dict[str, int]]:
        """Emotion -> {film: thumb} for the thumbs given while that emotion's list was shown."""
        out: dict[str, dict[str, int]] = {}
        for emotion, tconst, rating in self._read("SELECT emotion, tconst, rating FROM mood_marks WHERE {w}1 = 1"):
            out.setdefault(emotion, {})[tconst] = rating
        return out

    # ---------------------------------------------------------------- settings and answers

    def set(self, key: str, value) -> None:
        """A setting (mapping, filters, resting-face reading): any JSON value."""
        self._write([self._setting_sql(key, value)])

    @staticmethod
    def _setting_sql(key: str, value) -> tuple[str, tuple]:
        return ("INSERT INTO settings ({k}key, value) VALUES ({v}?, ?) ON CONFLICT({k}key) "
                "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def get(self, key: str, default=None):
        rows = self._read("SELECT value FROM settings WHERE {w}key = ?", (key,))
        return json.loads(rows[0][0]) if rows else default

    def unset(self, key: str) -> None:
        self._write([("DELETE FROM settings WHERE {w}key = ?", (key,))])

    def count_answer(self, pair: str, chosen: str) -> None:
        self._write([self._answer_sql(pair, chosen, 1)])

    @staticmethod
    def _answer_sql(pair: str, chosen: str, n: int) -> tuple[str, tuple]:
        return ("INSERT INTO answers ({k}pair, chosen, n) VALUES ({v}?, ?, ?) ON CONFLICT({k}pair, chosen) "
                "DO UPDATE SET n = answers.n + excluded.n", (pair, chosen, n))

    def answers(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for pair, chosen, n in self._read("SELECT pair, chosen, n FROM answers WHERE {w}1 = 1"):
            out.setdefault(pair, {})[chosen] = n
        return out

    # ---------------------------------------------------------------- the person's rights

    def export(self) -> dict:
        """Everything this profile holds, as JSON-able data ("Download my data")."""
        marks = self._read("SELECT tconst, seen, rating, updated FROM marks WHERE {w}1 = 1 ORDER BY tconst")
        return {"format": FORMAT, "version": VERSION, "exported": datetime.now(UTC).isoformat(timespec="seconds"),
                "marks": [{"tconst": t, "seen": bool(s), "rating": r, "updated": u} for t, s, r, u in marks],
                "settings": {k: json.loads(v) for k, v in self._read("SELECT key, value FROM settings WHERE {w}1 = 1")},
                "answers": self.answers(),
                "mood_marks": [{"emotion": e, "tconst": t, "rating": r, "updated": u} for e, t, r, u in
                               self._read("SELECT emotion, tconst, rating, updated FROM mood_marks "
                                          "WHERE {w}1 = 1 ORDER BY emotion, tconst")]}

    def restore(self, doc: dict | None, replace: bool = False) -> None:
        """Add a document that `fer.profiles.document.parse` passed ("Import my data", a browser's copy), in one
        transaction: a film's marks and mood marks are taken where the document's are newer, its settings
        replace these, its answer counts are added. `replace`: the document becomes the whole profile (None:
        an empty one)."""
        doc = doc or {"marks": [], "mood_marks": [], "settings": {}, "answers": {}}
        held = {} if replace else dict(self._read("SELECT tconst, updated FROM marks WHERE {w}1 = 1"))
        moods = {} if replace else {(e, t): u for e, t, u in
                                    self._read("SELECT emotion, tconst, updated FROM mood_marks WHERE {w}1 = 1")}
        statements = list(CLEAR) if replace else []
        statements += [("INSERT INTO marks ({k}tconst, seen, rating, updated) VALUES ({v}?, ?, ?, ?) "
                        "ON CONFLICT({k}tconst) DO UPDATE SET seen = excluded.seen, rating = excluded.rating, "
                        "updated = excluded.updated", (m["tconst"], int(m["seen"]), m["rating"], m["updated"]))
                       for m in doc["marks"] if m["updated"] > held.get(m["tconst"], "")]
        statements += [("INSERT INTO mood_marks ({k}emotion, tconst, rating, updated) VALUES ({v}?, ?, ?, ?) "
                        "ON CONFLICT({k}emotion, tconst) DO UPDATE SET rating = excluded.rating, "
                        "updated = excluded.updated", (m["emotion"], m["tconst"], m["rating"], m["updated"]))
                       for m in doc["mood_marks"] if m["updated"] > moods.get((m["emotion"], m["tconst"]), "")]
        statements += [self._setting_sql(k, v) for k, v in doc["settings"].items()]
        statements += [self._answer_sql(pair, chosen, n) for pair, counts in doc["answers"].items()
                       for chosen, n in counts.items()]
        if statements:
            self._write(statements)

    def delete_all(self) -> None:
        """"Delete my data": every row of this profile, in one transaction."""
        if self._db is None and self.path is not None and not self.path.exists():
            return  # nothing was ever written
        self._write(CLEAR)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
