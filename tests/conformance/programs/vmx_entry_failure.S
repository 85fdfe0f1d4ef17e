# title: a VM entry that fails its guest-state checks or its MSR loading is not a VMfail but a VM exit to HOST_RIP with bit 31 of the exit reason set: reason 33 (qualification 0; 4 for a bad VMCS link pointer) for GUEST_RFLAGS bit 1 clear, a CS that is not code, STI blocking with IF = 0, a bad link pointer; reason 34 (qualification: the 1-based index of the failing MSR-load entry) for an MSR that WRMSR would refuse; the launch state stays clear, so VMLAUNCH then succeeds
# sdm: vol. 3C 26.3.1.2 (CS type must be 9, 11, 13 or 15), 26.3.1.4 (RFLAGS: bit 1 must be 1), 26.3.1.5 (interruptibility: blocking by STI must be 0 if RFLAGS.IF = 0; VMCS link pointer: if not FFFFFFFF_FFFFFFFFH, bits 11:0 must be 0 and the region must hold the revision identifier), 26.4 (VM-entry MSR loading: an entry whose WRMSR would #GP fails the entry), 26.8 (VM-entry failures during or after loading guest state: exit reason with bit 31 set, exit qualification, host state loaded as on a VM exit, RFLAGS = 2; the launch state is not changed), 27.2.1 (exit qualification for VM-entry failures: 0 default, 4 invalid VMCS link pointer; for MSR loading, the entry number), 30.3 VMLAUNCH (the launch state becomes "launched" only when the entry succeeds), appendix C (33 "VM-entry failure due to invalid guest state", 34 "VM-entry failure due to MSR loading")
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | GUEST_RFLAGS = 0: exit reason 33, bit 31 set (VM-entry failure)
# | qualification 0x00000000
# | host eflags = 0x00000002
# | guest CS a data segment: exit reason 33, bit 31 set (VM-entry failure)
# | qualification 0x00000000
# | blocking by STI with IF = 0: exit reason 33, bit 31 set (VM-entry failure)
# | qualification 0x00000000
# | VMCS link pointer not 4-KiB aligned: exit reason 33, bit 31 set (VM-entry failure)
# | qualification 0x00000004
# | MSR-load entry 2 of 2 a non-existent MSR: exit reason 34, bit 31 set (VM-entry failure)
# | qualification 0x00000002
# | every field restored: exit reason 18
.include "conf.inc"
.include "vmx.inc"

# FAIL "text", field, value: field := value, VMLAUNCH (whose entry must fail: the exit is
# shown), field := its old value.
.macro FAIL msg, field, value:vararg
    VMR esi, \field
    VMW \field, \value
    PRINT "\msg: "
    VMENTER vmlaunch, "vmlaunch", 1f
    EXIT 1
1:  call failed
    VMW \field, esi
.endm

main:
    mov eax, offset guest
    call vmx_guest
    VMR esi, GUEST_RFLAGS
    VMW GUEST_RFLAGS, 0
    PRINT "GUEST_RFLAGS = 0: "
    VMENTER vmlaunch, "vmlaunch", 1f
    EXIT 1
1:  pushfd
    call failed
    pop eax
    SHOW "host eflags = ", eax
    VMW GUEST_RFLAGS, esi
    FAIL "guest CS a data segment", GUEST_CS_AR_BYTES, 0xC093
    FAIL "blocking by STI with IF = 0", GUEST_INTERRUPTIBILITY_INFO, 1
    FAIL "VMCS link pointer not 4-KiB aligned", VMCS_LINK_POINTER, offset vmcs_b + 8
    VMW VMCS_LINK_POINTER+1, 0xFFFFFFFF  # (the full-field write cleared bits 63:32)
    # the MSR-load area (16 bytes an entry: index, reserved, data low, data high)
    mov dword ptr [vmx_page], 0x174     # IA32_SYSENTER_CS := 0: fine
    mov dword ptr [vmx_page + 4], 0
    mov dword ptr [vmx_page + 8], 0
    mov dword ptr [vmx_page + 12], 0
    mov dword ptr [vmx_page + 16], 0x12345678   # no such MSR: WRMSR would #GP(0)
    mov dword ptr [vmx_page + 20], 0
    mov dword ptr [vmx_page + 24], 0
    mov dword ptr [vmx_page + 28], 0
    VMW VM_ENTRY_MSR_LOAD_ADDR, offset vmx_page
    VMW VM_ENTRY_MSR_LOAD_ADDR+1, 0
    FAIL "MSR-load entry 2 of 2 a non-existent MSR", VM_ENTRY_MSR_LOAD_COUNT, 2
    PRINT "every field restored: "
    VMENTER vmlaunch, "vmlaunch", 1f
    EXIT 1
1:  SHOW_REASON
    EXIT 0

failed:                                 # the reason and qualification of a failed entry
    SHOW_REASON
    VSHOW "qualification ", EXIT_QUALIFICATION
    ret

guest:
    vmcall
    jmp guest
