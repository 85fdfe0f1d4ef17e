"""The grader against a hostile class: each attack is a submission, and each test asserts that it
gets nothing — no leak, no effect on the grader or on other students, no hang, no score for work
it did not do (docs/grading-security.md lists the threat model).

CI runs as root with bubblewrap installed, as course graders do; the sandbox must be there."""

import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import pytest

from vlab.grading import grade
from vlab.grading.batch import grade_class
from vlab.grading.isolation import isolation

ROOT = Path(__file__).parents[1]
SOLUTION_01 = (ROOT / "tests" / "solutions" / "s01_cli_sti.py").read_text()


@pytest.fixture(autouse=True)
def _sandbox_required():
    kind, how = isolation()
    assert kind == "bubblewrap", f"the red-team tests need the grader's sandbox: {how}"


def _sub(tmp_path: Path, source: str, name: str = "submission.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def _attack(tmp_path, body: str, exercise: str = "01-cli-sti"):
    """Grade a submission whose handlers first run ``body`` (once), then fail."""
    source = f"""
        import os, sys, socket, subprocess, time
        _done = []

        def _attack():
{textwrap.indent(textwrap.dedent(body), " " * 12)}

        def handle_cli(vcpu, exit):
            if not _done:
                _done.append(1)
                _attack()
            raise NotImplementedError

        handle_sti = handle_cli
    """
    return grade(exercise, _sub(tmp_path, source), hidden=False)


def test_a_symlinked_output_file_leaks_nothing(tmp_path):
    """Confused deputy: output comes back through a pipe, so a link named output.txt (in the
    working directory or /tmp) makes the grader read nothing; and /etc/shadow is not even there."""
    report = _attack(tmp_path, """
        for where in ("output.txt", "/tmp/output.txt"):
            try:
                os.symlink("/etc/shadow", where)
            except OSError as e:
                print("no link", where, type(e).__name__)
        try:
            print(open("/etc/shadow").read())
        except OSError as e:
            print("no shadow", type(e).__name__)
    """)
    assert "root:" not in report.student_output
    assert "no shadow FileNotFoundError" in report.student_output
    assert report.score == 0


def test_the_grader_code_and_answers_are_not_on_the_path(tmp_path):
    """Answers on the path: importing the reference solutions, the exercises or the grader
    itself fails inside the sandbox, so replaying them scores nothing."""
    report = _attack(tmp_path, """
        for name in ("tests.solutions.s01_cli_sti", "vlab.grading.core", "vlab.lab"):
            try:
                __import__(name)
                print("IMPORTED", name)
            except Exception as e:
                print("no", name, type(e).__name__)
        print("cwd", os.getcwd(), sorted(os.listdir("/")))
    """)
    assert "IMPORTED" not in report.student_output
    assert "tests" not in report.student_output.split("cwd", 1)[1].split("\n", 1)[0].split("[", 1)[1]
    assert report.score == 0


def test_no_network_not_even_loopback(tmp_path):
    """A listener on the grader's loopback is unreachable from a submission (new network
    namespace), and a submission's own listener is unreachable from outside."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        end = time.monotonic() + 20
        while time.monotonic() < end and not accepted:
            try:
                accepted.append(server.accept())
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    report = _attack(tmp_path, f"""
        s = socket.socket(); s.settimeout(2)
        try:
            s.connect(("127.0.0.1", {port})); print("CONNECTED")
        except OSError as e:
            print("no connection", type(e).__name__)
    """)
    t.join(0.5)
    server.close()
    assert not accepted and "CONNECTED" not in report.student_output
    assert "no connection" in report.student_output


def test_leftover_processes_die_with_the_sandbox(tmp_path):
    """A daemon started by a submission does not outlive its grading."""
    marker = f"{os.getpid() % 1000}.{time.monotonic_ns() % 100000}"
    _attack(tmp_path, f"""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv("/usr/bin/sleep", ["sleep", "{marker}"])
            os._exit(0)
        time.sleep(0.2)
        print("daemon started")
    """)
    time.sleep(0.5)
    alive = []
    for proc in Path("/proc").iterdir():
        try:
            if marker.encode() in (proc / "cmdline").read_bytes():
                alive.append(proc.name)
        except OSError:
            continue
    assert not alive, f"processes outlived their grading: {alive}"


def test_a_trickled_message_cannot_hang_the_grader(tmp_path):
    """A handler that sends its answer one byte every 1.5 s: every message has an absolute
    deadline, so the grader moves on within the call's time limit."""
    start = time.monotonic()
    report = _attack(tmp_path, """
        fd = int(sys.argv[1])  # the channel to the grader
        for b in b'["done"':
            os.write(fd, bytes([b]))
            time.sleep(1.5)
    """)
    assert time.monotonic() - start < 60
    assert report.score == 0 and report.problem


def test_huge_output_is_cut_while_read(tmp_path):
    """100 MB printed: the grader keeps a bounded excerpt (and never holds it all)."""
    start = time.monotonic()
    report = _attack(tmp_path, """
        chunk = "x" * (1 << 20)
        for _ in range(100):
            sys.stdout.write(chunk)
        sys.stdout.flush()
    """)
    assert len(report.student_output) < 4000 and "truncated" in report.student_output
    assert time.monotonic() - start < 60


def test_the_disk_is_private_and_small(tmp_path):
    """/tmp is a private tmpfs of a few MiB and /dev/shm is not the host's: filling them
    changes nothing outside."""
    report = _attack(tmp_path, """
        for where in ("/tmp/fill", "/dev/shm/vlab-redteam-fill"):
            try:
                with open(where, "wb") as f:
                    for _ in range(20):
                        f.write(b"x" * (1 << 20))
                print("WROTE", where)
            except OSError as e:
                print("full", where, type(e).__name__)
    """)
    assert "WROTE /tmp/fill" not in report.student_output
    assert not Path("/dev/shm/vlab-redteam-fill").exists()


def test_forged_feedback_lines_are_not_feedback(tmp_path):
    """An exception whose text holds "[pass]" lines: the student's text is quoted, never taken
    as the grader's own lines, and earns nothing."""
    report = grade("01-cli-sti", _sub(tmp_path, """
        def handle_cli(vcpu, exit):
            raise ValueError("\\n[pass] everything (+10)\\n[pass] all hidden scenarios (+10)")
        handle_sti = handle_cli
    """), hidden=False)
    assert report.score == 0
    for r in report.results:
        assert not any(line.startswith("[pass]") for line in r.output.splitlines()
                       if "everything" in line or "hidden scenarios" in line)


def test_deeply_nested_json_is_a_bad_message_not_a_crash(tmp_path):
    """A message nested 100,000 deep: the grader reports a malformed message and goes on."""
    report = _attack(tmp_path, """
        fd = int(sys.argv[1])
        os.write(fd, b"[" * 100000 + b"]" * 100000 + b"\\n")
        time.sleep(3)
    """)
    assert report.score == 0 and report.problem


def test_a_hostile_neighbour_does_not_change_a_classmates_score(tmp_path):
    """Batch grading with --jobs 2: one student kills every process it can see and leaves a
    daemon; the other, correct, scores full marks anyway, and its results are not touched."""
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "good.py").write_text(SOLUTION_01)
    (subs / "evil.py").write_text(textwrap.dedent("""
        import os, signal, time
        def handle_cli(vcpu, exit):
            for _ in range(50):
                try:
                    os.kill(-1, signal.SIGKILL)
                except OSError:
                    pass
            if os.fork() == 0:
                while True:
                    try:
                        os.kill(-1, signal.SIGKILL)
                    except OSError:
                        pass
                    time.sleep(0.01)
            raise NotImplementedError
        handle_sti = handle_cli
    """))
    out = tmp_path / "grades"
    grade_class(ROOT / "exercises" / "01-cli-sti", subs, out, jobs=2)
    good = json.loads((out / "good.json").read_text())
    assert good["score"] == good["max_score"] > 0
    evil = json.loads((out / "evil.json").read_text())
    assert evil["score"] == 0


def test_replaying_output_earns_nothing_where_it_cannot_be_known(tmp_path):
    """Console replay: a handler that prints what it expects the guest to print (and tries to
    read the guest's memory for the rest) instead of emulating OUT. Exercise 03's hidden
    scenario prints a number the grader plants fresh for each grading, and reading guest memory
    is not part of that exercise: the replay loses that scenario's console points."""
    report = grade("03-serial", _sub(tmp_path, """
        import struct
        def handle_in(vcpu, exit):
            vcpu.regs.eax = 0x60
            vcpu.skip()

        def handle_out(vcpu, exit):
            port = exit.qualification >> 16
            if port == 0xF4:
                vcpu.port_write(0xF4, 1, 0)
            elif port == 0x3F8 and not getattr(handle_out, "done", False):
                handle_out.done = True
                try:
                    seed = struct.unpack("<I", vcpu.mem.read(0x100000, 4))[0]
                    print("READ GUEST MEMORY", seed)
                except Exception as e:
                    print("refused:", e)
                for ch in b"the grader's number: 42\\n":
                    vcpu.console_append(ch)
            vcpu.skip()
    """))
    seeded = next(r for r in report.results if "no one can know" in r.name)
    assert seeded.score < seeded.max_score
    assert "READ GUEST MEMORY" not in report.student_output
    assert "not part of this exercise" in report.student_output


def test_os_exit_is_reported_as_an_exit_not_a_loop(tmp_path):
    """A handler that calls os._exit(3): the feedback says the process ended (with its status),
    not that it looped."""
    report = _attack(tmp_path, "os._exit(3)")
    assert report.problem and "ended" in report.problem and "status 3" in report.problem, \
        report.problem
