#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# mkguest.py OUT [MESSAGE]: a tiny guest for `qimg run` tests, written as a
# raw disk image of 1 MiB (SeaBIOS boots no smaller virtio disk).  Sector 0
# is a boot sector (16-bit real mode, hand assembled below) that, through
# the BIOS's int 13h:
#   1. reads sector 1 and prints the NUL-terminated text it holds on the
#      first serial port (I/O port 0x3f8);
#   2. writes itself (sector 0) over sector 2;
#   3. leaves QEMU through an isa-debug-exit device at port 0xf4: value
#      0x2a on success (QEMU exits with 0x55 = 85), 1 on a BIOS error (3).
# Sector 1 holds MESSAGE.  The guest needs:
#   -device isa-debug-exit,iobase=0xf4,iosize=0x04 -serial file:F
import sys

out = sys.argv[1]
msg = (sys.argv[2] if len(sys.argv) > 2 else "hello from qimg").encode()

code = bytearray()
labels = {}
fixups = []  # (position of rel8, label)


def emit(*b):
    code.extend(b)


def jump(op, label):
    emit(op, 0)
    fixups.append((len(code) - 1, label))


def here(name):
    labels[name] = len(code)


emit(0xFA)                    # cli
emit(0x31, 0xC0)              # xor ax,ax
emit(0x8E, 0xD8)              # mov ds,ax
emit(0x8E, 0xC0)              # mov es,ax
emit(0x8E, 0xD0)              # mov ss,ax
emit(0xBC, 0x00, 0x7C)        # mov sp,0x7c00
emit(0xFB)                    # sti
emit(0x88, 0x16, 0x00, 0x05)  # mov [0x500],dl   (the boot drive)
# read sector 1 (CHS 0/0/2) to 0x7e00
emit(0xBB, 0x00, 0x7E)        # mov bx,0x7e00
emit(0xB8, 0x01, 0x02)        # mov ax,0x0201
emit(0xB9, 0x02, 0x00)        # mov cx,0x0002
emit(0x30, 0xF6)              # xor dh,dh
emit(0xCD, 0x13)              # int 0x13
jump(0x72, "fail")            # jc fail
emit(0xBE, 0x00, 0x7E)        # mov si,0x7e00
here("print")
emit(0xAC)                    # lodsb
emit(0x84, 0xC0)              # test al,al
jump(0x74, "write")           # jz write
emit(0xBA, 0xF8, 0x03)        # mov dx,0x3f8
emit(0xEE)                    # out dx,al
jump(0xEB, "print")           # jmp print
here("write")
# write sector 0 (at 0x7c00) over sector 2 (CHS 0/0/3)
emit(0xBB, 0x00, 0x7C)        # mov bx,0x7c00
emit(0xB8, 0x01, 0x03)        # mov ax,0x0301
emit(0xB9, 0x03, 0x00)        # mov cx,0x0003
emit(0x30, 0xF6)              # xor dh,dh
emit(0x8A, 0x16, 0x00, 0x05)  # mov dl,[0x500]
emit(0xCD, 0x13)              # int 0x13
jump(0x72, "fail")            # jc fail
emit(0xB0, 0x2A)              # mov al,0x2a
emit(0xE6, 0xF4)              # out 0xf4,al
here("halt")
emit(0xF4)                    # hlt
jump(0xEB, "halt")            # jmp halt
here("fail")
emit(0xB0, 0x01)              # mov al,1
emit(0xE6, 0xF4)              # out 0xf4,al
jump(0xEB, "halt")            # jmp halt

for pos, label in fixups:
    rel = labels[label] - (pos + 1)
    assert -128 <= rel < 128
    code[pos] = rel & 0xFF

assert len(code) <= 446
sector0 = bytes(code) + bytes(510 - len(code)) + b"\x55\xAA"
sector1 = msg + bytes(512 - len(msg))
with open(out, "wb") as f:
    f.write(sector0 + sector1 + bytes(1024 * 1024 - 1024))
