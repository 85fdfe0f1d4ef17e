"""The lab's languages: English (the source) and Chinese.

Every piece of text the lab shows a person — widget labels, status lines, the trap log's column
names, diagram labels, the grader's feedback, plot labels in the course notebooks — is written in
English in the code and passed through :func:`tr`, which returns it in the current language. The
translations are gettext catalogues (``vlab/locale/<lang>/LC_MESSAGES/vlab.po``, the format every
translation tool reads: Poedit, Weblate, msgfmt), loaded by :func:`catalogue`. A message missing
from a catalogue falls back to English; ``tests/test_i18n.py`` checks that none is missing.

``vlab.set_language("zh")`` switches the lab (views redraw); ``VLAB_LANG=zh`` chooses it before
anything is shown. Intel's names (exit reasons, VMCS fields, mnemonics) are not translated.

A message is one whole sentence with ``str.format`` placeholders, never fragments glued together
(word order differs between languages): ``tr("{score} of {max} points").format(...)``. Text that
is chosen at run time from a fixed set (a strategy's label, a counter's name) is marked where the
set is written with :func:`N_`, which translates nothing, so the tools that collect messages
find it; it is translated where it is shown (``tr(label)``). The grader speaks the language it
was asked for, whatever the lab shows: :func:`speaking` sets it for one thread of work.
"""

from __future__ import annotations

import ast
import contextvars
import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

LANGUAGES = {"en": "English", "zh": "中文"}
LOCALE_DIR = Path(__file__).parent / "locale"

_state = {"language": os.environ.get("VLAB_LANG", "en")}
if _state["language"] not in LANGUAGES:
    _state["language"] = "en"
_observers: list[Callable[[str], None]] = []
#: The language of one piece of work (a grading) when it differs from the lab's: see speaking().
_speaking: contextvars.ContextVar[str | None] = contextvars.ContextVar("vlab_speaking",
                                                                       default=None)


def set_language(language: str) -> None:
    """Show the lab in ``language`` ("en" or "zh") from now on; open views redraw."""
    _known(language)
    if language == _state["language"]:
        return
    _state["language"] = language
    for observer in list(_observers):
        observer(language)


def _known(language: str) -> str:
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r}: vlab speaks "
                         + ", ".join(f"{k} ({v})" for k, v in LANGUAGES.items()))
    return language


def language() -> str:
    """The language the lab is shown in now."""
    return _state["language"]


def spoken() -> str:
    """The language :func:`tr` speaks now: the one :func:`speaking` set, else the lab's."""
    return _speaking.get() or _state["language"]


def on_language_change(observer: Callable[[str], None]) -> None:
    """Call ``observer(language)`` whenever the language changes (a view redraws)."""
    _observers.append(observer)


def tr(message: str, language: str | None = None) -> str:
    """``message`` (English) in ``language`` (default: the one :func:`speaking` set, else the
    lab's); English when the catalogue has no translation for it."""
    lang = language or _speaking.get() or _state["language"]
    if lang == "en":
        return message
    return catalogue(lang).get(message) or message


_ = tr  # (the name gettext's tools look for when they extract messages)


def N_(message: str) -> str:
    """``message`` unchanged: marks text that is translated later, where it is shown
    (gettext's ``gettext_noop``)."""
    return message


@contextmanager
def speaking(language: str | None) -> Iterator[str]:
    """Within the block, :func:`tr` speaks ``language`` (None: the lab's) in this thread or
    task only; the lab's own language and its views are left as they are."""
    lang = _known(language or _state["language"])
    token = _speaking.set(lang)
    try:
        yield lang
    finally:
        _speaking.reset(token)


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    """The translations of ``language``: msgid -> msgstr, from its ``.po`` file (entries with
    an empty msgstr or marked fuzzy are left out, as gettext leaves them out)."""
    path = LOCALE_DIR / language / "LC_MESSAGES" / "vlab.po"
    if not path.exists():
        return {}
    return {msgid: msgstr for msgid, msgstr, fuzzy in read_po(path.read_text("utf-8"))
            if msgid and msgstr and not fuzzy}


def read_po(text: str) -> list[tuple[str, str, bool]]:
    """The (msgid, msgstr, fuzzy) entries of a gettext ``.po`` file: strings may continue on
    following lines (adjacent C strings); comments start with ``#`` (``#, fuzzy`` flags the
    entry); plural forms and contexts are not used by vlab."""
    entries: list[tuple[str, str, bool]] = []
    msgid: list[str] | None = None
    msgstr: list[str] | None = None
    current: list[str] | None = None
    fuzzy = next_fuzzy = False

    def flush() -> None:
        if msgid is not None and msgstr is not None:
            entries.append(("".join(msgid), "".join(msgstr), fuzzy))

    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("#,") and "fuzzy" in line:
                next_fuzzy = True
            continue
        if line.startswith("msgid "):
            flush()
            msgid, msgstr, fuzzy, next_fuzzy = [_string(line[6:], number)], None, next_fuzzy, False
            current = msgid
        elif line.startswith("msgstr "):
            if msgid is None:
                raise ValueError(f"line {number}: msgstr without msgid")
            msgstr = [_string(line[7:], number)]
            current = msgstr
        elif line.startswith('"') and current is not None:
            current.append(_string(line, number))
        else:
            raise ValueError(f"line {number}: not a .po line: {line[:60]!r}")
    flush()
    return entries


def _string(token: str, number: int) -> str:
    token = token.strip()
    if len(token) < 2 or token[0] != '"' or token[-1] != '"':
        raise ValueError(f"line {number}: expected a quoted string, got {token[:60]!r}")
    return ast.literal_eval(token)


def po_entry(msgid: str, msgstr: str, comment: str = "") -> str:
    """One ``.po`` entry (for tools that write catalogues)."""
    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    head = "".join(f"#. {line}\n" for line in comment.splitlines())
    return f"{head}msgid {quote(msgid)}\nmsgstr {quote(msgstr)}\n"
