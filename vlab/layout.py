"""The guest-physical memory map and the descriptor layout every vlab guest agrees on.

Guest physical addresses equal linear addresses (flat segments; paging is off until the guest
turns it on). Guest RAM starts at 0; images load at :data:`ENTRY` with ESP = :data:`BOOT_STACK`.
The monitor's own area (boot GDT, boot TSS, an IRET trampoline) lies far above guest RAM.
Guest sources get the same numbers from ``guests/include/vlab.inc``; a test checks they agree.
"""

DEFAULT_RAM = 4 * 1024 * 1024
ENTRY = 0x0010_0000
BOOT_STACK = 0x0010_0000  # the boot stack grows down below the image

MONITOR_BASE = 0xFFFF_0000
MONITOR_SIZE = 0x1_0000
BOOT_GDT = MONITOR_BASE + 0x000
BOOT_TSS = MONITOR_BASE + 0x100
TRAMPOLINE = MONITOR_BASE + 0x200  # iretd: how the monitor lowers the guest's privilege
MONITOR_STACK = MONITOR_BASE + 0x1000  # top of a scratch stack for trampoline frames
# What a software monitor really loads while the guest runs deprivileged (its own tables):
MONITOR_GDT = MONITOR_BASE + 0x2000  # 66 entries: the guest's (shadowed) + the monitor's own
MONITOR_GDT_ENTRIES = 66
MONITOR_IDT = MONITOR_BASE + 0x3000
MONITOR_LDT = MONITOR_BASE + 0x3800
MONITOR_TSS_SELECTOR = 60 << 3  # the monitor's TSS and LDT live at the top of its GDT
MONITOR_LDT_SELECTOR = 61 << 3
MONITOR_DS = 62 << 3  # the monitor's own flat ring-0 data and code segments
MONITOR_CS = 63 << 3
# Flat ring-1 code and data the deprivileged kernel's segment registers move to when it loads its
# own GDT while still holding the boot twins RING1_CS/RING1_DS (in its belief: KERNEL_CS and
# KERNEL_DS): above any guest GDT, so they stay valid until it reloads them.
MONITOR_KERNEL_CS = 64 << 3 | 1
MONITOR_KERNEL_DS = 65 << 3 | 1

# GDT selectors (index << 3 | RPL); the same layout in the boot GDT and in the teaching kernel's.
KERNEL_CS, KERNEL_DS = 0x08, 0x10
RING1_CS, RING1_DS = 0x18 | 1, 0x20 | 1
USER_CS, USER_DS = 0x28 | 3, 0x30 | 3
TSS_SELECTOR = 0x38
GDT_ENTRIES = 8

UNTIL_NEVER = 1 << 32  # an EIP a 32-bit guest can never reach: emu_start's "until" disabled


def segment_descriptor(base: int, limit: int, access: int, flags: int = 0xC) -> bytes:
    """An 8-byte GDT descriptor (Intel SDM vol. 3, 3.4.5)."""
    return bytes([
        limit & 0xFF, (limit >> 8) & 0xFF, base & 0xFF, (base >> 8) & 0xFF, (base >> 16) & 0xFF,
        access, ((flags & 0xF) << 4) | ((limit >> 16) & 0xF), (base >> 24) & 0xFF,
    ])


def boot_gdt(tss_base: int = BOOT_TSS) -> bytes:
    """Null, flat code/data for rings 0, 1 and 3, and a 32-bit TSS."""
    return b"".join([
        bytes(8),
        segment_descriptor(0, 0xFFFFF, 0x9A),  # 0x08 ring 0 code
        segment_descriptor(0, 0xFFFFF, 0x92),  # 0x10 ring 0 data
        segment_descriptor(0, 0xFFFFF, 0xBA),  # 0x18 ring 1 code
        segment_descriptor(0, 0xFFFFF, 0xB2),  # 0x20 ring 1 data
        segment_descriptor(0, 0xFFFFF, 0xFA),  # 0x28 ring 3 code
        segment_descriptor(0, 0xFFFFF, 0xF2),  # 0x30 ring 3 data
        segment_descriptor(tss_base, 0x67, 0x89, 0x0),  # 0x38 TSS (available, 32-bit)
    ])
