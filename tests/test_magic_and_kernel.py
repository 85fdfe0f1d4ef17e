"""Assembly in cells: the %%asm magic through IPython, the x86 (vlab) kernel through
jupyter_client, and the Binder configuration's formats."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PROGRAM = """\
    mov eax, cr0
    PRINT "hello from a cell\\n"
"""


@pytest.fixture
def shell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: shown.extend(objs))
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "vlab")
    yield ip, shown
    InteractiveShell.clear_instance()


@pytest.mark.parametrize("strategy", ["native", "trap_emulate", "binary_translation", "vtx"])
def test_asm_magic_under_every_strategy(shell, strategy):
    ip, shown = shell
    ip.run_cell_magic("asm", f"--strategy {strategy}", PROGRAM)
    lab = ip.user_ns["_asm_lab"]
    assert lab.console == "hello from a cell\n" and lab.status == "halted"
    assert lab.strategy_name == strategy
    html = shown[-1].data
    assert "hello from a cell" in html and strategy in html
    if strategy != "native":
        assert "CR_ACCESS" in html or "IO_INSTRUCTION" in html  # the trap log


def test_asm_magic_under_paravirt_explains(shell):
    ip, shown = shell
    ip.run_cell_magic("asm", "--strategy paravirt", PROGRAM)
    assert "not paravirtualized" in shown[-1].data


def test_asm_assembly_error_names_the_line(shell):
    ip, shown = shell
    ip.run_cell_magic("asm", "", "    nop\n    frobnicate eax\n")
    text = shown[-1].data
    assert "assembly error" in text and "line 2" in text and "frobnicate" in text


def test_vlab_kernel_runs_assembly_and_magics(tmp_path, monkeypatch):
    from jupyter_client.manager import start_new_kernel

    from vlab.ui import kernel

    where = kernel.install(prefix=str(tmp_path))
    assert Path(where, "kernel.json").exists()
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "share" / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    km, kc = start_new_kernel(kernel_name="vlab")
    try:
        def run(code):
            out = []

            def hook(msg):
                if msg["msg_type"] in ("display_data", "execute_result", "stream", "error"):
                    content = msg["content"]
                    out.append(content.get("data", {}).get("text/html") or content.get("text")
                               or "\n".join(content.get("traceback", [])))
            reply = kc.execute_interactive(code, output_hook=hook, timeout=60)
            assert reply["content"]["status"] == "ok", out
            return "\n".join(x for x in out if x)

        assert "hello from a cell" in run(PROGRAM)
        assert "trap_emulate" in run("%strategy trap_emulate")
        traced = run("%run\n%trace")
        assert "CR_ACCESS" in traced and "handle_mov_cr" in traced
        assert re.search(r"EIP", run("%step 3"))
        assert "<svg" in run("%diagram") or "digraph" in run("%diagram")
        assert "halted" in run("%%python\nprint(lab.status)")
        faulting = run("    ud2\n")  # a guest that faults: the kernel reports it and stays usable
        assert "InvalidOpcode" in faulting
        assert "42" in run("%%python\nprint(6 * 7)")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_kernel_cell_translation():
    from vlab.ui.kernel import translate

    assert translate("%strategy vtx\n%step 10") == \
        "__vlab_session.strategy('vtx')\n__vlab_session.step('10')"
    assert translate("%%python\nx = 1") == "x = 1"
    assert translate("mov eax, 1").startswith("__vlab_session.run_source(")


def test_binder_files():
    b = ROOT / "binder"
    apt = b.joinpath("apt.txt").read_text().split()
    assert "graphviz" in apt and "binutils" in apt
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]*", p) for p in apt)
    for line in b.joinpath("requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            from packaging.requirements import Requirement

            Requirement(line)  # raises on a malformed line
    assert re.fullmatch(r"python-3\.\d+\n", b.joinpath("runtime.txt").read_text())
    post = b / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/bin/bash")
    assert "set -e" in post.read_text() and "vlab.ui.kernel install" in post.read_text()
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"https://mybinder\.org/v2/gh/[^/\s]+/vlab/HEAD\?urlpath=lab/tree/notebooks/"
                     r"00-start-here\.ipynb", readme)
