#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Seeds for fuzz-nbd-list: what a server sends to qimg-nbd -L (written to
# the corpus directory given, default tests/fuzz/corpus): a list of two
# exports with their information and metadata contexts, a server that
# refuses the list, one without structured replies, an old-style one.
import os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), 'corpus')

REP_MAGIC = 0x0003e889045565a9

def rep(opt, typ, data=b''):
    return struct.pack('>QIII', REP_MAGIC, opt, typ, len(data)) + data

def s(x):
    return struct.pack('>I', len(x)) + x

ACK, SERVER, INFO, META = 1, 2, 3, 4
ERR_POLICY, ERR_TLS_REQD = (1 << 31) | 2, (1 << 31) | 5
greeting = b'NBDMAGIC' + b'IHAVEOPT' + struct.pack('>H', 3)

def export(name, desc, size, flags, contexts):
    info = (rep(6, INFO, struct.pack('>HQH', 0, size, flags))
            + rep(6, INFO, struct.pack('>H', 2) + desc)
            + rep(6, INFO, struct.pack('>HIII', 3, 1, 4096, 1 << 25))
            + rep(6, ACK))
    meta = b''.join(rep(9, META, struct.pack('>I', i + 1) + c)
                    for i, c in enumerate(contexts))
    return info + meta + rep(9, ACK)

seeds = {
    'list-two.nbdl': greeting + rep(8, ACK)
    + rep(3, SERVER, s(b'a') + b'the first') + rep(3, SERVER, s(b'') + b'')
    + rep(3, ACK)
    + export(b'a', b'the first', 1 << 20, 0x48f,
             [b'base:allocation', b'qemu:dirty-bitmap:b0'])
    + export(b'', b'', 512, 0xded, [b'base:allocation']),
    'list-refused.nbdl': greeting + rep(8, ERR_TLS_REQD, b'TLS first')
    + rep(3, ERR_POLICY, b'no lists here'),
    'list-no-sr.nbdl': greeting + rep(8, (1 << 31) | 1)
    + rep(3, SERVER, s(b'x')) + rep(3, ACK)
    + rep(6, INFO, struct.pack('>HQH', 0, 4096, 1)) + rep(6, ACK),
    'list-oldstyle.nbdl': b'NBDMAGIC' + struct.pack('>QQI', 0x00420281861253,
                                                     1 << 30, 0x48f)
    + b'\0' * 124,
}

for name, data in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
