# title: CPUID leaf 1 on bare metal: ECX bit 31 (hypervisor present) is 0; ECX bit 5 (VMX) says whether VMXON can work, and vlab's machine offers its guests' code no VMX (VMXON is #UD)
# sdm: vol. 2A CPUID (table 3-10 "Feature Information Returned in the ECX Register": bit 5 VMX; bit 31 "Not Used, always returns 0" on hardware); vol. 3C 23.6 (discovering VMX support: VMXON is #UD where CPUID.1:ECX.VMX = 0)
# bochs: skip vlab's CPU model (Bochs models a VT-x-capable processor)
# diverges: vtx a hypervisor's guest sees the hypervisor bit set (and VMX hidden: no nested VMX)
# expect:
# | hypervisor bit = 0x00000000
# | vmx bit = 0x00000000
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
