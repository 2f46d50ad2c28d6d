"""`python -m fer.movies`: build the catalogue, print a genre's top films, or the list for a mood.

    python -m fer.movies refresh [--source URL_BASE_OR_DIR] [--out PATH] [--min-votes N]
    python -m fer.movies top GENRE [-n 50]
    python -m fer.movies recommend --emotion sad [--preset P] [--mix --probs sad=.6,angry=.3,...] [--years 1990 2010]
                                   [--min-rating 7] [--runtime 80 150] [--profile PATH | --profile local] [-n 50]

`recommend` lists what the page lists for the same reading and profile: the same ranker (fer.recommend.ranker),
the profile read without changing it, its saved mapping and filters unless options say otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time

import pandas as pd

from fer.emotions import EMOTIONS
from fer.files import DEFAULT_CATALOGUE
from fer.genres import PRESETS, genre_name
from fer.profiles.store import ProfileError
from fer.recommend.catalogue import DEFAULT_MIN_VOTES, IMDB_BASE, Progress, RefreshError, load_catalogue, refresh
from fer.recommend.neighbours import ATTRIBUTION as LEARNT_FROM
from fer.recommend.neighbours import EMPTY
from fer.recommend.person import list_for
from fer.recommend.ranker import PAPER, recommend


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
    top = list_for(probs, movies, a.profile, a.n, a.preset, mix=a.mix, years=a.years and tuple(a.years),
                   min_rating=a.min_rating, runtime=a.runtime and tuple(a.runtime),
                   hide_seen=None if a.show_seen is None else not a.show_seen)
    for film in top.itertuples():
        year = "" if pd.isna(film.year) else f" ({film.year})"
        print(f"{film.rank:>3}. {film.title}{year}  {film.rating:.1f}★\n     {film.reason}\n     {film.url}  "
              f"where to watch: {film.watch_url}")
    if top.empty:
        print("No film matches these filters.")
    print(meta["attribution"], LEARNT_FROM)


def paper_top(genre: str, n: int = 50, movies: pd.DataFrame | None = None, years: tuple[int, int] | None = None,
              min_rating: float | None = None) -> pd.DataFrame:
    """The paper's list: a genre's n best films by IMDb's weighted rating, from the one ranker."""
    mapping = {"neutral": genre_name(genre)}
    return recommend({"neutral": 1.0}, mapping, load_catalogue()[0] if movies is None else movies, None, n,
                     years=years, min_rating=min_rating, neighbours=EMPTY, ranker=PAPER,
                     learnt_genres=False)


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
    c.add_argument("--preset", default=None, choices=list(PRESETS), help="default: the profile's, else paper")
    c.add_argument("--mix", action=argparse.BooleanOptionalAction, default=None,
                   help="blend the genres of the leading emotions (default: the profile's setting, else off)")
    c.add_argument("--years", type=int, nargs=2, metavar=("FROM", "TO"))
    c.add_argument("--min-rating", type=float)
    c.add_argument("--runtime", type=int, nargs=2, metavar=("MIN", "MAX"), help="minutes")
    c.add_argument("--profile", help="`local` (this user's own profile) or a file from \"Download my data\": its "
                   "marks, mapping and filters apply; it is only read")
    c.add_argument("--show-seen", action=argparse.BooleanOptionalAction, default=None)
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
            top = paper_top(a.genre, a.n, movies)
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
