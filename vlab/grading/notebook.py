"""A submission that is a notebook: its handler code, taken out without running any of it.

`vlab grade EX submission.ipynb` (and a class folder of notebooks) grades the functions the
student wrote in the notebook, in the sandbox, exactly as a .py file. The grader only *parses*
the notebook (JSON, then each code cell with ``ast``): it keeps top-level function and class
definitions, imports and constant assignments, and drops everything else — calls,
``vlab.grading.check(...)`` cells, IPython magics — so nothing the student wrote runs outside the
sandbox, and a cell that replaces the grader in the student's kernel changes nothing here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from vlab.errors import VlabError
from vlab.i18n import tr

NOTEBOOK_LIMIT = 4 << 20  # bytes: a submission notebook larger than this is refused
_KEEP = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom,
         ast.Assign, ast.AnnAssign)


def handler_source(path: str | Path) -> str:
    """The Python source of a notebook's definitions (see the module's docstring)."""
    path = Path(path)
    if path.stat().st_size > NOTEBOOK_LIMIT:
        raise VlabError(tr("{name}: notebook larger than {size} MiB").format(
            name=path.name, size=NOTEBOOK_LIMIT >> 20))
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = nb["cells"]
    except (ValueError, KeyError, TypeError, RecursionError, UnicodeDecodeError) as e:
        raise VlabError(tr("{name} is not a readable notebook: {error}").format(
            name=path.name, error=type(e).__name__)) from None
    kept = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError, RecursionError):
            continue  # magics, shell escapes, broken cells: not definitions
        for node in tree.body:
            if isinstance(node, _KEEP) and _is_definition(node):
                kept.append(ast.get_source_segment(source, node) or ast.unparse(node))
    if not kept:
        raise VlabError(tr("{name}: no function definitions found in its code cells").format(
            name=path.name))
    return "\n\n".join(kept) + "\n"


def _is_definition(node: ast.AST) -> bool:
    """Definitions only: an import that reaches into vlab's grader or otter's (the first cell of
    every otter notebook), an assignment to anything but a plain name (``vlab.grading.check =
    ...``) or one that calls something (``report = check(...)``) is the student's practice, not
    their handlers."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
        return not any("grading" in n or n.split(".")[0] == "otter" for n in names)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        plain = all(isinstance(t, ast.Name) or (isinstance(t, ast.Tuple) and all(
            isinstance(e, ast.Name) for e in t.elts)) for t in targets)
        return plain and not any(isinstance(n, ast.Call) for n in ast.walk(node))
    return True
