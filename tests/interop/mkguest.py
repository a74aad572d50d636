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
#
# mkguest.py --from DRIVE:LBA OUT: step 1 reads block LBA of BIOS drive
# DRIVE (0x81: the second disk) with int 13h AH=42h instead, and prints
# what it holds; the rest is the same (sector 1 holds no message).
#
# mkguest.py --cdrom OUT [MESSAGE]: the same guest as a bootable CD image
# (ISO 9660 with an El Torito boot catalog, no emulation): the boot image
# reads the CD's block 22 with int 13h AH=42h (extended read), prints it,
# and exits the same way (a CD is not written).
import struct
import sys

cdrom = len(sys.argv) > 1 and sys.argv[1] == "--cdrom"
if cdrom:
    del sys.argv[1]
src = None
if len(sys.argv) > 2 and sys.argv[1] == "--from":
    drive, lba = sys.argv[2].split(":")
    src = (int(drive, 0), int(lba, 0))
    del sys.argv[1:3]
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


def print_at(addr):
    """Print the NUL-terminated text at addr on COM1."""
    emit(0xBE, addr & 0xFF, addr >> 8)  # mov si,addr
    here("print")
    emit(0xAC)                # lodsb
    emit(0x84, 0xC0)          # test al,al
    jump(0x74, "printed")     # jz printed
    emit(0xBA, 0xF8, 0x03)    # mov dx,0x3f8
    emit(0xEE)                # out dx,al
    jump(0xEB, "print")       # jmp print
    here("printed")


def exit_tail():
    """Leave QEMU: 0x2a here, 1 at "fail"."""
    emit(0xB0, 0x2A)          # mov al,0x2a
    emit(0xE6, 0xF4)          # out 0xf4,al
    here("halt")
    emit(0xF4)                # hlt
    jump(0xEB, "halt")        # jmp halt
    here("fail")
    emit(0xB0, 0x01)          # mov al,1
    emit(0xE6, 0xF4)          # out 0xf4,al
    jump(0xEB, "halt")        # jmp halt


def link():
    for pos, label in fixups:
        rel = labels[label] - (pos + 1)
        assert -128 <= rel < 128
        code[pos] = rel & 0xFF


def both32(v):
    return struct.pack("<I", v) + struct.pack(">I", v)


def both16(v):
    return struct.pack("<H", v) + struct.pack(">H", v)


def write_iso():
    """An ISO 9660 image: descriptors at 16 (primary), 17 (El Torito boot
    record), 18 (end); the boot catalog at 19, the root directory at 20,
    the boot image (code) at 21 and the message at 22."""
    iso = bytearray(24 * 2048)

    def block(n):
        return slice(n * 2048, (n + 1) * 2048)

    pvd = bytearray(2048)
    pvd[0:7] = b"\x01CD001\x01"
    pvd[8:40] = b" " * 32
    pvd[40:72] = b"QIMG GUEST".ljust(32)
    pvd[80:88] = both32(24)
    pvd[120:124] = both16(1)
    pvd[124:128] = both16(1)
    pvd[128:132] = both16(2048)
    root = bytearray(34)
    root[0] = 34
    root[2:10] = both32(20)
    root[10:18] = both32(2048)
    root[25] = 2
    root[28:32] = both16(1)
    root[32] = 1
    pvd[156:190] = root
    pvd[881] = 1
    iso[block(16)] = pvd
    br = bytearray(2048)
    br[0:7] = b"\x00CD001\x01"
    br[7:39] = b"EL TORITO SPECIFICATION".ljust(32, b"\x00")
    br[0x47:0x4B] = struct.pack("<I", 19)
    iso[block(17)] = br
    iso[block(18)] = b"\xffCD001\x01".ljust(2048, b"\x00")
    # the catalog: validation entry (its words sum to 0), initial entry
    # (bootable, no emulation, 4 virtual sectors from block 21)
    cat = bytearray(2048)
    val = bytearray(32)
    val[0] = 1
    val[30:32] = b"\x55\xAA"
    words = sum(struct.unpack("<16H", bytes(val))) & 0xFFFF
    val[28:30] = struct.pack("<H", (-words) & 0xFFFF)
    cat[0:32] = val
    cat[32:64] = struct.pack("<BBHBBHI20x", 0x88, 0, 0, 0, 0, 4, 21)
    iso[block(19)] = cat
    rd = bytearray(2048)
    rd[0:34] = root
    rd[34:68] = root
    rd[34 + 33] = 1
    iso[block(20)] = rd
    iso[21 * 2048:21 * 2048 + len(code)] = code
    iso[22 * 2048:22 * 2048 + len(msg)] = msg
    with open(out, "wb") as f:
        f.write(iso)


emit(0xFA)                    # cli
emit(0x31, 0xC0)              # xor ax,ax
emit(0x8E, 0xD8)              # mov ds,ax
emit(0x8E, 0xC0)              # mov es,ax
emit(0x8E, 0xD0)              # mov ss,ax
emit(0xBC, 0x00, 0x7C)        # mov sp,0x7c00
emit(0xFB)                    # sti
emit(0x88, 0x16, 0x00, 0x05)  # mov [0x500],dl   (the boot drive)
if cdrom:
    # extended read of CD block 22 to 0x8000 (the packet is at the end)
    emit(0xBE, 0, 0)          # mov si,dap   (patched below)
    dap_ref = len(code) - 2
    emit(0xB4, 0x42)          # mov ah,0x42
    emit(0xCD, 0x13)          # int 0x13
    jump(0x72, "fail")        # jc fail
    print_at(0x8000)
    exit_tail()
    dap = len(code)
    code[dap_ref:dap_ref + 2] = struct.pack("<H", 0x7C00 + dap)
    # disk address packet: size, 0, 1 block, to 0000:8000, LBA 22
    code.extend(struct.pack("<BBHHHQ", 16, 0, 1, 0x8000, 0, 22))
    link()
    write_iso()
    sys.exit(0)
dap_ref = None
if src:
    # extended read of block LBA of drive DRIVE to 0x7e00
    emit(0xBE, 0, 0)          # mov si,dap   (patched below)
    dap_ref = len(code) - 2
    emit(0xB2, src[0])        # mov dl,DRIVE
    emit(0xB4, 0x42)          # mov ah,0x42
    emit(0xCD, 0x13)          # int 0x13
    jump(0x72, "fail")        # jc fail
else:
    # read sector 1 (CHS 0/0/2) to 0x7e00
    emit(0xBB, 0x00, 0x7E)    # mov bx,0x7e00
    emit(0xB8, 0x01, 0x02)    # mov ax,0x0201
    emit(0xB9, 0x02, 0x00)    # mov cx,0x0002
    emit(0x30, 0xF6)          # xor dh,dh
    emit(0xCD, 0x13)          # int 0x13
    jump(0x72, "fail")        # jc fail
print_at(0x7E00)
# write sector 0 (at 0x7c00) over sector 2 (CHS 0/0/3)
emit(0xBB, 0x00, 0x7C)        # mov bx,0x7c00
emit(0xB8, 0x01, 0x03)        # mov ax,0x0301
emit(0xB9, 0x03, 0x00)        # mov cx,0x0003
emit(0x30, 0xF6)              # xor dh,dh
emit(0x8A, 0x16, 0x00, 0x05)  # mov dl,[0x500]
emit(0xCD, 0x13)              # int 0x13
jump(0x72, "fail")            # jc fail
exit_tail()
if dap_ref is not None:
    dap = len(code)
    code[dap_ref:dap_ref + 2] = struct.pack("<H", 0x7C00 + dap)
    code.extend(struct.pack("<BBHHHQ", 16, 0, 1, 0x7E00, 0, src[1]))
link()
assert len(code) <= 446
sector0 = bytes(code) + bytes(510 - len(code)) + b"\x55\xAA"
sector1 = msg + bytes(512 - len(msg))
with open(out, "wb") as f:
    f.write(sector0 + sector1 + bytes(1024 * 1024 - 1024))
