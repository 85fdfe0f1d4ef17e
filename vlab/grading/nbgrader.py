"""The recorded score of an nbgrader assignment, computed outside the student's kernel.

``nbgrader autograde`` runs each submitted notebook in a kernel the student's own cells have
prepared: a cell that replaces ``vlab.grading.check`` before the autograder cell gets full marks
there (tests/test_course_formats.py shows it with the real nbgrader). So the in-notebook
autograder cell is feedback only, and the score nbgrader records comes from here: each submitted
notebook is graded by ``vlab grade`` (its definitions, parsed, run in the sandbox) and the result
is written into nbgrader's gradebook as the grade cell's score (nbgrader's ``manual_score``
overrides the autograded one), with the feedback as its comment.

    vlab nbgrader 03-serial --course course/ --assignment ps1 --notebook serial \\
        --cell serial_autograde
"""

from __future__ import annotations

from pathlib import Path

from vlab.errors import VlabError
from vlab.grading.core import grade, load_exercise
from vlab.i18n import speaking, tr


def record(exercise: str | Path, course: str | Path, assignment: str, notebook: str,
           cell: str, isolation: str = "required", lang: str | None = None) -> dict[str, float]:
    """Grade every ``submitted/<student>/<assignment>/<notebook>.ipynb`` of the nbgrader course
    at ``course`` and record the score of grade cell ``cell``, with the feedback in ``lang``
    (None: the lab's language). Returns student -> score."""
    with speaking(lang):
        return _record(exercise, course, assignment, notebook, cell, isolation)


def _record(exercise: str | Path, course: str | Path, assignment: str, notebook: str,
            cell: str, isolation: str) -> dict[str, float]:
    try:
        from nbgrader.api import Gradebook, MissingEntry
    except ImportError:
        raise VlabError(tr("nbgrader is not installed (pip install nbgrader)")) from None
    course = Path(course)
    ex = load_exercise(exercise)
    scores: dict[str, float] = {}
    with Gradebook(f"sqlite:///{(course / 'gradebook.db').resolve()}") as gb:
        for path in sorted(course.glob(f"submitted/*/{assignment}/{notebook}.ipynb")):
            student = path.parts[-3]
            try:
                entry = gb.find_grade(cell, notebook, assignment, student)
            except MissingEntry:
                raise VlabError(tr("{student}: no grade cell {cell} in {notebook}.ipynb of "
                                   "{assignment} (run `nbgrader autograde {assignment}` "
                                   "first)").format(student=student, cell=repr(cell),
                                                    notebook=notebook, assignment=assignment)) \
                    from None
            try:
                report = grade(ex, path, isolation=isolation)
                score = report.score / report.max_score * entry.max_score if report.max_score \
                    else 0.0
                feedback = str(report)
            except VlabError as e:
                score, feedback = 0.0, tr("vlab could not grade this notebook: {error}").format(
                    error=e)
            entry.manual_score = score
            try:  # (a grade cell has a comment entry only if nbgrader made one for it)
                gb.find_comment(cell, notebook, assignment, student).manual_comment = \
                    feedback[:5000]
            except MissingEntry:
                pass
            gb.db.commit()
            scores[student] = score
    return scores

