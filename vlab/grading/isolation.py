"""The submission's sandbox, as the operating system makes it: bubblewrap namespaces, a uid of
its own, resource limits, and the few files it may see (docs/grading-security.md).

:func:`isolation` says what this machine gives, checked once by running a probe: bubblewrap where
user namespaces are allowed, else Landlock and seccomp (:mod:`.landlock`) where the kernel has
them, else nothing. ``VLAB_SANDBOX=bubblewrap|landlock`` asks for one of them only.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

from vlab.errors import VlabError
from vlab.grading import landlock
from vlab.i18n import N_

MEMORY_LIMIT = 1 << 30
CPU_LIMIT = 600  # seconds of CPU time a submission's process may use in all its scenarios
FILE_LIMIT = 64 * 1024  # bytes a file the submission writes may have
TMP_SIZE = 8 << 20  # the sandbox's private /tmp
#: The student side of vlab: all a submission's process can import of it (copied, read-only).
STUDENT_FILES = ("__init__.py", "_compat.py", "i18n.py", "monitor/__init__.py", "monitor/trace.py",
                 "monitor/api.py", "monitor/qualification.py", "grading/student.py")


#: How a sandbox describes itself in a report (English, as isolation() returns it; the report
#: says it again in its own language: vlab.grading.core.isolation_words).
BUBBLEWRAP = N_("bubblewrap {version}: new user, PID, network, IPC and UTS namespaces, {who}, "
                "read-only runtime, private {tmp} MiB /tmp, no network")
LANDLOCK = N_("Landlock and seccomp, without namespaces: {how}, {who}")
OWN_UID, GRADER_UID = N_("its own uid"), N_("the grader's uid")


class IsolationUnavailable(VlabError):
    """Grading was asked for real isolation and this machine cannot give it."""


def _world_can_use(path: str, need_read: bool = False) -> bool:
    """Can another user reach and execute (or read) ``path``?"""
    real = os.path.realpath(path)
    for d in Path(real).parents:
        if not os.stat(d).st_mode & 0o001:
            return False
    mode = os.stat(real).st_mode
    return bool(mode & 0o004) if need_read else bool(mode & 0o001)


def sandbox_python() -> str | None:
    """An interpreter another user can run (the submission's process never runs as the
    grader): this one if its installation is world-readable, else the system's."""
    for candidate in (os.path.join(sys.base_prefix, "bin", "python3"), "/usr/bin/python3"):
        try:
            if os.path.exists(candidate) and _world_can_use(candidate):
                return os.path.realpath(candidate)
        except OSError:
            continue
    return None


def _runtime_binds(python: str) -> list[str]:
    """bwrap arguments that show the interpreter and the system libraries, read-only."""
    args = []
    for d in ("/usr", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.isdir(d) and not os.path.islink(d):
            args += ["--ro-bind", d, d]
        elif os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
    for d in ("/bin", "/sbin"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    prefix = str(Path(python).parents[1])
    if not prefix.startswith("/usr"):
        args += ["--ro-bind", prefix, prefix]
    return args


@functools.lru_cache(maxsize=1)
def isolation() -> tuple[str, str]:
    """What isolation this machine gives a submission: ("bubblewrap", how) when bubblewrap
    runs a test program in fresh user, PID, network, IPC and UTS namespaces, else ("landlock",
    how) when a test program confined by Landlock and seccomp can neither read the host's
    files nor reach the network, else ("none", why). Checked once per process by running them;
    the environment variable ``VLAB_SANDBOX`` (bubblewrap, landlock) allows only one."""
    wanted = os.environ.get("VLAB_SANDBOX", "auto")
    if wanted not in ("auto", "bubblewrap", "landlock"):
        return "none", f"VLAB_SANDBOX={wanted!r} is not one of auto, bubblewrap, landlock"
    why = []
    for kind, probe in (("bubblewrap", _bubblewrap), ("landlock", _landlock)):
        if wanted in ("auto", kind):
            ok, how = probe()
            if ok:
                return kind, how
            why.append(how)
    return "none", "; ".join(why)


def _bubblewrap() -> tuple[bool, str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, ("bubblewrap is not installed (Debian: apt-get install bubblewrap; "
                       "`bash scripts/setup.sh test` installs it)")
    python = sandbox_python()
    if python is None:
        return False, "no Python interpreter that another user may run (install python3)"
    probe = [bwrap, *bwrap_base(python), python, "-I", "-c",
             "import os, socket; s = socket.socket(); s.settimeout(1)\n"
             "try:\n    s.connect(('127.0.0.1', 9)); print('net')\n"
             "except OSError:\n    print('isolated', os.getuid())"]
    try:
        out = subprocess.run(probe, capture_output=True, text=True, timeout=20,
                             stdin=subprocess.DEVNULL,
                             preexec_fn=_drop_to(submission_uid()) if os.geteuid() == 0 else None)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"bubblewrap could not start a sandbox: {e}"
    if out.returncode != 0 or not out.stdout.startswith("isolated"):
        return False, ("bubblewrap could not start a sandbox here (user namespaces refused?): "
                       + (out.stderr.strip() or out.stdout.strip())[:300])
    who = OWN_UID if os.geteuid() == 0 else GRADER_UID
    return True, BUBBLEWRAP.format(version=_version(bwrap), who=who, tmp=TMP_SIZE >> 20)


_LANDLOCK_PROBE = """
import socket
try:
    open("/etc/passwd").read(); print("read")
except PermissionError:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM); print("udp")
    except OSError:
        s = socket.socket(socket.AF_UNIX); print("isolated")
"""


def _landlock() -> tuple[bool, str]:
    if landlock.abi() < 1:
        return False, "this kernel has no Landlock (Linux 5.13 or later with lsm=landlock)"
    python = sandbox_python() if os.geteuid() == 0 else sys.executable
    if python is None:
        return False, "no Python interpreter that another user may run (install python3)"
    uid = submission_uid() if os.geteuid() == 0 else None
    try:
        out = subprocess.run([python, "-I", "-c", _LANDLOCK_PROBE], capture_output=True,
                             text=True, timeout=20, stdin=subprocess.DEVNULL,
                             preexec_fn=limits(uid, runtime_paths(python)), cwd="/")
    except (OSError, subprocess.SubprocessError) as e:
        return False, f"Landlock could not confine a process here: {e}"
    if out.returncode != 0 or out.stdout.strip() != "isolated":
        return False, ("Landlock did not confine a test process: "
                       + (out.stderr.strip() or out.stdout.strip())[-300:])
    who = OWN_UID if uid is not None else GRADER_UID
    return True, LANDLOCK.format(how=landlock.describe(), who=who)


def runtime_paths(python: str) -> list[str]:
    """What a submission's process must read to run ``python``: the system's libraries and
    the interpreter's installation."""
    prefix = str(Path(os.path.realpath(python)).parents[1])
    return ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/etc/ld.so.cache", prefix]


def _version(bwrap: str) -> str:
    try:
        return subprocess.run([bwrap, "--version"], capture_output=True, text=True,
                              timeout=5).stdout.split()[-1]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "?"


def bwrap_base(python: str) -> list[str]:
    return ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
            "--new-session", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin",
            "--setenv", "HOME", "/tmp", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--uid", "1000", "--gid", "1000", *_runtime_binds(python),
            "--proc", "/proc", "--dev", "/dev", "--size", str(TMP_SIZE), "--tmpfs", "/tmp",
            "--chdir", "/tmp"]


_next_uid = [0]


def submission_uid() -> int:
    """A uid of its own for each submission graded by root (so no two share one, even across
    the processes of a batch)."""
    _next_uid[0] += 1
    return 200_000 + (os.getpid() % 50_000) * 16 + _next_uid[0] % 16


def _drop_to(uid: int):
    def drop() -> None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return drop


def limits(uid: int | None, confined_to: list[str] | None = None, *,
           writable: list[str] = (), processes: bool = False, cpu: int = CPU_LIMIT,
           file_size: int = FILE_LIMIT):
    """What to do in a submission's process before it starts: a session of its own, resource
    limits (``cpu`` seconds, files of ``file_size`` bytes), as root another uid, and with
    ``confined_to`` Landlock and seccomp (read beneath those paths only, write beneath
    ``writable`` only; ``processes``: no seccomp, it may start processes)."""
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        # a backstop only: the grader's budget is per call and per scenario (sandbox.py)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        if uid is not None:
            _drop_to(uid)()
            resource.setrlimit(resource.RLIMIT_NPROC, (32, 32))  # no fork bomb
        if confined_to is not None:
            landlock.confine(confined_to, writable, processes)
        # last: until exec the child holds every descriptor its parent had open, and Landlock
        # needs a few more of its own
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    return apply


def student_tree(root: Path) -> Path:
    """The student side of vlab, copied (read-only) into ``root``/lib."""
    package = Path(__file__).resolve().parents[1]
    lib = root / "lib"
    for rel in STUDENT_FILES:
        dst = lib / "vlab" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / rel, dst)
    (lib / "vlab" / "grading" / "__init__.py").write_text("")  # not the grader's own
    for p in [lib, *lib.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return lib
