"""The grader against a hostile class: each attack is a submission, and each test asserts that it
gets nothing — no leak, no effect on the grader or on other students, no hang, no score for work
it did not do (docs/grading-security.md lists the threat model).

CI runs as root with bubblewrap installed, as course graders do; the sandbox must be there. Every
attack is tried against the grader run by root (as Gradescope and most course servers run it:
each submission gets a uid of its own) and by a normal user (uid 65534, whose uid the submission
shares outside its sandbox), each with bubblewrap and with the fallback for hosts that refuse
namespaces (Landlock and seccomp, VLAB_SANDBOX=landlock)."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import vlab.grading
import vlab.grading.batch
from vlab.grading.isolation import isolation

ROOT = Path(__file__).parents[1]
SOLUTION_01 = (ROOT / "tests" / "solutions" / "s01_cli_sti.py").read_text()


USER = 65534  # nobody: the grader run by a normal user




@pytest.fixture(scope="module")
def user_runtime(tmp_path_factory):
    """What a normal user needs to run the grader, copied where that user can read it (the
    checkout and the virtualenv may sit in root's home): vlab, the exercises, Unicorn, Capstone;
    owned by that user, as a grader's own files are (so only the sandbox keeps them safe)."""
    import capstone
    import unicorn

    base = Path(tempfile.mkdtemp(prefix="vlab-redteam-user-"))
    for src, dst in ((ROOT / "vlab", "vlab"), (ROOT / "exercises", "exercises"),
                     (Path(unicorn.__file__).parent, "site/unicorn"),
                     (Path(capstone.__file__).parent, "site/capstone")):
        shutil.copytree(src, base / dst, ignore=shutil.ignore_patterns("__pycache__"))
    for path in [base, *base.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
        os.chown(path, USER, USER)
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True, params=["root-bubblewrap", "user-bubblewrap", "root-landlock",
                                     "user-landlock"])
def grader(request, user_runtime, monkeypatch):
    """Who runs the grader (root, in this process, or a normal user, in a process of its own)
    and with which sandbox; that sandbox must be there."""
    who, sandbox = request.param.split("-")
    monkeypatch.setenv("VLAB_SANDBOX", sandbox)
    isolation.cache_clear()
    kind, how = isolation()
    assert kind == sandbox, f"the red-team tests need the grader's sandbox {sandbox}: {how}"
    if who == "user":
        assert shutil.which("setpriv"), "setpriv (util-linux) is needed to grade as a normal user"
        _GRADER["runtime"] = user_runtime
    yield request.param
    _GRADER.pop("runtime", None)
    isolation.cache_clear()


_GRADER: dict = {}
_AS_USER = """
import json, sys
from vlab.grading import grade
from vlab.grading.batch import grade_class
what, args = sys.argv[1], json.loads(sys.argv[2])
if what == "grade":
    r = grade(*args[:2], hidden=args[2])
    print(json.dumps({"text": str(r), "score": r.score, "max_score": r.max_score,
                      "problem": r.problem, "student_output": r.student_output,
                      "results": [{"name": x.name, "score": x.score, "max_score": x.max_score,
                                   "output": x.output} for x in r.results]}))
else:
    grade_class(*args, jobs=2)
"""


def _as_user(what: str, *args):
    """Run ``what`` ("grade" or "class") of the grader as uid 65534 on ``args``."""
    runtime = _GRADER["runtime"]
    cmd = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", "/usr/bin/python3",
           "-c", _AS_USER, what, json.dumps([str(a) if isinstance(a, Path) else a for a in args])]
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": f"{runtime}:{runtime}/site",
           "VLAB_SANDBOX": os.environ["VLAB_SANDBOX"]}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd="/", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


class _Report(SimpleNamespace):
    def __str__(self):
        return self.text


def _readable(path: Path) -> Path:
    """``path`` (a file or a folder) copied where the normal user can read it."""
    if "runtime" not in _GRADER:
        return path
    copy = Path(tempfile.mkdtemp(prefix="vlab-redteam-sub-")) / path.name
    (shutil.copytree if path.is_dir() else shutil.copy)(path, copy)
    for p in [copy.parent, copy, *(copy.rglob("*") if copy.is_dir() else [])]:
        p.chmod(0o777 if p.is_dir() else 0o644)
    return copy


def grade(exercise: str, submission: Path, hidden: bool = True):
    """vlab.grading.grade, by the grader this test runs as."""
    if "runtime" not in _GRADER:
        return vlab.grading.grade(exercise, submission, hidden=hidden)
    data = json.loads(_as_user("grade", exercise, _readable(submission), hidden))
    data["results"] = [SimpleNamespace(**r) for r in data["results"]]
    return _Report(**data)


def grade_class(exercise: str, submissions: Path, out: Path) -> Path:
    """A class graded with --jobs 2 into ``out``, by the grader this test runs as."""
    if "runtime" not in _GRADER:
        return vlab.grading.batch.grade_class(exercise, submissions, out, jobs=2)
    where = _readable(submissions)
    _as_user("class", exercise, where, where.parent / "grades")
    shutil.copytree(where.parent / "grades", out)
    return out


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
    assert "no shadow" in report.student_output  # not there (bubblewrap) or not readable
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
        try:
            print("cwd", os.getcwd(), sorted(os.listdir("/")))
        except OSError as e:
            print("cwd", os.getcwd(), "[cannot list /:", type(e).__name__, "]")
    """)
    assert "IMPORTED" not in report.student_output
    assert "tests" not in report.student_output.split("cwd", 1)[1].split("\n", 1)[0].split("[", 1)[1]
    assert report.score == 0


def test_the_graders_own_files_are_out_of_reach(tmp_path):
    """The grader's code and the hidden scenarios, by their real paths on the host (a submission
    may know them): not there to read or rewrite, even when the grader is a normal user whose
    uid the submission shares outside its namespaces."""
    home = _GRADER.get("runtime", ROOT)
    targets = [home / "vlab" / "grading" / "core.py",
               home / "exercises" / "01-cli-sti" / "hidden" / "scenarios.py"]
    before = [t.read_bytes() for t in targets]
    report = _attack(tmp_path, f"""
        for path in {[str(t) for t in targets]!r}:
            try:
                with open(path, "a") as f:
                    f.write("# rewritten")
                print("WROTE", path)
            except OSError as e:
                print("no write", type(e).__name__)
            try:
                print("READ", len(open(path).read()))
            except OSError as e:
                print("no read", type(e).__name__)
    """)
    assert "WROTE" not in report.student_output and "READ" not in report.student_output
    assert report.student_output.count("no read") == 2, report.student_output
    assert [t.read_bytes() for t in targets] == before and report.score == 0


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
        try:
            s = socket.socket(); s.settimeout(2)
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


@pytest.mark.parametrize("grader", ["root-bubblewrap", "user-bubblewrap"], indirect=True)
def test_a_trickled_message_cannot_hang_the_grader(tmp_path, grader):
    """A handler that sends its answer one byte every 1.5 s: every message has an absolute
    deadline, so the grader moves on within the call's time limit. (The deadline is the
    grader's own, whatever the sandbox: tried under bubblewrap, as root and as a normal user.)"""
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
    grade_class("01-cli-sti", subs, out)
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
