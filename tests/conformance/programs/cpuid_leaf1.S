# title: CPUID leaf 1 on bare metal: ECX bit 31 (hypervisor present) is 0; ECX bit 5 (VMX) is 1 on a VT-x-capable processor
# sdm: vol. 2A CPUID (table 3-10 "Feature Information Returned in the ECX Register": bit 5 VMX; bit 31 "Not Used, always returns 0" on hardware); vol. 3C 23.6 (discovering VMX support)
# bochs: skip vlab's CPU model (the expectation is a VT-x-capable processor on bare metal)
# expect:
# | hypervisor bit = 0x00000000
# | vmx bit = 0x00000001
.include "conf.inc"
main:
    mov eax, 1
    cpuid
    mov ebx, ecx
    shr ebx, 31
    SHOW "hypervisor bit = ", ebx
    shr ecx, 5
    and ecx, 1
    SHOW "vmx bit = ", ecx
    EXIT 0
