import gzip
import re

import pytest

from fer.files import DEFAULT_CATALOGUE
from fer.genres import GENRES, PRESETS, build_mapping, genre_name
from fer.recommend import catalogue as movies
from fer.recommend import cli
from fer.recommend.catalogue import ATTRIBUTION, load_catalogue, refresh
from fer.recommend.cli import paper_top
from tests.conftest import IMDB_DIR, free_port
from tests.imdb_fixtures import FaultyServer, imdb_dump


@pytest.fixture
def dump():
    return imdb_dump()


@pytest.fixture
def server(dump):
    with FaultyServer(dump) as s:
        yield s


@pytest.fixture
def catalogue(tmp_path, server):
    out = tmp_path / "movies.json.gz"
    refresh(server.url, out, min_votes=5000)
    return out


def test_refresh_over_http_keeps_rated_non_adult_movies(catalogue):
    df, meta = load_catalogue(catalogue)
    assert meta["attribution"] == ATTRIBUTION and meta["rows"] == len(df) and meta["built"]
    assert "tt9000001" not in set(df["tconst"])  # a TV series
    assert "tt9000002" not in set(df["tconst"])  # adult
    assert "tt9000003" not in set(df["tconst"])  # 12 votes
    assert (df["votes"] >= 5000).all()
    assert 'Movie "10"' in set(df["title"])  # quotes survive (IMDb does not quote TSV fields)
    assert df["year"].isna().any() and df["runtime"].isna().any()  # \N -> missing


def test_weighted_rating_formula_and_ranking(catalogue):
    df, meta = load_catalogue(catalogue)
    c, m = df["rating"].mean(), movies.WR_M
    row = df.iloc[3]
    v, r = row["votes"], row["rating"]
    assert row["weighted_rating"] == pytest.approx(v / (v + m) * r + m / (v + m) * c, abs=1e-3)
    assert meta["wr_c"] == pytest.approx(c, abs=1e-3)
    top = paper_top("Drama", 50, df)
    assert list(top["rank"]) == list(range(1, len(top) + 1))
    assert top["weighted_rating"].is_monotonic_decreasing
    assert top["genres"].str.contains("Drama").all()
    assert top["url"].iloc[0] == f"https://www.imdb.com/title/{top['tconst'].iloc[0]}/"


def test_few_very_high_votes_do_not_top_the_list(server, tmp_path):
    dump = imdb_dump()
    basics = gzip.decompress(dump["title.basics.tsv.gz"]).decode() + \
        "tt9100000\tmovie\tTiny Cult Hit\tTiny Cult Hit\t0\t2020\t\\N\t90\tDrama\n"
    ratings = gzip.decompress(dump["title.ratings.tsv.gz"]).decode() + "tt9100000\t9.9\t5200\n"
    server.files = {"title.basics.tsv.gz": gzip.compress(basics.encode()),
                    "title.ratings.tsv.gz": gzip.compress(ratings.encode())}
    refresh(server.url, tmp_path / "m.json.gz", min_votes=5000)
    df, _ = load_catalogue(tmp_path / "m.json.gz")
    top = paper_top("Drama", 50, df)
    assert top["rating"].max() == 9.9 and top["title"].iloc[0] != "Tiny Cult Hit"


def test_filters(catalogue):
    df, _ = load_catalogue(catalogue)
    top = paper_top("Drama", 50, df, years=(1960, 1990), min_rating=6.0)
    assert len(top) > 0
    assert top["year"].between(1960, 1990).all() and (top["rating"] >= 6.0).all()


def test_local_directory_source_works_like_a_url(tmp_path, dump, catalogue):
    for name, data in dump.items():
        (tmp_path / name).write_bytes(data)
    refresh(tmp_path, tmp_path / "local.json.gz", min_votes=5000)
    assert load_catalogue(tmp_path / "local.json.gz")[0].equals(load_catalogue(catalogue)[0])


def test_progress_reports_download_bytes(server, tmp_path):
    seen = []
    refresh(server.url, tmp_path / "m.json.gz", min_votes=5000, progress=lambda *a: seen.append(a))
    downloads = [a for a in seen if a[0].startswith("downloading")]
    assert downloads and downloads[-1][1] == downloads[-1][2]  # finished at the announced size
    assert seen[-1][0] == "done"


FAULTS = {
    "no network": ("url", lambda s: f"http://127.0.0.1:{free_port()}/", "could not connect"),
    "dns failure": ("url", lambda s: "http://imdb-datasets.invalid/", "could not be resolved"),
    "http 404": ("fault", ("title.basics.tsv.gz", 404), "HTTP 404"),
    "http 500": ("fault", ("title.ratings.tsv.gz", 500), "HTTP 500"),
    "cut mid-download": ("fault", ("title.basics.tsv.gz", "cut"), "cut off|could not connect"),
    "truncated gzip": ("file", ("title.basics.tsv.gz", lambda b: b[: len(b) * 2 // 3]), "truncated or corrupt"),
    "not gzip": ("file", ("title.ratings.tsv.gz", lambda b: b"<html>oops</html>"), "not a readable gzip"),
    "foreign header": ("file", ("title.basics.tsv.gz", lambda b: gzip.compress(b"id\tname\n1\tx\n")),
                       "does not have IMDb's header"),
    "zero movies": ("min_votes", 10**9, "No movies"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_every_failure_is_one_line_and_keeps_the_old_catalogue(fault, server, catalogue, capsys):
    before = catalogue.read_bytes()
    kind, arg, message = FAULTS[fault]
    url, min_votes = server.url, 5000
    if kind == "url":
        url = arg(server)
    elif kind == "fault":
        server.faults[arg[0]] = arg[1]
    elif kind == "file":
        server.files[arg[0]] = arg[1](server.files[arg[0]])
    else:
        min_votes = arg
    code = cli.main(["refresh", "--source", url, "--out", str(catalogue), "--min-votes", str(min_votes)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[-1].startswith("error: ") and len(err[-1]) < 200
    assert re.search(message, err[-1]), err[-1]
    assert catalogue.read_bytes() == before
    assert [p.name for p in catalogue.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_failure_while_writing_keeps_the_old_catalogue(server, catalogue, monkeypatch, capsys):
    before = catalogue.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(movies.json, "dumps", disk_full)
    assert cli.main(["refresh", "--source", server.url, "--out", str(catalogue), "--min-votes", "5000"]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert catalogue.read_bytes() == before
    # Nothing half-written is left (the refresh's lock file stays: it is reused, see fer/server/locks.py).
    assert sorted(p.name for p in catalogue.parent.iterdir()) == [f".{catalogue.name}.refresh.lock", catalogue.name]


def test_mapping_presets_and_overrides():
    assert build_mapping()["happy"] == "Thriller" and build_mapping()["surprise"] == "Film-Noir"
    assert build_mapping("lift my mood", {"sad": "Musical"})["sad"] == "Musical"
    for preset in PRESETS.values():
        assert set(preset.values()) <= set(GENRES)
    with pytest.raises(ValueError, match="unknown genre 'Telenovela'"):
        build_mapping("paper", {"sad": "Telenovela"})
    with pytest.raises(ValueError, match="unknown preset"):
        build_mapping("cheer me up")
    with pytest.raises(ValueError, match="unknown genre"):
        paper_top("Telenovela")


def test_genre_names_are_forgiving_about_case_spaces_and_hyphens(catalogue):
    assert genre_name("film noir") == genre_name("FILM-NOIR") == "Film-Noir" and genre_name("sci-fi") == "Sci-Fi"
    assert build_mapping("paper", {"sad": "musical"})["sad"] == "Musical"
    df, _ = load_catalogue(catalogue)
    western = paper_top("western", 5, df)["title"].tolist()
    assert western and western == paper_top("Western", 5, df)["title"].tolist()


def test_top_cli_prints_a_genre(catalogue, capsys):
    assert cli.main(["top", "Western", "-n", "5", "--catalogue", str(catalogue)]) == 0
    out = capsys.readouterr().out
    assert "https://www.imdb.com/title/tt" in out and ATTRIBUTION in out


def test_shipped_catalogue_fills_a_top_50_for_every_paper_genre():
    df, meta = load_catalogue(DEFAULT_CATALOGUE)
    assert DEFAULT_CATALOGUE.stat().st_size <= 3 * 1024 * 1024
    assert meta["attribution"] == ATTRIBUTION
    for genre in PRESETS["paper"].values():
        assert len(paper_top(genre, 50, df)) == 50, genre


@pytest.mark.skipif(not IMDB_DIR.exists(), reason="needs ../shared/datasets/imdb")
def test_shipped_catalogue_is_what_refresh_builds_from_the_snapshot(tmp_path):
    meta = refresh(IMDB_DIR, tmp_path / "m.json.gz")
    fresh, _ = load_catalogue(tmp_path / "m.json.gz")
    shipped, shipped_meta = load_catalogue(DEFAULT_CATALOGUE)
    assert meta["rows"] == shipped_meta["rows"] and meta["snapshot"] == "2026-08-06"
    assert fresh.equals(shipped)
    assert paper_top("Drama", 1, fresh)["title"].iloc[0] == "The Shawshank Redemption"
