"""The standard every course notebook follows once upgraded (``UPGRADED`` grows as they are):
a numbered title; Goals (3-5 bullets); at least two "Predict, then step" tasks on the live lab
widget, each with a collapsible answer (``<details><summary>Answer</summary>``) and then a check
cell (tagged ``check``) that steps the Lab itself and asserts the answer; a Summary; a Self-check
of 3-5 questions with collapsible answers; a link to the next notebook. Structure only:
``test_notebooks.py`` executes them (every ``assert`` in a check cell runs there)."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Notebooks that follow the standard: all of them.
UPGRADED = [p.name[:2] for p in NOTEBOOKS]

PREDICT = "Predict, then step"
ANSWER = re.compile(r"<details>\s*<summary>\s*Answer\s*</summary>", re.I)
DETAILS = re.compile(r"<details>(.*?)</details>", re.S)
NUMBERED = re.compile(r"^\s*\d+\.\s+\S", re.M)
BULLET = re.compile(r"^\s*[-*]\s+\S", re.M)


def _path(number: str) -> Path:
    return next(p for p in NOTEBOOKS if p.name.startswith(number + "-"))


def _cells(number: str) -> list:
    return nbformat.read(_path(number), 4).cells


def _is_check(cell) -> bool:
    return cell.cell_type == "code" and "check" in cell.metadata.get("tags", [])


def _section(cells: list, title: str) -> str:
    """The markdown of the section whose heading is ``title`` ("## Goals", or a line **Goals**),
    up to the next heading of any level."""
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    m = re.search(rf"^(?:#+\s*{title}\b|\*\*{title}\*\*).*$", text, re.M | re.I)
    assert m, f"no {title} section"
    rest = text[m.end():]
    end = re.search(r"^#+\s", rest, re.M)
    return rest[:end.start()] if end else rest


@pytest.mark.parametrize("number", UPGRADED)
def test_title_and_goals(number):
    cells = _cells(number)
    assert cells[0].cell_type == "markdown"
    assert re.match(rf"# {number} · \S", cells[0].source), cells[0].source.splitlines()[0]
    assert 3 <= len(BULLET.findall(_section(cells, "Goals"))) <= 5


@pytest.mark.parametrize("number", UPGRADED)
def test_predict_then_step_tasks(number):
    """Each task: the widget shown since the previous task, the question, then an answer in a
    <details>, then a tagged check cell that steps (or runs) the Lab and asserts."""
    cells = _cells(number)
    tasks = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and PREDICT in c.source]
    assert len(tasks) >= 2, f"{len(tasks)} '{PREDICT}' tasks"
    start = 0
    for n, i in enumerate(tasks):
        end = tasks[n + 1] if n + 1 < len(tasks) else len(cells)
        answer = next((j for j in range(i, end) if cells[j].cell_type == "markdown"
                       and ANSWER.search(cells[j].source)), None)
        assert answer is not None, f"task {n + 1}: no <details><summary>Answer</summary>"
        check = next((j for j in range(answer, end) if _is_check(cells[j])), None)
        assert check is not None, f"task {n + 1}: no check cell after its answer"
        source = cells[check].source
        assert "assert" in source and re.search(r"\.(step|run)\(", source), \
            f"task {n + 1}: the check cell must step the Lab and assert"
        assert any(c.cell_type == "code" and ".widget()" in c.source
                   for c in cells[start:answer]), f"task {n + 1}: no live widget to step in"
        start = check + 1


@pytest.mark.parametrize("number", UPGRADED)
def test_every_check_cell_asserts(number):
    checks = [c for c in _cells(number) if _is_check(c)]
    assert checks
    for c in checks:
        assert re.search(r"^\s*assert\b", c.source, re.M), c.source[:80]


@pytest.mark.parametrize("number", UPGRADED)
def test_summary_and_self_check(number):
    cells = _cells(number)
    assert len(BULLET.findall(_section(cells, "Summary"))) >= 3
    self_check = _section(cells, "Self-check")
    questions = NUMBERED.findall(DETAILS.sub("", self_check))
    assert 3 <= len(questions) <= 5, f"{len(questions)} self-check questions"
    answers = DETAILS.findall(self_check)
    # one <details> per question, or one holding a numbered answer per question
    assert len(answers) >= len(questions) or \
        sum(len(NUMBERED.findall(a)) for a in answers) >= len(questions)


@pytest.mark.parametrize("number", UPGRADED)
def test_links_to_the_next_notebook(number):
    names = [p.name for p in NOTEBOOKS]
    index = names.index(_path(number).name)
    if index + 1 == len(names):
        return
    following = names[index + 1]
    text = "\n".join(c.source for c in _cells(number) if c.cell_type == "markdown")
    link = re.search(r"Next:\s*\[(\d\d) · [^\]]+\]\(([^)]+\.ipynb)\)", text)
    assert link, "no 'Next: [NN · title](file.ipynb)' link"
    assert link.group(1) == following[:2] and link.group(2) == following
