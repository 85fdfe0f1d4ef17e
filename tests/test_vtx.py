"""The VT-x model: non-root mode without holes, exits exactly as the VMCS controls select."""

import json
import subprocess
import sys

import pytest

from tests.conftest import assert_same_as_native, build
from vlab import guests
from vlab.errors import VlabError
from vlab.hw.vmcs import FIELDS, INTR_TYPE_EXTERNAL, InterruptionInfo, Vmcs
from vlab.lab import Lab
from vlab.monitor.trace import COSTS, ExitReason


@pytest.mark.parametrize("guest", ["kernel", "smc", *sorted(n for n in guests.catalog()
                                                          if n.startswith("demo-"))])
def test_equals_native_exactly(guest):
    assert_same_as_native(guest, "vtx")


def test_cli_kernel_exits_by_intel_reason():
    out = subprocess.run([sys.executable, "-m", "vlab", "run", "--strategy", "vtx", "--json"],
                         capture_output=True, text=True, check=True).stdout
    result = json.loads(out)
    native = Lab("kernel")
    native.run()
    assert result["console"] == native.console
    exits = result["exits"]
    assert exits["CPUID"] == 1 and exits["HLT"] == 20
    assert exits["EXTERNAL_INTERRUPT"] == 20 and exits["IO_INSTRUCTION"] > 500
    # recent VT-x has EPT: the CR3 reload stays in the guest; each guest frame the kernel
    # touches first is an EPT violation (demand allocation)
    assert "CR_ACCESS" not in exits and 1 <= exits["EPT_VIOLATION"] <= 8
    numbers = {ExitReason[k].value for k in exits}
    assert {10, 12, 30, 48, 1} <= numbers
    shadow = Lab("kernel", "vtx", strategy_options={"ept": False})
    shadow.run()  # without EPT the monitor must see CR3 (load and store)
    assert shadow.trace.counts()["CR_ACCESS"] == 2 and "EPT_VIOLATION" not in shadow.trace.counts()


def test_non_root_mode_is_visible():
    lab = Lab("kernel", "vtx")
    lab.run(until="report")
    assert lab.state().vmx_mode == "non-root" and lab.state().cpl == 0
    assert lab.guest_view()["vmx"] == "non-root"
    assert Lab("kernel").state().vmx_mode == "off"


def _vtx(guest="kernel", ept=False, **controls):
    # without EPT (CR3 and INVLPG exiting on, as first-generation hardware) unless ept
    options = {"ept": ept}
    lab = Lab(image=build(guest), strategy="vtx", strategy_options=options) \
        if guest != "kernel" else Lab("kernel", "vtx", strategy_options=options)
    for name, on in controls.items():
        lab.set_control(name, on)
    try:
        lab.run()
    except VlabError:
        pass
    return lab


@pytest.mark.parametrize("control,reason", [
    ("HLT_EXITING", "HLT"),
    ("EXTERNAL_INTERRUPT_EXITING", "EXTERNAL_INTERRUPT"),
    ("UNCOND_IO_EXITING", "IO_INSTRUCTION"),
    ("CR3_LOAD_EXITING", "CR_ACCESS"),
])
def test_kernel_control_toggles(control, reason):
    on, off = _vtx(ept=True, **{control: True}), _vtx(ept=True, **{control: False})
    assert on.trace.counts().get(reason, 0) > 0
    assert off.trace.counts().get(reason, 0) == 0
    assert on.console == off.console and off.exit_code == 0  # the guest cannot tell


def test_cr3_store_exiting_adds_exits():
    base, store = _vtx(ept=True), _vtx(ept=True, CR3_STORE_EXITING=True)
    assert store.trace.by_reason[ExitReason.CR_ACCESS] == base.trace.by_reason[ExitReason.CR_ACCESS] + 1
    reads = [e for e in store.trace.filter("CR_ACCESS") if e.detail["decoded"].startswith("MOV from")]
    assert [e.detail["decoded"] for e in reads] == ["MOV from CR3 to EAX"]


def test_io_bitmaps_select_ports():
    lab = Lab("kernel", "vtx")
    lab.set_control("UNCOND_IO_EXITING", False)
    lab.set_control("USE_IO_BITMAPS", True)
    lab.vmcs.set_io_exit(0xF4)  # only the exit device
    lab.run()
    io = lab.trace.filter("IO_INSTRUCTION")
    assert len(io) == 1 and io[0].detail["decoded"] == "OUT port=0xf4 size 1"
    assert io[0].qualification == 0x00F4_0040


def test_guest_ops_exit_per_control():
    lab = _vtx("vmx_ops", RDTSC_EXITING=True)
    counts = lab.trace.counts()
    assert counts["RDTSC"] == 1 and counts["INVLPG"] == 1 and counts["VMCALL"] == 1
    assert counts.get("RDMSR", 0) == 0 and counts.get("WRMSR", 0) == 0  # MSR bitmap clear
    cr = [e.detail["decoded"] for e in lab.trace.filter("CR_ACCESS")]
    # (without EPT the monitor sees CR3 stores too); NE is host-owned
    assert cr == ["MOV from CR3 to EAX", "MOV to CR3 from EAX", "MOV to CR0 from EAX"]
    assert lab.trace.filter("INVLPG")[0].qualification == 0x1000
    off = _vtx("vmx_ops", RDTSC_EXITING=False, INVLPG_EXITING=False)
    assert "RDTSC" not in off.trace.counts() and "INVLPG" not in off.trace.counts()


def test_msr_bitmap_selects_msrs():
    lab = Lab(image=build("vmx_ops"), strategy="vtx")
    lab.vmcs.set_msr_exit(0x174, write=True)
    lab.run()
    assert lab.trace.counts()["WRMSR"] == 1 and "RDMSR" not in lab.trace.counts()
    lab2 = Lab(image=build("vmx_ops"), strategy="vtx")
    lab2.set_control("USE_MSR_BITMAPS", False)  # then every RDMSR/WRMSR exits
    lab2.run()
    assert lab2.trace.counts()["WRMSR"] == 1 and lab2.trace.counts()["RDMSR"] == 1


def test_cr0_write_goes_to_shadow_and_reads_return_it():
    lab = _vtx("vmx_ops")
    assert lab.vmcs["CR0_READ_SHADOW"] & 0x20  # the handler recorded the guest's NE
    assert lab.state().ebx == 0x55  # (vmcall's EBX) ... and SMSW ran before it


def test_vmcall_reaches_handler_with_registers():
    seen = {}

    def my_vmcall(vcpu, exit_):
        seen.update(eax=vcpu.regs.eax, ebx=vcpu.regs.ebx, ecx=vcpu.regs.ecx,
                    reason=vcpu.vmcs["VM_EXIT_REASON"], length=vcpu.vmcs["VM_EXIT_INSTRUCTION_LEN"])
        vcpu.regs.eax = vcpu.regs.ebx + vcpu.regs.ecx
        vcpu.skip()

    lab = Lab(image=build("vmx_ops"), strategy="vtx")
    lab.handlers[ExitReason.VMCALL] = my_vmcall
    lab.run()
    assert seen == {"eax": 0x11223344, "ebx": 0x55, "ecx": 0x66, "reason": 18, "length": 3}
    assert lab.read_u32(lab.image.symbols["result"]) == 0x55 + 0x66
    default = _vtx("vmx_ops")
    assert default.read_u32(default.image.symbols["result"]) == (-1000) & 0xFFFFFFFF


def test_event_injection_delivers_the_timer():
    lab = Lab("kernel", "vtx")
    injected = []

    def spy(exit_):
        if exit_.reason == ExitReason.EXTERNAL_INTERRUPT:
            info = InterruptionInfo.decode(lab.vmcs["VM_EXIT_INTR_INFO"])
            injected.append((info.vector, info.kind, info.valid))

    lab.events.exit_recorded.connect(spy)
    lab.run()
    assert injected == [(0x20, INTR_TYPE_EXTERNAL, True)] * 20
    assert lab.timer_ticks == 20 and "ticks: 20" in lab.console
    assert lab.vmcs["VM_ENTRY_INTR_INFO_FIELD"] == 0  # consumed by the VM entry


def test_exception_bitmap_intercepts_and_reinjects():
    lab = _vtx()
    lab2 = Lab("kernel", "vtx")
    lab2.vmcs["EXCEPTION_BITMAP"] = 1 << 13
    lab2.run()
    gp = lab2.trace.filter("EXCEPTION_NMI")
    assert len(gp) == 1 and gp[0].instruction == "cli" and gp[0].detail["intr_info"] & 0xFF == 13
    assert lab2.console == lab.console  # reinjected: the guest's own #GP handler ran
    assert "EXCEPTION_NMI" not in lab.trace.counts()


def test_monitor_trap_flag_exits_after_each_instruction():
    lab = Lab("demo-mov_cs", "vtx")
    lab.set_control("MONITOR_TRAP_FLAG", True)
    lab.run()
    mtf = lab.trace.by_reason[ExitReason.MONITOR_TRAP_FLAG]
    assert mtf >= lab.instructions - 1 and lab.exit_code == 0


def test_vmcs_fields_and_inspection():
    v = Vmcs()
    v.vmwrite("CPU_BASED_VM_EXEC_CONTROL", 0x80)
    assert v.vmread(0x4002) == 0x80 and v.control("HLT_EXITING")
    assert FIELDS["GUEST_RIP"] == 0x681E and FIELDS["EXIT_QUALIFICATION"] == 0x6400
    with pytest.raises(PermissionError, match="read-only"):
        v.vmwrite("VM_EXIT_REASON", 1)
    with pytest.raises(KeyError, match="SDM"):
        v.vmread("GUEST_EIP")
    lab = Lab("kernel", "vtx")
    lab.run()
    rows = {r["field"]: r for r in lab.vmcs.table()}
    assert rows["VM_EXIT_REASON"]["value"] == 30  # the last exit: OUT to the exit device
    assert rows["EXIT_QUALIFICATION"]["changed"] and rows["GUEST_RIP"]["changed"]
    assert not rows["CR0_GUEST_HOST_MASK"]["changed"]


def test_cost_model_generations():
    recent = Lab("kernel", "vtx")
    first = Lab("kernel", "vtx", strategy_options={"generation": "first", "ept": True})
    assert not Lab("kernel", "vtx", strategy_options={"generation": "first"}).ept_enabled
    recent.run()
    first.run()
    assert recent.trace.total == first.trace.total
    assert first.trace.cycles == recent.trace.total * COSTS["vmexit_first_gen"].cycles
    assert recent.trace.cycles == recent.trace.total * COSTS["vmexit_recent"].cycles
    with pytest.raises(VlabError, match="does not take|generation"):
        Lab("kernel", "vtx", strategy_options={"generation": "future"})


def test_privops_header_says_what_each_strategy_sees():
    """privops.S's header: the port write reaches a monitor everywhere but native; the CR3
    reload does not exit under VT-x with EPT (the guest owns CR3), and does without it."""
    runs = {}
    for label, strategy, options in (("te", "trap_emulate", {}), ("bt", "binary_translation", {}),
                                     ("ept", "vtx", {}), ("no_ept", "vtx", {"ept": False})):
        lab = Lab("privops", strategy, strategy_options=options)
        lab.run()
        runs[label] = lab.trace.counts()
    assert all(r["IO_INSTRUCTION"] >= 2000 for r in runs.values())
    assert "CR_ACCESS" not in runs["ept"]
    assert runs["te"]["CR_ACCESS"] == runs["bt"]["CR_ACCESS"] == runs["no_ept"]["CR_ACCESS"] == 4000
    assert "any strategy" not in guests.source("privops").split("\n.include")[0]


def test_exits_in_code_first_reached_through_the_guests_idt_are_not_lost():
    """An event delivered straight through the guest's IDT (no exit: an exception outside the
    exception bitmap, int 0x80 from ring 3) leads to code the model must scan like any other:
    with INVLPG exiting on, the paging kernel's two INVLPGs (in its #PF handler and a system
    call) exit with EPT as without it."""
    for ept in (True, False):
        lab = Lab("paging", "vtx", strategy_options={"ept": ept})
        lab.set_control("INVLPG_EXITING", True)
        lab.run()
        assert lab.status == "halted" and lab.trace.counts()["INVLPG"] == 2, ept


@pytest.mark.parametrize("control", ["DESC_TABLE_EXITING", "MOV_DR_EXITING", "RDPMC_EXITING"])
def test_a_control_the_model_does_not_implement_is_refused_not_ignored(control):
    lab = Lab("kernel", "vtx")
    with pytest.raises(VlabError, match=f"{control} is an SDM control vlab's VT-x model does "
                                        "not implement"):
        lab.set_control(control, True)
    lab.set_control(control, False)  # (clearing it is what the model does anyway)
    assert lab.run().reason == "halted"


def _exits_with_changes(look_at_each: bool, exits: int = 80):
    """Run the kernel under vtx exit by exit; returns the VMCS tables read at each exit (if
    ``look_at_each``) with the fields each exit was said to change, and the lab."""
    lab = Lab("kernel", "vtx", timer_period=0)
    for reason in ExitReason:
        lab.break_on_exit(reason)
    seen = []
    for _ in range(exits):
        stop = lab.run()
        assert stop.reason == "exit", stop
        if look_at_each:
            seen.append(({row["field"]: row["value"] for row in lab.vmcs.table()},
                         set(lab.vmcs.changed_at_exit)))
    return lab, seen


def test_the_fields_an_exit_changed_are_the_fields_that_differ_and_do_not_depend_on_looking():
    """What 'changed at the last exit' means (the VMCS view highlights it): the fields whose value
    the exit and its handler changed, i.e. those that differ from the previous exit's VMCS
    (SDM vol. 3, 27.2-27.3 say what an exit writes). The VMCS stores an exit's values only when
    someone looks: a lab never looked at must end with the same fields and the same changes."""
    looked, seen = _exits_with_changes(look_at_each=True)
    for (before, _), (after, changed) in zip(seen, seen[1:], strict=False):
        differ = {f for f in after if after[f] != before[f]}
        assert changed == differ, (sorted(changed ^ differ), after["VM_EXIT_REASON"])
    assert any("GUEST_RIP" in changed for _, changed in seen[1:])
    unlooked, _ = _exits_with_changes(look_at_each=False)
    assert {r["field"]: r["value"] for r in unlooked.vmcs.table()} == seen[-1][0]
    assert unlooked.vmcs.changed_at_exit == seen[-1][1]
