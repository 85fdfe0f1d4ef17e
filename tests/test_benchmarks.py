"""Every script in benchmarks/ runs in its short mode (as CI does) and prints the figures it
promises. No timing asserts: only that each run measured what it says (the scripts check that
themselves and exit non-zero otherwise) and that every figure printed is a positive number."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
TIMEOUT_S = 60  # per script; the short modes take a few seconds each

NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?(?:e-?[0-9]+)?)"  # 1,234 | 0.83 | 0.0012 | 1.2e-05: must be > 0
COUNT = r"[0-9][0-9,]*(?:\.[0-9]+)?"  # a figure that may be zero (not captured: only its form)
RATE_RATIO = rf"\s+{NUM}\s+{NUM}\s*$"  # "M instr/s" then "ratio to raw"

#: script -> the lines it must print: each regex's groups are figures, all must be positive
#: (a ratio to raw Unicorn is a positive float; raw Unicorn's own ratio is exactly 1.00).
EXPECTED: dict[str, list[str]] = {
    "bench_native.py": [
        rf"^compute loop: {NUM} guest instructions$",
        rf"^raw Unicorn \(same image\){RATE_RATIO}",
        rf"^raw Unicorn \+ an empty native block hook{RATE_RATIO}",
        *(rf"^{mode}, {counter}\s+{NUM}\s+{NUM}(?:\s+>= {COUNT})?\s*$"
          for counter in ("native counter", "count= mode")
          for mode in ("free running", r"counted \(budget\)", rf"timer armed \({COUNT} ticks\)")),
        rf"^import vlab: {COUNT} s",
        rf"^from vlab import Lab \(loads Unicorn and Capstone\): {NUM} s$",
        rf"^step\(\) \+ state\(\): {NUM} us",
    ],
    "bench_translation.py": [
        rf"^compute loop in the guest kernel: {NUM} instructions$",
        rf"^raw Unicorn \(same image\){RATE_RATIO}",
        rf"^binary translation, profiling off{RATE_RATIO}",
        rf"^binary translation, profiling on\s+{NUM}\s+{NUM}\s+>= 0\.5$",
        rf"^translating the kernel: {NUM} blocks, {NUM} instructions, {NUM} us per block",
        rf"^kernel under binary translation: {NUM} blocks translated, {NUM} monitor entries, "
        rf"{NUM} callouts, {NUM} s$",
    ],
    "bench_vtx.py": [
        rf"^compute loop in non-root mode: {NUM} instructions, no exits",
        rf"^raw Unicorn \(same image\)\s+{NUM} M instr/s\s+{NUM}$",
        rf"^vtx\s+{NUM} M instr/s\s+{NUM}\s+\(goal, issue 20: >= 0\.5\)$",
        rf"^VM exit round trip \(CPUID\): {NUM} us per exit, {NUM} exits/s \({NUM} exits; "
        rf"raw Unicorn runs the same loop in {NUM} ms\); goal, issue 20: <= 15 us$",
    ],
    "bench_traps.py": [
        rf"^cli\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}\s+<= 5$",
        rf"^mov eax, cr0\s+{NUM}\s+{NUM}\s+{NUM}\s+{NUM}$",
        rf"^  {NUM} us per round trip \({NUM}/s\); goal for the delivery: <= 15 us",
    ],
    "bench_strategies.py": [
        # instructions, monitor entries, callouts, modelled cycles, wall ms
        rf"^{label}\s+{guest}\s+{NUM}\s+{COUNT}\s+{COUNT}\s+{COUNT}\s+{NUM}$"
        for label, guest in [("native", "kernel"), ("trap_emulate", "kernel"),
                             ("binary_translation", "kernel"), (r"vtx \(first\)", "kernel"),
                             (r"vtx \(recent\)", "kernel"), ("paravirt", "kernel-pv")]
    ],
    "bench_memory.py": [
        rf"^guest forkwait: raw Unicorn {NUM} ms$",
        # instructions, entries, callouts, modelled cycles, wall ms, raw/vlab
        *(rf"^{label}\s+{NUM}\s+{COUNT}\s+{COUNT}\s+{COUNT}\s+{NUM}\s+{NUM}\b"
          for label in ("native", "binary_translation", r"vtx \(no EPT, first generation\)",
                        r"vtx \(EPT\)", "paravirt")),
    ],
    "bench_footprint.py": [
        rf"^python alone\s+{NUM} MiB$",
        rf"^\+ vlab and its UI\s+{NUM} MiB  \(process {NUM} MiB\)$",
        rf"^per Lab \(kernel, run\)\s+{NUM} MiB$",
        rf"^kernel vlab\s+{NUM} MiB at start, {NUM} MiB after a lab$",
        rf"^kernel python3\s+{NUM} MiB at start, {NUM} MiB after a lab$",
    ],
    "bench_grading.py": [
        rf"^03-serial: one submission graded in {NUM} s \(best of 1; {NUM}/{NUM}, {NUM} scenarios\)$",
        rf"^{NUM} submissions with --jobs 2: {NUM} s \({NUM} s each\); goal, issue 20: "
        r"100 in <= 30 s$",
    ],
}
def test_every_benchmark_script_is_covered():
    scripts = {p.name for p in BENCHMARKS.glob("bench_*.py")}
    assert scripts == set(EXPECTED), "a benchmark script without a short-mode check (or gone)"


def number(text: str) -> float:
    return float(text.replace(",", ""))


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_benchmark_short_mode(script):
    try:
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--short"], cwd=ROOT,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{script} --short ran over {TIMEOUT_S} s\nstdout:\n{e.stdout}\n"
                    f"stderr:\n{e.stderr}")
    report = f"{script} --short\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, f"exit status {proc.returncode}: {report}"
    assert proc.stdout.startswith("(short mode:"), report
    for pattern in EXPECTED[script]:
        m = re.search(pattern, proc.stdout, re.MULTILINE)
        assert m, f"no line matching {pattern!r}: {report}"
        for figure in m.groups():
            assert number(figure) > 0, f"{figure!r} is not positive in {m.group(0)!r}: {report}"
    for m in re.finditer(rf"^raw Unicorn \(same image\){RATE_RATIO}", proc.stdout, re.MULTILINE):
        assert m.group(2) == "1.00", m.group(0)


def test_a_failed_check_exits_non_zero():
    """What every script relies on to fail CI when its measured thing did not happen."""
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import benchlib; "
            "benchlib.check(True, 'fine'); benchlib.check(False, 'the loop did not end')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 1, proc.stderr
    assert "FAILED: the loop did not end" in proc.stderr
