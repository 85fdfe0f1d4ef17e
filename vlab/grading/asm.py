"""Assembly exercises: the submission is one assembly file that a trusted program includes
(exercise 11: the exit handlers of the mini hypervisor, ``vlab/guests/hypervisor/hv.S`` built
with ``HANDLERS=1``), and the grade is what that program does in vlab's machine.

Assembling hostile source is not harmless: GNU as reads any file it is told to read
(``.incbin "/etc/shadow"``, ``.include``), and as and ld can be made to use much memory, disk and
time. So the submission is assembled inside the grader's sandbox (:mod:`.isolation`), by a small
driver that gets everything on its stdin and answers on its stdout:

- **bubblewrap**: the same namespaces, uid and limits as a submission's handlers get, the
  toolchain read-only (``/usr``), and a private tmpfs ``/tmp`` where the driver writes the
  program's sources and the submission; no network, and no path of the grader at all;
- **Landlock** (where namespaces are refused): the driver may read the runtime and write a
  fresh folder of its own; the grader removes that folder without reading it;
- **none** (a practice run, ``isolation="best"`` without a sandbox): said so in the report.

The answer (the flat image and ``nm``'s symbol map, or the assembler's messages) comes back
through a pipe, read with a size cap and a deadline: the grader never opens a file the
assembler could write. The assembled program then runs in the grader's own machine, as any guest
does; the emulator is its sandbox, and the scenario's instruction budget and cap on exits end a
handler that loops.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from vlab.errors import AssemblyError, VlabError
from vlab.grading import landlock
from vlab.grading.isolation import (
    IsolationUnavailable,
    bwrap_base,
    isolation,
    limits,
    runtime_paths,
    sandbox_python,
    submission_uid,
)
from vlab.i18n import tr
from vlab.isa import INCLUDE_DIR, Image, parse_symbols, program_text

SOURCE_LIMIT = 256 * 1024  # bytes of a submitted assembly file
WALL_LIMIT = 60.0  # seconds the sandboxed assembler may take, on the wall clock
CPU_LIMIT = 20  # seconds of CPU time it may use
FILE_SIZE = 4 << 20  # bytes a file it writes may have (the object, the image)
ANSWER_LIMIT = 4 << 20  # bytes of its answer read
MESSAGE_LINES = 20  # lines of the assembler's messages shown to the student
_SYMBOL = re.compile(r"[A-Za-z_.$][\w.$@]{0,127}\Z")

# The driver, run by the sandbox's interpreter with -I (no site, no vlab): it reads {dir, main,
# files, defines, origin} as JSON on stdin, writes the files into dir, runs as, ld, objcopy and
# nm there with their messages in a file (never more than the file-size limit), and prints one
# JSON object: the stage reached, the messages, and on success the image (base64) and symbols.
_DRIVER = r"""
import base64, json, os, subprocess, sys
req = json.loads(sys.stdin.read())
os.chdir(req["dir"])
for name, text in req["files"].items():
    with open(name, "w") as f:
        f.write(text)

def run(cmd, out=None):
    with open("messages.txt", "wb") as err:
        try:
            code = subprocess.run(cmd, input=b"", stdout=out or err, stderr=err).returncode
        except OSError as e:
            err.write(str(e).encode())
            code = 127
    with open("messages.txt", "rb") as f:
        return code, f.read(16384).decode("utf-8", "replace")

answer = {"stage": "as"}
cmd = ["as", "--32", "-I", ".", "-o", "program.o", req["main"]]
for k, v in req["defines"].items():
    cmd += ["--defsym", "%s=%d" % (k, v)]
code, answer["messages"] = run(cmd)
steps = [("ld", ["ld", "-m", "elf_i386", "-N", "-Ttext=%#x" % req["origin"], "-e", "_start",
                 "-o", "program.elf", "program.o"]),
         ("objcopy", ["objcopy", "-O", "binary", "--only-section=.text", "--only-section=.data",
                      "--only-section=.rodata", "program.elf", "program.bin"])]
for stage, cmd in steps:
    if code == 0:
        answer["stage"] = stage
        code, answer["messages"] = run(cmd)
if code == 0:
    answer["stage"] = "nm"
    with open("symbols.txt", "wb") as out:
        code, _ = run(["nm", "-n", "program.elf"], out)
if code == 0:
    with open("program.bin", "rb") as f:
        answer["code"] = base64.b64encode(f.read()).decode()
    with open("symbols.txt", "rb") as f:
        answer["symbols"] = f.read(1 << 20).decode("ascii", "replace")
answer["ok"] = code == 0
answer["status"] = code
sys.stdout.write(json.dumps(answer))
"""


def read_submission(path: str | Path) -> str:
    """The submitted assembly file's text (at most :data:`SOURCE_LIMIT` bytes, UTF-8), or a
    VlabError that says what is wrong with it."""
    try:
        with open(path, "rb") as f:
            data = f.read(SOURCE_LIMIT + 1)
    except OSError as e:
        raise VlabError(tr("cannot read the submission: {error}").format(error=e)) from None
    if len(data) > SOURCE_LIMIT:
        raise VlabError(tr("the submission is over {size} KiB").format(size=SOURCE_LIMIT >> 10))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VlabError(tr("the submission is not UTF-8 text ({error})").format(error=e)) \
            from None


def _quoted(text: str) -> str:
    """The assembler's messages about the submission, each line after "| " (they may repeat
    text the submission chose, which must never pass for the grader's feedback)."""
    lines = text.splitlines()
    shown = lines[:MESSAGE_LINES]
    if len(lines) > len(shown):
        shown.append(tr("... ({count} more lines)").format(count=len(lines) - len(shown)))
    return "\n".join(f"    | {line[:200]}" for line in shown)


class SubmissionAssembler:
    """Assembles programs that include the submission (saved as ``name``), in the sandbox.

    Called as :func:`vlab.isa.assemble` is (``source, name, origin, defines, include_dirs``),
    so a program's own build function takes it in the place of ``assemble``. The sources the
    program may include are its ``include_dirs``' ``.S`` and ``.inc`` files and vlab's include
    folder; an assembly error raises :class:`AssemblyError` with the messages quoted."""

    def __init__(self, submission: str | Path, name: str, isolation_mode: str = "required"):
        self.name = name
        self.text = read_submission(submission)
        kind, how = isolation()
        if isolation_mode == "required" and kind == "none":
            raise IsolationUnavailable(tr(
                "refusing to grade without isolation: {how}. A submission is untrusted; run "
                "`vlab grade --unsafe` only on a machine where that does not matter.").format(
                how=how))
        self.kind = kind if isolation_mode != "none" else "none"
        if self.kind == "none":
            self.isolation = ("not isolated (practice run: the submission was assembled "
                              "without a sandbox" + (f"; {how}" if kind == "none" else "") + ")")
        elif self.kind == "landlock":  # (no seccomp: the driver starts the assembler)
            self.isolation = (f"assembled under Landlock ABI {landlock.abi()}, without "
                              "namespaces: it reads the runtime and writes only a fresh folder "
                              "of its own" + (", no TCP" if landlock.abi() >= 4 else ""))
        else:
            self.isolation = f"assembled in the sandbox: {how}"
        self.problem: str | None = None  # the first assembly error, for the report
        self.runs = 0  # sandboxed assemblies made (one per distinct build)
        self._cache: dict[str, Image | AssemblyError] = {}

    def __call__(self, source: str, name: str = "program", origin: int = 0x100000, *,
                 defines: dict | None = None, include_dirs: list | None = None,
                 **_ignored) -> Image:
        files = {}
        for folder in [*(include_dirs or []), INCLUDE_DIR]:
            for path in sorted(Path(folder).iterdir()):
                if path.suffix in (".S", ".inc") and path.name not in files:
                    files[path.name] = path.read_text()
        if self.name in files:
            raise VlabError(tr("the program already has a file named {name}").format(
                name=self.name))
        main = f"{name}.main.S"
        files[main] = program_text(source)
        files[self.name] = self.text
        defines = {str(k): int(v) for k, v in (defines or {}).items()}
        key = json.dumps([main, sorted(defines.items()), origin, sorted(files)])
        if key not in self._cache:
            try:
                self._cache[key] = self._assemble(files, main, defines, origin, name)
            except AssemblyError as e:
                self._cache[key] = e
                self.problem = self.problem or str(e)
        found = self._cache[key]
        if isinstance(found, AssemblyError):
            raise found
        return found

    # ------------------------------------------------------------------ the sandbox
    def _assemble(self, files: dict, main: str, defines: dict, origin: int, name: str) -> Image:
        self.runs += 1
        request = {"main": main, "files": files, "defines": defines, "origin": origin}
        work = None
        uid = submission_uid() if os.geteuid() == 0 else None
        python = sandbox_python() if (uid is not None or self.kind == "bubblewrap") else None
        if self.kind == "bubblewrap":
            cmd = [shutil.which("bwrap"), *bwrap_base(python), python, "-I", "-c", _DRIVER]
            request["dir"] = "/tmp"
            preexec = limits(uid, cpu=CPU_LIMIT, file_size=FILE_SIZE)
        else:
            python = python or sys.executable
            work = tempfile.mkdtemp(prefix="vlab-asm-")
            if uid is not None:
                os.chown(work, uid, uid)
            request["dir"] = work
            confined = [*runtime_paths(python)] if self.kind == "landlock" else None
            preexec = limits(uid, confined, writable=[work], processes=True, cpu=CPU_LIMIT,
                             file_size=FILE_SIZE)
            cmd = [python, "-I", "-c", _DRIVER]
        try:
            answer = _run(cmd, json.dumps(request).encode(), preexec, work or "/")
        finally:
            if work is not None:
                shutil.rmtree(work, ignore_errors=True)  # (never read: removed, links unfollowed)
        return self._image(answer, main, name, origin)

    def _image(self, answer: dict | str, main: str, name: str, origin: int) -> Image:
        if isinstance(answer, str):
            raise AssemblyError(tr("{name}: the assembler {problem}").format(
                name=self.name, problem=answer), self.name)
        if not answer.get("ok"):
            stage = answer.get("stage")
            messages = re.sub(rf"^{re.escape(main)}:(\d+):",  # (less the 2-line prelude)
                              lambda m: tr("the program ({name}), line {line}:").format(
                                  name=name, line=int(m[1]) - 2),
                              str(answer.get("messages", "")), flags=re.M)
            messages = messages.replace(f"./{self.name}:", f"{self.name}:").strip()
            status = answer.get("status")
            if isinstance(status, int) and status < 0:  # a signal: a limit, most likely
                try:
                    which = signal.Signals(-status).name
                except ValueError:
                    which = f"signal {-status}"
                messages += "\n" + tr("({stage} was stopped by {signal}: its limits are {cpu} s "
                                      "of CPU, {size} MiB a file, 1 GiB of memory)").format(
                    stage=stage, signal=which, cpu=CPU_LIMIT, size=FILE_SIZE >> 20)
            what = (tr("{name} does not assemble:") if stage == "as" else
                    tr("{name} does not link ({stage}):")).format(name=self.name, stage=stage)
            raise AssemblyError(f"{what}\n{_quoted(messages.strip())}", self.name)
        try:
            code = base64.b64decode(str(answer.get("code", "")), validate=True)
        except ValueError:
            raise AssemblyError(tr("{name}: the assembler's answer is malformed").format(
                name=self.name), self.name) from None
        symbols = {k: v for k, v in parse_symbols(str(answer.get("symbols", ""))).items()
                   if _SYMBOL.match(k)}
        if len(symbols) > 20_000:
            raise AssemblyError(tr("{name}: over 20,000 symbols").format(name=self.name),
                                self.name)
        return Image(name, code, origin, symbols)


def _run(cmd: list[str], request: bytes, preexec, cwd: str) -> dict | str:
    """Run the driver; its answer (a dict), or what went wrong (a str)."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, preexec_fn=preexec, cwd=cwd,
                                env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"})
    except (OSError, subprocess.SubprocessError) as e:
        return tr("could not start: {error}").format(error=e)
    out = bytearray()
    over = []

    def read() -> None:
        while chunk := proc.stdout.read(65536):
            if len(out) + len(chunk) > ANSWER_LIMIT:
                over.append(True)
                break
            out.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc.stdin.write(request)
        proc.stdin.close()
    except OSError:
        pass
    reader.join(WALL_LIMIT)
    timed_out = reader.is_alive() or bool(over)
    if timed_out:
        try:
            os.killpg(proc.pid, 9)  # (its own session: the driver and everything it started)
        except OSError:
            pass
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
    if over:
        return tr("answered more than {size} MiB: stopped").format(size=ANSWER_LIMIT >> 20)
    if timed_out:
        return tr("took more than {limit} s: stopped").format(limit=f"{WALL_LIMIT:g}")
    try:
        answer = json.loads(bytes(out))
    except (ValueError, RecursionError):
        answer = None
    if not isinstance(answer, dict):
        return tr("stopped without an answer (exit status {status}: a limit of {cpu} s of CPU, "
                  "{size} MiB a file or 1 GiB of memory?)").format(
            status=proc.returncode, cpu=CPU_LIMIT, size=FILE_SIZE >> 20)
    return answer
