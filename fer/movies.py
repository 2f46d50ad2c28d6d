"""Movie catalogue from IMDb's public datasets, the emotion -> genre maps, and weighted top-N lists.

    python -m fer.movies refresh [--source URL_BASE_OR_DIR] [--out PATH] [--min-votes N]
    python -m fer.movies top GENRE [-n 50]
    python -m fer.movies recommend --emotion sad [--preset P] [--mix --probs sad=.6,angry=.3,...] [--years 1990 2010]
                                   [--min-rating 7] [--runtime 80 150] [--profile PATH | --profile local] [-n 50]

A refresh streams title.basics / title.ratings (gzip TSV) to a temp dir, parses them in chunks so
memory stays flat, and replaces the catalogue atomically: on any failure the old file is untouched.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import requests

from fer.access import Owner, require
from fer.emotions import EMOTIONS
from fer.files import DEFAULT_CATALOGUE, atomic_write
from fer.genres import GENRES, PRESETS, build_mapping, genre_name
from fer.jobs import SingleFlight, flight
from fer.locks import try_lock
from fer.neighbours import ATTRIBUTION as LEARNT_FROM
from fer.profile import Profile, ProfileError, default_path
from fer.recommend import COLUMNS, filter_mask, index, recommend

IMDB_BASE = "https://datasets.imdbws.com/"
FILES = ("title.ratings.tsv.gz", "title.basics.tsv.gz")
HEADERS = {
    "title.basics.tsv.gz": ["tconst", "titleType", "primaryTitle", "originalTitle", "isAdult", "startYear",
                            "endYear", "runtimeMinutes", "genres"],
    "title.ratings.tsv.gz": ["tconst", "averageRating", "numVotes"],
}
# 10,000 votes keeps 72 Film-Noir titles in the 2026-08-06 snapshot (15,000 keeps only 45): the
# highest round threshold that still fills a top-50 for every genre of the paper's map.
DEFAULT_MIN_VOTES = 10_000
WR_M = 25_000  # votes at which a title's own rating and the mean weigh the same in the weighted rating
ATTRIBUTION = "Information courtesy of IMDb (https://www.imdb.com). Used with permission."
# Rows per parsed chunk: 250k keeps peak RSS near 210 MB on a full IMDb-sized dump (500k: ~270 MB) at ~5 % more time.
CHUNK_ROWS = 250_000
TIMEOUT = (10, 60)  # seconds: connect, between bytes
REFRESH_COOLDOWN_S = 60  # after a successful refresh, before the next may start

# What a truncated, corrupt or non-UTF-8 gzip TSV raises somewhere inside gzip / pandas.
_READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError, pd.errors.ParserError)
Progress = Callable[[str, int, int | None], None]  # (stage, bytes done, total bytes or None)


class RefreshError(Exception):
    """A refresh failed; the message is one line for the user. The old catalogue is unchanged."""


# ---------------------------------------------------------------- building

def refresh_flight(out: str | Path = DEFAULT_CATALOGUE) -> SingleFlight:
    """The server's one refresh job for a catalogue file: every browser session shares it."""
    return flight(f"refresh:{Path(out).resolve()}", "catalogue refresh", cooldown_s=REFRESH_COOLDOWN_S)


def start_refresh(owner: Owner, source: str | Path, out: str | Path) -> None:
    """Start the server's one background refresh of `out` (jobs.Busy when one runs or just finished)."""
    require(owner)
    refresh_flight(out).start(lambda progress: refresh(source, out, progress=progress))


def refresh(source: str | Path = IMDB_BASE, out: str | Path = DEFAULT_CATALOGUE, min_votes: int = DEFAULT_MIN_VOTES,
            progress: Progress | None = None) -> dict:
    """Build the catalogue from a URL base or a local directory holding the two IMDb files; returns its metadata.

    One refresh per catalogue at a time, across processes: a second one gets RefreshError at once.
    """
    out = Path(out)
    progress = progress or (lambda stage, done, total: None)
    lock = try_lock(out.with_name(f".{out.name}.refresh.lock"))
    if lock is None:
        raise RefreshError("A refresh of this catalogue is already running; the current list stays.")
    try:
        return _refresh(str(source), out, min_votes, progress)
    finally:
        os.close(lock)


def _refresh(source: str, out: Path, min_votes: int, progress: Progress) -> dict:
    with tempfile.TemporaryDirectory(prefix="imdb-") as tmp:
        paths = {name: _fetch(str(source), name, Path(tmp), progress) for name in FILES}
        progress("parsing ratings", 0, None)
        ratings = _read_ratings(paths["title.ratings.tsv.gz"], min_votes)
        progress("parsing titles", 0, None)
        movies = _read_movies(paths["title.basics.tsv.gz"], ratings)
    if movies.empty:
        raise RefreshError(f"No movies with at least {min_votes} votes in the source; keeping the old catalogue.")
    c = float(movies["rating"].mean())
    v, r = movies["votes"], movies["rating"]
    movies["weighted_rating"] = (v / (v + WR_M) * r + WR_M / (v + WR_M) * c).round(4)
    movies = movies.sort_values("weighted_rating", ascending=False, kind="stable").reset_index(drop=True)
    meta = {"source": str(source), "built": datetime.now(UTC).isoformat(timespec="seconds"),
            "snapshot": _snapshot_date(source), "rows": int(len(movies)), "min_votes": min_votes,
            "wr_m": WR_M, "wr_c": round(c, 4), "attribution": ATTRIBUTION}
    _write_atomic(out, meta, movies)
    progress("done", 1, 1)
    return meta


def _fetch(source: str, name: str, tmp: Path, progress: Progress) -> Path:
    """A local directory's file as is, or a streamed download into tmp (never held in memory)."""
    if not source.startswith(("http://", "https://")):
        path = Path(source) / name
        if not path.is_file():
            raise RefreshError(f"{path}: file not found.")
        return path
    url = source.rstrip("/") + "/" + name
    dest = tmp / name
    try:
        with requests.get(url, stream=True, timeout=TIMEOUT) as resp:
            if resp.status_code != 200:
                raise RefreshError(f"Download of {name} failed: HTTP {resp.status_code} from {url}.")
            total = int(resp.headers["Content-Length"]) if "Content-Length" in resp.headers else None
            done = 0
            with open(dest, "wb") as f:
                for chunk in resp.iter_content(chunk_size=1 << 20):
                    f.write(chunk)
                    done += len(chunk)
                    progress(f"downloading {name}", done, total)
            if total is not None and done < total:
                raise RefreshError(f"Download of {name} was cut off after {done} of {total} bytes.")
    except requests.RequestException as e:
        raise RefreshError(f"Download of {name} failed: {_reason(e)}.") from None
    return dest


def _reason(e: requests.RequestException) -> str:
    if isinstance(e, requests.ConnectionError) and ("NameResolution" in str(e) or "resolve" in str(e).lower()):
        return "the server name could not be resolved (no network?)"
    if isinstance(e, requests.exceptions.ChunkedEncodingError | requests.exceptions.ContentDecodingError):
        return "the connection was cut off mid-download"
    if isinstance(e, requests.Timeout):
        return "the server did not answer in time"
    if isinstance(e, requests.ConnectionError):
        return "could not connect (no network, or the connection was cut)"
    return type(e).__name__


def _read_tsv(path: Path, name: str, usecols: list[str], dtype: dict) -> pd.io.parsers.TextFileReader:
    """Check the header is IMDb's, then return a chunked reader over the gzip TSV."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
    except (OSError, EOFError, UnicodeDecodeError, zlib.error) as e:
        raise RefreshError(f"{name} is not a readable gzip file ({e}).") from None
    if header != HEADERS[name]:
        raise RefreshError(f"{name} does not have IMDb's header (got {'|'.join(header)[:80]!r}).")
    try:  # pandas reads ahead when it opens the file, so a short file can fail here already
        return pd.read_csv(path, sep="\t", compression="gzip", usecols=usecols, dtype=dtype, na_values="\\N",
                           keep_default_na=False, quoting=csv.QUOTE_NONE, chunksize=CHUNK_ROWS, encoding="utf-8")
    except _READ_ERRORS as e:
        raise RefreshError(f"{name} is truncated or corrupt ({str(e)[:80]}).") from None


def _chunks(reader, name: str):
    """Iterate chunks, turning a truncated or corrupt file into a RefreshError."""
    try:
        yield from reader
    except _READ_ERRORS as e:
        raise RefreshError(f"{name} is truncated or corrupt ({str(e)[:80]}).") from None


def _read_ratings(path: Path, min_votes: int) -> pd.DataFrame:
    name = "title.ratings.tsv.gz"
    reader = _read_tsv(path, name, HEADERS[name], {"tconst": object, "averageRating": "float32", "numVotes": "int64"})
    parts = [c[c["numVotes"] >= min_votes] for c in _chunks(reader, name)]
    return pd.concat(parts).set_index("tconst") if parts else pd.DataFrame(columns=["averageRating", "numVotes"])


def _read_movies(path: Path, ratings: pd.DataFrame) -> pd.DataFrame:
    name = "title.basics.tsv.gz"
    cols = ["tconst", "titleType", "primaryTitle", "isAdult", "startYear", "runtimeMinutes", "genres"]
    # Low-cardinality columns as categories: far fewer Python strings per chunk, so less memory. The other text
    # columns stay plain objects: pandas 3's default pyarrow "str" dtype made this parse ~2x slower (18-22 s vs 10 s).
    # (pandas infers a category's values, so "0" may arrive as 0: compare after astype(str).)
    dtype = {c: "category" if c in ("titleType", "isAdult", "genres") else object for c in cols}
    reader = _read_tsv(path, name, cols, dtype)
    keep = []
    for chunk in _chunks(reader, name):
        # Filter early: ~7 % of IMDb titles are movies, and only rated ones survive the join.
        chunk = chunk[chunk["titleType"] == "movie"]
        chunk = chunk[(chunk["isAdult"].astype(str) == "0") & chunk["tconst"].isin(ratings.index)]
        keep.append(chunk.drop(columns=["titleType", "isAdult"]).astype({"genres": object}))
    if not keep:
        return pd.DataFrame()
    movies = pd.concat(keep).join(ratings, on="tconst")
    return pd.DataFrame({
        "tconst": movies["tconst"], "title": movies["primaryTitle"],
        "year": pd.to_numeric(movies["startYear"], errors="coerce").astype("Int64"),
        "runtime": pd.to_numeric(movies["runtimeMinutes"], errors="coerce").astype("Int64"),
        "genres": movies["genres"].fillna(""), "rating": movies["averageRating"].astype(float).round(1),
        "votes": movies["numVotes"].astype("int64")})


def _snapshot_date(source: str | Path) -> str | None:
    """The snapshot date of a local copy, when its SOURCE.txt names one ('... on YYYY-MM-DD')."""
    note = Path(str(source)) / "SOURCE.txt"
    if not note.is_file():
        return datetime.now(UTC).date().isoformat() if str(source).startswith("http") else None
    m = re.search(r"(\d{4}-\d{2}-\d{2})", note.read_text(errors="replace"))
    return m.group(1) if m else None


def _write_atomic(out: Path, meta: dict, movies: pd.DataFrame) -> None:
    """Readers see the old catalogue or the new one (fer.files.atomic_write)."""
    with atomic_write(out) as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        payload = {"meta": meta, "columns": list(movies.columns), "rows": json.loads(movies.to_json(orient="values"))}
        gz.write(json.dumps(payload, separators=(",", ":")).encode())


# ---------------------------------------------------------------- querying

def load_catalogue(path: str | Path = DEFAULT_CATALOGUE) -> tuple[pd.DataFrame, dict]:
    """(movies ranked by weighted rating, metadata). ValueError if the file is missing or not a catalogue."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            payload = json.loads(f.read())
        movies = pd.DataFrame(payload["rows"], columns=payload["columns"])
        meta = payload["meta"]
    except FileNotFoundError:
        raise ValueError(f"{path}: no movie catalogue; run `python -m fer.movies refresh`.") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a readable movie catalogue ({type(e).__name__}).") from None
    movies["year"] = movies["year"].astype("Int64")
    movies["runtime"] = movies["runtime"].astype("Int64")
    return movies, meta


def top_movies(genre: str, n: int = 50, movies: pd.DataFrame | None = None, year_min: int | None = None,
               year_max: int | None = None, min_rating: float | None = None) -> pd.DataFrame:
    """The n best movies of a genre by IMDb weighted rating (the paper's list), with rank and IMDb link."""
    genre = genre_name(genre)
    if movies is None:
        movies, _ = load_catalogue()
    ix = index(movies)
    years = None if year_min is None and year_max is None else \
        (-np.inf if year_min is None else year_min, np.inf if year_max is None else year_max)
    rows = np.flatnonzero((ix.genres[:, GENRES.index(genre)] > 0) & filter_mask(ix, years, min_rating))
    top = movies.iloc[rows[np.argsort(-ix.base[rows], kind="stable")][:n]].reset_index(drop=True)
    top.insert(0, "rank", range(1, len(top) + 1))
    top["url"] = "https://www.imdb.com/title/" + top["tconst"] + "/"
    return top[COLUMNS]


# ---------------------------------------------------------------- CLI

def _probs(text: str) -> dict[str, float]:
    """"sad=0.6,angry=0.3" -> all 7 emotions (missing ones 0)."""
    probs = dict.fromkeys(EMOTIONS, 0.0)
    try:
        for part in text.split(","):
            name, value = part.split("=")
            if name.strip() not in probs:
                raise ValueError
            probs[name.strip()] = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected emotion=probability,... with emotions from "
                                         f"{', '.join(EMOTIONS)}") from None
    if sum(probs.values()) <= 0:
        raise argparse.ArgumentTypeError("the probabilities add up to nothing")
    return probs


def _print_recommendations(a: argparse.Namespace) -> None:
    movies, meta = load_catalogue(a.catalogue)
    probs = a.probs or {e: float(e == a.emotion) for e in EMOTIONS}
    profile = None
    if a.profile:
        profile = Profile(default_path() if a.profile == "local" else a.profile)
        if profile.notice:
            print(profile.notice, file=sys.stderr)
    top = recommend(probs, build_mapping(a.preset), movies, profile, a.n, a.mix, a.years and tuple(a.years),
                    a.min_rating, a.runtime and tuple(a.runtime), hide_seen=not a.show_seen)
    for film in top.itertuples():
        year = "" if pd.isna(film.year) else f" ({film.year})"
        print(f"{film.rank:>3}. {film.title}{year}  {film.rating:.1f}★\n     {film.reason}\n     {film.url}  "
              f"where to watch: {film.watch_url}")
    if top.empty:
        print("No film matches these filters.")
    print(meta["attribution"], LEARNT_FROM)



def _print_progress() -> Progress:
    last = [0.0]

    def show(stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5 and stage != "done":
            return
        last[0] = now
        if stage == "done":
            amount = ""
        elif total:
            amount = f" {done / 1e6:.1f}/{total / 1e6:.1f} MB"
        else:
            amount = f" {done / 1e6:.1f} MB" if done else ""
        print(f"\r{stage}{amount}".ljust(60), end="", file=sys.stderr, flush=True)
    return show


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="IMDb movie catalogue: build it, or list a genre's top movies.")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("refresh", help="(re)build the catalogue from IMDb's datasets")
    r.add_argument("--source", default=IMDB_BASE, help="URL base or local directory with the two .tsv.gz files")
    r.add_argument("--out", default=str(DEFAULT_CATALOGUE))
    r.add_argument("--min-votes", type=int, default=DEFAULT_MIN_VOTES)
    t = sub.add_parser("top", help="print a genre's top movies")
    t.add_argument("genre")
    t.add_argument("-n", type=int, default=50)
    t.add_argument("--catalogue", default=str(DEFAULT_CATALOGUE))
    c = sub.add_parser("recommend", help="print the list for a mood, filtered and personalised like the app's")
    c.add_argument("--emotion", choices=EMOTIONS, help="the mood (or give --probs)")
    c.add_argument("--probs", type=_probs, help="emotion=probability,... e.g. sad=0.6,angry=0.3,neutral=0.1")
    c.add_argument("--preset", default="paper", choices=list(PRESETS))
    c.add_argument("--mix", action="store_true", help="blend the genres of the leading emotions")
    c.add_argument("--years", type=int, nargs=2, metavar=("FROM", "TO"))
    c.add_argument("--min-rating", type=float)
    c.add_argument("--runtime", type=int, nargs=2, metavar=("MIN", "MAX"), help="minutes")
    c.add_argument("--profile", help="a profile file, or `local` for this user's own (seen/thumbs apply)")
    c.add_argument("--show-seen", action="store_true")
    c.add_argument("-n", type=int, default=50)
    c.add_argument("--catalogue", default=str(DEFAULT_CATALOGUE))
    a = p.parse_args(argv)
    if a.cmd == "recommend" and not (a.emotion or a.probs):
        p.error("recommend needs --emotion or --probs")
    try:
        if a.cmd == "recommend":
            _print_recommendations(a)
        elif a.cmd == "refresh":
            meta = refresh(a.source, a.out, a.min_votes, progress=_print_progress())
            print(f"\nwrote {a.out}: {meta['rows']} movies (min votes {meta['min_votes']}, mean rating {meta['wr_c']})")
        else:
            movies, meta = load_catalogue(a.catalogue)
            top = top_movies(a.genre, a.n, movies)
            with pd.option_context("display.max_rows", None, "display.width", 160, "display.max_colwidth", 48):
                print(top[["rank", "title", "year", "rating", "votes", "url"]].to_string(index=False))
            print(meta["attribution"])
    except (RefreshError, ValueError, ProfileError) as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"\nerror: could not write the catalogue ({e.strerror or e}); the old one is unchanged.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
