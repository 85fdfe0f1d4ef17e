"""The guest programs: the teaching kernel and the demo guests, as commented ``.S`` sources.

Each is assembled on first use with GNU as (see :func:`vlab.isa.assemble`) and cached, so a fresh
install needs no manual build step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vlab.errors import VlabError
from vlab.isa import Image, assemble

HERE = Path(__file__).parent
DISK_SECTORS = 128  # the disk workload's disk: 64 KiB


@dataclass(frozen=True)
class GuestInfo:
    """A guest known to vlab: its name, source file and one-line description."""

    name: str
    source: Path
    description: str
    defines: tuple[tuple[str, int], ...] = ()
    #: sectors of the disk the guest expects on the ATA channel (0: none); a Lab gives it one
    #: filled with :func:`vlab.hw.disk.pattern` unless told otherwise
    disk: int = 0


def _describe(path: Path) -> str:
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("#") and len(line) > 2:
            return line.lstrip("# ").rstrip(".")
    return ""


def catalog() -> dict[str, GuestInfo]:
    """All guests by name: ``kernel``, ``demo-<instruction>`` ..., ``compute``, ``smc``,
    ``nano-<benchmark>`` (and ``nano-<benchmark>-pv``)."""
    kernel = HERE / "kernel" / "kernel.S"
    guests = {
        "kernel": GuestInfo("kernel", kernel,
                            "the teaching kernel: rings, IDT, timer, syscalls, a user task"),
        "kernel-pv": GuestInfo("kernel-pv", kernel, "the same kernel, paravirtualized: "
                               "hypercalls instead of privileged instructions", (("PV", 1),)),
        "kernel-pv-nobatch": GuestInfo("kernel-pv-nobatch", kernel, "kernel-pv without "
                                       "multicall batching", (("PV", 1), ("PV_NOBATCH", 1))),
        "paging": GuestInfo("paging", HERE / "kernel" / "paging.S",
                            "the paging kernel: page tables, two address spaces, demand-zero "
                            "faults, INVLPG, a fork-like loop"),
        "paging-pv": GuestInfo("paging-pv", HERE / "kernel" / "paging.S",
                               "the paging kernel, paravirtualized: page-table updates are "
                               "validated hypercalls (mmu_update, mmuext_op)", (("PV", 1),)),
        "forkwait": GuestInfo("forkwait", HERE / "kernel" / "paging.S",
                              "the page-table workload alone: 200 address spaces created, "
                              "entered and destroyed", (("FORKWAIT", 1),)),
        "forkwait-pv": GuestInfo("forkwait-pv", HERE / "kernel" / "paging.S",
                                 "forkwait, paravirtualized", (("PV", 1), ("FORKWAIT", 1))),
    }
    disk = HERE / "kernel" / "disk.S"
    guests["disk"] = GuestInfo("disk", disk, "the disk workload: an ATA PIO driver with interrupt-"
                               "driven completion writes 16 KiB and reads it back",
                               disk=DISK_SECTORS)
    guests["disk-pv"] = GuestInfo("disk-pv", disk, "the disk workload, paravirtualized: a virtio-"
                                  "style ring set up by hypercall, one event_channel_op "
                                  "notification per batch, an event per completed batch",
                                  (("PV", 1),), disk=DISK_SECTORS)
    guests["disk-pvhvm"] = GuestInfo("disk-pvhvm", disk, "the unmodified disk kernel with the "
                                     "paravirtual driver: the ring through I/O ports, one OUT per "
                                     "batch, IRQ 11 per completed batch", (("BLKRING", 1),),
                                     disk=DISK_SECTORS)
    for path in sorted((HERE / "demos").glob("*.S")):  # one per sensitive instruction
        guests[f"demo-{path.stem}"] = GuestInfo(f"demo-{path.stem}", path, _describe(path))
    for path in sorted((HERE / "programs").glob("*.S")):  # compute, smc ...
        guests[path.stem] = GuestInfo(path.stem, path, _describe(path))
    guests["syscalls-pv"] = GuestInfo("syscalls-pv", HERE / "programs" / "syscalls.S",
                                      "syscalls, paravirtualized (trap table, iret hypercall)",
                                      (("PV", 1),))
    # the nanobenchmarks of Adams & Agesen 2006 (vlab/nanobench.py), each with a paravirtual
    # build unless its header says "paravirt: n/a"
    for path in sorted((HERE / "nanobench").glob("*.S")):
        name = f"nano-{path.stem}"
        guests[name] = GuestInfo(name, path, _describe(path))
        if "# paravirt: n/a" not in path.read_text():
            guests[f"{name}-pv"] = GuestInfo(f"{name}-pv", path, _describe(path) +
                                             ", paravirtualized", (("PV", 1),))
    return guests


def source(name: str) -> str:
    """The assembly source of a guest."""
    return info(name).source.read_text()


def info(name: str) -> GuestInfo:
    guests = catalog()
    if name not in guests:
        raise VlabError(f"unknown guest {name!r}; known guests: {', '.join(guests)}")
    return guests[name]


def build_for(name: str, strategy: str) -> str:
    """The build of a guest a strategy needs: paravirt runs ``<name>-pv``, the others the
    unmodified ``<name>`` (a guest without a paravirtual build is returned as is)."""
    guests = catalog()
    if strategy == "paravirt" and not name.endswith("-pv") and f"{name}-pv" in guests:
        return f"{name}-pv"
    if strategy != "paravirt" and name.endswith("-pv") and name[:-3] in guests:
        return name[:-3]
    return name


#: the symbols that choose between builds of one source
_BUILD_SYMBOLS = ("PV", "PV_NOBATCH", "BLKRING")


def effective_source(name: str) -> list[str]:
    """A guest's source as its assembler sees it: includes of the guest's own library inlined
    and ``.ifdef``/``.ifndef`` blocks on its build symbols resolved (for diffs between builds;
    a build symbol a source ``.set``s in a block that is kept counts as defined from there)."""
    g = info(name)
    defined = {k for k, _ in g.defines}
    out: list[str] = []
    stack: list[bool | None] = []  # per open conditional: a build symbol's (on?), else None

    def emit(text: str) -> None:
        for line in text.splitlines():
            stripped = line.strip()
            words = stripped.split()
            word = words[0] if words else ""
            if word in (".ifdef", ".ifndef") and words[1] in _BUILD_SYMBOLS:
                stack.append((words[1] in defined) == (word == ".ifdef"))
                continue
            if word.startswith(".if"):  # any other conditional is the assembler's: kept
                stack.append(None)
            elif word == ".else" and stack and stack[-1] is not None:
                stack[-1] = not stack[-1]
                continue
            elif word == ".endif" and stack:
                if stack.pop() is not None:
                    continue
            if all(on is not False for on in stack):
                if word == ".set" and words[1].rstrip(",") in _BUILD_SYMBOLS:
                    defined.add(words[1].rstrip(","))
                if word == ".include" and ('"lib.inc"' in stripped or '"kernel.inc"' in stripped):
                    emit((HERE / "include" / stripped.split('"')[1]).read_text())
                else:
                    out.append(line)

    emit(g.source.read_text())
    return out


def diff(a: str, b: str) -> str:
    """Unified diff of two guests' effective sources: e.g. what paravirtualization changed."""
    import difflib

    return "".join(difflib.unified_diff([x + "\n" for x in effective_source(a)],
                                        [x + "\n" for x in effective_source(b)],
                                        fromfile=a, tofile=b, n=2))


_IMAGES: dict[str, Image] = {}


def build(name: str) -> Image:
    """The assembled image of a guest (built once per process, cached on disk)."""
    if name not in _IMAGES:
        g = info(name)
        _IMAGES[name] = assemble(g.source.read_text(), name, defines=dict(g.defines),
                                 include_dirs=[g.source.parent])
    return _IMAGES[name]
