# title: A command code the standard reserves (01h, 02h) is aborted: an interrupt, BSY=0 DRQ=0 ERR=1, ABRT in the Error register; the drive then runs IDENTIFY DEVICE normally
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 7.9 Error (ABRT: the command code or a parameter is not supported), 7.15 Status (ERR), 9.4 Non-data command protocol, Annex E (command codes: 01h and 02h reserved)
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# Reserved codes, not obsolete ones: an obsolete command (e.g. 91h, INITIALIZE DEVICE PARAMETERS)
# may still be implemented (Bochs's does), so its outcome is not fixed.
# expect:
# | command 0x00000001: interrupts 1, status (BSY DRQ ERR) 0x00000001, error ABRT 0x00000004
# | command 0x00000002: interrupts 1, status (BSY DRQ ERR) 0x00000001, error ABRT 0x00000004
# | IDENTIFY DEVICE after: interrupts 1, status (BSY DRQ ERR) 0x00000008
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    mov bl, 0x01
    call try
    mov bl, 0x02
    call try
    mov dword ptr [ata_irqs], 0
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xA0
    call ata_wait_not_busy
    mov esi, offset msg_after
    call ata_identify_report
    EXIT 0

# try: write command code bl to device 0; print what the drive said.
try:
    mov dword ptr [ata_irqs], 0
    PRINT "command "
    movzx eax, bl
    call puthex
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xA0
    call ata_wait_not_busy
    mov al, bl
    call ata_command
    mov ecx, 1
    call ata_wait_irqs
    ATA_WINDOW
    PRINT ": interrupts "
    mov eax, [ata_irqs]
    call putdec
    PRINT ", status (BSY DRQ ERR) "
    movzx eax, byte ptr [ata_irq_status]
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    call puthex
    PRINT ", error ABRT "
    ATA_IN ATA_ERROR
    and al, ATA_ABRT
    call puthex
    call newline
    ret

.section .rodata
msg_after: .asciz "IDENTIFY DEVICE after: "
