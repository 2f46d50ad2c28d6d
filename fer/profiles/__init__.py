"""A person's profile, and the one place that chooses where it is kept (`open_profile`).

`store` is the profile in one SQLite file (or in memory), `postgres` the same profile in a PostgreSQL database
shared by replicas, `document` the profile as one JSON document (download, import, the browser's copy).
"""

from __future__ import annotations

from fer.profiles.postgres import PgProfile
from fer.profiles.store import Profile, account_path, default_path


def open_profile(email: str | None, in_browser: bool, database_url: str | None = None) -> tuple[Profile, str]:
    """Whose profile this session uses, and one sentence saying so (the page shows it).

    A logged-in account: its rows in the app's PostgreSQL database when one is configured (every replica sees
    them; `postgres`), else its own file. Anyone else `in_browser` (everybody on a public deploy, and anyone
    but a browser on the app's own machine: fer/server/access.py `own_machine`): in memory for this browser
    session, nothing written on the server (the page keeps a copy in the visitor's browser, `document`). The
    browser on the app's own machine: the local profile in its data directory.
    """
    if email and database_url:
        return PgProfile(database_url, email), f"Your profile belongs to your account ({email}) and is kept in " \
            "this app's database."
    if email:
        return Profile(account_path(email)), f"Your profile belongs to your account ({email}) and is kept on " \
            "this server."
    if in_browser:
        return Profile(None), "Your profile is kept in this browser's own storage: nothing of it is written on " \
            "the server."  # the page adds how to keep it elsewhere, where a login is set up
    path = default_path()
    return Profile(path), f"Your profile is kept on this computer ({path})."
