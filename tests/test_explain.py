"""Lab.explain (the x86 (vlab) kernel's Shift-Tab): what it says an instruction causes under a
strategy is what vlab does when a guest runs it."""

import pytest

from vlab.lab import Lab
from vlab.ui.magic import run_cell


def _line(text: str, strategy: str) -> str:
    return next(x for x in text.splitlines() if x.strip().startswith(strategy)).split(None, 1)[1]


@pytest.mark.parametrize("source,strategy,reason", [
    ("cli", "trap_emulate", "CLI"), ("sti", "trap_emulate", "STI"),
    ("mov eax, cr0", "trap_emulate", "CR_ACCESS"), ("in al, 0x21", "trap_emulate", "IO_INSTRUCTION"),
    ("lidt [0x2000]", "trap_emulate", "GDTR_IDTR_ACCESS"),
    ("popfd", "binary_translation", "POPF"), ("sgdt [0x2000]", "binary_translation",
                                              "DESCRIPTOR_READ"),
    ("cpuid", "vtx", "CPUID"), ("in al, 0x21", "vtx", "IO_INSTRUCTION"),
])
def test_the_exit_it_names_is_the_exit_vlab_takes(source, strategy, reason):
    mnemonic = source.split()[0]
    said = _line(Lab.explain(mnemonic, source), strategy)
    assert reason in said, said
    prefix = "    pushfd\n" if mnemonic == "popfd" else ""
    lab = run_cell(prefix + f"    {source}\n", strategy)
    assert lab.trace.counts().get(reason, 0) >= 1, lab.trace.counts()


@pytest.mark.parametrize("source", ["pushfd", "sgdt [0x2000]", "smsw eax", "str eax"])
def test_a_hole_it_names_takes_no_exit_under_trap_and_emulate(source):
    mnemonic = source.split()[0]
    assert "does NOT trap" in _line(Lab.explain(mnemonic, source), "trap_emulate")
    lab = run_cell(f"    {source}\n", "trap_emulate")
    reasons = set(lab.trace.counts()) - {"IO_INSTRUCTION"}  # (the exit device's OUT)
    assert not reasons, reasons


def test_words_that_are_not_instructions():
    assert Lab.explain("frobnicate") is None
    assert "runs as it is" in Lab.explain("add")


@pytest.mark.parametrize("line", ["cli", "sti", "pushfd", "popfd", "smsw eax", "sgdt [0x2000]",
                                  "mov eax, cs", "push ds", "mov eax, cr0", "mov cr0, eax",
                                  "lgdt [0x2000]", "in al, dx", "hlt", "mov ds, ax"])
def test_what_it_says_of_binary_translation_is_the_translator_s_rule(line):
    """"inline" exactly where the translator emulates inline (vlab.monitor.translator)."""
    from vlab.isa import assemble, decoder
    from vlab.monitor.translator import inline_form

    image = assemble(f"    {line}\n", "one")
    insn = decoder().decode(image.code, image.entry)
    said = _line(Lab.explain(insn.mnemonic, line), "binary_translation")
    assert said.startswith("inline") == (inline_form(insn) is not None), said
