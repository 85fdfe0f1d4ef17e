# title: VMREAD and VMWRITE failures: without a current VMCS VMfailInvalid; with one, an encoding that names no field (a reserved bit set, or the "high" access type of a field that is not 64 bits wide) fails with error 12; VMWRITE to a read-only VM-exit information field fails with error 13 unless IA32_VMX_MISC[29] says software may write them; at CPL 3 both are #GP(0)
# sdm: vol. 3C 30.3 VMREAD and VMWRITE (operation: VMfailInvalid if the current-VMCS pointer is invalid; VMfailValid("VMREAD/VMWRITE from/to unsupported VMCS component") if the register source operand does not correspond to any VMCS field; VMfailValid("VMWRITE to read-only VMCS component") if it is a VM-exit information field and IA32_VMX_MISC[29] = 0; #GP(0) if CPL > 0), 24.11.2 and table 24-21 (component encoding: bit 0 access type, the "high" type only for 64-bit fields; bits 12 and 31:15 reserved), appendix B (VM-exit reason 4402H, a read-only data field), A.6 (IA32_VMX_MISC bit 29), 30.4 table 30-1 (errors 12, 13)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmread, no current VMCS: CF=1 ZF=0
# | vmwrite, no current VMCS: CF=1 ZF=0
# | vmread 0x00008000 (bit 15 reserved): CF=0 ZF=1 error 12
# | vmread 0x00001000 (bit 12 reserved): CF=0 ZF=1 error 12
# | vmread 0x00000c01 (high half of a 16-bit field): CF=0 ZF=1 error 12
# | vmread 0x00006c01 (high half of a natural-width field): CF=0 ZF=1 error 12
# | vmwrite 0x00008000 (bit 15 reserved): CF=0 ZF=1 error 12
# | vmwrite 0x00004c01 (high half of a 32-bit field): CF=0 ZF=1 error 12
# | vmwrite to the VM-exit reason field: as IA32_VMX_MISC[29] says
# | vmread at CPL 3: exception 13, error 0x00000000, eip +0, ring 3
# | vmwrite at CPL 3: exception 13, error 0x00000000, eip +0, ring 3
# | vmread of a supported field still works: CF=0 ZF=0
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    call vmx_on
    mov edx, GUEST_RIP
    VMTRY "vmread, no current VMCS", vmread eax, edx
    VMTRY "vmwrite, no current VMCS", vmwrite edx, eax
    call vmx_vmcs_a
    mov edx, 0x00008000
    VMTRY "vmread 0x00008000 (bit 15 reserved)", vmread eax, edx
    mov edx, 0x00001000
    VMTRY "vmread 0x00001000 (bit 12 reserved)", vmread eax, edx
    mov edx, HOST_ES_SELECTOR + 1
    VMTRY "vmread 0x00000c01 (high half of a 16-bit field)", vmread eax, edx
    mov edx, HOST_CR0 + 1
    VMTRY "vmread 0x00006c01 (high half of a natural-width field)", vmread eax, edx
    xor eax, eax
    mov edx, 0x00008000
    VMTRY "vmwrite 0x00008000 (bit 15 reserved)", vmwrite edx, eax
    mov edx, HOST_IA32_SYSENTER_CS + 1
    VMTRY "vmwrite 0x00004c01 (high half of a 32-bit field)", vmwrite edx, eax
    # VM-exit reason: read-only unless IA32_VMX_MISC[29] = 1 (then the write succeeds and the
    # field reads back what was written)
    mov ecx, IA32_VMX_MISC
    rdmsr
    shr eax, 29
    and eax, 1
    mov ebx, eax                        # 1: writable
    mov edx, VM_EXIT_REASON
    mov eax, 0x12
    push 0x8D7
    popfd
    vmwrite edx, eax
    pushfd
    pop esi
    and esi, 0x8D5                      # the arithmetic flags
    PRINT "vmwrite to the VM-exit reason field: "
    test ebx, ebx
    jz 1f
    test esi, esi                       # writable: VMsucceed, reads back 0x12
    jnz 8f
    mov eax, -1
    vmread eax, edx
    cmp eax, 0x12
    jne 8f
    jmp 9f
1:  cmp esi, 0x40                       # read-only: VMfailValid(13)
    jne 8f
    mov edx, VM_INSTRUCTION_ERROR
    vmread eax, edx
    cmp eax, 13
    jne 8f
9:  PRINT "as IA32_VMX_MISC[29] says\n"
    jmp 2f
8:  PRINT "not as IA32_VMX_MISC[29] says\n"
2:  mov edx, GUEST_RIP
    PRINT "vmread at CPL 3: "
    MARK 1f
    RESUME 2f
    TO_RING3 1f
1:  vmread eax, edx
2:  UPRINT "vmwrite at CPL 3: "
    MARK 1f
    RESUME 2f
1:  vmwrite edx, eax
2:  UBACK 3f
3:  mov ax, KERNEL_DS
    mov ds, ax
    mov es, ax
    mov edx, GUEST_RIP
    VMTRY "vmread of a supported field still works", vmread eax, edx
    EXIT 0
