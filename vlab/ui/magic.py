"""Guest assembly in notebook cells: the ``%%asm`` cell magic (``%load_ext vlab``).

    %%asm --strategy trap_emulate
    mov eax, cr0          ; any guest code; it starts at _start, PRINT and EXIT are available
    PRINT "hello\\n"

The cell is assembled (GNU as, Intel syntax, with ``vlab.inc`` included and the console
library appended), loaded at 0x100000 and run; the console output and the trap log are shown.
As in NASM, ``;`` starts a comment (so does ``#``). An assembly error names the cell's line and
the assembler's message (an undefined label too), and fails the cell, as does a guest that ends
in an error (a triple fault, an invalid opcode, its budget): Run All, nbclient and papermill stop
there.
"""

from __future__ import annotations

import argparse
import html
import re
import shlex

from ..errors import AssemblyError, VlabError
from ..i18n import N_, tr
from .display import BLOCK

HEADER = '.include "vlab.inc"\n.globl _start\n_start:\n'
FOOTER = '\n    EXIT 0\n.include "lib.inc"\n'


def text_of(markup: str) -> str:
    """A text/plain twin of vlab's HTML: tags dropped, entities resolved."""
    text = re.sub(r"<(br|tr|/div|/pre|/table)[^>]*>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", " ", text)).replace(" \n", "\n").strip()


def show(markup: str) -> None:
    """Display vlab's HTML with its text/plain twin (for text front ends and logs)."""
    from IPython.display import display

    display({"text/html": markup, "text/plain": text_of(markup)}, raw=True)


class CellError(Exception):
    """A cell failed: shown as its message alone (no Python traceback), reported to Jupyter as
    an error (status ``error``, ename ``CellError``)."""

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}: {self}\x1b[0m"]

    @classmethod
    def guest_stopped(cls, error: Exception) -> CellError:
        """The cell's guest ended in ``error`` (a triple fault, an invalid opcode ...)."""
        return cls(tr("the guest stopped with {error}: {message}").format(
            error=type(error).__name__, message=error))


def strip_comments(source: str) -> str:
    """Drop ``;`` comments (NASM's), keeping a ``;`` inside a string or character literal."""
    out = []
    for line in source.splitlines():
        quote = None
        for i, ch in enumerate(line):
            if quote:
                if ch == "\\":
                    continue
                if ch == quote and line[i - 1] != "\\":
                    quote = None
            elif ch in "\"'":
                quote = ch
            elif ch == ";":
                line = line[:i].rstrip()
                break
        out.append(line)
    return "\n".join(out) + ("\n" if source.endswith("\n") else "")


def assemble_cell(source: str, name: str = "cell"):
    """Assemble a cell's guest code into an image (PRINT/EXIT and vlab.inc available)."""
    from ..isa import assemble

    return assemble(strip_comments(source), name, header=HEADER, footer=FOOTER)


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
    """Console, status (the widget's words: ready, paused, halted, error) and the latest exits
    as HTML, a left-aligned block (JupyterLab centres a bare table in an output)."""
    from .controls import STATE_WORDS, run_state  # (the widgets' module: only when drawn)
    from .words import handler_name, reason_html

    state, meaning = run_state(lab, None)
    cell = "style='text-align:left;padding:0 8px 0 0;white-space:nowrap'"
    rows = "".join(
        f"<tr><td {cell}>{reason_html(e.reason.name)}</td><td {cell}><code>{e.eip:#010x}</code></td>"
        f"<td {cell}><code>{html.escape(e.instruction)}</code></td>"
        f"<td {cell}>{html.escape(handler_name(e.handler))}</td></tr>"
        for e in list(lab.trace.recent)[-trace_rows:])
    columns = (N_("exit"), "EIP", N_("instruction"), N_("handler"))
    head = "".join(f"<th {cell}>{html.escape(tr(c))}</th>" for c in columns)
    trace = (f"<table style='margin:0'><tr>{head}</tr>{rows}</table>"
             if rows else f"<i>{html.escape(tr('no exits'))}</i>")
    counts = (", ".join(reason_html(k, f"{k} {v}") for k, v in lab.trace.counts().items())
              or html.escape(tr("none")))
    summary = html.escape(tr("{state} ({meaning}) · {count} instructions · exits: {exits}")).format(
        state=html.escape(tr(STATE_WORDS[state])), meaning=html.escape(meaning),
        count=f"{lab.instructions:,}", exits=counts)
    return (f"<div class='vlab-asm' style='{BLOCK}'><b>{html.escape(lab.strategy_name)}</b>: "
            f"{summary}<pre>{html.escape(lab.console)}</pre>{trace}</div>")


def error_html(error: AssemblyError) -> str:
    message = str(error).split(": ", 1)[-1] if error.line else str(error)
    text = (tr("line {line}: {message}").format(line=error.line, message=message) if error.line
            else message)
    return (f"<div class='vlab-asm-error' style='color:#b00'><b>{html.escape(tr('assembly error'))}"
            f"</b> {html.escape(text)}</div>")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise CellError(f"%%asm: {message}")


_PARSER = _Parser(prog="%%asm", add_help=False)
_PARSER.add_argument("--strategy", "-s", default="native")
_PARSER.add_argument("--max-instructions", type=int, default=5_000_000)


def asm(line: str, cell: str):
    """The cell magic: run guest assembly, show console and trap log; the Lab is ``_asm_lab``.
    An assembly error, or a guest that ends in an error, fails the cell (:class:`CellError`)."""
    from IPython import get_ipython

    try:
        args = _PARSER.parse_args(shlex.split(line))
    except (SystemExit, ValueError):
        raise CellError(tr("usage: %%asm [--strategy NAME] [--max-instructions N]")) from None
    try:
        lab = run_cell(cell, args.strategy, args.max_instructions)
    except AssemblyError as e:
        show(error_html(e))
        raise CellError(tr("assembly error: {error}").format(error=e)) from None
    except VlabError as e:
        raise CellError(str(e)) from None
    ip = get_ipython()
    if ip is not None:
        ip.user_ns["_asm_lab"] = lab
    show(report_html(lab))
    if lab.error is not None:
        raise CellError.guest_stopped(lab.error)
    return None


def load_ipython_extension(ipython) -> None:
    ipython.register_magic_function(asm, magic_kind="cell", magic_name="asm")
