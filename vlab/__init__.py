"""vlab: a Jupyter-native lab for teaching x86 virtualization.

``Lab`` is the entry point; see the README and ARCHITECTURE.md for the architecture.
"""

from __future__ import annotations

__version__ = "0.2.0"

from vlab import _compat

_compat.install()

from vlab.i18n import language, set_language, tr  # noqa: E402 (stdlib only: import stays fast)

__all__ = ["Lab", "Machine", "ExitReason", "Exit", "HandlerTable", "__version__",
           "set_language", "language", "tr"]


def load_ipython_extension(ipython) -> None:
    """``%load_ext vlab``: the ``%%asm`` cell magic."""
    from vlab.ui.magic import load_ipython_extension as load

    load(ipython)


def __getattr__(name: str):
    # Lazy: `import vlab` stays fast; Unicorn and Capstone load on first use.
    if name == "Lab":
        from vlab.lab import Lab
        return Lab
    if name == "Machine":
        from vlab.hw.machine import Machine
        return Machine
    if name in ("ExitReason", "Exit"):
        from vlab.monitor import trace
        return getattr(trace, name)
    if name == "HandlerTable":
        from vlab.monitor.handlers import HandlerTable
        return HandlerTable
    raise AttributeError(f"module 'vlab' has no attribute {name!r}")
