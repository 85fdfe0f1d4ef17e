"""The guest programs: the teaching kernel and the demo guests, as commented ``.S`` sources.

Each is assembled on first use with GNU as (see :func:`vlab.isa.assemble`) and cached, so a fresh
install needs no manual build step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import VlabError
from ..isa import Image, assemble

HERE = Path(__file__).parent


@dataclass(frozen=True)
class GuestInfo:
    """A guest known to vlab: its name, source file and one-line description."""

    name: str
    source: Path
    description: str
    defines: tuple[tuple[str, int], ...] = ()


def _describe(path: Path) -> str:
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#") and len(line) > 2:
            return line.lstrip("# ").rstrip(".")
    return ""


def catalog() -> dict[str, GuestInfo]:
    """All guests by name: ``kernel``, ``demo-<instruction>`` ..., ``compute``, ``smc``."""
    guests = {"kernel": GuestInfo("kernel", HERE / "kernel" / "kernel.S",
                                  "the teaching kernel: rings, IDT, timer, syscalls, a user task")}
    for path in sorted((HERE / "demos").glob("*.S")):  # one per sensitive instruction
        guests[f"demo-{path.stem}"] = GuestInfo(f"demo-{path.stem}", path, _describe(path))
    for path in sorted((HERE / "programs").glob("*.S")):  # compute, smc ...
        guests[path.stem] = GuestInfo(path.stem, path, _describe(path))
    return guests


def source(name: str) -> str:
    """The assembly source of a guest."""
    return info(name).source.read_text()


def info(name: str) -> GuestInfo:
    guests = catalog()
    if name not in guests:
        raise VlabError(f"unknown guest {name!r}; known guests: {', '.join(guests)}")
    return guests[name]


_IMAGES: dict[str, Image] = {}


def build(name: str) -> Image:
    """The assembled image of a guest (built once per process, cached on disk)."""
    if name not in _IMAGES:
        g = info(name)
        _IMAGES[name] = assemble(g.source.read_text(), name, defines=dict(g.defines),
                                 include_dirs=[g.source.parent])
    return _IMAGES[name]
