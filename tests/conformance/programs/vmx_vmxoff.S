# title: leaving VMX operation: in VMX root operation CR4.VMXE cannot be cleared (#GP(0)) and VMXOFF at CPL 3 is #GP(0); VMXOFF succeeds, after which VMREAD, VMPTRST and VMXOFF are #UD and CR4.VMXE can be cleared; a new VMXON succeeds with no current VMCS (VMPTRST stores FFFFFFFF_FFFFFFFFH)
# sdm: vol. 3C 23.7 and 23.8 ("CR4.VMXE cannot be cleared while in VMX operation": MOV to CR4 is #GP(0)), 30.3 VMXOFF (operation: #GP(0) if CPL > 0; leave VMX operation; VMsucceed), VMREAD, VMPTRST, VMXOFF ("#UD if not in VMX operation"), VMXON (current-VMCS pointer := FFFFFFFF_FFFFFFFFH), VMPTRST; vol. 2 MOV CR ("#GP(0) if ... CR4.VMXE cleared in VMX operation")
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmptrld: CF=0 ZF=0
# | clear CR4.VMXE in VMX operation: exception 13, error 0x00000000, eip +0
# | vmxoff at CPL 3: exception 13, error 0x00000000, eip +0, ring 3
# | vmxoff: CF=0 ZF=0
# | vmread after vmxoff: exception 6, eip +0
# | vmptrst after vmxoff: exception 6, eip +0
# | vmxoff after vmxoff: exception 6, eip +0
# | clear CR4.VMXE after vmxoff: done
# | vmxon again: CF=0 ZF=0
# | vmptrst: CF=0 ZF=0
# | stored 0xffffffff 0xffffffff
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    call vmx_on
    vmclear qword ptr [vmcs_a_ptr]
    VMTRY "vmptrld", vmptrld qword ptr [vmcs_a_ptr]
    mov eax, cr4
    mov esi, eax
    and eax, ~0x2000
    PRINT "clear CR4.VMXE in VMX operation: "
    MARK 1f
    RESUME 2f
1:  mov cr4, eax
2:  PRINT "vmxoff at CPL 3: "
    MARK 1f
    RESUME 2f
    TO_RING3 1f
1:  vmxoff
2:  UBACK 3f
3:  mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    VMTRY "vmxoff", vmxoff
    mov edx, GUEST_RIP
    PRINT "vmread after vmxoff: "
    MARK 1f
    RESUME 2f
1:  vmread eax, edx
2:  PRINT "vmptrst after vmxoff: "
    MARK 1f
    RESUME 2f
1:  vmptrst qword ptr [vmx_ptr]
2:  PRINT "vmxoff after vmxoff: "
    MARK 1f
    RESUME 2f
1:  vmxoff
2:  PRINT "clear CR4.VMXE after vmxoff: "
    mov eax, esi
    and eax, ~0x2000
    mov cr4, eax
    PRINT "done\n"
    mov cr4, esi
    VMTRY "vmxon again", vmxon qword ptr [vmxon_ptr]
    mov dword ptr [vmx_ptr], 0x12345678
    mov dword ptr [vmx_ptr + 4], 0x12345678
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    PRINT "stored "
    mov eax, [vmx_ptr + 4]
    call puthex
    PRINT " "
    mov eax, [vmx_ptr]
    call puthex
    call newline
    EXIT 0
