"""Who this browser session is, as the server saw its connection: the one reading of it for the owner rule
(ui/training.py `current_owner`) and for where an anonymous profile lives (ui/browser.py `own_machine`)."""

from __future__ import annotations

import streamlit as st
from streamlit import runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from fer.server import access


def connection() -> access.Client:
    """This session's connection: its socket's own peer (`st.context.ip_address` reports a loopback peer as None,
    like an unknown one, and the owner rule must tell them apart) and its websocket request's headers (Host
    among them). No session client (a closed tab; AppTest, whose runtime is a mock) leaves the peer unknown: a
    visitor."""
    ctx = get_script_run_ctx()
    session = runtime.get_instance().get_client(ctx.session_id) if ctx is not None and runtime.exists() else None
    headers = st.context.headers
    return access.Client.of(getattr(getattr(session, "client_context", None), "remote_ip", None),
                            [(name, value) for name in headers for value in headers.get_all(name)])
