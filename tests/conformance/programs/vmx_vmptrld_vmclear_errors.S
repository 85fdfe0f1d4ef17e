# title: VMPTRLD and VMCLEAR operand checks: with a current VMCS, VMPTRLD fails with error 9 (not 4-KiB aligned, or beyond the physical-address width), 10 (the VMXON pointer), 11 (wrong revision identifier), VMCLEAR with error 2 (invalid address) and 3 (the VMXON pointer), and VMCLEAR does not check the revision identifier; without a current VMCS (after VMXON, or after VMCLEAR of the current VMCS) the same failures are VMfailInvalid
# sdm: vol. 3C 30.3 VMPTRLD (operation: VMfail("VMPTRLD with invalid physical address") if addr is not 4KB-aligned or sets bits beyond the physical-address width; VMfail("VMPTRLD with VMXON pointer"); VMfail("VMPTRLD with incorrect VMCS revision identifier") if rev[30:0] differs), VMCLEAR (VMfail("VMCLEAR with invalid physical address"), VMfail("VMCLEAR with VMXON pointer"); no revision check; the current-VMCS pointer becomes FFFFFFFF_FFFFFFFFH if addr is the current VMCS), VMXON (the current-VMCS pointer is invalid after VMXON), 30.2 (VMfail: VMfailValid with a current VMCS, else VMfailInvalid), 30.4 table 30-1 (errors 2, 3, 9, 10, 11)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmptrld the VMXON region, no current VMCS: CF=1 ZF=0
# | vmclear the VMXON region, no current VMCS: CF=1 ZF=0
# | vmptrld vmcs_a: CF=0 ZF=0
# | vmptrld the VMXON region: CF=0 ZF=1 error 10
# | vmptrld, pointer not 4-KiB aligned: CF=0 ZF=1 error 9
# | vmptrld, pointer with bit 63 set: CF=0 ZF=1 error 9
# | vmptrld, wrong revision identifier: CF=0 ZF=1 error 11
# | vmclear the VMXON region: CF=0 ZF=1 error 3
# | vmclear, pointer not 4-KiB aligned: CF=0 ZF=1 error 2
# | vmclear, pointer with bit 63 set: CF=0 ZF=1 error 2
# | vmclear, wrong revision identifier: CF=0 ZF=0
# | vmptrld vmcs_b: CF=0 ZF=0
# | vmclear vmcs_b, the current VMCS: CF=0 ZF=0
# | vmptrld the VMXON region, no current VMCS again: CF=1 ZF=0
# | vmclear, pointer not 4-KiB aligned, no current VMCS: CF=1 ZF=0
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    call vmx_on
    VMTRY "vmptrld the VMXON region, no current VMCS", vmptrld qword ptr [vmxon_ptr]
    VMTRY "vmclear the VMXON region, no current VMCS", vmclear qword ptr [vmxon_ptr]
    vmclear qword ptr [vmcs_a_ptr]      # a new VMCS region is cleared before its VMPTRLD (24.11.3)
    vmclear qword ptr [vmcs_b_ptr]
    VMTRY "vmptrld vmcs_a", vmptrld qword ptr [vmcs_a_ptr]
    VMTRY "vmptrld the VMXON region", vmptrld qword ptr [vmxon_ptr]
    mov dword ptr [vmx_ptr], offset vmcs_b + 0x800
    mov dword ptr [vmx_ptr + 4], 0
    VMTRY "vmptrld, pointer not 4-KiB aligned", vmptrld qword ptr [vmx_ptr]
    mov dword ptr [vmx_ptr], offset vmcs_b
    mov dword ptr [vmx_ptr + 4], 0x80000000
    VMTRY "vmptrld, pointer with bit 63 set", vmptrld qword ptr [vmx_ptr]
    xor dword ptr [vmcs_b], 1           # revision identifier bit 0 flipped
    VMTRY "vmptrld, wrong revision identifier", vmptrld qword ptr [vmcs_b_ptr]
    VMTRY "vmclear the VMXON region", vmclear qword ptr [vmxon_ptr]
    mov dword ptr [vmx_ptr], offset vmcs_b + 0x800
    mov dword ptr [vmx_ptr + 4], 0
    VMTRY "vmclear, pointer not 4-KiB aligned", vmclear qword ptr [vmx_ptr]
    mov dword ptr [vmx_ptr], offset vmcs_b
    mov dword ptr [vmx_ptr + 4], 0x80000000
    VMTRY "vmclear, pointer with bit 63 set", vmclear qword ptr [vmx_ptr]
    VMTRY "vmclear, wrong revision identifier", vmclear qword ptr [vmcs_b_ptr]
    xor dword ptr [vmcs_b], 1           # the right identifier again
    vmclear qword ptr [vmcs_b_ptr]
    VMTRY "vmptrld vmcs_b", vmptrld qword ptr [vmcs_b_ptr]
    VMTRY "vmclear vmcs_b, the current VMCS", vmclear qword ptr [vmcs_b_ptr]
    VMTRY "vmptrld the VMXON region, no current VMCS again", vmptrld qword ptr [vmxon_ptr]
    mov dword ptr [vmx_ptr], offset vmcs_b + 0x800
    mov dword ptr [vmx_ptr + 4], 0
    VMTRY "vmclear, pointer not 4-KiB aligned, no current VMCS", vmclear qword ptr [vmx_ptr]
    EXIT 0
