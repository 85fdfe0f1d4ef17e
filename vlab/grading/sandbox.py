"""The grader's side of the sandbox: start the submission's process, carry out its requests.

The student's process (:mod:`vlab.grading.student`) runs in the sandbox :mod:`.isolation` makes
(bubblewrap namespaces, a uid of its own, resource limits), with a budget of CPU time per handler
call and per scenario, counted by the kernel for the sandbox's processes (so a busy grading host
or a hostile neighbour in a batch cannot make a correct submission run out of time), and a
generous wall-clock limit per call for a handler that sleeps or blocks. Its output comes back
through a pipe, bounded; its messages, each with an absolute deadline and a size cap, over a
socket; every request is checked against the handler
API (:data:`vlab.monitor.api.CALLS`) and the exercise's allowed operations before the grader
carries it out on the real virtual CPU. The grader opens nothing the submission could write.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from vlab.errors import HandlerError, VlabError
from vlab.grading.isolation import (
    IsolationUnavailable,
    bwrap_base,
    isolation,
    limits,
    runtime_paths,
    sandbox_python,
    student_tree,
    submission_uid,
)
from vlab.i18n import tr
from vlab.monitor.api import CALLS, DEFERRED, SHARED_REGISTERS

CALL_TIMEOUT = 2.0  # seconds of CPU time one handler call may use
TOTAL_TIMEOUT = 20.0  # seconds of CPU time the submission may use per scenario (reset for each)
CALL_WALL = 10.0  # seconds one handler call may take on the wall clock (sleeping, blocked)
POLL = 0.25  # seconds between looks at the CPU time of a call that has not answered yet
LOAD_TIMEOUT = 10.0  # seconds to start the interpreter and load the submission
OUTPUT_LIMIT = 64 * 1024  # bytes of the submission's printed output kept
MESSAGE_LIMIT = 1 << 20  # bytes one message from the submission may have


class _Output:
    """The submission's stdout and stderr, read from a pipe into a bounded buffer (nothing the
    submission can name on disk, and never more than ``OUTPUT_LIMIT`` bytes kept)."""

    def __init__(self, pipe):
        self.data = bytearray()
        self.dropped = 0
        self.thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self.thread.start()

    def _read(self, pipe) -> None:
        try:
            while chunk := pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(65536):
                room = OUTPUT_LIMIT - len(self.data)
                self.data += chunk[:max(0, room)]
                self.dropped += max(0, len(chunk) - max(0, room))
        except (OSError, ValueError):
            pass

    def text(self, limit: int) -> str:
        text = bytes(self.data[:limit]).decode("utf-8", "replace")
        if len(self.data) > limit or self.dropped:
            text += "\n" + tr("[... output truncated]")
        return text


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used by process ``pid`` and all its descendants, living and
    reaped, as the kernel counts it (proc(5): utime, stime, cutime, cstime)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                stat = f.read()
            total += sum(map(int, stat[stat.rindex(b")") + 2:].split()[11:15]))
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", "rb") as f:
                    todo += map(int, f.read().split())
        except (OSError, ValueError):
            continue  # it ended meanwhile: its time is in its parent's cutime
    return total / _TICK


class Student:
    """A running submission: ``call(handler_name, vcpu, exit)`` runs one of its handlers.

    ``isolation``: "required" (official grading: bubblewrap or an error), "best" (bubblewrap if
    this machine has it, else resource limits only: a practice run) or "none"."""

    def __init__(self, submission: Path, names: list[str], isolation_mode: str = "required",
                 allowed: frozenset[str] | None = None):
        self.names = names
        self.allowed = allowed
        self.calls = 0  # handler calls made
        self.requests = 0  # round trips the handlers asked for inside them (a cost: benchmarks)
        kind, how = isolation()
        if isolation_mode == "required" and kind == "none":
            raise IsolationUnavailable(tr(
                "refusing to grade without isolation: {how}. A submission is untrusted code; "
                "run `vlab grade --unsafe` only on a machine where that does not matter.").format(
                how=how))
        self.isolated = kind != "none" and isolation_mode != "none"
        self.isolation = how if self.isolated else (
            "not isolated (practice run: resource limits only" + (f"; {how}" if kind == "none"
                                                                 else "") + ")")
        self.dir = Path(tempfile.mkdtemp(prefix="vlab-student-"))
        self.dir.chmod(0o755)
        src = self.dir / "submission.py"
        shutil.copyfile(submission, src)
        src.chmod(0o644)
        lib = student_tree(self.dir)
        parent, child = socket.socketpair()
        self.sock = parent
        uid = submission_uid() if os.geteuid() == 0 else None
        argv = ["-I", "-u", "-c", "import sys; sys.path.insert(0, sys.argv[4]); "
                "from vlab.grading.student import main; main()", str(child.fileno())]
        confined_to = None
        if self.isolated and kind == "bubblewrap":
            python = sandbox_python()
            cmd = [shutil.which("bwrap"), *bwrap_base(python),
                   "--ro-bind", str(lib), "/sandbox/lib",
                   "--ro-bind", str(src), "/sandbox/submission.py", python, *argv,
                   "/sandbox/submission.py", ",".join(names), "/sandbox/lib"]
            env = {"PATH": "/usr/bin:/bin"}
        else:  # Landlock, or resource limits only; as root another user if an interpreter allows
            python = sandbox_python() if uid is not None else None
            if python is None:
                python, uid = sys.executable, None
            if self.isolated:  # Landlock and seccomp: it reads the runtime and its folder only
                confined_to = [*runtime_paths(python), str(self.dir)]
            cmd = [python, *argv, str(src), ",".join(names), str(lib)]
            env = {"PATH": "/usr/bin:/bin", "HOME": str(self.dir), "PYTHONDONTWRITEBYTECODE": "1"}
        #: without a uid of its own the submission runs as the grader (no namespaces around it)
        self.isolated_user = uid is not None
        self.proc = subprocess.Popen(
            cmd, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, cwd=self.dir, env=env,
            preexec_fn=limits(uid, confined_to))
        child.close()
        self.output = _Output(self.proc.stdout)
        self.buffer = b""
        self.closed = False
        self.scenario_cpu = 0.0  # the sandbox's CPU time when the scenario began
        self.scenario_wall = time.monotonic()
        self.error: str | None = None
        msg = self._recv(time.monotonic() + LOAD_TIMEOUT)
        if msg is None or msg[0] != "loaded":
            self.error = self._death(tr("while loading"), LOAD_TIMEOUT)
        elif msg[2]:
            self.error = _loading_problem(msg[2])

    # ---------------------------------------------------------------- protocol
    def _recv(self, deadline: float):
        """One message, by ``deadline`` (a monotonic time: a submission that trickles bytes
        gains nothing), at most ``MESSAGE_LIMIT`` bytes; None if none came in time."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or len(self.buffer) > MESSAGE_LIMIT:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, OSError):
                return None
            if not chunk:  # the submission's end of the channel closed: its process is ending
                self.closed = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except (ValueError, RecursionError):
            return ["garbage"]
        return msg if isinstance(msg, list) and msg else ["garbage"]

    def _send(self, *msg) -> None:
        try:
            self.sock.sendall(json.dumps(msg).encode() + b"\n")
        except OSError:
            pass

    def _death(self, when: str, limit: float) -> str:
        if self.closed:  # it closed the channel: give its process a moment to be reaped
            try:
                self.proc.wait(2)
            except subprocess.TimeoutExpired:
                pass
        code = self.proc.poll()
        if code is None:
            if len(self.buffer) > MESSAGE_LIMIT:
                return tr("your code sent a message over {size} MiB {when}").format(
                    size=MESSAGE_LIMIT >> 20, when=when)
            return tr("your code did not answer {when} within {limit} s (sleeping or blocked?): "
                      "stopped").format(when=when, limit=f"{limit:g}")
        return tr("your code's process ended {when} (exit status {code}: sys.exit, a crash, or "
                  "a limit)").format(when=when, code=code)

    def new_scenario(self) -> None:
        """A scenario starts: its handlers get the whole time budget (one slow scenario does
        not starve the next, so the same submission scores the same every time)."""
        self.scenario_cpu = self.cpu_time()
        self.scenario_wall = time.monotonic()

    def cpu_time(self) -> float:
        """Seconds of CPU time the submission's processes have used so far."""
        return _cpu_seconds(self.proc.pid)

    def _over_budget(self, call_cpu: float | None) -> str | None:
        """Why the submission must be stopped now, if its CPU time is over a budget."""
        used = self.cpu_time()
        if call_cpu is not None and used - call_cpu > CALL_TIMEOUT:
            return tr("your code used more than {limit} s of CPU time in one call").format(
                limit=f"{CALL_TIMEOUT:g}")
        if used - self.scenario_cpu > TOTAL_TIMEOUT:
            return tr("your code used more than {limit} s of CPU time in this scenario").format(
                limit=f"{TOTAL_TIMEOUT:g}")
        return None

    def _stop(self, why: str) -> HandlerError:
        self.error = why
        self.kill()
        return HandlerError(why)

    def call(self, name: str, vcpu, exit_) -> None:
        """Run the student's handler ``name`` for ``exit_``, serving its requests on ``vcpu``.

        Fast calls cost no accounting: the CPU time is only looked at once a call has run for
        ``POLL`` seconds, or once the scenario has run long enough on the wall clock that its
        CPU budget could be spent (a sandbox has at most ``os.cpu_count()`` CPUs to spend it on)."""
        if self.error is not None:
            raise HandlerError(self.error)
        if time.monotonic() - self.scenario_wall > TOTAL_TIMEOUT / (os.cpu_count() or 1):
            if why := self._over_budget(None):
                raise self._stop(tr("{why}: stopped before {handler}").format(why=why,
                                                                              handler=name))
        shares = self.allowed is None or {"reg", "set_reg"} <= self.allowed
        self.calls += 1
        self._send("call", name, _exit_json(exit_),
                   {r: vcpu.regs[r] for r in SHARED_REGISTERS} if shares else None)
        start = looked = time.monotonic()
        call_cpu = None  # the CPU time when this call was first looked at
        while True:
            now = time.monotonic()
            if now - looked >= POLL:
                if call_cpu is None:  # the call's first POLL seconds count as CPU time
                    call_cpu = self.cpu_time() - (now - start)
                if why := self._over_budget(call_cpu):
                    raise self._stop(tr("{why} (in {handler}; an endless loop?)").format(
                        why=why, handler=name))
                looked = now
            msg = self._recv(min(start + CALL_WALL, looked + POLL))
            if msg is None:
                if self.closed or len(self.buffer) > MESSAGE_LIMIT or \
                        time.monotonic() >= start + CALL_WALL:
                    raise self._stop(self._death(tr("in {handler}").format(handler=name),
                                                 CALL_WALL))
                continue
            kind = msg[0]
            if kind == "done":
                self._apply_deferred(vcpu, name, msg[1] if len(msg) > 1 else None)
                return
            if kind == "raised":
                self._apply_deferred(vcpu, name, msg[3] if len(msg) > 3 else None)
                where = f"\n{msg[2]}" if len(msg) > 2 else ""
                raise HandlerError(tr("{handler} raised {error}").format(
                    handler=name, error=_quoted(f"{msg[1]}{where}")))
            if kind != "op":
                raise self._stop(_malformed(name))
            self.requests += 1
            try:
                request = msg[1:]
                if request[:1] == ["after"] and len(request) >= 3:
                    self._apply_deferred(vcpu, name, request[1])  # (made before this request)
                    request = request[2:]
                op = request[0] if request else None
                if refused := self._refusal(op):
                    self._send("err", refused)
                    continue
                self._send("ok", _serve(vcpu, request))
            except HandlerError:
                raise
            except VlabError as e:
                self._send("err", str(e))
            except Exception as e:  # a bad request: reported to the handler as an error
                self._send("err", f"{type(e).__name__}: {e}")

    def _refusal(self, op) -> str | None:
        """Why request ``op`` is refused in this exercise (None: it is allowed)."""
        if self.allowed is None or op in self.allowed:
            return None
        return tr("{request} is not part of this exercise: a handler here may use "
                  "{allowed}").format(request=repr(op), allowed=", ".join(sorted(self.allowed)))

    def _apply_deferred(self, vcpu, name: str, requests) -> None:
        """The requests a handler made that answer nothing (register writes, ``skip()``,
        ``console_append``), carried out in order, each as if it had been sent alone; one that
        fails ends the call, as the error it would have raised in the handler."""
        if not requests:
            return
        if not isinstance(requests, list) or len(requests) > 4096:
            raise self._stop(_malformed(name))
        for request in requests:
            if not isinstance(request, list) or not request or request[0] not in DEFERRED or (
                    request[0] == "set_reg" and (len(request) != 3
                                                 or request[1] not in SHARED_REGISTERS)):
                raise self._stop(_malformed(name))
            if refused := self._refusal(request[0]):
                raise _raised(name, refused)
            try:
                _serve(vcpu, request)
            except HandlerError:
                raise
            except VlabError as e:
                raise _raised(name, e) from None
            except Exception as e:  # a bad request: as the handler would have been told
                raise _raised(name, f"{type(e).__name__}: {e}") from None

    def output_text(self, limit: int = 2000) -> str:
        return self.output.text(limit)

    def kill(self) -> None:
        """End the whole sandbox: its process group (bubblewrap, whose PID namespace dies with
        it, taking every process the submission started)."""
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        if self.proc.poll() is None:
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
        self.output.thread.join(2)
        self.sock.close()
        output = self.output_text()
        shutil.rmtree(self.dir, ignore_errors=True)
        return output


def _malformed(handler: str) -> str:
    return tr("{handler}: the sandbox received a malformed message").format(handler=handler)


def _raised(handler: str, error: object) -> HandlerError:
    """The error a handler met in a request it made (it would have raised RuntimeError)."""
    return HandlerError(tr("{handler} raised {error}").format(handler=handler,
                                                              error=f"RuntimeError: {error}"))


#: What the submission's process writes when it cannot load the file (vlab.grading.student
#: runs without the catalogue: the grader says it again in the grading's language).
_DOES_NOT_LOAD, _NO_FUNCTION = "your file does not load: ", "your file defines no function "


def _loading_problem(text: object) -> str:
    """Why the submission did not load, in the grading's language. Only the two sentences the
    student process writes are translated; anything else it sends is shown as it came."""
    text = str(text)
    if text.startswith(_DOES_NOT_LOAD):
        return tr("your file does not load: {error}").format(error=text[len(_DOES_NOT_LOAD):])
    if text.startswith(_NO_FUNCTION):
        return tr("your file defines no function {names}").format(
            names=text[len(_NO_FUNCTION):])
    return text


def _quoted(text: object, limit: int = 1500) -> str:
    """Text that came from the submission, made unmistakable: one line per line, each after a
    "| ", so it can never pass for the grader's own feedback ("[pass] ...")."""
    lines = str(text)[:limit].splitlines() or [""]
    return lines[0] + "".join(f"\n    | {line}" for line in lines[1:])


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
            raise ValueError(tr("expected a short list of integers"))
        return [_int(v) for v in value]
    if kind == "str":
        if not isinstance(value, str) or len(value) > 64:
            raise ValueError(tr("expected a short string"))
        return value
    if kind == "json":
        if len(json.dumps(value)) > 4096:
            raise ValueError(tr("a note must be small"))
        return value
    raise ValueError(f"unknown argument kind {kind!r}")


def _int(x) -> int:
    if not isinstance(x, int) or isinstance(x, bool):
        raise ValueError(tr("expected an integer"))
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
            raise AttributeError(tr("the virtual CPU has no field {name}").format(name=repr(name)))
        value = getattr(vcpu.virt, name)
        return [value.base, value.limit] if hasattr(value, "base") else value
    if op == "set_virt":
        name, value = str(args[0]), args[1]
        if name not in _VIRT:
            raise AttributeError(tr("the virtual CPU has no field {name}").format(name=repr(name)))
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
            raise ValueError(tr("read size out of range"))
        return vcpu.mem.read(_int(args[0]), size).hex()
    if op == "mem_write":
        data = bytes.fromhex(str(args[1]))
        if len(data) > 1 << 16:
            raise ValueError(tr("write too large"))
        vcpu.mem.write(_int(args[0]), data)
        return None
    if op == "disk_sectors":
        return vcpu.disk.sectors
    if op == "disk_read":
        return vcpu.disk.read(_int(args[0]), _int(args[1])).hex()
    if op == "disk_write":
        data = bytes.fromhex(str(args[1]))
        if len(data) > 1 << 17:
            raise ValueError(tr("write too large"))
        vcpu.disk.write(_int(args[0]), data)
        return None
    if op in CALLS:  # the handler API's plain calls, checked kind by kind
        kinds = CALLS[op]
        if len(args) != len(kinds):
            raise ValueError(tr("{request} takes {count} arguments").format(request=op,
                                                                          count=len(kinds)))
        values = [_checked(kind, value) for kind, value in zip(kinds, args, strict=True)]
        if kinds and kinds[-1] == "ints":
            values = values[:-1] + values[-1][:5]
        out = getattr(vcpu, op)(*values)
        return list(out) if isinstance(out, tuple) else out
    if op == "vtime":
        return vcpu.machine.vtime
    if op == "vmread":
        if vcpu.vmcs is None:
            raise VlabError(tr("no VMCS: this exercise's strategy is not VT-x"))
        return vcpu.vmcs.vmread(args[0])
    if op == "vmwrite":
        if vcpu.vmcs is None:
            raise VlabError(tr("no VMCS: this exercise's strategy is not VT-x"))
        vcpu.vmcs.vmwrite(args[0], _int(args[1]))
        return None
    if op == "ept_map":
        if getattr(vcpu, "ept", None) is None:
            raise VlabError(tr("no EPT: this exercise's strategy is not VT-x with EPT"))
        vcpu.ept.map(_int(args[0]))
        return None
    if op == "guest_range_ok":
        hv = getattr(vcpu, "hv", None)
        if hv is None:
            raise VlabError(tr("no hypervisor: this exercise's strategy is not paravirt"))
        return hv.guest_range_ok(_int(args[0]), _int(args[1]))
    raise ValueError(tr("unknown operation {request}").format(request=repr(op)))

