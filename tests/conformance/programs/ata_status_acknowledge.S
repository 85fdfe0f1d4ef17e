# title: Reading the Status register acknowledges the drive's interrupt (INTRQ negated: nothing is delivered when IF=1 again); reading Alternate Status does not (the interrupt is still delivered, once)
# spec: ATA/ATAPI-6 (T13/1410D rev. 3a) 7.3 Alternate Status (reading it does not clear a pending interrupt), 7.15 Status (reading it when an interrupt is pending clears it), 5.2.9 INTRQ, 9.5 PIO data-in command protocol
# paravirt: n/a a paravirtual kernel does no port I/O: it has no ATA registers to drive (the disk, if any, is the hypervisor's)
# disk: 1008
# IF=0 while the drive completes IDENTIFY DEVICE (it asserts INTRQ when DRQ=1); the host polls
# Alternate Status until BSY=0, then reads Alternate Status (case 1) or Status (case 2) before
# letting interrupts in. An 8259 whose request went away may deliver its IR7 (spurious) vector
# instead: ata.inc counts those apart, they are not IRQ 14.
# expect:
# | case 1, Alternate Status read 4 times (BSY DRQ ERR): 0x00000008
# | case 1, IRQ 14 delivered when IF=1: 1
# | case 2, Status read once (BSY DRQ ERR): 0x00000008
# | case 2, IRQ 14 delivered when IF=1: 0
# | case 2, Alternate Status after the data (BSY DRDY DRQ ERR): 0x00000040
.include "conf.inc"
.include "ata.inc"
main:
    call ata_setup
    call ata_identify_polled
    mov ecx, 4
1:  ATA_IN ATA_ALTSTATUS
    loop 1b
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    SHOW "case 1, Alternate Status read 4 times (BSY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "case 1, IRQ 14 delivered when IF=1: ", [ata_irqs]
    call ata_read_block
    call ata_wait_not_busy
    ATA_WINDOW
    mov dword ptr [ata_irqs], 0
    call ata_identify_polled
    ATA_IN ATA_STATUS
    and al, ATA_BSY | ATA_DRQ | ATA_ERR
    SHOW "case 2, Status read once (BSY DRQ ERR): ", eax
    ATA_WINDOW
    SHOWD "case 2, IRQ 14 delivered when IF=1: ", [ata_irqs]
    call ata_read_block
    call ata_wait_not_busy
    and al, ATA_SHOWN
    SHOW "case 2, Alternate Status after the data (BSY DRDY DRQ ERR): ", eax
    EXIT 0

