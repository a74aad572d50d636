#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Seeds for fuzz-nbd-server: client byte streams (written to the corpus
# directory given, default tests/fuzz/corpus) that negotiate in each way
# and send every command.
import os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), 'corpus')

def opt(o, data=b''):
    return b'IHAVEOPT' + struct.pack('>II', o, len(data)) + data

def s(x):
    return struct.pack('>I', len(x)) + x

def req(typ, off, ln, flags=0, handle=1, data=b''):
    return struct.pack('>IHHQQI', 0x25609513, flags, typ, handle, off,
                       ln) + data

def ops():
    return (req(0, 0, 4096) + req(1, 4096, 512, flags=1, data=b'\x5a' * 512)
            + req(1, 8192, 512, data=b'\0' * 512)
            + req(6, 65536, 65536, flags=2) + req(6, 0, 512, flags=16)
            + req(4, 131072, 65536) + req(3, 0, 0) + req(5, 0, 65536)
            + req(7, 0, 1 << 20) + req(7, 0, 1 << 20, flags=8)
            + req(0, 0, 8192, flags=4) + req(0, (1 << 20) - 512, 1024)
            + req(2, 0, 0))

seeds = {
    'go-structured.nbd': struct.pack('>I', 3) + opt(8)
    + opt(10, s(b'') + struct.pack('>I', 2) + s(b'base:allocation')
          + s(b'qemu:allocation-depth'))
    + opt(7, s(b'') + struct.pack('>H', 2) + struct.pack('>HH', 1, 3))
    + ops(),
    'export-name.nbd': struct.pack('>I', 1) + opt(1, b'') + ops(),
    'negotiate.nbd': struct.pack('>I', 3) + opt(3) + opt(5) + opt(99, b'xy')
    + opt(6, s(b'') + struct.pack('>HH', 1, 2))
    + opt(6, s(b'nope') + struct.pack('>H', 0))
    + opt(9, s(b'') + struct.pack('>I', 2) + s(b'qemu:') + s(b'base:'))
    + opt(9, s(b'') + struct.pack('>I', 0)) + opt(10, s(b'') + b'\0\0\0\0')
    + opt(8) + opt(8) + opt(2),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
