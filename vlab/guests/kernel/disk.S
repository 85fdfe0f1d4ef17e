# The disk workload: an ATA PIO driver with interrupt-driven completion, writing and reading back.
#
# A small protected-mode kernel with one device driver, for the chapter on I/O virtualization:
#   - IDENTIFY DEVICE: how many sectors the disk has, and whether it speaks LBA;
#   - reads the first PATTERN sectors as they are on the disk image and checksums them;
#   - writes SECTORS sectors of generated data from LBA FIRST, BATCH sectors a command (WRITE
#     SECTORS, 256 words through the data port per sector, an interrupt after each), then reads
#     them back (READ SECTORS, an interrupt before each sector) and compares checksums;
#   - asks for a sector past the end of the disk: the drive refuses (ERR, with IDNF or ABRT);
#   - prints how many disk interrupts (IRQ 14, vector 0x2E through the slave 8259) it took.
# Every register access is an IN or OUT: under trap-and-emulate each one traps, under binary
# translation each is a callout, under VT-x each is an I/O exit (when the controls say so).
# ATA/ATAPI-6 (ANSI INCITS 361-2002): registers section 7, commands 8.15, 8.27, 8.62, PIO data-in
# and data-out protocols 9.5 and 9.6. The 8259s: master line 2 is the slave (IRQ 8-15).
#
# Two more builds swap the ATA driver for a paravirtual one, the same workload on the same disk:
# a ring of requests in memory (a virtio 1.1 split virtqueue, section 2.6, of virtio-blk requests,
# 5.2.6; the device is vlab/hw/blkring.py). A request is a descriptor chain: header {type,
# reserved, sector}, a descriptor per sector, the status byte. The driver makes a batch available
# and notifies the device once; the device completes it and interrupts once.
#   - --defsym PV=1 (guest "disk-pv"): the paravirtual kernel. Set-up is vlab's blkring_op
#     hypercall, the notification Xen's event_channel_op(EVTCHNOP_send), the completion an event
#     (its bit in evtchn_pending, then the upcall); no IDT, no PIC, no port, no CLI/STI/HLT.
#   - --defsym BLKRING=1 (guest "disk-pvhvm"): the unmodified kernel with the paravirtual driver
#     (a "PV driver in an HVM guest"): set-up through the device's I/O ports, one OUT per batch to
#     notify (as virtio-pci's notify register), the completion on IRQ 11 (the slave 8259's line 3).

.include "vlab.inc"
.include "kernel.inc"

.ifdef PV
.set BLKRING, 1                # a paravirtual kernel has no ports: its disk is the ring
.endif

.ifndef SECTORS
.set SECTORS, 32               # sectors written and read back (16 KiB)
.endif
.ifndef BATCH
.set BATCH, 8                  # sectors a command
.endif
.ifndef FIRST
.set FIRST, 64                 # the first sector written (the image's own data comes before)
.endif
.ifndef PATTERN
.set PATTERN, 4                # sectors of the image read as they are
.endif
.set GDT_ENTRIES, 8
.set ATA_DATA, 0x1F0
.set ATA_ERROR, 0x1F1
.set ATA_COUNT, 0x1F2
.set ATA_LBA0, 0x1F3
.set ATA_LBA1, 0x1F4
.set ATA_LBA2, 0x1F5
.set ATA_DEVICE, 0x1F6
.set ATA_COMMAND, 0x1F7        # read: status
.set ATA_ALTSTATUS, 0x3F6      # read: status without acknowledging the interrupt
.set ATA_IDENTIFY, 0xEC
.set ATA_READ, 0x20
.set ATA_WRITE, 0x30
.set PIC2_CMD, 0xA0
.set PIC2_DATA, 0xA1
.ifdef BLKRING
.set DISK_VECTOR, VBLK_VECTOR  # IRQ 11: the slave 8259's line 3
.ifndef QUEUE_SIZE
.set QUEUE_SIZE, 32            # descriptors in the ring: a request takes its sectors + 2
.endif
.if BATCH + 2 > QUEUE_SIZE || PATTERN + 2 > QUEUE_SIZE
.error "a request's chain (its sectors + 2 descriptors) must fit in the ring: raise QUEUE_SIZE"
.endif
.else
.set DISK_VECTOR, 0x2E         # IRQ 14: the slave 8259's line 6 (vectors 0x28-0x2F)
.endif

# EVENTS_OFF / EVENTS_ON: interrupts off and on; a paravirtual kernel masks events with a byte
# in the shared-info page instead (a store: no trap).
.macro EVENTS_OFF
.ifdef PV
    mov byte ptr [UPCALL_MASK], 1
.else
    cli
.endif
.endm
.macro EVENTS_ON
.ifdef PV
    mov byte ptr [UPCALL_MASK], 0
.else
    sti
.endif
.endm

.section .text
.globl _start
_start:
    PV_SIGNATURE
    mov esp, offset kernel_stack_top
    PRINT "vlab disk workload\n"
    LOAD_SEGMENTS

.ifdef PV
    # --- Stack for traps, trap table and event callback: one multicall (as kernel-pv).
    mov eax, __HYPERVISOR_multicall
    mov ebx, offset boot_calls
    mov ecx, 3
    int HYPERCALL_VECTOR
.else
    # --- The IDT: every exception to a catch-all, the disk's interrupt to its handler.
    xor eax, eax
.Lfill_idt:
    mov ebx, offset unexpected_exception
    call set_gate
    inc eax
    cmp eax, 32
    jb .Lfill_idt
    mov eax, DISK_VECTOR
    mov ebx, offset disk_interrupt
    call set_gate
    lidt [idt_desc]

.ifdef BLKRING
    # --- The 8259s: only the cascade (master line 2) and the ring (slave line 3).
    mov al, 0xFB
    out PIC_DATA, al
    mov al, 0xF7
    out PIC2_DATA, al
.else
    # --- The 8259s: only the cascade (master line 2) and the disk (slave line 6).
    mov al, 0xFB
    out PIC_DATA, al
    mov al, 0xBF
    out PIC2_DATA, al
    mov al, 0                           # interrupts on in the drive (nIEN = 0)
    mov dx, ATA_ALTSTATUS
    out dx, al
.endif
.endif
    EVENTS_ON

.ifdef BLKRING
    # --- The ring: where it is, how big the disk is.
    call blk_setup
    jc setup_failed
    PRINT "disk: "
    mov eax, [disk_sectors]
    call putdec
    PRINT " sectors, a ring of "
    mov eax, QUEUE_SIZE
    call putdec
    PRINT " descriptors\n"
.else
    # --- IDENTIFY DEVICE: one 512-byte block of data, announced by an interrupt.
    mov al, 0xE0                        # LBA, the master drive
    mov dx, ATA_DEVICE
    out dx, al
    mov al, ATA_IDENTIFY
    mov dx, ATA_COMMAND
    out dx, al
    call wait_disk
    jc identify_failed
    mov edi, offset buffer
    call read_block
    PRINT "disk: "
    mov eax, [buffer + 120]             # words 60-61: user-addressable sectors (LBA28)
    mov [disk_sectors], eax
    call putdec
    PRINT " sectors, LBA "
    test word ptr [buffer + 98], 0x200  # word 49 bit 9: LBA supported
    jz 1f
    PRINT "yes\n"
    jmp 2f
1:  PRINT "no\n"
2:
.endif

    # --- The image as it is: its first PATTERN sectors, one READ SECTORS command.
    xor eax, eax
    mov ecx, PATTERN
    mov edi, offset buffer
    call read_sectors
    jc io_failed
    mov esi, offset buffer
    mov ecx, PATTERN * 128
    call checksum
    PRINT "image sectors 0-"
    push eax
    mov eax, PATTERN - 1
    call putdec
    PRINT ": checksum "
    pop eax
    call puthex
    call newline

    # --- Write SECTORS sectors of generated data, BATCH a command.
    xor ebx, ebx                        # sectors written
    mov dword ptr [expected], 0
.Lwrite_batch:
    mov edi, offset buffer              # generate the batch: dword j of sector s is
    mov ecx, BATCH * 128                # (s << 16) ^ (j * 0x9E3779B1)
    xor edx, edx
.Lgenerate:
    mov eax, edx
    shr eax, 7                          # the sector within the batch
    add eax, ebx
    shl eax, 16
    push edx
    imul edx, edx, 0x9E3779B1
    xor eax, edx
    pop edx
    stosd
    inc edx
    loop .Lgenerate
    mov esi, offset buffer
    mov ecx, BATCH * 128
    push ebx
    mov ebx, [expected]
    call checksum_more
    mov [expected], eax
    pop ebx
    lea eax, [ebx + FIRST]
    mov ecx, BATCH
    mov esi, offset buffer
    call write_sectors
    jc io_failed
    inc dword ptr [write_commands]
    add ebx, BATCH
    cmp ebx, SECTORS
    jb .Lwrite_batch
    PRINT "wrote "
    mov eax, SECTORS / 2
    call putdec
    PRINT " KiB in "
    mov eax, [write_commands]
    call putdec
    PRINT " commands\n"

    # --- Read them back, BATCH a command, and checksum what came back.
    xor ebx, ebx
    xor eax, eax
    mov [actual], eax
.Lread_batch:
    lea eax, [ebx + FIRST]
    mov ecx, BATCH
    mov edi, offset buffer
    call read_sectors
    jc io_failed
    mov esi, offset buffer
    mov ecx, BATCH * 128
    push ebx
    mov ebx, [actual]
    call checksum_more
    mov [actual], eax
    pop ebx
    add ebx, BATCH
    cmp ebx, SECTORS
    jb .Lread_batch
    PRINT "read back "
    mov eax, SECTORS / 2
    call putdec
    PRINT " KiB: checksum "
    mov eax, [actual]
    call puthex
    mov eax, [actual]
    cmp eax, [expected]
    jne 1f
    PRINT " (as written)\n"
    jmp 2f
1:  PRINT " (written: "
    mov eax, [expected]
    call puthex
    PRINT ")\n"
2:

    # --- A sector past the end: the drive refuses the command (ERR; IDNF or ABRT; the ring's
    # device: the status IOERR).
    PRINT "read past the end: "
    mov eax, [disk_sectors]
    mov ecx, 1
    mov edi, offset buffer
    call read_sectors
    jnc 1f
    PRINT "refused, status "
.ifdef BLKRING
    movzx eax, byte ptr [last_status]
    call putdec
    cmp byte ptr [last_status], VIRTIO_BLK_S_IOERR
    jne 3f
    PRINT " (IOERR)\n"
    jmp 2f
3:  PRINT " (not IOERR: wrong)\n"
    jmp 2f
.else
    movzx eax, byte ptr [last_status]
    and eax, 0xC9                       # BSY, DRDY, DRQ, ERR (DSC is command-dependent)
    call puthex
    mov dx, ATA_ERROR
    in al, dx
    test al, 0x14                       # IDNF or ABRT: ATA-6 allows either (8.27.6)
    jz 3f
    PRINT ", error IDNF or ABRT\n"
    jmp 2f
3:  PRINT ", no error bit (wrong)\n"
    jmp 2f
.endif
1:  PRINT "accepted (wrong)\n"
2:
.ifdef PV
    PRINT "disk events (upcalls): "
.else
    PRINT "disk interrupts: "
.endif
    mov eax, [disk_interrupts]
    call putdec
    call newline
    EVENTS_OFF
    EXIT 0

.ifdef BLKRING
setup_failed:
    PRINT "disk: the ring was refused (no disk, or a bad ring)\n"
    EXIT 4
.else
identify_failed:
    PRINT "IDENTIFY DEVICE failed: no disk\n"
    EXIT 4
.endif
io_failed:
    PRINT "disk error, status "
    mov al, [last_status]
    movzx eax, al
    call puthex
    call newline
    EXIT 5

.ifndef BLKRING
# read_sectors: eax = first LBA, ecx = count (1-256), edi = buffer. CF set if the drive refused.
read_sectors:
    push ecx
    call ata_command_setup
    mov al, ATA_READ
    mov dx, ATA_COMMAND
    out dx, al
    pop ecx
.Lread_next:
    call wait_disk                      # each sector is announced by an interrupt
    jc .Lread_done
    call read_block
    loop .Lread_next
    clc
.Lread_done:
    ret

# write_sectors: eax = first LBA, ecx = count (1-256), esi = data. CF set on an error.
write_sectors:
    push ecx
    call ata_command_setup
    mov al, ATA_WRITE
    mov dx, ATA_COMMAND
    out dx, al
    pop ecx
    call wait_drq                       # the first block is asked for without an interrupt
    jc .Lwrite_done
.Lwrite_next:
    push ecx
    mov ecx, 256
    mov dx, ATA_DATA
    cld
    rep outsw
    pop ecx
    call wait_disk                      # an interrupt after each sector: next one, or done
    jc .Lwrite_done
    loop .Lwrite_next
    clc
.Lwrite_done:
    ret

# ata_command_setup: sector count (cl) and LBA (eax) into the command block, master, LBA mode.
ata_command_setup:
    push eax
    mov dx, ATA_COUNT
    mov al, cl
    out dx, al
    mov eax, [esp]
    mov dx, ATA_LBA0
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA1
    out dx, al
    shr eax, 8
    mov dx, ATA_LBA2
    out dx, al
    shr eax, 8
    and al, 0x0F
    or al, 0xE0
    mov dx, ATA_DEVICE
    out dx, al
    pop eax
    ret

# read_block: 256 words from the data port to edi (edi advances).
read_block:
    push ecx
    push edx
    mov ecx, 256
    mov dx, ATA_DATA
    cld
    rep insw
    pop edx
    pop ecx
    ret

# wait_disk: sleep until the disk's interrupt handler has run (race-free: STI's shadow covers
# HLT). CF set if the status it saw has ERR.
wait_disk:
    cli
1:  cmp byte ptr [disk_event], 0
    jne 2f
    sti
    hlt
    cli
    jmp 1b
2:  mov byte ptr [disk_event], 0
    sti
    test byte ptr [last_status], 0x01
    jz 3f
    stc
    ret
3:  clc
    ret

# wait_drq: poll Alternate Status (no acknowledge) until BSY clears and DRQ or ERR is set.
wait_drq:
    push eax
    push edx
    mov dx, ATA_ALTSTATUS
1:  in al, dx
    test al, 0x80
    jnz 1b
    test al, 0x09
    jz 1b
    mov [last_status], al
    test al, 0x01
    pop edx
    pop eax
    jz 2f
    stc
    ret
2:  clc
    ret
.endif

# checksum: eax = checksum of ecx dwords at esi (rotate, add); checksum_more continues ebx's.
checksum:
    xor ebx, ebx
checksum_more:
    push esi
    push ecx
    mov eax, ebx
1:  rol eax, 5
    add eax, [esi]
    add esi, 4
    loop 1b
    pop ecx
    pop esi
    ret

.ifdef BLKRING
# ---------------------------------------------------------------- the paravirtual block driver
# read_sectors: eax = first sector, ecx = count, edi = buffer. CF set if the device refused.
read_sectors:
    push edx
    push esi
    mov edx, VIRTIO_BLK_T_IN
    mov esi, edi
    call blk_request
    pop esi
    pop edx
    ret

# write_sectors: eax = first sector, ecx = count, esi = data. CF set on an error.
write_sectors:
    push edx
    mov edx, VIRTIO_BLK_T_OUT
    call blk_request
    pop edx
    ret

# blk_request: one virtio-blk request (5.2.6) of ecx sectors (at least 1) from sector eax, of
# type edx (IN: into the buffer at esi; OUT: from it). Its chain (2.6.5): descriptor 0 the header
# (device-readable), 1..ecx a sector each (device-writable for IN), then the status byte
# (device-writable); NEXT links them. One chain in flight, so it always starts at descriptor 0.
# Made available (2.6.13), one notification, then wait until the device has used it. CF set
# unless the status is OK; last_status = the status (0xFF: the device stopped instead).
blk_request:
    pushad
    mov [blk_header], edx               # type
    mov dword ptr [blk_header + 4], 0   # reserved
    mov [blk_header + 8], eax           # sector (u64)
    mov dword ptr [blk_header + 12], 0
    mov byte ptr [blk_status], 0xFF     # (the device writes the status here)
    mov edi, offset vq_desc
    mov dword ptr [edi], offset blk_header
    mov dword ptr [edi + 4], 0
    mov dword ptr [edi + 8], 16
    mov dword ptr [edi + 12], VIRTQ_DESC_F_NEXT | (1 << 16)    # flags, next
    mov ebx, VIRTQ_DESC_F_NEXT          # the data descriptors' flags: for a read the device
    cmp edx, VIRTIO_BLK_T_IN            # writes them
    jne 1f
    or ebx, VIRTQ_DESC_F_WRITE
1:  mov edx, 2 << 16                    # the next field of descriptor 1
2:  add edi, 16
    mov [edi], esi                      # addr (u64)
    mov dword ptr [edi + 4], 0
    mov dword ptr [edi + 8], 512        # len
    lea eax, [ebx + edx]
    mov [edi + 12], eax                 # flags | next << 16
    add esi, 512
    add edx, 1 << 16
    loop 2b
    add edi, 16
    mov dword ptr [edi], offset blk_status
    mov dword ptr [edi + 4], 0
    mov dword ptr [edi + 8], 1
    mov dword ptr [edi + 12], VIRTQ_DESC_F_WRITE                # the end of the chain
    movzx eax, word ptr [vq_avail + 2]  # available: ring[idx % size] = 0 (the head), then idx + 1
    mov ecx, eax                        # (x86 keeps stores in order, so the device sees the
    and ecx, QUEUE_SIZE - 1             # entry before the index: the barrier of 2.6.13.6)
    mov word ptr [vq_avail + 4 + ecx * 2], 0
    inc eax
    mov [vq_avail + 2], ax
.ifdef PV
    mov eax, __HYPERVISOR_event_channel_op  # the notification: one hypercall per batch
    mov ebx, EVTCHNOP_send
    mov ecx, offset blk_send
    int HYPERCALL_VECTOR
.else
    mov dx, VBLK_QUEUE_NOTIFY           # the notification: one OUT per batch (queue 0)
    xor eax, eax
    out dx, ax
.endif
    call wait_used
    jc 3f
    mov al, [blk_status]
    mov [last_status], al
    popad
    cmp byte ptr [last_status], VIRTIO_BLK_S_OK
    je 4f
    stc
    ret
4:  clc
    ret
3:  mov byte ptr [last_status], 0xFF
    popad
    stc
    ret

# wait_used: sleep until the device has used the chain (the used ring's idx moves past
# last_used: 2.6.8), then take its element. CF set if the device stopped instead: it needs a
# reset (2.1.2). Clobbers eax, ebx, edx.
wait_used:
    EVENTS_OFF
1:  mov ax, [vq_used + 2]
    cmp ax, [last_used]
    jne 2f
    call blk_device_status              # nothing used: has the device stopped?
    test al, VIRTIO_DEVICE_NEEDS_RESET
    jnz 3f
.ifdef PV
    mov eax, __HYPERVISOR_sched_op      # block: the hypervisor unmasks events first (Xen's
    mov ebx, SCHEDOP_block              # SCHEDOP_block), so no wake-up is lost
    int HYPERCALL_VECTOR
    mov byte ptr [UPCALL_MASK], 1
.else
    sti                                 # (STI's shadow covers HLT: no wake-up is lost)
    hlt
    cli
.endif
    jmp 1b
2:  inc word ptr [last_used]            # (its element: id 0, our one chain, and len)
    EVENTS_ON
    clc
    ret
3:  EVENTS_ON
    stc
    ret

# blk_device_status: al = the device status (2.1).
blk_device_status:
.ifdef PV
    push ebx
    mov eax, __HYPERVISOR_blkring_op
    mov ebx, BLKRING_status
    int HYPERCALL_VECTOR
    pop ebx
.else
    push edx
    mov dx, VBLK_STATUS
    in al, dx
    pop edx
.endif
    ret

# blk_setup: tell the device where the ring is, and ask how big the disk is (disk_sectors). CF
# set if it refused. Clobbers every general register but esp and ebp.
blk_setup:
.ifdef PV
    mov eax, __HYPERVISOR_blkring_op
    mov ebx, BLKRING_setup
    mov ecx, offset vq_desc
    mov edx, offset vq_avail
    mov esi, offset vq_used
    mov edi, QUEUE_SIZE
    int HYPERCALL_VECTOR
    test eax, eax
    js 1f
    mov [blk_send], eax                 # the ring's event channel: notify on it, hear on it
    mov eax, __HYPERVISOR_blkring_op
    mov ebx, BLKRING_capacity
    int HYPERCALL_VECTOR
.else
    mov dx, VBLK_STATUS                 # virtio 1.1, 3.1.1: reset, ACKNOWLEDGE, DRIVER,
    xor al, al                          # FEATURES_OK (no feature bits to negotiate), the
    out dx, al                          # queue, DRIVER_OK; then the status once more
    mov al, VIRTIO_ACKNOWLEDGE
    out dx, al
    or al, VIRTIO_DRIVER
    out dx, al
    or al, VIRTIO_FEATURES_OK
    out dx, al
    mov dx, VBLK_QUEUE_DESC
    mov eax, offset vq_desc
    out dx, eax
    mov dx, VBLK_QUEUE_DRIVER
    mov eax, offset vq_avail
    out dx, eax
    mov dx, VBLK_QUEUE_DEVICE
    mov eax, offset vq_used
    out dx, eax
    mov dx, VBLK_QUEUE_SIZE
    mov eax, QUEUE_SIZE
    out dx, eax
    mov dx, VBLK_STATUS
    mov al, VIRTIO_ACKNOWLEDGE | VIRTIO_DRIVER | VIRTIO_FEATURES_OK | VIRTIO_DRIVER_OK
    out dx, al
    in al, dx
    test al, VIRTIO_DEVICE_NEEDS_RESET
    jnz 1f
    mov dx, VBLK_CAPACITY               # virtio-blk's configuration: capacity (5.2.4)
    in eax, dx
.endif
    mov [disk_sectors], eax
    clc
    ret
1:  stc
    ret

.ifdef PV
# The hypervisor's upcall (Xen's evtchn_do_upcall for one channel): clear upcall_pending before
# looking, take the selector of pending words, then the ring's bit. The driver looks at the used
# ring itself; this counts the completion events.
event_callback:
    push eax
    mov byte ptr [UPCALL_PENDING], 0
    xor eax, eax
    xchg eax, [EVTCHN_PENDING_SEL]
    test eax, 1                         # word 0 of evtchn_pending: ports 0-31
    jz 1f
    mov eax, [blk_send]
    btr dword ptr [EVTCHN_PENDING], eax
    jnc 1f
    inc dword ptr [disk_interrupts]
1:  pop eax
    KIRET
.else
# The ring's interrupt (IRQ 11): read the ISR status (that drops the line, 4.1.4.5), count it,
# EOI both 8259s. The driver looks at the used ring itself.
disk_interrupt:
    push eax
    push edx
    mov dx, VBLK_ISR
    in al, dx
    inc dword ptr [disk_interrupts]
    mov al, 0x20
    out PIC2_CMD, al
    out PIC_CMD, al
    pop edx
    pop eax
    iretd
.endif
.else
# The disk's interrupt: read Status (that acknowledges it at the drive), note it, EOI both 8259s.
disk_interrupt:
    push eax
    push edx
    mov dx, ATA_COMMAND
    in al, dx
    mov [last_status], al
    mov byte ptr [disk_event], 1
    inc dword ptr [disk_interrupts]
    mov al, 0x20
    out PIC2_CMD, al
    out PIC_CMD, al
    pop edx
    pop eax
    KIRET
.endif

unexpected_exception:
    PRINT "unexpected exception: kernel stops\n"
    EXIT 1

.ifndef PV
# set_gate: IDT entry eax -> handler ebx, ring-0 interrupt gate.
set_gate:
    push edx
    lea edx, [idt + eax * 8]
    mov [edx], bx
    mov word ptr [edx + 2], KERNEL_CS
    mov byte ptr [edx + 4], 0
    mov byte ptr [edx + 5], 0x8E
    push ebx
    shr ebx, 16
    mov [edx + 6], bx
    pop ebx
    pop edx
    ret
.endif

.include "lib.inc"

.section .data
    KERNEL_GDT
.ifdef PV
.align 4
    PV_BOOT_CALLS
trap_table:                             # vector, flags (DPL | 4: mask events), CS, handler
    TRAP 0, 4, unexpected_exception
    TRAP 6, 4, unexpected_exception
    TRAP 13, 4, unexpected_exception
    TRAP 14, 4, unexpected_exception
    .long 0, 0                          # end of table
.endif
.align 4
disk_sectors:    .long 0
disk_interrupts: .long 0
write_commands:  .long 0
expected:        .long 0
actual:          .long 0
last_status:     .byte 0
disk_event:      .byte 0
.align 16
tss:             .space 0x68
.align 8
idt:             .space (SYSCALL_VECTOR + 1) * 8
.ifdef BLKRING
.align 4
blk_send:        .long 0                # evtchn_send {u32 port}: the ring's channel (PV)
last_used:       .word 0                # the used ring's idx as the driver last took it
.align 16
blk_header:      .space 16              # {u32 type, u32 reserved, u64 sector}
blk_status:      .byte 0
.align 16                               # the ring (2.6): alignment 16, 2 and 4 bytes
vq_desc:         .space QUEUE_SIZE * 16 # {u64 addr, u32 len, u16 flags, u16 next}
.align 16
vq_avail:        .space 6 + QUEUE_SIZE * 2  # {u16 flags, u16 idx, u16 ring[], u16 used_event}
.align 16
vq_used:         .space 6 + QUEUE_SIZE * 8  # {u16 flags, u16 idx, {u32 id, u32 len} ring[], ...}
.endif
.align 16
buffer:          .space BATCH * 512 + 512
.align 16
                 .space 4096
kernel_stack_top:
