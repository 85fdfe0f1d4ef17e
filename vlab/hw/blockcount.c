/* vlab's native instruction counter: Unicorn hooks that count guest instructions a
 * translation block at a time, instead of Unicorn's count= mode (a helper call before every
 * instruction). Loaded with ctypes by vlab/hw/blocks.py, which owns the Python side.
 *
 * - vlab_block (UC_HOOK_BLOCK) runs before each translation block executes. It looks the
 *   block up by (address, size); if its instruction count is known and the block fits before
 *   the deadline it adds the count and lets it run, else it stops the core before the block's
 *   first instruction (Unicorn checks for a stop request right after the block hook). Python
 *   then learns the block (a miss), or runs the part of the block that fits (the deadline).
 * - vlab_generated (UC_HOOK_EDGE_GENERATED) runs when the core translates a block: if it
 *   translated anew a block whose count is known, the code there may have changed (a guest
 *   that rewrites its code, a monitor that adds a hook), so the count is forgotten and Python
 *   learns the block again before it runs.
 * - vlab_boundary (UC_HOOK_CODE on chosen addresses) does nothing: a code hook makes Unicorn
 *   sync EIP before the instruction and check for a stop request after the hook, so an I/O or
 *   CPUID hook sees its own EIP and a stop it asks for lands before the next instruction, as
 *   in count= mode.
 * - vlab_stop_here (UC_HOOK_CODE on one address) stops the core before that instruction.
 * - vlab_interrupt (UC_HOOK_INTR, before Python's) takes the event's error code and origin,
 *   clears Unicorn's stale fault state and cuts the block at the instruction.
 * - marks: instructions whose executions Python wants counted (a translator's block starts).
 *   When the next block is entered, the one before has run exactly as far as the count says,
 *   so each marked instruction it ran gets one more; at the end of a slice Python tells how far
 *   the last block ran (vlab_attribute_last). No hook per marked instruction.
 *
 * Written against Unicorn 2.1 (uc_tb in unicorn.h; the hook signatures of uc_cb_hookcode_t and
 * uc_hook_edge_gen_t). Build: cc -O2 -shared -fPIC -o blockcount.so blockcount.c
 */
#include <stddef.h>
#include <stdint.h>

#define SLOTS 16384u /* a power of two; Python clears the table before it is 3/4 full (640 KiB) */
#define CF_COUNT_MASK 0x7fffu /* QEMU's compile flags: the most instructions a block may hold */
#define NO_FLAGS 0xffffffffu  /* cflags_next_tb when no request is pending */

typedef struct { uint64_t pc; uint16_t icount; uint16_t size; } uc_tb; /* unicorn.h */

/* An instruction whose executions Python counts (a translator's block start), inside a block:
 * its position among the block's instructions, and the counter (Python owns it). */
struct mark {
    uint64_t *cell;
    uint32_t position;
    uint32_t pad;
};

struct entry {
    uint64_t pc;
    uint32_t size;       /* 0: a free slot */
    uint32_t count;      /* instructions in the block; 0: not known (Python must decode it) */
    uint64_t hits;       /* times the block was entered (but again and again in a loop) */
    uint32_t generation; /* moves on when the core translates the block anew */
    uint32_t starts;     /* instructions in offsets */
    const uint16_t *offsets; /* where each instruction starts, from pc (Python owns them) */
    const struct mark *marks; /* counted instructions in the block (Python owns them) */
    uint32_t nmarks;
    uint32_t part;       /* a part of a block, run before a deadline (run_tail) */
};

struct counter {
    uint64_t counted;    /* instructions of the blocks entered (whole blocks) */
    uint64_t deadline;   /* no block may take counted past this */
    uint64_t block_pc;   /* the block entered, or refused, last */
    uint64_t block_base; /* counted before that block */
    uint32_t block_size;
    uint32_t block_count;
    int32_t refused;     /* why the last block was refused: 0 no, 1 unknown, 2 deadline */
    int32_t admit;       /* let the next block in whatever the deadline (a stop hook ends it) */
    int32_t settled;     /* Python cut the current block short: counted is exact (until the next) */
    int32_t off;         /* not counting (the core runs outside a slice): let every block in */
    int32_t trusted_left; /* translations in [trusted_pc, trusted_end) that keep their count */
    int32_t pad;
    uint64_t filled;     /* slots in use */
    uint64_t blocks;     /* blocks entered */
    int (*emu_stop)(void *uc);
    struct entry *current; /* the entry of the block entered last (NULL: none) */
    uint64_t cuts;       /* blocks cut short by a store into themselves */
    uint64_t trusted_pc; /* Python has the code here translated again, unchanged: a block
                          * that overlaps [trusted_pc, trusted_end) keeps its count */
    uint64_t trusted_end;
    /* The part of a block that fits before the deadline, run by the hook itself (no stop, no
     * Python). Where Python found the CPU's cflags_next_tb (next_flags, below), the next block
     * is asked for with that many instructions at most, and EIP is written to itself (the core
     * leaves the block before its first instruction and looks it up again, in the same run):
     * the part is a block of its own, cached beside the whole one, and the next block, past
     * the deadline, is refused. Else Unicorn's exit list gets the address of the first
     * instruction past the deadline, the block's translation is dropped, EIP is written to
     * itself, and the core translates the block again, ending at the exit, where the run stops
     * (and drops that translation: the whole block is translated again after it). */
    int (*uc_ctl)(void *uc, int control, ...);
    int (*reg_read)(void *uc, int regid, void *value);
    int (*reg_write)(void *uc, int regid, const void *value);
    int32_t ctl_exits;    /* uc_ctl's request: write the exit list (two arguments) */
    int32_t ctl_remove;   /* uc_ctl's request: drop cached translations (two arguments) */
    int32_t eip_id;       /* UC_X86_REG_EIP */
    int32_t native_tails; /* run such parts this way (else refuse the block: Python does it) */
    uint64_t tail_exit;   /* the exit of the part running now (0: none; Python clears it) */
    uint64_t tail_pc;     /* the part: a block of its own, (tail_pc, tail_size) */
    uint32_t tail_size;
    uint32_t pad2;
    uint64_t tails;       /* parts run this way */
    uint64_t pending;     /* whole runs of the current block whose marks are not counted yet */
    /* vlab_interrupt: what the core hides about the event in flight, taken before Python's
     * interrupt hook runs (which reads the four values after these pointers). */
    int32_t *fault_old;   /* Unicorn's stale fault state (NULL: Python takes it itself) */
    const int32_t *fault_err;
    const int32_t *fault_is_int;
    uint64_t fault_eip;   /* EIP as the core left it for the hook */
    int64_t fault_count;  /* the count cut at that instruction (-1: Python works it out) */
    uint32_t fault_error; /* the error code the core computed (meaningful for some vectors) */
    uint32_t fault_software; /* raised by an INT n instruction */
    /* The part of a block before a deadline, the core's own way (when Python found the CPU's
     * cflags_next_tb): the next block is looked up, and translated the first time, with at
     * most that many instructions, as QEMU runs exactly N. Such a part is cached beside the
     * whole block, which stays: no translation at all once each part has been seen. */
    uint32_t *next_flags; /* the CPU's cflags_next_tb (NULL: use Unicorn's exit list) */
    uint64_t part_pc;     /* the part asked for last, (part_pc, part_size) */
    uint32_t part_size;
    uint32_t part_left;   /* its instructions: the request, while the core has not used it */
    uint64_t parts;       /* parts run this way */
    struct entry table[SLOTS];
};

static inline uint32_t slot_of(uint64_t pc, uint32_t size) {
    uint64_t h = (pc ^ ((uint64_t)size << 48)) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 48) & (SLOTS - 1);
}

/* The entry for (pc, size), or the free slot where it would go (NULL if the table is full). */
static struct entry *find(struct counter *c, uint64_t pc, uint32_t size) {
    uint32_t i = slot_of(pc, size);
    for (uint32_t n = 0; n < SLOTS; n++, i = (i + 1) & (SLOTS - 1)) {
        struct entry *e = &c->table[i];
        if (e->size == 0 || (e->pc == pc && e->size == size))
            return e;
    }
    return 0;
}

/* How many instructions of block e start before pc, and the one at pc if one starts there. */
static uint32_t position(const struct entry *e, uint64_t pc) {
    uint64_t off = pc - e->pc;
    uint32_t lo = 0, hi = e->starts;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (e->offsets[mid] < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo + (lo < e->starts && e->offsets[lo] == off ? 1 : 0);
}

/* The block entered last ran ``ran`` of its instructions (at the next block's entry that is
 * counted - block_base, exact there: Python settles a block cut short, and a cut by a store is
 * settled below). Each marked instruction among them ran once more. */
static inline void attribute(const struct entry *e, uint64_t ran) {
    for (uint32_t i = 0; i < e->nmarks; i++)
        if (e->marks[i].position < ran)
            ++*e->marks[i].cell;
}

/* Block e would cross the deadline after ``left`` of its instructions: arrange for those to
 * run now and the core to stop before the next (see struct counter). 0: it cannot be done so
 * (nothing fits, the instruction addresses are not known, an exit is set already). */
static int run_tail(void *uc, struct counter *c, struct entry *e, uint64_t left) {
    if (left == 0 || left >= e->starts || !e->offsets || c->tail_exit)
        return 0;
    uint64_t exit = e->pc + e->offsets[left];
    uint32_t size = (uint32_t)(exit - e->pc);
    struct entry *t = find(c, e->pc, size);
    if (t == 0)
        return 0;
    if (t->size == 0) {
        t->pc = e->pc;
        t->size = size;
        t->hits = 0;
        c->filled++;
    }
    /* the part is the block's first ``left`` instructions: its addresses and marks are the
     * block's (a mark counts when its position is below the instructions run) */
    t->count = (uint32_t)left;
    t->part = 1;
    t->offsets = e->offsets;
    t->starts = (uint32_t)left;
    t->marks = e->marks;
    t->nmarks = e->nmarks;
    if (c->next_flags && left <= CF_COUNT_MASK) {
        uint32_t eip = 0;
        c->part_pc = e->pc;
        c->part_size = size;
        c->part_left = (uint32_t)left;
        *c->next_flags = (uint32_t)left; /* (the core's other compile flags are 0 here) */
        /* leave the block before its first instruction: the core looks EIP up again */
        if (c->reg_read(uc, c->eip_id, &eip) || c->reg_write(uc, c->eip_id, &eip)) {
            *c->next_flags = NO_FLAGS;
            c->part_left = 0;
            return 0;
        }
        c->tails++;
        c->parts++;
        return 1;
    }
    if (c->uc_ctl(uc, c->ctl_exits, &exit, (size_t)1))
        return 0;
    c->tail_exit = exit;
    c->tail_pc = e->pc;
    c->tail_size = size;
    /* the block (and any block starting in it) is translated again when the core comes back
     * to it, unchanged: it keeps its count */
    c->trusted_pc = e->pc;
    c->trusted_end = e->pc + e->size;
    c->trusted_left = 4;
    uint32_t eip = 0;
    /* (only the translations that hold pc: one starting at the exit stays, to be run later) */
    if (c->uc_ctl(uc, c->ctl_remove, e->pc, e->pc + 1) || c->reg_read(uc, c->eip_id, &eip)
            || c->reg_write(uc, c->eip_id, &eip)) {
        c->emu_stop(uc); /* (cannot happen; if it does, Python finds the exit set and ends) */
        c->refused = 2;
        return 1;
    }
    c->tails++;
    return 1;
}

/* Count the marks of the current block's whole runs not counted yet (the fast path only notes
 * them: a loop that runs one block again and again adds to its marks when it leaves). */
static inline void flush(struct counter *c) {
    struct entry *e = c->current;
    if (c->pending && e)
        for (uint32_t i = 0; i < e->nmarks; i++)
            if (e->marks[i].position < e->count)
                *e->marks[i].cell += c->pending;
    c->pending = 0;
}

/* Everything but the common case of vlab_block (kept out of it: the common case then needs no
 * registers saved, no stack frame). */
static void __attribute__((noinline)) enter_block(void *uc, uint64_t pc, uint32_t size,
                                                  struct counter *c) {
    struct entry *prev = c->current;
    flush(c);
    if (c->off)
        return;
    uint32_t single = 0; /* the block is one instruction of the previous block */
    /* A block that starts inside the previous one and does not end where it ends (not a REP
     * instruction starting over, not a jump back to a label in it or to its start) means the
     * previous block was cut short where no hook saw it: the core does that when a guest store
     * rewrites the block being executed (before the store is done), then runs the store as a
     * block of one instruction, which must not be refused (the core would not make it one
     * instruction again, and the store would cut its block forever). What ran of the previous
     * block is what came before the store: the store retires once, in its own block.
     * (count= mode counts it twice: its counting hook ran before the first attempt.) */
    /* After a part of a block, run to a deadline, the next block is refused: one entered
     * inside the part can only be that store run again, even when the part ends with it
     * (its last instruction is no REP string or jump, which would end the whole block). */
    if (prev && !c->settled && !c->refused && prev->offsets && prev->pc <= pc
            && pc < prev->pc + prev->size
            && (pc + size != prev->pc + prev->size || (prev->part && pc != prev->pc))) {
        uint32_t k = position(prev, pc); /* (the instruction at pc included) */
        c->counted = c->block_base + (k ? k - 1 : 0);
        c->cuts++;
        single = k > 0 && k <= prev->starts && prev->offsets[k - 1] == pc - prev->pc
                 && (k == prev->starts ? prev->size : prev->offsets[k]) == pc - prev->pc + size;
    }
    if (prev && prev->nmarks)
        attribute(prev, c->counted - c->block_base);
    struct entry *e = find(c, pc, size);
    c->block_pc = pc;
    c->block_size = size;
    c->block_base = c->counted;
    c->settled = 0;
    c->current = 0;
    if (single && e && e->size == 0) { /* one instruction: no need to ask Python */
        e->pc = pc;
        e->size = size;
        e->hits = 0;
        e->starts = 0;
        e->offsets = 0;
        e->marks = 0;
        e->nmarks = 0;
        e->part = 0;
        c->filled++;
    }
    if (single && e)
        e->count = 1;
    if (e == 0 || e->size == 0 || e->count == 0) {
        c->block_count = 0;
        c->refused = 1;
        c->emu_stop(uc);
        return;
    }
    c->block_count = e->count;
    if (c->counted + e->count > c->deadline && !c->admit) {
        if (c->native_tails && run_tail(uc, c, e, c->deadline - c->counted))
            return;
        c->refused = 2;
        c->emu_stop(uc);
        return;
    }
    c->admit = 0;
    c->refused = 0;
    c->counted += e->count;
    c->current = e;
    if (pc == c->part_pc && size == c->part_size) { /* the part asked for: the request is done */
        c->part_pc = 0;
        c->part_size = 0;
        c->part_left = 0;
    }
    c->blocks++;
    e->hits++;
}

void vlab_block(void *uc, uint64_t pc, uint32_t size, struct counter *c) {
    struct entry *prev = c->current;
    /* The common case first: the block entered last, entered again (a loop), known, fitting
     * before the deadline, nothing pending: the same bookkeeping as below, without the look-up. */
    if (prev && prev->pc == pc && prev->size == size) {
        uint64_t next = c->counted + prev->count;
        if (prev->count && !(c->refused | c->admit | c->settled | c->off) && next <= c->deadline) {
            if (prev->nmarks)
                c->pending++; /* (it ran whole: flush() counts its marks) */
            c->block_base = c->counted;
            c->counted = next;
            return;
        }
    }
    if (c->off) /* (not counting: no need to look further) */
        return;
    enter_block(uc, pc, size, c);
}

void vlab_generated(void *uc, uc_tb *cur, uc_tb *prev, struct counter *c) {
    (void)uc;
    (void)prev;
    struct entry *e = find(c, cur->pc, cur->size);
    if (e == 0 || e->size == 0)
        return;
    e->generation++;
    if (c->tail_exit && cur->pc == c->tail_pc && cur->size == c->tail_size)
        return; /* the part before the deadline (its count includes the exit: not compared) */
    if (cur->pc == c->part_pc && cur->size == c->part_size && e->count == cur->icount)
        return; /* a part translated on request, as many instructions as asked for */
    if (c->trusted_left > 0 && cur->pc < c->trusted_end && c->trusted_pc < cur->pc + cur->size
            && e->count == cur->icount) { /* (a block that overlaps the window) */
        c->trusted_left--; /* (a stop hook added or removed: the same code, the same count) */
        return;
    }
    e->count = 0;
}

/* Python's side of the table: 0 on success, -1 if the table is full. */
int vlab_put(struct counter *c, uint64_t pc, uint32_t size, uint32_t count,
             const uint16_t *offsets, uint32_t starts) {
    struct entry *e = find(c, pc, size);
    if (e == 0)
        return -1;
    if (e->size == 0) {
        e->pc = pc;
        e->size = size;
        e->hits = 0;
        c->filled++;
    }
    e->marks = 0; /* (Python marks the block again if it holds counted instructions) */
    e->nmarks = 0;
    e->part = 0; /* (a block the core translated: a whole one) */
    e->count = count;
    e->offsets = offsets;
    e->starts = starts;
    return 0;
}

/* Python's side: the marked instructions of the block (pc, size); -1 if it is not in the table. */
int vlab_mark(struct counter *c, uint64_t pc, uint32_t size, const struct mark *marks,
              uint32_t n) {
    struct entry *e = find(c, pc, size);
    if (e == 0 || e->size == 0)
        return -1;
    e->marks = n ? marks : 0;
    e->nmarks = n;
    return 0;
}

/* The slice is over: the block entered last ran ``ran`` instructions (Python knows how many from
 * where EIP is); count its marked ones, and forget it (the next slice starts afresh). */
void vlab_attribute_last(struct counter *c, uint64_t ran) {
    flush(c);
    struct entry *e = c->current;
    if (e && e->nmarks)
        attribute(e, ran);
    c->current = 0;
}

/* After a run in which the hook ran a block's part before the deadline: empty Unicorn's exit
 * list again (the core dropped the part's translation, which ends at the exit, as the run
 * ended). 0 on success, else Unicorn's error. */
int vlab_end_tail(struct counter *c, void *uc) {
    uint64_t none = 0;
    c->tail_exit = 0;
    return c->uc_ctl(uc, c->ctl_exits, &none, (size_t)0);
}

/* BlockCounter.cut_at, outside a code hook: the instruction at ``eip`` faulted; the count as
 * count= mode counts it (that instruction included), kept as the block's end. -1: the block's
 * instruction addresses are not here (Python works it out). */
int64_t vlab_cut_at(struct counter *c, uint64_t eip) {
    uint64_t value = c->counted;
    if (!c->settled && !c->refused && c->block_count && c->block_pc <= eip
            && eip < c->block_pc + c->block_size) {
        struct entry *e = find(c, c->block_pc, c->block_size);
        if (e == 0 || e->size == 0 || !e->offsets)
            return -1;
        value = c->block_base + position(e, eip);
    }
    c->counted = value;
    c->settled = 1;
    return (int64_t)value;
}

/* UC_HOOK_INTR, added before Python's interrupt hook (Unicorn runs them in that order): the
 * fault's error code and origin are read and Unicorn's stale fault state cleared (as
 * FaultReset.take does), and the block is cut at the instruction (as vlab_cut_at), so that the
 * Python hook reads four numbers instead of making three calls. */
void vlab_interrupt(void *uc, uint32_t intno, struct counter *c) {
    (void)intno;
    if (!c->fault_old)
        return;
    uint32_t eip = 0;
    c->reg_read(uc, c->eip_id, &eip);
    c->fault_error = (uint32_t)*c->fault_err;
    c->fault_software = *c->fault_is_int != 0;
    *c->fault_old = -1;
    c->fault_eip = eip;
    c->fault_count = vlab_cut_at(c, eip);
}

/* The entry for (pc, size), or NULL. */
struct entry *vlab_get(struct counter *c, uint64_t pc, uint32_t size) {
    struct entry *e = find(c, pc, size);
    return (e == 0 || e->size == 0) ? 0 : e;
}

void vlab_clear(struct counter *c) {
    for (uint32_t i = 0; i < SLOTS; i++) {
        c->table[i].size = 0;
        c->table[i].offsets = 0;
        c->table[i].marks = 0;
        c->table[i].nmarks = 0;
        c->table[i].part = 0;
    }
    c->filled = 0;
    c->current = 0;
    c->pending = 0;
}

/* Python is about to read the marks' counters in the middle of a slice: count what is noted. */
void vlab_flush(struct counter *c) { flush(c); }

uint64_t vlab_slots(void) { return SLOTS; }
uint64_t vlab_counter_size(void) { return sizeof(struct counter); }

void vlab_boundary(void *uc, uint64_t address, uint32_t size, struct counter *c) {
    (void)uc;
    (void)address;
    (void)size;
    (void)c;
}

void vlab_stop_here(void *uc, uint64_t address, uint32_t size, struct counter *c) {
    (void)address;
    (void)size;
    c->emu_stop(uc);
}
