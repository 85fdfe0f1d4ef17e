"""Interrupt virtualization under the VT-x model, as Intel's SDM defines it (vol. 3C; sections
numbered as in the 2016 edition, as the rest of vlab): with external-interrupt exiting, the
guest's RFLAGS.IF does not block external interrupts, which cause VM exits even at IF = 0
(25.4.1); an external interrupt may only be injected when the guest's IF is 1 (26.3.1.4), so
the hypervisor asks for an interrupt-window exit (reason 7) and injects then (25.2, 26.6.5)."""

from __future__ import annotations

import pytest

from vlab.errors import HandlerError
from vlab.hw.vmcs import INTR_TYPE_EXTERNAL, intr_info
from vlab.isa import assemble
from vlab.lab import Lab
from vlab.monitor.trace import ExitReason

WINDOW_GUEST = """
.include "vlab.inc"
.section .text
.globl _start
_start:
    SET_GATE idt, TIMER_VECTOR, tick, 0x8E
    SET_GATE idt, 0x2E, disk, 0x8E
    lidt [idt_desc]
    mov al, 0xFA                        # IRQ0 (timer) and IRQ2 (the slave)
    out PIC_DATA, al
    mov al, 0xBF                        # IRQ14 (the disk)
    out 0xA1, al
    cli
.ifdef DISK
    mov al, 0xE0                        # IDENTIFY: the disk interrupts at once (IF = 0 here)
    mov dx, 0x1F6
    out dx, al
    mov al, 0xEC
    mov dx, 0x1F7
    out dx, al
.endif
    mov ecx, 1000                       # 2,000 instructions with IF = 0: the timer ticks in here
1:  dec ecx
    jnz 1b
    sti
    nop                                 # STI's shadow: no interrupt before this one has run
window:
    nop
    nop
    cli
    PRINT "first interrupt returned to "
    mov eax, [first_return]
    cmp eax, offset window
    jne 2f
    PRINT "the window\\n"
    jmp 3f
2:  PRINT "elsewhere\\n"
3:  PRINT "order:"
    mov esi, offset order
4:  lodsb
    test al, al
    jz 5f
    push eax
    PRINT " "
    pop eax
    movzx eax, al
    call puthex
    jmp 4b
5:  call newline
    EXIT 0
tick:
    push eax
    mov al, 0x20
    call record
    out PIC_CMD, al
    pop eax
    iretd
disk:
    push eax
    push edx
    mov dx, 0x1F7                       # acknowledge at the drive
    in al, dx
    mov al, 0x2E
    call record
    mov al, 0x20
    out 0xA0, al
    out PIC_CMD, al
    pop edx
    pop eax
    iretd
record:                                 # al = vector; the first interrupt's return EIP
    push ebx
    mov ebx, [order_end]
    mov [ebx], al
    inc dword ptr [order_end]
    cmp dword ptr [first_return], 0
    jne 1f
    push eax
    mov eax, [esp + 16]                 # (eax, ebx, the return address of record, then EIP)
    mov [first_return], eax
    pop eax
1:  pop ebx
    ret
.include "lib.inc"
.section .data
.align 4
first_return: .long 0
order_end:    .long order
order:        .space 16
    .word 0
idt_desc:
    .word 0x2F * 8 + 7
    .long idt
.align 8
idt: .space 0x30 * 8
"""


def _image(disk: bool = False):
    return assemble(WINDOW_GUEST, "window" + ("_disk" if disk else ""),
                    defines={"DISK": 1} if disk else None)


def _run(strategy: str, disk: bool = False, **options) -> Lab:
    lab = Lab(_image(disk), strategy=strategy, timer_period=500, disk=8 if disk else None,
              **options)
    lab.run()
    return lab


def test_an_interrupt_that_arrives_at_if_0_is_taken_after_sti_and_its_shadow_natively():
    lab = _run("native")
    assert lab.console.splitlines() == ["first interrupt returned to the window",
                                        "order: 0x00000020"]


def test_under_vtx_it_exits_at_if_0_then_waits_for_the_window_and_is_injected_there():
    native, lab = _run("native"), _run("vtx")
    assert lab.console == native.console
    assert lab.machine.instructions == native.machine.instructions
    exits = [e for e in lab.trace.recent if e.reason in (ExitReason.EXTERNAL_INTERRUPT,
                                                          ExitReason.INTERRUPT_WINDOW)]
    # (a later tick comes while the report prints with IF = 0, and waits there for good)
    assert [e.reason for e in exits[:2]] == [ExitReason.EXTERNAL_INTERRUPT,
                                             ExitReason.INTERRUPT_WINDOW]
    window = lab.image.symbols["window"]
    loop_start, loop_end = lab.image.symbols["_start"], window
    assert loop_start < exits[0].eip < loop_end  # inside the CLI section: IF did not block it
    assert exits[1].eip == window  # after STI and the one instruction of its shadow


def test_two_interrupts_at_if_0_are_injected_in_the_pics_priority_order():
    """The timer (IRQ0) and the disk (IRQ14, through the slave) both request while IF = 0: the
    first exit takes the timer (higher priority); the disk waits at the PIC for the EOI."""
    native, lab = _run("native", disk=True), _run("vtx", disk=True)
    assert native.console.splitlines()[1] == "order: 0x00000020 0x0000002e"
    assert lab.console == native.console
    assert lab.machine.instructions == native.machine.instructions
    reasons = [e.reason for e in lab.trace.recent
               if e.reason in (ExitReason.EXTERNAL_INTERRUPT, ExitReason.INTERRUPT_WINDOW)]
    # the timer's exit and window; the disk's exit (after the timer handler's EOI, still at
    # IF = 0 inside it) and its window at the IRETD; (then a tick during the report)
    assert reasons[:4] == [ExitReason.EXTERNAL_INTERRUPT, ExitReason.INTERRUPT_WINDOW] * 2


def test_without_external_interrupt_exiting_the_guests_if_decides_and_nothing_exits():
    lab = Lab(_image(), strategy="vtx", timer_period=500)
    lab.strategy.vmcs.set_control("EXTERNAL_INTERRUPT_EXITING", False)
    lab.run()
    assert lab.console == _run("native").console
    counts = lab.trace.counts()
    assert "EXTERNAL_INTERRUPT" not in counts and "INTERRUPT_WINDOW" not in counts


def test_a_handler_that_injects_at_if_0_makes_the_vm_entry_fail_with_the_sdm_rule():
    def inject_blindly(vcpu, exit_):
        vector = vcpu.vmcs["VM_EXIT_INTR_INFO"] & 0xFF
        vcpu.vmcs["VM_ENTRY_INTR_INFO_FIELD"] = intr_info(vector, INTR_TYPE_EXTERNAL)

    lab = Lab(_image(), strategy="vtx", timer_period=500)
    lab.handlers[ExitReason.EXTERNAL_INTERRUPT] = inject_blindly
    with pytest.raises(HandlerError, match=r"26\.3\.1\.4"):
        lab.run()
    assert "INTERRUPT_WINDOW_EXITING" in str(lab.error)
    lab.reset()  # the lab stays usable
    lab.handlers[ExitReason.EXTERNAL_INTERRUPT] = inject_blindly
    lab.strategy.vmcs.set_control("EXTERNAL_INTERRUPT_EXITING", False)
    lab.run()
    assert lab.exit_code == 0


def test_asking_for_a_window_while_if_is_1_exits_at_once():
    lab = Lab(_image(), strategy="vtx", timer_period=0)
    lab.run(until="window")  # after STI and its shadow: IF = 1, nothing blocks
    assert lab.machine.cpu.real_if()
    before = lab.trace.total
    lab.strategy.vmcs.set_control("INTERRUPT_WINDOW_EXITING")
    lab.step()
    window = [e for e in lab.trace.recent if e.reason == ExitReason.INTERRUPT_WINDOW]
    assert len(window) == 1 and window[0].eip == lab.image.symbols["window"]
    assert lab.trace.total == before + 1
    assert not lab.strategy.vmcs.control("INTERRUPT_WINDOW_EXITING")  # (no second exit)


# ---------------------------------------------------------------------------- I/O exiting
def _disk_vtx(bitmap_ports: tuple[int, ...] | None) -> Lab:
    lab = Lab("disk", strategy="vtx")
    if bitmap_ports is not None:  # "use I/O bitmaps" instead of unconditional I/O exiting
        v = lab.strategy.vmcs
        v.set_control("UNCOND_IO_EXITING", False)
        v.set_control("USE_IO_BITMAPS")
        for port in bitmap_ports:
            v.set_io_exit(port)
    lab.run()
    return lab


def test_io_bitmaps_make_only_the_disks_ports_exit():
    """SDM vol. 3C, 25.1.3: with "use I/O bitmaps", unconditional I/O exiting is ignored and an
    access exits exactly when a bit of a port it touches is set."""
    every, disk_only = _disk_vtx(None), _disk_vtx(tuple(range(0x1F0, 0x1F8)) + (0x3F6,))
    assert disk_only.console == every.console
    ports = {(e.qualification >> 16) for e in disk_only.trace.recent
             if e.reason == ExitReason.IO_INSTRUCTION}
    assert ports <= set(range(0x1F0, 0x1F8)) | {0x3F6} and 0x1F0 in ports
    assert 0x3F8 not in ports and 0x20 not in ports  # the console and the PIC run in the guest
    accesses = disk_only.machine.devices.disk.stats["port_accesses"]
    assert disk_only.trace.counts()["IO_INSTRUCTION"] == accesses
    assert every.trace.counts()["IO_INSTRUCTION"] > accesses + 100  # + serial, PIC, exit port
    assert "0x1f0-0x1f7, 0x3f6" in disk_only.strategy.vmcs.table()[
        [r["field"] for r in disk_only.strategy.vmcs.table()].index("IO_BITMAP_A")]["meaning"]


def test_a_word_access_exits_if_either_ports_bit_is_set():
    lab = Lab("disk", strategy="vtx")
    v = lab.strategy.vmcs
    v.set_control("USE_IO_BITMAPS")
    v.set_io_exit(0x1F1)
    assert v.io_exits(0x1F0, 2) and v.io_exits(0x1F1, 1) and not v.io_exits(0x1F0, 1)
    assert v.io_exits(0xFFFF, 2)  # wraps past 0xFFFF: always exits


def test_rep_insw_exits_say_string_and_rep_with_the_memory_operands_linear_address():
    lab = Lab("disk", strategy="vtx")
    lab.break_on_exit("IO_INSTRUCTION")
    for _ in range(20_000):
        stop = lab.run()
        last = lab.trace.recent[-1]
        if last.instruction.startswith("rep insw"):
            break
    else:
        raise AssertionError(f"no REP INSW exit ({stop})")
    qual = lab.vmcs["EXIT_QUALIFICATION"]
    assert qual >> 16 == 0x1F0 and qual & 7 == 1 and qual >> 3 & 1  # word, IN
    assert qual >> 4 & 1 and qual >> 5 & 1  # string, REP (SDM vol. 3C, table 27-5)
    assert lab.vmcs["GUEST_LINEAR_ADDRESS"] == lab.state().edi  # ES:EDI, flat ES


def test_the_cpu_view_shows_the_request_the_window_and_the_injection():
    from vlab import ui

    lab = Lab(_image(), strategy="vtx", timer_period=500)
    lab.break_on_exit("EXTERNAL_INTERRUPT")
    lab.run()  # stopped right after the timer's exit, inside the CLI section
    state = lab.interrupt_state()
    assert state["requested"] == [0] and state["in service"] == []  # withdrawn: still pending
    assert state["window requested"] and state["waiting for IF"] and not state["guest IF"]
    text = ui.RegisterView(lab).value
    assert "requested IRQ 0" in text and "interrupt window requested" in text
    lab.break_on_exit("INTERRUPT_WINDOW")
    lab.run()  # after the window's exit and VM entry: the timer's handler, IRQ 0 in service
    state = lab.interrupt_state()
    assert state["in service"] == [0] and not state["window requested"]
    assert state["injecting"] is None and lab.state().eip == lab.image.symbols["tick"]
    native = Lab(_image(), strategy="native", timer_period=500)
    native.run(until="window")
    assert native.interrupt_state()["requested"] == [0]  # natively: pending in the PIC too
    assert "injecting" not in native.interrupt_state()
