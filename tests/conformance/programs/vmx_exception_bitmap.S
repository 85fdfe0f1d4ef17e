# title: the exception bitmap: a guest #UD whose bit is 0 is delivered through the guest's IDT (no exit); with its bit set the #UD exits (reason 0) with VM-exit interruption information 80000306H (vector 6, hardware exception, valid) and the guest RIP at the faulting instruction; INT3 with bit 3 exits as a software exception (80000603H, instruction length 1); a #GP with bit 13 exits with the error code valid (80000B0DH) and the error code in its own field
# sdm: vol. 3C 24.6.3 (exception bitmap: a bit per vector, 1 = the exception causes a VM exit), 25.2 (exceptions: the bitmap is consulted; #PF also with the error-code mask/match), 27.2.2 and table 24-15 (VM-exit interruption information: bits 7:0 vector, 10:8 type 3 hardware exception, 6 software exception, bit 11 error code valid, bit 31 valid; VM-exit interruption error code), 27.2.4 (IDT-vectoring information: bit 31 clear when the exit did not happen during event delivery), 27.2.5 (instruction length for software exceptions), 27.3.3 (a fault saves the RIP of the faulting instruction), appendix C (0 exception or NMI, 18 VMCALL); vol. 3A 6.15 (#UD, #BP, #GP)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | guest: exception 6, eip +0
# | exit reason 18
# | ud2: exit reason 0
# | interruption information 0x80000306
# | IDT-vectoring information 0x00000000
# | guest eip +0
# | int3: exit reason 0
# | interruption information 0x80000603
# | length 1
# | guest eip +0
# | mov ds, 0x80: exit reason 0
# | interruption information 0x80000b0d
# | error code 0x00000080
# | guest eip +0
# | exit reason 18
.include "conf.inc"
.include "vmx.inc"
main:
    mov eax, offset guest
    call vmx_guest
    VMW EXCEPTION_BITMAP, 0
    VMENTER vmlaunch, "vmlaunch", x1
    EXIT 1
x1: SHOW_REASON
    VMW EXCEPTION_BITMAP, (1 << 6) | (1 << 3) | (1 << 13)
    call vmx_skip
    VMENTER vmresume, "vmresume", x2
    EXIT 1
x2: PRINT "ud2: "
    SHOW_REASON
    VSHOW "interruption information ", VM_EXIT_INTR_INFO
    VSHOW "IDT-vectoring information ", IDT_VECTORING_INFO_FIELD
    VSHOW_EIP "guest eip ", g_ud
    VMW GUEST_RIP, offset g_bp
    VMENTER vmresume, "vmresume", x3
    EXIT 1
x3: PRINT "int3: "
    SHOW_REASON
    VSHOW "interruption information ", VM_EXIT_INTR_INFO
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW_EIP "guest eip ", g_bp
    call vmx_skip
    VMENTER vmresume, "vmresume", x4
    EXIT 1
x4: PRINT "mov ds, 0x80: "
    SHOW_REASON
    VSHOW "interruption information ", VM_EXIT_INTR_INFO
    VSHOW "error code ", VM_EXIT_INTR_ERROR_CODE
    VSHOW_EIP "guest eip ", g_gp
    VMW GUEST_RIP, offset g_end
    VMENTER vmresume, "vmresume", x5
    EXIT 1
x5: SHOW_REASON
    EXIT 0

guest:
    PRINT "guest: "
    MARK 1f
    RESUME 2f
1:  ud2                                 # bit 6 clear: the guest's own #UD handler
2:  vmcall
g_ud:
    ud2
g_bp:
    int3
    mov ax, 0x80                        # beyond the GDT's limit: #GP(0x80)
g_gp:
    mov ds, ax
g_end:
    vmcall
