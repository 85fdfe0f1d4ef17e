"""Binary translation: the unmodified kernel behaves exactly as native; the holes are closed."""

import json
import subprocess
import sys

import pytest

from tests.conftest import assert_same_as_native
from tests.test_trap_emulate import HOLES
from vlab import guests
from vlab.errors import VlabError
from vlab.isa import assemble
from vlab.lab import Lab
from vlab.monitor.trace import COSTS, ExitReason


@pytest.mark.parametrize("guest", ["kernel", "smc", *sorted(n for n in guests.catalog()
                                                          if n.startswith("demo-"))])
def test_equals_native_exactly(guest):
    """Same console, same instructions retired, same registers, same RAM byte for byte."""
    assert_same_as_native(guest, "binary_translation")


@pytest.mark.parametrize("demo", sorted(HOLES))
def test_hole_demos_native_equals_bt_not_te(demo):
    c = Lab.compare(["native", "trap_emulate", "binary_translation"], guest=f"demo-{demo}")
    assert c.runs["binary_translation"].console == c.runs["native"].console
    assert c.runs["trap_emulate"].console != c.runs["native"].console


def test_cli_console_equals_native_and_callouts_reported():
    def run(strategy):
        out = subprocess.run([sys.executable, "-m", "vlab", "run", "--strategy", strategy,
                              "--json"], capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    native, bt = run("native"), run("binary_translation")
    assert bt["console"] == native["console"] and bt["status"] == "halted"
    for reason in ("POPF", "PUSHF", "SMSW", "SEGMENT_READ"):
        assert bt["exits"][reason] > 0, reason


def test_simple_sensitive_instructions_are_emulated_inline_the_rest_call_out():
    """As VMware's translator (Adams & Agesen 2006, sec. 3.2): CLI/STI/PUSHF/POPF and reads of
    virtual registers are done by the translated code on the virtual CPU (no call, no monitor
    entry), the rest (CR3, LGDT, I/O, HLT, IRET ...) call out."""
    lab = Lab("kernel", "binary_translation")
    lab.run()
    popf = lab.trace.filter("POPF")
    assert [e.detail["via"] for e in popf] == ["inline", "inline"]
    # the second POPF restores "interrupts off": the virtual IF goes from 1 to 0
    assert lab.trace.outcome(popf[1]).changes["IF"] == (True, False)
    smsw = lab.trace.filter("SMSW")[0]
    assert smsw.instruction == "smsw eax" and smsw.cost == COSTS["inline_read"].cycles
    cli = lab.trace.filter("CLI")[0]
    assert cli.kind == "inline_flags" and cli.cost == COSTS["inline_flags"].cycles
    mov_cr3 = [e for e in lab.trace.filter("CR_ACCESS") if e.instruction.startswith("mov cr")]
    lgdt = [e for e in lab.trace if e.instruction.startswith("lgdt")]
    iret = [e for e in lab.trace if e.instruction.startswith("iretd")]
    assert lgdt and iret and all(e.is_callout for e in mov_cr3 + lgdt + iret)
    inline = [e for e in lab.trace if e.is_inline]
    assert lab.trace.inline == len(inline) > 0
    assert lab.trace.entries == lab.trace.total - lab.trace.callouts - lab.trace.inline
    assert lab.trace.entries == sum(1 for e in lab.trace if not (e.is_callout or e.is_inline))
    costs = [COSTS[k].cycles for k in ("inline_read", "inline_flags", "callout", "trap")]
    assert costs == sorted(costs) and len(set(costs)) == 4


INDIRECT_BRANCHES = """
.include "vlab.inc"
.globl _start
_start:
    mov ecx, 5
1:  call leaf                 # a direct CALL: translated as it is
    loop 1b
    lea eax, [2f]
    jmp eax                   # an indirect JMP: one lookup
2:  EXIT 0
leaf:
    ret                       # an indirect branch: one lookup per execution
"""


def test_indirect_branches_are_charged_per_execution():
    """A translator must look up the guest target of every RET and JMP/CALL through a register
    or memory it executes (its real cost on call/ret, Adams & Agesen 2006, sec. 6): five RETs
    and one JMP EAX are six lookups. VT-x translates nothing: no such charge."""
    image = assemble(INDIRECT_BRANCHES, "indirect")
    lab = Lab(image, "binary_translation")
    assert lab.run().reason == "halted"
    assert lab.trace.charges["indirect branch"] == 6 * COSTS["indirect_branch"].cycles
    vtx = Lab(image, "vtx")
    assert vtx.run().reason == "halted"
    assert "indirect branch" not in vtx.trace.charges


def test_translation_cache_is_inspectable():
    lab = Lab("kernel", "binary_translation", strategy_options={"profile": True})
    lab.run()
    cache = lab.translation_stats()
    blocks = lab.translations
    assert cache["translated"] == len(blocks) > 20 and cache["hits"] > 0
    start = next(b for b in blocks if b.address == lab.image.symbols["_start"])
    assert start.executions == 1
    timer = next(b for b in blocks if b.address == lab.image.symbols["timer_handler"])
    assert timer.executions == 20
    rows = {r["original"]: r["translated"] for b in blocks for r in b.rows()}
    assert rows["smsw eax"] == "inline: the virtual CR0's low 16 bits"
    assert rows["popfd"] == "inline: pop into EFLAGS, IF and IOPL into the virtual ones"
    assert [t for o, t in rows.items() if o.startswith("lgdt")] == ["callout -> lgdt"]
    assert [t for o, t in rows.items() if o.startswith("ret")] == ["lookup of the target"]
    timer_rows = [(r["original"], r["translated"]) for r in timer.rows()]
    assert timer_rows[0] == ("push eax", "as is")
    assert timer_rows[-1] == ("iretd", "callout -> iretd")
    assert cache["inline"]["pushfd"] == 3 and cache["inline"]["popfd"] == 2
    assert "pushfd" not in cache["callouts"] and cache["callouts"]["iretd"] > 0
    user = lab.image.symbols["user_main"]  # ring-3 code is never translated
    assert not any(b.address <= user < b.end for b in blocks)
    assert lab.trace.charges["translation"] == sum(len(b.instructions) for b in blocks) \
        * COSTS["translate_insn"].cycles


def test_self_modifying_code_is_retranslated():
    lab = Lab("smc", "binary_translation")
    lab.run()
    assert lab.console == Lab.compare(["native"], guest="smc").runs["native"].console
    mods = lab.trace.filter("CODE_MODIFIED")
    probe, flags = lab.image.symbols["probe"], lab.image.symbols["flags"]
    assert [e.detail["blocks"] for e in mods] == [[probe], [flags]]
    assert lab.translation_stats()["invalidated"] == 2
    new_flags = next(b for b in lab.translations if b.address == flags)
    assert [i.mnemonic for i in new_flags.instructions][:2] == ["pushfd", "pop"]
    assert flags in new_flags.callouts


def test_block_profiling_is_off_by_default():
    lab = Lab("kernel", "binary_translation")
    lab.run()
    assert all(b.executions is None for b in lab.translations)
    assert Lab("kernel", "native").translations == []
    with pytest.raises(VlabError, match="'native' does not take option.s. profile; it takes none"):
        Lab("kernel", "native", strategy_options={"profile": True})


def test_guest_reads_its_own_original_code():
    lab = Lab("smc", "binary_translation")
    lab.run()
    assert lab.console.splitlines()[0] == "code bytes at probe: 0x0000000f 0x00000001 0x000000e0 "
    addr = lab.image.symbols["_start"]
    assert lab.read(addr, 16) == lab.image.code[:16]  # never patched by the monitor


def test_compare_reports_cycles_and_wall_time():
    c = Lab.compare(["native", "trap_emulate", "binary_translation"], guest="kernel")
    te, bt = c.runs["trap_emulate"], c.runs["binary_translation"]
    assert bt.cycles < te.cycles  # callouts are cheaper than traps, translation paid once
    assert all(r.wall_time > 0 for r in c.runs.values())
    assert c.first_divergence("native", "binary_translation") is None


def test_a_student_callout_handler_replaces_vlabs():
    from vlab.strategies.binary_translation.handlers import handle_popf

    calls = []

    def my_popf(vcpu, exit_):
        calls.append(vcpu.mem.u32(vcpu.regs.esp))
        handle_popf(vcpu, exit_)

    lab = Lab("kernel", "binary_translation")
    lab.handlers[ExitReason.POPF] = my_popf
    lab.run()
    assert lab.exit_code == 0 and len(calls) == 2 and not calls[1] & 0x200


@pytest.mark.parametrize("strategy", ["binary_translation", "vtx"])
def test_a_breakpoint_on_an_emulated_instruction_stops_before_it(strategy):
    """A breakpoint (or run(until=)) on an instruction the monitor emulates from a hook at its
    address (inline, callout, an intercepted CPUID or HLT) stops before it, as on any other
    instruction; resuming executes it exactly once."""
    lab = Lab("kernel", strategy)
    code = lab.disassemble("_start", 200)
    for mnemonic in ("cpuid", "cli", "popfd", "hlt"):
        address = next(i.address for i in code if i.mnemonic == mnemonic)
        lab.reset()
        lab.add_breakpoint(address)
        stop = lab.run()
        assert (stop.reason, lab.machine.cpu.eip) == ("breakpoint", address), mnemonic
        before = lab.instructions
        assert lab.step().reason == "step" and lab.instructions == before + 1, mnemonic
        assert lab.machine.cpu.eip != address, mnemonic
        lab.remove_breakpoint(address)


def test_io_is_a_callout_in_the_block_view_the_trace_and_the_cache_counters():
    """Translated IN/OUT call the monitor's device model: the block rows, the trace records
    (via "callout") and translation_stats() all say so, and agree in number."""
    lab = Lab("kernel", "binary_translation")
    lab.run()
    rows = {r["original"]: r["translated"] for b in lab.translations for r in b.rows()}
    assert rows["in al, dx"] == "callout -> in (device model)"
    assert rows["out dx, al"] == "callout -> out (device model)"
    io = lab.trace.filter("IO_INSTRUCTION")
    assert io and all(e.is_callout and e.detail["via"] == "callout" for e in io)
    assert "delivered" not in io[0].detail  # (no #GP: that is trap-and-emulate's)
    stats = lab.translation_stats()["callouts"]
    assert sum(stats.values()) == lab.trace.callouts
    assert stats["in"] + stats["out"] == lab.trace.counts()["IO_INSTRUCTION"]


def test_profiling_counts_a_block_that_starts_with_a_callout():
    """The idle loop's lone HLT is a block of its own, and a callout: its executions are
    counted (a hook placed after one that moves EIP would never run)."""
    lab = Lab("kernel", "binary_translation", strategy_options={"profile": True})
    lab.run()
    idle = next(b for b in lab.translations if [i.mnemonic for i in b.instructions] == ["hlt"])
    sys_yield = next(b for b in lab.translations if b.address == lab.image.symbols["sys_yield"])
    assert [i.mnemonic for i in sys_yield.instructions] == ["sti", "hlt"]  # (starts inline)
    assert (idle.executions, sys_yield.executions) == (17, 3)
    assert idle.executions + sys_yield.executions == lab.trace.counts()["HLT"] == 20
