# title: IA32_PAT (MSR 0x277) reads its power-up value 0x0007040600070406
# sdm: vol. 3A 12.12.4? "Programming the PAT" (table: PAT entries after power-up or reset: WB, WT, UC-, UC, WB, WT, UC-, UC)
# paravirt: n/a RDMSR of IA32_PAT: MSRs are the hypervisor's
# expect:
# | PAT high = 0x00070406
# | PAT low = 0x00070406
.include "conf.inc"
main:
    mov ecx, 0x277
    rdmsr
    mov ebx, eax
    SHOW "PAT high = ", edx
    SHOW "PAT low = ", ebx
    EXIT 0
