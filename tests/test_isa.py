"""Decoding, instruction classes, the assembler and its symbol map."""

import re

import pytest

from vlab import guests, layout
from vlab.errors import AssemblyError
from vlab.hw import devices
from vlab.isa import INCLUDE_DIR, InsnClass, assemble, classify, decoder


@pytest.mark.parametrize("mnemonic,ops,klass", [
    ("lgdt", "[eax]", InsnClass.PRIVILEGED), ("clts", "", InsnClass.PRIVILEGED),
    ("rdmsr", "", InsnClass.PRIVILEGED), ("mov", "eax, cr0", InsnClass.PRIVILEGED),
    ("mov", "cr3, ebx", InsnClass.PRIVILEGED), ("mov", "dr7, eax", InsnClass.PRIVILEGED),
    ("hlt", "", InsnClass.PRIVILEGED), ("cli", "", InsnClass.PRIVILEGED),
    ("out", "dx, al", InsnClass.IO), ("in", "al, 0x21", InsnClass.IO),
    ("str", "ax", InsnClass.SENSITIVE), ("smsw", "eax", InsnClass.SENSITIVE),
    ("popfd", "", InsnClass.SENSITIVE), ("mov", "eax, cs", InsnClass.SENSITIVE),
    ("mov", "ds, ax", InsnClass.SENSITIVE), ("push", "cs", InsnClass.SENSITIVE),
    ("pop", "ss", InsnClass.SENSITIVE), ("ljmp", "8:0x100", InsnClass.SENSITIVE),
    ("int", "0x80", InsnClass.SENSITIVE), ("cpuid", "", InsnClass.VMX),
    ("vmcall", "", InsnClass.VMX), ("mov", "eax, ecx", InsnClass.INNOCUOUS),
    ("mov", "eax, dword ptr [ecx]", InsnClass.INNOCUOUS), ("push", "ecx", InsnClass.INNOCUOUS),
])
def test_classify(mnemonic, ops, klass):
    assert classify(mnemonic, ops) == klass


# Every privileged and sensitive instruction the guests use, with the encoding the SDM gives.
# (Keystone 0.9.2 adds a stray 0x66 to lgdt/lidt/sgdt/sidt in 32-bit mode: DESIGN.md.)
ENCODINGS = [
    ("lgdt [0x1000]", "0f 01 15 00 10 00 00"), ("lidt [0x1000]", "0f 01 1d 00 10 00 00"),
    ("sgdt [0x1000]", "0f 01 05 00 10 00 00"), ("sidt [0x1000]", "0f 01 0d 00 10 00 00"),
    ("ltr ax", "0f 00 d8"), ("str ax", "66 0f 00 c8"), ("sldt ax", "66 0f 00 c0"),
    ("smsw eax", "0f 01 e0"), ("mov eax, cr0", "0f 20 c0"), ("mov cr3, ebx", "0f 22 db"),
    ("mov eax, cs", "8c c8"), ("push cs", "0e"), ("pop ds", "1f"),
    ("pushfd", "9c"), ("popfd", "9d"), ("cli", "fa"), ("sti", "fb"), ("hlt", "f4"),
    ("iretd", "cf"), ("int 0x80", "cd 80"), ("lret", "cb"),
    ("ljmp 0x08, 0x100000", "ea 00 00 10 00 08 00"), ("lcall 0x08, 0x100000", "9a 00 00 10 00 08 00"),
    ("lar eax, ecx", "0f 02 c1"), ("lsl eax, ecx", "0f 03 c1"), ("verr ax", "0f 00 e0"),
    ("verw ax", "0f 00 e8"), ("out 0xf4, al", "e6 f4"), ("out dx, al", "ee"), ("in al, dx", "ec"),
    ("int 0x82", "cd 82"), ("vmcall", "0f 01 c1"), ("cpuid", "0f a2"), ("invlpg [ebx]", "0f 01 3b"),
]


@pytest.mark.parametrize("text,hexbytes", ENCODINGS)
def test_assembler_encodings(text, hexbytes):
    img = assemble(f".globl _start\n_start:\n    {text}\n", "enc")
    assert img.code.hex(" ") == hexbytes
    insn = decoder().decode(img.code, img.origin)
    assert insn is not None and insn.size == len(img.code)
    assert insn.klass != InsnClass.INNOCUOUS


def test_guest_sources_use_only_checked_sensitive_forms():
    """Every non-innocuous mnemonic in every built guest appears in ENCODINGS."""
    checked = {decoder().decode(assemble(f".globl _start\n_start:\n {t}\n", "enc").code,
                                layout.ENTRY).mnemonic for t, _ in ENCODINGS}
    for name in guests.catalog():
        img = guests.build(name)
        code = img.code[:img.text_end - img.origin]
        for insn in decoder().decode_many(code, img.origin):
            if insn.klass != InsnClass.INNOCUOUS:
                assert insn.mnemonic in checked, f"{name}: {insn.text} has no encoding test"


def test_assembly_error_has_line_number():
    with pytest.raises(AssemblyError) as info:
        assemble(".globl _start\n_start:\n    mov eax, 1\n    frobnicate eax\n", "bad")
    assert info.value.line == 4
    assert "line 4" in str(info.value) and "frobnicate" in str(info.value)


def test_symbol_map_and_entry():
    img = guests.build("kernel")
    assert img.entry == img.symbols["_start"] == layout.ENTRY
    assert img.symbol_at(img.symbols["timer_handler"] + 3) == "timer_handler+0x3"
    assert img.symbols["idle"] < img.symbols["report"]


def test_build_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("VLAB_CACHE", str(tmp_path))
    src = ".globl _start\n_start:\n    nop\n"
    a = assemble(src, "c")
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len(files) == 2
    b = assemble(src, "c")
    assert a.code == b.code == b"\x90"


def test_include_constants_match_python():
    text = (INCLUDE_DIR / "vlab.inc").read_text()
    consts = {m[0]: int(m[1], 0) for m in re.findall(r"\.set (\w+),\s+(0x[0-9A-Fa-f]+|\d+)", text)}
    assert consts["KERNEL_CS"] == layout.KERNEL_CS and consts["KERNEL_DS"] == layout.KERNEL_DS
    assert consts["RING1_CS"] == layout.RING1_CS and consts["RING1_DS"] == layout.RING1_DS
    assert consts["USER_CS"] == layout.USER_CS and consts["USER_DS"] == layout.USER_DS
    assert consts["TSS_SELECTOR"] == layout.TSS_SELECTOR
    assert consts["SERIAL"] == devices.SERIAL_PORT and consts["EXIT_PORT"] == devices.EXIT_PORT
    assert consts["PIC_CMD"] == devices.PIC_COMMAND and consts["PIC_DATA"] == devices.PIC_DATA
    assert consts["TIMER_PORT"] == devices.TIMER_PORT
    assert consts["TIMER_VECTOR"] == devices.TIMER_VECTOR


def test_every_demo_guest_runs_natively():
    from vlab.lab import Lab

    for name in guests.catalog():
        if name.startswith("demo-"):
            lab = Lab(name)
            lab.run()
            assert lab.exit_code == 0, name
            assert lab.console.count("\n") == 1, (name, lab.console)
