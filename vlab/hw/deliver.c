/* vlab's native event delivery: the common case of vlab/hw/delivery.py (deliver_once with the
 * machine's own CPU, and Cpu.enter), done in C, with exactly the same checks and effects.
 * Built into the same library as blockcount.c (vlab/hw/blocks.py) and called with ctypes.
 *
 * The common case: paging off (linear addresses are physical), the IDT, GDT, TSS and stacks in
 * guest RAM or the monitor's area, a present 32-bit interrupt or trap gate the event may use, a
 * present code segment whose DPL is the CPL (no stack switch) or 0 (from an outer ring: the
 * stack from the TSS), flat stack segments. Anything else - a check that fails, a fault the
 * CPU would raise while delivering, a segment the machine must check - returns 1 before
 * anything is changed, and Python delivers (or escalates) as before.
 *
 * The register writes are Cpu._enter's, in its order (one at a time: inside a hook, Unicorn's
 * batch write does not redirect EIP); going inward, the one way Unicorn allows: leave
 * protected mode, load SS = 0 (CPL 0), enter it again. SDM vol. 3, 6.12.1.
 */
#include <stdint.h>

struct cpu_io {
    int (*reg_read)(void *uc, int regid, void *value);
    int (*reg_write)(void *uc, int regid, const void *value);
    void *uc;
    uint8_t *ram;
    uint64_t ram_size;
    uint8_t *monitor;
    uint64_t monitor_base;
    uint64_t monitor_size;
    int32_t eflags, esp, cs, ss, eip, cr0, gdtr, idtr, tr; /* Unicorn's register ids */
    int32_t pad;
};

typedef struct { uint16_t selector; uint64_t base; uint32_t limit; uint32_t flags; } uc_x86_mmr;

#define PE 1u
#define PG 0x80000000u
#define TF (1u << 8)
#define IF (1u << 9)
#define NT (1u << 14)
#define RF (1u << 16)
#define VM (1u << 17)
#define FLAT 0xFFFEFFFFu /* vlab.hw.segments.FLAT: a limit this high is a flat segment */
/* vlab.hw.delivery.FAULTS: vectors 0, 5, 6, 7, 10-14, 16, 17, 19, 20, 21 */
#define FAULTS ((1u << 0) | (1u << 5) | (1u << 6) | (1u << 7) | (1u << 10) | (1u << 11) \
                | (1u << 12) | (1u << 13) | (1u << 14) | (1u << 16) | (1u << 17) | (1u << 19) \
                | (1u << 20) | (1u << 21))

/* n bytes at a linear address when paging is off: guest RAM or the monitor's area, else NULL */
static uint8_t *at(const struct cpu_io *io, uint64_t a, uint64_t n) {
    if (a + n <= io->ram_size)
        return io->ram + a;
    if (a >= io->monitor_base && a + n <= io->monitor_base + io->monitor_size)
        return io->monitor + (a - io->monitor_base);
    return 0;
}

static uint32_t u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int rd(const struct cpu_io *io, int id, uint32_t *v) {
    *v = 0;
    return io->reg_read(io->uc, id, v);
}

static int wr(const struct cpu_io *io, int id, uint32_t v) {
    return io->reg_write(io->uc, id, &v);
}

/* The two dwords of the GDT descriptor ``selector`` names (Cpu.descriptor): 0 if none (null, an
 * LDT selector, past the limit) or not readable here. */
static int descriptor(const struct cpu_io *io, const uc_x86_mmr *gdt, uint32_t selector,
                      uint32_t *lo, uint32_t *hi) {
    uint32_t index = selector & 0xFFF8;
    if (index == 0 || selector & 4 || index + 7 > gdt->limit)
        return 0;
    const uint8_t *p = at(io, gdt->base + index, 8);
    if (!p)
        return 0;
    *lo = u32(p);
    *hi = u32(p + 4);
    return 1;
}

/* A descriptor's limit in bytes (scaled to 4 KiB units when G is set). */
static uint32_t scaled_limit(uint32_t lo, uint32_t hi) {
    uint32_t limit = (hi & 0xF0000) | (lo & 0xFFFF);
    return hi & (1u << 23) ? (limit << 12) | 0xFFF : limit;
}

/* A present, writable data segment of DPL ``ring`` named with RPL ``ring``, and flat (the
 * machine checks accesses through a narrow one: Python knows how). */
static int stack_segment_ok(const struct cpu_io *io, const uc_x86_mmr *gdt, uint32_t ss,
                            uint32_t ring) {
    uint32_t lo, hi;
    if (!descriptor(io, gdt, ss, &lo, &hi))
        return 0;
    if (!(hi & (1u << 15)) || !(hi & (1u << 12)) || hi & (1u << 11) || !(hi & (1u << 9)))
        return 0;
    if (((hi >> 13) & 3) != ring || (ss & 3) != ring)
        return 0;
    if (hi & (1u << 10)) /* expand-down: never flat */
        return 0;
    return scaled_limit(lo, hi) >= FLAT;
}

/* Deliver ``vector`` (``error_code`` < 0: none pushed; ``software``: an INT n, whose gate's DPL
 * must allow the CPL). 0: delivered; 1: not done here, nothing changed; 2: the core refused a
 * register write part way (Python reports it as Cpu.enter does). */
int vlab_deliver(const struct cpu_io *io, uint32_t vector, int64_t error_code, int32_t software) {
    uint32_t cr0, cs_now, ss_now, esp, eflags, eip;
    uc_x86_mmr idt = {0}, gdt = {0}, tr = {0};
    if (rd(io, io->cr0, &cr0) || !(cr0 & PE) || cr0 & PG)
        return 1;
    if (rd(io, io->cs, &cs_now) || rd(io, io->ss, &ss_now) || rd(io, io->esp, &esp)
            || rd(io, io->eflags, &eflags) || rd(io, io->eip, &eip)
            || io->reg_read(io->uc, io->idtr, &idt) || io->reg_read(io->uc, io->gdtr, &gdt))
        return 1;
    if (eflags & VM)
        return 1;
    uint32_t cpl = cs_now & 3;
    /* the gate (read_gate) */
    if (idt.limit < 7 || vector * 8 + 7 > idt.limit)
        return 1;
    const uint8_t *g = at(io, idt.base + vector * 8, 8);
    if (!g)
        return 1;
    uint32_t glo = u32(g), ghi = u32(g + 4);
    uint32_t gtype = (ghi >> 8) & 0x1F;
    if ((gtype != 0xE && gtype != 0xF) || !(ghi & (1u << 15)))
        return 1;
    if (software && ((ghi >> 13) & 3) < cpl)
        return 1;
    uint32_t selector = (glo >> 16) & 0xFFFF, offset = (ghi & 0xFFFF0000) | (glo & 0xFFFF);
    /* the code segment it names (code_dpl, then Cpu._check_target) */
    uint32_t clo, chi;
    if (!descriptor(io, &gdt, selector, &clo, &chi))
        return 1;
    if (!(chi & (1u << 15)) || !(chi & (1u << 12)) || !(chi & (1u << 11)))
        return 1;
    uint32_t target = (chi >> 13) & 3;
    if (target > cpl)
        return 1;
    if (chi & (1u << 10))
        target = cpl; /* a conforming code segment runs at the CPL (no stack switch) */
    if (target < cpl && target != 0)
        return 1;
    uint32_t cs = (selector & 0xFFFC) | target;
    /* the stack: the TSS's for ring 0 when coming from an outer ring, else the current one */
    uint32_t frame[6], n = 0, new_ss, new_esp;
    if (target < cpl) {
        if (io->reg_read(io->uc, io->tr, &tr))
            return 1;
        const uint8_t *t = at(io, tr.base + 4, 8);
        if (!t)
            return 1;
        new_esp = u32(t);
        new_ss = u32(t + 4) & 0xFFFF;
        if ((new_ss & 0xFFFC) == 0)
            return 1;
        frame[n++] = ss_now & 0xFFFF;
        frame[n++] = esp;
    } else {
        new_ss = ss_now & 0xFFFF;
        new_esp = esp;
    }
    if (!stack_segment_ok(io, &gdt, new_ss, target))
        return 1;
    /* a fault's EFLAGS image has RF set (SDM vol. 3B, 18.3.1.1): delivery.FAULTS */
    /* (an INT n completed: RF, set by an IRET just before, is clear in its image) */
    frame[n++] = software ? eflags & ~RF
                          : vector < 32 && ((FAULTS >> vector) & 1) ? eflags | RF : eflags;
    frame[n++] = cs_now & 0xFFFF;
    frame[n++] = eip;
    if (error_code >= 0)
        frame[n++] = (uint32_t)error_code;
    new_esp -= 4 * n;
    uint8_t *top = at(io, new_esp, 4 * n);
    if (!top)
        return 1;
    /* (nothing has changed so far) */
    for (uint32_t i = 0; i < n; i++) /* the frame, the last pushed lowest */
        put32(top + 4 * i, frame[n - 1 - i]);
    uint32_t flags = eflags & ~(TF | NT | RF | VM);
    if (gtype == 0xE)
        flags &= ~IF;
    if (target < cpl) {
        if (wr(io, io->cr0, cr0 & ~(PE | PG)) || wr(io, io->ss, 0) || wr(io, io->cr0, cr0))
            return 2;
        ss_now = 0;
    }
    if (new_ss != (ss_now & 0xFFFF) && wr(io, io->ss, new_ss))
        return 2;
    if (wr(io, io->cs, cs) || wr(io, io->esp, new_esp) || wr(io, io->eflags, flags)
            || wr(io, io->eip, offset))
        return 2;
    return 0;
}

/* ------------------------------------------------------------------ the IRETD check
 * vlab/hw/checks.py sets the Accessed bit of the code (and, returning outward, stack) segment an
 * IRETD loads, which the core leaves clear (SDM vol. 3A, 3.4.5.1). Almost always there is
 * nothing to do: the bit is set already. This code hook finds that out in C and calls the
 * Python check (``fallback``, the same hook as without it) only when it cannot tell. */
struct iret_check {
    const struct cpu_io *io;
    void (*fallback)(void *uc, uint64_t address, uint32_t size, void *data);
    int32_t ds, es, fs, gs; /* Unicorn's register ids */
};

/* Would Checks._mark_accessed leave this descriptor alone whatever the privileges? (none, not
 * present, a system descriptor, Accessed already, or not of the kind the transfer loads) */
static int accessed_or_skipped(const struct cpu_io *io, const uc_x86_mmr *gdt, uint32_t selector,
                               int code) {
    uint32_t lo, hi, index = selector & 0xFFF8;
    if (index == 0 || selector & 4 || index + 7 > gdt->limit)
        return 1;
    const uint8_t *p = at(io, gdt->base + index, 8);
    if (!p)
        return 0; /* (Python reads it another way) */
    lo = u32(p);
    hi = u32(p + 4);
    (void)lo;
    if (!(hi & (1u << 15)) || !(hi & (1u << 12)) || hi & (1u << 8))
        return 1;
    return (int)!!(hi & (1u << 11)) != code;
}

/* Nothing for the Python check to do at this IRETD? 0: ask it. */
static int iret_quiet(const struct iret_check *k, uint64_t address) {
    const struct cpu_io *io = k->io;
    uint32_t cr0, eip, esp, cs, sel;
    uc_x86_mmr gdt = {0};
    if (rd(io, io->eip, &eip))
        return 0;
    if (eip != address)
        return 1; /* a monitor's hook here emulated it already (Checks._check) */
    if (rd(io, io->cr0, &cr0) || cr0 & PG || rd(io, io->esp, &esp) || rd(io, io->cs, &cs)
            || io->reg_read(io->uc, io->gdtr, &gdt))
        return 0;
    const uint8_t *insn = at(io, address, 1);
    const uint8_t *w = at(io, esp, 20);
    if (!insn || insn[0] != 0xCF || !w)
        return 0;
    uint32_t flags = u32(w + 8), selector = u32(w + 4) & 0xFFFF;
    if (flags & (VM | NT))
        return 1; /* to virtual-8086 mode, or a task return: not checked */
    uint32_t ring = selector & 3, cpl = cs & 3;
    if (ring > cpl) { /* outward: data segments nulled, or a narrow stack, are Python's */
        uint32_t ids[4] = {(uint32_t)k->ds, (uint32_t)k->es, (uint32_t)k->fs, (uint32_t)k->gs};
        for (int i = 0; i < 4; i++) {
            if (rd(io, (int)ids[i], &sel))
                return 0;
            if ((sel & 3) < ring && (sel & 0xFFFC) != 0)
                return 0;
        }
        uint32_t stack = u32(w + 16) & 0xFFFF, lo, hi;
        if (descriptor(io, &gdt, stack, &lo, &hi)) {
            int expand_down = (hi & (1u << 12)) && !(hi & (1u << 11)) && (hi & (1u << 10));
            if (expand_down || scaled_limit(lo, hi) < FLAT)
                return 0;
        } else if ((stack & 0xFFF8) && !(stack & 4) && (stack & 0xFFF8) + 7 <= gdt.limit) {
            return 0; /* (in the GDT but not readable here) */
        }
        if (!accessed_or_skipped(io, &gdt, stack, 0))
            return 0;
    }
    return accessed_or_skipped(io, &gdt, selector, 1);
}

void vlab_iret_check(void *uc, uint64_t address, uint32_t size, struct iret_check *k) {
    if (!iret_quiet(k, address))
        k->fallback(uc, address, size, 0);
}
