"""The recorded score of an otter-grader assignment, computed outside the student's kernel.

``otter run`` (and otter's autograder on Gradescope) executes the submitted notebook in a Jupyter
kernel and runs the question's tests there, after the student's own cells: a cell that replaces
``vlab.grading.check`` gets full marks. The student can reach further: otter's autograder process
(``otter run`` itself) unpickles the results the kernel writes and loads the submission's
``.OTTER_LOG``, a pickle too; and the kernel starts in the submission's folder, so a file there
named like a module the kernel imports (``ipykernel_launcher.py``) replaces it. Either way the
student's code runs in the autograder process and can change a grade computed after it
(tests/test_course_formats.py tries these with the real otter). This plugin, named in the
notebook's assignment config, gives the question a score from the sandbox instead:

* ``before_grading``: the submission's folder keeps the submitted file and otter's copy of the
  tests, nothing else the student sent (a log, a module);
* ``before_execution``: otter's kernel gets an empty notebook, so no code the student wrote runs
  outside vlab's sandbox (the question's tests fail there; in the student's notebook they are
  feedback while working);
* ``after_grading``, in the autograder process: the submitted file is graded by
  :func:`vlab.grading.grade` (its definitions, parsed, run in the sandbox) and its report becomes
  the question's result: a test case per scenario with its feedback (hidden scenarios are hidden
  test cases), the score scaled to the question's points.

    # ASSIGNMENT CONFIG
    plugins:
      - vlab.grading.otter.VlabPlugin:
          exercise: 03-serial   # one of vlab's exercises, or an absolute path to one
          question: serial
          lang: zh              # the feedback's language (optional; default: English)

So an assignment that uses this plugin is graded by vlab alone: other questions' tests run
against the empty notebook and score nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import nbformat
from otter.plugins import AbstractOtterPlugin
from otter.test_files import GradingResults
from otter.test_files.abstract_test import TestCase, TestCaseResult

from vlab.errors import VlabError
from vlab.grading.core import GradeReport, ScenarioResult, grade, load_exercise
from vlab.grading.isolation import IsolationUnavailable
from vlab.i18n import tr


class VlabPlugin(AbstractOtterPlugin):
    """Grades the submission in vlab's sandbox; see the module's docstring."""

    def __init__(self, submission_path: str | None, submission_metadata: dict[str, Any],
                 plugin_config: Any):
        super().__init__(submission_path, submission_metadata, plugin_config)
        config = plugin_config if isinstance(plugin_config, dict) else {}
        if not isinstance(config.get("exercise"), str) or not isinstance(config.get("question"), str):
            raise VlabError("vlab.grading.otter.VlabPlugin needs an exercise and a question in its "
                            "config, e.g. {'vlab.grading.otter.VlabPlugin': {'exercise': "
                            "'03-serial', 'question': 'serial'}}")
        exercise = Path(config["exercise"])  # (never looked up in the submission's folder)
        self.exercise = load_exercise(exercise)
        self.question: str = config["question"]
        self.lang = config.get("lang") if isinstance(config.get("lang"), str) else None

    def before_grading(self, config: Any) -> None:
        submitted = Path(self.submission_path)
        for entry in submitted.parent.iterdir():
            if entry == submitted or entry.name == "tests":
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    def before_execution(self, submission: Any) -> nbformat.NotebookNode:
        return nbformat.v4.new_notebook()

    def after_grading(self, results: GradingResults) -> None:
        if self.question not in results.test_files:
            raise VlabError(f"otter graded no question {self.question!r} (questions: "
                            f"{', '.join(results.test_files) or 'none'})")
        question = results.get_result(self.question)
        points = question.possible
        try:
            report = grade(self.exercise, self.submission_path, lang=self.lang or "en")
        except IsolationUnavailable:
            raise  # the grading machine's problem, not the student's
        except VlabError as e:
            lang = self.lang or "en"
            report = GradeReport(self.exercise.name, [ScenarioResult(
                "vlab grade", 0.0, self.exercise.max_score, "visible",
                [tr("vlab could not grade this notebook: {error}", lang).format(error=e)], [],
                language=lang)], language=lang)
        scale = points / report.max_score if report.max_score else 0.0
        question.test_cases = [TestCase(r.name, "vlab grade", r.visibility == "hidden",
                                        r.max_score * scale, None, None) for r in report.results]
        question.test_case_results = [TestCaseResult(case, r.output, r.score == r.max_score)
                                      for case, r in zip(question.test_cases, report.results, strict=True)]
        question.update_score(report.score * scale)
