"""Grading speed: one submission, and a class of 100 on 2 processes.

    python benchmarks/bench_grading.py [--exercise 03-serial] [--students 100] [--jobs 2]

Targets (issue 8): one submission <= 2 s; 100 submissions of one exercise <= 60 s on 2 cores.
The class is the reference solution and typical mistakes, mixed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vlab.grading import grade  # noqa: E402
from vlab.grading.batch import grade_class  # noqa: E402

SOLUTIONS = {"01-cli-sti": "s01_cli_sti", "02-hlt": "s02_hlt", "03-serial": "s03_serial",
             "04-cpuid": "s04_cpuid", "05-cr": "s05_cr", "06-bt-popf": "s06_bt_popf",
             "07-vtx-exits": "s07_vtx_exits", "08-hypercall": "s08_hypercall"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exercise", default="03-serial")
    ap.add_argument("--students", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    reference = ROOT / "tests" / "solutions" / f"{SOLUTIONS[args.exercise]}.py"
    starter = ROOT / "exercises" / args.exercise / "starter.py"
    times = []
    for _ in range(3):
        t = time.perf_counter()
        report = grade(args.exercise, reference)
        times.append(time.perf_counter() - t)
    print(f"{args.exercise}: one submission graded in {min(times):.2f} s "
          f"(best of 3; {report.score:g}/{report.max_score:g}, {len(report.results)} scenarios)")
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for i in range(args.students):
            shutil.copy(reference if i % 4 else starter, subs / f"student{i:03d}.py")
        t = time.perf_counter()
        grade_class(args.exercise, subs, Path(tmp) / "out", jobs=args.jobs)
        total = time.perf_counter() - t
    print(f"{args.students} submissions with --jobs {args.jobs}: {total:.1f} s "
          f"({total / args.students:.2f} s each)")


if __name__ == "__main__":
    main()
