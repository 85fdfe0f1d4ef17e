# A hostile block ring: requests a paravirtual back end must refuse without falling over.
# The paravirtual kernel sets up a ring of 4 descriptors and sends, one notification each:
#   1. a read whose data buffer lies outside guest RAM       -> status 1 (IOERR)
#   2. a read whose header lies outside guest RAM            -> status 1 (IOERR)
#   3. a read of the sector past the disk's last one         -> status 1 (IOERR)
#   4. a request of a type the device does not know (7)       -> status 2 (UNSUPP)
#   5. a good read of sector 3                               -> status 0, the sector's stamp 3
# and prints each status, the used ring's index and the data's first dword.
.set PV, 1
.include "vlab.inc"

.macro REQUEST type, sector, header_at, data_at
    mov dword ptr [header], \type
    mov dword ptr [header + 8], \sector
    mov dword ptr [vq_desc + 0], offset \header_at        # descriptor 0: the header (device reads)
    mov dword ptr [vq_desc + 8], 16
    mov word ptr [vq_desc + 12], VIRTQ_DESC_F_NEXT
    mov word ptr [vq_desc + 14], 1
    mov dword ptr [vq_desc + 16], offset \data_at         # descriptor 1: the data (device writes)
    mov dword ptr [vq_desc + 24], 512
    mov word ptr [vq_desc + 28], VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE
    mov word ptr [vq_desc + 30], 2
    mov dword ptr [vq_desc + 32], offset status    # descriptor 2: the status (device writes)
    mov dword ptr [vq_desc + 40], 1
    mov word ptr [vq_desc + 44], VIRTQ_DESC_F_WRITE
    call submit
.endm

.section .text
.globl _start
_start:
    jmp 1f
    .ascii "VLAB-PV1"
1:  mov esp, offset stack_top
    mov byte ptr [UPCALL_MASK], 1      # events masked: the completions stay pending
    mov eax, __HYPERVISOR_blkring_op
    mov ebx, BLKRING_setup
    mov ecx, offset vq_desc
    mov edx, offset vq_avail
    mov esi, offset vq_used
    mov edi, 4
    int HYPERCALL_VECTOR
    mov [port], eax
    PRINT "data outside RAM: "
    REQUEST 0, 3, header, 0x7FFFF000
    PRINT "header outside RAM: "
    REQUEST 0, 3, 0x7FFFFF00, buf
    PRINT "past the disk's end: "
    REQUEST 0, 100000, header, buf
    PRINT "unknown type: "
    REQUEST 7, 3, header, buf
    PRINT "good read: "
    mov dword ptr [buf], 0xFFFFFFFF
    REQUEST 0, 3, header, buf
    PRINT "sector stamp "
    mov eax, [buf]
    call putdec
    call newline
    EXIT 0

# submit: make chain 0 available, notify once, print the status and the used index.
submit:
    mov byte ptr [status], 0xFF
    movzx eax, word ptr [vq_avail + 2]
    mov ecx, eax
    and ecx, 3
    mov word ptr [vq_avail + 4 + ecx * 2], 0
    inc eax
    mov [vq_avail + 2], ax
    mov eax, __HYPERVISOR_event_channel_op
    mov ebx, EVTCHNOP_send
    mov ecx, offset port
    int HYPERCALL_VECTOR
    PRINT "status "
    movzx eax, byte ptr [status]
    call putdec
    PRINT ", used index "
    movzx eax, word ptr [vq_used + 2]
    call putdec
    call newline
    ret

.include "lib.inc"

.section .data
.align 16
vq_desc:  .space 16 * 4
vq_avail: .space 6 + 2 * 4
.align 4
vq_used:  .space 6 + 8 * 4
.align 4
port:     .long 0
header:   .long 0, 0, 0, 0
status:   .byte 0
.align 16
buf:      .space 512
          .space 4096
stack_top:
