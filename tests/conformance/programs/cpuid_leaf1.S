# title: CPUID leaf 1 on bare metal: ECX bit 31 (hypervisor present) is 0 (whether VMX is offered, ECX bit 5, is vmx_vmxon_ud_gp's subject)
# sdm: vol. 2A CPUID (table 3-10 "Feature Information Returned in the ECX Register": bit 31 "Not Used, always returns 0" on hardware; hypervisors set it)
# diverges: vtx a hypervisor's guest sees the hypervisor bit set
# expect:
# | hypervisor bit = 0x00000000
.include "conf.inc"
main:
    mov eax, 1
    cpuid
    shr ecx, 31
    SHOW "hypervisor bit = ", ecx
    EXIT 0
