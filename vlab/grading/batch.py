"""Grading a whole class: one results.json per student and a CSV summary, in parallel."""

from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from vlab.grading.core import grade, load_exercise


def submissions(folder: Path) -> dict[str, Path]:
    """Student name -> submission file: ``NAME.py`` files, or ``NAME/`` folders holding one .py."""
    found = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix == ".py":
            found[p.stem] = p
        elif p.is_dir():
            files = sorted(p.glob("*.py"))
            if len(files) == 1:
                found[p.name] = files[0]
    return found


def _grade_one(args):
    exercise_dir, name, path, out_dir, isolation = args
    try:
        report = grade(load_exercise(exercise_dir), path, isolation=isolation)
    except Exception as e:  # one broken submission never stops the class
        return name, None, f"{type(e).__name__}: {e}"
    report.write(Path(out_dir) / f"{name}.json")
    return name, {r.name: r.score for r in report.results} | {"total": report.score}, None


def grade_class(exercise_dir: str | Path, folder: str | Path, out_dir: str | Path,
                jobs: int = 1, isolation: str = "required") -> Path:
    """Grade every submission in ``folder``; write ``out_dir/<student>.json`` and
    ``out_dir/summary.csv`` (one row a student, one column a scenario). Returns the CSV path."""
    ex = load_exercise(exercise_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    subs = submissions(Path(folder))
    work = [(str(ex.directory), n, str(p), str(out), isolation) for n, p in subs.items()]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(_grade_one, work))
    columns = [s.name for s in ex.scenarios]
    path = out / "summary.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *columns, "total", "max", "problem"])
        for name, scores, problem in results:
            scores = scores or {}
            w.writerow([name, *[scores.get(c, 0) for c in columns], scores.get("total", 0),
                        ex.max_score, problem or ""])
    return path
