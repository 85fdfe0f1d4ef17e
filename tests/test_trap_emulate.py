"""Trap-and-emulate with ring compression: the kernel runs, and the holes show exactly."""

import json
import subprocess
import sys

import pytest

from vlab import layout
from vlab.errors import HandlerError, VlabError
from vlab.lab import Lab
from vlab.monitor.handlers import handle_sti
from vlab.monitor.trace import ExitReason


@pytest.fixture(scope="module")
def kernels():
    return Lab.compare(["native", "trap_emulate"], guest="kernel")


def test_kernel_halts_and_diverges_exactly_at_the_holes(kernels):
    te = kernels.runs["trap_emulate"]
    assert te.status == "halted" and te.error is None
    diff = {a: b for _, a, b in kernels.differing_lines("native", "trap_emulate")}
    native_gdt = Lab("kernel").image.symbols["gdt"]
    assert diff == {
        "CR0 (smsw): 0x00000011": "CR0 (smsw): 0x00000031",
        f"GDT (sgdt): base={native_gdt:#010x} limit=0x0000003f":
            f"GDT (sgdt): base={layout.MONITOR_GDT:#010x} limit=0x0000020f",
        "CPL (from CS): 0": "CPL (from CS): 1",
        "interrupts after popf: 0": "interrupts after popf: 1",
    }
    assert kernels.first_divergence() == kernels.lines("native").index("CR0 (smsw): 0x00000011")
    assert "!" in str(kernels) and "vlab-compare" in kernels._repr_html_()


def test_kernel_exit_counts(kernels):
    exits = kernels.runs["trap_emulate"].exits
    assert exits["HLT"] == 20  # 17 idle-loop waits and 3 yields
    assert exits["EXTERNAL_INTERRUPT"] == 20  # every tick reflected into the guest IDT
    assert exits["IRET"] == 20  # the timer handler returns to (what it believes is) ring 0
    assert exits["SOFTWARE_INTERRUPT"] == 14  # the user task's system calls
    assert exits["GDTR_IDTR_ACCESS"] == 2 and exits["LDTR_TR_ACCESS"] == 1
    assert exits["CR_ACCESS"] == 3 and exits["SEGMENT_LOAD"] == 1  # CR0 read, CR3 read+write
    assert exits["CLI"] >= 3 and exits["STI"] >= 3 and exits["IO_INSTRUCTION"] > 500
    assert exits["EXCEPTION_NMI"] == 1  # the user task's #GP, reflected
    assert kernels.runs["native"].exits == {}
    assert kernels.runs["trap_emulate"].cycles > 1_000_000


def test_cli_json_reports_exits():
    out = subprocess.run([sys.executable, "-m", "vlab", "run", "--strategy", "trap_emulate",
                          "--json"], capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    assert result["status"] == "halted" and result["exit_code"] == 0
    for reason in ("CLI", "STI", "HLT", "IO_INSTRUCTION", "CR_ACCESS", "GDTR_IDTR_ACCESS",
                   "LDTR_TR_ACCESS", "IRET"):
        assert result["exits"][reason] > 0, reason


HOLES = {  # demo: (native line, trap_emulate line)
    "smsw": ("SMSW: CR0[15:0] = 0x00000011", "SMSW: CR0[15:0] = 0x00000031"),
    "sgdt": ("SGDT: base = 0xffff0000 limit = 0x0000003f", "SGDT: base = 0xffff2000 limit = 0x0000020f"),
    "sidt": ("SIDT: base = 0x00080000 limit = 0x000007ff", "SIDT: base = 0xffff3000 limit = 0x000007ff"),
    "sldt": ("SLDT: LDTR = 0x00000000", "SLDT: LDTR = 0x000001e8"),
    "str": ("STR: TR = 0x00000038", "STR: TR = 0x000001e0"),
    "pushf": ("PUSHF after CLI: IF = 0", "PUSHF after CLI: IF = 1"),
    "popf": ("POPF with IF=1, then 10000 instructions: ticks = 10",
             "POPF with IF=1, then 10000 instructions: ticks = 0"),
    "lar": ("LAR 0x08: rights = 0x00c09b00", "LAR 0x08: not accessible"),
    "lsl": ("LSL 0x08: limit = 0xffffffff", "LSL 0x08: not accessible"),
    "verr": ("VERR 0x08: readable", "VERR 0x08: not readable"),
    "verw": ("VERW 0x10: writable", "VERW 0x10: not writable"),
    "mov_cs": ("MOV from CS: CPL = 0", "MOV from CS: CPL = 1"),
    "push_cs": ("PUSH CS: selector = 0x00000008", "PUSH CS: selector = 0x00000019"),
    "pop_ds": ("POP DS: DS = 0x00000010", "POP DS: DS = 0x00000021"),
    "far_jmp": ("far JMP: arrived, CS = 0x00000008", "far JMP: arrived, CS = 0x00000019"),
    "far_call": ("far CALL: returned, CS at callee = 0x00000008",
                 "far CALL: returned, CS at callee = 0x00000019"),
    "far_ret": ("far RET: arrived, CS = 0x00000008", "far RET: arrived, CS = 0x00000019"),
    "int_n": ("INT 0x30: handler ran, CS there = 0x00000008",
              "INT 0x30: handler ran, CS there = 0x00000019"),
}


@pytest.mark.parametrize("demo", sorted(HOLES))
def test_each_hole_demo_diverges(demo):
    native_line, te_line = HOLES[demo]
    c = Lab.compare(["native", "trap_emulate"], guest=f"demo-{demo}")
    assert c.runs["native"].console == native_line + "\n"
    assert c.runs["trap_emulate"].console == te_line + "\n"
    assert c.runs["trap_emulate"].status == "halted"


def test_every_demo_is_covered():
    from vlab import guests

    demos = {n[5:] for n in guests.catalog() if n.startswith("demo-")}
    assert demos == set(HOLES)


def test_guest_really_runs_in_ring_one_and_believes_ring_zero():
    lab = Lab("kernel", "trap_emulate")
    lab.run(until="report")
    assert lab.state().cpl == 1 and lab.state().cs == 0x09
    view = lab.guest_view()
    assert view["cpl"] == 0 and view["IF"] is True
    assert view["GDTR"].base == lab.image.symbols["gdt"]
    assert lab.state().gdtr.base == layout.MONITOR_GDT


def test_timer_waits_for_virtual_if_and_hlt_skips_time():
    lab = Lab("kernel", "trap_emulate")
    lab.run()
    m = lab.machine
    assert m.devices.timer.ticks == 20
    assert m.vtime > 20 * 9_000 and m.instructions < 12_000  # idle time skipped, not spun


def test_exit_records_carry_state_changes_and_cost():
    lab = Lab("kernel", "trap_emulate")
    lab.run()
    lgdt = lab.trace.filter("GDTR_IDTR_ACCESS")[0]
    assert lgdt.instruction.startswith("lgdt") and lgdt.handler == "handle_lgdt"
    assert lab.trace.outcome(lgdt).changes["GDTR"][1].base == lab.image.symbols["gdt"]
    assert lgdt.cost > 0 and lgdt.cpl == 0
    cr = lab.trace.filter(ExitReason.CR_ACCESS)[0]
    assert cr.instruction == "mov eax, cr0" and cr.qualification == 0x10  # CR0, MOV from, EAX
    rows = lab.trace.rows()
    assert rows[0]["reason"] == "IO_INSTRUCTION" and rows[0]["reason_number"] == 30
    # every kernel CLI traps; the user task's CLI arrives as a #GP to reflect (EXCEPTION_NMI)
    assert lab.trace.by_instruction["cli"] == lab.trace.by_reason[ExitReason.CLI] + 1
    gp = lab.trace.filter("EXCEPTION_NMI")[0]
    assert gp.instruction == "cli" and gp.detail["vector"] == 13 and gp.cpl == 3


def test_exit_breakpoint_on_hlt():
    lab = Lab("kernel", "trap_emulate")
    lab.break_on_exit("HLT")
    stop = lab.run()
    assert stop.reason == "exit" and stop.detail.reason == ExitReason.HLT
    assert lab.read(lab.state().eip - 1, 1) == b"\xf4"  # stopped just after the HLT


def test_student_handler_replaces_vlabs():
    seen = []

    def my_sti(vcpu, exit_):
        seen.append(exit_.eip)
        handle_sti(vcpu, exit_)

    lab = Lab("kernel", "trap_emulate")
    lab.handlers["sti"] = my_sti
    lab.run()
    assert lab.exit_code == 0 and len(seen) == lab.trace.by_reason[ExitReason.STI]


def test_handler_that_raises_stops_with_handler_error():
    def broken(vcpu, exit_):
        raise KeyError("oops")

    lab = Lab("kernel", "trap_emulate")
    lab.handlers["lgdt"] = broken
    with pytest.raises(HandlerError, match=r"broken raised KeyError: 'oops' while handling "
                                           r"GDTR_IDTR_ACCESS at EIP=0x[0-9a-f]+ \(lgdt"):
        lab.run()
    assert lab.status == "HandlerError"
    lab.reset()
    lab.run()
    assert lab.exit_code == 0


def test_handler_that_forgets_to_advance_stops_with_handler_error():
    def forgetful_cli(vcpu, exit_):
        vcpu.virt.IF = False

    lab = Lab("kernel", "trap_emulate")
    lab.handlers["cli"] = forgetful_cli
    with pytest.raises(HandlerError, match="forgetful_cli left EIP at .*must advance past 'cli'"):
        lab.run()


def test_virtual_state_rejects_unknown_fields():
    lab = Lab("kernel", "trap_emulate")
    with pytest.raises(AttributeError):
        lab.vcpu.virt.If = True  # a typo must not silently create state


def test_switch_keeps_previous_run():
    lab = Lab("kernel", "native")
    lab.run()
    lab.switch("trap_emulate")
    assert lab.history[-1]["strategy"] == "native" and lab.history[-1]["status"] == "halted"
    lab.run()
    assert lab.strategy_name == "trap_emulate" and lab.exit_code == 0
    with pytest.raises(VlabError, match="unknown strategy"):
        lab.switch("nonsense")
    assert lab.strategy_name == "trap_emulate"


def test_a_software_monitor_gets_a_gp_and_decodes_the_instruction_itself():
    """Deprivileged, a privileged instruction raises #GP(0) (SDM vol. 3A, 5.9; IN/OUT at CPL >
    IOPL: vol. 1, 19.5): that is all the hardware tells a trap-and-emulate monitor. The reason
    and qualification in the trace are the monitor's own decoding (named as VT-x's, to compare);
    a VT-x exit is reported by the CPU and carries no such mark."""
    lab = Lab("kernel", "trap_emulate")
    lab.run()
    for reason in ("CR_ACCESS", "IO_INSTRUCTION", "CLI", "GDTR_IDTR_ACCESS"):
        e = lab.trace.filter(reason)[0]
        assert e.detail["delivered"] == "#GP(0x0)" and e.detail["decoded_by"] == "monitor", reason
    vtx = Lab("kernel", "vtx")
    vtx.run()
    assert not any("delivered" in e.detail for e in vtx.trace)
