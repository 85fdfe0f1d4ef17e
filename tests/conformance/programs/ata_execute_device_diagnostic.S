# title: EXECUTE DEVICE DIAGNOSTIC (90h), a command every device implements: one interrupt, BSY=0 DRQ=0, diagnostic code 01h in the Error register (device 0 passed, device 1 not present), the ATA signature in Sector Count and LBA Low/Mid/High over the values the host wrote
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 8.11 EXECUTE DEVICE DIAGNOSTIC (diagnostic codes), 9.10 EXECUTE DEVICE DIAGNOSTIC command protocol, 9.12 Signature and persistence, 7.9 Error
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# The Device register is not printed: Bochs's keeps its LBA bit through this command.
# expect:
# | interrupts 1, status (BSY DRQ) 0x00000000
# | error (diagnostic code): 0x00000001
# | signature (count, LBA low, mid, high): 0x00000001 0x00000001 0x00000000 0x00000000
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    call ata_wait_not_busy
    ATA_OUT ATA_DEVICE, 0xA0
    call ata_wait_not_busy
    ATA_OUT ATA_COUNT, 0x55
    ATA_OUT ATA_LBA_LOW, 0xAA
    ATA_OUT ATA_LBA_MID, 0x12
    ATA_OUT ATA_LBA_HIGH, 0x34
    mov al, 0x90
    call ata_command
    mov ecx, 1
    call ata_wait_irqs
    call ata_wait_not_busy
    ATA_WINDOW
    PRINT "interrupts "
    mov eax, [ata_irqs]
    call putdec
    PRINT ", status (BSY DRQ) "
    movzx eax, byte ptr [ata_irq_status]
    and al, ATA_BSY | ATA_DRQ
    call puthex
    call newline
    ATA_IN ATA_ERROR
    SHOW "error (diagnostic code): ", eax
    PRINT "signature (count, LBA low, mid, high):"
    call ata_show_registers
    EXIT 0
