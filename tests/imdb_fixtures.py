"""Small IMDb-format dumps and a local HTTP server (127.0.0.1 only) that can misbehave on request."""

from __future__ import annotations

import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BASICS_HEADER = "tconst\ttitleType\tprimaryTitle\toriginalTitle\tisAdult\tstartYear\tendYear\truntimeMinutes\tgenres"
RATINGS_HEADER = "tconst\taverageRating\tnumVotes"


def imdb_dump(n_movies: int = 120) -> dict[str, bytes]:
    """gzip TSVs in IMDb's exact layout: movies of several genres plus non-movies, an adult title and \\N's."""
    genres = ["Drama", "Film-Noir", "Comedy,Drama", "Western", "Family,Musical", "Sport", "Thriller,Crime"]
    basics, ratings = [BASICS_HEADER], [RATINGS_HEADER]
    for i in range(n_movies):
        tconst = f"tt{i:07d}"
        year = "\\N" if i % 17 == 0 else str(1940 + i % 80)
        runtime = "\\N" if i % 13 == 0 else str(80 + i % 60)
        title = f'Movie "{i}"' if i % 10 == 0 else f"Movie {i}"
        basics.append(f"{tconst}\tmovie\t{title}\t{title}\t0\t{year}\t\\N\t{runtime}\t{genres[i % len(genres)]}")
        ratings.append(f"{tconst}\t{5 + (i % 40) / 10:.1f}\t{1000 + i * 997}")
    basics.append("tt9000001\ttvSeries\tA Series\tA Series\t0\t2001\t2005\t45\tDrama")
    ratings.append("tt9000001\t9.9\t900000")
    basics.append("tt9000002\tmovie\tAn Adult Film\tAn Adult Film\t1\t2001\t\\N\t90\tDrama")
    ratings.append("tt9000002\t9.9\t900000")
    basics.append("tt9000003\tmovie\tLow Votes Gem\tLow Votes Gem\t0\t2001\t\\N\t90\tDrama")
    ratings.append("tt9000003\t10.0\t12")
    return {"title.basics.tsv.gz": gzip.compress(("\n".join(basics) + "\n").encode()),
            "title.ratings.tsv.gz": gzip.compress(("\n".join(ratings) + "\n").encode())}


class FaultyServer:
    """Serves `files`; `faults[name]` may be an int (HTTP status) or "cut" (drop the connection mid-body).

    `requests` lists the files asked for; `delay` seconds are spent before each answer (a slow mirror).
    """

    def __init__(self, files: dict[str, bytes], delay: float = 0.0):
        self.files, self.faults, self.requests, self.delay = files, {}, [], delay
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                name = self.path.rsplit("/", 1)[-1]
                server.requests.append(name)
                time.sleep(server.delay)
                fault = server.faults.get(name)
                if isinstance(fault, int) or name not in server.files:
                    self.send_error(fault if isinstance(fault, int) else 404)
                    return
                body = server.files[name]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault == "cut":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FaultyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
