# Exercise 11: the exit handlers of the mini hypervisor (see README.md). The skeleton, hv.S
# built with HANDLERS=1, includes this file; its vmexit calls handle_exit with ebp pointing at
# the guest's registers ([ebp + R_EAX] ... [ebp + R_EDI]) and resumes the guest when
# handle_exit returns.

handle_exit:
    mov edx, VM_EXIT_REASON             # VMREAD: EDX = the field's encoding (0x4402)
    vmread eax, edx
    # TODO: a failed VM entry (bit 31): FAIL "VM entry failed, exit reason ", HV_ENTRY_FAILED
    movzx eax, ax                       # the basic exit reason
    cmp eax, EXIT_CPUID
    je on_cpuid
    cmp eax, EXIT_IO
    je on_io
    cmp eax, EXIT_HLT
    je on_hlt
    cmp eax, EXIT_CR_ACCESS
    je on_cr
    FAIL "unexpected VM exit, reason ", HV_UNEXPECTED_EXIT

# CPUID (reason 10)
on_cpuid:
    # TODO: CPUID with the guest's EAX and ECX; leaf 1: ECX bit 31 set, bit 5 clear; the four
    # registers back to the guest; then advance
    VMR GUEST_RIP
    FAIL "TODO: on_cpuid, guest EIP ", HV_UNEXPECTED_EXIT

# I/O (reason 30; qualification: table 27-5)
on_io:
    # TODO: port, size and direction from the qualification; the IN or OUT for the guest;
    # then advance
    VMR GUEST_RIP
    FAIL "TODO: on_io, guest EIP ", HV_UNEXPECTED_EXIT

# HLT (reason 12)
on_hlt:
    # TODO: advance, then GUEST_ACTIVITY_STATE = 1 (HLT)
    VMR GUEST_RIP
    FAIL "TODO: on_hlt, guest EIP ", HV_UNEXPECTED_EXIT

# Control-register access (reason 28; qualification: table 27-3)
on_cr:
    # TODO: MOV to CR0 and MOV to CR4: the read shadow and GUEST_CR0 / GUEST_CR4; then advance
    VMR EXIT_QUALIFICATION
    FAIL "TODO: on_cr, qualification ", HV_UNEXPECTED_EXIT

# advance: past the instruction that exited
advance:
    # TODO: GUEST_RIP += VM_EXIT_INSTRUCTION_LEN; clear bits 1:0 of GUEST_INTERRUPTIBILITY
    ret
