"""Memory per user, for sizing a JupyterHub: what a Python process, vlab, one Lab and a running
kernel with a lab and its widget cost (resident set size, from /proc).

    python benchmarks/bench_footprint.py [--short]

Prints, in MiB: the interpreter alone; after importing vlab and its UI; per Lab (the teaching
kernel run to its end, ten of them); one Lab after runs under three strategies; and the resident
size of a real Jupyter kernel process (started with jupyter_client) at start and after a cell
that runs a Lab and builds its widget, for the x86 (vlab) kernel and for python3 with vlab.
docs/deploying.md quotes these figures. (``--short`` is the same run: it takes a few seconds.)
"""

from __future__ import annotations

import argparse
import os

from benchlib import parse_args


def rss(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parse_args(argparse.ArgumentParser(description=__doc__), {}, {})
    base = rss()
    import ipywidgets  # noqa: F401

    import vlab.ui  # noqa: F401
    from vlab.lab import Lab

    imported = rss()
    labs = []
    for _ in range(10):
        lab = Lab("kernel")
        lab.run()
        labs.append(lab)
    per_lab = (rss() - imported) / 10
    before = rss()
    lab = Lab("kernel", "binary_translation")
    lab.run()
    for strategy in ("vtx", "trap_emulate"):
        lab.switch(strategy)
        lab.run()
    three = rss() - before
    print(f"python alone              {base:6.0f} MiB")
    print(f"+ vlab and its UI         {imported - base:6.0f} MiB  (process {imported:.0f} MiB)")
    print(f"per Lab (kernel, run)     {per_lab:6.1f} MiB")
    print(f"one Lab, three strategies {three:6.1f} MiB")

    from jupyter_client.manager import start_new_kernel

    cells = {"vlab": '    PRINT "x\\n"\n',
             "python3": "%load_ext vlab\nfrom vlab.lab import Lab\nlab = Lab('kernel')\n"
                        "lab.run()\nw = lab.widget()"}
    for name, cell in cells.items():
        km, kc = start_new_kernel(kernel_name=name)
        try:
            pid = km.provisioner.process.pid
            start = rss(pid)
            kc.execute_interactive(cell, timeout=120, output_hook=lambda msg: None)
            print(f"kernel {name:8}          {start:6.0f} MiB at start, {rss(pid):.0f} MiB after a "
                  "lab")
        finally:
            kc.stop_channels()
            km.shutdown_kernel(now=True)


if __name__ == "__main__":
    main()
