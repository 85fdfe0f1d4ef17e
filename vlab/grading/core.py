"""Exercises, scenarios, checks, and the report."""

from __future__ import annotations

import functools
import html
import importlib.util
import inspect
import json
import os
import re
import secrets
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from vlab.errors import BudgetExhausted, VlabError
from vlab.grading.isolation import BUBBLEWRAP, GRADER_UID, LANDLOCK, OWN_UID
from vlab.grading.sandbox import Student
from vlab.i18n import N_, speaking, spoken, tr


def _installed_exercises() -> Path | None:
    """The exercises that came with the installed package (``vlab.exercises``), if any."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("vlab.exercises")
    except ImportError:
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if locations else None


def exercise_roots() -> list[Path]:
    """Where exercises are looked for by name: ``$VLAB_EXERCISES`` (an instructor's folder, with
    its hidden scenarios), then the source checkout's ``exercises/``, then the public exercises
    installed with vlab."""
    roots = []
    if os.environ.get("VLAB_EXERCISES"):
        roots.append(Path(os.environ["VLAB_EXERCISES"]).expanduser())
    roots.append(Path(__file__).resolve().parents[2] / "exercises")
    installed = _installed_exercises()
    if installed is not None:
        roots.append(installed)
    return [r for i, r in enumerate(roots) if r.is_dir() and r.resolve() not in
            {x.resolve() for x in roots[:i]}]


#: The first place exercises are found by name (see :func:`exercise_roots`).
EXERCISES = next(iter(exercise_roots()), Path(__file__).resolve().parents[2] / "exercises")


# ---------------------------------------------------------------------------- checks
@dataclass
class Run:
    """What a scenario run produced, as the checks see it (the grader's own Lab objects)."""

    lab: Any
    reference: Any | None  # the same scenario with vlab's own handlers

    @property
    def console(self) -> str:
        return self.lab.console

    def exits(self) -> dict[str, int]:
        return self.lab.trace.counts()


@dataclass
class Check:
    """One observable outcome and its points. ``test(run)`` returns (passed, what went wrong),
    in the language the grading speaks (:func:`vlab.i18n.speaking`). ``description`` is the
    English text; a check built from a message with placeholders keeps it (``message``) and its
    ``args``, so that it can be said in another language (:meth:`describe`)."""

    description: str
    points: float
    test: Callable[[Run], tuple[bool, str]]
    message: str | None = None
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def said(cls, message: str, points: float, test: Callable[[Run], tuple[bool, str]],
             **args: Any) -> Check:
        """A check described by ``message`` (English, ``str.format`` placeholders) and ``args``."""
        return cls(message.format(**args), points, test, message, args)

    def describe(self) -> str:
        """The description in the current language (an exercise's own text too, when the
        catalogue has it)."""
        if self.message is None:
            return tr(self.description)
        return tr(self.message).format(**self.args)


def console_line_difference(got: str, want: str) -> str | None:
    """The first console line that differs (numbered from 1), or None if none does."""
    g, w = got.splitlines(), want.splitlines()
    for i in range(max(len(g), len(w))):
        a = g[i] if i < len(g) else tr("(nothing)")
        b = w[i] if i < len(w) else tr("(nothing)")
        if a != b:
            return tr("console line {line}: expected {want}, got {got}").format(
                line=i + 1, want=repr(b), got=repr(a))
    return None


def console_matches_reference(points: float, description: str | None = None) -> Check:
    def test(run: Run) -> tuple[bool, str]:
        found = console_line_difference(run.console, run.reference.console)
        return found is None, found or ""
    if description is not None:
        return Check(description, points, test)
    return Check.said(N_("console output is right"), points, test)


def console_contains(text: str, points: float) -> Check:
    def test(run: Run) -> tuple[bool, str]:
        return (text in run.console,
                tr("expected the console to contain {text}; it ends with {end}").format(
                    text=repr(text), end=repr(run.console[-120:])))
    return Check.said(N_("console shows {text}"), points, test, text=repr(text.strip()))


#: What a guest's end is called in feedback: its status, the kind of error that stopped it.
STATUS_WORDS = {"halted": N_("halted"), "running": N_("running")}
ERROR_KINDS = {
    "HandlerError": N_("a handler failed"),
    "BudgetExhausted": N_("the instruction budget is spent"),
    "TripleFault": N_("a triple fault: the guest's machine shut down"),
    "GuestFault": N_("the guest faulted"),
    "GuestException": N_("an exception the guest cannot handle"),
    "ProtectionFault": N_("a protection fault the guest cannot handle"),
    "InvalidOpcode": N_("an invalid opcode"),
    "UnmappedAccess": N_("an access outside the guest's memory"),
    "GuestHang": N_("the guest hangs"),
    "GuestError": N_("the guest stopped with an error"),
}


def stopped_with(lab) -> str:
    """How a guest's run ended, for feedback: its status or its error. The error's message is
    the machine's, in English: in another language its kind is said too."""
    if lab.error is None:
        return tr(STATUS_WORDS.get(lab.status, lab.status))
    kind = type(lab.error).__name__
    if kind in ERROR_KINDS and spoken() != "en":
        return tr("{error} ({kind}): {message}").format(error=kind, kind=tr(ERROR_KINDS[kind]),
                                                        message=lab.error)
    return f"{kind}: {lab.error}"


def halted(points: float, code: int = 0) -> Check:
    def test(run: Run) -> tuple[bool, str]:
        lab = run.lab
        if lab.status == "halted" and lab.exit_code == code:
            return True, ""
        return False, tr("expected the guest to reach its end (exit code {code}); it stopped "
                         "with {what}").format(code=code, what=stopped_with(lab))
    return Check.said(N_("the guest runs to its end"), points, test)


def exits_match_reference(reason: str, points: float) -> Check:
    def test(run: Run) -> tuple[bool, str]:
        got, want = run.exits().get(reason, 0), run.reference.trace.counts().get(reason, 0)
        return got == want, tr("expected {want} {reason} exits, got {got}").format(
            want=want, reason=reason, got=got)
    return Check.said(N_("as many {reason} exits as vlab's own handlers cause"), points, test,
                      reason=reason)


def memory_u32(symbol: str, expected: int, points: float, what: str) -> Check:
    def test(run: Run) -> tuple[bool, str]:
        got = run.lab.read_u32(run.lab.image.symbols[symbol])
        return got == expected & 0xFFFF_FFFF, tr("{what}: expected {want}, got {got}").format(
            what=tr(what), want=f"{expected & 0xFFFFFFFF:#x}", got=f"{got:#x}")
    return Check(what, points, test)


def custom(description: str, points: float, fn: Callable[[Run], tuple[bool, str]]) -> Check:
    return Check(description, points, fn)


# ---------------------------------------------------------------------------- scenarios
@dataclass
class Scenario:
    """A guest run under a strategy with the student's handlers installed, and its checks."""

    name: str
    guest: str  # a guest name, or a .S file in the exercise's guests/ folder
    strategy: str
    install: dict[str, Any]  # student handler name -> handler-table key
    checks: list[Check]
    visibility: str = "visible"  # "visible" | "hidden"
    budget: int = 2_000_000
    max_exits: int = 20_000  # a guest polling forever through a wrong handler stops here
    strategy_options: dict = field(default_factory=dict)
    setup: Callable[[Any], None] | None = None  # e.g. set VT-x controls
    directory: Path | None = None
    #: A guest label where the grader plants a fresh random number for each grading (the same
    #: in the student's run and the reference): output that depends on it cannot be replayed.
    seed_symbol: str | None = None
    #: Build symbols for a catalogued guest (``--defsym``), e.g. another sector count: the guest
    #: is assembled from its source with these beside its own, with the disk it comes with.
    defines: dict = field(default_factory=dict)
    #: the disk the guest gets (sectors, filled as vlab.hw.disk.pattern fills them); None: a
    #: catalogued guest's own, and none for a .S file
    disk: int | None = None
    #: An assembly exercise's program around the guest: ``program(guest_image, assembler)``
    #: returns the image to run, built with ``assembler`` (the student's: vlab.grading.asm),
    #: or with vlab's own parts when ``assembler`` is None (the reference run).
    program: Callable[[Any, Any], Any] | None = None

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def make_lab(self, assembler=None):
        """The scenario's Lab (for an assembly exercise: its program built with ``assembler``,
        the student's, or vlab's own parts when None)."""
        from vlab import guests
        from vlab.isa import assemble
        from vlab.lab import Lab

        guest, disk = self.guest, self.disk
        if self.guest.endswith(".S"):
            path = (self.directory or Path(".")) / "guests" / self.guest
            guest = assemble(path.read_text(), Path(self.guest).stem, include_dirs=[path.parent])
        elif self.defines:
            info = guests.info(self.guest)
            guest = assemble(info.source.read_text(), self.guest,
                             defines={**dict(info.defines), **self.defines},
                             include_dirs=[info.source.parent])
            disk = disk or info.disk or None
        if self.program is not None:
            if isinstance(guest, str):
                disk = disk or guests.info(guest).disk or None
                guest = guests.build(guest)
            guest = self.program(guest, assembler)
        lab = Lab(guest, self.strategy, budget=self.budget,
                  strategy_options=self.strategy_options, disk=disk)
        if self.setup is not None:
            self.setup(lab)
        return lab


class RemoteHandler:
    """Stands in the handler table for a student's function that runs in the sandbox."""

    def __init__(self, student: Student, name: str):
        self.student, self.__name__ = student, name

    def __call__(self, vcpu, exit_) -> None:
        self.student.call(self.__name__, vcpu, exit_)


#: A scenario's visibility, as the report names it.
VISIBILITY = {"visible": N_("visible"), "hidden": N_("hidden")}


@dataclass
class ScenarioResult:
    """One scenario's score and feedback. ``name`` is the scenario's (English: the key of a
    class's CSV); ``title`` is what the report shows, in its ``language`` (the feedback
    ``lines`` were written in it)."""

    name: str
    score: float
    max_score: float
    visibility: str
    lines: list[str]
    trace: list[str]
    title: str = ""
    language: str = "en"

    def __post_init__(self) -> None:
        self.title = self.title or self.name

    @property
    def visibility_text(self) -> str:
        """"visible" or "hidden", in the report's language."""
        return tr(VISIBILITY.get(self.visibility, self.visibility), self.language)

    @property
    def output(self) -> str:
        text = "\n".join(self.lines)
        if self.trace and self.score < self.max_score:
            text += "\n" + tr("last exits before the end:", self.language) + "\n" + \
                "\n".join(f"  {t}" for t in self.trace)
        return text


def _result(scenario: Scenario, score: float, lines: list[str], trace: list[str]) -> ScenarioResult:
    """A scenario's result, titled in the language the grading speaks."""
    return ScenarioResult(scenario.name, score, scenario.max_score, scenario.visibility, lines,
                          trace, tr(scenario.name), spoken())


def _seeded(scenario: Scenario, seed: int, assembler=None):
    lab = scenario.make_lab(assembler)
    if scenario.seed_symbol is not None:  # (the grader writes guest memory: an internal act)
        lab.machine.memory.write_physical(lab.image.symbols[scenario.seed_symbol],
                                          seed.to_bytes(4, "little"))
    return lab


def _run_scenario(scenario: Scenario, student: Student, references: dict) -> ScenarioResult:
    if scenario.name not in references:
        references[scenario.name] = (None, secrets.randbits(31))
    seed = references[scenario.name][1]
    lab = _seeded(scenario, seed)
    student.new_scenario()
    for name, key in scenario.install.items():
        lab.handlers[key] = RemoteHandler(student, name)
    return _judge(scenario, lab, references, seed)


def _run_program_scenario(scenario: Scenario, assembler, references: dict) -> ScenarioResult:
    """An assembly exercise's scenario: its program built with the student's file (in the
    sandbox), run in the grader's machine, judged against the same program built with vlab's
    own parts."""
    from vlab.errors import AssemblyError

    if scenario.name not in references:
        references[scenario.name] = (None, secrets.randbits(31))
    seed = references[scenario.name][1]
    try:
        lab = _seeded(scenario, seed, assembler)
    except (AssemblyError, VlabError) as e:  # nothing to run: every check of it fails
        why = tr("your file does not assemble") if isinstance(e, AssemblyError) else \
            tr("the program cannot be built")
        lines = [_failed(c, why) for c in scenario.checks]
        return _result(scenario, 0.0, lines + str(e).splitlines()[:MESSAGE_LINES + 2], [])
    return _judge(scenario, lab, references, seed)


MESSAGE_LINES = 20  # lines of an assembler's complaint in a scenario's feedback


def _judge(scenario: Scenario, lab, references: dict, seed: int) -> ScenarioResult:
    """Run ``lab`` (the student's) within the scenario's limits, the reference once, then the
    checks."""
    def cap(exit_) -> None:
        if lab.trace.total >= scenario.max_exits:
            raise BudgetExhausted(tr("the guest made {exits} exits without reaching its end (is "
                                     "it waiting for something your handler never gives "
                                     "it?)").format(exits=f"{scenario.max_exits:,}"),
                                  exit_.eip, exit_.instruction)

    lab.events.exit_recorded.connect(cap)
    try:
        lab.run()
    except VlabError:
        pass  # the lab records it (status, error); the checks judge it
    if references[scenario.name][0] is None:
        ref = _seeded(scenario, seed)
        try:
            ref.run()
        except VlabError:
            pass
        references[scenario.name] = (ref, seed)
    run = Run(lab, references[scenario.name][0])
    score, lines = 0.0, []
    for c in scenario.checks:
        try:
            ok, why = c.test(run)
        except Exception as e:  # a check that cannot even look: the outcome is missing
            ok, why = False, tr("could not check: {error}").format(
                error=f"{type(e).__name__}: {e}")
        if ok:
            score += c.points
            lines.append(tr("[pass] {check} (+{points})").format(check=c.describe(),
                                                                 points=f"{c.points:g}"))
        else:
            lines.append(_failed(c, why))
    trace = [tr("#{index} {reason} at {eip} {instruction} -> {handler}").format(
        index=e.index, reason=e.reason.name, eip=f"{e.eip:#010x}", instruction=e.instruction,
        handler=e.handler) for e in list(lab.trace.recent)[-5:]]
    return _result(scenario, score, lines, trace)


def _failed(check: Check, why: str) -> str:
    return tr("[fail] {check}: {why}").format(check=check.describe(), why=why)


# ---------------------------------------------------------------------------- exercises
#: What every handler may ask of the virtual CPU: its registers, its virtual state, guest memory,
#: advancing past the instruction, virtual time and notes for the trap log.
BASIC_OPS = frozenset({"reg", "set_reg", "virt", "set_virt", "mem_read", "mem_write", "skip",
                       "effective_if", "vtime", "note"})


def handler_ops(*extra: str) -> frozenset[str]:
    """The requests an exercise's handlers may make: :data:`BASIC_OPS` and the ``extra`` ones
    its task is about (e.g. "port_write" for a device, "hypercall" for paravirtualization)."""
    return BASIC_OPS | frozenset(extra)


@dataclass
class Exercise:
    """An exercise: task text, the handlers to write, and scenarios."""

    name: str
    title: str
    handlers: list[str]
    scenarios: list[Scenario]
    directory: Path | None = None
    #: The requests a submission may make of the virtual CPU (names of the sandbox's operations,
    #: e.g. "port_write", "mem_read", usually from :func:`handler_ops`); None: all of them. What
    #: the task does not need is refused, so a shortcut around the task (replaying the guest's
    #: output, stopping it early, injecting what it waits for) is too.
    allowed: frozenset[str] | None = None
    #: "python": the submission is a .py file of handlers, run in the sandbox; "assembly": one
    #: assembly file that the scenarios' programs include (``Scenario.program``) under the name
    #: ``submission_name``, assembled in the sandbox (:mod:`vlab.grading.asm`); ``handlers``
    #: then names the labels it must define.
    language: str = "python"
    submission_name: str | None = None

    @property
    def task(self) -> str:
        readme = (self.directory or Path(".")) / "README.md"
        return readme.read_text() if readme.exists() else self.title

    @property
    def max_score(self) -> float:
        return sum(s.max_score for s in self.scenarios)


def _load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_exercise(name: str | Path, hidden: bool = True) -> Exercise:
    """An exercise by folder name (``03-serial``) or path; hidden scenarios are added when the
    instructor's ``hidden/scenarios.py`` is present and readable."""
    path = Path(name)
    if not path.is_dir():
        roots = exercise_roots()
        path = next((r / str(name) for r in roots if (r / str(name) / "checks.py").exists()),
                    Path(str(name)))
    if not (path / "checks.py").exists():
        roots = exercise_roots()
        known = sorted({p.name for r in roots for p in r.iterdir() if (p / "checks.py").exists()})
        where = ", ".join(str(r) for r in roots) or tr("none (set VLAB_EXERCISES)")
        raise VlabError(tr("no exercise {name}; exercises: {known} (looked in: {where})").format(
            name=repr(str(name)), known=", ".join(known) or tr("none"), where=where))
    ex = _load_module(path / "checks.py", f"vlab_exercise_{path.name}").EXERCISE
    ex.directory = path
    secret = path / "hidden" / "scenarios.py"
    if hidden and secret.exists():
        try:
            ex.scenarios = ex.scenarios + _load_module(secret, f"vlab_hidden_{path.name}").SCENARIOS
        except PermissionError:
            pass
    for s in ex.scenarios:
        s.directory = path
    return ex


def grade(exercise: Exercise | str, submission: str | Path, hidden: bool = True,
          isolation: str = "required", lang: str | None = None) -> GradeReport:
    """Grade one submission file (a Python module defining the exercise's handlers).

    ``isolation``: "required" (the default, official grading: the submission runs in a
    bubblewrap sandbox or grading refuses), "best" (a sandbox if this machine has one, else
    resource limits only, and the report says so) or "none". ``lang``: the language of the
    feedback ("en", "zh"; None: the lab's, ``vlab.language()``); the scores are the same in
    every language."""
    with speaking(lang):
        return _grade(exercise, submission, hidden, isolation)


def _grade(exercise: Exercise | str, submission: str | Path, hidden: bool,
           isolation: str) -> GradeReport:
    ex = exercise if isinstance(exercise, Exercise) else load_exercise(exercise, hidden)
    submission = Path(submission)
    if submission.suffix == ".ipynb":  # only its definitions, parsed here, run in the sandbox
        from vlab.grading.notebook import handler_source

        with tempfile.TemporaryDirectory(prefix="vlab-notebook-") as tmp:
            source = Path(tmp) / "submission.py"
            source.write_text(handler_source(submission))
            return _grade(ex, source, hidden, isolation)
    started = time.monotonic()
    if ex.language == "assembly":
        return _grade_assembly(ex, submission, isolation, started)
    student = Student(submission, ex.handlers, isolation, ex.allowed)
    results, references = [], {}
    try:
        for scenario in ex.scenarios:
            results.append(_run_scenario(scenario, student, references))
    finally:
        problem = student.error
        output = student.close()
    return GradeReport(ex.name, results, output, problem, student.isolation,
                       time.monotonic() - started, spoken())


def _grade_assembly(ex: Exercise, submission: Path, isolation: str,
                    started: float) -> GradeReport:
    """An assembly exercise: each scenario's program is built with the submission, assembled
    in the sandbox (vlab.grading.asm), and run in the grader's machine."""
    from vlab.grading.asm import SubmissionAssembler

    assembler = SubmissionAssembler(submission, ex.submission_name or "submission.S", isolation)
    results, references = [], {}
    for scenario in ex.scenarios:
        results.append(_run_program_scenario(scenario, assembler, references))
    return GradeReport(ex.name, results, "", assembler.problem, assembler.isolation,
                       time.monotonic() - started, spoken())


OUTPUT_LIMIT = 8000  # characters of one test's feedback in results.json


def _bounded(text: str) -> str:
    """Feedback cut to a size Gradescope shows, the cut marked."""
    if len(text) <= OUTPUT_LIMIT:
        return text
    return text[:OUTPUT_LIMIT] + "\n" + tr("[... output truncated]")


def _plain(value: Any) -> bool:
    """A constant whose repr rebuilds it (numbers, strings, bytes, and containers of them)."""
    if isinstance(value, (int, float, str, bytes, bool, type(None))):
        return True
    if isinstance(value, (tuple, list, frozenset, set)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_plain(k) and _plain(v) for k, v in value.items())
    return False


def _sources(fn: Callable, seen: dict[str, str]) -> None:
    """The source of ``fn`` and of the helper functions and constants it uses (recursively)."""
    name = getattr(fn, "__name__", repr(fn))
    if name in seen:
        return
    try:
        seen[name] = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError) as e:
        raise VlabError(tr("cannot read the source of {name} ({error}); put your handlers in a "
                           ".py file and run `vlab grade`").format(name=repr(name), error=e)) \
            from None
    scope = getattr(fn, "__globals__", {})
    for used in fn.__code__.co_names:
        if used in seen or used not in scope:
            continue
        value = scope[used]
        if inspect.isfunction(value):
            _sources(value, seen)
        elif _plain(value):
            seen[used] = f"{used} = {value!r}\n"


def check(exercise: str, *handlers: Callable, hidden: bool = False,
          lang: str | None = None) -> GradeReport:
    """Grade handlers defined in a notebook: their source — with the helper functions and
    constants they use — is sent to the sandbox and graded like a file. ``lang``: the
    feedback's language (None: the lab's)."""
    seen: dict[str, str] = {}
    with speaking(lang):
        for fn in handlers:
            _sources(fn, seen)
    header = ["from vlab import qualification as q", "from vlab import ExitReason", ""]
    body = sorted(seen.items(), key=lambda kv: not kv[1].endswith("\n") or "def " in kv[1])
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write("\n".join(header + [src for _, src in body]))
    try:
        return grade(exercise, f.name, hidden=hidden, isolation="best", lang=lang)
    finally:
        Path(f.name).unlink(missing_ok=True)


@dataclass
class GradeReport:
    """Scores per scenario with feedback; text, HTML and Gradescope/otter JSON, in the
    ``language`` it was graded in."""

    exercise: str
    results: list[ScenarioResult]
    student_output: str = ""
    problem: str | None = None
    isolation: str = ""  # how the submission was isolated while it ran
    execution_time: float = 0.0  # seconds the grading took
    language: str = "en"  # the language of the feedback

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    @property
    def practice(self) -> bool:
        """Graded without a sandbox (a practice score)."""
        return self.isolation.startswith("not isolated")

    def isolation_text(self) -> str:
        """How the submission was isolated, in the report's language (a sandbox's own
        description of itself stays as the machine wrote it)."""
        return isolation_words(self.isolation, self.language)

    def to_json(self) -> dict[str, Any]:
        """Gradescope's results.json (also read by otter-grader)."""
        with speaking(self.language):
            tests = [{"name": r.title, "score": r.score, "max_score": r.max_score,
                      "output": _bounded(r.output), "visibility": "visible"
                      if r.visibility == "visible" else "after_published"} for r in self.results]
            out = {"score": self.score, "max_score": self.max_score, "tests": tests,
                   "execution_time": round(self.execution_time, 3)}
            notes = []
            if self.problem:
                notes.append(tr("problem: {problem}").format(problem=self.problem))
            if self.student_output:
                notes.append(tr("your program printed:") + "\n" + self.student_output)
            if self.practice:
                notes.append(tr("practice score: {how}").format(how=self.isolation_text()))
            elif self.isolation.startswith("Landlock"):  # the weaker sandbox: say which one it was
                notes.append(tr("sandbox: {how}").format(how=self.isolation_text()))
        if notes:
            out["output"] = "\n".join(notes)
        return out

    def write(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2))

    def __str__(self) -> str:
        with speaking(self.language):
            lines = [tr("{exercise}: {score}").format(exercise=self.exercise,
                                                       score=_score(self.score, self.max_score))]
            for r in self.results:
                lines.append("\n" + tr("{scenario} ({visibility}): {score}").format(
                    scenario=r.title, visibility=r.visibility_text,
                    score=_score(r.score, r.max_score)))
                lines.extend("  " + x for x in r.output.splitlines())
            if self.problem:
                lines.append("\n" + tr("problem: {problem}").format(problem=self.problem))
            if self.practice:
                lines.append("\n" + tr("practice score: {how}").format(how=self.isolation_text()))
            elif self.isolation:
                lines.append("\n" + tr("sandbox: {how}").format(how=self.isolation_text()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        # Every style inline and explicit: JupyterLab's output area right-aligns table cells,
        # centres tables and lets a column shrink to one word (a score stacked one character a
        # line). Here every cell is left-aligned, a score never wraps, feedback wraps between
        # words only, and the table sits in a shrink-to-fit block, so centring moves nothing.
        text = ("text-align:left;white-space:normal;word-break:normal;overflow-wrap:normal;"
                "hyphens:none")
        cell = f"{text};vertical-align:top;padding:2px 12px 2px 0;border:none"
        pre = ("margin:0 0 6px 0;text-align:left;white-space:pre-wrap;word-break:normal;"
               "overflow-wrap:normal;overflow-x:auto;max-width:100%")
        esc = html.escape
        rows = []
        with speaking(self.language):
            for r in self.results:
                colour = "#2ca02c" if r.score == r.max_score else ("#d62728" if r.score == 0
                                                                   else "#ff7f0e")
                rows.append(
                    f"<tr><td style='{cell};border-left:4px solid {colour};padding-left:8px'>"
                    f"<b>{esc(r.title)}</b> <span style='color:#888'>"
                    f"{esc(tr('({visibility})').format(visibility=r.visibility_text))}</span></td>"
                    f"<td style='{cell};white-space:nowrap'><span class='vlab-score' style='"
                    f"white-space:nowrap;color:{colour};font-weight:bold'>{r.score:g} / "
                    f"{r.max_score:g}</span></td></tr>"
                    f"<tr><td colspan=2 style='{cell};border-left:4px solid {colour};"
                    f"padding-left:8px'><pre style='{pre}'>{esc(r.output)}</pre></td></tr>")
            notes = ""
            if self.problem:
                notes += (f"<div style='{text};margin-top:6px'><b>{esc(tr('problem:'))}</b> "
                          f"{esc(self.problem)}</div>")
            if self.isolation:
                label = tr("practice score: {how}") if self.practice else tr("sandbox: {how}")
                notes += (f"<div style='{text};margin-top:6px;color:#888'>"
                          f"{esc(label.format(how=self.isolation_text()))}</div>")
            score = tr("{exercise}: {score}")
        head = esc(score).format(exercise=esc(self.exercise), score=(
            "<span class='vlab-score' style='white-space:nowrap'>"
            f"{_score(self.score, self.max_score)}</span>"))
        return (f"<div class='vlab-grade' style='display:block;{text};max-width:100%' "
                f"lang='{self.language}'><div style='{text};font-weight:bold;font-size:1.1em'>"
                f"{head}</div>"
                f"<div style='display:inline-block;max-width:100%;{text}'><table>{''.join(rows)}"
                f"</table></div>{notes}</div>")


def _score(score: float, max_score: float) -> str:
    """``3 / 5`` (the same in every language)."""
    return f"{score:g} / {max_score:g}"


#: How a submission was isolated, as the sandbox says it (English), and in other words.
_NOT_ISOLATED = (
    ("not isolated (practice run: resource limits only; ", N_("not isolated (practice run: "
                                                             "resource limits only; {how})")),
    ("not isolated (practice run: resource limits only", N_("not isolated (practice run: "
                                                           "resource limits only)")),
    ("not isolated (practice run: the submission was assembled without a sandbox; ",
     N_("not isolated (practice run: the submission was assembled without a sandbox; {how})")),
    ("not isolated (practice run: the submission was assembled without a sandbox",
     N_("not isolated (practice run: the submission was assembled without a sandbox)")),
    ("assembled in the sandbox: ", N_("assembled in the sandbox: {how}")),
)


def isolation_words(isolation: str, language: str) -> str:
    """How a submission was isolated (``Student.isolation``, English) in ``language``. What
    the sandbox says of itself is said again from its message (vlab.grading.isolation); what
    Landlock lists of a kernel stays as it wrote it."""
    for prefix, message in _NOT_ISOLATED:
        if isolation.startswith(prefix):
            how = isolation[len(prefix):]
            how = how[:-1] if how.endswith(")") and "{how})" in message else how
            return tr(message, language).format(how=isolation_words(how, language))
    for message in (BUBBLEWRAP, LANDLOCK):
        found = _pattern(message).fullmatch(isolation)
        if found:
            args = {k: tr(v, language) if v in (OWN_UID, GRADER_UID) else v
                    for k, v in found.groupdict().items()}
            return tr(message, language).format(**args)
    return isolation


@functools.cache
def _pattern(message: str) -> re.Pattern:
    """A regular expression matching ``message`` formatted, a group for each placeholder."""
    parts = re.split(r"\{(\w+)\}", message)
    return re.compile("".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)"
                              for i, p in enumerate(parts)))
