"""Exercise folders and the nbgrader / otter example notebooks have the shape those tools read."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def _load(path: Path) -> dict:
    nb = json.loads(path.read_text())
    for c in nb["cells"]:
        if isinstance(c["source"], list):
            c["source"] = "".join(c["source"])
    return nb
EXERCISES = sorted(p for p in (ROOT / "exercises").iterdir() if (p / "checks.py").exists())


@pytest.mark.parametrize("ex", EXERCISES, ids=lambda p: p.name)
def test_exercise_folder_layout(ex):
    from vlab.grading import load_exercise

    assert (ex / "README.md").read_text().startswith("# Exercise")
    starter = (ex / "starter.py").read_text()
    loaded = load_exercise(ex)
    for name in loaded.handlers:
        assert f"def {name}(vcpu, exit):" in starter
    assert any(s.visibility == "visible" for s in loaded.scenarios)
    assert any(s.visibility == "hidden" for s in loaded.scenarios)


def test_nbgrader_example():
    nb = _load(ROOT / "exercises" / "03-serial" / "nbgrader" / "serial.ipynb")
    cells = nb["cells"]
    ids = [c["metadata"]["nbgrader"]["grade_id"] for c in cells]
    assert len(set(ids)) == len(ids)
    solution = next(c for c in cells if c["metadata"]["nbgrader"]["solution"])
    assert "### BEGIN SOLUTION" in solution["source"] and "### END SOLUTION" in solution["source"]
    graded = next(c for c in cells if c["metadata"]["nbgrader"]["grade"])
    assert graded["metadata"]["nbgrader"]["points"] == 15 and graded["metadata"]["nbgrader"]["locked"]
    import linecache

    scope: dict = {}
    name = "<nbgrader-cell>"  # as IPython does: cell source in linecache, so check() can read it
    linecache.cache[name] = (len(solution["source"]), None, solution["source"].splitlines(True), name)
    exec(compile(solution["source"], name, "exec"), scope)
    exec("\n".join(graded["source"].splitlines()[:-1]), scope)  # the autograder cell, on the solution
    assert scope["report"].score == 15


def test_otter_example():
    nb = _load(ROOT / "exercises" / "03-serial" / "otter" / "serial.ipynb")
    raw = [c["source"] for c in nb["cells"] if c["cell_type"] == "raw"]
    assert raw[0].startswith("# ASSIGNMENT CONFIG")
    assert re.search(r"# BEGIN QUESTION\nname: serial\npoints: 15", "\n".join(raw))
    for marker in ("# BEGIN TESTS", "# END TESTS", "# END QUESTION"):
        assert marker in raw
    tests = [c["source"] for c in nb["cells"] if c["cell_type"] == "code" and "TEST CONFIG" in c["source"]]
    assert len(tests) == 2 and "hidden: true" in tests[1]
    assert (ROOT / "exercises" / "03-serial" / "otter" / "requirements.txt").exists()
