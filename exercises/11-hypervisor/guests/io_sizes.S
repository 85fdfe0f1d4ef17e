# io_sizes.S - exercise 11 (hidden): port I/O of every size, to the ports the hypervisor traps.
#
# Under the exercise's hypervisor the serial port (0x3F8-0x3FF) and the exit port (0xF4) exit.
# The handler must take the port from the exit qualification (bits 31:16: an IN or OUT with an
# immediate port has no DX, SDM vol. 3C table 27-5 bit 6), make the access with the
# instruction's size (bits 2:0: size - 1), and return an IN's result in AL, AX or EAX, leaving
# the rest of EAX as the guest had it. The serial port's scratch register (0x3FF) holds one
# byte: each size of OUT writes it, each size of IN reads it back. The bytes come from `seed`,
# which the grader fills with a fresh random number: the output cannot be known in advance.
# Natively, and under a correct hypervisor, it prints the same; it ends with exit code 7.

.include "vlab.inc"

.section .text
.globl _start
_start:
    PRINT "io: seed "
    mov eax, [seed]
    call puthex
    call newline

    mov dx, SERIAL + 7                  # the scratch register
    mov eax, [seed]
    out dx, al                          # OUT byte
    mov eax, 0xA5A5A5A5
    in al, dx                           # IN byte: EAX 31:8 kept
    PRINT "in al:  "
    call puthex
    call newline

    mov dx, SERIAL + 7
    mov eax, [seed]
    shr eax, 8
    out dx, ax                          # OUT word (the register keeps the low byte)
    mov eax, 0x5A5A5A5A
    in ax, dx                           # IN word: EAX 31:16 kept, AH from the port
    PRINT "in ax:  "
    call puthex
    call newline

    mov dx, SERIAL + 7
    mov eax, [seed]
    shr eax, 16
    out dx, eax                         # OUT dword
    mov eax, 0xFFFFFFFF
    in eax, dx                          # IN dword: all of EAX
    PRINT "in eax: "
    call puthex
    call newline

    mov dx, SERIAL + 5                  # the line status, as a dword
    mov eax, 0x12345678
    in eax, dx
    PRINT "lsr:    "
    call puthex
    call newline

    mov dx, SERIAL                      # the data register, a character per size
    mov eax, 0x33221100 + 'w'
    out dx, eax
    mov eax, 0x00110000 + 'o'
    out dx, ax
    mov al, 'r'
    out dx, al
    mov eax, 0x00000A00 + 'd'
    out dx, ax
    mov al, 10
    out dx, al

    mov edx, SERIAL                     # an IN with an immediate port (DX says 0x3F8: a
    mov eax, 0x11223344                 # handler that reads DX gets the wrong port)
    in al, EXIT_PORT                    # nothing answers there: all ones
    PRINT "in 0xf4: "
    call puthex
    call newline

    mov edx, SERIAL
    EXIT 7                              # out 0xf4, al: an immediate port again

.include "lib.inc"

.section .data
.align 4
seed: .long 0x0BADCAFE                  # (the grader writes a fresh number here)
