# title: VM entry's checks of the VMX controls (error 7) and of the host-state area (error 8), one bad setting at a time: a control bit against its capability MSR (a must-be-1 pin-based bit clear, a must-be-0 processor-based bit set), more CR3-target values than IA32_VMX_MISC allows, an I/O-bitmap address not 4-KiB aligned, a reserved VM-entry interruption type, an MSR-load address not 16-byte aligned; a host CR0 or CR4 against its fixed bits, a null host CS or TR selector, a host SS selector with RPL 3, "host address-space size" 1 outside IA-32e mode; with every field restored VMLAUNCH succeeds
# sdm: vol. 3C 26.2 (VMfailValid: error 7 "VM entry with invalid control field(s)", error 8 "VM entry with invalid host-state field(s)"), 26.2.1.1 (pin-based and processor-based controls: the allowed 0- and 1-settings of A.3; CR3-target count not above the number in IA32_VMX_MISC; I/O-bitmap addresses: bits 11:0 zero), 26.2.1.3 (VM-entry interruption type not reserved (1); VM-entry MSR-load address bits 3:0 zero when the count is not zero), 26.2.2 (host CR0 and CR4 as IA32_VMX_CR0/CR4_FIXED0/1), 26.2.3 (host selectors: RPL and TI 0; CS and TR not 0000H), 26.2.4 (outside IA-32e mode "host address-space size" must be 0), A.3, A.6, A.7, A.8, 30.4 table 30-1
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | pin-based control, a must-be-1 bit clear: CF=0 ZF=1 error 7
# | processor-based control, a must-be-0 bit set: CF=0 ZF=1 error 7
# | CR3-target count above IA32_VMX_MISC's: CF=0 ZF=1 error 7
# | I/O bitmap A not 4-KiB aligned: CF=0 ZF=1 error 7
# | VM-entry interruption type 1 (reserved): CF=0 ZF=1 error 7
# | VM-entry MSR-load address not 16-byte aligned: CF=0 ZF=1 error 7
# | host CR0, a fixed-1 bit clear: CF=0 ZF=1 error 8
# | host CR4.VMXE clear: CF=0 ZF=1 error 8
# | host CS selector 0: CF=0 ZF=1 error 8
# | host TR selector 0: CF=0 ZF=1 error 8
# | host SS selector RPL 3: CF=0 ZF=1 error 8
# | host address-space size 1 outside IA-32e mode: CF=0 ZF=1 error 8
# | every field restored: exit reason 18
.include "conf.inc"
.include "vmx.inc"

# BAD "text", field, value: field := value, VMLAUNCH (which must fail), field := its old value.
.macro BAD msg, field, value:vararg
    VMR esi, \field
    VMW \field, \value
    VMENTER vmlaunch, "\msg", unexpected
    VMW \field, esi
.endm

main:
    mov eax, offset guest
    call vmx_guest
    mov ecx, IA32_VMX_PINBASED_CTLS     # the lowest bit that must be 1
    call caps
    VMR edi, PIN_BASED_VM_EXEC_CONTROL
    bsf ecx, eax
    jz 1f
    btr edi, ecx
1:  BAD "pin-based control, a must-be-1 bit clear", PIN_BASED_VM_EXEC_CONTROL, edi
    mov ecx, IA32_VMX_PROCBASED_CTLS    # the lowest bit that must be 0
    call caps
    VMR edi, CPU_BASED_VM_EXEC_CONTROL
    not edx
    bsf ecx, edx
    jz 1f
    bts edi, ecx
1:  BAD "processor-based control, a must-be-0 bit set", CPU_BASED_VM_EXEC_CONTROL, edi
    mov ecx, IA32_VMX_MISC              # bits 24:16: how many CR3-target values
    rdmsr
    shr eax, 16
    and eax, 0x1FF
    inc eax
    mov edi, eax
    BAD "CR3-target count above IA32_VMX_MISC's", CR3_TARGET_COUNT, edi
    VMR ebx, CPU_BASED_VM_EXEC_CONTROL
    SET_CTL CPU_BASED_VM_EXEC_CONTROL, IA32_VMX_PROCBASED_CTLS, CPU_USE_IO_BITMAPS
    VMW IO_BITMAP_B, offset vmx_page2
    VMW IO_BITMAP_B+1, 0
    VMW IO_BITMAP_A+1, 0
    BAD "I/O bitmap A not 4-KiB aligned", IO_BITMAP_A, offset vmx_page + 0x10
    VMW CPU_BASED_VM_EXEC_CONTROL, ebx
    BAD "VM-entry interruption type 1 (reserved)", VM_ENTRY_INTR_INFO_FIELD, 0x80000100
    VMW VM_ENTRY_MSR_LOAD_ADDR+1, 0
    VMW VM_ENTRY_MSR_LOAD_ADDR, offset vmx_page + 8
    BAD "VM-entry MSR-load address not 16-byte aligned", VM_ENTRY_MSR_LOAD_COUNT, 1
    mov ecx, IA32_VMX_CR0_FIXED0        # a CR0 bit fixed to 1 other than PE and PG (NE)
    rdmsr
    and eax, 0x7FFFFFFE
    bsf ecx, eax
    mov edi, cr0
    btr edi, ecx
    BAD "host CR0, a fixed-1 bit clear", HOST_CR0, edi
    mov edi, cr4
    and edi, ~0x2000
    BAD "host CR4.VMXE clear", HOST_CR4, edi
    BAD "host CS selector 0", HOST_CS_SELECTOR, 0
    BAD "host TR selector 0", HOST_TR_SELECTOR, 0
    BAD "host SS selector RPL 3", HOST_SS_SELECTOR, KERNEL_DS | 3
    VMR edi, VM_EXIT_CONTROLS
    or edi, 1 << 9
    BAD "host address-space size 1 outside IA-32e mode", VM_EXIT_CONTROLS, edi
    PRINT "every field restored: "
    VMENTER vmlaunch, "vmlaunch", exited
    EXIT 1
exited:
    SHOW_REASON
    EXIT 0
unexpected:
    PRINT "unexpected VM exit: "
    SHOW_REASON
    EXIT 1

# caps: eax = allowed-0 settings, edx = allowed-1 settings of the capability MSR ecx (TRUE_*
# form when IA32_VMX_BASIC[55] = 1).
caps:
    cmp byte ptr [vmx_true], 0
    je 1f
    add ecx, 0x0C
1:  rdmsr
    ret

guest:
    vmcall
    jmp guest
