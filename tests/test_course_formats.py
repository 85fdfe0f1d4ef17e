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
    loaded = load_exercise(ex)
    if loaded.language == "assembly":  # the labels the program calls, in an assembly starter
        starter = (ex / "starter.S").read_text()
        assert loaded.handlers and all(f"\n{name}:" in starter for name in loaded.handlers)
    else:
        starter = (ex / "starter.py").read_text()
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
    assert "vlab.grading.otter.VlabPlugin" in raw[0]  # the recorded score: the sandbox's
    for marker in ("# BEGIN SOLUTION", "# END SOLUTION", "# BEGIN TESTS", "# END TESTS",
                   "# END QUESTION"):
        assert marker in raw
    tests = [c["source"] for c in nb["cells"] if c["cell_type"] == "code" and "TEST CONFIG" in c["source"]]
    assert len(tests) == 2 and "hidden: true" in tests[1]
    assert (ROOT / "exercises" / "03-serial" / "otter" / "requirements.txt").exists()


def test_nbgrader_round_trip_records_the_sandbox_score(tmp_path):
    """The real nbgrader: generate_assignment, three submissions (correct, partial, and one that
    replaces vlab.grading.check in its own kernel), autograde — which the tampering notebook
    fools — then `vlab nbgrader`, which records the sandbox's score in the gradebook."""
    import copy
    import shutil
    import subprocess
    import sys

    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(ROOT / "exercises" / "03-serial" / "nbgrader" / "serial.ipynb",
                course / "source" / "ps1")
    (course / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.root = "."\nc.CourseDirectory.course_id = "vlab"\n'
        'c.CourseDirectory.db_assignments = [dict(name="ps1")]\n'
        'c.CourseDirectory.db_students = [dict(id="ada"), dict(id="bob"), dict(id="eve")]\n'
        'c.ExecutePreprocessor.timeout = 120\n')
    nbgrader = [sys.executable, "-m", "nbgrader"]
    env = {**__import__("os").environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    run = subprocess.run([*nbgrader, "generate_assignment", "ps1", "--force"], cwd=course,
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    released = _load(course / "release" / "ps1" / "serial.ipynb")
    assert "### BEGIN SOLUTION" not in json.dumps(released)  # students never receive it
    solution = (ROOT / "tests" / "solutions" / "s03_serial.py").read_text()
    partial = solution.replace('REG = {1: "al", 2: "ax", 4: "eax"}',
                               'REG = {1: "eax", 2: "eax", 4: "eax"}')  # wrong operand sizes
    assert partial != solution
    tamper = ("import vlab.grading\nclass R:\n    score = 15\n"
              "vlab.grading.check = lambda *a, **k: R()")
    for student, handlers, extra in (("ada", solution, None), ("bob", partial, None),
                                     ("eve", "def handle_in(vcpu, exit):\n    raise ValueError\n"
                                             "handle_out = handle_in\n", tamper)):
        nb = copy.deepcopy(released)
        for cell in nb["cells"]:
            if cell["metadata"].get("nbgrader", {}).get("grade_id") == "handlers":
                cell["source"] = handlers
        if extra:
            at = next(i for i, c in enumerate(nb["cells"])
                      if c["metadata"].get("nbgrader", {}).get("grade"))
            nb["cells"].insert(at, {"cell_type": "code", "metadata": {}, "id": "tamper",
                                    "execution_count": None, "outputs": [], "source": extra})
        target = course / "submitted" / student / "ps1"
        target.mkdir(parents=True)
        (target / "serial.ipynb").write_text(json.dumps(nb))
    run = subprocess.run([*nbgrader, "autograde", "ps1", "--force"], cwd=course,
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]

    def scores():
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
            return {s: gb.find_grade("serial_autograde", "serial", "ps1", s).score
                    for s in ("ada", "bob", "eve")}

    assert scores()["eve"] == 15  # the student's kernel fooled the in-notebook cell
    run = subprocess.run([sys.executable, "-m", "vlab", "nbgrader", "03-serial", "--course",
                          str(course), "--assignment", "ps1", "--notebook", "serial", "--cell",
                          "serial_autograde"], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    got = scores()
    assert got["ada"] == 15 and 0 < got["bob"] < 15 and got["eve"] == 0, got


def test_otter_round_trip_records_the_sandbox_score(tmp_path):
    """The real otter: `otter assign` strips the solution, then `otter run` grades three
    submissions (correct, partial, and one that tampers from inside its kernel) with the vlab
    plugin the assignment config names, and once without it, which the tampering one fools."""
    import copy
    import os
    import pickle
    import shutil
    import subprocess
    import sys
    import zipfile

    shutil.copytree(ROOT / "exercises" / "03-serial" / "otter", tmp_path / "src")
    otter = [sys.executable, "-m", "otter"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    run = subprocess.run([*otter, "assign", "--no-run-tests", "serial.ipynb", str(tmp_path / "dist")],
                         cwd=tmp_path / "src", capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    student = _load(tmp_path / "dist" / "student" / "serial.ipynb")
    code = [c["source"] for c in student["cells"] if c["cell_type"] == "code"]
    assert code and not any("console_append" in c for c in code)  # students never receive it
    autograder = next((tmp_path / "dist" / "autograder").glob("*.zip"))
    unplugged = tmp_path / "unplugged.zip"  # the same autograder without the plugin
    with zipfile.ZipFile(autograder) as zin, zipfile.ZipFile(unplugged, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "otter_config.json":
                config = json.loads(data)
                assert config["plugins"] == [{"vlab.grading.otter.VlabPlugin": {
                    "exercise": "03-serial", "question": "serial"}}]
                data = json.dumps({**config, "plugins": []}).encode()
            zout.writestr(item, data)

    def notebook(handlers: str, extra: str = "") -> str:
        nb = copy.deepcopy(student)
        at = next(i for i, c in enumerate(nb["cells"])
                  if "otter_answer_cell" in c["metadata"].get("tags", []))
        nb["cells"][at]["source"] = handlers
        if extra:
            nb["cells"].insert(at + 1, {"cell_type": "code", "metadata": {}, "id": "tamper",
                                        "execution_count": None, "outputs": [], "source": extra})
        return json.dumps(nb)

    solution = (ROOT / "tests" / "solutions" / "s03_serial.py").read_text()
    partial = solution.replace('REG = {1: "al", 2: "ax", 4: "eax"}',
                               'REG = {1: "eax", 2: "eax", 4: "eax"}')  # wrong operand sizes
    assert partial != solution
    # eve's code, wherever it runs in otter's autograder process, makes every vlab report full
    patch = ("import vlab.grading.core as c\n"
             "c.GradeReport.score = property(lambda report: report.max_score)\n")

    class Payload:  # a pickle that runs `patch` where it is loaded
        def __reduce__(self):
            return exec, (patch,)

    takeover = ("import pickle\n"  # the results otter's kernel pickles for the autograder
                f"class Payload:\n    def __reduce__(self):\n        return exec, ({patch!r},)\n"
                "_dump = pickle.dump\n"
                "def dump(results, f, *a, **k):\n    results.output = Payload()\n"
                "    _dump(results, f, *a, **k)\n"
                "pickle.dump = dump\n")
    tamper = ("import vlab.grading\nclass R:\n    score = max_score = 15\n"
              "vlab.grading.check = lambda *a, **k: R()\n" + takeover)
    eve = tmp_path / "eve.zip"
    with zipfile.ZipFile(eve, "w") as z:
        z.writestr("serial.ipynb", notebook("def handle_in(vcpu, exit):\n    pass\n\n\n"
                                            "handle_out = handle_in\n", tamper))
        z.writestr(".OTTER_LOG", pickle.dumps(Payload()))  # otter loads its log
        z.writestr("ipykernel_launcher.py", takeover + (  # the kernel starts in this folder
            "import sys\nsys.path[:] = [p for p in sys.path if p not in ('', '.')"
            " and not p.endswith('submission')]\n"
            "from ipykernel import kernelapp\nkernelapp.launch_new_instance()\n"))
    submissions = {"eve-unplugged": (eve, unplugged), "eve": (eve, autograder)}
    for name, handlers in (("ada", solution), ("bob", partial)):
        (tmp_path / f"{name}.ipynb").write_text(notebook(handlers))
        submissions[name] = (tmp_path / f"{name}.ipynb", autograder)
    def start(name):
        submission, zipped = submissions[name]
        (tmp_path / name).mkdir(exist_ok=True)
        return subprocess.Popen([*otter, "run", "-a", str(zipped), "-o", str(tmp_path / name),
                                 "--no-logo", str(submission)], cwd=tmp_path / name,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    runs = {name: start(name) for name in submissions}
    scores = {}
    for name, process in runs.items():
        _, err = process.communicate(timeout=300)
        if process.returncode and "Kernel died before replying to kernel_info" in err:
            # jupyter_client picks a kernel's ports before the kernel binds them: kernels
            # started at the same moment can collide (seen once in CI); run that one again alone
            process = start(name)
            _, err = process.communicate(timeout=300)
        assert process.returncode == 0, (name, err[-2000:])
        results = json.loads((tmp_path / name / "results.json").read_text())
        (serial,) = [t for t in results["tests"] if t["name"] == "serial"]
        assert serial["max_score"] == 15
        scores[name] = serial["score"]
    assert scores["eve-unplugged"] == 15  # otter alone: the student's kernel fooled it
    assert scores["ada"] == 15 and 0 < scores["bob"] < 15 and scores["eve"] == 0, scores
