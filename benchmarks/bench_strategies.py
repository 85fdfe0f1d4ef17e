"""Monitor entries and modelled cycles per strategy, for the same kernel workload.

    python benchmarks/bench_strategies.py [--short]

Runs the teaching kernel under every strategy (its paravirtual build under paravirt, VT-x under
both cost models) and prints one table: instructions retired, monitor entries (traps, VM exits,
hypercalls), binary translation's callouts (calls from translated code, no trap: counted apart),
modelled cycles (vlab.trace.COSTS, cited there), and measured wall time (best of three; one run
with ``--short``). The kernel cannot run on raw Unicorn alone (it needs interrupts delivered
through its IDT), so there is no ratio to raw here: bench_native.py gives it for a loop.
Exits non-zero if a run does not halt with exit code 0, or if binary translation or VT-x (which
must behave as native on an unmodified guest) print another console or retire another count.
"""

from __future__ import annotations

import argparse

from benchlib import best_of, check, parse_args, timed_guest_run

from vlab import Lab, guests

ROWS = [("native", {}), ("trap_emulate", {}), ("binary_translation", {}),
        ("vtx", {"generation": "first"}), ("vtx", {"generation": "recent"}), ("paravirt", {})]
#: Strategies that must run the unmodified kernel exactly as native does (DESIGN.md).
SAME_AS_NATIVE = {"binary_translation", "vtx"}


def main() -> None:
    args = parse_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), {}, {})
    print(f"{'strategy':<26}{'guest':<11}{'instructions':>13}{'monitor entries':>17}"
          f"{'callouts':>10}{'modelled cycles':>17}{'wall ms':>9}")
    native: Lab | None = None
    for strategy, options in ROWS:
        guest = guests.build_for("kernel", strategy)
        wall, lab = best_of(lambda g=guest, s=strategy, o=options: timed_guest_run(g, s, o), args.repeat)
        check(lab.strategy_name == strategy, f"asked for {strategy}, ran {lab.strategy_name}")
        if strategy == "native":
            native = lab
        elif strategy in SAME_AS_NATIVE and native is not None:
            check(lab.console == native.console and lab.instructions == native.instructions,
                  f"{strategy} {options} does not run the kernel as native does: "
                  f"{lab.instructions:,} vs {native.instructions:,} instructions, console "
                  f"{'equal' if lab.console == native.console else 'differs'}")
        label = strategy + (f" ({options['generation']})" if options else "")
        print(f"{label:<26}{guest:<11}{lab.instructions:>13,}{lab.trace.entries:>17,}"
              f"{lab.trace.callouts:>10,}{lab.trace.cycles:>17,}{wall * 1000:>9.1f}")


if __name__ == "__main__":
    main()
