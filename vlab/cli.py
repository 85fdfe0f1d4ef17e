"""The ``vlab`` command: run guests, list them, grade submissions, check the machine (doctor).

Exit codes (also in ``vlab --help``): 0 the guest halted (``run``) or the results were written
(``grade``, whatever the score); 1 the guest ended in an error (a triple fault, an invalid
opcode, its instruction budget ...); 2 a usage or set-up error (an unknown guest, strategy or
option, a file that is not there); 130 interrupted (Ctrl-C). With ``--json``, ``run`` prints
exactly one JSON object in every case, errors included (``status``, ``error``).
"""

from __future__ import annotations

import argparse
import json
import sys

from vlab import __version__
from vlab.i18n import LANGUAGES, speaking, tr
from vlab.strategies import STRATEGIES

EXIT_CODES = """exit codes:
  0    the guest halted (run); the results were written, whatever the score (grade)
  1    the guest ended in an error: triple fault, invalid opcode, budget exhausted ...
  2    usage or set-up error: unknown guest, strategy or option, missing file ...
  130  interrupted (Ctrl-C); the run stops cleanly"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error under ``--json`` is one JSON object too."""

    json_errors = False

    def error(self, message: str):
        if _Parser.json_errors:
            print(json.dumps(_error_result(f"{self.prog}: {message}")))
            sys.exit(2)
        super().error(message)


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of instructions")
    return value


def _option(text: str) -> tuple[str, object]:
    """KEY=VALUE: on/off, true/false, yes/no are booleans, digits an integer, else the text."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. ept=off")
    words = {"on": True, "true": True, "yes": True, "off": False, "false": False, "no": False}
    if value.lower() in words:
        return key, words[value.lower()]
    return key, int(value) if value.isdigit() else value


def _error_result(message: str, guest: str | None = None, strategy: str | None = None) -> dict:
    return {"guest": guest, "strategy": strategy, "status": "error", "exit_code": None,
            "console": "", "instructions": 0, "exits": {}, "monitor_entries": 0, "callouts": 0,
            "inline": 0, "memory": {}, "error": message}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    _Parser.json_errors = "--json" in argv
    parser = _Parser(prog="vlab", description="vlab: a lab for x86 virtualization",
                     epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"vlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a guest under a strategy", epilog=EXIT_CODES,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    what = run.add_mutually_exclusive_group()
    what.add_argument("--guest", default="kernel", help="a guest from 'vlab guests' (default kernel)")
    what.add_argument("--image", help="a flat 32-bit image file, loaded and started at 0x100000")
    run.add_argument("--strategy", default="native", choices=list(STRATEGIES),
                     help="the strategy (default native)")
    run.add_argument("--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
                     help="a strategy option, repeatable: vtx: ept=on|off, generation=recent|"
                          "first; binary_translation: profile=on; paravirt: fast_trap=on|off")
    run.add_argument("--max-instructions", type=_positive, default=50_000_000, metavar="N",
                     help="instruction budget (default 50,000,000)")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object, "
                     "errors included")

    gr = sub.add_parser("grade", help="grade a submission (or a folder of them) for an exercise")
    gr.add_argument("exercise", help="an exercise folder, e.g. exercises/03-serial, or its name")
    gr.add_argument("submission", help="a .py or .ipynb file (an assembly exercise: .S); a folder "
                    "of submissions (a class); with --results, a folder holding one submission "
                    "(Gradescope's layout)")
    gr.add_argument("--results", help="write Gradescope/otter results.json here (one submission)")
    gr.add_argument("--out", default="grades", help="folder for a class's results (default grades/)")
    gr.add_argument("--jobs", type=_positive, default=1, help="parallel processes for a class")
    gr.add_argument("--public", action="store_true", help="only the public scenarios")
    gr.add_argument("--unsafe", action="store_true",
                    help="grade even where no sandbox is available (the submission then runs "
                         "with resource limits only: never on a machine that matters)")
    gr.add_argument("--lang", choices=list(LANGUAGES), default=None,
                    help="the language of the feedback: en (English) or zh (中文); default "
                         "$VLAB_LANG, else en. The scores are the same in every language")

    gs = sub.add_parser("gradescope", help="build a Gradescope autograder for an exercise")
    gs.add_argument("exercise", help="an exercise folder, or its name")
    gs.add_argument("-o", "--output", default="autograder.zip", help="the zip to write")

    nbg = sub.add_parser("nbgrader", help="record an nbgrader assignment's scores from the "
                         "sandbox (the in-notebook autograder cell is then feedback only)")
    nbg.add_argument("exercise", help="an exercise folder, or its name")
    nbg.add_argument("--course", default=".", help="the nbgrader course directory")
    nbg.add_argument("--assignment", required=True)
    nbg.add_argument("--notebook", required=True, help="the notebook's name, without .ipynb")
    nbg.add_argument("--cell", required=True, help="the grade cell's grade_id")
    nbg.add_argument("--lang", choices=list(LANGUAGES), default=None,
                     help="the language of the feedback recorded (default $VLAB_LANG, else en)")

    doc = sub.add_parser("doctor", help="check that this machine has what vlab needs, and say "
                         "how to get what is missing")
    doc.add_argument("--json", action="store_true", help="print one JSON object")

    g = sub.add_parser("guests", help="list the guests, or diff two builds")
    g.add_argument("action", nargs="?", choices=["diff"], help="diff A B: what changed in the "
                   "source between two guests (e.g. kernel kernel-pv)")
    g.add_argument("names", nargs="*")
    args = parser.parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("vlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # (the reader went away: `vlab run | head`)
        sys.stdout = None  # nothing more to flush at exit
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "grade":
        return _grade(args)
    if args.command == "gradescope":
        return _gradescope(args)
    if args.command == "nbgrader":
        return _nbgrader(args)
    if args.command == "doctor":
        return _doctor(args)
    if args.command == "guests":
        if args.action == "diff":
            return _diff(args.names)
        return _guests()
    return _run(args)


def _doctor(args: argparse.Namespace) -> int:
    """Each thing vlab needs: found or not, what it is for, and how to get it."""
    import shutil
    from importlib import metadata

    checks: list[dict] = []

    def check(name: str, needed_for: str, required: bool, probe, fix: str) -> None:
        try:
            ok, detail = probe()
        except Exception as e:  # a probe that fails is a finding, not a crash
            ok, detail = False, f"{type(e).__name__}: {e}"
        checks.append({"name": name, "ok": bool(ok), "required": required, "detail": detail,
                       "needed_for": needed_for, "fix": None if ok else fix})

    def tools(*names):
        missing = [n for n in names if shutil.which(n) is None]
        return not missing, (f"missing: {', '.join(missing)}" if missing
                             else ", ".join(shutil.which(n) for n in names))

    def core():
        from vlab.hw.core import Core

        Core()
        return True, f"unicorn {metadata.version('unicorn')} passes vlab's self-test"

    def capstone():
        from vlab.isa import decoder

        decoder()
        return True, f"capstone {metadata.version('capstone')}"

    def guest():
        from vlab.lab import Lab

        lab = Lab("kernel")
        lab.run()
        return lab.status == "halted", f"the teaching kernel ran: {lab.status}, " \
                                       f"{lab.instructions:,} instructions"

    def counter():
        from vlab.hw import blocks

        kind, how = blocks.mode()
        return kind == "blocks", how

    def registers():
        from vlab.hw.core import Core

        found = Core().state is not None
        return found, ("Unicorn's CPU state found and checked: registers read at memory speed"
                       if found else "not found: registers go through Unicorn's C API (slower)")

    def sandbox():
        from vlab.grading.isolation import isolation

        kind, how = isolation()
        return kind != "none", how

    def kernelspec():
        from jupyter_client.kernelspec import KernelSpecManager

        where = KernelSpecManager().find_kernel_specs().get("vlab")
        return where is not None, where or "not installed"

    def exercises():
        from vlab.grading.core import exercise_roots

        roots = exercise_roots()
        names = sorted({p.name for r in roots for p in r.iterdir() if (p / "checks.py").exists()})
        hidden = sum(1 for r in roots for p in r.iterdir() if (p / "hidden").is_dir())
        return bool(names), (f"{len(names)} exercises in {', '.join(map(str, roots))}; "
                             f"{hidden} with hidden scenarios" if names else "none found")

    apt = "apt-get install -y"
    check("binutils", "assembling every guest (as, ld, objcopy, nm)", True,
          lambda: tools("as", "ld", "objcopy", "nm"), f"{apt} binutils")
    check("unicorn", "the emulated CPU", True, core, "pip install 'unicorn>=2.1,<2.2'")
    check("capstone", "disassembly", True, capstone, "pip install 'capstone>=5,<6'")
    check("a guest run", "everything", True, guest, "fix the items above")
    check("fast counter", "exact instruction counts at full speed, and interrupts delivered in "
          "C (else Unicorn's count= mode, ~10x slower, and delivery in Python)", False, counter,
          f"{apt} gcc, then python -m vlab.hw.blocks")
    check("fast registers", "traps and VM exits at full speed (else about 1.5x slower)", False,
          registers, "pip install 'unicorn>=2.1,<2.2' (the series vlab's probe knows)")
    check("graphviz", "architecture diagrams (else their DOT text is shown)", False,
          lambda: tools("dot"), f"{apt} graphviz")
    check("sandbox", "grading submissions (vlab grade)", False, sandbox,
          f"{apt} bubblewrap (and allow unprivileged user namespaces)")
    check("system python", "the grader's sandboxed interpreter", False,
          lambda: (shutil.which("python3", path="/usr/bin") is not None, "/usr/bin/python3"),
          f"{apt} python3")
    check("jupyter kernel", "the x86 (vlab) kernel in Jupyter", False, kernelspec,
          "python -m vlab.ui.kernel install --sys-prefix")
    check("exercises", "vlab grade EXERCISE by name", False, exercises,
          "set VLAB_EXERCISES to the course's exercises folder")
    healthy = all(c["ok"] for c in checks if c["required"])
    if args.json:
        print(json.dumps({"ok": healthy, "checks": checks}))
    else:
        for c in checks:
            mark = "ok " if c["ok"] else ("MISSING" if c["required"] else "warning")
            print(f"{mark:8} {c['name']:15} {c['detail']}")
            if not c["ok"]:
                print(f"{'':24} needed for {c['needed_for']}; to fix: {c['fix']}")
        print("vlab is ready" if healthy else "vlab cannot run here until the MISSING items are "
              "fixed")
    return 0 if healthy else 1


def _guests() -> int:
    from vlab import guests

    for g in guests.catalog().values():
        print(f"{g.name:24} {g.description}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    """``vlab grade``: its feedback, and what it says here, in ``--lang``."""
    with speaking(args.lang):
        return _grade_in_language(args)


def _grade_in_language(args: argparse.Namespace) -> int:
    from pathlib import Path

    from vlab.errors import VlabError
    from vlab.grading import grade, load_exercise
    from vlab.grading.batch import grade_class, submission_file

    isolation = "required"
    if args.unsafe:
        from vlab.grading.isolation import isolation as available

        isolation = "best"
        if available()[0] == "none":
            print(tr("vlab: WARNING: grading WITHOUT isolation (--unsafe): the submissions run "
                     "as ordinary processes with resource limits only ({how})").format(
                how=available()[1]), file=sys.stderr)
    try:
        target = Path(args.submission)
        if target.is_dir() and not args.results:  # a class: one folder or file per student
            csv_path = grade_class(args.exercise, target, args.out, args.jobs, isolation,
                                   lang=args.lang)
            print(csv_path.read_text(), end="")
            print(tr("results: {results}, summary: {summary}").format(
                results=Path(args.out) / "<student>.json", summary=csv_path))
            return 0
        if target.is_dir():  # one submission handed over as a folder (Gradescope's layout)
            target = submission_file(target)
        if not target.is_file():
            print(tr("vlab: no submission {path}").format(path=repr(str(target))),
                  file=sys.stderr)
            return 2
        report = grade(load_exercise(args.exercise, hidden=not args.public), target,
                       isolation=isolation, lang=args.lang)
    except VlabError as e:
        print(f"vlab: {e}", file=sys.stderr)
        return 2
    print(report)
    if args.results:
        report.write(args.results)
    return 0  # graded (whatever the score: an autograder script with `set -e` goes on)


def _nbgrader(args: argparse.Namespace) -> int:
    from vlab.errors import VlabError
    from vlab.grading.nbgrader import record

    try:
        scores = record(args.exercise, args.course, args.assignment, args.notebook, args.cell,
                        lang=args.lang)
    except VlabError as e:
        print(f"vlab: {e}", file=sys.stderr)
        return 2
    for student, score in scores.items():
        print(f"{student}: {score:g}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from vlab.errors import VlabError
    from vlab.grading.gradescope import build

    try:
        path = build(args.exercise, args.output)
    except VlabError as e:
        print(f"vlab: {e}", file=sys.stderr)
        return 2
    print(f"{path}: upload it as the assignment's autograder (Gradescope: Configure Autograder, "
          "zip file); it holds the hidden scenarios, so keep it from students")
    return 0


def _diff(names: list[str]) -> int:
    from vlab import guests
    from vlab.errors import VlabError

    if len(names) != 2:
        print("vlab: usage: vlab guests diff GUEST_A GUEST_B (e.g. kernel kernel-pv)",
              file=sys.stderr)
        return 2
    try:
        sys.stdout.write(guests.diff(*names))
    except VlabError as e:
        print(f"vlab: {e}", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> int:
    from vlab.errors import VlabError
    from vlab.lab import Lab

    guest = args.image or args.guest
    try:
        lab = Lab(guest=args.guest, strategy=args.strategy, image=args.image,
                  budget=args.max_instructions, strategy_options=dict(args.option))
    except (VlabError, OSError) as e:
        message = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) else str(e)
        if args.json:
            print(json.dumps(_error_result(message, guest, args.strategy)))
        else:
            print(f"vlab: {message}", file=sys.stderr)
        return 2
    interrupted = False
    try:
        lab.run()
    except VlabError:
        pass  # recorded in lab.status / lab.error
    except KeyboardInterrupt:
        interrupted = True  # the machine stopped between two instructions: report where
    result = lab.summary()
    if interrupted:
        result["status"], result["error"] = "interrupted", "interrupted (Ctrl-C)"
    if args.json:
        print(json.dumps(result))
    else:
        sys.stdout.write(result["console"])
        if result["console"] and not result["console"].endswith("\n"):
            print()
        print(f"--- {result['guest']} under {result['strategy']}: {result['status']}"
              + (f", exit code {result['exit_code']}" if result["exit_code"] is not None else "")
              + f", {result['instructions']:,} instructions")
        if result["exits"]:
            print("exits: " + ", ".join(f"{k} {v}" for k, v in result["exits"].items()))
        if result["error"]:
            print(f"error: {result['error']}")
    if interrupted:
        return 130
    return 0 if result["status"] == "halted" else 1


if __name__ == "__main__":
    sys.exit(main())
