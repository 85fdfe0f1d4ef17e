"""Where the lab's messages are written: every literal passed to ``tr`` / ``_`` / ``N_`` in
vlab's sources and in the English notebooks' code cells, and the text the exercises give the
grader (scenario names, check descriptions). Read with ``ast``, never by running anything.

Also a tool: ``python -m tests.i18n_sources`` lists the messages the Chinese catalogue lacks and
the entries nothing uses.
"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The names a message is passed to (vlab.i18n.tr, its alias _, and the N_ marker).
MARKERS = {"tr", "_", "N_"}


def _called(node: ast.Call) -> str | None:
    f = node.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):  # vlab.tr(...), i18n.tr(...)
        return f.attr
    return None


def literals(source: str, where: str) -> tuple[dict[str, set[str]], list[str]]:
    """(message -> places, places of calls whose message is not a literal) in Python source."""
    found: dict[str, set[str]] = defaultdict(set)
    dynamic: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _called(node) in MARKERS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                found[first.value].add(f"{where}:{node.lineno}")
            else:
                dynamic.append(f"{where}:{node.lineno}")
    return found, dynamic


def vlab_messages() -> dict[str, set[str]]:
    """Every literal message in vlab's Python sources."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "vlab").rglob("*.py")):
        found, _ = literals(path.read_text("utf-8"), str(path.relative_to(ROOT)))
        for message, places in found.items():
            out[message] |= places
    return out


def notebook_cells(path: Path) -> list[str]:
    """The code cells of a notebook, IPython magics and shell lines blanked (kept as Python)."""
    cells = json.loads(path.read_text("utf-8"))["cells"]
    out = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if source.lstrip().startswith("%%"):
            continue  # a cell magic: not Python
        out.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line
                             for line in source.splitlines()))
    return out


def notebook_messages() -> dict[str, set[str]]:
    """Every literal message in the English notebooks' code cells (notebooks/*.ipynb)."""
    out: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for i, source in enumerate(notebook_cells(path)):
            try:
                found, _ = literals(source, f"{path.relative_to(ROOT)} (cell {i})")
            except SyntaxError:
                continue
            for message, places in found.items():
                out[message] |= places
    return out


def exercise_messages() -> dict[str, set[str]]:
    """What the exercises give the grader to say: scenario names and the descriptions of checks
    not built from one of the grader's own messages (hidden scenarios included)."""
    from vlab.grading import load_exercise

    out: dict[str, set[str]] = defaultdict(set)
    for folder in sorted((ROOT / "exercises").iterdir()):
        if not (folder / "checks.py").exists():
            continue
        exercise = load_exercise(folder)
        where = str(folder.relative_to(ROOT))
        for scenario in exercise.scenarios:
            out[scenario.name].add(where)
            for check in scenario.checks:
                if check.message is None:
                    out[check.description].add(where)
    return out


def all_messages() -> dict[str, set[str]]:
    """Every message the lab can show, and where it is written."""
    out: dict[str, set[str]] = defaultdict(set)
    for part in (vlab_messages(), notebook_messages(), exercise_messages()):
        for message, places in part.items():
            out[message] |= places
    return out


def references(po: Path) -> dict[str, list[str]]:
    """msgid -> the files its ``#:`` lines name (where it is written), in a ``.po`` file."""
    from vlab import i18n

    out: dict[str, list[str]] = {}
    for chunk in po.read_text("utf-8").split("\n\n"):  # (one entry a paragraph)
        refs = [line[3:].strip() for line in chunk.splitlines() if line.startswith("#: ")]
        for msgid, _, _ in i18n.read_po(chunk):
            out[msgid] = refs
    return out


def written_in(path: Path, text: str) -> bool:
    """Is ``text`` a string literal in ``path`` (a Python file, or a notebook's code cells)?"""
    sources = notebook_cells(path) if path.suffix == ".ipynb" else [path.read_text("utf-8")]
    for source in sources:
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        if any(isinstance(n, ast.Constant) and n.value == text for n in ast.walk(tree)):
            return True
    return False


def unused(language: str = "zh") -> list[str]:
    """The catalogue's entries no source shows: neither a message found in the sources, nor
    one shown through ``tr(variable)`` whose ``#:`` line names a file where it is written."""
    from vlab import i18n

    po = i18n.LOCALE_DIR / language / "LC_MESSAGES" / "vlab.po"
    used, refs = all_messages(), references(po)
    return sorted(m for m in i18n.catalogue(language) if m not in used and not any(
        (ROOT / p).exists() and written_in(ROOT / p, m) for p in refs.get(m, ())))


if __name__ == "__main__":
    from vlab import i18n

    zh = i18n.catalogue("zh")
    messages = all_messages()
    for message in sorted(set(messages) - set(zh)):
        print("missing:", repr(message), sorted(messages[message])[:2])
    for message in unused("zh"):
        print("unused:", repr(message))
