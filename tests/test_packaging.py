"""vlab as a package: the wheel (distribution vlab-x86, import name vlab) carries what a user
needs, and installed in a fresh virtual environment outside the checkout it runs a guest,
grades an exercise and provides the x86 (vlab) Jupyter kernel."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_package_of_the_source_tree_is_listed():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vlab").rglob("__init__.py")}
    assert found | {"vlab.exercises"} == listed


def test_the_shipped_kernelspec_is_the_kernels_own():
    from vlab.ui.kernel import kernel_json

    shipped = json.loads((ROOT / "share/jupyter/kernels/vlab/kernel.json").read_text())
    own = kernel_json()
    assert shipped["argv"] == ["python", *own["argv"][1:]]  # (Jupyter puts its own Python there)
    assert {k: v for k, v in shipped.items() if k != "argv"} == \
        {k: v for k, v in own.items() if k != "argv"}


def test_metadata():
    project = PYPROJECT["project"]
    assert project["name"] == "vlab-x86" and project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"] and (ROOT / "LICENSE").read_text().startswith("MIT")
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    assert any(c.startswith("Topic :: Education") for c in project["classifiers"])


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, venv): the wheel built from this checkout, installed in a fresh venv."""
    tmp = tmp_path_factory.mktemp("package")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q",
                    "--disable-pip-version-check", "-w", str(tmp / "dist")], check=True)
    (wheel,) = (tmp / "dist").glob("vlab_x86-*.whl")
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(tmp / "venv")], check=True)
    subprocess.run([str(tmp / "venv/bin/pip"), "install", "-q", "--disable-pip-version-check",
                    str(wheel)], check=True)
    return wheel, tmp / "venv"


def _run(venv: Path, *args, **env):
    """A command of the installed package, run far from the checkout."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VLAB_EXERCISES")}
    clean.update(env)
    return subprocess.run([str(venv / "bin" / args[0]), *args[1:]], capture_output=True,
                          text=True, cwd=venv.parent, env=clean, timeout=600)


def test_the_wheel_carries_what_a_user_needs_and_no_hidden_scenario(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "vlab/guests/kernel/kernel.S" in names and "vlab/guests/include/vlab.inc" in names
    for ex in ("01-cli-sti", "03-serial", "09-ept"):
        assert {f"vlab/exercises/{ex}/README.md", f"vlab/exercises/{ex}/checks.py",
                f"vlab/exercises/{ex}/starter.py"} <= set(names)
    assert not [n for n in names if "/hidden/" in n or "__pycache__" in n]
    assert any(n.endswith("share/jupyter/kernels/vlab/kernel.json") for n in names)
    assert any(n.endswith("dist-info/licenses/LICENSE") for n in names)
    metadata = next(zipfile.ZipFile(wheel).read(n).decode() for n in names if n.endswith("METADATA"))
    assert "Name: vlab-x86" in metadata and "License-Expression: MIT" in metadata


def test_installed_it_imports_from_the_venv_and_runs_a_guest(installed):
    _, venv = installed
    where = _run(venv, "python", "-c", "import vlab; print(vlab.__file__)").stdout
    assert where.startswith(str(venv)), where
    res = _run(venv, "vlab", "run", "--guest", "kernel", "--strategy", "binary_translation",
               "--json")
    result = json.loads(res.stdout)
    assert res.returncode == 0 and result["status"] == "halted" and result["exit_code"] == 0
    assert "hello from the user task (ring 3)" in result["console"]
    doctor = json.loads(_run(venv, "vlab", "doctor", "--json").stdout)
    assert doctor["ok"], doctor


def test_installed_it_grades_an_exercise_by_name(installed, tmp_path):
    _, venv = installed
    solution = ROOT / "tests/solutions/s03_serial.py"
    res = _run(venv, "vlab", "grade", "03-serial", str(solution), "--results",
               str(tmp_path / "public.json"))
    assert res.returncode == 0, res.stderr
    public = json.loads((tmp_path / "public.json").read_text())
    # the instructor's folder: its hidden scenarios count too
    res = _run(venv, "vlab", "grade", "03-serial", str(solution), "--results",
               str(tmp_path / "all.json"), VLAB_EXERCISES=str(ROOT / "exercises"))
    assert res.returncode == 0, res.stderr
    everything = json.loads((tmp_path / "all.json").read_text())
    assert public["score"] == public["max_score"] > 0
    assert len(everything["tests"]) > len(public["tests"])
    missing = _run(venv, "vlab", "grade", "99-nothing", str(solution))
    assert missing.returncode == 2 and "03-serial" in missing.stderr  # the known ones are listed
    script = tmp_path / "in_a_notebook.py"  # what a student's notebook cell does
    script.write_text(
        "import importlib.util, sys\n"
        "from vlab.grading import check, load_exercise\n"
        f"spec = importlib.util.spec_from_file_location('solution', {str(solution)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "names = load_exercise('03-serial').handlers\n"
        "report = check('03-serial', *[getattr(mod, n) for n in names])\n"
        "print(report.score, report.max_score)\n")
    res = _run(venv, "python", str(script))
    assert res.returncode == 0, res.stderr
    score, best = map(float, res.stdout.split()[-2:])
    assert score == best > 0


def test_installed_it_provides_the_kernel(installed):
    _, venv = installed
    code = ("from jupyter_client.manager import start_new_kernel\n"
            "km, kc = start_new_kernel(kernel_name='vlab')\n"
            "out = []\n"
            "reply = kc.execute_interactive('    PRINT \"from the wheel\\\\n\"\\n', "
            "output_hook=lambda m: out.append(m['content']), timeout=120)\n"
            "print(reply['content']['status'], any('from the wheel' in str(o) for o in out))\n"
            "kc.stop_channels(); km.shutdown_kernel(now=True)\n")
    res = _run(venv, "python", "-c", code)
    assert res.stdout.split()[:2] == ["ok", "True"], res.stderr
