"""Graded exercises: students write trap handlers, the autograder checks what they do.

An :class:`Exercise` is a task text, the handler(s) the student writes (the same signature as
vlab's own: ``handler(vcpu, exit)``), and :class:`Scenario` s: a guest, a strategy, the student's
handlers installed in place of vlab's, and checks on observable outcomes (console, registers,
virtual state, exit counts, that the guest halted), each worth points. The submission runs in its
own sandboxed process (:mod:`vlab.grading.sandbox`); the guest, the checks and the score stay in
the grader's process. Results: :class:`GradeReport` (notebook display, text, Gradescope/otter
``results.json``).

    vlab.grading.check("03-serial", handle_in, handle_out)        # in a notebook
    vlab grade exercises/03-serial submission.py --results r.json  # command line
    vlab grade exercises/03-serial submissions/ --jobs 4           # a whole class
"""

from __future__ import annotations

from vlab.grading.core import (
           Check,
           Exercise,
           GradeReport,
           Scenario,
           ScenarioResult,
           check,
           grade,
           load_exercise,
)

__all__ = ["Check", "Exercise", "GradeReport", "Scenario", "ScenarioResult", "check", "grade",
           "load_exercise"]
