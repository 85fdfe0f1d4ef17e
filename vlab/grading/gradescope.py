"""A Gradescope autograder for one exercise: ``vlab gradescope EX -o autograder.zip``.

Gradescope runs each submission in a container of its own (that is how a course of a thousand
students scales). The bundle follows its autograder layout: ``setup.sh`` installs the system
packages and vlab's dependencies into the image once; ``run_autograder`` grades
``/autograder/submission`` (a folder holding the student's .py or .ipynb) in vlab's sandbox and
writes ``/autograder/results/results.json``. The exercise travels whole, hidden scenarios
included: the bundle is the instructor's, never the students'.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path

from vlab.errors import VlabError
from vlab.grading.core import load_exercise

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (as root, Ubuntu/Debian).
set -euo pipefail
cd "$(dirname "$0")"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
    python3 python3-pip python3-venv binutils bubblewrap >/dev/null
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install -q {requirements}
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission, in a container of its own. vlab grades the
# submission in its sandbox and writes results.json; the exit status is 0 once it is written.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{VLAB_PYTHON:-$ROOT/venv/bin/python}}"
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$ROOT/results"
cd "$HERE"
PYTHONPATH="$HERE/lib" "$PYTHON" -m vlab grade "$HERE/exercise" "$ROOT/submission" \\
    --results "$ROOT/results/results.json"
status=$?
if [ ! -s "$ROOT/results/results.json" ]; then  # vlab could not grade: say so to the student
    printf '{{"score": 0, "output": "the autograder failed (status %s); tell your instructor"}}\\n' \\
        "$status" > "$ROOT/results/results.json"
fi
exit 0
"""

#: What vlab needs at run time besides itself (pyproject's dependencies that grading uses).
REQUIREMENTS = ("'unicorn>=2.1,<2.2'", "'capstone>=5.0,<6'")


def build(exercise: str | Path, output: str | Path) -> Path:
    """Write the autograder zip for ``exercise`` (a folder or a name) to ``output``."""
    ex = load_exercise(exercise)
    if ex.directory is None:
        raise VlabError(f"exercise {exercise!r} has no folder")
    output = Path(output)
    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="vlab-gradescope-") as tmp:
        root = Path(tmp)
        shutil.copytree(ex.directory, root / "exercise",
                        ignore=shutil.ignore_patterns("__pycache__", "nbgrader", "otter"))
        shutil.copytree(package, root / "lib" / "vlab",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (root / "setup.sh").write_text(SETUP.format(requirements=" ".join(REQUIREMENTS)))
        (root / "run_autograder").write_text(RUN.format())
        output.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as z:
            for path in sorted(root.rglob("*")):
                if path.is_file():
                    info = zipfile.ZipInfo(str(path.relative_to(root)))
                    executable = path.name in ("setup.sh", "run_autograder")
                    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
                    info.compress_type = zipfile.ZIP_DEFLATED
                    z.writestr(info, path.read_bytes())
    return output
