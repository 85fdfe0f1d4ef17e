"""Grading speed: one submission, and a class of 100 on 2 processes.

    python benchmarks/bench_grading.py [--exercise 03-serial] [--students 100] [--jobs 2] [--short]

Targets (issue 8): one submission <= 2 s; 100 submissions of one exercise <= 60 s on 2 cores.
The class is the reference solution and typical mistakes (the starter module), mixed: one in four
is the starter. One submission is timed best of three; ``--short`` (CI) grades it once and a
class of 4.
Exits non-zero if the reference solution does not score full marks, or if the class's summary
does not hold one row per student with full marks for the reference and fewer for the starter.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, best_of, check, parse_args

from vlab.grading import grade
from vlab.grading.batch import grade_class

SOLUTIONS = {"01-cli-sti": "s01_cli_sti", "02-hlt": "s02_hlt", "03-serial": "s03_serial",
             "04-cpuid": "s04_cpuid", "05-cr": "s05_cr", "06-bt-popf": "s06_bt_popf",
             "07-vtx-exits": "s07_vtx_exits", "08-hypercall": "s08_hypercall",
             "09-ept": "s09_ept"}


def grade_once(exercise: str, submission: Path):
    t = time.perf_counter()
    report = grade(exercise, submission)
    return time.perf_counter() - t, report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exercise", default="03-serial", choices=sorted(SOLUTIONS))
    ap.add_argument("--students", type=int)
    ap.add_argument("--jobs", type=int, default=2)
    args = parse_args(ap, short={"students": 4}, full={"students": 100})
    reference = ROOT / "tests" / "solutions" / f"{SOLUTIONS[args.exercise]}.py"
    starter = ROOT / "exercises" / args.exercise / "starter.py"
    secs, report = best_of(lambda: grade_once(args.exercise, reference), args.repeat)
    check(report.max_score > 0 and report.score == report.max_score,
          f"{args.exercise}: the reference solution scored {report.score:g}/"
          f"{report.max_score:g}: {report.problem or ''}")
    print(f"{args.exercise}: one submission graded in {secs:.2f} s "
          f"(best of {args.repeat}; {report.score:g}/{report.max_score:g}, "
          f"{len(report.results)} scenarios)")
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for i in range(args.students):
            shutil.copy(reference if i % 4 else starter, subs / f"student{i:03d}.py")
        t = time.perf_counter()
        summary = grade_class(args.exercise, subs, Path(tmp) / "out", jobs=args.jobs)
        total = time.perf_counter() - t
        with open(summary, newline="") as f:
            rows = {row["student"]: row for row in csv.DictReader(f)}
    check(len(rows) == args.students,
          f"the class summary has {len(rows)} rows for {args.students} students")
    for i in range(args.students):
        row = rows.get(f"student{i:03d}")
        check(row is not None, f"student{i:03d} is missing from the class summary")
        full = float(row["total"]) == float(row["max"])
        check(full == bool(i % 4), f"student{i:03d} ({'reference' if i % 4 else 'starter'}) "
                                   f"scored {row['total']}/{row['max']} {row['problem']}")
    print(f"{args.students} submissions with --jobs {args.jobs}: {total:.1f} s "
          f"({total / args.students:.2f} s each); goal, issue 20: 100 in <= 30 s")


if __name__ == "__main__":
    main()
