"""Exercise 11, the exit handlers of the mini hypervisor in assembly: the reference solution
scores full marks through the sandbox, each known mistake loses exactly the hidden scenarios it
should, and a hostile submission gets nothing from the assembler (it runs in the sandbox: no
file of the grader's machine to include) and cannot hang the grader (the budget stops it).

Every grading here is real: the submission is assembled by GNU as in bubblewrap (or Landlock),
and the hypervisor runs the guests in vlab's machine under the native strategy."""

import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path

import pytest

from vlab import Lab
from vlab.grading import grade, load_exercise
from vlab.grading.batch import grade_class
from vlab.grading.hypervisor import BUDGET, bundle_with
from vlab.grading.isolation import isolation

ROOT = Path(__file__).parents[1]
SOLUTION = ROOT / "tests" / "solutions" / "s11_hypervisor.S"
EXERCISE = "11-hypervisor"

#: the hidden scenarios, by a word of their names
HIDDEN = {"io": "port I/O", "cpuid": "CPUID", "cr": "MOV to CR0", "hlt": "HLT",
          "unexpected": "does not handle", "entry": "VM entry that fails"}


def _key(name: str) -> str:
    return next(k for k, words in HIDDEN.items() if words in name)


def _file(tmp_path: Path, source: str, name: str = "handlers.S") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


def _variant(old: str, new: str) -> str:
    source = SOLUTION.read_text()
    assert source.count(old) == 1, old
    return source.replace(old, new)


@pytest.fixture(params=["bubblewrap", "landlock"])
def sandbox(request, monkeypatch):
    """The grader's sandbox, each kind in turn (both must be there: CI installs bubblewrap and
    its kernel has Landlock)."""
    monkeypatch.setenv("VLAB_SANDBOX", request.param)
    isolation.cache_clear()
    kind, how = isolation()
    assert kind == request.param, how
    yield request.param
    isolation.cache_clear()


def test_the_reference_solution_scores_full_marks_through_the_sandbox():
    report = grade(EXERCISE, SOLUTION)
    assert report.score == report.max_score == 28, str(report)
    assert report.isolation.startswith("assembled in the sandbox: bubblewrap"), report.isolation
    assert {_key(r.name) for r in report.results if r.visibility == "hidden"} == set(HIDDEN)
    assert [r.name for r in report.results if r.visibility == "visible"] == \
        ["the teaching kernel under your hypervisor"]
    assert report.problem is None and report.to_json()["score"] == 28


def test_the_exercise_is_an_assembly_exercise_with_a_starter_that_scores_nothing(tmp_path):
    ex = load_exercise(EXERCISE)
    assert ex.language == "assembly" and ex.submission_name == "handlers.S"
    assert ex.handlers == ["handle_exit"]
    report = grade(EXERCISE, ROOT / "exercises" / EXERCISE / "starter.S")
    assert report.score == 0 and report.problem is None, str(report)  # it assembles, and runs
    assert "hv: TODO: on_io, guest EIP 0x0010045b" in str(report)  # the kernel's first exit


WRONG = [  # (the mistake, replaced text, replacement, hidden scenarios lost, expected feedback)
    ("forgets to advance RIP on I/O", "    out dx, al\n    jmp advance\n", "    out dx, al\n    ret\n",
     {"io", "cpuid", "cr", "hlt", "unexpected"}, "the guest made 5,000 exits without reaching"),
    ("CPUID does not set the hypervisor bit", "    or ecx, 1 << 31\n", "", {"cpuid"},
     "0x00000001/0: 0x000306c4 0x00000800 0xced82203"),
    ("MOV to CR0 updates GUEST_CR0 but not the read shadow", "    VMW CR0_READ_SHADOW, ebx\n", "",
     {"cr"}, "expected 'cr0 +NE +TS:  0x00000039', got 'cr0 +NE +TS:  0x00000019'"),
    ("MOV to CR0 always from EAX",
     "1:  call gpr\n    mov ebx, eax\n    VMW CR0_READ_SHADOW",
     "1:  mov eax, [ebp + R_EAX]\n    mov ebx, eax\n    VMW CR0_READ_SHADOW", {"cr"},
     "got 'cr0 +NE +TS:  0x00000011'"),
    ("takes the port from the guest's DX", "1:  mov edx, ebx\n    shr edx, 16\n",
     "1:  mov edx, [ebp + R_EDX]\n", {"io", "cpuid", "cr", "hlt"},
     "expected 'in 0xf4: 0x112233ff', got 'in 0xf4: 0x11223300'"),
    ("IN always reads a dword", "    in al, dx\n    jmp 7f\n", "    in eax, dx\n    jmp 7f\n",
     {"io"}, "expected 'in al:  0xa5a5a5"),
    ("HLT does not wait (no HLT activity state)", "    VMW GUEST_ACTIVITY_STATE, 1\n", "",
     {"hlt"}, "HLT exits for"),
    ("a failed VM entry taken for an unexpected exit", "    test eax, eax\n    js entry_failed\n",
     "", {"entry"}, "got 'hv: unexpected VM exit, reason 0x00000021'"),
    ("resumes an exit it does not handle",
     '    FAIL "unexpected VM exit, reason ", HV_UNEXPECTED_EXIT\n', "    ret\n", {"unexpected"},
     "VMXON 4932"),
]


@pytest.mark.parametrize("mistake,old,new,lost,feedback", WRONG, ids=[w[0] for w in WRONG])
def test_a_known_mistake_loses_exactly_its_hidden_scenarios(tmp_path, mistake, old, new, lost,
                                                             feedback):
    report = grade(EXERCISE, _file(tmp_path, _variant(old, new)))
    assert report.problem is None, report.problem  # (it assembles: the mistake is behaviour)
    failed = {_key(r.name) for r in report.results
              if r.visibility == "hidden" and r.score < r.max_score}
    assert failed == lost, (mistake, str(report))
    assert report.score < report.max_score and feedback in str(report), str(report)


def test_a_submission_that_does_not_assemble_is_told_where(tmp_path):
    source = SOLUTION.read_text().replace("    cmp eax, EXIT_IO\n",
                                          "    cmp eax, EXIT_IO\n    movx eax, 1\n")
    line = source.splitlines().index("    movx eax, 1") + 1
    report = grade(EXERCISE, _file(tmp_path, source))
    assert report.score == 0 and len(report.results) == 7
    assert "handlers.S does not assemble" in report.problem
    assert f"    | handlers.S:{line}: Error: no such instruction: `movx eax,1'" in \
        report.problem, report.problem
    assert all(line.startswith(("[fail]", "handlers.S does not", "    |"))
               for r in report.results for line in r.lines)


# ---------------------------------------------------------------------------- hostile files
def _leaking(path: str, how: str = ".incbin") -> str:
    """A submission that includes ``path`` and, were it to assemble, prints it on the console
    at the first exit (the console is in the feedback)."""
    return textwrap.dedent(f"""\
        handle_exit:
            mov esi, offset leak
            call puts
            FAIL "leaked ", 0
        .section .rodata
        leak:
            {how} "{path}"
            .byte 0
        .section .text
        """)


def _nothing_leaked(report, secret: str) -> None:
    text = str(report) + json.dumps(report.to_json())
    assert secret not in text
    assert report.score == 0 and report.problem and "does not assemble" in report.problem
    assert all(r.score == 0 for r in report.results)


def test_incbin_of_etc_shadow_gets_nothing(tmp_path, sandbox):
    report = grade(EXERCISE, _file(tmp_path, _leaking("/etc/shadow")))
    _nothing_leaked(report, "root:")
    assert "/etc/shadow" in report.problem


def test_incbin_of_a_root_only_file_gets_nothing(tmp_path, sandbox):
    """A file only root may read, as the grader (root) could: the assembler cannot see it."""
    if os.geteuid() != 0:
        pytest.fail("this test checks what root's grader keeps from the sandbox (CI runs as root)")
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-4f1c0de\n")
    secret.chmod(0o600)
    for how in (".incbin", ".include"):
        report = grade(EXERCISE, _file(tmp_path, _leaking(str(secret), how)))
        _nothing_leaked(report, "SECRET-4f1c0de")


def test_the_hidden_scenarios_and_the_grader_are_out_of_reach(tmp_path, sandbox):
    for target in (ROOT / "exercises" / EXERCISE / "hidden" / "scenarios.py",
                   ROOT / "vlab" / "grading" / "core.py"):
        report = grade(EXERCISE, _file(tmp_path, _leaking(str(target))))
        _nothing_leaked(report, "SCENARIOS" if "hidden" in str(target) else "def grade(")


def test_the_assembler_writes_only_where_nobody_reads(monkeypatch):
    """Under Landlock the driver writes a folder of its own: the grader removes it without
    reading it (under bubblewrap it is the sandbox's private tmpfs: nothing on the host)."""
    base = Path(tempfile.mkdtemp(prefix="vlab-test-asm-"))  # (the sandbox's uid must reach it)
    base.chmod(0o755)
    monkeypatch.setenv("VLAB_SANDBOX", "landlock")
    isolation.cache_clear()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    try:
        report = grade(EXERCISE, SOLUTION, hidden=False)
        left = list(base.iterdir())
    finally:
        isolation.cache_clear()
        shutil.rmtree(base)
    assert report.score == report.max_score == 6, str(report)
    assert report.isolation.startswith("assembled under Landlock")
    assert not left


def test_a_file_that_fills_the_disk_is_stopped(tmp_path):
    source = SOLUTION.read_text() + ".section .data\n.fill 0x10000000, 1, 0\n"
    report = grade(EXERCISE, _file(tmp_path, source), hidden=False)
    assert report.score == 0 and "as was stopped by SIGXFSZ" in report.problem, report.problem


def test_an_endless_loop_in_a_handler_is_stopped_by_the_budget(tmp_path):
    source = SOLUTION.read_text().replace("handle_exit:\n", "handle_exit:\n1:  jmp 1b\n", 1)
    report = grade(EXERCISE, _file(tmp_path, source))
    assert report.score == 0
    text = str(report)
    assert text.count(f"instruction budget of {BUDGET:,} exhausted") == 7, text  # every scenario
    assert text.count("(in the hypervisor, at handle_exit: an endless loop in a handler") == 7
    assert report.execution_time < 60


def test_an_exit_resumed_without_advancing_is_stopped_by_the_exit_cap(tmp_path):
    """The other way a handler hangs a guest: it returns without advancing, the instruction
    exits again. The cap on exits stops it, and the trap log shows the loop."""
    source = SOLUTION.read_text().replace("on_cpuid:\n", "on_cpuid:\n    ret\n", 1)
    report = grade(EXERCISE, _file(tmp_path, source), hidden=False)
    assert "the guest made 5,000 exits without reaching its end" in str(report)
    assert "CPUID at 0x" in str(report)  # the last exits, in the feedback


# ---------------------------------------------------------------------------- around it
def test_a_class_of_assembly_files_is_graded(tmp_path):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "ada.S").write_text(SOLUTION.read_text())
    (subs / "bob.S").write_text(_variant("    or ecx, 1 << 31\n", ""))
    csv_path = grade_class(EXERCISE, subs, tmp_path / "out", jobs=2)
    rows = {r.split(",", 1)[0]: r.split(",") for r in csv_path.read_text().splitlines()[1:]}
    assert rows["ada"][-3:-1] == ["28.0", "28"] and rows["bob"][-3:-1] == ["26.0", "28"]


def test_practice_grading_without_a_sandbox_says_so():
    report = grade(EXERCISE, SOLUTION, hidden=False, isolation="none")
    assert report.score == 6 and report.isolation.startswith("not isolated (practice run")
    assert "practice score" in str(report)


def test_a_student_can_run_and_step_their_hypervisor():
    """README's example: the hypervisor with a handlers file, in a Lab."""
    lab = Lab(image=bundle_with(SOLUTION), strategy="native")
    lab.break_on_exit("CPUID")
    lab.run()
    v = lab.machine.vmx.vmcs
    assert v["VM_EXIT_REASON"] == 10 and lab.state().eip == v["HOST_RIP"]
    assert lab.symbol(v["HOST_RIP"]) == "vmexit" and lab.image.symbols["handle_exit"]
    lab.run()
    native = Lab("kernel")
    native.run()
    assert lab.exit_code == 0 and lab.console == native.console
