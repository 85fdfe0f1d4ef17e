"""The lab widgets the browser tests lay out: every course notebook cell that shows the widget,
cut down to what creates it, and the widget under each strategy.

A notebook is picked up as soon as one of its code cells calls ``.widget()`` (or builds a
``LabWidget``): no list to keep up to date. From such a cell only the statements up to the
widget call are kept, and from the cells before it only the statements that bind a name those
need (imports, ``lab = Lab(...)``), so a long notebook is never run whole in the browser.
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_CALL = re.compile(r"\.widget\(\s*\)|\bLabWidget\(")
#: The name the last widget of a case is bound to, to give it the case's CSS class.
SHOWN = "_vlab_case_widget"


@dataclass(frozen=True)
class Case:
    """One widget to lay out: ``code`` (one cell) ends by displaying it with the CSS class
    ``css``; ``name`` names its screenshots."""

    name: str
    code: str

    @property
    def css(self) -> str:
        return f"vlab-case-{self.name}"


#: The widget under each of the five strategies, with enough run for every tab to have content
#: (the paging guest fills the Memory tab's walks and page tables).
STRATEGY_CASES = [
    Case("native", "from vlab import Lab\nlab = Lab('kernel', 'native')\nlab.run()\n"
                   "lab.widget()"),
    Case("trap_emulate", "from vlab import Lab\nlab = Lab('kernel', 'trap_emulate')\nlab.run()\n"
                         "lab.widget()"),
    Case("binary_translation", "from vlab import Lab\nlab = Lab('paging', 'binary_translation')\n"
                               "lab.run(until='fork_test')\nlab.widget()"),
    Case("vtx", "from vlab import Lab\nlab = Lab('paging', 'vtx')\nlab.run(until='fork_test')\n"
                "lab.widget()"),
    Case("paravirt", "from vlab import Lab\nlab = Lab('kernel-pv', 'paravirt')\n"
                     "lab.run(max_instructions=3_000)\nlab.widget()"),
]


def _python(source: str) -> str:
    """A cell's source as plain Python (IPython magics turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _bound(stmt: ast.stmt) -> set[str]:
    """Names a top-level statement binds."""
    if isinstance(stmt, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in stmt.names}
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {stmt.name}
    targets = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.For, ast.AsyncFor)):
        targets = [stmt.target]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    names: set[str] = set()
    targets = list(targets)
    while targets:  # a name, or names unpacked from a tuple/list (not ``lab.x = ...``)
        t = targets.pop()
        if isinstance(t, ast.Name):
            names.add(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)):
            targets.extend(t.elts)
        elif isinstance(t, ast.Starred):
            targets.append(t.value)
    return names


def _used(stmt: ast.stmt) -> set[str]:
    """Names a statement reads (a superset is fine: an unneeded name costs one more statement)."""
    return {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _slice(cells: list[str], index: int) -> list[ast.stmt] | None:
    """The statements that create the widget of cell ``index``: that cell up to the widget
    call, and before it the statements that bind a name still needed or change the object
    it names (``lab.run()``), walking back from the widget."""
    parsed: list[list[ast.stmt]] = []
    for source in cells[:index + 1]:
        try:
            parsed.append(ast.parse(_python(source)).body)
        except SyntaxError:
            parsed.append([])
    cell = parsed[index]
    upto = next((i for i, s in enumerate(cell) if WIDGET_CALL.search(ast.unparse(s))), None)
    if upto is None:
        return None
    kept = cell[:upto + 1]
    needed: set[str] = set()
    bound: set[str] = set()
    for s in kept:  # names read before the cell itself binds them come from earlier cells
        needed |= _used(s) - bound - set(dir(builtins))
        bound |= _bound(s)
    before: list[ast.stmt] = []
    earlier = [s for body in parsed[:index] for s in body]
    named = {n for s in earlier if isinstance(s, (ast.Import, ast.ImportFrom, ast.FunctionDef,
                                                   ast.ClassDef)) for n in _bound(s)}
    for stmt in reversed(earlier):
        binds = _bound(stmt) & needed
        if binds or _changes(stmt, needed - named):
            before.insert(0, stmt)
            needed = (needed - binds) | (_used(stmt) - set(dir(builtins)))
    return before + kept


#: Methods that only look (a Lab's, a record's, a string's): calling them changes nothing.
LOOKS = frozenset({
    "widget", "state", "disassemble", "read", "read_u32", "symbol", "address", "translate",
    "guest_view", "summary", "page_tables", "page_faults", "memory_summary", "translation_stats",
    "data_ranges", "explain", "available_strategies", "physical_memory", "lines", "rows", "source",
    "effective_source", "control", "table", "counts", "filter", "outcome", "first_divergence",
    "differing_lines", "get", "keys", "values", "items", "index", "count", "startswith",
    "endswith", "splitlines", "split", "strip", "join", "format", "hex", "copy", "to_json", "text"})


def _changes(stmt: ast.stmt, objects: set[str]) -> bool:
    """Might ``stmt`` change one of these objects (``lab.run()``, ``print(lab.run())``,
    ``lab.x = 1``, ``d[k] = v``)? A check changes nothing, nor does a method that looks."""
    if isinstance(stmt, ast.Assert):
        return False
    for node in ast.walk(stmt):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            target = node.func.value if node.func.attr not in LOOKS else None
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            target = next((t.value for t in targets if isinstance(t, (ast.Attribute, ast.Subscript))),
                          None)
        else:
            continue
        if isinstance(target, ast.Name) and target.id in objects:
            return True
    return False


def notebook_cases(folder: Path = NOTEBOOKS) -> list[Case]:
    """A case per code cell that shows the lab widget, in every notebook of ``folder``."""
    cases = []
    for path in sorted(folder.glob("*.ipynb")):
        cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                 if c["cell_type"] == "code"]
        for i, source in enumerate(cells):
            if not WIDGET_CALL.search(source):
                continue
            stmts = _slice(cells, i)
            if not stmts:
                continue
            *head, last = stmts
            if isinstance(last, ast.Expr):  # the cell's value: the widget is displayed
                body = [ast.unparse(s) for s in head] + [f"{SHOWN} = {ast.unparse(last.value)}"]
            elif isinstance(last, ast.Assign) and len(last.targets) == 1:
                body = [ast.unparse(s) for s in stmts] + [f"{SHOWN} = {ast.unparse(last.targets[0])}"]
            else:
                continue
            name = path.stem.split("-")[0] + f"-cell{i}"
            cases.append(Case(name, "\n".join(body) + "\n"))
    return cases


def case_cell(case: Case) -> str:
    """The notebook cell for ``case``: its code, then the widget shown with the case's class.
    Code that fails shows its error instead (class ``vlab-case-failed``), so one broken case
    neither stops Run All nor hides the others."""
    code = case.code
    if SHOWN not in code:  # a strategy case: its last line is the widget expression
        *head, last = code.rstrip().splitlines()
        code = "\n".join(head + [f"{SHOWN} = {last}"]) + "\n"
    return (f"try:\n    exec(compile({code!r}, {case.name!r}, 'exec'), globals())\n"
            "except Exception as _vlab_error:\n"
            "    import html, ipywidgets, traceback\n"
            f"    {SHOWN} = ipywidgets.HTML('<pre class=\"vlab-case-failed\">' + "
            "html.escape(traceback.format_exc()) + '</pre>')\n"
            f"{SHOWN}.add_class({case.css!r})\n{SHOWN}")
