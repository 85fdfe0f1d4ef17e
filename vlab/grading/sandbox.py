"""The grader's side of the sandbox: start the submission's process, carry out its requests.

The student process (:mod:`vlab.grading.student`) runs with a wall-time limit per handler call and
in total, CPU time, memory, file size, process and file-descriptor limits, in a temporary
directory, and — when the grader runs as root — as user ``nobody``, so it cannot edit vlab's files
or read hidden scenarios (instructors keep those readable by root only). Its output goes to a
capped file. Every request it sends is checked against a fixed set of operations.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vlab.errors import HandlerError, VlabError
from vlab.monitor.api import CALLS

CALL_TIMEOUT = 2.0  # seconds one handler call may take
TOTAL_TIMEOUT = 20.0  # seconds of handler time per scenario run
MEMORY_LIMIT = 1 << 30
OUTPUT_LIMIT = 64 * 1024
NOBODY = 65534


def _world_can_use(path: str, need_read: bool = False) -> bool:
    """Can another user (``nobody``) reach and execute (or read) ``path``?"""
    real = os.path.realpath(path)
    parts = Path(real).parents
    for d in parts:
        if not os.stat(d).st_mode & 0o001:
            return False
    mode = os.stat(real).st_mode
    return bool(mode & 0o004) if need_read else bool(mode & 0o001)


def _sandbox_python(package_dir: Path) -> tuple[str, bool]:
    """The interpreter for the student's process, and whether it can run as ``nobody``.
    The student side needs only the standard library and ``vlab.monitor.trace``."""
    if os.geteuid() != 0:
        return sys.executable, False
    try:
        pkg_ok = _world_can_use(str(package_dir / "vlab" / "monitor" / "trace.py"), need_read=True)
    except OSError:
        pkg_ok = False
    if pkg_ok:
        for candidate in (sys.executable, "/usr/bin/python3"):
            try:
                if os.path.exists(candidate) and _world_can_use(candidate):
                    return candidate, True
            except OSError:
                continue
    return sys.executable, False


def _limits(drop: bool):
    def apply() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
        resource.setrlimit(resource.RLIMIT_CPU, (30, 31))
        resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT, OUTPUT_LIMIT))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        if drop:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            resource.setrlimit(resource.RLIMIT_NPROC, (16, 16))  # no fork bomb

    return apply


class Student:
    """A running submission: ``call(handler_name, vcpu, exit)`` runs one of its handlers."""

    def __init__(self, submission: Path, names: list[str]):
        self.names = names
        self.dir = Path(tempfile.mkdtemp(prefix="vlab-student-"))
        self.output = self.dir / "output.txt"
        src = self.dir / "submission.py"
        shutil.copyfile(submission, src)
        package = Path(__file__).resolve().parents[2]
        python, drop = _sandbox_python(package)
        #: without a separate user the submission could write files the grader owns
        self.isolated_user = drop
        if drop:
            os.chown(self.dir, NOBODY, NOBODY)
            for p in (src,):
                os.chown(p, NOBODY, NOBODY)
        parent, child = socket.socketpair()
        self.sock = parent
        out = open(self.output, "wb")  # noqa: SIM115 - handed to the child
        if drop:
            os.chown(self.output, NOBODY, NOBODY)
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(package),
               "HOME": str(self.dir), "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen(
            [python, "-I", "-u", "-c", "import sys; sys.path.insert(0, sys.argv[4]); "
             "from vlab.grading.student import main; main()",
             str(child.fileno()), str(src), ",".join(names), env["PYTHONPATH"]],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, cwd=self.dir, env=env, preexec_fn=_limits(drop))
        child.close()
        out.close()
        self.file = parent.makefile("rb")  # buffered reads: one recv per message
        self.spent = 0.0
        self.error: str | None = None
        msg = self._recv(10.0)
        if msg is None or msg[0] != "loaded":
            self.error = self._death("while loading")
        elif msg[2]:
            self.error = msg[2]

    # ---------------------------------------------------------------- protocol
    def _recv(self, timeout: float):
        self.sock.settimeout(max(0.01, timeout))
        try:
            line = self.file.readline(1 << 20)
        except (socket.timeout, OSError):
            return None
        if not line:
            return None
        try:
            msg = json.loads(line)
        except ValueError:
            return ["garbage"]
        return msg if isinstance(msg, list) and msg else ["garbage"]

    def _send(self, *msg) -> None:
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError:
            pass

    def _death(self, when: str) -> str:
        code = self.proc.poll()
        if code is None:
            return f"your code did not answer {when} (an endless loop?): stopped after the time limit"
        return f"your code's process ended {when} (exit status {code}: sys.exit, a crash, or a limit)"

    def call(self, name: str, vcpu, exit_) -> None:
        """Run the student's handler ``name`` for ``exit_``, serving its requests on ``vcpu``."""
        if self.error is not None:
            raise HandlerError(self.error)
        self._send("call", name, _exit_json(exit_))
        start = time.monotonic()
        while True:
            budget = min(CALL_TIMEOUT - (time.monotonic() - start),
                         TOTAL_TIMEOUT - self.spent - (time.monotonic() - start))
            msg = self._recv(budget) if budget > 0 else None
            if msg is None:
                self.error = self._death(f"in {name}")
                self.kill()
                raise HandlerError(self.error)
            kind = msg[0]
            if kind == "done":
                break
            if kind == "raised":
                self.spent += time.monotonic() - start
                raise HandlerError(f"{name} raised {msg[1]}" + (f"\n{msg[2]}" if len(msg) > 2 else ""))
            if kind != "op":
                self.error = f"{name}: the sandbox received a malformed message"
                self.kill()
                raise HandlerError(self.error)
            try:
                self._send("ok", _serve(vcpu, msg[1:]))
            except HandlerError:
                raise
            except VlabError as e:
                self._send("err", str(e))
            except Exception as e:  # a bad request: reported to the handler as an error
                self._send("err", f"{type(e).__name__}: {e}")
        self.spent += time.monotonic() - start

    def output_text(self, limit: int = 2000) -> str:
        try:
            return self.output.read_bytes()[:limit].decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                self.proc.kill()
        self.proc.wait()

    def close(self) -> str:
        """End the student's process; returns what it printed (the first 2,000 characters)."""
        self._send("bye")
        try:
            self.proc.wait(1)
        except subprocess.TimeoutExpired:
            pass
        self.kill()
        self.sock.close()
        output = self.output_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        return output


def _exit_json(e) -> dict:
    detail = {k: v for k, v in e.detail.items() if isinstance(v, (int, str, bool, list, dict))}
    return {"reason": int(e.reason), "eip": e.eip, "cpl": e.cpl, "instruction": e.instruction,
            "raw": e.raw.hex(), "qualification": e.qualification, "detail": detail}


_VIRT = {"IF", "IOPL", "CR0", "CR2", "CR3", "CR4", "GDTR", "IDTR", "LDTR", "TR", "CPL"}


def _checked(kind: str, value):
    """One argument of a handler-API call, as its kind in vlab.monitor.api.CALLS says."""
    if kind == "int":
        return _int(value)
    if kind == "int?":
        return None if value is None else _int(value)
    if kind == "bool":
        return bool(value)
    if kind == "ints":
        if not isinstance(value, list) or len(value) > 16:
            raise ValueError("expected a short list of integers")
        return [_int(v) for v in value]
    if kind == "str":
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError("expected a short string")
        return value
    if kind == "json":
        if len(json.dumps(value)) > 4096:
            raise ValueError("a note must be small")
        return value
    raise ValueError(f"unknown argument kind {kind!r}")


def _int(x) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise ValueError("expected an integer")
    return x


def _serve(vcpu, req: list):
    """Carry out one request from the submission on the real virtual CPU."""
    op, *args = req
    if op == "reg":
        return vcpu.regs[str(args[0])]
    if op == "set_reg":
        vcpu.regs[str(args[0])] = _int(args[1])
        return None
    if op == "virt":
        name = str(args[0])
        if name not in _VIRT:
            raise AttributeError(f"the virtual CPU has no field {name!r}")
        value = getattr(vcpu.virt, name)
        return [value.base, value.limit] if hasattr(value, "base") else value
    if op == "set_virt":
        name, value = str(args[0]), args[1]
        if name not in _VIRT:
            raise AttributeError(f"the virtual CPU has no field {name!r}")
        if name in ("GDTR", "IDTR"):
            from vlab.state import TableRegister

            value = TableRegister(_int(value[0]), _int(value[1]))
        elif name == "IF":
            value = bool(value)
        else:
            value = _int(value)
        setattr(vcpu.virt, name, value)
        return None
    if op == "mem_read":
        size = _int(args[1])
        if not 0 <= size <= 1 << 16:
            raise ValueError("read size out of range")
        return vcpu.mem.read(_int(args[0]), size).hex()
    if op == "mem_write":
        data = bytes.fromhex(str(args[1]))
        if len(data) > 1 << 16:
            raise ValueError("write too large")
        vcpu.mem.write(_int(args[0]), data)
        return None
    if op in CALLS:  # the handler API's plain calls, checked kind by kind
        kinds = CALLS[op]
        if len(args) != len(kinds):
            raise ValueError(f"{op} takes {len(kinds)} arguments")
        values = [_checked(kind, value) for kind, value in zip(kinds, args, strict=True)]
        if kinds and kinds[-1] == "ints":
            values = values[:-1] + values[-1][:5]
        out = getattr(vcpu, op)(*values)
        return list(out) if isinstance(out, tuple) else out
    if op == "vtime":
        return vcpu.machine.vtime
    if op == "vmread":
        if vcpu.vmcs is None:
            raise VlabError("no VMCS: this exercise's strategy is not VT-x")
        return vcpu.vmcs.vmread(args[0])
    if op == "vmwrite":
        if vcpu.vmcs is None:
            raise VlabError("no VMCS: this exercise's strategy is not VT-x")
        vcpu.vmcs.vmwrite(args[0], _int(args[1]))
        return None
    if op == "ept_map":
        if getattr(vcpu, "ept", None) is None:
            raise VlabError("no EPT: this exercise's strategy is not VT-x with EPT")
        vcpu.ept.map(_int(args[0]))
        return None
    if op == "guest_range_ok":
        hv = getattr(vcpu, "hv", None)
        if hv is None:
            raise VlabError("no hypervisor: this exercise's strategy is not paravirt")
        return hv.guest_range_ok(_int(args[0]), _int(args[1]))
    raise ValueError(f"unknown operation {op!r}")

