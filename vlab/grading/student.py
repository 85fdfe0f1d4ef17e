"""The student's side of grading: runs *untrusted* handlers in their own process.

Started by :mod:`vlab.grading.sandbox` with a socket to the grader. The submission is loaded here,
never in the grader. Its handlers get a :class:`ProxyVcpu` whose every operation (a register, a
byte of memory, ``skip()``) is a request the grader carries out on the real virtual CPU and
answers — so a submission can affect the guest exactly as a handler may, and nothing else: not the
grader, not the checks, not its score. Messages are JSON lines (never pickle, which would let the
submission run code in the grader).
"""

from __future__ import annotations

import json
import runpy
import socket
import sys
import traceback

from vlab.monitor.api import DEFERRED, REGISTER_PARTS

#: Requests that change no register: the registers sent with the call stay valid after them.
_PURE = frozenset({"reg", "mem_read", "virt", "vmread", "guest_eflags", "vtime", "guest_range_ok",
                   "disk_read", "disk_sectors", "blk_queue"})
#: Requests that answer nothing (besides register writes): they travel with the next request
#: (or the end of the call), in order, instead of costing a round trip each.
_DEFERRED = DEFERRED - {"set_reg"}

class _Channel:
    """The socket to the grader. The call brings the general registers along (when the exercise
    lets a handler read and write them): reads are answered here; writes, ``skip()`` and other
    requests that answer nothing travel with the next request that does (or with the end of the
    call), in order. A typical handler costs one round trip instead of four or five."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.file = sock.makefile("rb")  # buffered: one recv per message, not one per byte
        self.registers: dict[str, int] | None = None  # as the grader will have them
        self.pending: list[list] = []  # requests made here, not yet sent

    def send(self, *msg) -> None:
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def recv(self):
        line = self.file.readline()
        if not line:
            raise SystemExit(0)
        return json.loads(line)

    def take_pending(self) -> list[list]:
        pending, self.pending = self.pending, []
        return pending

    def ask(self, *msg):
        if msg[0] in _DEFERRED and self.registers is not None:
            self.pending.append(list(msg))
            return None
        pending = self.take_pending()
        if pending:
            self.send("op", "after", pending, *msg)
        else:
            self.send("op", *msg)
        if msg[0] not in _PURE:
            self.registers = None  # (the request may have changed them: ask from now on)
        reply = self.recv()
        if reply[0] == "err":
            raise RuntimeError(reply[1])
        return reply[1]


class _Regs:
    def __init__(self, ch: _Channel):
        object.__setattr__(self, "_ch", ch)

    def __getattr__(self, name):
        known = self._ch.registers
        if known is not None:
            if name in known:
                return known[name]
            if name in REGISTER_PARTS:
                full, shift, mask = REGISTER_PARTS[name]
                return (known[full] >> shift) & mask
        return self._ch.ask("reg", name)

    def __setattr__(self, name, value):
        value = int(value)
        known = self._ch.registers
        if known is not None and (name in known or name in REGISTER_PARTS) and -(1 << 63) <= value < 1 << 64:
            if name in REGISTER_PARTS:  # (the grader merges a part into its register the same way)
                full, shift, mask = REGISTER_PARTS[name]
                name, value = full, (known[full] & ~(mask << shift)) | ((value & mask) << shift)
            known[name] = value & 0xFFFF_FFFF  # (what the grader's 32-bit register will hold)
            self._ch.pending.append(["set_reg", name, value])
            return
        self._ch.ask("set_reg", name, value)

    __getitem__ = __getattr__

    def __setitem__(self, name, value):
        self.__setattr__(name, value)


class _Virt:
    def __init__(self, ch: _Channel):
        object.__setattr__(self, "_ch", ch)

    def __getattr__(self, name):
        value = self._ch.ask("virt", name)
        if isinstance(value, list):
            return _Table(*value)
        return value

    def __setattr__(self, name, value):
        if hasattr(value, "base") and hasattr(value, "limit"):
            value = [value.base, value.limit]
        self._ch.ask("set_virt", name, value)


class _Table:
    def __init__(self, base: int, limit: int):
        self.base, self.limit = base, limit

    def __repr__(self):
        return f"TableRegister(base={self.base:#x}, limit={self.limit:#x})"


class _Mem:
    def __init__(self, ch: _Channel):
        self._ch = ch

    def read(self, address: int, size: int) -> bytes:
        return bytes.fromhex(self._ch.ask("mem_read", int(address), int(size)))

    def write(self, address: int, data: bytes) -> None:
        self._ch.ask("mem_write", int(address), bytes(data).hex())

    def u8(self, a):
        return self.read(a, 1)[0]

    def u16(self, a):
        return int.from_bytes(self.read(a, 2), "little")

    def u32(self, a):
        return int.from_bytes(self.read(a, 4), "little")

    def write_u16(self, a, v):
        self.write(a, (v & 0xFFFF).to_bytes(2, "little"))

    def write_u32(self, a, v):
        self.write(a, (v & 0xFFFFFFFF).to_bytes(4, "little"))


class _Disk:
    def __init__(self, ch: _Channel):
        self._ch = ch

    @property
    def sectors(self) -> int:
        return self._ch.ask("disk_sectors")

    def read(self, sector: int, count: int = 1) -> bytes:
        return bytes.fromhex(self._ch.ask("disk_read", int(sector), int(count)))

    def write(self, sector: int, data: bytes) -> None:
        self._ch.ask("disk_write", int(sector), bytes(data).hex())


class _Vmcs:
    def __init__(self, ch: _Channel):
        self._ch = ch

    def __getitem__(self, field):
        return self._ch.ask("vmread", field)

    def __setitem__(self, field, value):
        self._ch.ask("vmwrite", field, int(value))

    vmread = __getitem__
    vmwrite = __setitem__


class _Hypervisor:
    def __init__(self, ch: _Channel):
        self._ch = ch

    def guest_range_ok(self, address: int, size: int) -> bool:
        return self._ch.ask("guest_range_ok", int(address), int(size))


class _Ept:
    def __init__(self, ch: _Channel):
        self._ch = ch

    def map(self, gpa: int) -> None:
        self._ch.ask("ept_map", int(gpa))


def _remote(name: str, kinds: tuple[str, ...]):
    """A method that asks the grader to make call ``name`` of the handler API (vlab.monitor.api),
    with the defaults the API declares; the grader checks each argument's kind again."""
    import inspect

    from vlab.monitor.api import HandlerVcpu

    signature = inspect.signature(getattr(HandlerVcpu, name))

    def call(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        values = list(bound.arguments.values())[1:]
        if kinds and kinds[-1] == "ints":  # a variadic tail travels as one list
            values = values[:-1] + [list(values[-1])]
        out = self._ch.ask(name, *values)
        return tuple(out) if isinstance(out, list) else out

    call.__name__ = name
    call.__doc__ = getattr(HandlerVcpu, name).__doc__
    return call


class ProxyVcpu:
    """What a handler sees: the same names as vlab's VirtualCpu (the protocol
    :class:`vlab.monitor.api.HandlerVcpu`), each carried out by the grader."""

    def __init__(self, ch: _Channel):
        self._ch = ch
        self.regs, self.virt, self.mem, self.disk = _Regs(ch), _Virt(ch), _Mem(ch), _Disk(ch)
        self.vmcs, self.hv, self.ept = _Vmcs(ch), _Hypervisor(ch), _Ept(ch)

    @property
    def vtime(self):
        return self._ch.ask("vtime")


def _make_proxy_calls() -> None:
    from vlab.monitor.api import CALLS

    for name, kinds in CALLS.items():
        setattr(ProxyVcpu, name, _remote(name, kinds))


_make_proxy_calls()


class ExitView:
    """The exit a handler is given (fields as in vlab.monitor.trace.Exit)."""

    def __init__(self, d: dict):
        from vlab.monitor.trace import ExitReason

        self.reason = ExitReason(d["reason"])
        self.eip, self.cpl, self.instruction = d["eip"], d["cpl"], d["instruction"]
        self.raw = bytes.fromhex(d["raw"])
        self.qualification, self.detail = d["qualification"], d["detail"]


def main() -> None:
    sock = socket.socket(fileno=int(sys.argv[1]))
    ch = _Channel(sock)
    path, names = sys.argv[2], sys.argv[3].split(",")
    try:
        module = runpy.run_path(path, run_name="submission")
    except BaseException as e:  # noqa: BLE001 - reported, never fatal to the grader
        ch.send("loaded", None, f"your file does not load: {type(e).__name__}: {e}")
        return
    missing = [n for n in names if not callable(module.get(n))]
    if missing:
        ch.send("loaded", None, f"your file defines no function {', '.join(missing)}")
        return
    ch.send("loaded", names, None)
    vcpu = ProxyVcpu(ch)
    while True:
        msg = ch.recv()
        if msg[0] != "call":
            return
        name, exit_dict = msg[1], msg[2]
        ch.registers = dict(msg[3]) if len(msg) > 3 and msg[3] else None
        ch.pending = []
        try:
            module[name](vcpu, ExitView(exit_dict))
        except BaseException as e:  # noqa: BLE001 - SystemExit too: a handler may not end us
            frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path]
            where = "".join(traceback.format_list(frames[-3:]))
            ch.send("raised", f"{type(e).__name__}: {e}", where[-1500:], ch.take_pending())
            continue
        ch.send("done", ch.take_pending())


if __name__ == "__main__":
    main()
