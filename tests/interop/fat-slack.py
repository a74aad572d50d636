#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""fat-slack.py IMAGE: zero, in place, the bytes of every file's last
cluster past the file's end in a FAT12/FAT16 disk image (an MBR with the
partition at its first entry, or a bare boot sector), and print how many
bytes were set.  QEMU's vvfat leaves whatever its cluster buffer held there;
qimg's vvfat reads zeros, so the two compare after this.  The FAT type is
taken from the boot sector's type string, as vvfat writes it."""
import mmap
import struct
import sys


def main(path):
    # mapped, not read: a hard disk is 500 MB, of which the tables, the
    # directories and the files' last clusters are read and written
    f = open(path, "r+b")
    data = mmap.mmap(f.fileno(), 0)
    part = 0
    if data[0:3] != b"\xeb\x3e\x90":
        part = struct.unpack_from("<I", data, 0x1C6)[0]
    bs = part * 512
    spc = data[bs + 13]
    res, nfats, rootent = struct.unpack_from("<HBH", data, bs + 14)
    spf = struct.unpack_from("<H", data, bs + 22)[0]
    ftype = 12 if data[bs + 54:bs + 59] == b"FAT12" else 16
    fat = (part + res) * 512
    root = part + res + nfats * spf
    first = root + rootent * 32 // 512
    csize = spc * 512

    def entry(n):
        if ftype == 16:
            return struct.unpack_from("<H", data, fat + 2 * n)[0]
        v = struct.unpack_from("<H", data, fat + n * 3 // 2)[0]
        return v >> 4 if n & 1 else v & 0xFFF

    eoc = 0xFF8 if ftype == 12 else 0xFFF8

    def chain(c):
        out = []
        while 2 <= c < eoc and len(out) < 1 << 20:
            out.append(c)
            c = entry(c)
        return out

    def off(c):
        return (first + (c - 2) * spc) * 512

    zeroed = 0
    todo = [bytes(data[root * 512:first * 512])]
    while todo:
        d = todo.pop()
        for i in range(0, len(d), 32):
            e = d[i:i + 32]
            if e[0] == 0:
                break
            if e[11] == 0x0F or e[11] & 0x08 or e[0] == 0xE5:
                continue
            cl = struct.unpack_from("<H", e, 26)[0]
            size = struct.unpack_from("<I", e, 28)[0]
            if e[11] & 0x10:
                if e[0:2] in (b". ", b".."):
                    continue
                todo.append(b"".join(bytes(data[off(c):off(c) + csize])
                                     for c in chain(cl)))
                continue
            ch = chain(cl)
            if not ch or size % csize == 0:
                continue
            last = off(ch[-1])
            tail = size % csize
            n = csize - tail
            if any(data[last + tail:last + csize]):
                zeroed += n
            data[last + tail:last + csize] = bytes(n)
    data.flush()
    data.close()
    f.close()
    print(zeroed)


main(sys.argv[1])
