"""A mini hypervisor as a guest program (hv.S, in the spirit of SimpleVisor): it turns VMX on,
builds a VMCS with EPT and unrestricted guest, and runs an unmodified guest (by default the
teaching kernel) as its one VMX guest, handling CPUID, HLT, serial-port I/O, CR and VMCALL exits.

:func:`bundle` makes one flat image at 1 MiB: the guest at its origin, zeros up to
:data:`HV_BASE`, the hypervisor there; the image starts at the hypervisor's ``_start``, which
launches the guest at the guest's own entry in the machine's boot state.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from vlab.errors import VlabError
from vlab.isa import Image, assemble

HERE = Path(__file__).parent
HV_BASE = 0x180000  # the hypervisor's origin: above the guest image, below paging.S's frame pool
HV_END = 0x200000  # everything the hypervisor owns (VMCS, EPT tables, stack) lies below this
ORIGIN = 0x100000  # the bundle's origin: the guest's


def source() -> str:
    """The hypervisor's assembly source."""
    return (HERE / "hv.S").read_text()


def build(guest_entry: int = ORIGIN, *, stats: bool = False, defines: dict | None = None,
          assembler: Callable[..., Image] = assemble) -> Image:
    """The hypervisor alone, assembled at :data:`HV_BASE`, launching its guest at
    ``guest_entry``. ``stats``: also trap the exit port and print the exit counts there.
    ``defines``: more build symbols (hv.S's ``.ifdef``s: ``TRAP_EXIT_PORT``, ``ENTRY_BUG``,
    ``HANDLERS``); ``assembler``: what assembles it (vlab.isa.assemble's signature; the grader
    of exercise 11 passes one that works in its sandbox)."""
    defines = {"GUEST_ENTRY": guest_entry, **(defines or {})}
    if stats:
        defines["HV_STATS"] = 1
    hv = assembler(source(), "hypervisor", origin=HV_BASE, defines=defines, include_dirs=[HERE])
    end = max(hv.symbols.get("_end", 0), HV_BASE + len(hv.code))
    if end > HV_END:
        raise VlabError(f"the hypervisor ends at {end:#x}, past {HV_END:#x}")
    return hv


def bundle(guest: Image | None = None, *, stats: bool = False, defines: dict | None = None,
           assembler: Callable[..., Image] = assemble) -> Image:
    """One image: ``guest`` (default: the teaching kernel) at 0x100000, the hypervisor at
    :data:`HV_BASE`, entry the hypervisor's ``_start``. Symbols: the hypervisor's, and the
    guest's prefixed ``guest.``. ``stats``, ``defines``, ``assembler``: see :func:`build`."""
    if guest is None:
        from vlab import guests

        guest = guests.build("kernel")
    if guest.origin != ORIGIN:
        raise VlabError(f"{guest.name}: origin {guest.origin:#x}; the bundle's guest loads at "
                        f"{ORIGIN:#x}")
    end = max(guest.origin + len(guest.code), guest.symbols.get("_end", 0))
    if end > HV_BASE:
        raise VlabError(f"{guest.name} ends at {end:#x}, inside the hypervisor ({HV_BASE:#x})")
    hv = build(guest.entry, stats=stats, defines=defines, assembler=assembler)
    code = guest.code + bytes(HV_BASE - ORIGIN - len(guest.code)) + hv.code
    # (the guest's first: where a hypervisor constant has the same value, e.g. GUEST_ENTRY, the
    # guest's label names the address)
    symbols = {f"guest.{name}": address for name, address in guest.symbols.items()}
    symbols.update(hv.symbols)
    if "_start" not in hv.symbols:
        raise VlabError("the hypervisor has no _start")
    return Image(f"hypervisor+{guest.name}", code, ORIGIN, symbols, entry=hv.symbols["_start"])
