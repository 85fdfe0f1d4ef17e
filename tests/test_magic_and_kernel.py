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

    def display(*objs, **kw):  # what was shown: its HTML (every output also has text/plain)
        for o in objs:
            if isinstance(o, dict):
                assert o["text/plain"].strip()
                shown.append(type("Shown", (), {"data": o["text/html"]}))
            else:
                shown.append(o)
    monkeypatch.setattr("IPython.display.display", display)
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
    ip, _ = shell
    result = ip.run_cell("%%asm --strategy paravirt\n" + PROGRAM)
    assert "not paravirtualized" in str(result.error_in_exec)


def test_asm_assembly_error_names_the_line_and_fails_the_cell(shell):
    from vlab.ui.magic import CellError

    ip, shown = shell
    result = ip.run_cell("%%asm\n    nop\n    frobnicate eax\n")
    assert isinstance(result.error_in_exec, CellError)  # Run All stops here
    assert "line 2" in str(result.error_in_exec) and "frobnicate" in str(result.error_in_exec)
    text = shown[-1].data
    assert "assembly error" in text and "line 2" in text and "frobnicate" in text


def test_asm_takes_nasm_comments(shell):
    ip, _ = shell
    result = ip.run_cell('%%asm\n    mov eax, 7   ; a NASM comment\n    PRINT "a;b\\n" ; more\n'
                         "; a whole line\n")
    assert result.error_in_exec is None
    assert ip.user_ns["_asm_lab"].console == "a;b\n"


def test_asm_undefined_label_names_its_line_and_no_temp_path(shell):
    ip, _ = shell
    result = ip.run_cell("%%asm\n    nop\n    jmp nowhere\n")
    message = str(result.error_in_exec)
    assert "line 2: undefined label 'nowhere'" in message
    assert "/tmp" not in message and "vlab-as-" not in message and ".o:" not in message


def test_asm_guest_error_fails_the_cell(shell):
    ip, shown = shell
    result = ip.run_cell("%%asm\n    ud2\n")
    assert "InvalidOpcode" in str(result.error_in_exec)
    assert "ud2" in shown[-1].data  # the report is still shown
    assert ip.run_cell("%%asm --strategy nowhere\n nop\n").error_in_exec is not None


def test_nbclient_stops_at_a_failing_asm_cell(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%load_ext vlab"),
                nbformat.v4.new_code_cell("%%asm\n    frobnicate eax\n"),
                nbformat.v4.new_code_cell("reached = True")]
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT)}})
    with pytest.raises(CellExecutionError, match="frobnicate"):
        client.execute()
    assert nb.cells[1].outputs[-1]["output_type"] == "error"
    assert nb.cells[2].get("execution_count") is None  # never ran


@pytest.fixture(scope="module")
def vlab_kernel(tmp_path_factory):
    """The installed x86 (vlab) kernel, started through jupyter_client."""
    from jupyter_client.manager import start_new_kernel

    from vlab.ui import kernel

    prefix = tmp_path_factory.mktemp("kernel")
    where = kernel.install(prefix=str(prefix))
    assert Path(where, "kernel.json").exists()
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "PYTHONPATH")}
    os.environ["JUPYTER_PATH"] = str(prefix / "share" / "jupyter")
    os.environ["PYTHONPATH"] = str(ROOT)
    km, kc = start_new_kernel(kernel_name="vlab")
    try:
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _execute(kc, code, timeout=60):
    """(reply content, outputs): every output as its text/plain and text/html, or the error."""
    out = []

    def hook(msg):
        if msg["msg_type"] in ("display_data", "execute_result", "stream", "error"):
            out.append(msg["content"])
    reply = kc.execute_interactive(code, output_hook=hook, timeout=timeout)
    return reply["content"], out


def _text(outputs) -> str:
    return "\n".join(o.get("data", {}).get("text/html") or o.get("text")
                     or "\n".join(o.get("traceback", [])) for o in outputs)


def test_vlab_kernel_runs_assembly_and_magics(vlab_kernel):
    _, kc = vlab_kernel

    def run(code):
        reply, out = _execute(kc, code)
        assert reply["status"] == "ok", out
        for o in out:  # a text front end gets text: every rich output has a text/plain twin
            if o.get("data"):
                assert o["data"].get("text/plain", "").strip(), o
        return _text(out)

    assert "hello from a cell" in run(PROGRAM)
    assert "trap_emulate" in run("%strategy trap_emulate")
    traced = run("%run\n%trace")
    assert "CR_ACCESS" in traced and "handle_mov_cr" in traced
    assert "<svg" in run("%diagram") or "digraph" in run("%diagram")
    assert "halted" in run("%%python\nprint(lab.status)")
    both = run("%strategy binary_translation\n    mov eax, cr0\n    PRINT \"both\\n\"\n")
    assert "binary_translation" in both and "both" in both  # a magic line, then assembly
    assert "%strategy" in run("%help")
    assert "42" in run("%%python\nprint(6 * 7)")


def test_vlab_kernel_errors_are_jupyter_errors(vlab_kernel):
    """Assembly errors, guest errors and unknown magics reply with status error (so Run All,
    nbclient and papermill stop), and the kernel stays usable."""
    _, kc = vlab_kernel
    for code, ename, words in [
            ("    nop\n    frobnicate eax\n", "CellError", ["line 2", "frobnicate"]),
            ("    ud2\n", "CellError", ["InvalidOpcode"]),
            ("%frobnicate", "CellError", ["unknown magic %frobnicate", "%strategy"]),
            ("%strategy bogus", "CellError", ["unknown strategy 'bogus'"])]:
        reply, out = _execute(kc, code)
        assert reply["status"] == "error" and reply["ename"] == ename, (code, reply)
        assert all(w in reply["evalue"] for w in words), reply["evalue"]
        assert any(o.get("ename") == ename for o in out)
    reply, _ = _execute(kc, "    nop\n")
    assert reply["status"] == "ok"
    reply, _ = _execute(kc, "%step 1")
    assert reply["status"] == "error" and "has halted" in reply["evalue"]


def test_vlab_kernel_completes_mnemonics_registers_labels_magics(vlab_kernel):
    _, kc = vlab_kernel

    def matches(code, pos=None):
        kc.complete(code, len(code) if pos is None else pos)
        reply = kc.get_shell_msg(timeout=30)["content"]
        assert reply["status"] == "ok"
        return reply["matches"], reply["cursor_start"]

    found, start = matches("    mov e")
    assert {"eax", "ebx", "esp"} <= set(found) and start == len("    mov ")
    assert {"popf", "popfd"} <= set(matches("    pop")[0])
    assert "%strategy" in matches("%str")[0] and "%store" not in matches("%st")[0]
    assert set(matches("%strategy b")[0]) == {"binary_translation"}
    assert "loop_top" in matches("loop_top:\n    jmp loo")[0]


def test_vlab_kernel_inspect_explains_an_instruction_per_strategy(vlab_kernel):
    _, kc = vlab_kernel
    kc.inspect("    popf\n", 6)
    reply = kc.get_shell_msg(timeout=30)["content"]
    assert reply["status"] == "ok" and reply["found"]
    text = reply["data"]["text/plain"]
    assert "sensitive" in text and "does NOT trap" in text and "hole" in text
    assert "inline POPF" in text  # binary translation: emulated inline by the translated code
    kc.inspect("    cpuid\n", 6)
    text = kc.get_shell_msg(timeout=30)["content"]["data"]["text/plain"]
    assert "VM exit 10 CPUID always" in text
    kc.inspect("    add eax, 1\n", 5)
    assert "runs as it is" in kc.get_shell_msg(timeout=30)["content"]["data"]["text/plain"]


def test_vlab_kernel_is_complete(vlab_kernel):
    _, kc = vlab_kernel
    for code, status in [("mov eax, 1", "complete"), (".macro twice x\n    \\x\n", "incomplete"),
                         ("%%python\nfor i in range(3):", "incomplete")]:
        kc.is_complete(code)
        assert kc.get_shell_msg(timeout=30)["content"]["status"] == status, code


def test_vlab_kernel_interrupt_stops_a_running_guest(vlab_kernel):
    """A runaway guest with no budget: an interrupt stops it within a second, and the lab can
    go on."""
    import time

    km, kc = vlab_kernel
    _execute(kc, "    nop\n")
    msg_id = kc.execute("%%python\nfrom vlab.lab import Lab\nfrom vlab.isa import assemble\n"
                        "spin = Lab(image=assemble('.globl _start\\n_start: jmp _start\\n'), "
                        "budget=None)\nspin.run()", stop_on_error=False)  # (no abort of the next)
    time.sleep(2)
    t0 = time.monotonic()
    km.interrupt_kernel()
    while True:
        msg = kc.get_shell_msg(timeout=10)
        if msg["parent_header"].get("msg_id") == msg_id:
            break
    assert time.monotonic() - t0 < 1.0
    assert msg["content"]["status"] == "error" and msg["content"]["ename"] == "KeyboardInterrupt"
    reply, out = _execute(kc, "%%python\nspin.run(max_instructions=1000)\nprint(spin.status)")
    assert reply["status"] == "ok" and "running" in _text(out)


def test_kernel_cell_translation():
    from vlab.ui.kernel import translate

    assert translate("%strategy vtx\n%step 10") == \
        "__vlab_session.strategy('vtx')\n__vlab_session.step('10')"
    assert translate("%%python\nx = 1") == "x = 1"
    assert translate("mov eax, 1").startswith("__vlab_session.run_source(")
    assert translate("%strategy vtx\nmov eax, 1") == \
        "__vlab_session.strategy('vtx')\n__vlab_session.run_source('mov eax, 1')"
    assert translate("%bogus").startswith("raise __vlab_error(")


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


def test_an_asm_report_is_a_left_aligned_block_with_the_widgets_status_words():
    """%%asm's report (and the kernel's): the status a student sees in the widget (ready,
    paused, halted), never "running" for a guest that is not; styled left-aligned inline, since
    JupyterLab centres a bare table in an output."""
    from vlab.lab import Lab
    from vlab.ui.magic import report_html

    lab = Lab("kernel", "trap_emulate")
    assert "ready (not started" in report_html(lab)
    lab.run(max_instructions=50)
    paused = report_html(lab)
    assert "paused (" in paused and "running" not in paused
    lab.run()
    done = report_html(lab)
    assert "halted (exit code 0" in done and "text-align:left" in done
    assert "<table style='margin:0'>" in done and "<th style='text-align:left" in done
