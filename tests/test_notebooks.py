"""The course notebooks run top to bottom without error (plain exec of their code cells)."""

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs(path):
    nb = json.loads(path.read_text())
    scope: dict = {}
    ran = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), scope)
            ran += 1
    assert ran > 0


def test_there_are_notebooks():
    assert NOTEBOOKS
