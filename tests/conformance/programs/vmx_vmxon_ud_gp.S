# title: VMX instructions outside VMX operation: VMXON with CR4.VMXE = 0 is #UD; with CR4.VMXE = 1 but before VMXON, VMREAD, VMWRITE, VMPTRST, VMCLEAR, VMLAUNCH, VMXOFF and VMCALL are #UD; VMXON with a CR0 bit that IA32_VMX_CR0_FIXED0 fixes to 1 clear (NE) is #GP(0), and at CPL 3 #GP(0); then VMXON succeeds
# sdm: vol. 3C 23.6 (CPUID.1:ECX.VMX), 23.7 (CR4.VMXE enables VMX: VMXON is #UD while it is 0), 23.8 and A.7 (CR0 bits fixed in VMX operation: VMXON is #GP(0) if CR0 is not supported), 30.3 VMXON ("#UD if CR4.VMXE = 0"; "#GP(0) if CPL > 0 or the values of CR0 and CR4 are not supported"), VMREAD, VMWRITE, VMPTRST, VMCLEAR, VMLAUNCH, VMXOFF, VMCALL ("#UD if not in VMX operation"), 30.2 (VMsucceed clears CF PF AF ZF SF OF)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: vtx the guest's VMCALL is a hypercall to vlab's monitor (as KVM takes a VMCALL from its guest), not the root-operation VMCALL of a VMX processor (VMfail, or #UD outside VMX operation)
# expect:
# | cpuid.1:ecx.vmx = 1
# | vmxon, CR4.VMXE = 0: exception 6, eip +0
# | vmread before vmxon: exception 6, eip +0
# | vmwrite before vmxon: exception 6, eip +0
# | vmptrst before vmxon: exception 6, eip +0
# | vmclear before vmxon: exception 6, eip +0
# | vmlaunch before vmxon: exception 6, eip +0
# | vmxoff before vmxon: exception 6, eip +0
# | vmcall before vmxon: exception 6, eip +0
# | vmxon, a CR0 bit fixed to 1 clear: exception 13, error 0x00000000, eip +0
# | vmxon at CPL 3: exception 13, error 0x00000000, eip +0, ring 3
# | vmxon: CF=0 ZF=0
.include "conf.inc"
.include "vmx.inc"
main:
    mov eax, 1
    cpuid
    shr ecx, 5
    and ecx, 1
    SHOWD "cpuid.1:ecx.vmx = ", ecx
    call vmx_init                       # paging, CR0 and CR4 as the fixed MSRs say
    mov eax, cr4
    and eax, ~0x2000                    # CR4.VMXE = 0
    mov cr4, eax
    PRINT "vmxon, CR4.VMXE = 0: "
    MARK 1f
    RESUME 2f
1:  vmxon qword ptr [vmxon_ptr]
2:  mov eax, cr4
    or eax, 0x2000                      # CR4.VMXE = 1, still outside VMX operation
    mov cr4, eax
    mov edx, VM_EXIT_REASON
    PRINT "vmread before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmread eax, edx
2:  PRINT "vmwrite before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmwrite edx, eax
2:  PRINT "vmptrst before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmptrst qword ptr [vmx_ptr]
2:  PRINT "vmclear before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmclear qword ptr [vmcs_a_ptr]
2:  PRINT "vmlaunch before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmlaunch
2:  PRINT "vmxoff before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmxoff
2:  PRINT "vmcall before vmxon: "
    MARK 1f
    RESUME 2f
1:  vmcall
2:  mov ecx, IA32_VMX_CR0_FIXED0        # a CR0 bit fixed to 1 other than PE and PG (NE)
    rdmsr
    and eax, 0x7FFFFFFE
    bsf ebx, eax
    jnz 3f
    PRINT "(no CR0 bit but PE and PG is fixed to 1)\n"
    jmp 4f
3:  mov eax, cr0
    mov esi, eax
    btr eax, ebx
    mov cr0, eax
    PRINT "vmxon, a CR0 bit fixed to 1 clear: "
    MARK 1f
    RESUME 2f
1:  vmxon qword ptr [vmxon_ptr]
2:  mov cr0, esi
4:  PRINT "vmxon at CPL 3: "
    MARK 1f
    RESUME 2f
    TO_RING3 1f
1:  vmxon qword ptr [vmxon_ptr]
2:  UBACK 5f
5:  mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    VMTRY "vmxon", vmxon qword ptr [vmxon_ptr]
    EXIT 0
