# title: control-register accesses in a guest with guest/host masks: MOV from CR0, SMSW and MOV from CR4 read the read shadow's value for the masked bits (no exit); MOV to CR0/CR4 whose masked bits equal the shadow's does not exit and leaves those bits of the real register alone; one that differs exits (reason 28) with the qualification of table 27-3 (CR number, access type, register), as do CLTS with TS masked and shadowed 1 and LMSW changing a masked bit (source data in bits 31:16, bit 6 for a memory operand)
# sdm: vol. 3C 24.6.6 (guest/host masks and read shadows for CR0 and CR4), 25.1.3 (MOV to CR0/CR4 exits if a masked bit of the source differs from the read shadow; CLTS exits if TS is 1 in the mask and in the CR0 read shadow; LMSW exits if a masked bit among PE, MP, EM, TS would change from the shadow's value: PE only from 0 to 1), 25.3 (MOV from CR0/CR4 and SMSW return the shadow's bits for masked bits; MOV to CR0/CR4 that does not exit leaves masked bits unmodified), 27.2.1 table 27-3 (exit qualification for control-register accesses: bits 3:0 CR number, 5:4 access type 0 MOV to CR, 2 CLTS, 3 LMSW, bit 6 LMSW operand type 1 = memory, bits 11:8 register (0 EAX, 1 ECX, 2 EDX, 3 EBX), bits 31:16 LMSW source data), appendix C (28 control-register accesses, 18 VMCALL)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | guest: mov eax, cr0: TS = 1
# | guest: smsw eax: TS = 1
# | guest: mov cr0 with TS = 1 as in the shadow: no exit
# | mov cr0, ebx: exit reason 28
# | length 3
# | qualification 0x00000300
# | guest eip +0
# | real CR0.TS = 0
# | clts: exit reason 28
# | length 2
# | qualification 0x00000020
# | guest eip +0
# | lmsw ax: exit reason 28
# | length 3
# | qualification 0x00010030
# | guest eip +0
# | lmsw [mem]: exit reason 28
# | length 7
# | qualification 0x00010070
# | guest eip +0
# | guest: mov eax, cr4: VMXE = 0
# | guest: mov cr4 with VMXE = 0 as in the shadow: no exit
# | mov cr4, ecx: exit reason 28
# | length 3
# | qualification 0x00000104
# | guest eip +0
# | real CR4.VMXE = 1
# | exit reason 18
.include "conf.inc"
.include "vmx.inc"


main:
    mov eax, offset guest
    call vmx_guest
    VMW CR0_GUEST_HOST_MASK, 0x8        # CR0.TS: the host's; the guest reads 1
    VMW CR0_READ_SHADOW, 0x8
    VMW CR4_GUEST_HOST_MASK, 0x2000     # CR4.VMXE: the host's; the guest reads 0
    VMW CR4_READ_SHADOW, 0
    VMR eax, GUEST_CR0
    and eax, ~0x8                       # the real CR0.TS = 0
    VMW GUEST_CR0, eax
    VMENTER vmlaunch, "vmlaunch", x1
    EXIT 1
x1: PRINT "mov cr0, ebx: "
    SHOW_REASON
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW "qualification ", EXIT_QUALIFICATION
    VSHOW_EIP "guest eip ", g_movcr0
    VMR eax, GUEST_CR0
    shr eax, 3
    and eax, 1
    SHOWD "real CR0.TS = ", eax
    call vmx_skip
    VMENTER vmresume, "vmresume", x2
    EXIT 1
x2: EXIT_REPORT "clts", g_clts, x3
x3: EXIT_REPORT "lmsw ax", g_lmsw, x4
x4: EXIT_REPORT "lmsw [mem]", g_lmswm, x5
x5: PRINT "mov cr4, ecx: "
    SHOW_REASON
    VSHOWD "length ", VM_EXIT_INSTRUCTION_LEN
    VSHOW "qualification ", EXIT_QUALIFICATION
    VSHOW_EIP "guest eip ", g_movcr4
    VMR eax, GUEST_CR4
    shr eax, 13
    and eax, 1
    SHOWD "real CR4.VMXE = ", eax
    call vmx_skip
    VMENTER vmresume, "vmresume", x6
    EXIT 1
x6: SHOW_REASON
    EXIT 0

guest:
    mov eax, cr0
    mov esi, eax
    shr eax, 3
    and eax, 1
    SHOWD "guest: mov eax, cr0: TS = ", eax
    smsw eax
    shr eax, 3
    and eax, 1
    SHOWD "guest: smsw eax: TS = ", eax
    mov cr0, esi                        # TS = 1, as the shadow: no exit
    PRINT "guest: mov cr0 with TS = 1 as in the shadow: no exit\n"
    mov ebx, esi
    and ebx, ~0x8
g_movcr0:
    mov cr0, ebx                        # TS = 0: exit
g_clts:
    clts
    mov ax, 0x0001                      # PE = 1, MP = EM = TS = 0
g_lmsw:
    lmsw ax
g_lmswm:
    lmsw word ptr [msw]
    mov eax, cr4
    mov esi, eax
    shr eax, 13
    and eax, 1
    SHOWD "guest: mov eax, cr4: VMXE = ", eax
    mov cr4, esi                        # VMXE = 0, as the shadow: no exit
    PRINT "guest: mov cr4 with VMXE = 0 as in the shadow: no exit\n"
    mov ecx, esi
    or ecx, 0x2000
g_movcr4:
    mov cr4, ecx                        # VMXE = 1: exit
    vmcall

.section .data
msw: .word 0x0001
.section .text
