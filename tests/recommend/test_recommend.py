"""The personal list: marks change it, the mood mix blends genres, filters hold, the list is varied, and each
film says why it is there and where to watch it."""

import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd
import pytest

from fer.emotions import EMOTIONS
from fer.genres import build_mapping
from fer.profiles.store import Profile
from fer.recommend.arrays import franchise
from fer.recommend.catalogue import load_catalogue
from fer.recommend.ranker import recommend
from tests.conftest import ROOT

MAPPING = build_mapping("match my mood")  # sad -> Drama, happy -> Comedy, angry -> Action, fear -> Thriller


def _only(emotion: str) -> dict[str, float]:
    return {e: float(e == emotion) for e in EMOTIONS}


@pytest.fixture(scope="module")
def movies():
    return load_catalogue()[0]


def _has(top: pd.DataFrame, genre: str) -> pd.Series:
    return top["genres"].str.split(",").apply(lambda gs: genre in gs)


def test_the_default_list_is_the_moods_genre_with_reasons_and_links(movies):
    top = recommend(_only("sad"), MAPPING, movies)
    assert len(top) == 50 and list(top["rank"]) == list(range(1, 51))
    assert _has(top, "Drama").all() and top["tconst"].is_unique
    first = top.iloc[0]
    assert first["reason"].startswith("Drama for a sad mood · ")
    assert f"{first['rating']:.1f}★ from " in first["reason"]
    assert first["url"] == f"https://www.imdb.com/title/{first['tconst']}/"
    watch = urlparse(first["watch_url"])
    assert watch.scheme == "https" and parse_qs(watch.query)["q"] == [first["title"]]


def test_seen_films_leave_the_list_and_a_toggle_brings_them_back(movies):
    profile = Profile(None)
    before = recommend(_only("sad"), MAPPING, movies, profile)
    seen = before["tconst"].iloc[:5].tolist()
    for t in seen:
        profile.mark_seen(t)
    after = recommend(_only("sad"), MAPPING, movies, profile)
    assert len(after) == 50 and not set(seen) & set(after["tconst"])
    shown = recommend(_only("sad"), MAPPING, movies, profile, hide_seen=False)
    assert set(seen) <= set(shown["tconst"]) and shown.set_index("tconst").loc[seen, "seen"].all()


def test_a_thumb_down_hides_the_film_even_when_seen_films_are_shown(movies):
    profile = Profile(None)
    disliked = recommend(_only("happy"), MAPPING, movies, profile)["tconst"].iloc[0]
    profile.rate(disliked, -1)
    assert disliked not in set(recommend(_only("happy"), MAPPING, movies, profile, hide_seen=False)["tconst"])


def test_thumbs_up_on_one_genre_lift_it_in_a_mixed_list(movies):
    probs = {**_only("sad"), "sad": 0.5, "happy": 0.3, "angry": 0.2}
    profile = Profile(None)
    before = recommend(probs, MAPPING, movies, profile, mix=True)
    # The person likes crime films: a dozen thumbs up on crime films outside this list.
    crime = movies[_has(movies, "Crime") & ~movies["tconst"].isin(before["tconst"])]["tconst"].iloc[:12]
    for t in crime:
        profile.rate(t, 1)
    after = recommend(probs, MAPPING, movies, profile, mix=True)
    assert _has(after, "Crime").sum() >= _has(before, "Crime").sum() + 3  # before: a new visitor's list
    assert any("you liked 12 crime films" in r for r in after["reason"])


def test_the_mood_mix_blends_genres_in_proportion_and_the_default_is_one_genre(movies):
    probs = {**_only("sad"), "sad": 0.5, "happy": 0.3, "angry": 0.2}
    one = recommend(probs, MAPPING, movies)
    assert _has(one, "Drama").all()
    mix = recommend(probs, MAPPING, movies, mix=True)
    picked_for = mix["reason"].str.split(" for ").str[0]
    assert picked_for.value_counts().to_dict() == {"Drama": 25, "Comedy": 15, "Action": 10}
    assert (mix["reason"][picked_for == "Comedy"].str.startswith("Comedy for happy (30% of your mood)")).all()
    for genre in ("Drama", "Comedy", "Action"):
        assert _has(mix[picked_for == genre], genre).all()


def test_emotions_below_a_tenth_bring_no_genre(movies):
    probs = {**_only("sad"), "sad": 0.92, "happy": 0.08}
    assert _has(recommend(probs, MAPPING, movies, mix=True), "Drama").all()


def test_filters_hold(movies):
    top = recommend(_only("happy"), MAPPING, movies, years=(1980, 1999), min_rating=7.0, runtime=(80, 110))
    assert len(top) == 50
    assert top["year"].between(1980, 1999).all() and (top["rating"] >= 7.0).all()
    assert top["runtime"].between(80, 110).all()
    assert recommend(_only("happy"), MAPPING, movies, min_rating=9.9).empty


def _franchise_catalogue() -> pd.DataFrame:
    """Twelve top-rated sequels of one franchise in one year, then slightly lower-rated dramas of many years,
    over a catalogue whose ratings span 5-9 like IMDb's."""
    rows = [(f"tt1{i:06d}", f"Saga Part {i + 1}" if i else "Saga", 2001, 8.6 - i * 0.01, 900_000, 120, "Drama")
            for i in range(12)]
    rows += [(f"tt2{i:06d}", f"Film {chr(65 + i % 26)}{i}", 1950 + i, 8.4 - i * 0.01, 300_000, 100, "Drama")
             for i in range(60)]
    rows += [("tt3000000", "Weak", 1990, 5.0, 20_000, 90, "Comedy"), ("tt3000001", "Top", 1990, 9.0, 20_000, 90,
                                                                      "Comedy")]
    df = pd.DataFrame(rows, columns=["tconst", "title", "year", "rating", "votes", "runtime", "genres"])
    df["weighted_rating"] = df["rating"]
    df["year"] = df["year"].astype("Int64")
    df["runtime"] = df["runtime"].astype("Int64")
    return df


def test_the_list_is_varied_no_run_of_one_franchise_or_year():
    df = _franchise_catalogue()
    plain = recommend(_only("sad"), MAPPING, df, n=20, diverse=False)
    assert plain["title"].iloc[:10].map(franchise).nunique() == 1  # what the ranking alone would give
    top = recommend(_only("sad"), MAPPING, df, n=20)
    keys = top["title"].map(franchise).tolist()
    assert max(sum(1 for _ in run) for run in _runs(keys)) <= 2
    assert max(sum(1 for _ in run) for run in _runs(top["year"].tolist())) <= 2
    assert top["title"].iloc[0] == "Saga"  # the best film still leads


def _runs(values: list):
    from itertools import groupby
    return [list(g) for _, g in groupby(values)]


def test_franchise_keys():
    assert franchise("The Godfather Part II") == franchise("The Godfather") == "the godfather"
    assert franchise("Star Wars: Episode V - The Empire Strikes Back") == "star wars"
    assert franchise("Rocky III") == franchise("Rocky") != franchise("Rocky Road")


def test_recommend_cli_with_a_profile(tmp_path, movies):
    profile = Profile(tmp_path / "p.db")
    first = recommend(_only("sad"), MAPPING, movies)["tconst"].iloc[0]
    profile.mark_seen(first)
    out = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--emotion", "sad", "--preset",
                          "match my mood", "--profile", str(tmp_path / "p.db"), "-n", "5"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Drama for a sad mood") == 5 and f"/title/{first}/" not in out.stdout
    assert "justwatch.com" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "fer.movies", "recommend", "--probs", "sad=x"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "emotion=probability" in bad.stderr and "Traceback" not in bad.stderr


def test_the_catalogue_index_follows_the_frame(movies):
    small = movies.iloc[:100].reset_index(drop=True)
    assert set(recommend(_only("sad"), MAPPING, small, n=50)["tconst"]) <= set(small["tconst"])
    assert np.isin(recommend(_only("sad"), MAPPING, movies)["tconst"], movies["tconst"]).all()


def test_marks_keep_the_shown_list_in_place_and_only_hidden_films_leave(movies):
    from fer.recommend.ranker import steady

    profile = Profile(None)
    shown = recommend(_only("sad"), MAPPING, movies, profile)
    ranked = recommend(_only("sad"), MAPPING, movies, profile, 100)  # the 50 shown and 50 spares, as the page has
    liked, seen, disliked = shown["tconst"].iloc[[3, 5, 7]]
    profile.rate(liked, 1)
    profile.mark_seen(seen)
    profile.rate(disliked, -1)
    fresh = recommend(_only("sad"), MAPPING, movies, profile)
    assert set(fresh["tconst"]) - {seen, disliked} != set(shown["tconst"]) - {seen, disliked}  # it re-ranked
    kept = steady(shown, fresh, profile)
    expected = [t for t in shown["tconst"] if t not in (seen, disliked)]
    assert kept["tconst"].tolist()[:48] == expected and len(kept) == 50 and kept["tconst"].is_unique
    assert list(kept["rank"]) == list(range(1, 51)) and kept.set_index("tconst").loc[liked, "thumb"] == 1
    assert steady(None, ranked, profile)["tconst"].tolist() == shown["tconst"].tolist()
    # A ranking made before the marks fills the gaps with its spares, never with the films just hidden.
    filled = steady(shown, ranked, profile)
    assert filled["tconst"].tolist() == expected + ranked["tconst"].tolist()[50:52]
