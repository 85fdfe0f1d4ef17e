"""The course holds together: every graded exercise is linked from a notebook, and every link
from a notebook to a file of the repository (an exercise's README, another notebook) resolves."""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXERCISES = sorted(p.name for p in (ROOT / "exercises").iterdir()
                   if p.is_dir() and (p / "README.md").exists())
LINK = re.compile(r"\]\(((?:\.\./)?[\w./-]+\.(?:md|ipynb))\)")


def _text(path: Path) -> str:
    return "\n".join(c.source for c in nbformat.read(path, 4).cells)


def test_every_exercise_is_linked_from_a_notebook():
    text = "\n".join(_text(p) for p in NOTEBOOKS)
    assert len(EXERCISES) == 11
    missing = [name for name in EXERCISES if f"exercises/{name}/README.md" not in text]
    assert not missing, f"exercises no notebook links to: {missing}"


def test_links_between_course_files_resolve():
    broken = []
    for path in NOTEBOOKS:
        for target in LINK.findall(_text(path)):
            if target.startswith("http"):
                continue
            if not (path.parent / target).resolve().exists():
                broken.append(f"{path.name} -> {target}")
    assert not broken, broken
