# title: With no device 1 on the channel, selecting device 1 (DEV=1) makes device 0 answer for it: Status and Alternate Status read 00h, a command written (IDENTIFY DEVICE) is ignored (no interrupt, no DRQ); device 0 selected again is idle and runs IDENTIFY DEVICE
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 9.16.1 Device 0 only configurations (device 1 selected: Status and Alternate Status read 00h, Command register writes ignored but EXECUTE DEVICE DIAGNOSTIC), 7.7 Device (DEV, bit 4), 5.2.9 INTRQ
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# expect:
# | device 1: Status 0x00000000, Alternate Status 0x00000000
# | device 1, IDENTIFY DEVICE written: interrupts 0, Status 0x00000000
# | device 0 again (BSY DRDY DRQ ERR): 0x00000040
# | device 0, IDENTIFY DEVICE: interrupts 1, status (BSY DRQ ERR) 0x00000008
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xB0            # device 1
    call statuses
    PRINT "device 1: Status "
    mov eax, ebx
    call puthex
    PRINT ", Alternate Status "
    mov eax, esi
    call puthex
    call newline
    mov al, ATA_IDENTIFY
    call ata_command
    ATA_WINDOW
    call statuses
    PRINT "device 1, IDENTIFY DEVICE written: interrupts "
    mov eax, [ata_irqs]
    call putdec
    PRINT ", Status "
    mov eax, ebx
    call puthex
    call newline
    ATA_OUT ATA_DEVICE, 0xA0            # device 0
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "device 0 again (BSY DRDY DRQ ERR): ", eax
    mov esi, offset msg_device0
    call ata_identify_report
    EXIT 0

# statuses: esi = Alternate Status (read four times, the last kept), ebx = Status.
statuses:
    mov ecx, 4
1:  ATA_IN ATA_ALTSTATUS
    loop 1b
    mov esi, eax
    ATA_IN ATA_STATUS
    mov ebx, eax
    ret

.section .rodata
msg_device0: .asciz "device 0, IDENTIFY DEVICE: "
