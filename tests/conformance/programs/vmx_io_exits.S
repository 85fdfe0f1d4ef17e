# title: I/O instructions in a guest: with "unconditional I/O exiting" every one exits (reason 30) with the exit qualification of table 27-5 (size - 1, direction, string, REP, immediate operand, port); with "use I/O bitmaps" only the ports whose bit is 1 in bitmap A (0000H-7FFFH) or B (8000H-FFFFH) exit, a 2-byte access exits if either port's bit is 1, and an access that wraps around from FFFFH to 0000H exits; the other ports are the guest's own (it prints through the serial port)
# sdm: vol. 3C 25.1.3 ("unconditional I/O exiting" and "use I/O bitmaps": bitmap A ports 0000H-7FFFH, B 8000H-FFFFH; an instruction exits if any bit for the ports it accesses is 1; a wrap-around access exits; "use I/O bitmaps" = 1 overrides "unconditional I/O exiting"), 24.6.2 table 24-6 (bits 24, 25), 24.6.4 (I/O-bitmap addresses), 27.2.1 table 27-5 (exit qualification for I/O instructions: bits 2:0 size - 1, bit 3 direction 1 = IN, bit 4 string, bit 5 REP, bit 6 operand encoding 1 = immediate, bits 31:16 port), 27.2.5 (instruction length), appendix C (30 I/O instruction, 18 VMCALL)
# paravirt: n/a VMX instructions are the hardware's own (a paravirtual kernel has no VMX)
# diverges: trap_emulate the deprivileged kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# diverges: binary_translation the translated kernel's CPU offers no VMX: CPUID.1:ECX.VMX = 0, VMXON is #UD
# expect:
# | out dx, al: exit reason 30
# | length 1
# | qualification 0x00800000
# | guest eip +0
# | in eax, 0x71: exit reason 30
# | length 2
# | qualification 0x0071004b
# | guest eip +0
# | rep outsb: exit reason 30
# | length 2
# | qualification 0x00800030
# | guest eip +0
# | guest: the serial port's bits are 0, no exit
# | out 0x80, al: exit reason 30
# | length 2
# | qualification 0x00800040
# | guest eip +0
# | out dx, ax at 0x7fff: exit reason 30
# | length 2
# | qualification 0x7fff0001
# | guest eip +0
# | out dx, ax at 0xffff: exit reason 30
# | length 2
# | qualification 0xffff0001
# | guest eip +0
# | guest: port 0x81's bit is 0, no exit
# | exit reason 18
.include "conf.inc"
.include "vmx.inc"

main:
    mov eax, offset guest
    call vmx_guest
    SET_CTL CPU_BASED_VM_EXEC_CONTROL, IA32_VMX_PROCBASED_CTLS, CPU_UNCOND_IO_EXITING
    VMENTER vmlaunch, "vmlaunch", x1
    EXIT 1
x1: EXIT_REPORT "out dx, al", g_out, x2
x2: EXIT_REPORT "in eax, 0x71", g_in, x3
x3: mov edi, offset vmx_page            # the I/O bitmaps: only 0x80 (A) and 0x8000 (B) exit
    mov ecx, 2048
    xor eax, eax
    rep stosd
    or byte ptr [vmx_page + 0x80 / 8], 1 << (0x80 % 8)
    or byte ptr [vmx_page2], 1
    VMW IO_BITMAP_A, offset vmx_page
    VMW IO_BITMAP_A+1, 0
    VMW IO_BITMAP_B, offset vmx_page2
    VMW IO_BITMAP_B+1, 0
    SET_CTL CPU_BASED_VM_EXEC_CONTROL, IA32_VMX_PROCBASED_CTLS, CPU_UNCOND_IO_EXITING | CPU_USE_IO_BITMAPS
    EXIT_REPORT "rep outsb", g_rep, x4
x4: EXIT_REPORT "out 0x80, al", g_out80, x5
x5: EXIT_REPORT "out dx, ax at 0x7fff", g_7fff, x6
x6: EXIT_REPORT "out dx, ax at 0xffff", g_ffff, x7
x7: SHOW_REASON
    EXIT 0

guest:
    mov dx, 0x80
    mov al, 0x55
g_out:
    out dx, al
g_in:
    in eax, 0x71
    mov esi, offset guest
    mov ecx, 2
g_rep:
    rep outsb
    PRINT "guest: the serial port's bits are 0, no exit\n"
g_out80:
    out 0x80, al
    mov dx, 0x7FFF
g_7fff:
    out dx, ax                          # port 0x7fff's bit is 0, 0x8000's (B bit 0) is 1
    mov dx, 0xFFFF
g_ffff:
    out dx, ax                          # ports 0xffff and 0x0000, both bits 0
    in al, 0x81
    PRINT "guest: port 0x81's bit is 0, no exit\n"
    vmcall
