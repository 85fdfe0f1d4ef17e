"""Old module names, kept importable for notebooks written against vlab 0.1.

vlab 0.2 rebuilt the package by layer (``vlab.hw``, ``vlab.monitor``, ``vlab.strategies``,
``vlab.ui``); a student's saved notebook that still says ``from vlab.trace import ExitReason``
gets the module at its new place. New code should import the new names (ARCHITECTURE.md).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

MOVED = {
    "vlab.trace": "vlab.monitor.trace",
    "vlab.vcpu": "vlab.monitor.vcpu",
    "vlab.handlers": "vlab.monitor.handlers",
    "vlab.qualification": "vlab.monitor.qualification",
    "vlab.machine": "vlab.hw.machine",
    "vlab.engine": "vlab.hw.core",
    "vlab.delivery": "vlab.hw.delivery",
    "vlab.devices": "vlab.hw.devices",
    "vlab.vmx": "vlab.hw.vmcs",
    "vlab.translator": "vlab.monitor.translator",
    "vlab.paging": "vlab.hw.paging",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old name with the module at its new place (the same module object)."""

    def find_spec(self, name, path=None, target=None):
        if name in MOVED:
            return importlib.util.spec_from_loader(name, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module) -> None:
        """Nothing to run: the module was executed under its new name."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _MovedModules) for f in sys.meta_path):
        sys.meta_path.append(_MovedModules())
