"""`streamlit` with the time of each script run appended to the file $FER_RUN_TIMES, one line per run:
"fragment" or "page", then seconds. For benchmarks (mark_latency): the server's own time for a rerun.

    FER_RUN_TIMES=runs.txt python -m benchmarks.timed_streamlit run app.py ...
"""

from __future__ import annotations

import os
import time

from streamlit.runtime.scriptrunner import script_runner
from streamlit.web import cli

_run = script_runner.exec_func_with_error_handling


def _timed(func, ctx):
    """Streamlit's own call that executes the script (or the fragment) for one run, timed."""
    start = time.perf_counter()
    try:
        return _run(func, ctx)
    finally:
        kind = "fragment" if ctx.fragment_ids_this_run else "page"
        with open(os.environ["FER_RUN_TIMES"], "a") as f:
            f.write(f"{kind} {time.perf_counter() - start:.4f}\n")


if __name__ == "__main__":
    script_runner.exec_func_with_error_handling = _timed
    cli.main(prog_name="streamlit")
