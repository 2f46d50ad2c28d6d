"""The movie catalogue, built from IMDb's public datasets (`python -m fer.movies refresh`, see fer/recommend/cli.py).

A refresh streams title.basics / title.ratings (gzip TSV) to a temp dir, parses them in chunks so
memory stays flat, and replaces the catalogue atomically: on any failure the old file is untouched.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import tempfile
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import requests

from fer.files import DEFAULT_CATALOGUE, atomic_write
from fer.server.access import Owner, require
from fer.server.jobs import SingleFlight, flight
from fer.server.locks import try_lock

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
