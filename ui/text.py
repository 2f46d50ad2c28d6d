"""Text from outside (film titles, a visitor's names and messages, refusal reasons) shown as itself, never as
markdown: one escape for every place the page writes such text into markdown."""

from __future__ import annotations

MARKDOWN_SPECIALS = "\\`*_{}[]()<>#+-.!|$~"


def literal(text: object) -> str:
    """`text` as literal markdown text: each character markdown (or Streamlit's :colour[...] directives) could read
    as markup is escaped, so `[x](https://…)` shows as written and links or loads nothing."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
