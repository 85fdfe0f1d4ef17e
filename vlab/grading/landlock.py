"""The sandbox where namespaces are refused (some Docker and Binder hosts): Landlock and seccomp.

Both are kernel features an unprivileged process can apply to itself, for good: the grader
applies them in the submission's process between fork and exec (:func:`confine`).

- **Landlock** (linux/landlock.h; ABI 1 in Linux 5.13, 4 in 6.7, 6 in 6.12): the process may read
  and execute only beneath the paths it is given (the Python runtime, its own folder) and write
  nowhere; from ABI 4 it may neither connect nor bind a TCP socket; from ABI 6 it may send no
  signal to, and reach no abstract Unix socket of, a process outside its domain (so ``kill(-1)``
  spares the grader and the classmates graded beside it). A Landlock domain may also never
  ptrace a process outside it.
- **seccomp** (a BPF filter on system calls): no new processes (threads only), so nothing can
  outlive the grading or leave a daemon behind; sockets of any family but AF_UNIX are refused
  (UDP and raw sockets, which Landlock does not cover); no x32 system calls.

What this layer does not give, unlike bubblewrap: a PID namespace (the submission sees the
host's process list), a private /tmp (it may write nothing at all), its own hostname.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446  # the same on x86-64 and arm64
_VERSION = 1  # LANDLOCK_CREATE_RULESET_VERSION
_PATH_BENEATH = 1  # LANDLOCK_RULE_PATH_BENEATH
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2

# access rights (linux/landlock.h) and the ABI that introduced each
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
#: what a writable folder allows besides reading and writing: REMOVE_FILE, MAKE_REG, TRUNCATE
#: (ABI 3; masked off below it)
_FILES = (1 << 5) | (1 << 8) | (1 << 14)
_FS_RIGHTS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
_NET_TCP = 3  # BIND_TCP | CONNECT_TCP, ABI 4
_SCOPE_ALL = 3  # ABSTRACT_UNIX_SOCKET | SIGNAL, ABI 6

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class Unavailable(OSError):
    """This kernel cannot confine a process with Landlock."""


def abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, disabled or not built in)."""
    version = _libc.syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_VERSION))
    return max(0, version)


def describe() -> str:
    """What :func:`confine` gives on this kernel, for the grading report."""
    version = abi()
    parts = [f"Landlock ABI {version}: read-only runtime, no writes"]
    if version >= 4:
        parts.append("no TCP")
    if version >= 6:
        parts.append("no signals or abstract sockets outside")
    machine = platform.machine()
    parts.append("seccomp: no new processes, AF_UNIX sockets only" if machine in _SYSCALLS
                 else f"no seccomp filter on {machine}")
    return ", ".join(parts)


def confine(readable: list[str], writable: list[str] = (), processes: bool = False) -> None:
    """Confine the calling process (and all it will start) for good: read and execute beneath
    ``readable`` only, write nowhere but beneath ``writable`` (files only: no links, devices,
    sockets or pipes), and the network and signal limits this kernel supports; then the
    seccomp filter, unless ``processes`` (a process that must start others: the assembler's
    driver). Raises :class:`Unavailable` if the kernel has no Landlock (nothing is changed)."""
    version = abi()
    if version < 1:
        raise Unavailable("this kernel has no Landlock (Linux 5.13 or later, with lsm=landlock)")
    fs = _FS_RIGHTS[max(v for v in _FS_RIGHTS if v <= version)]
    attr = struct.pack("=QQQ", fs, _NET_TCP if version >= 4 else 0,
                       _SCOPE_ALL if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8
    ruleset = _check(_libc.syscall(_CREATE_RULESET, attr[:size], ctypes.c_size_t(size),
                                   ctypes.c_uint32(0)))
    try:
        rules = [(p, _EXECUTE | _READ_FILE | (_READ_DIR if os.path.isdir(p) else 0))
                 for p in readable]
        rules += [(p, _READ_FILE | _READ_DIR | _WRITE_FILE | _FILES & fs) for p in writable]
        for path, rights in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except (FileNotFoundError, NotADirectoryError):
                continue  # not on this machine: nothing to allow
            try:
                rule = struct.pack("=Qi", rights, fd)
                _check(_libc.syscall(_ADD_RULE, ruleset, _PATH_BENEATH, rule, ctypes.c_uint32(0)))
            finally:
                os.close(fd)
        _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        _check(_libc.syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)))
    finally:
        os.close(ruleset)
    if not processes:
        _seccomp()


def _check(result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise Unavailable(err, os.strerror(err))
    return result


# ---------------------------------------------------------------------------- seccomp
_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
#: system-call numbers (asm/unistd.h); arm64 has no fork or vfork, only clone
_SYSCALLS = {"x86_64": {"socket": 41, "clone": 56, "fork": 57, "vfork": 58, "clone3": 435},
             "aarch64": {"socket": 198, "clone": 220, "clone3": 435}}
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _KILL, _ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS, _EAFNOSUPPORT = 1, 38, 97
_AF_UNIX, _CLONE_THREAD = 1, 0x10000
_ARCH, _NR, _ARG0 = 4, 0, 16  # offsets in struct seccomp_data (args[0]: its low half)


def _filter(machine: str) -> bytes:
    """The BPF program: threads yes, new processes no (fork, vfork, clone without
    CLONE_THREAD; clone3 says ENOSYS so the C library falls back to clone), sockets of
    AF_UNIX only, no x32 calls, and death for a foreign architecture's calls."""
    nr = _SYSCALLS[machine]
    errno = {name: ("ret", _ERRNO | e) for name, e in
             (("eperm", _EPERM), ("enosys", _ENOSYS), ("eafnosupport", _EAFNOSUPPORT))}
    prog = [("ld", _ARCH), ("jeq", _AUDIT_ARCH[machine], "nr", "kill"),
            "nr", ("ld", _NR), ("jge", 0x40000000, "eperm", None),
            ("jeq", nr["socket"], "socket", None), ("jeq", nr["clone"], "clone", None),
            ("jeq", nr["clone3"], "enosys", None)]
    prog += [("jeq", nr[name], "eperm", None) for name in ("fork", "vfork") if name in nr]
    prog += [("ret", _ALLOW),
             "socket", ("ld", _ARG0), ("jeq", _AF_UNIX, "allow", "eafnosupport"),
             "clone", ("ld", _ARG0), ("jset", _CLONE_THREAD, "allow", "eperm"),
             "allow", ("ret", _ALLOW), "kill", ("ret", _KILL)]
    for name, insn in errno.items():  # BPF jumps forward only: the returns come last
        prog += [name, insn]
    labels, at = {}, 0
    for item in prog:  # a label names the next instruction
        if isinstance(item, str):
            labels[item] = at
        else:
            at += 1
    code = {"ld": _LD_W_ABS, "jeq": _JEQ_K, "jge": _JGE_K, "jset": _JSET_K, "ret": _RET_K}
    out, at = [], 0
    for item in prog:
        if isinstance(item, str):
            continue
        op, k, *targets = item
        jt, jf = (labels[t] - at - 1 if t else 0 for t in targets) if targets else (0, 0)
        out.append(struct.pack("=HBBI", code[op], jt, jf, k))
        at += 1
    return b"".join(out)


def _seccomp() -> None:
    """Install :func:`_filter` (skipped on machines whose system-call numbers are not known)."""
    machine = platform.machine()
    if machine not in _SYSCALLS:
        return
    prog = _filter(machine)
    buf = ctypes.create_string_buffer(prog, len(prog))
    fprog = struct.pack("=HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
    _check(_libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fprog, 0, 0))
