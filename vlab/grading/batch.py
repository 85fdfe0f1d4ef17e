"""Grading a whole class: one results.json per student and a CSV summary, in parallel."""

from __future__ import annotations

import csv
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from vlab.errors import VlabError
from vlab.grading.core import grade, load_exercise
from vlab.i18n import speaking, tr

SUFFIXES = (".py", ".ipynb", ".S")  # (.S: an assembly exercise's)


def submission_file(folder: Path) -> Path:
    """The one submission (.py, .ipynb or .S) in ``folder`` (what Gradescope hands over), or a
    VlabError that says why there is none."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if len(files) != 1:
        what = ", ".join(p.name for p in files) or tr("none")
        raise VlabError(tr("{folder}: expected exactly one .py, .ipynb or .S file, found "
                           "{found}").format(folder=folder.name, found=what))
    return files[0]


def submissions(folder: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """(student name -> submission file, student name -> why it was skipped): ``NAME.py`` or
    ``NAME.ipynb`` files, or ``NAME/`` folders holding exactly one of them."""
    found, skipped = {}, {}
    for p in sorted(folder.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_file() and p.suffix in SUFFIXES:
            found[p.stem] = p
        elif p.is_dir():
            try:
                found[p.name] = submission_file(p)
            except VlabError as e:
                skipped[p.name] = str(e)
        else:
            skipped[p.name] = tr("not a .py, .ipynb or .S file, nor a folder holding one")
    return found, skipped


def _grade_one(args):
    exercise_dir, name, path, out_dir, isolation, lang = args
    try:
        report = grade(load_exercise(exercise_dir), path, isolation=isolation, lang=lang)
    except Exception as e:  # one broken submission never stops the class
        return name, None, f"{type(e).__name__}: {e}"
    report.write(Path(out_dir) / f"{name}.json")
    return name, {r.name: r.score for r in report.results} | {"total": report.score}, None


def grade_class(exercise_dir: str | Path, folder: str | Path, out_dir: str | Path,
                jobs: int = 1, isolation: str = "required", lang: str | None = None) -> Path:
    """Grade every submission in ``folder``; write ``out_dir/<student>.json`` and
    ``out_dir/summary.csv`` (one row a student, one column a scenario: the scenarios' own
    names, in every language). Returns the CSV path. ``lang``: the feedback's language."""
    with speaking(lang) as lang:
        ex = load_exercise(exercise_dir)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        subs, skipped = submissions(Path(folder))
        skip = tr("skipped: {why}")
    work = [(str(ex.directory), n, str(p), str(out), isolation, lang) for n, p in subs.items()]
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(_grade_one, work))
    columns = [s.name for s in ex.scenarios]
    path = out / "summary.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student", *columns, "total", "max", "problem"])
        results += [(name, None, skip.format(why=why)) for name, why in skipped.items()]
        for name, scores, problem in sorted(results):
            scores = scores or {}
            w.writerow([name, *[scores.get(c, 0) for c in columns], scores.get("total", 0),
                        ex.max_score, problem or ""])
    return path
