"""Native speed against raw Unicorn on the same guest image, measured in one run.

    python benchmarks/bench_native.py [--iterations N]

Prints guest instructions per second for raw Unicorn (no hooks, no counting) and for vlab's
Machine under the native strategy in its three modes, and the ratios:
  * free     - no budget, timer masked: nothing observes time, the core runs free;
  * counted  - with an instruction budget: every instruction counted (Unicorn's count= mode);
  * timer    - timer armed (IRQ0 every 10,000 instructions, delivered through the guest IDT).
Also: the time of ``import vlab`` (fresh interpreter) and of one ``step()`` + ``state()``.
Each speed is the best of three runs in this process (the first also pays the JIT warm-up).
Targets (issue 2): free >= 0.9 x raw; import <= 0.5 s; step + state <= 1 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import unicorn  # noqa: E402
from rawcore import raw_core  # noqa: E402

from vlab import guests, layout  # noqa: E402
from vlab.isa import assemble  # noqa: E402
from vlab.machine import Machine  # noqa: E402


def compute_image(iterations: int, with_timer: bool):
    src = guests.source("compute")
    if with_timer:  # unmask the timer and enable interrupts, with a handler that EOIs
        src = src.replace("    mov ecx, ITERATIONS\n", TIMER_SETUP + "    mov ecx, ITERATIONS\n")
        src += TIMER_HANDLER
    return assemble(src, "compute", defines={"ITERATIONS": iterations})


TIMER_SETUP = """\
    SET_GATE idt, 0x20, tick, 0x8E
    lidt [idt_desc]
    mov al, 0xFE
    out PIC_DATA, al
    sti
"""
TIMER_HANDLER = """
tick:
    push eax
    mov al, 0x20
    out PIC_CMD, al
    pop eax
    iretd
.section .data
.align 4
    .word 0
idt_desc: .word 0x21 * 8 - 1
          .long idt
.align 8
idt:      .space 0x21 * 8
"""


def best_of(fn, repeat: int = 3) -> float:
    """The fastest of ``repeat`` timings (the first run also pays the JIT's warm-up)."""
    return min(fn() for _ in range(repeat))


def raw_unicorn(code: bytes, loop_top: int, loop_end: int) -> float:
    """Raw Unicorn: the same image, flat ring-0 segments, RAM mapped the same way as vlab's
    (host buffer), stopped the same way (an exact-address hook at the loop's end): no vlab."""
    uc, _ = raw_core(code)
    uc.hook_add(unicorn.UC_HOOK_CODE, lambda *_: uc.emu_stop(), None, loop_end, loop_end)
    t = time.perf_counter()
    uc.emu_start(layout.ENTRY, layout.UNTIL_NEVER)
    return time.perf_counter() - t


def vlab_run(image, budget, loop_end) -> tuple[float, Machine]:
    m = Machine(budget=budget)
    m.load(image)
    t = time.perf_counter()
    m.run(until=loop_end)
    return time.perf_counter() - t, m


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=25_000_000)
    args = ap.parse_args()
    n_insn = 4 * args.iterations
    plain = compute_image(args.iterations, with_timer=False)
    timed = compute_image(args.iterations, with_timer=True)
    # The loop ends where "PRINT" begins: the instruction after "jnz loop_top".
    end_plain = plain.symbols["loop_top"] + 8
    end_timed = timed.symbols["loop_top"] + 8

    raw = best_of(lambda: raw_unicorn(plain.code, plain.symbols["loop_top"], end_plain))
    free = best_of(lambda: vlab_run(plain, None, end_plain)[0])
    counted, m_counted = min((vlab_run(plain, 10**12, end_plain) for _ in range(3)),
                             key=lambda r: r[0])
    timer, m_timer = min((vlab_run(timed, 10**12, end_timed) for _ in range(3)),
                         key=lambda r: r[0])
    assert m_counted.instructions >= n_insn, m_counted.instructions

    print(f"compute loop: {n_insn:,} guest instructions")
    print(f"{'mode':<34}{'M instr/s':>12}{'ratio to raw':>14}")
    for name, secs in [("raw Unicorn (same image)", raw), ("vlab native, free running", free),
                       ("vlab native, counted (budget)", counted),
                       (f"vlab native, timer armed ({m_timer.devices.timer.ticks} ticks)", timer)]:
        print(f"{name:<34}{n_insn / secs / 1e6:>12.1f}{raw / secs:>14.2f}")

    t = subprocess.run([sys.executable, "-c",
                        "import time; t=time.perf_counter(); import vlab; "
                        "print(time.perf_counter()-t)"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1], check=True)
    print(f"import vlab: {float(t.stdout):.3f} s (target <= 0.5 s)")
    t = subprocess.run([sys.executable, "-c",
                        "import time; t=time.perf_counter(); from vlab import Lab; "
                        "print(time.perf_counter()-t)"], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1], check=True)
    print(f"from vlab import Lab (loads Unicorn and Capstone): {float(t.stdout):.3f} s")
    from vlab.lab import Lab

    lab = Lab("kernel")
    lab.run(until="user_main")
    reps = 2000
    t0 = time.perf_counter()
    for _ in range(reps):
        lab.step()
        lab.state()
    per = (time.perf_counter() - t0) / reps
    print(f"step() + state(): {per * 1e6:.0f} us (target <= 1000 us)")


if __name__ == "__main__":
    main()
