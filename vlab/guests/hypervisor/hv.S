# hv.S - a mini hypervisor (in the spirit of SimpleVisor): runs an unmodified guest, by default
# the teaching kernel, as its one VMX guest.
#
# The bundle (vlab/guests/hypervisor/__init__.py, bundle()) is one flat image at 1 MiB: the
# guest's bytes at its origin, zeros, then this file assembled at HV_BASE = 0x180000, entered at
# _start in the machine's boot state (32-bit protected mode, CR0 = 0x11, flat selectors 0x08/0x10,
# the boot GDT and TSS loaded, ESP = 0x100000, IF = 0). It
#   1. checks for VMX, enables it (IA32_FEATURE_CONTROL, CR0/CR4 fixed bits, paging: VMX
#      operation needs CR0.PG = 1, so the hypervisor runs on an identity map of 4 MiB pages),
#      and does VMXON;
#   2. makes a VMCS: controls from the capability MSRs, EPT (an identity map of guest-physical
#      memory less the hypervisor's own pages), unrestricted guest (the guest starts with paging
#      off), I/O bitmaps that trap only the serial port;
#   3. copies the boot state it was given into the guest-state area, so that the guest starts
#      exactly as it would on the bare machine, and launches it at GUEST_ENTRY (--defsym);
#   4. handles the exits: CPUID, HLT, I/O to the serial port (done on the guest's behalf), CR
#      accesses, VMCALL; anything else, a failed VM entry or a failed VMX instruction is reported
#      on the serial console ("hv: ...") and ends the run with a non-zero exit code.
# On success it prints nothing: the console is the guest's own. Built with --defsym HV_STATS=1
# it also traps the exit port (0xF4) and, when the guest leaves through it, prints its exit
# counts ("hv: exits ...") before doing the guest's OUT.
#
# References: Intel SDM vol. 3C (chapter numbers of the 2016-2022 editions): 23 (VMX
# operation), 24 (the VMCS), 25 (non-root operation), 26 (VM entries), 27 (VM exits), 28 (EPT),
# 30 (VMX instructions), 31 (VMM considerations); appendix A (capability MSRs), B (field
# encodings), C (exit reasons).

.include "vlab.inc"

.set HV_BASE, 0x180000                  # this image's origin; guest memory ends here
.set HV_END, 0x200000                   # everything the hypervisor owns is below this

# --- Capability MSRs (SDM appendix A) and the feature-control MSR (23.7)
.set IA32_FEATURE_CONTROL, 0x3A
.set IA32_SYSENTER_CS, 0x174
.set IA32_SYSENTER_ESP, 0x175
.set IA32_SYSENTER_EIP, 0x176
.set IA32_VMX_BASIC, 0x480
.set IA32_VMX_PINBASED_CTLS, 0x481
.set IA32_VMX_PROCBASED_CTLS, 0x482
.set IA32_VMX_EXIT_CTLS, 0x483
.set IA32_VMX_ENTRY_CTLS, 0x484
.set IA32_VMX_MISC, 0x485
.set IA32_VMX_CR0_FIXED0, 0x486
.set IA32_VMX_CR0_FIXED1, 0x487
.set IA32_VMX_CR4_FIXED0, 0x488
.set IA32_VMX_CR4_FIXED1, 0x489
.set IA32_VMX_PROCBASED_CTLS2, 0x48B
.set IA32_VMX_EPT_VPID_CAP, 0x48C
.set IA32_VMX_TRUE_PINBASED_CTLS, 0x48D # the TRUE_* four: IA32_VMX_BASIC bit 55 (A.2)

# --- Control bits (24.6.1, 24.6.2, table 24-7)
.set CPU_HLT_EXITING, 1 << 7
.set CPU_USE_IO_BITMAPS, 1 << 25
.set CPU_USE_MSR_BITMAPS, 1 << 28
.set CPU_SECONDARY, 1 << 31
.set CPU2_ENABLE_EPT, 1 << 1
.set CPU2_UNRESTRICTED_GUEST, 1 << 7

# --- VMCS field encodings (appendix B). In 32-bit mode a 64-bit field is two: "full" (the low
# half) and "high" (encoding + 1); natural-width fields are 32 bits.
.set GUEST_ES_SELECTOR, 0x0800          # + 2 per register: ES CS SS DS FS GS LDTR TR
.set HOST_ES_SELECTOR, 0x0C00
.set HOST_CS_SELECTOR, 0x0C02
.set HOST_SS_SELECTOR, 0x0C04
.set HOST_DS_SELECTOR, 0x0C06
.set HOST_FS_SELECTOR, 0x0C08
.set HOST_GS_SELECTOR, 0x0C0A
.set HOST_TR_SELECTOR, 0x0C0C
.set IO_BITMAP_A, 0x2000
.set IO_BITMAP_B, 0x2002
.set MSR_BITMAP, 0x2004
.set EPT_POINTER, 0x201A
.set GUEST_PHYSICAL_ADDRESS, 0x2400
.set VMCS_LINK_POINTER, 0x2800
.set GUEST_IA32_DEBUGCTL, 0x2802
.set PIN_BASED_CONTROLS, 0x4000
.set CPU_BASED_CONTROLS, 0x4002
.set EXCEPTION_BITMAP, 0x4004
.set PAGE_FAULT_ERROR_MASK, 0x4006
.set PAGE_FAULT_ERROR_MATCH, 0x4008
.set CR3_TARGET_COUNT, 0x400A
.set VM_EXIT_CONTROLS, 0x400C
.set VM_EXIT_MSR_STORE_COUNT, 0x400E
.set VM_EXIT_MSR_LOAD_COUNT, 0x4010
.set VM_ENTRY_CONTROLS, 0x4012
.set VM_ENTRY_MSR_LOAD_COUNT, 0x4014
.set VM_ENTRY_INTR_INFO, 0x4016
.set SECONDARY_CONTROLS, 0x401E
.set VM_INSTRUCTION_ERROR, 0x4400
.set VM_EXIT_REASON, 0x4402
.set VM_EXIT_INSTRUCTION_LEN, 0x440C
.set GUEST_ES_LIMIT, 0x4800             # + 2 per register, as the selectors
.set GUEST_GDTR_LIMIT, 0x4810
.set GUEST_IDTR_LIMIT, 0x4812
.set GUEST_ES_AR, 0x4814                # + 2 per register, as the selectors
.set GUEST_INTERRUPTIBILITY, 0x4824
.set GUEST_ACTIVITY_STATE, 0x4826
.set GUEST_SYSENTER_CS, 0x482A
.set HOST_SYSENTER_CS, 0x4C00
.set CR0_GUEST_HOST_MASK, 0x6000
.set CR4_GUEST_HOST_MASK, 0x6002
.set CR0_READ_SHADOW, 0x6004
.set CR4_READ_SHADOW, 0x6006
.set EXIT_QUALIFICATION, 0x6400
.set GUEST_CR0, 0x6800
.set GUEST_CR3, 0x6802
.set GUEST_CR4, 0x6804
.set GUEST_ES_BASE, 0x6806              # + 2 per register, as the selectors
.set GUEST_GDTR_BASE, 0x6816
.set GUEST_IDTR_BASE, 0x6818
.set GUEST_DR7, 0x681A
.set GUEST_RSP, 0x681C
.set GUEST_RIP, 0x681E
.set GUEST_RFLAGS, 0x6820
.set GUEST_PENDING_DBG, 0x6822
.set GUEST_SYSENTER_ESP, 0x6824
.set GUEST_SYSENTER_EIP, 0x6826
.set HOST_CR0, 0x6C00
.set HOST_CR3, 0x6C02
.set HOST_CR4, 0x6C04
.set HOST_FS_BASE, 0x6C06
.set HOST_GS_BASE, 0x6C08
.set HOST_TR_BASE, 0x6C0A
.set HOST_GDTR_BASE, 0x6C0C
.set HOST_IDTR_BASE, 0x6C0E
.set HOST_SYSENTER_ESP, 0x6C10
.set HOST_SYSENTER_EIP, 0x6C12
.set HOST_RSP, 0x6C14
.set HOST_RIP, 0x6C16

# --- Basic exit reasons (appendix C)
.set EXIT_TRIPLE_FAULT, 2
.set EXIT_CPUID, 10
.set EXIT_HLT, 12
.set EXIT_VMCALL, 18
.set EXIT_CR_ACCESS, 28
.set EXIT_IO, 30
.set EXIT_EPT_VIOLATION, 48

# --- EPT entries (28.2.2, tables 28-1..28-6): read/write/execute, memory type WB (6) in bits
# 5:3 of a leaf, bit 7 for a 2 MiB page; the EPTP (24.6.11): WB, a 4-level walk (3 << 3).
.set EPT_RWX, 7
.set EPT_WB, 6 << 3
.set EPT_2M, 1 << 7
.set EPTP_FLAGS, 6 | (3 << 3)

# --- The guest's general registers, as PUSHAD left them on the hypervisor's stack
.set R_EDI, 0
.set R_ESI, 4
.set R_EBP, 8
.set R_EBX, 16
.set R_EDX, 20
.set R_ECX, 24
.set R_EAX, 28

# Exit codes of the hypervisor's own failures (the guest's are its own)
.set HV_NO_VMX, 0x40
.set HV_FEATURE, 0x41
.set HV_VMX_INSN, 0x42
.set HV_ENTRY_FAILED, 0x43
.set HV_UNEXPECTED_EXIT, 0x44
.set HV_EPT_VIOLATION, 0x45
.set HV_TRIPLE_FAULT, 0x46

# VMW field, value: VMWRITE, and stop with the VM-instruction error if it fails (clobbers eax, edx)
.macro VMW field, value:vararg
    mov edx, \field
    mov eax, \value
    call vmw
.endm

# VMR field: eax = the field (clobbers edx)
.macro VMR field
    mov edx, \field
    call vmr
.endm

# FAIL message, code: print "hv: message <eax in hex>" and end the run with the exit code
.macro FAIL msg, code
    .pushsection .rodata
.Lfail\@: .asciz "\msg"
    .popsection
    mov esi, offset .Lfail\@
    mov bl, \code
    jmp die
.endm

.section .text
.globl _start
_start:
    pushfd                              # the boot state, before anything changes it (4 bytes
    pop ebx                             # of the boot stack: the guest's anyway)
    mov ebp, esp
    cli
    cld
    mov edi, offset __bss_start         # the bss: not in the image, and RAM is not ours to trust
    mov ecx, offset _end
    sub ecx, edi
    xor eax, eax
    rep stosb
    mov esp, offset hv_stack_top
    mov [boot_eflags], ebx
    mov [boot_esp], ebp
    mov eax, cr0
    mov [boot_cr0], eax
    mov eax, cr3
    mov [boot_cr3], eax
    mov eax, cr4
    mov [boot_cr4], eax
    sgdt [boot_gdtr]
    sidt [boot_idtr]

    # --- 1. VMX there and allowed? (23.6, 23.7)
    mov eax, 1
    cpuid
    bt ecx, 5                           # CPUID.1:ECX.VMX
    jc 1f
    FAIL "no VMX (CPUID.1:ECX[5] = 0)", HV_NO_VMX
1:  mov ecx, IA32_FEATURE_CONTROL
    rdmsr
    test al, 1                          # locked: VMXON outside SMX must be allowed (bit 2)
    jnz 2f
    or eax, 5                           # unlocked (no BIOS did it): allow it and lock
    wrmsr
    jmp 3f
2:  test al, 4
    jnz 3f
    FAIL "VMXON disabled by IA32_FEATURE_CONTROL", HV_NO_VMX

3:  mov ecx, IA32_VMX_BASIC
    rdmsr
    mov [vmx_basic], eax                # bits 30:0: the VMCS revision identifier (A.1)
    mov [vmx_basic + 4], edx
    mov ecx, IA32_VMX_CR0_FIXED0        # CR0/CR4 bits fixed in VMX operation (23.8, A.7, A.8)
    rdmsr
    mov [cr0_fixed0], eax
    mov ecx, IA32_VMX_CR0_FIXED1
    rdmsr
    mov [cr0_fixed1], eax
    mov ecx, IA32_VMX_CR4_FIXED0
    rdmsr
    mov [cr4_fixed0], eax
    mov ecx, IA32_VMX_CR4_FIXED1
    rdmsr
    mov [cr4_fixed1], eax

    # --- The hypervisor's own paging: CR0_FIXED0 has PG (and PE, NE). Identity map of the
    # 4 GiB with 4 MiB pages (PSE; vol. 3A 4.3).
    mov edi, offset hv_page_directory
    mov eax, 0x83                       # present, writable, 4 MiB page
    mov ecx, 1024
4:  stosd
    add eax, 0x400000
    loop 4b
    mov eax, offset hv_page_directory
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                        # CR4.PSE
    mov cr4, eax
    mov eax, cr0
    or eax, [cr0_fixed0]                # PE, NE, PG
    and eax, [cr0_fixed1]
    mov cr0, eax
    mov eax, cr4
    or eax, [cr4_fixed0]                # VMXE
    and eax, [cr4_fixed1]
    mov cr4, eax

    # --- VMXON with a region tagged with the revision identifier (24.2, 30.3 VMXON)
    mov eax, [vmx_basic]
    and eax, 0x7FFFFFFF
    mov [vmxon_region], eax
    mov [vmcs_region], eax
    vmxon qword ptr [vmxon_pointer]
    mov eax, 0
    ja 5f                               # VMfailInvalid: CF = 1 (VMfailValid: ZF = 1)
    FAIL "VMXON failed", HV_VMX_INSN
5:  vmclear qword ptr [vmcs_pointer]    # a clear, then current VMCS (31.6)
    jbe vmx_insn_failed
    vmptrld qword ptr [vmcs_pointer]
    jbe vmx_insn_failed

    # --- 2. Execution, exit and entry controls: (wanted | allowed-0) & allowed-1 of the
    # capability MSR, its TRUE_* twin if IA32_VMX_BASIC bit 55 says so (A.3-A.5, 31.5.1).
    xor ebp, ebp                        # ebp: TRUE_* - plain MSR number
    test dword ptr [vmx_basic + 4], 1 << 23
    jz 6f
    mov ebp, IA32_VMX_TRUE_PINBASED_CTLS - IA32_VMX_PINBASED_CTLS
6:  mov ecx, IA32_VMX_PINBASED_CTLS     # pin-based: nothing wanted; external interrupts go
    add ecx, ebp                        # straight to the guest's IDT
    xor eax, eax
    call adjust_controls
    mov edx, PIN_BASED_CONTROLS
    call vmw

    mov ecx, IA32_VMX_MISC              # HLT exiting only if a VM entry can put the guest back
    rdmsr                               # in the HLT state (A.6 bit 6): see on_hlt
    xor ebx, ebx
    test al, 1 << 6
    jz 7f
    mov ebx, CPU_HLT_EXITING
7:  mov ecx, IA32_VMX_PROCBASED_CTLS    # primary: I/O and MSR bitmaps, secondary controls
    add ecx, ebp
    mov eax, CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_SECONDARY
    or eax, ebx
    call adjust_controls
    mov [cpu_controls], eax
    mov edx, CPU_BASED_CONTROLS
    call vmw
    mov ebx, CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_SECONDARY
    and ebx, [cpu_controls]
    cmp ebx, CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_SECONDARY
    je 8f
    FAIL "primary controls refused: ", HV_FEATURE

    # Secondary: EPT and unrestricted guest. The guest starts with CR0.PG = 0, which VMX non-
    # root operation allows only to an unrestricted guest, which needs EPT (26.2.1.1, 26.3.1.1).
8:  mov ecx, IA32_VMX_PROCBASED_CTLS2
    mov eax, CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST
    call adjust_controls
    mov ebx, eax
    and ebx, CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST
    cmp ebx, CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST
    je 9f
    FAIL "no EPT or no unrestricted guest: secondary controls ", HV_FEATURE
9:  mov edx, SECONDARY_CONTROLS
    call vmw
    mov ecx, IA32_VMX_EPT_VPID_CAP      # a 4-level walk (bit 6), WB (bit 14), 2 MiB pages
    rdmsr                               # (bit 16) (A.10)
    and eax, (1 << 6) | (1 << 14) | (1 << 16)
    cmp eax, (1 << 6) | (1 << 14) | (1 << 16)
    je 10f
    FAIL "EPT lacks a 4-level walk, WB or 2 MiB pages: ", HV_FEATURE

10: mov ecx, IA32_VMX_EXIT_CTLS         # exit: only what allowed-0 forces (save debug controls
    add ecx, ebp                        # ...); host address-space size 0: a 32-bit host
    xor eax, eax
    call adjust_controls
    mov edx, VM_EXIT_CONTROLS
    call vmw
    mov ecx, IA32_VMX_ENTRY_CTLS        # entry: likewise (load debug controls ...); no IA-32e
    add ecx, ebp                        # mode guest
    xor eax, eax
    call adjust_controls
    mov edx, VM_ENTRY_CONTROLS
    call vmw
    VMW EXCEPTION_BITMAP, 0             # every exception to the guest's IDT (24.6.3)
    VMW PAGE_FAULT_ERROR_MASK, 0
    VMW PAGE_FAULT_ERROR_MATCH, 0
    VMW CR3_TARGET_COUNT, 0
    VMW VM_EXIT_MSR_STORE_COUNT, 0
    VMW VM_EXIT_MSR_LOAD_COUNT, 0
    VMW VM_ENTRY_MSR_LOAD_COUNT, 0
    VMW VM_ENTRY_INTR_INFO, 0           # nothing to inject

    # I/O bitmaps (24.6.4): A covers ports 0-0x7FFF, B 0x8000-0xFFFF, a bit per port. Trap the
    # serial port 0x3F8-0x3FF: one byte of A. (With HV_STATS, the exit port 0xF4 too.)
    mov byte ptr [io_bitmap_a + (SERIAL >> 3)], 0xFF
.ifdef HV_STATS
    or byte ptr [io_bitmap_a + (EXIT_PORT >> 3)], 1 << (EXIT_PORT & 7)
.endif
.ifdef TRAP_EXIT_PORT                   # (--defsym TRAP_EXIT_PORT=1, as exercise 11 builds it:
    or byte ptr [io_bitmap_a + (EXIT_PORT >> 3)], 1 << (EXIT_PORT & 7)  # the exit port exits
.endif                                  # too, an OUT with an immediate port: bit 6 of table 27-5)
    VMW IO_BITMAP_A, offset io_bitmap_a
    VMW IO_BITMAP_A+1, 0
    VMW IO_BITMAP_B, offset io_bitmap_b
    VMW IO_BITMAP_B+1, 0
    # An MSR bitmap of zeros (24.6.9): RDMSR/WRMSR never exit (the SYSENTER MSRs, DEBUGCTL ...
    # are switched by the VMCS itself).
    VMW MSR_BITMAP, offset msr_bitmap
    VMW MSR_BITMAP+1, 0

    # EPT (28.2): guest-physical = host-physical for the first 4 MiB, less the hypervisor's own
    # 0x180000-0x1FFFFF (4 KiB pages: the guest cannot reach the VMCS, the tables or this code),
    # and for the top 2 MiB (vlab's boot GDT and TSS are at 0xFFFF0000; on Bochs they are low).
    mov dword ptr [ept_pml4], offset ept_pdpt + EPT_RWX
    mov dword ptr [ept_pdpt], offset ept_pd_low + EPT_RWX
    mov dword ptr [ept_pdpt + 3 * 8], offset ept_pd_high + EPT_RWX
    mov dword ptr [ept_pd_low], offset ept_pt + EPT_RWX
    mov dword ptr [ept_pd_low + 8], 0x200000 + EPT_2M + EPT_WB + EPT_RWX
    mov dword ptr [ept_pd_high + 511 * 8], 0xFFE00000 + EPT_2M + EPT_WB + EPT_RWX
    mov edi, offset ept_pt
    mov eax, EPT_WB + EPT_RWX
11: mov [edi], eax
    add edi, 8
    add eax, 0x1000
    cmp eax, HV_BASE
    jb 11b
    VMW EPT_POINTER, offset ept_pml4 + EPTP_FLAGS
    VMW EPT_POINTER+1, 0

    # CR0/CR4 bits the guest must not see: those VMX operation forces to 1 (24.6.6). The guest
    # reads them from the shadow (its own values) and a MOV that would change one exits
    # (25.1.3); PE and PG are the guest's own (unrestricted guest, 26.3.1.1).
    mov eax, [cr0_fixed0]
    and eax, ~0x80000001
    mov [cr0_mask], eax
    mov edx, CR0_GUEST_HOST_MASK
    call vmw
    VMW CR0_READ_SHADOW, [boot_cr0]
    VMW CR4_GUEST_HOST_MASK, [cr4_fixed0]
    VMW CR4_READ_SHADOW, [boot_cr4]

    # --- 3. Host state (24.5): this hypervisor as it is now; exits land at vmexit with the
    # hypervisor's stack, interrupts off (27.5.3: RFLAGS = 2).
    mov eax, cr0
    VMW HOST_CR0, eax
    mov eax, cr3
    VMW HOST_CR3, eax
    mov eax, cr4
    VMW HOST_CR4, eax
    xor eax, eax
    mov ax, es
    VMW HOST_ES_SELECTOR, eax
    mov ax, cs
    VMW HOST_CS_SELECTOR, eax
    mov ax, ss
    VMW HOST_SS_SELECTOR, eax
    mov ax, ds
    VMW HOST_DS_SELECTOR, eax
    mov ax, fs
    VMW HOST_FS_SELECTOR, eax
    mov ax, gs
    VMW HOST_GS_SELECTOR, eax
    str ax
    VMW HOST_TR_SELECTOR, eax
    call descriptor                     # ax: selector -> ebx base, ecx limit, edx rights
    VMW HOST_TR_BASE, ebx
    VMW HOST_FS_BASE, 0
    VMW HOST_GS_BASE, 0
    VMW HOST_GDTR_BASE, [boot_gdtr + 2]
    VMW HOST_IDTR_BASE, [boot_idtr + 2]
    VMW HOST_SYSENTER_CS, 0
    VMW HOST_SYSENTER_ESP, 0
    VMW HOST_SYSENTER_EIP, 0
    VMW HOST_RSP, offset hv_stack_top
    VMW HOST_RIP, offset vmexit

    # --- Guest state (24.4): the boot state this hypervisor was started in.
    mov eax, [boot_cr0]                 # CR0 and CR4 with the bits VMX operation forces (the
    or eax, [cr0_mask]                  # guest sees its own through the shadows)
    and eax, [cr0_fixed1]
    VMW GUEST_CR0, eax
    VMW GUEST_CR3, [boot_cr3]
    mov eax, [boot_cr4]
    or eax, [cr4_fixed0]
    and eax, [cr4_fixed1]
    VMW GUEST_CR4, eax
    VMW GUEST_DR7, 0x400
    VMW GUEST_RSP, [boot_esp]
    VMW GUEST_RIP, GUEST_ENTRY
    VMW GUEST_RFLAGS, [boot_eflags]
    xor edi, edi                        # the segment registers, from the boot GDT
    mov di, es
    mov esi, 0
    call guest_segment
    mov di, cs
    mov esi, 1
    call guest_segment
    mov di, ss
    mov esi, 2
    call guest_segment
    mov di, ds
    mov esi, 3
    call guest_segment
    mov di, fs
    mov esi, 4
    call guest_segment
    mov di, gs
    mov esi, 5
    call guest_segment
    sldt di
    mov esi, 6
    call guest_segment
    str di
    mov esi, 7
    call guest_segment
    movzx eax, word ptr [boot_gdtr]
    VMW GUEST_GDTR_LIMIT, eax
    VMW GUEST_GDTR_BASE, [boot_gdtr + 2]
    movzx eax, word ptr [boot_idtr]
    VMW GUEST_IDTR_LIMIT, eax
    VMW GUEST_IDTR_BASE, [boot_idtr + 2]
    VMW GUEST_INTERRUPTIBILITY, 0
    VMW GUEST_ACTIVITY_STATE, 0         # active
    VMW GUEST_PENDING_DBG, 0
    VMW VMCS_LINK_POINTER, -1           # no shadow VMCS: all ones (26.3.1.5)
    VMW VMCS_LINK_POINTER+1, -1
    VMW GUEST_IA32_DEBUGCTL, 0
    VMW GUEST_IA32_DEBUGCTL+1, 0
    mov ecx, IA32_SYSENTER_CS
    rdmsr
    VMW GUEST_SYSENTER_CS, eax
    mov ecx, IA32_SYSENTER_ESP
    rdmsr
    VMW GUEST_SYSENTER_ESP, eax
    mov ecx, IA32_SYSENTER_EIP
    rdmsr
    VMW GUEST_SYSENTER_EIP, eax
.ifdef ENTRY_BUG
    # (--defsym ENTRY_BUG=N: one VMCS field made wrong on purpose, for exercise 11 and notebook
    # 10 to diagnose. A guest-state field fails the VM entry after the instruction, as an exit
    # with reason 33 and bit 31 set (26.7): 1 RFLAGS bit 1 clear (26.3.1.4); 2 a VMCS link
    # pointer that is not all ones (26.3.1.5, exit qualification 4); 3 an activity state this
    # CPU does not have (26.3.1.5). A control or host-state field makes VMLAUNCH itself fail,
    # VMfailValid (30.4): 4 a CR3-target count over 4 (26.2.1.1, error 7); 5 a null host SS
    # selector (26.2.3, error 8).)
.if ENTRY_BUG == 1
    VMW GUEST_RFLAGS, 0
.elseif ENTRY_BUG == 2
    VMW VMCS_LINK_POINTER, 0
.elseif ENTRY_BUG == 3
    VMW GUEST_ACTIVITY_STATE, 3         # wait-for-SIPI
.elseif ENTRY_BUG == 4
    VMW CR3_TARGET_COUNT, 5
.else
    VMW HOST_SS_SELECTOR, 0
.endif
.endif

    # --- 4. Launch, with the guest's general registers as the machine starts them (zero).
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    xor edx, edx
    xor esi, esi
    xor edi, edi
    xor ebp, ebp
launch:
    vmlaunch                            # returns only if it fails (30.3 VMLAUNCH); a VM
    jmp vmx_insn_failed                 # entry that fails later exits to vmexit (26.7)

# --------------------------------------------------------------------------------- exits
.ifdef HANDLERS
# (--defsym HANDLERS=1, exercise 11: the exit handlers are the student's file handlers.S,
# included here in place of this hypervisor's own below.) Every VM exit lands at vmexit
# (HOST_RIP) with the guest's general registers as the guest left them (27.3): they are saved
# with PUSHAD, ebp points at them (R_EAX ... R_EDI), and handle_exit is called. When it
# returns, the registers are restored from there and the guest resumes (VMRESUME) at
# GUEST_RIP, in GUEST_ACTIVITY_STATE: advancing past the instruction is the handler's job.
vmexit:
    pushad
    mov ebp, esp
    cld
    inc dword ptr [exits_total]
    call handle_exit
    popad
    vmresume                            # returns only if it fails (30.3)
    jmp vmx_insn_failed

.include "handlers.S"

.else
# 5. Every VM exit lands here (HOST_RIP) with the guest's general registers as the guest left
# them: VMX saves only RIP, RSP, RFLAGS and the rest of the guest-state area (27.3).
vmexit:
    pushad                              # the guest's GPRs, R_* offsets from ebp
    mov ebp, esp
    cld
    inc dword ptr [exits_total]
    VMR VM_EXIT_REASON                  # 24.9.1: bits 15:0 the basic reason, bit 31 a failed
    test eax, eax                       # VM entry
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
    cmp eax, EXIT_VMCALL
    je on_vmcall
    cmp eax, EXIT_EPT_VIOLATION
    je on_ept_violation
    cmp eax, EXIT_TRIPLE_FAULT
    je on_triple_fault
    FAIL "unexpected VM exit, reason ", HV_UNEXPECTED_EXIT

# CPUID (reason 10, unconditional: 25.1.2): run it for the guest. Leaf 1 says "hypervisor
# present" (ECX[31]) and hides VMX (ECX[5]): this hypervisor does not nest.
on_cpuid:
    inc dword ptr [exits_cpuid]
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

# I/O (reason 30; qualification: table 27-5): IN/OUT to the serial port, done here on the
# guest's behalf (the console is forwarded, not emulated).
on_io:
    inc dword ptr [exits_io]
    VMR EXIT_QUALIFICATION
    mov ebx, eax
    test ebx, 1 << 4                    # string instruction (INS/OUTS): not handled
    jz 1f
    FAIL "string I/O, qualification ", HV_UNEXPECTED_EXIT
1:  mov edx, ebx
    shr edx, 16                         # bits 31:16: the port
    mov ecx, ebx
    and ecx, 7                          # bits 2:0: size - 1 (0, 1 or 3)
    mov eax, [ebp + R_EAX]
    test ebx, 1 << 3                    # bit 3: 1 = IN
    jnz 4f
.ifdef HV_STATS
    cmp edx, EXIT_PORT
    jne 2f
    call print_stats
    mov edx, EXIT_PORT
    mov eax, [ebp + R_EAX]
2:
.endif
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
7:  mov [ebp + R_EAX], eax              # (the bits of EAX that IN does not write are kept)
    jmp advance

# HLT (reason 12): the instruction is done, the guest waits for its next interrupt. Advancing
# RIP alone would turn the kernel's "sti; hlt; cli" (a yield) into no wait at all, so the guest
# re-enters in the HLT activity state (24.4.2) and the interrupt wakes it through its own IDT.
# That state needs no blocking by STI or MOV SS (26.3.1.5): advance clears it, as HLT would.
on_hlt:
    inc dword ptr [exits_hlt]
    call skip_instruction
    VMW GUEST_ACTIVITY_STATE, 1         # HLT
    jmp resume

# Control-register access (reason 28; qualification: table 27-3). MOV to CR0/CR4 exits when it
# would change a bit of the guest/host mask: the guest's value becomes the shadow, the real
# register keeps the bits VMX forces. MOV to/from CR3 exits only if the CPU forces CR3-load/
# store exiting (no TRUE_* MSRs).
on_cr:
    inc dword ptr [exits_cr]
    VMR EXIT_QUALIFICATION
    mov ebx, eax
    mov ecx, ebx
    shr ecx, 8
    and ecx, 15                         # bits 11:8: the general register
    mov edx, ebx
    and edx, 0x3F                       # bits 3:0 the CR, bits 5:4 the access type
    cmp edx, 0x00                       # MOV to CR0
    je 1f
    cmp edx, 0x03                       # MOV to CR3
    je 2f
    cmp edx, 0x04                       # MOV to CR4
    je 3f
    cmp edx, 0x13                       # MOV from CR3
    je 4f
    mov eax, ebx
    FAIL "unhandled control-register access, qualification ", HV_UNEXPECTED_EXIT
1:  call get_gpr
    mov ebx, eax
    VMW CR0_READ_SHADOW, ebx
    mov eax, ebx
    or eax, [cr0_mask]
    and eax, [cr0_fixed1]
    VMW GUEST_CR0, eax
    jmp advance
2:  call get_gpr
    VMW GUEST_CR3, eax
    jmp advance
3:  call get_gpr
    mov ebx, eax
    VMW CR4_READ_SHADOW, ebx
    mov eax, ebx
    or eax, [cr4_fixed0]
    and eax, [cr4_fixed1]
    VMW GUEST_CR4, eax
    jmp advance
4:  VMR GUEST_CR3
    call set_gpr
    jmp advance

# VMCALL (reason 18): a hypercall nothing uses yet; it returns with nothing done.
on_vmcall:
    inc dword ptr [exits_vmcall]
    jmp advance

on_ept_violation:                       # 28.2.3: should never happen (the guest touched
    VMR GUEST_PHYSICAL_ADDRESS          # memory it does not have, or the hypervisor's)
    FAIL "EPT violation at guest-physical ", HV_EPT_VIOLATION

on_triple_fault:
    VMR GUEST_RIP
    FAIL "the guest triple-faulted, RIP ", HV_TRIPLE_FAULT

entry_failed:                           # 26.7: reason 33 invalid guest state, 34 MSR loading,
    FAIL "VM entry failed, exit reason ", HV_ENTRY_FAILED   # 41 machine check

# advance: past the instruction that exited (its length: 27.2.4), then back to the guest.
advance:
    call skip_instruction
resume:
    popad
    vmresume                            # returns only if it fails (30.3)
    jmp vmx_insn_failed

# skip_instruction: GUEST_RIP += the exit's instruction length; clear blocking by STI and by
# MOV SS (interruptibility bits 1:0, 24.4.2), which end with that instruction.
skip_instruction:
    VMR VM_EXIT_INSTRUCTION_LEN
    mov ebx, eax
    VMR GUEST_RIP
    add eax, ebx
    call vmw                            # (edx: still GUEST_RIP)
    VMR GUEST_INTERRUPTIBILITY
    test al, 3
    jz 1f
    and eax, ~3
    call vmw
1:  ret

# get_gpr: eax = the guest's general register number ecx (0 EAX .. 7 EDI; 4 is ESP: the VMCS)
get_gpr:
    cmp ecx, 4
    je 1f
    neg ecx
    mov eax, [ebp + R_EAX + ecx * 4]
    neg ecx
    ret
1:  VMR GUEST_RSP
    ret

# set_gpr: the guest's general register number ecx = eax
set_gpr:
    cmp ecx, 4
    je 1f
    neg ecx
    mov [ebp + R_EAX + ecx * 4], eax
    neg ecx
    ret
1:  mov edx, GUEST_RSP
    jmp vmw

.endif  # HANDLERS

# --------------------------------------------------------------------------------- helpers
# adjust_controls: eax = (wanted eax | allowed-0) & allowed-1 of the capability MSR ecx (A.3):
# the low half's 1 bits must be 1, the high half's 0 bits must be 0.
adjust_controls:
    push ebx
    push edx
    mov ebx, eax
    rdmsr
    or ebx, eax
    and ebx, edx
    mov eax, ebx
    pop edx
    pop ebx
    ret

# vmw: VMWRITE field edx = eax; on VMfail stop with the error.
vmw:
    vmwrite edx, eax
    jbe vmx_insn_failed
    ret

# vmr: eax = VMREAD field edx; on VMfail stop with the error.
vmr:
    vmread eax, edx
    jbe vmx_insn_failed
    ret

# descriptor: ax = a GDT selector -> ebx = base, ecx = limit (in bytes), edx = access rights in
# the VMCS format (24.4.1: descriptor bits 47:40 and 55:52, i.e. type, S, DPL, P, AVL, L, D/B,
# G), or unusable (bit 16) for a null selector. Reads the boot GDT (vol. 3A 3.4.5).
descriptor:
    push eax
    push esi
    movzx esi, ax
    and esi, 0xFFF8
    jz 2f
    add esi, [boot_gdtr + 2]
    mov ecx, [esi]                      # limit 15:0
    and ecx, 0xFFFF
    mov edx, [esi + 4]
    mov eax, edx
    and eax, 0x000F0000                 # limit 19:16
    or ecx, eax
    test edx, 1 << 23                   # G: 4 KiB units
    jz 1f
    shl ecx, 12
    or ecx, 0xFFF
1:  movzx ebx, word ptr [esi + 2]       # base 15:0, 23:16, 31:24
    mov eax, edx
    and eax, 0xFF
    shl eax, 16
    or ebx, eax
    mov eax, edx
    and eax, 0xFF000000
    or ebx, eax
    shr edx, 8
    and edx, 0xF0FF
    pop esi
    pop eax
    ret
2:  xor ebx, ebx
    xor ecx, ecx
    mov edx, 0x10000                    # unusable
    pop esi
    pop eax
    ret

# guest_segment: guest register esi (0 ES, 1 CS, 2 SS, 3 DS, 4 FS, 5 GS, 6 LDTR, 7 TR) = the
# selector di with its descriptor. The VMCS wants code and data segments "accessed" and TR
# "busy" (26.3.1.2); the CPU set the first when it loaded them, vlab's boot GDT shows the TSS
# available although TR is loaded.
guest_segment:
    add esi, esi                        # encodings step by 2 per register
    movzx eax, di
    lea edx, [esi + GUEST_ES_SELECTOR]
    call vmw
    mov ax, di
    call descriptor
    test edx, 0x10000
    jnz 2f
    test edx, 0x10                      # S: code or data
    jz 1f
    or edx, 1                           # accessed
    jmp 2f
1:  cmp esi, 7 * 2
    jne 2f
    or edx, 2                           # a busy TSS
2:  mov eax, edx
    lea edx, [esi + GUEST_ES_AR]
    call vmw
    mov eax, ecx
    lea edx, [esi + GUEST_ES_LIMIT]
    call vmw
    mov eax, ebx
    lea edx, [esi + GUEST_ES_BASE]
    jmp vmw

# vmx_insn_failed: a VMX instruction failed (30.2): CF = 1 VMfailInvalid (no current VMCS),
# ZF = 1 VMfailValid (the VM-instruction error field says why: 30.4).
vmx_insn_failed:
    mov eax, -1
    jc 1f
    mov edx, VM_INSTRUCTION_ERROR
    vmread eax, edx
1:  FAIL "VMX instruction failed, VM-instruction error ", HV_VMX_INSN

# die: print "hv: " message esi, eax in hex, a newline; exit with code bl. Only on failure.
die:
    push eax
    PRINT "hv: "
    call puts
    pop eax
    call puthex
    call newline
    mov al, bl
    out EXIT_PORT, al
1:  cli
    hlt
    jmp 1b

.ifdef HV_STATS
# print_stats: "hv: exits total=N cpuid=N hlt=N io=N cr=N vmcall=N"
print_stats:
    pushad
    PRINT "hv: exits total="
    mov eax, [exits_total]
    call putdec
    PRINT " cpuid="
    mov eax, [exits_cpuid]
    call putdec
    PRINT " hlt="
    mov eax, [exits_hlt]
    call putdec
    PRINT " io="
    mov eax, [exits_io]
    call putdec
    PRINT " cr="
    mov eax, [exits_cr]
    call putdec
    PRINT " vmcall="
    mov eax, [exits_vmcall]
    call putdec
    call newline
    popad
    ret
.endif

.include "lib.inc"

# --------------------------------------------------------------------------------- data
.section .data
.align 8
vmxon_pointer:  .long vmxon_region, 0   # VMXON, VMCLEAR, VMPTRLD take a 64-bit physical
vmcs_pointer:   .long vmcs_region, 0    # address in memory

# Zeroed at start (the bss): counters, the boot state, capabilities, the 4 KiB structures.
.section .bss
.align 4
.globl exits_total, exits_cpuid, exits_hlt, exits_io, exits_cr, exits_vmcall
exits_total:    .long 0                 # VM exits, per reason (tests read them)
exits_cpuid:    .long 0
exits_hlt:      .long 0
exits_io:       .long 0
exits_cr:       .long 0
exits_vmcall:   .long 0
boot_esp:       .long 0
boot_eflags:    .long 0
boot_cr0:       .long 0
boot_cr3:       .long 0
boot_cr4:       .long 0
cr0_fixed0:     .long 0
cr0_fixed1:     .long 0
cr4_fixed0:     .long 0
cr4_fixed1:     .long 0
cr0_mask:       .long 0
cpu_controls:   .long 0
vmx_basic:      .quad 0
                .word 0
boot_gdtr:      .space 6
                .word 0
boot_idtr:      .space 6
.align 4096
vmxon_region:   .space 4096             # 24.11.5 / 30.3 VMXON: 4 KiB aligned
vmcs_region:    .space 4096
io_bitmap_a:    .space 4096
io_bitmap_b:    .space 4096
msr_bitmap:     .space 4096
ept_pml4:       .space 4096
ept_pdpt:       .space 4096
ept_pd_low:     .space 4096             # guest-physical 0-1 GiB
ept_pd_high:    .space 4096             # 3-4 GiB
ept_pt:         .space 4096             # 0-2 MiB in 4 KiB pages
hv_page_directory: .space 4096          # the hypervisor's own paging
                .space 4096
hv_stack_top:
