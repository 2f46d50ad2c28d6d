"""The person's profile: one SQLite file that survives restarts, many writers, damage and locks."""

import json
import sqlite3
import subprocess
import sys
import threading

import pytest

from fer.profiles import open_profile
from fer.profiles import store as profile_module
from fer.profiles.store import MIGRATIONS, Profile, ProfileBusy, ProfileError, account_path, default_path
from tests.conftest import ROOT


def _in_new_process(code: str, *args: str) -> str:
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_marks_survive_a_restart(tmp_path):
    path = tmp_path / "profile.db"
    _in_new_process("import sys; from fer.profiles.store import Profile; p = Profile(sys.argv[1]); "
                    "p.mark_seen('tt0111161'); p.rate('tt0068646', 1); p.rate('tt0071562', -1); "
                    "p.set('filters', {'min_rating': 7.5}); p.count_answer('sad or angry', 'sad')", str(path))
    p = Profile(path)
    assert p.seen() == {"tt0111161"}
    assert p.ratings() == {"tt0068646": 1, "tt0071562": -1}
    assert p.get("filters") == {"min_rating": 7.5} and p.answers() == {"sad or angry": {"sad": 1}}
    p.unmark_seen("tt0111161")
    p.rate("tt0068646", 0)
    assert p.seen() == set() and p.ratings() == {"tt0071562": -1}


def test_the_database_is_wal_with_a_schema_version(tmp_path):
    p = Profile(tmp_path / "profile.db")
    p.mark_seen("tt0000001")
    db = sqlite3.connect(tmp_path / "profile.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_a_rating_is_up_down_or_nothing(tmp_path):
    with pytest.raises(ValueError, match="rating is"):
        Profile(tmp_path / "p.db").rate("tt0000001", 5)


def test_eight_processes_writing_100_marks_each_lose_none(tmp_path):
    path = tmp_path / "profile.db"
    code = ("import sys; from fer.profiles.store import Profile; p = Profile(sys.argv[1]); w = int(sys.argv[2])\n"
            "for i in range(100):\n"
            "    p.mark_seen(f'tt{w:02d}{i:05d}') if i % 2 else p.rate(f'tt{w:02d}{i:05d}', 1)")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(path), str(w)], cwd=ROOT, stderr=subprocess.PIPE)
             for w in range(8)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()
    p = Profile(path)
    assert len(p.seen()) == 400 and len(p.ratings()) == 400
    assert len(p.export()["marks"]) == 800


def test_threads_share_one_profile(tmp_path):
    p = Profile(tmp_path / "profile.db")
    threads = [threading.Thread(target=lambda w=w: [p.mark_seen(f"tt{w}{i:04d}") for i in range(50)])
               for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(p.seen()) == 300


@pytest.mark.parametrize("content", [b"this is not a database at all" * 100, "foreign"])
def test_a_corrupt_or_foreign_file_is_moved_aside_and_a_fresh_one_started(tmp_path, content):
    path = tmp_path / "profile.db"
    if content == "foreign":
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE customers (name TEXT)")
        db.commit()
        db.close()
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    p = Profile(path)
    assert p.notice and "could not be read" in p.notice and "new one started" in p.notice
    aside = [f for f in tmp_path.iterdir() if ".damaged-" in f.name]
    assert len(aside) == 1 and aside[0].read_bytes() == before  # kept, never deleted
    p.mark_seen("tt0111161")
    assert Profile(path).seen() == {"tt0111161"}


def test_a_locked_database_is_waited_for(tmp_path):
    path = tmp_path / "profile.db"
    Profile(path).mark_seen("tt0000001")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    threading.Timer(1.0, lambda: blocker.execute("COMMIT")).start()
    p = Profile(path)
    p.mark_seen("tt0000002")  # waits for the lock instead of failing
    assert p.seen() == {"tt0000001", "tt0000002"}


def test_a_lock_that_never_ends_gives_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setattr(profile_module, "RETRIES", 2)
    path = tmp_path / "profile.db"
    p = Profile(path)
    p.mark_seen("tt0000001")
    blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ProfileBusy, match="busy"):
            p.mark_seen("tt0000002")
    finally:
        blocker.execute("ROLLBACK")
    p.mark_seen("tt0000002")
    assert p.seen() == {"tt0000001", "tt0000002"}


def test_delete_my_data_leaves_no_row(tmp_path):
    path = tmp_path / "profile.db"
    p = Profile(path)
    p.mark_seen("tt0111161")
    p.rate("tt0068646", -1)
    p.set("resting", [0.1] * 7)
    p.count_answer("sad or angry", "angry")
    exported = p.export()
    assert json.loads(json.dumps(exported))["settings"]["resting"] == [0.1] * 7
    p.delete_all()
    db = sqlite3.connect(path)
    for table in ("marks", "settings", "answers"):
        assert db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0
    assert Profile(path).export()["marks"] == []


def test_looking_writes_nothing_and_an_anonymous_profile_never_touches_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path / "local"))
    local = Profile(default_path())
    assert local.seen() == set() and local.export()["marks"] == []
    local.delete_all()
    assert not (tmp_path / "local").exists() or not any((tmp_path / "local").iterdir())
    monkeypatch.chdir(tmp_path)
    anonymous, kind = open_profile(None, in_browser=True)
    anonymous.mark_seen("tt0111161")
    anonymous.set("resting", [0.0] * 7)
    assert anonymous.seen() == {"tt0111161"} and "nothing of it is written on the server" in kind
    assert [f for f in tmp_path.rglob("*") if f.is_file()] == []


def test_whose_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_PROFILE_DIR", str(tmp_path))
    local, kind = open_profile(None, in_browser=False)
    assert local.path == tmp_path / "profile.db" and str(local.path) in kind
    mine, kind = open_profile("Ada@Example.org", in_browser=True)
    assert mine.path == account_path("ada@example.org") and "your account" in kind
    assert "ada" not in mine.path.name.lower()  # the address itself is not written
    assert open_profile("bob@example.org", in_browser=True)[0].path != mine.path


def test_an_unwritable_place_gives_one_sentence_and_moves_nothing(tmp_path):
    locked_dir = tmp_path / "ro"
    locked_dir.mkdir()
    (locked_dir / "not-a-folder").write_text("x")
    p = Profile(locked_dir / "not-a-folder" / "profile.db")  # its folder cannot be created
    assert p.seen() == set()
    with pytest.raises(ProfileError, match="could not be read or saved"):
        p.mark_seen("tt0111161")
    assert (locked_dir / "not-a-folder").read_text() == "x"


def test_a_profile_from_a_newer_app_is_left_alone(tmp_path):
    path = tmp_path / "profile.db"
    Profile(path).mark_seen("tt0111161")
    db = sqlite3.connect(path)
    db.execute("UPDATE schema_version SET version = 99")
    db.commit()
    db.close()
    with pytest.raises(ProfileError, match="newer than this app"):
        Profile(path)
    assert sorted(f.name for f in tmp_path.iterdir() if "damaged" in f.name) == []


def test_my_marks_lists_every_mark_with_its_mood_and_forgets_an_undone_one(tmp_path):
    """"My marks": each marked film once, its thumb's mood with it; a mark taken back leaves the list."""
    p = Profile(tmp_path / "profile.db")
    p.mark_seen("tt0000001")
    p.rate("tt0000002", 1, "happy")
    p.rate("tt0000003", -1)  # marked outside a mood's list (searched in the catalogue)
    p.mark_seen("tt0000004")
    p.rate("tt0000004", 1, "sad")
    p.rate("tt0000005", 1, "angry")
    p.rate("tt0000005", 0)  # undone
    marks = {m["tconst"]: (m["seen"], m["rating"], m["mood"]) for m in p.marks()}
    assert marks == {"tt0000001": (True, 0, None), "tt0000002": (False, 1, "happy"),
                     "tt0000003": (False, -1, None), "tt0000004": (True, 1, "sad")}
    p.unmark_seen("tt0000001")
    assert "tt0000001" not in {m["tconst"] for m in p.marks()}
    assert Profile(None).marks() == [] and Profile(tmp_path / "none.db").marks() == []


def test_the_learnt_genres_switch_travels_with_the_profile_document(tmp_path):
    """The page saves "Add genres learnt from my 👍" with the filters: a download imports again with it, and a
    value that is not a switch is refused like any other filter."""
    from fer.profiles.document import dumps, parse

    p = Profile(tmp_path / "profile.db")
    p.set("filters", {"mix": True, "learnt_genres": False})
    back = Profile(None)
    back.restore(parse(dumps(p.export())))
    assert back.get("filters") == {"mix": True, "learnt_genres": False}
    bad = p.export()
    bad["settings"]["filters"]["learnt_genres"] = "no"
    with pytest.raises(ValueError, match="learnt genres"):
        parse(dumps(bad))
