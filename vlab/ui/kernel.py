"""The "x86 (vlab)" Jupyter kernel: cells are guest assembly, run on a Lab.

Built on ipykernel, so widgets, rich output and Python still work: each cell is translated into a
Python call on a :class:`Session` in the kernel's IPython shell.

* a cell of assembly: assembled and run under the current strategy (console and trap log shown);
* line magics: ``%strategy vtx``, ``%step 10``, ``%regs``, ``%trace``, ``%diagram``, ``%widget``,
  ``%run`` (continue), ``%reset``;
* ``%%python``: the rest of the cell is plain Python (``lab`` is the current Lab).

Install the kernelspec: ``python -m vlab.ui.kernel install [--user | --sys-prefix]`` (the README's
set-up command does it).

Like a good kernel, it reports an assembly error, a guest that ends in an error (a triple fault,
an invalid opcode, its budget) and an unknown magic as a Jupyter *error* (status ``error``, so
Run All, nbclient and papermill stop there); completes mnemonics, registers, labels, magics and
strategy names; explains an instruction on Shift-Tab (what it does and what it causes under each
strategy: :mod:`vlab.ui.asmhelp`); answers ``is_complete``; stops a running guest on interrupt;
and gives every HTML output a text/plain twin for text front ends.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
import tempfile

from ipykernel.ipkernel import IPythonKernel

from ..i18n import N_, tr
from .asmhelp import MAGICS, complete, token_at, words
from .magic import CellError, show


class Session:
    """What the kernel's cells act on: one Lab, the current strategy."""

    def __init__(self) -> None:
        self.strategy_name = "native"
        self.lab = None

    def _show(self, markup: str) -> None:
        show(markup)

    def run_source(self, source: str) -> None:
        from ..errors import AssemblyError, VlabError
        from .magic import report_html, run_cell

        try:
            self.lab = run_cell(source, self.strategy_name)
        except AssemblyError as e:
            raise CellError(tr("assembly error: {error}").format(error=e)) from None
        except VlabError as e:
            raise CellError(str(e)) from None
        self._publish()
        self._show(report_html(self.lab))
        if self.lab.error is not None:
            raise CellError.guest_stopped(self.lab.error)

    def _publish(self) -> None:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            ip.user_ns["lab"] = self.lab

    def _need_lab(self) -> bool:
        if self.lab is None:
            raise CellError(tr("no program yet: run a cell of assembly first"))
        return True

    def strategy(self, name: str = "") -> None:
        from ..lab import Lab

        known = ", ".join(Lab.available_strategies())
        if not name:
            self._show(html.escape(tr("strategy: {name} (of {known})")).format(
                name=f"<b>{html.escape(self.strategy_name)}</b>", known=html.escape(known)))
            return
        if name not in Lab.available_strategies():
            raise CellError(tr("unknown strategy {name}; known: {known}").format(
                name=repr(name), known=known))
        self.strategy_name = name
        if self.lab is not None:
            self.lab.switch(name)
            self._publish()
        self._show(html.escape(tr("strategy: {name}")).format(name=f"<b>{html.escape(name)}</b>"))

    def step(self, count: str = "1") -> None:
        from ..errors import VlabError

        self._need_lab()
        try:
            n = int(count or 1)
        except ValueError:
            raise CellError(tr("%step {count}: give a number of instructions").format(
                count=count)) from None
        if self.lab.status == "halted":
            raise CellError(tr("the guest has halted (exit code {code}): nothing to step; %reset "
                               "starts it again").format(code=self.lab.exit_code))
        try:
            for _ in range(max(1, n)):
                stop = self.lab.step()
                if stop.reason == "halted":
                    break
        except VlabError as e:
            self.regs()
            raise CellError.guest_stopped(e) from None
        self.regs()

    def _show_view(self, view_class) -> None:
        """One view's HTML as it stands now (the view is closed at once: it stops observing)."""
        view = view_class(self.lab)
        try:
            self._show(view.value)
        finally:
            view.close()

    def regs(self, _: str = "") -> None:
        from .views import RegisterView

        if self._need_lab():
            self._show_view(RegisterView)

    def trace(self, _: str = "") -> None:
        from .magic import report_html

        if self._need_lab():
            self._show(report_html(self.lab, trace_rows=40))

    def diagram(self, _: str = "") -> None:
        from .views import DiagramView

        if self._need_lab():
            self._show_view(DiagramView)

    def widget(self, _: str = "") -> None:
        from IPython.display import display

        if self._need_lab():
            display(self.lab.widget())

    def run(self, _: str = "") -> None:
        from ..errors import VlabError
        from .magic import report_html

        self._need_lab()
        try:
            self.lab.run()
        except VlabError as e:
            self._show(report_html(self.lab))
            raise CellError.guest_stopped(e) from None
        self._show(report_html(self.lab))

    def reset(self, _: str = "") -> None:
        if self._need_lab():
            self.lab.reset()
            self._show(html.escape(tr("reset")))

    def help(self, _: str = "") -> None:
        self._show("<pre>" + html.escape(tr(HELP)) + "</pre>")


HELP = N_("""x86 (vlab): a cell is guest assembly (GNU as, Intel syntax; ';' and '#' start comments),
assembled with vlab.inc (PRINT "text", EXIT code) and run on a Lab from _start.
  %strategy NAME   switch strategy (native, trap_emulate, binary_translation, vtx, paravirt)
  %step N          execute N instructions, show the registers
  %run             continue to the end     %reset   start the program again
  %regs  %trace  %diagram  %widget         views of the lab
  %help            this text                %%python   the rest of the cell is Python (lab)
Shift-Tab on an instruction: what it does and what it causes under each strategy.""")


def translate(code: str) -> str:
    """A vlab cell as the Python the IPython shell runs: leading magic lines, then the cell's
    assembly (if any)."""
    stripped = code.strip()
    if stripped.startswith("%%python"):
        return code.split("\n", 1)[1] if "\n" in code else ""
    lines = code.splitlines()
    calls = []
    while lines and (not lines[0].strip() or lines[0].strip().startswith("%")):
        line = lines.pop(0).strip()
        if not line:
            continue
        name, _, arg = line.lstrip("%").partition(" ")
        if line.startswith("%%") or name not in MAGICS:
            known = ", ".join(f"%{m}" for m in MAGICS)
            message = tr("unknown magic {magic}; vlab magics: {known}, %%python (first "
                         "line)").format(magic=line.split()[0], known=known)
            return f"raise __vlab_error({message!r})"
        calls.append(f"__vlab_session.{name}({arg.strip()!r})")
    rest = "\n".join(lines)
    if rest.strip():
        calls.append(f"__vlab_session.run_source({rest!r})")
    return "\n".join(calls) or "pass"


class VlabKernel(IPythonKernel):
    implementation = "vlab"
    implementation_version = "0.1"
    language_info = {"name": "gas", "mimetype": "text/x-gas", "file_extension": ".S",
                     "codemirror_mode": "gas", "pygments_lexer": "gas"}
    banner = ("x86 (vlab): cells are guest assembly run on a Lab; %strategy, %step N, %regs, "
              "%trace, %diagram, %widget, %run, %reset, %help; %%python for Python")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.vlab = Session()
        self.shell.user_ns["__vlab_session"] = self.vlab
        self.shell.user_ns["__vlab_error"] = CellError

    async def do_execute(self, code, silent, *args, **kwargs):
        return await super().do_execute(translate(code), silent, *args, **kwargs)

    def _labels(self) -> set[str]:
        lab = self.vlab.lab
        return set(lab.image.symbols) if lab is not None and lab.image is not None else set()

    def do_complete(self, code, cursor_pos):
        if code.lstrip().startswith("%%python"):
            return super().do_complete(code, cursor_pos)
        cursor_pos = len(code) if cursor_pos is None else cursor_pos
        start, end, matches = complete(code, cursor_pos, self._labels())
        return {"status": "ok", "matches": matches, "cursor_start": start, "cursor_end": end,
                "metadata": {}}

    def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        if code.lstrip().startswith("%%python"):
            return super().do_inspect(code, cursor_pos, detail_level, omit_sections)
        word = token_at(code, cursor_pos)
        line_start = code.rfind("\n", 0, cursor_pos) + 1
        line_end = code.find("\n", cursor_pos)
        line = code[line_start:line_end if line_end != -1 else len(code)].strip()
        from ..lab import Lab

        text = Lab.explain(word, line) if word else None
        if text is None and word in self._labels() | words(code):
            text = tr("{word}: a label of the program").format(word=word)
        if text is None:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "metadata": {},
                "data": {"text/plain": text, "text/html": f"<pre>{html.escape(text)}</pre>"}}

    def do_is_complete(self, code):
        if code.lstrip().startswith("%%python"):
            return super().do_is_complete(code.split("\n", 1)[1] if "\n" in code else "")
        opened = len(re.findall(r"^\s*\.macro\b", code, re.M))
        closed = len(re.findall(r"^\s*\.endm\b", code, re.M))
        if opened > closed or code.rstrip().endswith("\\"):
            return {"status": "incomplete", "indent": "    "}
        return {"status": "complete"}


def kernel_json() -> dict:
    return {"argv": [sys.executable, "-m", "vlab.ui.kernel", "-f", "{connection_file}"],
            "display_name": "x86 (vlab)", "language": "gas",
            "metadata": {"debugger": False}}


def install(user: bool = False, prefix: str | None = None) -> str:
    """Install the kernelspec; returns where."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "kernel.json"), "w") as f:
            json.dump(kernel_json(), f, indent=1)
        return KernelSpecManager().install_kernel_spec(tmp, "vlab", user=user, prefix=prefix)


def main(argv: list[str]) -> None:
    if argv[:1] == ["install"]:
        user = "--user" in argv
        prefix = sys.prefix if "--sys-prefix" in argv else None
        print(f"installed the x86 (vlab) kernel in {install(user=user, prefix=prefix)}")
        return
    from ipykernel.kernelapp import IPKernelApp

    IPKernelApp.launch_instance(kernel_class=VlabKernel)


if __name__ == "__main__":
    main(sys.argv[1:])
