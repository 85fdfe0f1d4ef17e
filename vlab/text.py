"""Counts and records as a line a student reads, for notebooks and the CLI's text output.

``print(lab.trace.counts())`` shows a Python dict; ``print(counts_text(lab.trace.counts()))``
shows ``EXTERNAL_INTERRUPT 20 · IO_INSTRUCTION 1,032``. Counts stay decimal (with thousands
separators); a key that is a tuple, such as ``(kind, instruction)``, is written out.
"""

from __future__ import annotations

from typing import Any, Mapping

SEPARATOR = " · "


def _key(key: Any) -> str:
    if isinstance(key, tuple):
        return " ".join(_key(k) for k in key)
    return getattr(key, "name", None) or str(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, Mapping):
        return f"({counts_text(value)})" if value else "(none)"
    return str(value)


def counts_text(counts: Mapping[Any, Any], empty: str = "none") -> str:
    """``{"CLI": 6, "STI": 7}`` -> ``"CLI 6 · STI 7"``, in the mapping's order; a record such as
    ``lab.translation_stats()`` too, a nested mapping in parentheses:
    ``blocks 99 · hits 596 · callouts (in 505 · out 527)``."""
    if not counts:
        return empty
    return SEPARATOR.join(f"{_key(k)} {_value(v)}" for k, v in counts.items())

