"""What the benchmark scripts share: the command line (``--short``), the compute guest with a
``loop_end`` label, timing a Lab over exactly one loop, and the checks that make a script exit
non-zero when the thing it measures did not happen.

Every loop benchmark times the same interval under vlab and on raw Unicorn: the guest is first
run (untimed) to ``loop_top``, so boot work and first-touch exits stay out of the figure, then
timed from ``loop_top`` to ``loop_end``, the instruction after the loop's closing branch.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rawcore import raw_loop  # noqa: E402
from unicorn import x86_const as X  # noqa: E402

from vlab import Lab, guests  # noqa: E402
from vlab.isa import Image, assemble  # noqa: E402

#: Repetitions per measurement: best of three in a full run; one in ``--short`` mode.
FULL_REPEAT, SHORT_REPEAT = 3, 1


class BenchmarkFailed(SystemExit):
    """The measured thing did not happen: the script exits with status 1, the reason on stderr."""


def check(condition: object, message: str) -> None:
    """Fail the benchmark (exit status 1, ``message`` on stderr) unless ``condition`` holds.
    Not ``assert``: a benchmark must not pass under ``python -O``."""
    if not condition:
        print(f"{Path(sys.argv[0]).name}: FAILED: {message}", file=sys.stderr)
        raise BenchmarkFailed(1)


def parse_args(parser: argparse.ArgumentParser, short: dict, full: dict) -> argparse.Namespace:
    """Add ``--short`` to ``parser`` and parse; options left at None take the mode's default
    (``short`` or ``full``, keyed by option name). ``args.repeat`` is set by the mode."""
    parser.add_argument("--short", action="store_true",
                        help="CI mode: small sizes, one repetition, a few seconds; same output")
    args = parser.parse_args()
    for name, value in (short if args.short else full).items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    args.repeat = SHORT_REPEAT if args.short else FULL_REPEAT
    if args.short:
        sizes = "".join(f", {k} {v:,}" for k, v in short.items())
        print(f"(short mode: one repetition of each measurement{sizes}; the figures are "
              "indicative only)")
    return args


def best_of(fn, repeat: int):
    """The fastest of ``repeat`` results of ``fn()`` (the first run also pays the JIT's warm-up).
    ``fn`` returns seconds, or a tuple whose first item is seconds."""
    return min((fn() for _ in range(repeat)), key=lambda r: r[0] if isinstance(r, tuple) else r)


def ratio(x: float) -> str:
    """A ratio to raw Unicorn as text: two decimals, or two significant digits below 0.1 (so a
    very slow mode never prints as 0.00)."""
    return f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


# ---------------------------------------------------------------- the compute guest
#: Unmask the timer and enable interrupts, with a handler that counts ticks and EOIs.
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
    inc dword ptr [ticks]
    iretd
.section .data
.align 4
ticks:    .long 0
    .word 0
idt_desc: .word 0x21 * 8 - 1
          .long idt
.align 8
idt:      .space 0x21 * 8
"""
#: Guest instructions one tick costs inside the guest (the handler above).
TICK_HANDLER_INSTRUCTIONS = 6
#: Instructions per iteration of the compute loop (add, xor, dec, jnz).
COMPUTE_LOOP_INSTRUCTIONS = 4


def compute_image(iterations: int, with_timer: bool = False) -> Image:
    """vlab's ``compute`` guest with ``ITERATIONS`` = ``iterations`` and a ``loop_end`` label
    on the instruction after ``jnz loop_top``; ``with_timer`` arms IRQ0 and counts its ticks in
    the guest variable ``ticks``."""
    src = guests.source("compute")
    marker = "    jnz loop_top\n"
    check(src.count(marker) == 1, "the compute guest no longer has one 'jnz loop_top'")
    src = src.replace(marker, marker + "loop_end:\n")
    if with_timer:
        start = "    mov ecx, ITERATIONS\n"
        check(src.count(start) == 1, "the compute guest no longer starts with 'mov ecx, ITERATIONS'")
        src = src.replace(start, TIMER_SETUP + start) + TIMER_HANDLER
    return assemble(src, "compute", defines={"ITERATIONS": iterations})


def raw_compute(image: Image, empty_block_hook: bool = False) -> float:
    """Raw Unicorn over the compute loop: the same image, flat ring-0 segments, RAM mapped as
    vlab's (a host buffer), stopped the same way (an exact-address hook at ``loop_end``): no
    vlab (``empty_block_hook``: but its native block hook, switched off). Checked: the loop ran
    to its end (ECX = 0)."""
    secs, uc = raw_loop(image.code, image.symbols["loop_top"], image.symbols["loop_end"],
                        empty_block_hook)
    check(uc.reg_read(X.UC_X86_REG_ECX) == 0, "raw Unicorn left the loop with ECX != 0")
    return secs


def warm_up(*strategies: str) -> None:
    """Run a tiny compute loop once on raw Unicorn and under each strategy, untimed: the first
    run in a process pays one-off costs (lazy imports, first JIT) that would otherwise land in
    the first measurement (which, with one repetition in ``--short`` mode, is the only one)."""
    img = compute_image(1_000)
    raw_compute(img)
    for strategy in strategies:
        lab = Lab(image=img, strategy=strategy, budget=None, timer_period=0)
        run_to(lab, "loop_top")
        timed_run_to(lab, "loop_end")


# ---------------------------------------------------------------- running a Lab over a loop
def timed_guest_run(guest: str, strategy: str, options: dict) -> tuple[float, Lab]:
    """Run a guest to its end, timed; checked: it halted through the exit port with code 0."""
    lab = Lab(guest, strategy, strategy_options=options)
    t = time.perf_counter()
    lab.run()
    secs = time.perf_counter() - t
    check(lab.status == "halted" and lab.exit_code == 0,
          f"{guest} under {strategy} {options} did not halt cleanly: status {lab.status}, "
          f"exit code {lab.exit_code}, error {lab.error}")
    return secs, lab


def run_to(lab: Lab, label: str) -> None:
    """Run ``lab`` until ``label``; fail unless it stopped there."""
    stop = lab.run(until=label)
    where = lab.address(label)
    check(stop.reason == "breakpoint" and stop.eip == where,
          f"{lab.strategy_name}: the guest did not reach {label} ({where:#x}): the run ended "
          f"with '{stop}', status {lab.status}, console {lab.console!r}")


def timed_run_to(lab: Lab, label: str) -> float:
    """Seconds ``lab.run(until=label)`` takes; fail unless it stopped at ``label``."""
    t = time.perf_counter()
    stop = lab.run(until=label)
    secs = time.perf_counter() - t
    where = lab.address(label)
    check(stop.reason == "breakpoint" and stop.eip == where,
          f"{lab.strategy_name}: the loop did not end at {label} ({where:#x}): the run ended "
          f"with '{stop}', status {lab.status}")
    return secs


def exits_since(lab: Lab, before: dict[str, int]) -> dict[str, int]:
    """Exits by reason recorded since ``before`` (a ``lab.trace.counts()``)."""
    now = lab.trace.counts()
    return {r: n - before.get(r, 0) for r, n in now.items() if n != before.get(r, 0)}
