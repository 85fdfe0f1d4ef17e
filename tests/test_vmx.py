"""VMX for the guest's own code (vlab.hw.vmx) and the mini hypervisor (vlab/guests/hypervisor).

The instructions' semantics are checked against the SDM and Bochs by the conformance programs
(tests/conformance/programs/vmx_*.S); here: the mini hypervisor runs the unmodified teaching
kernel under the native strategy with the kernel's own console, its exits are the trap log's,
snapshots and step_back carry VMX state, and the other strategies offer no VMX.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import pytest

from vlab import Lab
from vlab.guests import hypervisor
from vlab.isa import assemble
from vlab.monitor.trace import ExitReason
from vlab.strategies.vtx.nonroot import GUEST_HYPERVISOR


@functools.cache
def native_kernel_console() -> str:
    lab = Lab("kernel")
    lab.run()
    return lab.console


@functools.cache
def bundle():
    return hypervisor.bundle()


def nested() -> Lab:
    return Lab(image=bundle(), strategy="native")


def test_the_mini_hypervisor_runs_the_unmodified_kernel_with_its_native_console():
    lab = nested()
    lab.run()
    assert lab.exit_code == 0
    assert lab.console == native_kernel_console()
    assert lab.state().vmx_mode == "off" or lab.machine.vmx.on  # (it never left VMX: no VMXOFF)
    counts = Counter(e.reason for e in lab.trace)
    # the kernel's one CPUID (its vendor string); each console byte is a line-status IN and a
    # data OUT on the serial port, the only ports the hypervisor's I/O bitmaps make exit; the
    # kernel's idle HLTs; nothing else exits (CR0.NE and CR4.VMXE are never touched)
    assert counts[ExitReason.CPUID] == 1
    assert counts[ExitReason.IO_INSTRUCTION] == 2 * len(lab.console)
    assert counts[ExitReason.HLT] >= 3
    assert set(counts) == {ExitReason.CPUID, ExitReason.IO_INSTRUCTION, ExitReason.HLT}
    # the hypervisor's own counters agree with the trap log (it saw every exit the log shows)
    assert lab.read_u32("exits_cpuid") == counts[ExitReason.CPUID]
    assert lab.read_u32("exits_io") == counts[ExitReason.IO_INSTRUCTION]
    assert lab.read_u32("exits_hlt") == counts[ExitReason.HLT]
    assert lab.read_u32("exits_total") == sum(counts.values())
    assert lab.machine.vmx.exits == sum(counts.values())
    # one VMLAUNCH and a VMRESUME after each exit; the last entry ends with the machine
    assert lab.machine.vmx.entries == sum(counts.values()) + 1


def test_an_exit_in_the_trap_log_is_the_hardware_s():
    lab = nested()
    lab.break_on_exit("CPUID")
    lab.run()
    (e,) = [x for x in lab.trace if x.reason == ExitReason.CPUID]
    assert e.instruction == "cpuid" and e.handler == GUEST_HYPERVISOR
    assert lab.symbol(e.eip).startswith("guest.")  # (the kernel's own code)
    v = lab.machine.vmx.vmcs
    assert v["VM_EXIT_REASON"] == 10 and v["VM_EXIT_INSTRUCTION_LEN"] == 2
    assert v["GUEST_RIP"] == e.eip
    # the guest hypervisor's code runs next, in root operation, at HOST_RIP
    assert lab.state().eip == v["HOST_RIP"] and lab.state().vmx_mode == "root"
    assert lab.state().cpl == 0


@pytest.mark.parametrize("at", [30_000, 64_805, 100_000])
def test_a_snapshot_in_root_or_non_root_operation_replays_identically(at):
    lab = nested()
    lab.run(max_instructions=at)
    m = lab.machine
    mode = lab.state().vmx_mode
    snap = m.snapshot()
    exits_then = lab.trace.total
    lab.run()
    first = (lab.console, lab.instructions, lab.trace.total)
    m.restore(snap)
    assert lab.state().vmx_mode == mode and lab.trace.total == exits_then
    lab.run()
    assert (lab.console, lab.instructions, lab.trace.total) == first
    assert lab.console == native_kernel_console()


def test_the_snapshots_cover_both_modes():
    """(The points above are chosen so: before VMXON, in the guest, in the hypervisor.)"""
    modes = set()
    for at in (30_000, 64_805, 100_000):
        lab = nested()
        lab.run(max_instructions=at)
        modes.add(lab.state().vmx_mode)
    assert modes == {"off", "non-root", "root"}


def test_step_back_over_vmlaunch_undoes_the_vm_entry():
    lab = nested()
    lab.run(until="launch")  # the hypervisor's VMLAUNCH
    assert lab.state().vmx_mode == "root" and not lab.machine.vmx.launched
    lab.step()
    assert lab.state().vmx_mode == "non-root"
    assert lab.state().eip == bundle().symbols["guest._start"] or lab.state().eip == 0x100000
    lab.step_back()
    assert lab.state().vmx_mode == "root" and not lab.machine.vmx.launched
    assert lab.state().eip == bundle().symbols["launch"]
    lab.run()
    assert lab.console == native_kernel_console()


CPUID_VMX = """
.include "vlab.inc"
.globl _start
_start:
    mov eax, 1
    cpuid
    mov [vmx], ecx
    EXIT 0
vmx: .long 0
"""


@pytest.mark.parametrize("strategy, options, offered", [
    ("native", {}, True), ("trap_emulate", {}, False), ("binary_translation", {}, False),
    ("vtx", {}, True),  # nested VMX
    ("vtx", {"generation": "first"}, False)])  # (shadow page tables: no nested VMX in vlab)
def test_cpuid_says_whether_the_strategy_offers_vmx(strategy, options, offered):
    lab = Lab(image=assemble(CPUID_VMX, "cpuid_vmx"), strategy=strategy,
              strategy_options=options)
    lab.run()
    assert bool(lab.read_u32("vmx") >> 5 & 1) == offered


# ------------------------------------------------------------------------ nesting under vtx
def test_nested_under_vtx_the_kernel_prints_its_native_console():
    """vlab's VT-x monitor (L0) runs the mini hypervisor (L1), which runs the kernel (L2): the
    same console, and the same instructions retired as with the hypervisor on bare metal (an
    instruction L0 emulates counts once)."""
    bare = nested()
    bare.run()
    lab = Lab(image=bundle(), strategy="vtx")
    lab.run()
    assert lab.exit_code == 0 and lab.console == native_kernel_console()
    assert lab.instructions == bare.instructions
    reflected = Counter(e.reason for e in lab.trace if e.detail.get("level", "").startswith("L2"))
    own = Counter(e.reason for e in lab.trace if "level" not in e.detail)
    # every exit L1 saw on bare metal, L2 now makes through L0, which reflects it to L1
    assert reflected == Counter(e.reason for e in bare.trace)
    assert all(e.handler == GUEST_HYPERVISOR for e in lab.trace if "level" in e.detail)
    # L1's own VMX instructions exit to L0 with their SDM reasons (appendix C): one VMXON,
    # VMCLEAR, VMPTRLD and VMLAUNCH, a VMRESUME after each reflected exit, VMREADs and VMWRITEs
    assert [own[r] for r in (ExitReason.VMXON, ExitReason.VMCLEAR, ExitReason.VMPTRLD,
                             ExitReason.VMLAUNCH)] == [1, 1, 1, 1]
    assert own[ExitReason.VMRESUME] == sum(reflected.values())
    assert own[ExitReason.VMREAD] > own[ExitReason.VMRESUME]  # (the reason, at least, each exit)
    assert own[ExitReason.VMWRITE] > 0
    assert {int(r) for r in own if 19 <= int(r) <= 27} == {19, 20, 21, 23, 24, 25, 27}
    # the console: L2's serial accesses reach L1, whose own IN and OUT reach L0's device model
    assert own[ExitReason.IO_INSTRUCTION] == reflected[ExitReason.IO_INSTRUCTION]
    # the hypervisor's counters agree with what was reflected to it
    assert lab.read_u32("exits_total") == sum(reflected.values())


def test_nested_snapshot_replays_identically():
    lab = Lab(image=bundle(), strategy="vtx")
    lab.run(max_instructions=64_805)
    snap = lab.machine.snapshot()
    mode = lab.state().vmx_mode
    assert mode == "non-root (L2)"  # (in the kernel, two levels down)
    lab.run()
    first = (lab.console, lab.instructions, lab.trace.total)
    lab.machine.restore(snap)
    assert lab.state().vmx_mode == mode
    lab.run()
    assert (lab.console, lab.instructions, lab.trace.total) == first


def test_a_memory_operand_the_page_tables_refuse_is_a_page_fault():
    """VMPTRST to an unmapped page: #PF with CR2 = the operand's address (as any store)."""
    src = """
.include "vlab.inc"
.globl _start
_start:
    mov eax, offset pd
    mov dword ptr [pd], 0x83            # 0-4 MiB, 4 MiB page, supervisor writable
    mov dword ptr [pd + 1023 * 4], 0xFFC00083  # and the top 4 MiB (the boot GDT)
    mov cr3, eax
    mov eax, cr4
    or eax, 0x2010                      # PSE, VMXE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000020                  # PG, NE
    mov cr0, eax
    mov ecx, 0x480
    rdmsr
    mov [region], eax
    mov eax, offset pf                  # IDT gate 14: a 32-bit interrupt gate to pf
    mov [idt + 14 * 8], ax
    shr eax, 16
    mov [idt + 14 * 8 + 6], ax
    mov word ptr [idt + 14 * 8 + 2], 0x08
    mov word ptr [idt + 14 * 8 + 4], 0x8E00
    lidt [idtr]
    vmxon [region_ptr]
    vmptrst [0x00800000]                # not mapped
    EXIT 1
pf:
    mov eax, cr2
    mov [cr2_seen], eax
    pop eax
    mov [code_seen], eax
    EXIT 0
.align 8
idtr: .word 256 * 8 - 1
      .long idt
region_ptr: .long region, 0
cr2_seen: .long 0
code_seen: .long 0
.align 8
idt: .fill 256, 8, 0
.align 4096
pd: .fill 1024, 4, 0
region: .fill 1024, 4, 0
"""
    lab = Lab(image=assemble(src, "vmptrst_pf"), strategy="native")
    lab.run()
    assert lab.exit_code == 0
    assert lab.read_u32("cr2_seen") == 0x0080_0000
    assert lab.read_u32("code_seen") == 0b010  # not present, write, supervisor


# ------------------------------------------------------------------------ what the lab shows
@pytest.mark.parametrize("strategy, picture, level", [
    ("native", "hypervisor", "guest → hypervisor"), ("vtx", "nested", "L2 → L1 (reflected by L0)")])
def test_the_views_show_the_guest_hypervisor_s_vmcs_and_its_levels(strategy, picture, level):
    from vlab.ui import diagram, trap_log
    from vlab.ui.views import VmcsView

    lab = Lab(image=bundle(), strategy=strategy)
    lab.run(max_instructions=64_805)  # (the kernel runs: two levels down under vtx)
    assert "guest_vmx" in lab.capabilities
    assert lab.guest_vmcs is lab.machine.vmx.vmcs
    status = lab.guest_vmx()
    assert status["guest running"] and status["entries"] == status["exits"] + 1
    assert "guest_vmx" not in Lab("kernel", strategy=strategy).capabilities
    html = VmcsView(lab).render()
    assert "the guest hypervisor&#x27;s VMCS" in html
    assert ("VMCS: the monitor" in html) == (strategy == "vtx")  # vlab's own, under vtx only
    assert "HLT exiting" in html and "use I/O bitmaps" in html  # its controls, decoded
    assert diagram.architecture(lab.capabilities) == picture
    dot = diagram.dot_source(picture, "CPUID")
    a, b = diagram.PICTURES[picture].exit_edge
    lit = next(line for line in dot.splitlines() if f"n{a} -> n{b}" in line)
    assert "#d62728" in lit and "last: CPUID" in lit
    labels = [trap_log._label(e) for e in lab.trace if "level" in e.detail]  # noqa: SLF001
    assert labels and all(f"[{level}]" in text for text in labels)


def test_a_failed_vm_entry_says_why_in_the_vmcs_view():
    from vlab.ui.views import VmcsView

    src = (Path(__file__).parent / "conformance/programs/vmx_entry_failure.S")
    lab = Lab(image=assemble(src.read_text(), "entry_failure",
                             include_dirs=[src.parent]), strategy="native")
    lab.break_on_exit("INVALID_GUEST_STATE")
    lab.run()
    (e,) = [x for x in lab.trace if x.reason == ExitReason.INVALID_GUEST_STATE]
    assert e.detail["exit reason"] == "0x80000021"  # reason 33, bit 31 set (26.7)
    assert "GUEST_RFLAGS" in e.detail["VM-entry failure"]  # the program's first bad field
    html = VmcsView(lab).render()
    assert "last failed VM entry" in html and "GUEST_RFLAGS" in html and "26.3.1.4" in html


# ------------------------------------------------------------------------ hostile VMCS contents
_FUZZ = """
.include "conf.inc"
.include "vmx.inc"
main:
    mov eax, offset guest
    call vmx_guest
    mov esi, offset pairs
1:  mov edx, [esi]
    cmp edx, -1
    je 2f
    mov eax, [esi + 4]
    vmwrite edx, eax                    # (a read-only or unsupported field just fails)
    add esi, 8
    jmp 1b
2:  VMENTER vmlaunch, "vmlaunch", exited
    EXIT 0
exited:
    SHOW_REASON
    EXIT 0
guest:
    vmcall
    jmp guest
.data
.align 4
pairs:
"""


@pytest.mark.parametrize("seed", range(12))
def test_random_vmcs_contents_never_break_the_lab(seed):
    """VMWRITEs of random values into random fields of a working VMCS, then VMLAUNCH: whatever
    happens is the SDM's (VMfail, a failed entry, an exit) or the guest's own fault, reported
    as a vlab error with a message — never an exception of another kind."""
    import random

    from vlab.errors import VlabError
    from vlab.hw.vmcs import FIELDS

    rng = random.Random(seed)
    names = sorted(FIELDS)
    pairs = []
    for _ in range(rng.randint(1, 6)):
        name = rng.choice(names)
        value = rng.choice([0, 1, 0xFFFF_FFFF, rng.getrandbits(32), rng.getrandbits(8) << 3])
        pairs.append(f"    .long {FIELDS[name]:#x}, {value:#x}  # {name}")
    src = _FUZZ + "\n".join(pairs) + "\n    .long -1, -1\n"
    programs = Path(__file__).parent / "conformance/programs"
    lab = Lab(image=assemble(src, f"vmcs_fuzz_{seed}", include_dirs=[programs]),
              strategy="native", budget=200_000)
    try:
        lab.run()
    except VlabError as e:
        assert str(e)  # a clear message (a guest that broke itself: a triple fault, a hang ...)
        return
    assert lab.console.endswith("\n")  # it printed what the VMLAUNCH did, then exited


# ------------------------------------------------------------------------ the Bochs cases, on vlab
# tests/test_hypervisor_bochs.py runs these guests under the mini hypervisor on Bochs; here the
# same guests and the same expectations under vlab, on bare metal and nested.
def _hv_run(guest_src: str, name: str, strategy: str):
    from tests.test_hypervisor_bochs import _stats

    lab = Lab(image=hypervisor.bundle(assemble(guest_src, name), stats=True), strategy=strategy)
    lab.run()
    console, exits = _stats(lab.console) if "hv: exits" in lab.console else (lab.console, {})
    return lab, console, exits


@pytest.mark.parametrize("strategy", ["native", "vtx"])
def test_control_registers_read_as_on_bare_metal_under_the_hypervisor(strategy):
    from tests.test_hypervisor_bochs import CONTROL_REGISTERS

    bare = Lab(image=assemble(CONTROL_REGISTERS, "control_registers"))
    bare.run()
    lab, console, exits = _hv_run(CONTROL_REGISTERS, "control_registers", strategy)
    assert bare.console == "0x00000011 0x00000000 0x00000031 0x00000011 0x00000010 0x00000011\n"
    assert console == bare.console  # CR0.NE and CR4.VMXE hidden by the read shadows
    assert exits["cr"] == 2  # both writes of CR0.NE; CR4.PSE is not masked
    reflected = Counter(e.reason for e in lab.trace if "level" in e.detail)
    assert reflected[ExitReason.CR_ACCESS] == 2


@pytest.mark.parametrize("strategy", ["native", "vtx"])
def test_the_guest_hypervisor_s_ept_keeps_its_guest_out(strategy):
    """The hypervisor's EPT leaves out its own memory (0x180000-0x1FFFFF): the guest's write
    there is an EPT violation (reason 48, SDM vol. 3C 28.2.3) with the guest-physical address,
    and the write does not happen."""
    from tests.test_hypervisor_bochs import TOUCH_HYPERVISOR

    lab, console, _ = _hv_run(TOUCH_HYPERVISOR, "touch", strategy)
    assert console == "writing to 0x180000\nhv: EPT violation at guest-physical 0x00180000\n"
    assert lab.exit_code == 0x45
    (e,) = [x for x in lab.trace if x.reason == ExitReason.EPT_VIOLATION and "level" in x.detail]
    assert e.detail["gpa"] == 0x180000 and e.qualification & 0x2  # a data write
    assert lab.guest_vmcs["GUEST_PHYSICAL_ADDRESS"] == 0x180000
    assert e.instruction == "mov dword ptr [0x180000], 0"  # the write itself, undone: RIP at it


@pytest.mark.parametrize("strategy", ["native", "vtx"])
def test_a_guest_triple_fault_is_a_vm_exit_for_the_hypervisor(strategy):
    from tests.conformance.test_bochs import TRIPLE_FAULT

    lab, console, _ = _hv_run(TRIPLE_FAULT, "triple_fault", strategy)
    assert console.startswith("before\nhv: the guest triple-faulted, RIP 0x")
    assert lab.exit_code == 0x46
    assert any(e.reason == ExitReason.TRIPLE_FAULT and "level" in e.detail for e in lab.trace)


@pytest.mark.parametrize("strategy", ["native", "vtx"])
def test_the_guest_starts_in_the_machine_s_boot_state(strategy):
    from tests.conformance.test_bochs import BOOT_STATE

    bare = Lab(image=assemble(BOOT_STATE, "boot_state"))
    bare.run()
    _, console, _ = _hv_run(BOOT_STATE, "boot_state", strategy)
    assert console == bare.console and "ltr 0x38 again: ok" in console


@pytest.mark.parametrize("name", ["paging", "disk"])
def test_other_kernels_run_unmodified_under_the_hypervisor(name):
    from vlab import guests

    bare = Lab(name)
    bare.run()
    lab = Lab(image=hypervisor.bundle(guests.build(name)), strategy="native",
              disk=guests.info(name).disk or None)
    lab.run()
    assert lab.console == bare.console and lab.exit_code == bare.exit_code
