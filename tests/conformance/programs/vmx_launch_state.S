# title: the launch state of a VMCS: VMRESUME of a clear VMCS fails with error 5; VMLAUNCH succeeds and makes it launched, after which VMLAUNCH fails with error 4 and VMRESUME works; VMCLEAR makes it clear again (keeping its contents: the guest continues where it was); events blocked by MOV SS fail VM entry with error 26; without a current VMCS, VMLAUNCH and VMRESUME are VMfailInvalid
# sdm: vol. 3C 30.3 VMLAUNCH/VMRESUME (operation: VMfailInvalid if the current-VMCS pointer is not valid; VMfailValid("VM entry with events blocked by MOV SS") first, then VMfailValid("VMLAUNCH with non-clear VMCS") or ("VMRESUME with non-launched VMCS"); a successful VMLAUNCH sets the launch state to "launched"), VMCLEAR (launch state := clear; VMCS data written to the region), 24.1 (launch state), 24.11.3, 26.1 (checks before the VMX controls), 30.4 table 30-1 (errors 4, 5, 26), appendix C (exit reason 18 VMCALL)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmresume, VMCS clear: CF=0 ZF=1 error 5
# | exit reason 18
# | guest eip +0
# | vmlaunch, VMCS launched: CF=0 ZF=1 error 4
# | exit reason 18
# | guest eip +0
# | vmclear: CF=0 ZF=0
# | vmptrld: CF=0 ZF=0
# | vmresume after vmclear: CF=0 ZF=1 error 5
# | exit reason 18
# | guest eip +0
# | vmresume after mov ss: CF=0 ZF=1 error 26
# | exit reason 18
# | guest eip +0
# | vmclear: CF=0 ZF=0
# | vmlaunch, no current VMCS: CF=1 ZF=0
# | vmresume, no current VMCS: CF=1 ZF=0
.include "conf.inc"
.include "vmx.inc"
main:
    mov eax, offset guest
    call vmx_guest
    VMENTER vmresume, "vmresume, VMCS clear", unexpected
    VMENTER vmlaunch, "vmlaunch", exit1
    jmp done
exit1:
    SHOW_REASON
    VSHOW_EIP "guest eip ", g1
    VMENTER vmlaunch, "vmlaunch, VMCS launched", unexpected
    call vmx_skip
    VMENTER vmresume, "vmresume", exit2
    jmp done
exit2:
    SHOW_REASON
    VSHOW_EIP "guest eip ", g2
    call vmx_skip
    VMTRY "vmclear", vmclear qword ptr [vmcs_a_ptr]
    VMTRY "vmptrld", vmptrld qword ptr [vmcs_a_ptr]
    VMENTER vmresume, "vmresume after vmclear", unexpected
    VMENTER vmlaunch, "vmlaunch after vmclear", exit3
    jmp done
exit3:
    SHOW_REASON
    VSHOW_EIP "guest eip ", g3
    call vmx_skip
    mov eax, esp                        # VMENTER's set-up, then MOV SS right before VMRESUME
    VMW HOST_RSP, eax
    VMW HOST_RIP, offset unexpected
    mov ax, ss
    push 0x8D7
    popfd
    mov ss, ax
    vmresume
    pushfd
    PRINT "vmresume after mov ss"
    call vmx_show_flags
    VMENTER vmresume, "vmresume", exit4
    jmp done
exit4:
    SHOW_REASON
    VSHOW_EIP "guest eip ", g4
    VMTRY "vmclear", vmclear qword ptr [vmcs_a_ptr]
    VMENTER vmlaunch, "vmlaunch, no current VMCS", unexpected
    VMENTER vmresume, "vmresume, no current VMCS", unexpected
done:
    EXIT 0
unexpected:
    PRINT "unexpected VM exit: "
    SHOW_REASON
    EXIT 1

guest:
g1: vmcall
g2: vmcall
g3: vmcall
g4: vmcall
    jmp g4
