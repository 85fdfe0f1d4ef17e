# Exercise 11, a reference solution: the exit handlers of the mini hypervisor.
#
# The skeleton (vlab/guests/hypervisor/hv.S built with HANDLERS=1) includes this file. Its vmexit
# saves the guest's general registers with PUSHAD, points ebp at them ([ebp + R_EAX] ...
# [ebp + R_EDI]) and calls handle_exit; when handle_exit returns, the guest resumes at GUEST_RIP.
# Section numbers: Intel SDM vol. 3C, 2016 edition (as hv.S).

# handle_exit: dispatch on the exit reason (24.9.1: bits 15:0 the basic reason, appendix C;
# bit 31 set: the VM entry failed, 26.7).
handle_exit:
    VMR VM_EXIT_REASON
    test eax, eax
    js entry_failed
    movzx eax, ax
    cmp eax, EXIT_CPUID
    je on_cpuid
    cmp eax, EXIT_IO
    je on_io
    cmp eax, EXIT_HLT
    je on_hlt
    cmp eax, EXIT_CR_ACCESS
    je on_cr
    FAIL "unexpected VM exit, reason ", HV_UNEXPECTED_EXIT
entry_failed:
    FAIL "VM entry failed, exit reason ", HV_ENTRY_FAILED

# CPUID (reason 10): the host's answer for the guest's EAX (leaf) and ECX (subleaf); leaf 1
# says "hypervisor present" (ECX[31]) and hides VMX (ECX[5]).
on_cpuid:
    mov eax, [ebp + R_EAX]
    mov ecx, [ebp + R_ECX]
    cpuid
    cmp dword ptr [ebp + R_EAX], 1
    jne 1f
    and ecx, ~(1 << 5)
    or ecx, 1 << 31
1:  mov [ebp + R_EAX], eax
    mov [ebp + R_EBX], ebx
    mov [ebp + R_ECX], ecx
    mov [ebp + R_EDX], edx
    jmp advance

# I/O (reason 30; qualification: table 27-5): bits 2:0 size - 1, bit 3 IN, bit 4 string,
# bits 31:16 the port (whether the instruction named it in DX or as an immediate).
on_io:
    VMR EXIT_QUALIFICATION
    mov ebx, eax
    test ebx, 1 << 4
    jz 1f
    FAIL "string I/O, qualification ", HV_UNEXPECTED_EXIT
1:  mov edx, ebx
    shr edx, 16
    mov ecx, ebx
    and ecx, 7
    mov eax, [ebp + R_EAX]
    test ebx, 1 << 3
    jnz 4f
    cmp ecx, 1
    je 3f
    ja 2f
    out dx, al
    jmp advance
2:  out dx, eax
    jmp advance
3:  out dx, ax
    jmp advance
4:  cmp ecx, 1
    je 6f
    ja 5f
    in al, dx
    jmp 7f
5:  in eax, dx
    jmp 7f
6:  in ax, dx
7:  mov [ebp + R_EAX], eax              # (the bits of EAX the IN does not write are kept)
    jmp advance

# HLT (reason 12): past the HLT, and back in the HLT activity state (24.4.2): the guest waits
# for its next interrupt, which its own IDT takes.
on_hlt:
    call advance
    VMW GUEST_ACTIVITY_STATE, 1
    ret

# Control-register access (reason 28; qualification: table 27-3): bits 3:0 the CR, 5:4 the
# access type (0: MOV to CR), 11:8 the general register. MOV to CR0 or CR4 exits when it would
# change a bit of the guest/host mask: the guest's value becomes the read shadow, the real
# register gets it with the bits VMX forces (25.3).
on_cr:
    VMR EXIT_QUALIFICATION
    mov ebx, eax
    mov ecx, ebx
    shr ecx, 8
    and ecx, 15
    mov edx, ebx
    and edx, 0x3F
    cmp edx, 0x00                       # MOV to CR0
    je 1f
    cmp edx, 0x04                       # MOV to CR4
    je 2f
    mov eax, ebx
    FAIL "unhandled control-register access, qualification ", HV_UNEXPECTED_EXIT
1:  call gpr
    mov ebx, eax
    VMW CR0_READ_SHADOW, ebx
    mov eax, ebx
    or eax, [cr0_mask]
    and eax, [cr0_fixed1]
    VMW GUEST_CR0, eax
    jmp advance
2:  call gpr
    mov ebx, eax
    VMW CR4_READ_SHADOW, ebx
    mov eax, ebx
    or eax, [cr4_fixed0]
    and eax, [cr4_fixed1]
    VMW GUEST_CR4, eax
    jmp advance

# gpr: eax = the guest's general register number ecx (0 EAX ... 7 EDI; 4, ESP, is GUEST_RSP)
gpr:
    cmp ecx, 4
    je 1f
    neg ecx
    mov eax, [ebp + R_EAX + ecx * 4]
    ret
1:  VMR GUEST_RSP
    ret

# advance: GUEST_RIP += the instruction's length (27.2.4), and no blocking by STI or MOV SS
# (interruptibility bits 1:0, 24.4.2): it ends with that instruction.
advance:
    VMR VM_EXIT_INSTRUCTION_LEN
    mov ebx, eax
    VMR GUEST_RIP
    add eax, ebx
    VMW GUEST_RIP, eax
    VMR GUEST_INTERRUPTIBILITY
    and eax, ~3
    VMW GUEST_INTERRUPTIBILITY, eax
    ret
