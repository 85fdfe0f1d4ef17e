"""Monitor entries and modelled cycles per strategy, for the same kernel workload.

    python benchmarks/bench_strategies.py

Runs the teaching kernel under every strategy (its paravirtual build under paravirt, VT-x under
both cost models) and prints one table: instructions retired, monitor entries, modelled cycles
(vlab.trace.COSTS, cited there), and measured wall time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vlab import guests  # noqa: E402
from vlab.lab import Lab  # noqa: E402

ROWS = [("native", {}), ("trap_emulate", {}), ("binary_translation", {}),
        ("vtx", {"generation": "first"}), ("vtx", {"generation": "recent"}), ("paravirt", {})]


def main() -> None:
    print(f"{'strategy':<26}{'guest':<11}{'instructions':>13}{'monitor entries':>17}"
          f"{'modelled cycles':>17}{'wall ms':>9}")
    for strategy, options in ROWS:
        guest = guests.build_for("kernel", strategy)
        walls = []
        for _ in range(3):
            lab = Lab(guest, strategy, strategy_options=options)
            t = time.perf_counter()
            lab.run()
            walls.append(time.perf_counter() - t)
        label = strategy + (f" ({options['generation']})" if options else "")
        print(f"{label:<26}{guest:<11}{lab.machine.instructions:>13,}{lab.trace.total:>17,}"
              f"{lab.trace.cycles:>17,}{min(walls) * 1000:>9.1f}")


if __name__ == "__main__":
    main()
