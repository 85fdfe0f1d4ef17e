# Instructions a VMCS control can make exit, each once, then a VMCALL with known registers.
.include "vlab.inc"
.section .text
.globl _start
_start:
    rdtsc                               # RDTSC exiting
    invlpg [0x1000]                     # INVLPG exiting (qualification: the linear address)
    mov ecx, 0x174                      # IA32_SYSENTER_CS
    mov eax, 0x10
    xor edx, edx
    wrmsr                               # MSR bitmaps: write
    rdmsr                               # MSR bitmaps: read
    mov eax, cr3
    mov cr3, eax                        # CR3-load exiting
    mov eax, cr0
    or eax, 0x20                        # CR0.NE: a bit the host owns in vlab's default mask
    mov cr0, eax
    smsw ebx                            # reads the shadow for host-owned bits
    mov eax, 0x11223344
    mov ebx, 0x55
    mov ecx, 0x66
    vmcall                              # always exits
    mov [result], eax
    EXIT 0
.section .data
result: .long 0
