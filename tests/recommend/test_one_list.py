"""One list everywhere: the page, `python -m fer.movies recommend` and `python -m fer.predict` rank with the same
ranker, mapping and profile (a downloaded profile is only read), and a bad profile path is one sentence."""

import json
import subprocess
import sys

import cv2
import pytest

from fer.emotions import EMOTIONS
from fer.genres import build_mapping
from fer.predict import main as predict_main
from fer.profiles.document import parse
from fer.profiles.store import Profile, default_path
from fer.recommend.catalogue import load_catalogue
from fer.recommend.person import as_arguments, filter_start
from fer.recommend.ranker import recommend, steady
from tests.conftest import ROOT
from tests.scenes import astronaut_frame
from ui.film_list import LISTED  # the page's count

SEVEN, MEMENTO = "tt0114369", "tt0209144"  # two thrillers (and mysteries), liked in a happy mood
DOC = {"format": "mood-to-movie/profile", "version": 1, "exported": "2026-12-07T10:00:00+00:00",
       "marks": [{"tconst": SEVEN, "seen": True, "rating": 1, "updated": "2026-12-07T09:00:00+00:00"},
                 {"tconst": MEMENTO, "seen": True, "rating": 1, "updated": "2026-12-07T09:00:01+00:00"},
                 {"tconst": "tt0118799", "seen": True, "rating": 0, "updated": "2026-12-07T09:00:02+00:00"}],
       "mood_marks": [{"emotion": "happy", "tconst": SEVEN, "rating": 1, "updated": "2026-12-07T09:00:00+00:00"},
                      {"emotion": "happy", "tconst": MEMENTO, "rating": 1, "updated": "2026-12-07T09:00:01+00:00"}],
       "settings": {"mapping": {"preset": "paper", "genres": {**build_mapping("paper"), "happy": "Comedy"}},
                    "filters": {"mix": False, "learnt_genres": False, "hide_seen": True, "years": [1960, 2020],
                                "min_rating": 6.0}},
       "answers": {}}


@pytest.fixture(scope="module")
def movies():
    return load_catalogue()[0]


def _urls(stdout: str) -> list[str]:
    return [line.split()[0] for line in stdout.splitlines() if line.strip().startswith("https://www.imdb")]


def _page_list(movies, probs: dict[str, float], text: str):
    """What the page lists for this reading and a profile holding `text` (ui/film_list.py's `recommendations`:
    the mapping and filters it builds from the saved ones, its ranking of 2 x LISTED, the first LISTED shown)."""
    doc = parse(text)
    profile = Profile(None)
    profile.restore(doc, replace=True)
    saved = doc["settings"]
    mapping = build_mapping(saved["mapping"]["preset"], saved["mapping"]["genres"])
    filters = as_arguments(filter_start(saved["filters"], movies), movies)  # what list_filters starts from
    assert filters["learnt_genres"] is False and filters["years"] == (1960, 2020)
    fresh = recommend(probs, mapping, movies, profile, 2 * LISTED, **filters)
    return steady(None, fresh, profile, filters["hide_seen"], LISTED)


def test_the_page_and_both_commands_list_the_same_50_films(tmp_path, movies, capsys):
    text = json.dumps(DOC)
    path = tmp_path / "my_export.json"
    path.write_text(text)
    frame, _ = astronaut_frame()  # read as happy
    cv2.imwrite(str(tmp_path / "me.png"), frame)
    assert predict_main([str(tmp_path / "me.png"), "--json", "--top", str(LISTED), "--profile", str(path)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["mood"] == "happy" and result["genre"] == "Comedy" and result["mood_source"]
    page = _page_list(movies, {e: float(e == "happy") for e in EMOTIONS}, text)
    cli = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--emotion", "happy", "--profile",
                          str(path), "-n", str(LISTED)], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert cli.returncode == 0, cli.stderr
    assert len(page) == LISTED == len(result["movies"])
    assert [m["url"] for m in result["movies"]] == page["url"].tolist() == _urls(cli.stdout)
    assert page["genres"].str.contains("Comedy").iloc[0] and (page["year"].between(1960, 2020)).all()
    assert not {SEVEN, MEMENTO, "tt0118799"} & set(page["tconst"])  # seen films hidden, as saved
    assert path.read_text() == text and sorted(p.name for p in tmp_path.iterdir()) == ["me.png", "my_export.json"]


def test_a_profile_file_is_read_without_changing_it(tmp_path, movies):
    saved = Profile(tmp_path / "profile.db")
    saved.restore(parse(json.dumps(DOC)))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    out = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--emotion", "happy", "--profile",
                          str(tmp_path / "profile.db"), "-n", "5"], cwd=ROOT, capture_output=True, text=True,
                         timeout=180)
    assert out.returncode == 0, out.stderr
    assert "Comedy for a happy mood" in out.stdout  # the saved mapping, not the preset's Thriller
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    saved.close()


@pytest.mark.parametrize("name", ["missing.json", "garbage.json"])
def test_a_missing_or_unreadable_profile_is_one_sentence_and_a_non_zero_exit(tmp_path, name, capsys):
    (tmp_path / "garbage.json").write_text("{not json")
    path = tmp_path / name
    out = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--emotion", "sad", "--profile",
                          str(path), "-n", "5"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and str(path) in out.stderr
    assert predict_main([str(tmp_path / "me.png"), "--profile", str(path)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.json"]  # nothing moved aside or created


def test_the_local_profile_brings_its_saved_mapping(movies):
    local = Profile(default_path())  # FER_PROFILE_DIR: a folder of this test session (tests/conftest.py)
    local.restore(parse(json.dumps(DOC)), replace=True)
    local.close()
    out = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--emotion", "happy", "--profile", "local",
                          "-n", "5"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    first = out.stdout.split("\n     ")[1]
    assert first.startswith("Comedy for a happy mood") and "Thriller for a happy mood" not in out.stdout
