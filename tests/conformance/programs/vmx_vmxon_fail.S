# title: VMXON's VMfail cases: a region with a wrong revision identifier (or bit 31 set), a pointer not 4-KiB aligned or beyond the physical-address width: VMfailInvalid; a correct VMXON succeeds; in VMX root operation VMXON fails with error 15 (VMfailValid only once there is a current VMCS, VMfailInvalid before), and VMCALL without a current VMCS with VMfailInvalid; VMXOFF succeeds
# sdm: vol. 3C 30.3 VMXON (operation: VMfailInvalid if addr is not 4KB-aligned, sets bits beyond the physical-address width, or rev[30:0] is not the VMCS revision identifier or rev[31] = 1; in VMX root operation VMfail("VMXON executed in VMX root operation")), VMCALL (in VMX root operation with IA32_SMM_MONITOR_CTL[0] = 0, as after reset: VMfail("VMCALL executed in VMX root operation"), VMfailInvalid without a current VMCS; the VMfailValid error 1 case is left out: Bochs 2.7 stops with "VMCALL: not implemented yet" there), 30.2 (VMfail: VMfailValid with a current VMCS, else VMfailInvalid), 30.4 table 30-1 (error 15), 24.2 and A.1 (the revision identifier, IA32_VMX_BASIC[30:0]), 23.7
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: vtx the guest's VMCALL is a hypercall to vlab's monitor (as KVM takes a VMCALL from its guest), not the root-operation VMCALL of a VMX processor (VMfail, or #UD outside VMX operation)
# expect:
# | vmxon, wrong revision identifier: CF=1 ZF=0
# | vmxon, revision identifier with bit 31 set: CF=1 ZF=0
# | vmxon, pointer not 4-KiB aligned: CF=1 ZF=0
# | vmxon, pointer with bit 63 set: CF=1 ZF=0
# | vmxon: CF=0 ZF=0
# | vmxon in VMX root operation, no current VMCS: CF=1 ZF=0
# | vmcall in VMX root operation, no current VMCS: CF=1 ZF=0
# | vmptrld: CF=0 ZF=0
# | vmxon in VMX root operation: CF=0 ZF=1 error 15
# | vmxoff: CF=0 ZF=0
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    mov eax, [vmx_rev]
    xor eax, 1
    mov [vmxon_region], eax
    VMTRY "vmxon, wrong revision identifier", vmxon qword ptr [vmxon_ptr]
    mov eax, [vmx_rev]
    or eax, 0x80000000
    mov [vmxon_region], eax
    VMTRY "vmxon, revision identifier with bit 31 set", vmxon qword ptr [vmxon_ptr]
    mov eax, [vmx_rev]
    mov [vmxon_region], eax
    mov dword ptr [vmx_ptr], offset vmxon_region + 0x800
    mov dword ptr [vmx_ptr + 4], 0
    VMTRY "vmxon, pointer not 4-KiB aligned", vmxon qword ptr [vmx_ptr]
    mov dword ptr [vmx_ptr], offset vmxon_region
    mov dword ptr [vmx_ptr + 4], 0x80000000
    VMTRY "vmxon, pointer with bit 63 set", vmxon qword ptr [vmx_ptr]
    VMTRY "vmxon", vmxon qword ptr [vmxon_ptr]
    VMTRY "vmxon in VMX root operation, no current VMCS", vmxon qword ptr [vmxon_ptr]
    VMTRY "vmcall in VMX root operation, no current VMCS", vmcall
    VMTRY "vmptrld", vmptrld qword ptr [vmcs_a_ptr]
    VMTRY "vmxon in VMX root operation", vmxon qword ptr [vmxon_ptr]
    VMTRY "vmxoff", vmxoff
    EXIT 0
