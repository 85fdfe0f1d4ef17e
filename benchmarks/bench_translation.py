"""Binary translation: steady-state speed of translated kernel code, and translation cost.

    python benchmarks/bench_translation.py [--iterations N] [--short]

The compute guest runs in (deprivileged) kernel mode: its loop is translated once and then runs
from the translation cache. Printed as guest instructions per second and as a ratio to raw Unicorn
on the same image, measured in the same run over the loop alone (``loop_top`` to ``loop_end``,
after an untimed run to the loop), with block profiling off (the default: how BT runs) and on
(``strategy_options={"profile": True}``, which counts every block execution for the
translation-cache view). Also: the translator's cost per block on the teaching kernel (decode +
classify, no hooks), and the kernel run under binary translation.
Exits non-zero if the loop does not end at ``loop_end`` with ECX = 0, if it entered the monitor
or translated anything (it must run from the cache), or, profiled, if the loop's block did not
execute once per iteration.
Target (issue 4): steady state >= 0.5 x raw Unicorn.
"""

from __future__ import annotations

import argparse
import time

from benchlib import (
    COMPUTE_LOOP_INSTRUCTIONS,
    best_of,
    check,
    compute_image,
    parse_args,
    ratio,
    raw_compute,
    run_to,
    timed_run_to,
    warm_up,
)

from vlab import Lab, guests
from vlab.monitor.translator import TranslationCache, translate  # internal: no public API times it


def bt_run(img, iterations: int, profile: bool) -> float:
    lab = Lab(image=img, strategy="binary_translation", budget=None, timer_period=0,
              strategy_options={"profile": profile})
    top = img.symbols["loop_top"]
    run_to(lab, "loop_top")
    stats, exits = lab.translation_stats(), lab.trace.total
    before = {b.address: b.executions for b in lab.translations}
    secs = timed_run_to(lab, "loop_end")
    check(lab.state().ecx == 0, f"binary translation: the loop ended with ECX = {lab.state().ecx:#x}")
    check(lab.trace.total == exits,
          f"binary translation: the loop entered the monitor: {lab.trace.counts()}")
    after = lab.translation_stats()
    check(after["translated"] == stats["translated"] and after["invalidated"] == 0,
          f"binary translation: the loop did not run from the cache ({stats} -> {after})")
    if profile:
        runs = {b.address: b.executions for b in lab.translations}
        check(top in runs, "binary translation: no translated block starts at loop_top")
        got = (runs[top] or 0) - (before.get(top) or 0)
        check(got == iterations, f"binary translation, profiled: the loop's block executed "
                                 f"{got:,} times in {iterations:,} iterations")
    return secs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int)
    args = parse_args(ap, short={"iterations": 200_000, "translations": 2},
                      full={"iterations": 25_000_000, "translations": 20})
    n_insn = COMPUTE_LOOP_INSTRUCTIONS * args.iterations
    img = compute_image(args.iterations, with_timer=False)
    warm_up("binary_translation")
    raw = best_of(lambda: raw_compute(img), args.repeat)
    print(f"compute loop in the guest kernel: {n_insn:,} instructions")
    print(f"{'mode':<42}{'M instr/s':>12}{'ratio to raw':>14}{'goal':>9}")
    print(f"{'raw Unicorn (same image)':<42}{n_insn / raw / 1e6:>12.1f}{ratio(1.0):>14}")
    for profile in (False, True):
        secs = best_of(lambda p=profile: bt_run(img, args.iterations, p), args.repeat)
        label = f"binary translation, profiling {'on' if profile else 'off'}"
        goal = ">= 0.5" if profile else ""  # (issue 20)
        print(f"{label:<42}{n_insn / secs / 1e6:>12.1f}{ratio(raw / secs):>14}{goal:>9}".rstrip())

    kernel = guests.build("kernel")
    code = kernel.code

    def read(address: int, n: int) -> bytes:  # guest memory as loaded: the image, then zeros
        chunk = code[max(0, address - kernel.entry):][:n] if address >= kernel.entry else b""
        return chunk + bytes(n - len(chunk))

    blocks = insns = 0
    t = time.perf_counter()
    for _ in range(args.translations):
        new = translate(read, kernel.entry, TranslationCache())
        blocks, insns = len(new), sum(len(b.instructions) for b in new)
    check(blocks > 0, "the translator found no block in the kernel")
    per_block = (time.perf_counter() - t) / args.translations / blocks
    print(f"translating the kernel: {blocks} blocks, {insns} instructions, "
          f"{per_block * 1e6:.1f} us per block (decode + classify, no hooks)")

    lab = Lab("kernel", "binary_translation")
    t = time.perf_counter()
    lab.run()
    secs = time.perf_counter() - t
    check(lab.status == "halted" and lab.exit_code == 0,
          f"the kernel under binary translation did not halt cleanly: status {lab.status}, "
          f"exit code {lab.exit_code}, error {lab.error}")
    print(f"kernel under binary translation: {lab.translation_stats()['translated']} blocks "
          f"translated, {lab.trace.entries} monitor entries, {lab.trace.callouts} callouts, "
          f"{secs:.3f} s")


if __name__ == "__main__":
    main()
