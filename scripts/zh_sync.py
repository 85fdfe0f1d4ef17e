"""Keep the Chinese edition of the course notebooks equal to the English one in code.

    python scripts/zh_sync.py            # check: exit 1 if a zh notebook's code differs
    python scripts/zh_sync.py --write    # copy the English code cells into the zh notebooks

A zh notebook (notebooks/zh/NN-*.ipynb, the same file name) has the same cells as its English
notebook, in the same order, plus one first code cell that switches the lab to Chinese
(``LANGUAGE_CELL``): markdown cells are translated, code cells are the English ones, character
for character. ``--write`` copies the English code cells over the zh ones (and the language
cell), so an edit to an English code cell is carried over with one command; a zh notebook whose
cells no longer line up with the English one (a cell added or removed on one side only) is an
error, since its markdown would then sit beside the wrong code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
EN, ZH = ROOT / "notebooks", ROOT / "notebooks" / "zh"
LANGUAGE_CELL = 'import vlab\nvlab.set_language("zh")  # 本笔记本的实验界面使用中文'


def pairs() -> list[tuple[Path, Path]]:
    """(English notebook, its zh edition) for every English notebook."""
    return [(p, ZH / p.name) for p in sorted(EN.glob("*.ipynb"))]


def zh_cells(zh: nbformat.NotebookNode) -> list:
    """The zh notebook's cells without its language cell."""
    cells = list(zh.cells)
    first_code = next((i for i, c in enumerate(cells) if c.cell_type == "code"), None)
    if first_code is not None and cells[first_code].source.strip() == LANGUAGE_CELL:
        del cells[first_code]
    return cells


def problems(en_path: Path, zh_path: Path) -> list[str]:
    """Why the zh notebook is not the English one's code with translated prose (empty: it is)."""
    if not zh_path.exists():
        return [f"{zh_path.relative_to(ROOT)}: missing"]
    en, zh = nbformat.read(en_path, 4), nbformat.read(zh_path, 4)
    out = []
    first = next((c for c in zh.cells if c.cell_type == "code"), None)
    if first is None or first.source.strip() != LANGUAGE_CELL:
        out.append(f"{zh_path.name}: the first code cell must be the language cell")
    theirs = zh_cells(zh)
    if [c.cell_type for c in theirs] != [c.cell_type for c in en.cells]:
        out.append(f"{zh_path.name}: its cells do not line up with {en_path.name}'s "
                   f"({len(theirs)} vs {len(en.cells)})")
        return out
    for i, (a, b) in enumerate(zip(en.cells, theirs, strict=True)):
        if a.cell_type == "code" and a.source != b.source:
            out.append(f"{zh_path.name}: code cell {i} differs from {en_path.name}'s")
    return out


def write(en_path: Path, zh_path: Path) -> None:
    en, zh = nbformat.read(en_path, 4), nbformat.read(zh_path, 4)
    theirs = zh_cells(zh)
    if [c.cell_type for c in theirs] != [c.cell_type for c in en.cells]:
        raise SystemExit(f"{zh_path.name}: cells do not line up with {en_path.name}: fix by hand")
    changed = False
    for a, b in zip(en.cells, theirs, strict=True):
        if a.cell_type == "code" and b.source != a.source:
            b.source, changed = a.source, True
    lang = next((c for c in zh.cells if c.cell_type == "code"
                 and c.source.strip() == LANGUAGE_CELL), None)
    if lang is None:  # (kept when present: its id stays, so a rewrite changes nothing else)
        lang, changed = nbformat.v4.new_code_cell(LANGUAGE_CELL), True
    first_code = next(i for i, c in enumerate(theirs) if c.cell_type == "code")
    cells = theirs[:first_code] + [lang] + theirs[first_code:]
    if changed or [id(c) for c in cells] != [id(c) for c in zh.cells]:
        zh.cells = cells
        nbformat.write(zh, zh_path)


def main(argv: list[str]) -> int:
    found = []
    for en_path, zh_path in pairs():
        if "--write" in argv and zh_path.exists():
            write(en_path, zh_path)
        found += problems(en_path, zh_path)
    for p in found:
        print(p)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
