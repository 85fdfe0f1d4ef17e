"""Paravirtualization: the modified kernel speaks hypercalls; the image is not universal."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vlab.errors import GuestFault, VlabError
from vlab.isa import assemble
from vlab.lab import Lab

PV_CALLS = Path(__file__).parents[1] / "exercises" / "08-hypercall" / "guests" / "pv_calls.S"


@pytest.fixture(scope="module")
def runs():
    return Lab.compare(["native", "trap_emulate", "paravirt"], guest="kernel")


def test_pv_kernel_report_equals_native_but_for_mode_lines(runs):
    pv, native = runs.runs["paravirt"], runs.runs["native"]
    assert pv.status == "halted" and pv.error is None
    diff = runs.differing_lines("native", "paravirt")
    assert [b for _, _, b in diff] == [
        "CR0 (mov): not read (paravirtualized)",
        "CR0 (smsw): not read (paravirtualized)",
        f"GDT (set_gdt): base={Lab('kernel-pv', 'paravirt').image.symbols['gdt']:#010x} "
        "entries=0x00000008",
        "CPL (from CS): 1 (paravirtualized: the kernel knows its ring)",
    ]
    assert len(pv.console.splitlines()) == len(native.console.splitlines())


def test_far_fewer_monitor_entries_than_trap_emulate(runs):
    pv, te = runs.runs["paravirt"], runs.runs["trap_emulate"]
    assert pv.total_exits * 3 < te.total_exits
    assert pv.cycles < te.cycles
    assert pv.exits["HYPERCALL"] > 0 and "IO_INSTRUCTION" not in pv.exits
    assert "CLI" not in pv.exits and "STI" not in pv.exits  # masking without exits


def _syscalls_printed(console: str) -> int:
    return int(next(line for line in console.splitlines()
                    if line.startswith("system calls: ")).split(": ")[1])


def test_system_calls_take_xens_fast_trap():
    """x86-32 Xen gives int 0x80 a direct trap gate when the guest's trap-table entry is DPL 3
    and does not mask events (Barham et al. 2003, sec. 2.1.2): system calls then never enter the
    hypervisor (the kernel returns with a real IRETD). With fast_trap off, each one traps and is
    bounced: one hypervisor entry per system call, the cost Xen's fast trap removed."""
    fast, slow = Lab("kernel-pv", "paravirt"), Lab("kernel-pv", "paravirt",
                                                   strategy_options={"fast_trap": False})
    fast.run()
    slow.run()
    calls = _syscalls_printed(fast.console)
    assert calls == 14 and fast.console == slow.console
    assert "SOFTWARE_INTERRUPT" not in fast.trace.counts()
    assert fast.memory_summary()["fast_traps"] == calls and fast.memory_summary()["fast_trap"]
    assert slow.trace.counts()["SOFTWARE_INTERRUPT"] == calls
    assert slow.trace.entries - fast.trace.entries == calls
    assert slow.memory_summary()["fast_traps"] == 0 and not slow.memory_summary()["fast_trap"]
    assert all(e.detail["vector"] == 0x80 for e in slow.trace.filter("SOFTWARE_INTERRUPT"))


def test_system_call_workload_costs_the_hypervisor_nothing_with_the_fast_trap():
    """syscalls-pv: 2,000 system calls; with the fast trap the hypervisor sees only the boot's
    hypercalls, without it one trap per call more. Native equals both on the console."""
    runs = Lab.compare([("fast", "paravirt", {}), ("slow", "paravirt", {"fast_trap": False}),
                        "native"], guest="syscalls")
    fast, slow = runs.runs["fast"], runs.runs["slow"]
    assert fast.console == slow.console == runs.runs["native"].console == "system calls: 2000\n"
    assert fast.entries < 10 and slow.entries == fast.entries + 2001  # + the final "exit" call
    assert slow.cycles > fast.cycles + 2000 * 1000


def test_an_entry_that_masks_events_gets_no_fast_trap():
    """A real trap gate cannot set the guest's event mask, so Xen installs the direct gate only
    for an entry that does not ask for it: the paging kernel's int 0x80 entry masks events, so its
    system calls still go through the hypervisor."""
    lab = Lab("paging-pv", "paravirt")
    lab.run()
    assert lab.status == "halted" and not lab.memory_summary()["fast_trap"]
    assert lab.trace.counts()["SOFTWARE_INTERRUPT"] > 0


def test_cli_json_hypercalls_by_name():
    out = subprocess.run([sys.executable, "-m", "vlab", "run", "--guest", "kernel-pv",
                          "--strategy", "paravirt", "--json"], capture_output=True, text=True,
                         check=True).stdout
    result = json.loads(out)
    assert result["status"] == "halted" and result["exit_code"] == 0
    lab = Lab("kernel-pv", "paravirt")
    lab.run()
    names = {e.detail["hypercall"] for e in lab.trace if e.reason.name == "HYPERCALL"}
    assert names == {"console_io", "iret", "sched_op", "set_gdt", "multicall", "mmuext_op",
                     "set_timer_op"}
    gdt = next(e for e in lab.trace if e.detail.get("hypercall") == "set_gdt")
    assert gdt.detail["number"] == 2 and gdt.detail["args"] == {
        "frames": lab.image.symbols["gdt"], "entries": 8}
    rows = lab.trace.rows()
    assert any(r["detail"].get("hypercall") == "console_io" for r in rows)


def test_multicall_batching_reduces_hypercalls():
    batched, single = Lab("kernel-pv", "paravirt"), Lab("kernel-pv-nobatch", "paravirt")
    batched.run()
    single.run()
    def report(lab):  # the GDT's address differs between the two builds; nothing else may
        return [x for x in lab.console.splitlines() if not x.startswith("GDT")]

    assert report(batched) == report(single)
    # 3 calls in 1 entry
    assert batched.trace.counts()["HYPERCALL"] == single.trace.counts()["HYPERCALL"] - 2
    multi = next(e for e in batched.trace if e.detail.get("hypercall") == "multicall")
    assert batched.trace.outcome(multi).notes["batched"] == ["stack_switch", "set_trap_table",
                                                             "set_callbacks"]


def test_pv_image_elsewhere_fails_clearly():
    for strategy in ("native", "trap_emulate", "binary_translation", "vtx"):
        lab = Lab("kernel-pv", strategy)
        with pytest.raises(GuestFault, match="this image is paravirtualized: it needs a "
                                             "hypervisor that implements hypercalls"):
            lab.run()
        assert lab.status == "GuestFault" and strategy in str(lab.error)


def test_unmodified_kernel_refused_under_paravirt():
    with pytest.raises(VlabError, match="'kernel' is not paravirtualized.*kernel-pv"):
        Lab("kernel", "paravirt")


def test_switch_picks_the_build_the_strategy_needs():
    lab = Lab("kernel", "native")
    lab.switch("paravirt")
    assert lab.guest == "kernel-pv"
    lab.run()
    lab.switch("vtx")
    assert lab.guest == "kernel"
    lab.run()
    assert lab.exit_code == 0


def test_hypercall_arguments_are_validated():
    lab = Lab(image=assemble(PV_CALLS.read_text(), "pv_calls", include_dirs=[PV_CALLS.parent]),
              strategy="paravirt")
    lab.run()
    assert lab.exit_code == 0 and lab.console == "ok\nok\n"  # batched, then a direct call
    base = lab.image.symbols["results"]
    got = [lab.read_u32(base + 4 * i) for i in range(10)]
    enosys, efault, einval, eperm = ((-38) & 0xFFFFFFFF, (-14) & 0xFFFFFFFF, (-22) & 0xFFFFFFFF,
                                     (-1) & 0xFFFFFFFF)
    assert got == [enosys, efault, einval, einval, eperm, efault, 0, 3, enosys, 3]
    assert lab.read_u32(0x2000) == 0  # the refused page-table write never happened


def test_diff_shows_what_paravirtualization_changed():
    out = subprocess.run([sys.executable, "-m", "vlab", "guests", "diff", "kernel", "kernel-pv"],
                         capture_output=True, text=True, check=True).stdout
    removed = [line[1:].split("#")[0].strip() for line in out.splitlines()
               if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].split("#")[0].strip() for line in out.splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    for privileged in ("lgdt [gdt_desc]", "ltr ax", "lidt [idt_desc]", "mov eax, cr0", "hlt",
                       "sti", "cli", "iretd", "out dx, al", "in al, dx"):
        assert privileged in removed, privileged
    for hypercall in ("mov eax, __HYPERVISOR_set_gdt", "mov eax, __HYPERVISOR_console_io",
                      "mov eax, __HYPERVISOR_sched_op", "mov eax, __HYPERVISOR_iret",
                      "mov byte ptr [UPCALL_MASK], 1"):
        assert hypercall in added, hypercall
    assert not any(x in ("lgdt [gdt_desc]", "hlt", "cli", "sti") for x in added)
