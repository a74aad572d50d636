#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Build a small UDIF (.dmg) image for the dmg suite: a data fork of chunks,
# an XML property list whose "blkx" entries hold base64 "mish" blocks (or
# a binary resource fork), and the 512-byte "koly" trailer.
#
#   mkdmg.py OUT [rsrc] [pad=N] [trail=N] CHUNK...
# CHUNK is TYPE:SECTORS[:FILL] with TYPE one of zero, ignore, raw, zlib,
# bzip2, adc, lzfse, comment, or hex (0x...); FILL a byte (default: the
# chunk's index + 1).  A '/' between chunks starts a new mish block.
# pad=N puts N bytes before the data fork; trail=N appends N bytes after
# the trailer; sector=N sets the trailer's sector count.
import base64, bz2, struct, sys, zlib

TYPES = {'zero': 0, 'raw': 1, 'ignore': 2, 'adc': 0x80000004,
         'zlib': 0x80000005, 'bzip2': 0x80000006, 'lzfse': 0x80000007,
         'comment': 0x7ffffffe}

out = sys.argv[1]
rsrc = False
pad = trail = 0
koly_sectors = None
blocks = [[]]
for a in sys.argv[2:]:
    if a == 'rsrc':
        rsrc = True
    elif a.startswith('pad='):
        pad = int(a[4:], 0)
    elif a.startswith('trail='):
        trail = int(a[6:], 0)
    elif a.startswith('sector='):
        koly_sectors = int(a[7:], 0)
    elif a == '/':
        blocks.append([])
    else:
        blocks[-1].append(a.split(':'))

data = bytearray(b'\0' * pad)
mishes = []
sector = 0
n = 0
for blk in blocks:
    first = sector
    entries = []
    for c in blk:
        t = int(c[0], 0) if c[0].startswith('0x') else TYPES[c[0]]
        cnt = int(c[1], 0)
        n += 1
        fill = int(c[2], 0) if len(c) > 2 else n
        # sector k of the chunk is 512 bytes of (fill + k) & 0xff; only
        # the chunks that store data build it
        if t in (1, 0x80000005, 0x80000006):
            plain = b''.join(bytes(((fill + k) & 0xff,)) * 512
                             for k in range(cnt))
        if t == 1:
            payload = plain
        elif t == 0x80000005:
            payload = zlib.compress(plain)
        elif t == 0x80000006:
            payload = bz2.compress(plain)
        elif t in (0, 2, 0x7ffffffe):
            payload = b''
        else:
            payload = b'\x55' * 64
        off = len(data) - pad
        data += payload
        entries.append((t, sector - first, cnt, off, len(payload)))
        sector += cnt
    entries.append((0xffffffff, sector - first, 0, len(data) - pad, 0))
    m = bytearray(204)
    m[0:4] = b'mish'
    struct.pack_into('>IQQQII', m, 4, 1, first, sector - first, 0, 2,
                     len(entries))
    struct.pack_into('>I', m, 200, len(entries))
    for e in entries:
        m += struct.pack('>IIQQQQ', e[0], 0, e[1], e[2], e[3], e[4])
    mishes.append(bytes(m))

fork_off = len(data)
if rsrc:
    body = b''.join(struct.pack('>I', len(m)) + m for m in mishes)
    fork = struct.pack('>IIII', 256, 0, len(body), 0) + b'\0' * 240 + body
    plist_off = plist_len = 0
    rsrc_off, rsrc_len = fork_off, len(fork)
else:
    x = ['<?xml version="1.0" encoding="UTF-8"?>', '<plist version="1.0">',
         '<dict><key>resource-fork</key><dict><key>blkx</key><array>']
    for m in mishes:
        b = base64.b64encode(m).decode()
        lines = '\n'.join(b[i:i + 52] for i in range(0, len(b), 52))
        x.append('<dict><key>Data</key><data>\n%s\n</data></dict>' % lines)
    x.append('</array></dict></dict></plist>')
    fork = ('\n'.join(x) + '\n').encode()
    plist_off, plist_len = fork_off, len(fork)
    rsrc_off = rsrc_len = 0
data += fork
k = bytearray(512)
k[0:4] = b'koly'
struct.pack_into('>III', k, 4, 4, 512, 1)
struct.pack_into('>QQQQQ', k, 16, 0, pad, fork_off - pad, rsrc_off, rsrc_len)
struct.pack_into('>QQ', k, 216, plist_off, plist_len)
struct.pack_into('>IQ', k, 488, 1, sector if koly_sectors is None
                 else koly_sectors)
data += k + b'\0' * trail
open(out, 'wb').write(data)
