"""Instructions: Capstone decoding, vlab's own instruction classes, and the guest assembler.

Capstone's PRIVILEGE group is not a reliable classifier (it misses CLTS and RDMSR and marks STR),
so vlab keeps its own tables, written from the SDM and from Robin & Irvine (2000).
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import capstone

from vlab.errors import AssemblyError, VlabError


class InsnClass(enum.Enum):
    """How an instruction matters to a virtual machine monitor."""

    INNOCUOUS = "innocuous"  # runs as is at any privilege level
    PRIVILEGED = "privileged"  # faults (#GP) when executed outside ring 0
    IO = "io"  # port I/O: privileged while CPL > IOPL
    SENSITIVE = "sensitive"  # sensitive but unprivileged: a virtualization hole (no trap)
    VMX = "vmx"  # VMX instructions and CPUID: exit under VT-x, #UD or innocuous elsewhere


#: Privileged instructions (Intel SDM vol. 3, 2.8 "System instruction summary": CPL 0 only).
PRIVILEGED = frozenset({
    "lgdt", "lidt", "lldt", "ltr", "lmsw", "clts", "invd", "wbinvd", "invlpg", "hlt",
    "rdmsr", "wrmsr", "rdpmc", "cli", "sti",
})
#: Port I/O (privileged only while CPL > IOPL; vlab's guests run with IOPL 0).
IO = frozenset({"in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"})
#: Robin & Irvine's sensitive unprivileged instructions (USENIX Security 2000), as Capstone spells
#: them; MOV/PUSH/POP count only with a segment register operand (see :func:`classify`).
SENSITIVE = frozenset({
    "sgdt", "sidt", "sldt", "smsw", "str", "pushf", "pushfd", "popf", "popfd",
    "lar", "lsl", "verr", "verw", "lcall", "ljmp", "retf", "int", "int3", "into", "iretd", "iret",
})
VMX = frozenset({
    "cpuid", "vmcall", "vmlaunch", "vmresume", "vmxon", "vmxoff", "vmread", "vmwrite",
    "vmptrld", "vmptrst", "vmclear", "invept", "invvpid", "vmfunc",
})
SEGMENT_REGISTERS = frozenset({"cs", "ds", "es", "fs", "gs", "ss"})
#: The legacy prefix bytes (SDM vol. 2A, 2.1.1): LOCK and REP/REPNE, segment overrides, operand
#: and address size.
PREFIX_BYTES = frozenset({0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x66, 0x67, 0xF0, 0xF2, 0xF3})

_SEG_OPERAND = re.compile(r"(?<![a-z])(cs|ds|es|fs|gs|ss)(?![a-z:])")
_CONTROL_OPERAND = re.compile(r"(?<![a-z])(cr[0-8]|dr[0-7])(?![a-z0-9])")


def classify(mnemonic: str, op_str: str) -> InsnClass:
    """The class of one instruction, from its mnemonic and operands."""
    if mnemonic in PRIVILEGED:
        return InsnClass.PRIVILEGED
    if mnemonic in IO:
        return InsnClass.IO
    if mnemonic in VMX:
        return InsnClass.VMX
    if mnemonic in SENSITIVE:
        return InsnClass.SENSITIVE
    if mnemonic == "mov":
        if _CONTROL_OPERAND.search(op_str):
            return InsnClass.PRIVILEGED
        if _SEG_OPERAND.search(op_str):
            return InsnClass.SENSITIVE
    if mnemonic in ("push", "pop") and op_str.strip() in SEGMENT_REGISTERS:
        return InsnClass.SENSITIVE
    return InsnClass.INNOCUOUS


@dataclass(frozen=True)
class Instruction:
    """One decoded guest instruction."""

    address: int
    size: int
    raw: bytes
    mnemonic: str
    op_str: str
    klass: InsnClass

    @cached_property
    def text(self) -> str:  # (read at every trap: made once)
        return f"{self.mnemonic} {self.op_str}".strip()

    def __str__(self) -> str:
        return self.text


class Decoder:
    """Capstone in 32-bit mode, with a cache of decoded instructions by (address, bytes)."""

    def __init__(self) -> None:
        self._cs = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        self._cache: dict[tuple[int, bytes], Instruction | None] = {}

    def decode(self, code: bytes, address: int) -> Instruction | None:
        """The first instruction in ``code`` at ``address``; None if the bytes are invalid."""
        code = bytes(code[:15])
        key = (address, code)
        if key in self._cache:
            return self._cache[key]
        insn = None
        for i in self._cs.disasm_lite(code, address, 1):
            size, mnem, ops = i[1], i[2], i[3]
            insn = Instruction(address, size, code[:size], mnem, ops, classify(mnem, ops))
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[key] = insn
        return insn

    def decode_many(self, code: bytes, address: int, count: int | None = None) -> list[Instruction]:
        """Decode consecutive instructions (stops at the first invalid one)."""
        out = []
        for i in self._cs.disasm_lite(bytes(code), address, count or 0):
            addr, size, mnem, ops = i
            off = addr - address
            out.append(Instruction(addr, size, bytes(code[off:off + size]), mnem, ops, classify(mnem, ops)))
        return out


@dataclass(frozen=True)
class Operand:
    """One operand: kind "reg" (name), "imm" (value) or "mem" (base, index, scale, disp, size)."""

    kind: str
    reg: str = ""
    value: int = 0
    base: str = ""
    index: str = ""
    scale: int = 1
    disp: int = 0
    size: int = 0
    segment: str = ""  # a memory operand's segment override ("" for the default one)


_DETAIL: capstone.Cs | None = None
_OPERANDS: dict[tuple[int, bytes], tuple[Operand, ...]] = {}


def operands(insn: Instruction) -> tuple[Operand, ...]:
    """The operands of an instruction, decoded with Capstone's detail mode (cached)."""
    global _DETAIL
    key = (insn.address, insn.raw)
    if key in _OPERANDS:
        return _OPERANDS[key]
    if _DETAIL is None:
        _DETAIL = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32)
        _DETAIL.detail = True
    from capstone import x86_const as cx

    out = []
    for ci in _DETAIL.disasm(insn.raw, insn.address, 1):
        for op in ci.operands:
            if op.type == cx.X86_OP_REG:
                out.append(Operand("reg", reg=ci.reg_name(op.reg), size=op.size))
            elif op.type == cx.X86_OP_IMM:
                out.append(Operand("imm", value=op.imm & 0xFFFF_FFFF, size=op.size))
            elif op.type == cx.X86_OP_MEM:
                m = op.mem
                out.append(Operand("mem", base=ci.reg_name(m.base) if m.base else "",
                                   index=ci.reg_name(m.index) if m.index else "", scale=m.scale,
                                   disp=m.disp & 0xFFFF_FFFF, size=op.size,
                                   segment=ci.reg_name(m.segment) if m.segment else ""))
    if len(_OPERANDS) > 50_000:
        _OPERANDS.clear()
    _OPERANDS[key] = result = tuple(out)
    return result


_DECODER: Decoder | None = None


def decoder() -> Decoder:
    """The process-wide decoder."""
    global _DECODER
    if _DECODER is None:
        _DECODER = Decoder()
    return _DECODER


# --------------------------------------------------------------------------------------------
# The assembler: GNU as (binutils) in 32-bit Intel syntax, linked to a flat image with a symbol map.
# Keystone 0.9.2 encodes lgdt/lidt/sgdt/sidt with a stray 0x66 prefix in 32-bit mode; GNU as does
# not (measured), and a test checks the encoding of every sensitive instruction the guests use.
# --------------------------------------------------------------------------------------------

INCLUDE_DIR = Path(__file__).parent / "guests" / "include"
_PRELUDE = ".intel_syntax noprefix\n.code32\n"
_EPILOGUE = ".section .text\n__text_end:\n"  # marks where code ends and data begins
_AS_ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?:Error|Fatal error): (?P<msg>.*)$", re.M)


@dataclass(frozen=True)
class Image:
    """A flat guest image: bytes to load at ``origin``, and the symbol map (label -> address)."""

    name: str
    code: bytes
    origin: int
    symbols: dict[str, int] = field(default_factory=dict)
    entry: int | None = None

    def __post_init__(self) -> None:
        if self.entry is None:
            object.__setattr__(self, "entry", self.symbols.get("_start", self.origin))

    @property
    def text_end(self) -> int:
        """The first address after the code (data follows)."""
        return self.symbols.get("__text_end", self.origin + len(self.code))

    def symbol_at(self, address: int) -> str | None:
        """The name of the nearest label at or below ``address`` as ``label+off``."""
        best = None
        for name, addr in self.symbols.items():
            if name.startswith("__"):
                continue
            if addr <= address and (best is None or addr > best[1]):
                best = (name, addr)
        if best is None:
            return None
        off = address - best[1]
        return best[0] if off == 0 else f"{best[0]}+{off:#x}"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise VlabError(
            f"the guest assembler needs GNU binutils ('{name}' not found); "
            "install it with: apt-get install -y binutils"
        )
    return path


def cache_dir() -> Path:
    """Where built guest images are cached (``$VLAB_CACHE`` or ``~/.cache/vlab``)."""
    root = os.environ.get("VLAB_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vlab")
    path = Path(root) / "images"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _include_texts(source: str, include_dirs: list[Path]) -> str:
    """The contents of the files a source includes (they are part of the cache key)."""
    out = []
    for inc in re.findall(r'^\s*\.include\s+"([^"]+)"', source, re.M):
        for d in include_dirs:
            p = d / inc
            if p.exists():
                text = p.read_text()
                out.append(text + _include_texts(text, include_dirs))
                break
    return "".join(out)


def program_text(source: str, *, prelude: bool = True, header: str = "", footer: str = "") -> str:
    """The text :func:`assemble` gives the assembler for ``source``: the Intel-syntax prelude
    (two lines), ``header``, the source, ``footer``, and the label that marks the end of code."""
    text = (_PRELUDE if prelude else "") + header + source
    if not text.endswith("\n"):
        text += "\n"
    return text + footer + _EPILOGUE


def assemble(source: str, name: str = "program", origin: int = 0x100000, *,
             defines: dict[str, int] | None = None, prelude: bool = True,
             include_dirs: list[Path] | None = None, use_cache: bool = True,
             header: str = "", footer: str = "") -> Image:
    """Assemble guest source (Intel syntax) into a flat :class:`Image` loaded at ``origin``.

    Errors raise :class:`AssemblyError` with the source line number and the assembler's message.
    """
    dirs = [Path(d) for d in (include_dirs or [])] + [INCLUDE_DIR]
    defines = dict(defines or {})
    text = program_text(source, prelude=prelude, header=header, footer=footer)
    shift = (2 if prelude else 0) + header.count("\n")
    as_bin, ld_bin, nm_bin, objcopy = (_tool(t) for t in ("as", "ld", "nm", "objcopy"))
    key = hashlib.sha256(repr((text, _include_texts(text, dirs), sorted(defines.items()), origin,
                                  _toolchain_id(as_bin))).encode()).hexdigest()[:24]
    cached = cache_dir() / key
    if use_cache and cached.with_suffix(".bin").exists() and cached.with_suffix(".sym").exists():
        return Image(name, cached.with_suffix(".bin").read_bytes(), origin,
                     parse_symbols(cached.with_suffix(".sym").read_text()))
    with tempfile.TemporaryDirectory(prefix="vlab-as-") as tmp:
        src = Path(tmp) / f"{name}.S"
        src.write_text(text)
        cmd = [as_bin, "--32", "-o", f"{tmp}/g.o", str(src)]
        for d in dirs:
            cmd += ["-I", str(d)]
        for k, v in defines.items():
            cmd += ["--defsym", f"{k}={v}"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise _assembly_error(res.stderr, name, src.name, shift=shift)
        res = subprocess.run([ld_bin, "-m", "elf_i386", "-N", f"-Ttext={origin:#x}", "-e", "_start",
                              "-o", f"{tmp}/g.elf", f"{tmp}/g.o"], capture_output=True, text=True)
        if res.returncode != 0:
            raise _link_error(res.stderr, name, text, shift, tmp)
        subprocess.run([objcopy, "-O", "binary", "--only-section=.text", "--only-section=.data",
                        "--only-section=.rodata", f"{tmp}/g.elf", f"{tmp}/g.bin"], check=True)
        syms = subprocess.run([nm_bin, "-n", f"{tmp}/g.elf"], capture_output=True, text=True,
                              check=True).stdout
        code = Path(f"{tmp}/g.bin").read_bytes()
    if use_cache:
        tmp_bin = cached.with_suffix(f".bin.{os.getpid()}")
        tmp_bin.write_bytes(code)
        os.replace(tmp_bin, cached.with_suffix(".bin"))
        tmp_sym = cached.with_suffix(f".sym.{os.getpid()}")
        tmp_sym.write_text(syms)
        os.replace(tmp_sym, cached.with_suffix(".sym"))
    return Image(name, code, origin, parse_symbols(syms))


_TOOLCHAIN: dict[str, str] = {}


def _toolchain_id(as_bin: str) -> str:
    if as_bin not in _TOOLCHAIN:
        out = subprocess.run([as_bin, "--version"], capture_output=True, text=True).stdout
        _TOOLCHAIN[as_bin] = out.splitlines()[0] if out else "?"
    return _TOOLCHAIN[as_bin]


def parse_symbols(nm_output: str) -> dict[str, int]:
    """The symbol map (label -> address) in the output of ``nm -n``."""
    syms = {}
    for line in nm_output.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTdDbBaAr" and not parts[2].startswith("."):
            syms[parts[2]] = int(parts[0], 16)
    return syms


def _link_error(stderr: str, name: str, text: str, shift: int, tmp: str) -> AssemblyError:
    """The linker's complaint in the source's terms: an undefined label with the line that uses
    it (never the linker's temporary paths)."""
    missing = re.findall(r"undefined reference to [`'](.+?)'", stderr)
    if missing:
        symbol = missing[0]
        use = re.compile(rf"(?<![\w.$]){re.escape(symbol)}(?![\w.$])")
        lines = text.splitlines()
        for number, line in enumerate(lines[shift:], start=1):
            if use.search(line.split("#")[0]):
                return AssemblyError(f"{name}, line {number}: undefined label '{symbol}'", name,
                                     number)
        return AssemblyError(f"{name}: undefined label '{symbol}'", name)
    message = stderr.replace(f"{tmp}/", "").strip()
    return AssemblyError(f"{name}: link failed: {message}", name)


def _assembly_error(stderr: str, name: str, srcname: str, shift: int) -> AssemblyError:
    for m in _AS_ERROR.finditer(stderr):
        line = int(m.group("line"))
        if m.group("file").endswith(srcname):
            line -= shift
            return AssemblyError(f"{name}, line {line}: {m.group('msg')}", name, line)
        return AssemblyError(f"{name}: {m.group('file')}, line {line}: {m.group('msg')}", name, line)
    return AssemblyError(f"{name}: assembler failed: {stderr.strip()}", name)
