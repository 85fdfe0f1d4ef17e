"""The nanobenchmarks (Adams & Agesen 2006, sec. 6): their guests, and what one iteration costs
under each strategy. Every expectation below comes from the architecture (what traps at CPL 1,
what a VMCS control makes exit, what a translator emulates without a trap), not from a run."""

from __future__ import annotations

import json

import pytest

from vlab import guests
from vlab.errors import GuestFault, VlabError
from vlab.lab import Lab
from vlab.monitor.trace import COSTS, ExitReason
from vlab.nanobench import (
    BENCHMARKS,
    CONFIGS,
    PUBLISHED,
    Config,
    NanobenchError,
    measure,
    measure_one,
    run,
)

N = 8  # iterations in the shorter run (the longer has 2N)
NON_PV = ["native", "trap_emulate", "binary_translation", "vtx"]
PV_GUESTS = sorted(n for n in guests.catalog() if n.startswith("nano-") and n.endswith("-pv"))


@pytest.fixture(scope="module")
def results():
    return measure(iterations=N)


def row(results, benchmark: str, config: str):
    return results[(benchmark, config)]


def exits(results, benchmark: str, config: str) -> dict[tuple[str, str], int]:
    return dict(row(results, benchmark, config).exits)


# ---------------------------------------------------------------------------- the guests
def test_every_guest_runs_under_every_strategy_it_claims():
    """Each guest counts its own operations and prints "ok" only if it did ITERATIONS of them;
    the -pv builds run under paravirt, the others under the four other strategies."""
    assert set(BENCHMARKS) == {"syscall", "in", "cr8wr", "call/ret", "pgfault", "divzero",
                               "ptemod"}
    for b in BENCHMARKS.values():
        for strategy in NON_PV:
            assert run(b.guest, Config(strategy, strategy), 3).console == "ok\n"
        if f"{b.guest}-pv" in guests.catalog():
            assert guests.build_for(b.guest, "paravirt") == f"{b.guest}-pv"
            assert guests.build_for(f"{b.guest}-pv", "vtx") == b.guest
            assert run(f"{b.guest}-pv", Config("paravirt", "paravirt"), 3).console == "ok\n"
    # every benchmark but "in" has a paravirtual build; "in" says why not, in its header
    assert {g[:-3] for g in PV_GUESTS} == {b.guest for b in BENCHMARKS.values()} - {"nano-in"}
    assert "paravirt: n/a" in guests.source("nano-in")


def test_a_wrong_count_is_an_error():
    lab = Lab("nano-divzero", "native")
    lab.run(until="de_handler")
    lab.machine.cpu.set_reg("eip", lab.address("nano_wrong"))  # as if a fault were missed
    lab.run()
    assert lab.exit_code == 1 and lab.console == "wrong count\n"


@pytest.mark.parametrize("guest", PV_GUESTS)
def test_pv_image_refused_elsewhere_and_unmodified_refused_under_paravirt(guest):
    for strategy in NON_PV:
        lab = Lab(guest, strategy)
        with pytest.raises(GuestFault, match="this image is paravirtualized"):
            lab.run()
    with pytest.raises(VlabError, match=f"'{guest[:-3]}' is not paravirtualized.*{guest}"):
        Lab(guest[:-3], "paravirt")


# ---------------------------------------------------------------------------- per iteration
def test_differencing_gives_integers_and_native_costs_nothing(results):
    assert len(results) >= 7 * 6
    for r in results:
        assert r.entries.denominator == 1 and r.cycles.denominator == 1, r
        assert all(n.denominator == 1 for n in r.exits.values()), r
    for name in BENCHMARKS:
        native = row(results, name, "native")
        assert native.entries == native.cycles == 0 and not native.exits


def test_trap_and_emulate_traps_on_privileged_instructions_and_reflects_faults(results):
    te = "trap_emulate"
    assert exits(results, "in", te) == {("IO_INSTRUCTION", "io_trap"): 1}  # CPL 1 > IOPL 0
    assert exits(results, "cr8wr", te) == {("CLI", "trap"): 1, ("STI", "trap"): 1}
    assert row(results, "cr8wr", te).cycles == 2 * COSTS["trap"].cycles
    # a fault is reflected into the guest's IDT; its handler's IRETD, to what the kernel
    # believes is ring 0, is an inner-ring return at the real CPL 1: it traps too
    for name in ("divzero", "pgfault"):
        assert exits(results, name, te) == {("EXCEPTION_NMI", "trap"): 1, ("IRET", "trap"): 1}
    # INT 0x80 from ring 3 traps; the IRETD back to ring 3 (an outer ring) does not
    assert exits(results, "syscall", te) == {("SOFTWARE_INTERRUPT", "trap"): 1}
    assert row(results, "call/ret", te).entries == 0  # nothing sensitive in it
    assert row(results, "ptemod", te).entries >= 1  # a store into a write-protected table


def test_vtx_exits_only_where_a_control_says(results):
    for config, cost in (("vtx first_gen, no EPT", "vmexit_first_gen"),
                         ("vtx recent, EPT", "vmexit_recent")):
        # unconditional I/O exiting: one I/O-instruction exit (basic reason 30) per IN
        assert ExitReason.IO_INSTRUCTION == 30
        assert exits(results, "in", config) == {("IO_INSTRUCTION", cost): 1}
        assert row(results, "in", config).cycles == COSTS[cost].cycles
        # no control makes INT n, IRET, CLI, STI, CALL or RET exit
        for name in ("syscall", "cr8wr", "call/ret", "divzero"):
            assert row(results, name, config).entries == 0 and not row(results, name, config).exits
    # ... and #DE is not in the exception bitmap
    lab = run("nano-divzero", Config("vtx", "vtx"), 2)
    assert lab.vmcs["EXCEPTION_BITMAP"] & (1 << 0) == 0


def test_vtx_page_faults_and_pte_writes_exit_only_without_ept(results):
    for config in ("vtx first_gen, no EPT", "vtx recent, no EPT"):
        # shadow paging: #PF is in the exception bitmap, every true fault exits (and is injected)
        assert dict(row(results, "pgfault", config).exits) == {
            ("EXCEPTION_NMI", "vmexit_first_gen" if "first" in config else "vmexit_recent"): 1}
        # the guest's page tables are write-protected in the shadow: a PTE store exits
        assert row(results, "ptemod", config).entries >= 1
    for name in ("pgfault", "ptemod"):  # EPT: the guest's tables are the real ones
        assert row(results, name, "vtx recent, EPT").entries == 0
        assert not row(results, name, "vtx recent, EPT").exits


def test_binary_translation_emulates_cli_sti_inline_and_pays_per_indirect_branch(results):
    bt = "binary_translation"
    cli_sti = row(results, "cr8wr", bt)
    assert cli_sti.entries == cli_sti.callouts == 0 and cli_sti.inline == 2
    assert cli_sti.cycles == 2 * COSTS["inline_flags"].cycles
    callret = row(results, "call/ret", bt)  # one RET per iteration: one lookup
    assert callret.entries == 0 and dict(callret.charges) == {
        "indirect branch": COSTS["indirect_branch"].cycles}
    assert row(results, "call/ret", "vtx recent, EPT").charges == {}
    # a translated IN calls the device model: no trap
    assert exits(results, "in", bt) == {("IO_INSTRUCTION", "callout"): 1}
    # a fault still traps into the monitor (the kernel's IRETD is a callout)
    assert exits(results, "divzero", bt) == {("EXCEPTION_NMI", "trap"): 1,
                                             ("IRET", "callout"): 1}
    # adaptive translation: the PTE store calls out instead of trapping
    assert ("PAGE_TABLE_WRITE", "callout") in exits(results, "ptemod", bt)


def test_paravirt_entries(results):
    pv = "paravirt"
    # Xen's fast trap: a DPL-3, unmasked trap-table entry for int 0x80 becomes a real gate and
    # the kernel returns with IRETD (ring 1 to 3): a system call never enters the hypervisor
    assert row(results, "syscall", pv).entries == 0 and not row(results, "syscall", pv).exits
    slow = row(results, "syscall", "paravirt, no fast trap")  # each call bounced by the hypervisor
    assert slow.entries >= 1 and ("SOFTWARE_INTERRUPT", "trap") in slow.exits
    assert row(results, "cr8wr", pv).entries == 0  # a byte in the shared-info page
    assert row(results, "call/ret", pv).entries == 0
    assert exits(results, "ptemod", pv) == {("HYPERCALL", "hypercall"): 1}  # mmu_update
    # a fault reaches the guest through the hypervisor (the kernel returns with IRETD itself)
    for name in ("divzero", "pgfault"):
        assert exits(results, name, pv) == {("EXCEPTION_NMI", "trap"): 1}
    assert ("in", pv) not in {(r.benchmark, r.config) for r in results}
    assert [s[:2] for s in results.skipped if s[0] == "in"] == [("in", pv)]


# ---------------------------------------------------------------------------- the table
def test_published_numbers_carry_their_provenance():
    assert set(PUBLISHED) == set(BENCHMARKS)
    for figures in PUBLISHED.values():
        assert set(figures) == {"native", "software", "hardware"}
    assert PUBLISHED["in"]["hardware"].cycles == 15826 and PUBLISHED["in"]["native"].cycles == 3209
    assert PUBLISHED["call/ret"]["software"].overhead == 40
    assert PUBLISHED["ptemod"]["hardware"].cycles == 12733
    assert not PUBLISHED["syscall"]["native"].verified  # in the figure only, not in the text


def test_table_sets_the_paper_beside_the_model(results):
    text = results.table()
    for name in BENCHMARKS:
        assert f"\n{name}: " in text
    assert "15,826 ✓" in text and "12,617 ✓" in text  # the hardware VMM's IN, and its overhead
    assert "n/a: a paravirtual kernel has no port I/O" in text
    assert "Substitution: 32-bit x86 has no CR8" in text and "Unverified (?)" in text
    bt = row(results, "pgfault", "binary_translation")
    assert bt.ratio == pytest.approx(float(bt.cycles) / (3927 - 1093))
    assert ("ptemod", "binary_translation") in results.notes and ("cr8wr", "*") in results.notes
    html = results._repr_html_()
    assert html.count("<tr>") > len(results) and "12,733" in html
    assert json.loads(json.dumps(bt.as_dict()))["published_overhead"] == 3927 - 1093


def test_measure_checks_its_arguments():
    with pytest.raises(VlabError, match="unknown nanobenchmark"):
        measure(["forkwait"])
    with pytest.raises(VlabError, match="unknown strategy"):
        measure(["in"], ["vmware"])
    r = measure(["pgfault"], ["vtx"], iterations=2)  # every VT-x configuration, EPT or not
    assert [x.config for x in r] == [c.label for c in CONFIGS if c.strategy == "vtx"]
    custom = measure_one("in", Config("mine", "vtx", {"generation": "first"}), iterations=2)
    assert custom.cycles == COSTS["vmexit_first_gen"].cycles and custom.paper is None
    with pytest.raises(NanobenchError, match="'nano-in' is not paravirtualized"):
        run("nano-in", Config("paravirt", "paravirt"), 2)
