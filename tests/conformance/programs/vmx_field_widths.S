# title: VMREAD/VMWRITE and the field widths outside 64-bit mode: a 16-bit field keeps bits 15:0 of the value and reads back zero-extended (also into memory); a 32-bit and a natural-width field keep all 32 bits; a 64-bit field is two halves: a write of the full field (its encoding) sets bits 31:0 and clears bits 63:32, a write of the high half (encoding + 1) sets bits 63:32 only
# sdm: vol. 3C 24.11.2 (VMREAD/VMWRITE by field width and access type: 16-bit fields: VMREAD returns the field in bits 15:0 and clears the other bits of the destination, VMWRITE writes bits 15:0 of the source; 32-bit fields: bits 31:0; 64-bit and natural-width fields with the full access type outside IA-32e mode: VMREAD returns bits 31:0, VMWRITE writes bits 31:0 and clears bits 63:32; the high access type (encoding bit 0 = 1, 64-bit fields only): bits 63:32 alone), table 24-21, 30.3 VMREAD and VMWRITE (outside IA-32e mode the operands are 32 bits; "if the VMCS field is shorter than the effective operand size, the high bits of the source are ignored; if it is longer, the high bits of the field are cleared to 0"), appendix B (encodings 0800H guest ES selector, 4800H guest ES limit, 681EH guest RIP, 2800H/2801H VMCS link pointer)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | vmwrite 16-bit field: CF=0 ZF=0
# | vmread 16-bit field: CF=0 ZF=0
# | 16-bit field = 0x00005678
# | 16-bit field into memory = 0x00005678
# | 32-bit field = 0x12345678
# | natural-width field = 0x9abcdef0
# | 64-bit field, high half written first, then the full field: 0x00000000_22222222
# | 64-bit field, then the high half: 0x33333333_22222222
# | 64-bit field, the full field again: 0x00000000_44444444
.include "conf.inc"
.include "vmx.inc"
main:
    call vmx_init
    call vmx_on
    call vmx_vmcs_a
    mov edx, GUEST_ES_SELECTOR
    mov eax, 0x12345678
    VMTRY "vmwrite 16-bit field", vmwrite edx, eax
    mov eax, 0xFFFFFFFF
    VMTRY "vmread 16-bit field", vmread eax, edx
    SHOW "16-bit field = ", eax
    mov dword ptr [value], 0xFFFFFFFF
    vmread dword ptr [value], edx
    SHOW "16-bit field into memory = ", [value]
    VMW GUEST_ES_LIMIT, 0x12345678
    VMR ebx, GUEST_ES_LIMIT
    SHOW "32-bit field = ", ebx
    VMW GUEST_RIP, 0x9ABCDEF0
    VMR ebx, GUEST_RIP
    SHOW "natural-width field = ", ebx
    VMW VMCS_LINK_POINTER+1, 0x11111111
    VMW VMCS_LINK_POINTER, 0x22222222
    PRINT "64-bit field, high half written first, then the full field: "
    call show64
    VMW VMCS_LINK_POINTER+1, 0x33333333
    PRINT "64-bit field, then the high half: "
    call show64
    VMW VMCS_LINK_POINTER, 0x44444444
    PRINT "64-bit field, the full field again: "
    call show64
    EXIT 0

show64:                                 # the VMCS link pointer as high_low
    VMR eax, VMCS_LINK_POINTER+1
    call puthex
    PRINT "_"
    VMR eax, VMCS_LINK_POINTER
    mov ecx, 8
1:  rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe 2f
    add al, 'a' - '0' - 10
2:  call putc
    pop eax
    loop 1b
    call newline
    ret

.section .data
value: .long 0
.section .text
