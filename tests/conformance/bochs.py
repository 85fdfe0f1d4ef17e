"""Bochs as an independent oracle: run a vlab flat guest image on Bochs, headless, and read back
its console, its exit code or its triple fault.

    result = run_on_bochs(image)        # an Image, raw bytes, guest source text or a .S path
    result.console, result.exit_code, result.triple_fault, result.timed_out, result.log_tail

How (Debian 12, Bochs 2.7; ``apt-get install bochs bochs-term bochsbios vgabios``):

* Boot. Each run gets its own temporary directory with a 1.44 MB floppy: bochs_boot.S (assembled
  here with GNU as, never shipped built) in its first two sectors, then the image. The boot
  sector reads everything to 0x7E00 onwards with INT 13h; stage 2 turns A20 on, makes
  0xC0000-0xFFFFF read/write RAM (i440FX PAM registers: a guest's stack below 1 MiB must be RAM),
  remaps the 8259s to vectors 0x20/0x28 with every line masked, programs PIT channel 0, loads a
  GDT with vlab's selectors (0x08/0x10 ring 0, 0x19/0x21 ring 1, 0x2B/0x33 ring 3, TSS 0x38;
  the same descriptors as vlab/layout.py boot_gdt), LTR 0x38 (then marks the descriptor available
  again, as vlab's is), enters protected mode, copies the image to its origin (1 MiB), zeroes the
  low copy and jumps to its entry with vlab's power-on state: CR0 = 0x11, CR3 = CR4 = 0, flat
  segments 0x10, ESP = 0x100000, EFLAGS = 0x2, IDTR = 0/0, general registers 0.
* Where things differ from vlab (not comparable): the boot GDT is at 0x600 and the boot TSS at
  0x680 (vlab's are at 0xFFFF0000, which is BIOS ROM here); low memory holds what the BIOS left
  (IVT, BDA, EBDA; vlab's RAM is all zeros), 0xA0000-0xBFFFF is VGA memory, the BIOS's ACPI
  tables are at 0x3F0000 (top of the 4 MiB); the CPU model
  (CPUID) and the timer: IRQ0 comes from the PIT every ``timer_period`` instructions only
  approximately (``ips=1000000``, count = period x 1.193182), and ``out 0x40, eax`` (vlab's timer
  period) reprograms the PIT instead. vlab's own devices (the hypercall ABI) do not exist.
* CPU: ``corei7_haswell_4770``: an Intel CPU (the SDM is Intel's) with everything vlab guests may
  use in 32-bit protected mode: SYSENTER/SYSEXIT, PSE, PAE, PGE, VMX (with EPT, as vlab's VT-x
  model); its x86-64 support is unused (the guests never enable long mode). Unknown MSRs raise
  #GP (``ignore_bad_msrs=0``), as on hardware.
* Display: this Debian build has no ``nogui``; the ``term`` display runs on a private pseudo-
  terminal (drained and thrown away). The build includes the internal debugger, so it is given a
  command file (``c``, then ``quit``) with ``-rc``.
* Console: Bochs's com1 output file is no record of what a guest wrote: its 16550 drops bytes
  written faster than its baud rate (a guest that does not poll the LSR), and it masks each byte
  to the word length in the LCR, which vlab guests never set (LCR = 0: 5 bits, "h" becomes 0x08).
  The log is the record instead: ``debug: serial=report`` logs every register write ("com1
  register write to address: 0x03f8 = 0xNN", whole bytes; writes while LCR.DLAB is set are the
  divisor, not data), ``unmapped=report`` logs the ``out 0xf4, al`` that ends a run (vlab's exit
  device; "unmapped: 8-bit write to 00f4 = NN"), and a triple fault is the panic "3rd (N)
  exception with no resolution" (``reset_on_triple_fault=0``, ``panic: action=fatal``: Bochs
  exits). Only lines after the BIOS's "Booting from 0000:7c00" count. The run stops at the first
  of these, at the timeout, or when Bochs exits; Bochs is then killed by its PID.
* Disk (``disk=N``, a program's ``# disk: N``): the run's temporary directory gets ``disk.img``,
  the N sectors of :func:`vlab.hw.disk.pattern` (the bytes a vlab run with ``Lab(disk=N)``
  starts with), attached as a flat image on ata0-master (ports 0x1F0-0x1F7 and 0x3F6, IRQ 14,
  the same as vlab's drive); without a disk the channel stays disabled. A flat image needs a
  geometry whose product is its size: :func:`disk_geometry` gives the one with the most sectors
  per track (at most 63), then the most heads (at most 16), whose cylinders (at most 16383, the
  most IDENTIFY DEVICE word 1 reports) multiply out to exactly N, and refuses an N that has none
  (e.g. a prime above 16383). The guest's writes go to the temporary image and are thrown away
  with it. POST with the disk (measured): the BIOS resets the channel and runs IDENTIFY DEVICE on
  the master (log: "ata0-0: PCHS=1/16/63 translation=none"), leaves nIEN clear and still boots
  the floppy (``boot: floppy``); it also takes the absent slave for a device (the task file
  registers are shared, so its 55h/AAh probe reads back) and waits for that slave's BSY after
  SRST until its timeout (log: "IDE time out"): the boot sector starts after 4.3 M instructions
  instead of 0.86 M, which with writing the image costs about 0.1 s more per run (hello world:
  0.24 s instead of 0.13 s; the ATA programs 0.21-0.24 s each).
* Cost: about 0.1 s per program (measured on 2 cores: 0.10-0.12 s each in sequence, 0.06 s each
  with 4 in parallel), nearly all of it Bochs starting and its BIOS's POST (``fastboot`` skips
  the boot menu's wait, which otherwise costs 3 M instructions).
"""

from __future__ import annotations

import functools
import os
import re
import select
import shutil
import subprocess
import tempfile
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from vlab.isa import INCLUDE_DIR, Image, assemble

APT_PACKAGES = "bochs bochs-term bochsbios vgabios"
BIOS = Path("/usr/share/bochs/BIOS-bochs-latest")
VGA_BIOS = Path("/usr/share/bochs/VGABIOS-lgpl-latest")
CPU_MODEL = "corei7_haswell_4770"
IPS = 1_000_000
PIT_HZ = 1_193_182
ORIGIN = 0x100000
FLOPPY_SIZE = 1_474_560
LOADER = Path(__file__).with_name("bochs_boot.S")
LOADER_SIZE = 1024
MAX_IMAGE = 0x9F000 - (0x7C00 + LOADER_SIZE)  # loaded below the EBDA before being copied up

_SERIAL_WRITE = re.compile(r"com1 register write to\s+address: 0x03f([8b]) = 0x([0-9a-f]+)")
_EXIT_WRITE = re.compile(r"unmapped: \d+-bit write to 00f4 = ([0-9a-f]+)")
_TRIPLE_FAULT = re.compile(r"3rd \(\d+\) exception with no resolution")
_LSR_READ = re.compile(r"com1 register read from address: 0x03fd")
_BOOTED = "Booting from 0000:7c00"


class BochsMissing(RuntimeError):
    """Bochs (or its BIOS, VGA BIOS or term display) is not installed."""


class BochsError(RuntimeError):
    """Bochs could not run the image (it stopped before the guest started, or the loader failed)."""


@dataclass
class BochsResult:
    console: str  # what the guest wrote to COM1 (latin-1, as vlab's console)
    exit_code: int | None  # the byte of ``out 0xf4, al``; None after a triple fault or timeout
    triple_fault: bool
    timed_out: bool
    log_tail: str  # the last lines of Bochs's log, for diagnostics
    seconds: float


def bochs_binary() -> str:
    """The Bochs executable; raises :class:`BochsMissing` with the apt command if absent."""
    exe = shutil.which("bochs-bin") or shutil.which("bochs")
    plugins = Path("/usr/lib/x86_64-linux-gnu/bochs/plugins")
    term = not plugins.is_dir() or any(plugins.glob("libbx_term*"))
    if exe is None or not BIOS.is_file() or not VGA_BIOS.exists() or not term:
        raise BochsMissing(f"Bochs is not installed: apt-get install -y {APT_PACKAGES}")
    return exe


def _image(image_or_source: Image | bytes | str | Path) -> Image:
    if isinstance(image_or_source, Image):
        return image_or_source
    if isinstance(image_or_source, (bytes, bytearray)):
        return Image("image", bytes(image_or_source), ORIGIN)
    if isinstance(image_or_source, Path) and image_or_source.suffix not in (".S", ".s"):
        return Image(image_or_source.stem, image_or_source.read_bytes(), ORIGIN)
    if isinstance(image_or_source, Path):
        return assemble(image_or_source.read_text(), image_or_source.stem,
                        include_dirs=[image_or_source.parent, INCLUDE_DIR])
    return assemble(image_or_source, "program", include_dirs=[INCLUDE_DIR])


def _run(cmd: list[str], cwd: str) -> None:
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if res.returncode != 0:
        raise BochsError(f"{Path(cmd[0]).name} failed: {res.stderr.strip()}")


def build_floppy(image: Image, directory: str | Path, timer_period: int = 10_000) -> Path:
    """Write ``floppy.img`` (loader + image) into ``directory`` and return its path."""
    if image.origin != ORIGIN or not ORIGIN <= image.entry < ORIGIN + len(image.code):
        raise BochsError(f"{image.name}: the loader copies images to {ORIGIN:#x} and starts them "
                         f"inside (origin {image.origin:#x}, entry {image.entry:#x})")
    if len(image.code) > MAX_IMAGE:
        raise BochsError(f"{image.name}: {len(image.code)} bytes; the loader takes {MAX_IMAGE}")
    d = str(directory)
    sectors = max(1, -(-len(image.code) // 512))
    count = min(0xFFFF, max(2, round(timer_period * PIT_HZ / IPS)))
    defs = {"IMAGE_SECTORS": sectors, "ORIGIN": image.origin, "ENTRY": image.entry,
            "PIT_COUNT": count}
    cmd = ["as", "--32", "-o", "boot.o", str(LOADER)]
    for k, v in defs.items():
        cmd += ["--defsym", f"{k}={v}"]
    _run(cmd, d)
    _run(["ld", "-m", "elf_i386", "-N", "-Ttext=0x7c00", "-e", "_start", "-o", "boot.elf",
          "boot.o"], d)
    _run(["objcopy", "-O", "binary", "boot.elf", "boot.bin"], d)
    loader = Path(d, "boot.bin").read_bytes()
    if len(loader) != LOADER_SIZE:
        raise BochsError(f"the loader is {len(loader)} bytes, not {LOADER_SIZE}")
    disk = loader + image.code
    floppy = Path(d, "floppy.img")
    floppy.write_bytes(disk + bytes(FLOPPY_SIZE - len(disk)))
    return floppy


# ata0 (a str.format field): the primary ATA channel, disabled or with a disk (_ata0_lines)
BOCHSRC = f"""\
memory: guest=4, host=4
romimage: file={BIOS}, options=fastboot
vgaromimage: file={VGA_BIOS}
display_library: term
floppya: 1_44=floppy.img, status=inserted
boot: floppy
floppy_bootsig_check: disabled=0
{{ata0}}
ata1: enabled=0
cpu: model={CPU_MODEL}, count=1, ips={IPS}, reset_on_triple_fault=0, ignore_bad_msrs=0
clock: sync=none, time0=946684800
log: bochs.log
debug: action=ignore, serial=report, unmapped=report
info: action=report
error: action=report
panic: action=fatal
com1: enabled=1, mode=null
mouse: enabled=0
plugin_ctrl: speaker=0
"""


MAX_CYLINDERS, MAX_HEADS, MAX_SPT = 16383, 16, 63
DISK_IMAGE = "disk.img"


def disk_geometry(sectors: int) -> tuple[int, int, int]:
    """(cylinders, heads, sectors per track) of a flat hard-disk image of ``sectors`` sectors:
    the most sectors per track (<= 63), then the most heads (<= 16), whose cylinders (<= 16383)
    make the product exactly ``sectors`` (1008 is 1/16/63, 128 is 1/4/32, 1009 is 1009/1/1).
    Raises :class:`BochsError` when no such geometry exists."""
    if isinstance(sectors, bool) or not isinstance(sectors, int) or sectors < 1:
        raise BochsError(f"a disk of {sectors!r} sectors: give a positive whole number")
    for spt in range(MAX_SPT, 0, -1):
        if sectors % spt:
            continue
        for heads in range(MAX_HEADS, 0, -1):
            if sectors % (spt * heads) == 0 and sectors // (spt * heads) <= MAX_CYLINDERS:
                return sectors // (spt * heads), heads, spt
    raise BochsError(f"a disk of {sectors} sectors has no geometry of at most {MAX_CYLINDERS} "
                     f"cylinders, {MAX_HEADS} heads and {MAX_SPT} sectors per track whose "
                     f"product is {sectors}: Bochs cannot attach it as a flat image")


def _ata0_lines(geometry: tuple[int, int, int] | None) -> str:
    if geometry is None:
        return "ata0: enabled=0"
    cylinders, heads, spt = geometry
    return ("ata0: enabled=1, ioaddr1=0x1f0, ioaddr2=0x3f0, irq=14\n"
            f"ata0-master: type=disk, path={DISK_IMAGE}, mode=flat, cylinders={cylinders}, "
            f"heads={heads}, spt={spt}")


@functools.lru_cache(maxsize=4)
def _pattern(sectors: int) -> bytes:
    from vlab.hw.disk import pattern

    return bytes(pattern(sectors))  # 60 ms for 1008 sectors: made once per size


def build_disk(sectors: int, directory: str | Path) -> Path:
    """Write ``disk.img`` (vlab.hw.disk.pattern(sectors), the bytes of a vlab run's disk) into
    ``directory`` and return its path; the geometry is checked first (:func:`disk_geometry`)."""
    disk_geometry(sectors)
    data = _pattern(sectors)
    if len(data) != sectors * 512:
        raise BochsError(f"vlab.hw.disk.pattern({sectors}) is {len(data)} bytes, "
                         f"not {sectors} sectors")
    path = Path(directory, DISK_IMAGE)
    path.write_bytes(data)
    return path


class _LogReader:
    """Follows bochs.log as Bochs writes it: the console, the exit code, the triple fault."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = b""
        self.booted = False
        self.console = bytearray()
        self.lcr = 0
        self.exit_code: int | None = None
        self.triple_fault = False
        self.tail: deque[str] = deque(maxlen=40)

    @property
    def done(self) -> bool:
        return self.exit_code is not None or self.triple_fault

    def poll(self) -> None:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            if not self.done:  # the tail stops where the run ended
                line = raw.decode("latin-1")
                if not _LSR_READ.search(line):  # putc's polling says nothing
                    self.tail.append(line)
                self._line(line)

    def _line(self, line: str) -> None:
        if not self.booted:
            self.booted = _BOOTED in line
            return
        if m := _SERIAL_WRITE.search(line):
            reg, value = m.group(1), int(m.group(2), 16)
            if reg == "b":
                self.lcr = value
            elif not self.lcr & 0x80:  # DLAB clear: the transmit holding register
                self.console.append(value & 0xFF)
        elif m := _EXIT_WRITE.search(line):
            self.exit_code = int(m.group(1), 16) & 0xFF
        elif _TRIPLE_FAULT.search(line):
            self.triple_fault = True


def run_on_bochs(image_or_source: Image | bytes | str | Path, *, timeout: float = 20,
                 timer_period: int = 10_000, disk: int | None = None) -> BochsResult:
    """Boot the image on Bochs and return what it printed and how it ended.

    ``image_or_source``: an :class:`Image`, raw bytes (loaded and started at 1 MiB), guest source
    text (str), the Path of a ``.S`` file (its directory and vlab's include directory on the
    include path) or of a raw image. ``timeout``: wall-clock seconds before Bochs is killed
    (``timed_out``). ``timer_period``: IRQ0's period in instructions, roughly. ``disk``: the
    sectors of an ATA disk on ata0-master holding vlab.hw.disk.pattern(disk), as a vlab run with
    ``Lab(disk=disk)``; None: no disk. Raises :class:`BochsMissing` if Bochs is not installed,
    :class:`BochsError` if the guest never started (with the log's tail) or the disk has no
    geometry (:func:`disk_geometry`)."""
    exe = bochs_binary()
    image = _image(image_or_source)
    geometry = None if disk is None else disk_geometry(disk)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vlab-bochs-") as tmp:
        build_floppy(image, tmp, timer_period)
        if disk is not None:
            build_disk(disk, tmp)
        Path(tmp, "bochsrc").write_text(BOCHSRC.format(ata0=_ata0_lines(geometry)))
        Path(tmp, "commands").write_text("c\nquit\n")
        log = _LogReader(Path(tmp, "bochs.log"))
        master, slave = os.openpty()
        try:
            with open(Path(tmp, "stderr"), "wb") as err:
                proc = subprocess.Popen(
                    _orphan_guard() + [exe, "-q", "-f", "bochsrc", "-rc", "commands"], cwd=tmp,
                    stdin=slave,
                    stdout=slave, stderr=err, start_new_session=True,
                    env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm",
                         "HOME": tmp})
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        try:
            timed_out = _watch(proc, master, log, start + timeout)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            os.close(master)
        log.poll()
        stderr = Path(tmp, "stderr").read_text(errors="replace")
    tail = "\n".join(log.tail)
    if not log.booted:
        raise BochsError(f"{image.name}: Bochs stopped before the boot sector ran (exit status "
                         f"{proc.returncode}, timed out: {timed_out})\n{tail}\n{stderr[-2000:]}")
    console = log.console.decode("latin-1")
    if console.startswith("bochs loader:"):
        raise BochsError(f"{image.name}: {console.strip()}\n{tail}")
    return BochsResult(console, log.exit_code, log.triple_fault, timed_out, tail,
                       time.monotonic() - start)


def _orphan_guard() -> list[str]:
    """A prefix that kills Bochs if this process dies first (util-linux setpriv: the kernel's
    parent-death signal, kept across exec), so that no Bochs outlives a killed test run."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL"] if setpriv else []


def _watch(proc: subprocess.Popen, master: int, log: _LogReader, deadline: float) -> bool:
    """Follow the log until the run ends (exit port, triple fault) or Bochs exits; True if the
    deadline came first. The terminal's output is read and dropped, so Bochs never blocks."""
    while True:
        if select.select([master], [], [], 0.005)[0]:
            try:
                os.read(master, 1 << 16)
            except OSError:  # EIO: Bochs closed the terminal, it is exiting
                pass
        log.poll()
        if log.done or proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            return True
