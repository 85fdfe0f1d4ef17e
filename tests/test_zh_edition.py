"""The Chinese edition of the course: complete, equal to the English one in code, one term one
name (docs/glossary.md). The zh notebooks execute with the English ones (tests/test_notebooks.py)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import zh_sync  # noqa: E402

GLOSSARY = ROOT / "docs" / "glossary.md"
ZH_NOTEBOOKS = sorted((ROOT / "notebooks" / "zh").glob("*.ipynb"))
EXERCISES = sorted(p for p in (ROOT / "exercises").iterdir() if (p / "README.md").exists())


def glossary() -> list[tuple[str, str, list[str]]]:
    """(English, 中文, translations not used) for each row of the glossary's table."""
    rows = []
    for line in GLOSSARY.read_text("utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("English", "") or set(cells[0]) <= set("-"):
            continue
        rows.append((cells[0], cells[1], [t.strip() for t in cells[2].split(",") if t.strip()]))
    return rows


def zh_texts() -> dict[str, str]:
    """The Chinese prose of the course: each zh notebook's markdown, each README.zh.md."""
    out = {p.name: "\n".join(c.source for c in nbformat.read(p, 4).cells
                             if c.cell_type == "markdown") for p in ZH_NOTEBOOKS}
    out.update({f"{d.name}/README.zh.md": (d / "README.zh.md").read_text("utf-8")
                for d in EXERCISES if (d / "README.zh.md").exists()})
    return out


def test_every_notebook_has_a_zh_edition_with_the_same_code():
    """notebooks/zh/NN-*.ipynb: the English cells in the same order, code cells character for
    character (plus the one cell that switches the lab to Chinese): an edit to one edition's
    code that is not made to the other fails here (``python scripts/zh_sync.py --write``)."""
    assert zh_sync.pairs() and all(zh.exists() for _, zh in zh_sync.pairs())
    problems = [p for en, zh in zh_sync.pairs() for p in zh_sync.problems(en, zh)]
    assert not problems, "\n".join(problems)


def test_the_check_that_compares_the_editions_can_fail(tmp_path, monkeypatch):
    en, zh = zh_sync.pairs()[0]
    nb = nbformat.read(zh, 4)
    code = next(c for c in nb.cells if c.cell_type == "code" and "set_language" not in c.source)
    code.source += "\nx = 1"
    nbformat.write(nb, tmp_path / zh.name)
    assert any("differs" in p for p in zh_sync.problems(en, tmp_path / zh.name))


def test_every_exercise_has_its_readme_in_chinese():
    missing = [d.name for d in EXERCISES if not (d / "README.zh.md").exists()]
    assert not missing
    for d in EXERCISES:
        text = (d / "README.zh.md").read_text("utf-8")
        assert len(re.findall(r"[\u4e00-\u9fff]", text)) > 100, f"{d.name}: not in Chinese"
        assert "README.md" in text  # (a link back to the English one)


def ruled_out(text: str, rows) -> list[str]:
    """The translations the glossary rules out that ``text`` uses: an occurrence inside one of
    the chosen terms does not count (主机 in 宿主机), one that contains a chosen term does
    (完全虚拟化 is not 全虚拟化)."""
    chosen = {zh for _, zh, _ in rows}
    spans = [(m.start(), m.end()) for term in chosen for m in re.finditer(re.escape(term), text)]
    found = []
    for en, zh, banned in rows:
        for bad in banned:
            for m in re.finditer(re.escape(bad), text):
                if not any(a <= m.start() and m.end() <= b and b - a > m.end() - m.start()
                           for a, b in spans):
                    found.append(f"{bad!r} (the course says {zh!r} for {en!r})")
                    break
    return found


def test_one_term_one_name():
    """Each glossary term is used in its one chosen translation: none of the translations the
    glossary rules out appears in the Chinese edition."""
    rows = glossary()
    assert len(rows) >= 30 and {zh for _, zh, _ in rows} >= {
        "特权解除", "陷入模拟", "二进制翻译", "硬件辅助虚拟化", "根模式", "非根模式", "半虚拟化"}
    texts = zh_texts()
    assert texts
    found = [f"{name}: {problem}" for name, text in texts.items()
             for problem in ruled_out(text, rows)]
    assert not found, "\n".join(found)


def test_the_glossary_check_can_fail():
    rows = glossary()
    assert ruled_out("本课讲完全虚拟化与半虚拟化。", rows) == [
        "'完全虚拟化' (the course says '全虚拟化' for 'full virtualization')"]
    assert ruled_out("宿主机与客户机", rows) == []  # (主机 inside 宿主机 is the chosen term)
    assert ruled_out("主机", rows)


@pytest.mark.parametrize("path", ZH_NOTEBOOKS, ids=lambda p: p.name)
def test_a_zh_notebook_links_the_glossary_and_the_zh_course(path):
    text = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "markdown")
    assert "../../docs/glossary.md" in text
    for link in re.findall(r"\]\(((?:\.\./)*[\w./-]+\.ipynb)", text):
        assert (path.parent / link).resolve().exists(), f"{path.name}: broken link {link}"
        assert "/notebooks/zh/" in str((path.parent / link).resolve()), \
            f"{path.name}: {link} leaves the Chinese edition"


def test_the_english_edition_links_the_glossary_and_the_chinese_one():
    start = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / "00-start-here.ipynb",
                                                      4).cells if c.cell_type == "markdown")
    assert "../docs/glossary.md" in start and "zh/00-start-here.ipynb" in start
    readme = (ROOT / "README.md").read_text("utf-8")
    assert "urlpath=lab/tree/notebooks/zh/00-start-here.ipynb" in readme  # the second badge
