"""Heavy shared work done once at a time per server, whoever asks: a catalogue refresh, an evaluation.

A `SingleFlight` runs its job on a background thread (a click, a rerun or a closed tab does not
restart or cancel it), answers every further request with "already running since …", lets anyone
watch the progress, and waits a short cooldown after a finished job. (Across processes, a job takes its
own lock: `fer.recommend.catalogue.refresh` does.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class JobState:
    running: bool = False
    started: float | None = None  # time.time()
    finished: float | None = None
    stage: str = ""
    done: int = 0
    total: int | None = None
    result: object = None
    error: str | None = None


class Busy(Exception):  # noqa: N818 (a state, not a fault)
    """The job is running, or cooling down; the message is one sentence for the user."""


class SingleFlight:
    def __init__(self, name: str, cooldown_s: float = 60.0):
        self.name, self.cooldown_s = name, cooldown_s
        self._lock = threading.Lock()  # NOTE: guards _state; the job thread and every session's thread use it
        self._state = JobState()

    @property
    def state(self) -> JobState:
        with self._lock:
            return self._state

    def start(self, job: Callable[[Callable[[str, int, int | None], None]], object]) -> None:
        """Run job(progress) in the background; Busy while it runs, or in the cooldown after a success."""
        with self._lock:
            s = self._state
            if s.running:
                raise Busy(f"A {self.name} is already running (started {_ago(s.started)}).")
            if s.finished and time.time() - s.finished < self.cooldown_s and s.error is None:
                raise Busy(f"The {self.name} finished {_ago(s.finished)}; try again in "
                           f"{self.cooldown_s - (time.time() - s.finished):.0f} s.")
            self._state = JobState(running=True, started=time.time())
        threading.Thread(target=self._run, args=(job,), name=self.name, daemon=True).start()

    def _run(self, job) -> None:
        def progress(stage: str, done: int, total: int | None) -> None:
            with self._lock:
                self._state = replace(self._state, stage=stage, done=done, total=total)

        result, error = None, None
        try:
            result = job(progress)
        except Exception as e:  # noqa: BLE001 (reported to whoever watches; the job owns its messages)
            error = str(e) or type(e).__name__
        finally:
            with self._lock:
                self._state = replace(self._state, running=False, finished=time.time(), result=result, error=error)

    def run_now(self, job: Callable[[], object]) -> object:
        """Run job() on the calling thread if nothing else runs; Busy otherwise (no cooldown)."""
        with self._lock:
            if self._state.running:
                raise Busy(f"A {self.name} is already running (started {_ago(self._state.started)}); "
                           "try again when it is done.")
            self._state = JobState(running=True, started=time.time())
        try:
            return job()
        finally:
            with self._lock:
                self._state = replace(self._state, running=False, finished=time.time())


def _ago(t: float | None) -> str:
    s = time.time() - (t or time.time())
    return f"{s:.0f} s ago" if s < 120 else f"{s / 60:.0f} min ago"


_FLIGHTS: dict[str, SingleFlight] = {}
_FLIGHTS_LOCK = threading.Lock()


def flight(key: str, name: str, cooldown_s: float = 60.0) -> SingleFlight:
    """The server's one SingleFlight for `key` (e.g. the catalogue's path): every session gets the same object."""
    with _FLIGHTS_LOCK:
        if key not in _FLIGHTS:
            _FLIGHTS[key] = SingleFlight(name, cooldown_s)
        return _FLIGHTS[key]
