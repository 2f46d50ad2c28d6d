"""Text a visitor brings (an imported or browser-kept profile and the refusals that quote it, their search, the
name their login gives, film titles and reasons) shown as itself, never as markdown: one escape for every place
the main page writes such text into markdown. The owner's own words (secrets, run names, the training page)
and the app's own sentences are written as they are."""

from __future__ import annotations

MARKDOWN_SPECIALS = "\\`*_{}[]()<>#+-.!|$~"


def literal(text: object) -> str:
    """`text` as literal markdown text: each character markdown (or Streamlit's :colour[...] directives) could read
    as markup is escaped, so `[x](https://…)` shows as written and links or loads nothing."""
    return "".join("\\" + c if c in MARKDOWN_SPECIALS else c for c in str(text))
