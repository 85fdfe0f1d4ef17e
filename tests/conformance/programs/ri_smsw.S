# title: Robin & Irvine: SMSW is unprivileged and reads the real CR0[15:0]: TS and MP set by MOV CR0 show, NE (clear in the guest) too
# sdm: vol. 2B SMSW; vol. 3A 2.5
# diverges: trap_emulate SMSW at ring 1 does not trap: it reads the real CR0, not the guest's
# paravirt: n/a SMSW of what MOV to CR0 wrote: CR0 is the hypervisor's
# expect:
# | smsw [5:0] = 0x0000001b
.include "conf.inc"
main:
    mov eax, cr0
    and eax, ~0x24                      # EM, NE clear
    or eax, 0xA                         # MP, TS
    mov cr0, eax
    smsw eax
    and eax, 0x3F
    SHOW "smsw [5:0] = ", eax
    EXIT 0
