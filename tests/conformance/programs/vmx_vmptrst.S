# title: VMPTRST stores the 64-bit current-VMCS pointer: FFFFFFFF_FFFFFFFFH after VMXON, the region of the last successful VMPTRLD, unchanged by a failed VMPTRLD or a VMCLEAR of another region, FFFFFFFF_FFFFFFFFH again after a VMCLEAR of the current VMCS; at CPL 3 it is #GP(0)
# sdm: vol. 3C 30.3 VMPTRST (operation: 64-bit in-memory destination := current-VMCS pointer; VMsucceed; #GP(0) if CPL > 0), VMXON (current-VMCS pointer := FFFFFFFF_FFFFFFFFH), VMPTRLD, VMCLEAR (the pointer becomes FFFFFFFF_FFFFFFFFH if the operand is the current VMCS), 24.1 (the current-VMCS pointer)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmptrst after vmxon: CF=0 ZF=0
# | stored: 0xffffffff_ffffffff
# | vmptrld vmcs_a: CF=0 ZF=0
# | vmptrst: CF=0 ZF=0
# | stored: vmcs_a
# | vmptrld vmcs_b: CF=0 ZF=0
# | vmptrst: CF=0 ZF=0
# | stored: vmcs_b
# | vmptrld the VMXON region: CF=0 ZF=1 error 10
# | vmptrst: CF=0 ZF=0
# | stored: vmcs_b
# | vmclear vmcs_a: CF=0 ZF=0
# | vmptrst: CF=0 ZF=0
# | stored: vmcs_b
# | vmptrst at CPL 3: exception 13, error 0x00000000, eip +0, ring 3
# | vmclear vmcs_b: CF=0 ZF=0
# | vmptrst: CF=0 ZF=0
# | stored: 0xffffffff_ffffffff
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    call vmx_on
    vmclear qword ptr [vmcs_a_ptr]
    vmclear qword ptr [vmcs_b_ptr]
    call poison
    VMTRY "vmptrst after vmxon", vmptrst qword ptr [vmx_ptr]
    call stored
    VMTRY "vmptrld vmcs_a", vmptrld qword ptr [vmcs_a_ptr]
    call poison
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    call stored
    VMTRY "vmptrld vmcs_b", vmptrld qword ptr [vmcs_b_ptr]
    call poison
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    call stored
    VMTRY "vmptrld the VMXON region", vmptrld qword ptr [vmxon_ptr]
    call poison
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    call stored
    VMTRY "vmclear vmcs_a", vmclear qword ptr [vmcs_a_ptr]
    call poison
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    call stored
    PRINT "vmptrst at CPL 3: "
    MARK 1f
    RESUME 2f
    TO_RING3 1f
1:  vmptrst qword ptr [vmx_ptr]
2:  UBACK 3f
3:  mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    VMTRY "vmclear vmcs_b", vmclear qword ptr [vmcs_b_ptr]
    call poison
    VMTRY "vmptrst", vmptrst qword ptr [vmx_ptr]
    call stored
    EXIT 0

poison:                                 # the destination before each VMPTRST
    mov dword ptr [vmx_ptr], 0x12345678
    mov dword ptr [vmx_ptr + 4], 0x9ABCDEF0
    ret
stored:                                 # "stored: " the 64-bit value at vmx_ptr, by name
    PRINT "stored: "
    mov eax, [vmx_ptr]
    mov edx, [vmx_ptr + 4]
    test edx, edx
    jnz 3f
    cmp eax, offset vmcs_a
    jne 1f
    PRINT "vmcs_a\n"
    ret
1:  cmp eax, offset vmcs_b
    jne 3f
    PRINT "vmcs_b\n"
    ret
3:  push eax
    mov eax, edx
    call puthex
    PRINT "_"
    pop eax
    call puthex_nox
    call newline
    ret
puthex_nox:                             # eax as 8 hex digits, no "0x"
    push ecx
    mov ecx, 8
1:  rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe 2f
    add al, 'a' - '0' - 10
2:  call putc
    pop eax
    loop 1b
    pop ecx
    ret
