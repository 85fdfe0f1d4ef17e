"""The "x86 (vlab)" Jupyter kernel: cells are guest assembly, run on a Lab.

Built on ipykernel, so widgets, rich output and Python still work: each cell is translated into a
Python call on a :class:`Session` in the kernel's IPython shell.

* a cell of assembly: assembled and run under the current strategy (console and trap log shown);
* line magics: ``%strategy vtx``, ``%step 10``, ``%regs``, ``%trace``, ``%diagram``, ``%widget``,
  ``%run`` (continue), ``%reset``;
* ``%%python``: the rest of the cell is plain Python (``lab`` is the current Lab).

Install the kernelspec: ``python -m vlab.ui.kernel install [--user | --sys-prefix]`` (the README's
set-up command does it).
"""

from __future__ import annotations

import html
import json
import os
import sys
import tempfile

from ipykernel.ipkernel import IPythonKernel

MAGICS = ("strategy", "step", "regs", "trace", "diagram", "widget", "run", "reset")


class Session:
    """What the kernel's cells act on: one Lab, the current strategy."""

    def __init__(self) -> None:
        self.strategy_name = "native"
        self.lab = None

    def _show(self, markup: str) -> None:
        from IPython.display import HTML, display

        display(HTML(markup))

    def run_source(self, source: str) -> None:
        from ..errors import AssemblyError, VlabError
        from .magic import error_html, report_html, run_cell

        try:
            self.lab = run_cell(source, self.strategy_name)
        except AssemblyError as e:
            self._show(error_html(e))
            return
        except VlabError as e:
            self._show(f"<div style='color:#b00'>{html.escape(str(e))}</div>")
            return
        self._publish()
        self._show(report_html(self.lab))

    def _publish(self) -> None:
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            ip.user_ns["lab"] = self.lab

    def _need_lab(self) -> bool:
        if self.lab is None:
            self._show("<i>no program yet: run a cell of assembly first</i>")
            return False
        return True

    def strategy(self, name: str = "") -> None:
        from ..lab import Lab

        known = ", ".join(Lab.available_strategies())
        if not name:
            self._show(f"strategy: <b>{self.strategy_name}</b> (of {known})")
            return
        if name not in Lab.available_strategies():
            self._show(f"<div style='color:#b00'>unknown strategy {html.escape(name)!r}; "
                       f"known: {known}</div>")
            return
        self.strategy_name = name
        if self.lab is not None:
            self.lab.switch(name)
            self._publish()
        self._show(f"strategy: <b>{html.escape(name)}</b>")

    def step(self, count: str = "1") -> None:
        from ..errors import VlabError

        if not self._need_lab():
            return
        try:
            for _ in range(max(1, int(count or 1))):
                self.lab.step()
        except (VlabError, ValueError) as e:
            self._show(f"<div style='color:#b00'>{html.escape(str(e))}</div>")
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

        if not self._need_lab():
            return
        try:
            self.lab.run()
        except VlabError:
            pass
        self._show(report_html(self.lab))

    def reset(self, _: str = "") -> None:
        if self._need_lab():
            self.lab.reset()
            self._show("reset")


def translate(code: str) -> str:
    """A vlab cell as the Python the IPython shell runs."""
    stripped = code.strip()
    if stripped.startswith("%%python"):
        return code.split("\n", 1)[1] if "\n" in code else ""
    lines = [x.strip() for x in stripped.splitlines() if x.strip()]
    if lines and all(x.startswith("%") and x[1:].split()[0] in MAGICS for x in lines):
        calls = []
        for x in lines:
            name, _, arg = x[1:].partition(" ")
            calls.append(f"__vlab_session.{name}({arg.strip()!r})")
        return "\n".join(calls)
    return f"__vlab_session.run_source({code!r})"


class VlabKernel(IPythonKernel):
    implementation = "vlab"
    implementation_version = "0.1"
    language_info = {"name": "gas", "mimetype": "text/x-gas", "file_extension": ".S",
                     "codemirror_mode": "gas", "pygments_lexer": "gas"}
    banner = ("x86 (vlab): cells are guest assembly run on a Lab; %strategy, %step N, %regs, "
              "%trace, %diagram, %widget, %run, %reset; %%python for Python")

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.shell.user_ns["__vlab_session"] = Session()

    async def do_execute(self, code, silent, *args, **kwargs):
        return await super().do_execute(translate(code), silent, *args, **kwargs)


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
