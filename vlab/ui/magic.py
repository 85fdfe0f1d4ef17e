"""Guest assembly in notebook cells: the ``%%asm`` cell magic (``%load_ext vlab``).

    %%asm --strategy trap_emulate
    mov eax, cr0          ; any guest code; it starts at _start, PRINT and EXIT are available
    PRINT "hello\\n"

The cell is assembled (GNU as, Intel syntax, with ``vlab.inc`` included and the console
library appended), loaded at 0x100000 and run; the console output and the trap log are shown.
Assembly errors name the cell's line and the assembler's message.
"""

from __future__ import annotations

import argparse
import html
import shlex

from ..errors import AssemblyError, VlabError

HEADER = '.include "vlab.inc"\n.globl _start\n_start:\n'
FOOTER = '\n    EXIT 0\n.include "lib.inc"\n'


def assemble_cell(source: str, name: str = "cell"):
    """Assemble a cell's guest code into an image (PRINT/EXIT and vlab.inc available)."""
    from ..isa import assemble

    return assemble(source, name, header=HEADER, footer=FOOTER)


def run_cell(source: str, strategy: str = "native", max_instructions: int = 5_000_000):
    """Assemble and run a cell; returns the Lab (its error, if any, is in ``lab.error``)."""
    from ..lab import Lab

    lab = Lab(image=assemble_cell(source), strategy=strategy, budget=max_instructions)
    try:
        lab.run()
    except VlabError:
        pass
    return lab


def report_html(lab, trace_rows: int = 12) -> str:
    """Console, status and the latest exits as HTML."""
    status = lab.status if lab.error is None else f"{lab.status}: {lab.error}"
    rows = "".join(
        f"<tr><td>{html.escape(e.reason.name)}</td><td><code>{e.eip:#010x}</code></td>"
        f"<td><code>{html.escape(e.instruction)}</code></td><td>{html.escape(e.handler)}</td></tr>"
        for e in list(lab.trace.recent)[-trace_rows:])
    trace = (f"<table><tr><th>exit</th><th>EIP</th><th>instruction</th><th>handler</th></tr>"
             f"{rows}</table>" if rows else "<i>no exits</i>")
    counts = ", ".join(f"{k} {v}" for k, v in lab.trace.counts().items()) or "none"
    return (f"<div class='vlab-asm'><b>{html.escape(lab.strategy_name)}</b>: "
            f"{html.escape(status)} &middot; {lab.instructions:,} instructions &middot; "
            f"exits: {html.escape(counts)}<pre>{html.escape(lab.console)}</pre>{trace}</div>")


def error_html(error: AssemblyError) -> str:
    where = f"line {error.line}: " if error.line else ""
    message = str(error).split(": ", 1)[-1] if error.line else str(error)
    return (f"<div class='vlab-asm-error' style='color:#b00'><b>assembly error</b> "
            f"{html.escape(where)}{html.escape(message)}</div>")


_PARSER = argparse.ArgumentParser(prog="%%asm", add_help=False)
_PARSER.add_argument("--strategy", "-s", default="native")
_PARSER.add_argument("--max-instructions", type=int, default=5_000_000)


def asm(line: str, cell: str):
    """The cell magic: run guest assembly, show console and trap log; the Lab is ``_asm_lab``."""
    from IPython import get_ipython
    from IPython.display import HTML, display

    try:
        args = _PARSER.parse_args(shlex.split(line))
    except SystemExit:
        display(HTML("<div style='color:#b00'>usage: %%asm [--strategy NAME] "
                     "[--max-instructions N]</div>"))
        return None
    try:
        lab = run_cell(cell, args.strategy, args.max_instructions)
    except AssemblyError as e:
        display(HTML(error_html(e)))
        return None
    except VlabError as e:
        display(HTML(f"<div style='color:#b00'>{html.escape(str(e))}</div>"))
        return None
    ip = get_ipython()
    if ip is not None:
        ip.user_ns["_asm_lab"] = lab
    display(HTML(report_html(lab)))
    return None


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(asm, magic_kind="cell", magic_name="asm")
