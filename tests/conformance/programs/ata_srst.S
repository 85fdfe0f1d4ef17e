# title: Software reset: with SRST=1 the drive is busy (BSY=1); once SRST=0 and BSY=0 it shows no error and no DRQ, the diagnostic code 01h in the Error register, the ATA signature (Sector Count 01h, LBA Low 01h, LBA Mid 00h, LBA High 00h, Device 00h: device 0 selected) over the values the host wrote, and it runs IDENTIFY DEVICE normally
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 9.2 Software reset protocol, 7.8 Device Control (SRST), 7.15 Status (BSY set after SRST is set), 9.12 Signature and persistence, 8.11 EXECUTE DEVICE DIAGNOSTIC (diagnostic code 01h: device 0 passed, device 1 passed or not present)
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# Device register: bits 7 and 5 are obsolete (Bochs's read as ones), so bits 6 and 4-0 are
# printed. DRDY right after BSY=0 and an interrupt for the reset are not printed.
# expect:
# | written (count, LBA low, mid, high): 0x00000055 0x000000aa 0x00000012 0x00000034
# | SRST=1: BSY 1
# | after the reset (BSY DRQ ERR): 0x00000000
# | error (diagnostic code): 0x00000001
# | signature (count, LBA low, mid, high): 0x00000001 0x00000001 0x00000000 0x00000000
# | device (bits 6, 4-0): 0x00000000
# | IDENTIFY DEVICE after: interrupts 1, status (BSY DRQ ERR) 0x00000008
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xE3            # device 0, LBA, LBA 27:24 = 3
    call ata_wait_not_busy
    ATA_OUT ATA_COUNT, 0x55
    ATA_OUT ATA_LBA_LOW, 0xAA
    ATA_OUT ATA_LBA_MID, 0x12
    ATA_OUT ATA_LBA_HIGH, 0x34
    PRINT "written (count, LBA low, mid, high):"
    call ata_show_registers
    ATA_OUT ATA_DEVCTL, ATA_SRST
    mov ecx, 5                          # the drive has 400 ns to set BSY: read it five times
1:  ATA_IN ATA_ALTSTATUS
    loop 1b
    shr al, 7
    SHOWD "SRST=1: BSY ", eax
    ATA_OUT ATA_DEVCTL, 0
    ATA_IN ATA_ALTSTATUS                # the first read may come before the drive set BSY
    call ata_wait_not_busy
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    SHOW "after the reset (BSY DRQ ERR): ", eax
    ATA_IN ATA_ERROR
    SHOW "error (diagnostic code): ", eax
    PRINT "signature (count, LBA low, mid, high):"
    call ata_show_registers
    ATA_IN ATA_DEVICE
    and al, 0x5F
    SHOW "device (bits 6, 4-0): ", eax
    mov ecx, ATA_SPIN                   # IDENTIFY DEVICE needs DRDY=1
3:  ATA_IN ATA_ALTSTATUS
    test al, ATA_DRDY
    jnz 2f
    loop 3b
    PRINT "DRDY never set\n"
    EXIT 1
2:  ATA_IN ATA_STATUS                   # acknowledges an interrupt the reset may have raised
    ATA_WINDOW
    mov dword ptr [ata_irqs], 0
    ATA_OUT ATA_DEVICE, 0xA0
    call ata_wait_not_busy
    mov esi, offset msg_after
    call ata_identify_report
    EXIT 0


.section .rodata
msg_after: .asciz "IDENTIFY DEVICE after: "
