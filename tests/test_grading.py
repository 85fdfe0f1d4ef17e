"""The autograder: reference solutions score full marks, typical mistakes lose points with the
right feedback, and hostile submissions cannot raise their score."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vlab.errors import VlabError
from vlab.grading import check, grade, load_exercise
from vlab.grading.batch import grade_class

ROOT = Path(__file__).parents[1]
SOLUTIONS = Path(__file__).parent / "solutions"
EXERCISES_DIR = Path(__file__).parents[1] / "exercises"
EXERCISES = {"01-cli-sti": "s01_cli_sti", "02-hlt": "s02_hlt", "03-serial": "s03_serial",
             "04-cpuid": "s04_cpuid", "05-cr": "s05_cr", "06-bt-popf": "s06_bt_popf",
             "07-vtx-exits": "s07_vtx_exits", "08-hypercall": "s08_hypercall",
             "09-ept": "s09_ept", "10-blk-ring": "s10_blk_ring"}


def _file(tmp_path, source: str) -> Path:
    path = tmp_path / "submission.py"
    path.write_text(textwrap.dedent(source))
    return path


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_reference_solution_scores_full_marks(exercise):
    report = grade(exercise, SOLUTIONS / f"{EXERCISES[exercise]}.py")
    assert report.score == report.max_score > 0, str(report)
    assert any(r.visibility == "hidden" for r in report.results)


def _variant(exercise: str, old: str, new: str) -> str:
    source = (SOLUTIONS / f"{EXERCISES[exercise]}.py").read_text()
    assert old in source, (exercise, old)
    return source.replace(old, new)


WRONG = [  # (exercise, the mistake, replaced text, replacement, expected feedback)
    ("01-cli-sti", "forgets to advance EIP", "    vcpu.virt.IF = False\n    vcpu.skip()",
     "    vcpu.virt.IF = False", "must advance past 'cli'"),
    ("01-cli-sti", "swaps the flag", "vcpu.virt.IF = True", "vcpu.virt.IF = False",
     "HLT with no interrupt"),
    ("01-cli-sti", "STI forgets the flag", "    vcpu.virt.IF = True\n", "",
     "HLT with no interrupt"),
    ("02-hlt", "spins instead of halting", "    vcpu.halt()", "    pass", "HLT exits"),
    ("02-hlt", "halts without advancing", "    vcpu.skip()\n", "", "must advance past 'hlt'"),
    ("02-hlt", "raises", "    vcpu.halt()", "    raise RuntimeError('oops')",
     "handle_hlt raised RuntimeError: oops"),
    ("03-serial", "LSR says busy", "0x60 if port == 0x3FD", "0x00 if port == 0x3FD",
     "BudgetExhausted"),
    ("03-serial", "wrong operand size", "REG = {1: \"al\", 2: \"ax\", 4: \"eax\"}",
     "REG = {1: \"eax\", 2: \"eax\", 4: \"eax\"}", "console line"),
    ("03-serial", "forgets to advance EIP", "    vcpu.port_write(port, size, value)\n    vcpu.skip()",
     "    vcpu.port_write(port, size, value)\n        return", "must advance"),
    ("04-cpuid", "forgets to advance EIP", "    vcpu.skip()", "    pass", "must advance past 'cpuid'"),
    ("04-cpuid", "leaves VMX visible", "(ecx & ~(1 << 5)) | (1 << 31)", "ecx | (1 << 31)",
     "VMX: 0 hypervisor: 1"),
    ("04-cpuid", "does not advertise the hypervisor", "(ecx & ~(1 << 5)) | (1 << 31)",
     "ecx & ~(1 << 5)", "VMX: 0 hypervisor: 1"),
    ("04-cpuid", "signature in the wrong registers", "0x40000000, SIGNATURE, SIGNATURE, SIGNATURE",
     "0x40000000, SIGNATURE, 0, SIGNATURE", "signature: vlabvlabvlab"),
    ("05-cr", "always uses EAX", "REGISTERS[(q >> 8) & 7]", "\"eax\"", "console line"),
    ("05-cr", "swaps the direction", "if kind == 0:", "if kind == 1:", "console line"),
    ("05-cr", "forgets to advance EIP", "    vcpu.skip()", "    pass", "must advance past 'mov"),
    ("06-bt-popf", "PUSHF shows the real flags", "vcpu.guest_eflags()", "vcpu.regs.eflags",
     "console line"),
    ("06-bt-popf", "POPF ignores IF", "    vcpu.virt.IF = bool(value & IF)\n", "",
     "interrupts after popf"),
    ("06-bt-popf", "POPF leaves the stack", "    vcpu.regs.esp = esp + 4\n", "",
     "a function that saves and restores the flags"),
    ("07-vtx-exits", "misreads the direction bit", "bool(q >> 3 & 1)", "bool(q >> 4 & 1)",
     "console line"),
    ("07-vtx-exits", "misreads the register field", "REGISTERS[(q >> 8) & 7]",
     "REGISTERS[(q >> 4) & 7]", "console line"),
    ("07-vtx-exits", "misreads the port field", "(q >> 16) & 0xFFFF", "(q >> 8) & 0xFFFF",
     "the guest runs to its end"),
    ("08-hypercall", "does not validate the buffer",
     "    if count > 4096 or not vcpu.hv.guest_range_ok(buf, count):", "    if count > 4096:",
     "console_io with a buffer outside the guest"),
    ("08-hypercall", "multicall drops the results",
     "        vcpu.mem.write_u32(entry + 4, vcpu.hypercall(op, *args))",
     "        vcpu.hypercall(op, *args)", "multicall writes each call's result"),
    ("09-ept", "maps the linear address", "GUEST_PHYSICAL_ADDRESS", "GUEST_LINEAR_ADDRESS",
     "is not guest RAM"),
    ("09-ept", "maps a frame number", 'vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])',
     'vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"] >> 12)', "did not map the page"),
    ("09-ept", "skips the faulting instruction",
     '    vcpu.ept.map(vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])',
     '    vcpu.ept.map(vcpu.vmcs["GUEST_PHYSICAL_ADDRESS"])\n    vcpu.skip()',
     "skipped the instruction"),
    ("08-hypercall", "console_io returns 0", "    vcpu.regs.eax = count", "    vcpu.regs.eax = 0",
     "console_io returns the number of bytes written"),
    ("10-blk-ring", "never interrupts the driver", "        vcpu.blk_complete()\n",
     "        pass\n", "disk events (upcalls): 0"),
    ("10-blk-ring", "trusts the guest's addresses",
     "    return addr + length <= 1 << 32 and length > 0 and vcpu.hv.guest_range_ok(addr, length)",
     "    return True", "outside guest RAM"),
    ("10-blk-ring", "writes no status", "    vcpu.mem.write(status_at, bytes([status]))\n", "",
     "disk error, status 0x000000ff"),
    ("10-blk-ring", "ignores the disk's end",
     "    if sector + count > vcpu.disk.sectors:\n        return IOERR, 0\n", "",
     "are not on the disk"),
]


#: Known mistakes the hidden scenarios cannot see (only the visible ones catch them), and why.
HIDDEN_BLIND = {
    ("09-ept", "maps the linear address"): "the hidden fork-like loop maps its frames at the "
    "same linear and guest-physical addresses",
}


@pytest.mark.parametrize("exercise,mistake,old,new,feedback", WRONG,
                         ids=[f"{w[0]}:{w[1]}" for w in WRONG])
def test_known_wrong_handler_loses_points(tmp_path, exercise, mistake, old, new, feedback):
    """Each known mistake loses points, with feedback that names what went wrong, and (so that a
    submission tuned to the public scenarios gains nothing) on a hidden scenario too."""
    report = grade(exercise, _file(tmp_path, _variant(exercise, old, new)))
    assert report.score < report.max_score, mistake
    assert feedback in str(report), str(report)
    hidden = [r for r in report.results if r.visibility != "visible"]
    lost = [r for r in hidden if r.score < r.max_score]
    assert bool(lost) != ((exercise, mistake) in HIDDEN_BLIND), (mistake, str(report))


def test_every_exercise_has_three_known_mistakes():
    counts = {ex: sum(1 for w in WRONG if w[0] == ex) for ex in EXERCISES}
    assert all(n >= 3 for n in counts.values()), counts


HOSTILE = {
    "endless loop": """
        def handle_cli(vcpu, exit):
            while True:
                pass
        def handle_sti(vcpu, exit):
            while True:
                pass
    """,
    "sys.exit": """
        import sys
        def handle_cli(vcpu, exit):
            sys.exit(0)
        handle_sti = handle_cli
    """,
    "exit at import": """
        import os
        os._exit(0)
    """,
    "huge output": """
        def handle_cli(vcpu, exit):
            print("x" * 10_000_000)
        handle_sti = handle_cli
    """,
    "patches the grader": """
        import vlab.grading.core as core, vlab.grading.sandbox as sb
        core.GradeReport.score = property(lambda self: 10)
        core._run_scenario = lambda *a, **k: None
        sb.Student.call = lambda *a, **k: None
        def handle_cli(vcpu, exit):
            raise NotImplementedError
        handle_sti = handle_cli
    """,
    "fork bomb": """
        import os
        def handle_cli(vcpu, exit):
            for _ in range(200):
                try:
                    os.fork()
                except OSError:
                    break
            raise NotImplementedError
        handle_sti = handle_cli
    """,
    "garbage on the channel": """
        import os, socket
        def handle_cli(vcpu, exit):
            for fd in range(3, 20):
                try:
                    os.write(fd, b'["done"]\\n["done"]\\nnot json\\n')
                except OSError:
                    pass
            raise NotImplementedError
        handle_sti = handle_cli
    """,
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_hostile_submissions_cannot_raise_their_score(tmp_path, attack):
    report = grade("01-cli-sti", _file(tmp_path, HOSTILE[attack]))
    assert report.score == 0, str(report)
    assert len(report.results) == 3 and report.max_score == 13


def test_submission_cannot_edit_vlab_or_read_hidden_scenarios(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("this test checks the sandbox's separate user, which needs root (as CI runs)")
    exercise = tmp_path / "ex"
    shutil.copytree(Path(__file__).parents[1] / "exercises" / "01-cli-sti", exercise)
    secret = exercise / "hidden" / "scenarios.py"
    secret.chmod(0o600)
    target = Path(__file__).parents[1] / "vlab" / "grading" / "core.py"
    before = target.read_bytes()
    source = f"""
        def handle_cli(vcpu, exit):
            for path in ({str(target)!r}, {str(secret)!r}):
                try:
                    print("READ", open(path).read()[:40])
                except OSError as e:
                    print("DENIED", type(e).__name__)
            try:
                open({str(target)!r}, "a").write("# pwned")
            except OSError as e:
                print("NO WRITE", type(e).__name__)
            raise NotImplementedError
        handle_sti = handle_cli
    """
    from vlab.grading.isolation import isolation

    assert isolation()[0] == "bubblewrap", isolation()[1]  # CI installs bubblewrap
    report = grade(load_exercise(exercise), _file(tmp_path, source))
    assert target.read_bytes() == before
    assert report.score == 0
    assert "NO WRITE" in report.student_output and "READ" not in report.student_output
    assert "DENIED FileNotFoundError" in report.student_output  # neither file exists there
    assert "SCENARIOS" not in report.student_output


def test_grading_is_deterministic(tmp_path):
    sub = _file(tmp_path, _variant("03-serial", "0x60 if port == 0x3FD", "0x60 if port == 0x3FD", ))
    runs = {json.dumps({k: v for k, v in grade("03-serial", sub).to_json().items()
                        if k != "execution_time"}, sort_keys=True) for _ in range(5)}
    assert len(runs) == 1


def test_hundred_reruns_give_the_same_score(tmp_path):
    sub = _file(tmp_path, _variant("05-cr", "if kind == 0:", "if kind == 1:"))  # partial credit
    scores = [grade("05-cr", sub, hidden=False).score for _ in range(100)]
    assert len(set(scores)) == 1 and 0 < scores[0] < 5, scores


def test_results_json_is_gradescope_format(tmp_path):
    report = grade("02-hlt", SOLUTIONS / "s02_hlt.py")
    out = tmp_path / "results.json"
    report.write(out)
    data = json.loads(out.read_text())
    assert set(data) >= {"score", "max_score", "tests"}
    for t in data["tests"]:
        assert set(t) == {"name", "score", "max_score", "output", "visibility"}
        assert t["visibility"] in ("visible", "after_published")
    assert "<table>" in report._repr_html_()


def test_cli_grade_one_and_a_class(tmp_path):
    results = tmp_path / "r.json"
    ok = subprocess.run([sys.executable, "-m", "vlab", "grade", "exercises/01-cli-sti",
                         str(SOLUTIONS / "s01_cli_sti.py"), "--results", str(results)],
                        capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert ok.returncode == 0 and json.loads(results.read_text())["score"] == 13
    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(SOLUTIONS / "s01_cli_sti.py", subs / "ada.py")
    shutil.copy(Path(__file__).parents[1] / "exercises" / "01-cli-sti" / "starter.py", subs / "bob.py")
    csv_path = grade_class("01-cli-sti", subs, tmp_path / "out", jobs=2)
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith('student,"kernel boots') and rows[1].startswith("ada,")
    assert float(rows[1].split(",")[-3]) == 13 and float(rows[2].split(",")[-3]) == 0
    assert (tmp_path / "out" / "ada.json").exists() and (tmp_path / "out" / "bob.json").exists()


def test_check_from_a_notebook():
    from tests.solutions.s01_cli_sti import handle_cli, handle_sti

    report = check("01-cli-sti", handle_cli, handle_sti)
    assert report.score == report.max_score and all(r.visibility == "visible" for r in report.results)


def _spinning(seconds: float, solution: str = "s01_cli_sti") -> str:
    """A reference solution (01's by default) whose handlers first spin the CPU for ``seconds``
    per call."""
    source = (SOLUTIONS / f"{solution}.py").read_text()
    return "import time as _t\n" + source.replace(
        "(vcpu, exit):", "(vcpu, exit):\n    _e = _t.process_time() + %r\n"
        "    while _t.process_time() < _e:\n        pass" % seconds)


def test_the_time_budget_is_cpu_time_per_scenario(tmp_path, monkeypatch):
    """With a budget of 1 s of CPU time per scenario: correct handlers that sleep 0.3 s a call
    (no CPU) or spin 0.05 s a call (about 0.3 s a scenario, over 1 s in all three) score full
    marks; handlers that spin 0.4 s a call run out in the first scenario and are told so."""
    from vlab.grading import sandbox

    monkeypatch.setattr(sandbox, "TOTAL_TIMEOUT", 1.0)
    source = (SOLUTIONS / "s01_cli_sti.py").read_text()
    sleepy = "import time as _t\n" + source.replace("(vcpu, exit):", "(vcpu, exit):\n    _t.sleep(0.3)")
    for passing in (sleepy, _spinning(0.05)):
        report = grade("01-cli-sti", _file(tmp_path, passing))
        assert len(report.results) == 3 and report.score == report.max_score, str(report)
    report = grade("01-cli-sti", _file(tmp_path, _spinning(0.4)))
    assert report.results[0].score == 0, str(report)
    assert "used more than 1 s of CPU time in this scenario" in str(report), str(report)


def test_a_call_has_a_cpu_limit_and_a_wall_limit(tmp_path, monkeypatch):
    """One call may use CALL_TIMEOUT seconds of CPU time (a spinning handler is stopped after
    it) and CALL_WALL seconds of wall time (a handler that sleeps is stopped after that)."""
    from vlab.grading import sandbox

    monkeypatch.setattr(sandbox, "CALL_TIMEOUT", 0.5)
    monkeypatch.setattr(sandbox, "CALL_WALL", 1.5)
    start = time.monotonic()
    spin = grade("01-cli-sti", _file(tmp_path, _spinning(100)), hidden=False)
    assert "used more than 0.5 s of CPU time in one call (in handle_" in str(spin), str(spin)
    sleepy = grade("01-cli-sti", _file(tmp_path, """
        import time
        def handle_cli(vcpu, exit):
            time.sleep(100)
        handle_sti = handle_cli
    """), hidden=False)
    assert "did not answer in handle_" in str(sleepy) and "within 1.5 s" in str(sleepy), str(sleepy)
    assert spin.score == sleepy.score == 0
    assert time.monotonic() - start < 30


def test_hundred_reruns_beside_hostile_neighbours_score_the_same(tmp_path):
    """A correct submission that spends 20 ms of CPU per call, graded 100 times in a batch with
    --jobs 2 beside neighbours that spin every CPU, fork and kill what they can: every copy gets
    full marks (the budget is the submission's own CPU time, not the wall clock). (Exercise 04:
    few calls, so a hundred gradings fit in CI's time.)"""
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(100):
        (subs / f"good{i:03}.py").write_text(_spinning(0.02, "s04_cpuid"))
    for i in range(10):
        (subs / f"evil{i}.py").write_text(textwrap.dedent("""
            import os, signal, threading, time
            def _spin():
                while True:
                    pass
            def handle_cpuid(vcpu, exit):
                for _ in range(4):
                    threading.Thread(target=_spin, daemon=True).start()
                if os.fork() == 0:
                    _spin()
                for _ in range(20):
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.5)
                raise NotImplementedError
        """))
    out = tmp_path / "grades"
    grade_class("04-cpuid", subs, out, jobs=2)
    scores = {p.stem: json.loads(p.read_text())["score"] for p in out.glob("*.json")}
    good = {name: score for name, score in scores.items() if name.startswith("good")}
    assert len(good) == 100 and set(good.values()) == {11}, good
    assert all(scores[f"evil{i}"] == 0 for i in range(10))


def test_a_skip_only_handler_fails_the_hidden_interrupt_flag_scenario(tmp_path):
    """Exercise 01's hidden scenarios cannot be passed without a virtual IF: a handler that only
    skips CLI and STI (the guest then never takes a tick) loses the IF-window scenario."""
    report = grade("01-cli-sti", _file(tmp_path, """
        def handle_cli(vcpu, exit):
            vcpu.skip()
        handle_sti = handle_cli
    """))
    window = next(r for r in report.results if "virtual IF" in r.name)
    assert window.score < window.max_score
    assert "ticks with IF=1" in window.output
    assert report.score < report.max_score


def _notebook(path: Path, cells: list[str]) -> Path:
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": c} for c in cells]}
    path.write_text(json.dumps(nb))
    return path


def test_a_notebook_submission_is_graded_from_its_definitions_only(tmp_path):
    """`vlab grade EX submission.ipynb`: the handler cells are taken out (parsed, never run by
    the grader) and graded in the sandbox; a cell that replaces the grader in the student's
    kernel, or a magic, changes nothing; otter's first cell (``import otter``, which the sandbox
    does not have) is not the handlers'."""
    solution = (SOLUTIONS / "s01_cli_sti.py").read_text()
    nb = _notebook(tmp_path / "hw.ipynb", [
        "# Initialize Otter\nimport otter\ngrader = otter.Notebook(\"hw.ipynb\")",
        "%load_ext vlab",
        solution,
        "import vlab.grading\nvlab.grading.check = lambda *a, **k: 'full marks'",
        "report = vlab.grading.check('01-cli-sti', handle_cli, handle_sti)\nreport",
    ])
    report = grade("01-cli-sti", nb)
    assert report.score == report.max_score == 13
    broken = _notebook(tmp_path / "empty.ipynb", ["print('no handlers here')"])
    with pytest.raises(VlabError, match="no function definitions"):
        grade("01-cli-sti", broken)


def test_cli_grades_a_gradescope_folder_and_exits_0_whatever_the_score(tmp_path):
    """A folder holding one submission with --results is one submission (Gradescope hands over
    /autograder/submission); the exit status is 0 once results are written, at any score."""
    folder = tmp_path / "submission"
    folder.mkdir()
    shutil.copy(Path(__file__).parents[1] / "exercises" / "01-cli-sti" / "starter.py",
                folder / "anything.py")
    results = tmp_path / "results.json"
    run = subprocess.run([sys.executable, "-m", "vlab", "grade", "exercises/01-cli-sti",
                          str(folder), "--results", str(results)],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert run.returncode == 0, run.stderr
    data = json.loads(results.read_text())
    assert data["score"] == 0 and data["max_score"] == 13


def test_a_class_batch_reports_every_entry_with_the_reason_it_was_skipped(tmp_path):
    """Two .py files in one student's folder, a stray file, and a notebook: the notebook is
    graded, the others appear in the summary as skipped, with why."""
    subs = tmp_path / "subs"
    (subs / "two").mkdir(parents=True)
    (subs / "two" / "a.py").write_text("x = 1\n")
    (subs / "two" / "b.py").write_text("x = 2\n")
    (subs / "notes.txt").write_text("hello\n")
    _notebook(subs / "nora.ipynb", [(SOLUTIONS / "s01_cli_sti.py").read_text()])
    csv_path = grade_class("01-cli-sti", subs, tmp_path / "out", jobs=1)
    rows = {r.split(",", 1)[0]: r for r in csv_path.read_text().splitlines()[1:]}
    assert set(rows) == {"nora", "two", "notes.txt"}
    assert ",13," in rows["nora"]
    assert "skipped" in rows["two"] and "a.py, b.py" in rows["two"]
    assert "skipped" in rows["notes.txt"]


def test_gradescope_bundle_grades_a_folder_in_gradescopes_layout(tmp_path):
    """`vlab gradescope EX -o autograder.zip`: the zip holds setup.sh, run_autograder and the
    exercise (hidden scenarios included); run_autograder grades /autograder/submission into
    /autograder/results/results.json (here under a stand-in root) and exits 0."""
    import zipfile

    bundle = tmp_path / "autograder.zip"
    made = subprocess.run([sys.executable, "-m", "vlab", "gradescope", "01-cli-sti", "-o",
                           str(bundle)], capture_output=True, text=True,
                          cwd=Path(__file__).parents[1])
    assert made.returncode == 0, made.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundle) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "exercise/checks.py",
                "exercise/hidden/scenarios.py", "lib/vlab/grading/sandbox.py"} <= set(names)
        z.extractall(root / "source")
    setup = (root / "source" / "setup.sh").read_text()
    assert "bubblewrap" in setup and "unicorn" in setup
    (root / "submission").mkdir()
    for name, source, want in (("good", SOLUTIONS / "s01_cli_sti.py", 13),
                               ("starter", EXERCISES_DIR / "01-cli-sti" / "starter.py", 0)):
        for old in (root / "submission").iterdir():
            old.unlink()
        shutil.copy(source, root / "submission" / f"{name}.py")
        run = subprocess.run(["bash", str(root / "source" / "run_autograder")],
                             env={**os.environ, "AUTOGRADER_ROOT": str(root),
                                  "VLAB_PYTHON": sys.executable},
                             capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        results = json.loads((root / "results" / "results.json").read_text())
        assert results["score"] == want and results["max_score"] == 13
        assert results["execution_time"] > 0
        assert {t["visibility"] for t in results["tests"]} == {"visible", "after_published"}


def test_every_exercise_allows_only_the_requests_its_task_needs(tmp_path):
    """Each exercise names the requests its handlers may make; the shortcuts around a task
    (writing the console, halting the guest, injecting interrupts) are refused unless the task is
    about them, with a message that says what a handler there may use."""
    for name in EXERCISES:
        allowed = load_exercise(name).allowed
        assert allowed is not None and {"reg", "skip"} <= allowed, name
        assert "inject" not in allowed, name
    assert "console_append" not in load_exercise("01-cli-sti").allowed
    assert "halt" in load_exercise("02-hlt").allowed
    report = grade("01-cli-sti", _file(tmp_path, """
        def handle_cli(vcpu, exit):
            try:
                vcpu.halt()
            except Exception as e:
                print("REFUSED", e)
            vcpu.skip()
        handle_sti = handle_cli
    """), hidden=False)
    assert "REFUSED 'halt' is not part of this exercise: a handler here may use" in \
        report.student_output, report.student_output


def test_official_grading_refuses_to_run_without_a_sandbox_unless_told_unsafe(tmp_path):
    """On a host with neither sandbox (here: only bubblewrap allowed, and not on the PATH),
    `vlab grade` refuses and says why; with --unsafe it grades, warns loudly, and labels the
    score a practice score."""
    tools = tmp_path / "bin"  # binutils for the guests, and no bubblewrap
    tools.mkdir()
    for tool in ("as", "ld", "nm", "objcopy"):
        (tools / tool).symlink_to(shutil.which(tool))
    env = {"PATH": f"{tools}:{Path(sys.executable).parent}", "VLAB_SANDBOX": "bubblewrap",
           "HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "vlab", "grade", "01-cli-sti", str(SOLUTIONS / "s01_cli_sti.py")]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert refused.returncode == 2 and "refusing to grade without isolation: bubblewrap is not " \
        "installed" in refused.stderr, refused.stderr
    unsafe = subprocess.run([*cmd, "--unsafe"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert unsafe.returncode == 0 and "WARNING: grading WITHOUT isolation" in unsafe.stderr
    assert "practice score: not isolated" in unsafe.stdout and "13 / 13" in unsafe.stdout


def test_the_landlock_fallback_grades_like_bubblewrap(monkeypatch):
    """Where namespaces are refused, Landlock and seccomp confine the submission: the same
    scores as under bubblewrap, and the report says which sandbox it was."""
    from vlab.grading.isolation import isolation

    monkeypatch.setenv("VLAB_SANDBOX", "landlock")
    isolation.cache_clear()
    try:
        for exercise, solution in (("02-hlt", "s02_hlt.py"), ("05-cr", "s05_cr.py")):
            report = grade(exercise, SOLUTIONS / solution)
            assert report.score == report.max_score, str(report)
            assert report.isolation.startswith("Landlock and seccomp")
            assert "sandbox: Landlock" in str(report) and "sandbox: Landlock" in report.to_json()["output"]
    finally:
        isolation.cache_clear()


def test_landlock_confines_a_grader_that_holds_many_descriptors(monkeypatch):
    """A grader with many files open (a notebook kernel, a test worker) still confines the
    submission: until exec the child holds all its parent's descriptors, so its 64-descriptor
    limit must come after Landlock has opened the paths it allows (CI found exec refused)."""
    from vlab.grading.isolation import isolation

    monkeypatch.setenv("VLAB_SANDBOX", "landlock")
    isolation.cache_clear()
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(80)]
    try:
        report = grade("02-hlt", SOLUTIONS / "s02_hlt.py")
        assert report.score == report.max_score, str(report)
        assert report.isolation.startswith("Landlock and seccomp")
    finally:
        for fd in held:
            os.close(fd)
        isolation.cache_clear()


@pytest.mark.parametrize("exercise", EXERCISES)
def test_empty_and_skip_only_handlers_lose_every_hidden_scenario(tmp_path, exercise):
    """Handlers that do nothing, or only advance past the instruction, lose points on every
    hidden scenario of every exercise (the output there depends on the emulation being done)."""
    handlers = load_exercise(exercise).handlers
    subs = tmp_path / "subs"
    subs.mkdir()
    for kind, body in (("empty", "pass"), ("skip", "vcpu.skip()")):
        (subs / f"{kind}.py").write_text(
            "".join(f"def {name}(vcpu, exit):\n    {body}\n" for name in handlers))
    grade_class(exercise, subs, tmp_path / "out", jobs=2)
    for kind in ("empty", "skip"):
        report = json.loads((tmp_path / "out" / f"{kind}.json").read_text())
        hidden = [t for t in report["tests"] if t["visibility"] != "visible"]
        assert hidden and all(t["score"] < t["max_score"] for t in hidden), (kind, report)
