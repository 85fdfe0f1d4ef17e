# title: VMLAUNCH runs a guest; its CPUID (unconditional), HLT (with "HLT exiting") and VMCALL cause VM exits with reasons 10, 12, 18, the instruction's length and its address in the guest RIP; VMRESUME continues after the host advances the guest RIP
# sdm: vol. 3C 25.1.2 (instructions that cause VM exits unconditionally: CPUID, VMCALL...), 25.1.3 (HLT exiting), 24.6.2 table 24-6 (bit 7 HLT exiting), 27.2.1 (exit reason), 27.2.5 (VM-exit instruction length), 27.3.3 (the guest RIP saved: the instruction's own), 27.5.3 (host RSP and RIP loaded, RFLAGS cleared but bit 1; the other general-purpose registers keep the guest's values), 27.5.2 (GDTR/IDTR limits FFFFH); appendix C (basic exit reasons 10 CPUID, 12 HLT, 18 VMCALL); vol. 2 VMLAUNCH/VMRESUME
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | host eflags after the exit = 0x00000002
# | gdtr, idtr limits after the exit = 0x0000ffff 0x0000ffff
# | ebx as the guest left it = 0x600df00d
# | exit reason 10
# | length 2
# | guest eip +0
# | guest esp = its stack top - 4
# | exit reason 12
# | length 1
# | guest eip +0
# | exit reason 18
# | length 3
# | guest eip +0
# | guest: runs on after the VMCALL exit
# | exit reason 12
# | guest eip +0
# | done
.include "conf.inc"
.include "vmx.inc"
main:
    mov eax, offset guest
    call vmx_guest
    SET_CTL CPU_BASED_VM_EXEC_CONTROL, IA32_VMX_PROCBASED_CTLS, CPU_HLT_EXITING
    VMENTER vmlaunch, "vmlaunch", exit1
    EXIT 2
exit1:
    pushfd
    pop eax
    SHOW "host eflags after the exit = ", eax
    sub esp, 8
    PRINT "gdtr, idtr limits after the exit = "
    sgdt [esp + 2]
    movzx eax, word ptr [esp + 2]
    call puthex
    PRINT " "
    sidt [esp + 2]
    movzx eax, word ptr [esp + 2]
    call puthex
    call newline
    add esp, 8
    SHOW "ebx as the guest left it = ", ebx
    SHOW_REASON
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW_EIP "guest eip ", g_cpuid
    VMR eax, GUEST_RSP
    neg eax
    add eax, offset gstack_top
    SHOWD "guest esp = its stack top - ", eax
    call vmx_skip
    VMENTER vmresume, "vmresume", exit2
    EXIT 2
exit2:
    SHOW_REASON
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW_EIP "guest eip ", g_hlt
    call vmx_skip
    VMENTER vmresume, "vmresume", exit3
    EXIT 2
exit3:
    SHOW_REASON
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW_EIP "guest eip ", g_vmcall
    call vmx_skip
    VMENTER vmresume, "vmresume", exit4
    EXIT 2
exit4:
    SHOW_REASON
    VSHOW_EIP "guest eip ", g_hlt2
    PRINT "done\n"
    EXIT 0

guest:
    push 0x1234
    mov ebx, 0x600DF00D
    xor eax, eax
g_cpuid:
    cpuid                               # does not execute: EBX stays
g_hlt:
    hlt
g_vmcall:
    vmcall
    PRINT "guest: runs on after the VMCALL exit\n"
g_hlt2:
    hlt
    jmp g_hlt2
