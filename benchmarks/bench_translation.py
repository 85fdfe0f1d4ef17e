"""Binary translation: steady-state speed of translated kernel code, and translation cost.

    python benchmarks/bench_translation.py [--iterations N]

The compute guest runs in (deprivileged) kernel mode: its loop is translated once and then runs
from the translation cache. Printed as guest instructions per second and as a ratio to raw Unicorn
on the same image, measured in the same run, with block profiling off (how BT runs) and on (the
lab's default, which counts every block execution for the translation-cache view).
Target (issue 4): steady state >= 0.5 x raw Unicorn.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_native import best_of, compute_image, raw_unicorn  # noqa: E402

from vlab import guests  # noqa: E402
from vlab.lab import Lab  # noqa: E402
from vlab.translator import TranslationCache, translate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=25_000_000)
    args = ap.parse_args()
    n_insn = 4 * args.iterations
    img = compute_image(args.iterations, with_timer=False)
    end = img.symbols["loop_top"] + 8
    raw = best_of(lambda: raw_unicorn(img.code, img.symbols["loop_top"], end))
    print(f"compute loop in the guest kernel: {n_insn:,} instructions")
    print(f"{'mode':<42}{'M instr/s':>12}{'ratio to raw':>14}")
    print(f"{'raw Unicorn (same image)':<42}{n_insn / raw / 1e6:>12.1f}{1.0:>14.2f}")
    def bt_run(profile: bool) -> float:
        lab = Lab(image=img, strategy="binary_translation", budget=None,
                  strategy_options={"profile": profile})
        t = time.perf_counter()
        lab.run(until=end)
        return time.perf_counter() - t

    for profile in (False, True):
        secs = best_of(lambda p=profile: bt_run(p), 3 if not profile else 1)
        label = f"binary translation, profiling {'on' if profile else 'off'}"
        print(f"{label:<42}{n_insn / secs / 1e6:>12.1f}{raw / secs:>14.2f}")

    kernel = guests.build("kernel")
    lab = Lab("kernel", "native")
    reps, blocks, insns = 20, 0, 0
    t = time.perf_counter()
    for _ in range(reps):
        cache = TranslationCache()
        new = translate(lab.machine.read, kernel.entry, cache)
        blocks, insns = len(new), sum(len(b.instructions) for b in new)
    per_block = (time.perf_counter() - t) / reps / blocks
    print(f"translating the kernel: {blocks} blocks, {insns} instructions, "
          f"{per_block * 1e6:.1f} us per block (decode + classify, no hooks)")
    lab = Lab("kernel", "binary_translation")
    t = time.perf_counter()
    lab.run()
    print(f"kernel under binary translation: {lab.strategy.cache.translated} blocks translated, "
          f"{lab.trace.total} monitor entries, {time.perf_counter() - t:.3f} s")


if __name__ == "__main__":
    main()
