# title: VMX instructions in VMX non-root operation cause VM exits (without VMCS shadowing), each with its basic exit reason and instruction length: VMCALL 18, VMCLEAR 19, VMLAUNCH 20, VMPTRLD 21, VMPTRST 22, VMREAD 23, VMRESUME 24, VMWRITE 25, VMXOFF 26, VMXON 27, INVEPT 50; the VM-exit instruction-information field names VMREAD's and VMWRITE's registers, and VMPTRLD's memory operand (address size, segment, base register; the displacement is the exit qualification)
# sdm: vol. 3C 25.1.2 (instructions that cause VM exits unconditionally: INVEPT, INVVPID, VMCALL, VMCLEAR, VMLAUNCH, VMPTRLD, VMPTRST, VMRESUME, VMXOFF, VMXON; VMREAD and VMWRITE with "VMCS shadowing" 0), 30.3 (each instruction's operation: "ELSIF in VMX non-root operation THEN VM exit"), 27.2.1 (exit qualification for VMX instructions: the displacement of the memory operand), 27.2.5 (instruction length), table 27-13 and 27-14 (VM-exit instruction information for VMREAD/VMWRITE: bits 6:3 register 1, bit 10 register operand, bits 31:28 register 2; for VMCLEAR, VMPTRLD, VMPTRST, VMXON: bits 9:7 address size 1 = 32-bit, 17:15 segment 3 = DS, bit 22 index register invalid, 26:23 base register, bit 27 base invalid; the other bits undefined and masked here), appendix C (18-27, 50); the processor is taken to support INVEPT (IA32_VMX_PROCBASED_CTLS2[33] and IA32_VMX_EPT_VPID_CAP[20], else INVEPT is #UD, vol. 3C 30.3 INVEPT)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmcall: exit reason 18, length 3, eip +0
# | vmclear: exit reason 19, length 4, eip +0
# | vmlaunch: exit reason 20, length 3, eip +0
# | vmptrld: exit reason 21, length 3, eip +0
# | vmptrst: exit reason 22, length 3, eip +0
# | vmread: exit reason 23, length 3, eip +0
# | vmresume: exit reason 24, length 3, eip +0
# | vmwrite: exit reason 25, length 3, eip +0
# | vmxoff: exit reason 26, length 3, eip +0
# | vmxon: exit reason 27, length 4, eip +0
# | invept: exit reason 50, length 5, eip +0
# | vmread eax, edx: instruction information 0x20000400
# | vmwrite edx, ecx: instruction information 0x20000408
# | vmptrld [ebx + 8]: instruction information 0x01c18080, qualification 0x00000008
# | guest: done
# | exit reason 18
.include "conf.inc"
.include "vmx.inc"

# Every exit comes to next_exit: the first 11 are shown by name (names, labels), the next three
# are the instruction-information cases, then the guest's last VMCALL ends the run.
main:
    mov eax, offset guest
    call vmx_guest
    VMENTER vmlaunch, "vmlaunch", next_exit
    EXIT 1
next_exit:
    mov esi, [count]
    inc dword ptr [count]
    cmp esi, 11
    jae extra
    mov eax, [names + esi * 4]
    push esi
    mov esi, eax
    call puts
    pop esi
    PRINT ": exit reason "
    VMR eax, VM_EXIT_REASON
    call putdec
    PRINT ", length "
    VMR eax, VM_EXIT_INSTRUCTION_LEN
    call putdec
    PRINT ", eip "
    mov ebx, [labels + esi * 4]
    call vmx_show_eip
again:
    call vmx_skip
    VMENTER vmresume, "vmresume", next_exit
    EXIT 1
extra:
    sub esi, 11
    jnz 1f
    PRINT "vmread eax, edx: instruction information "
    VMR eax, VMX_INSTRUCTION_INFO
    and eax, 0xF0000478                 # bits 6:3, 10, 31:28
    call puthex
    call newline
    jmp again
1:  dec esi
    jnz 2f
    PRINT "vmwrite edx, ecx: instruction information "
    VMR eax, VMX_INSTRUCTION_INFO
    and eax, 0xF0000478
    call puthex
    call newline
    jmp again
2:  dec esi
    jnz 3f
    PRINT "vmptrld [ebx + 8]: instruction information "
    VMR eax, VMX_INSTRUCTION_INFO
    and eax, 0x0FC38780                 # bits 9:7, 10, 17:15, 22, 26:23, 27
    call puthex
    VSHOW ", qualification ", EXIT_QUALIFICATION
    jmp again
3:  SHOW_REASON
    EXIT 0

guest:
    mov ebx, offset vmcs_b_ptr
    mov edx, GUEST_RIP
g0: vmcall
g1: vmclear qword ptr [ebx]
g2: vmlaunch
g3: vmptrld qword ptr [ebx]
g4: vmptrst qword ptr [ebx]
g5: vmread eax, edx
g6: vmresume
g7: vmwrite edx, eax
g8: vmxoff
g9: vmxon qword ptr [ebx]
g10: invept eax, [ebx]
    vmread eax, edx
    vmwrite edx, ecx
    mov ebx, offset vmx_ptr - 8
    vmptrld qword ptr [ebx + 8]
    PRINT "guest: done\n"
    vmcall

.section .rodata
n0: .asciz "vmcall"
n1: .asciz "vmclear"
n2: .asciz "vmlaunch"
n3: .asciz "vmptrld"
n4: .asciz "vmptrst"
n5: .asciz "vmread"
n6: .asciz "vmresume"
n7: .asciz "vmwrite"
n8: .asciz "vmxoff"
n9: .asciz "vmxon"
n10: .asciz "invept"
.section .data
.align 4
count:  .long 0
names:  .long n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10
labels: .long g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10
.section .text
