#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# A small parallels image with a Format Extension holding a dirty bitmap,
# for fuzz-parallels' corpus (QEMU's parallels-with-bitmap sample is
# 3 MiB, past the harness's limit): 512-byte clusters, a 4 MiB disk, one
# bit per sector, so the bitmap is 1 KiB in two L1 entries: a cluster of
# bits, and "all set".
import hashlib, os, struct, sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(__file__), 'corpus', 'ext-bitmap.parallels')
CL = 512
SECTORS = 8192
BAT = SECTORS * 512 // CL
first = (64 + 4 * BAT + CL - 1) // CL   # the first cluster after the BAT
ext_c, bits_c, data_c = first, first + 1, first + 2
hdr = (b'WithouFreSpacExt' + struct.pack('<IIIII', 2, 16, 32, CL // 512, BAT)
       + struct.pack('<QIII', SECTORS, 0, first, 0)
       + struct.pack('<Q', ext_c * CL // 512))
body = bytearray(CL * (data_c + 1))
body[:len(hdr)] = hdr
struct.pack_into('<I', body, 64, data_c)    # guest cluster 0
body[data_c * CL:data_c * CL + 16] = b'data in cluster!'
l1 = [bits_c * CL // 512, 1]
feat = (struct.pack('<Q', SECTORS) + bytes(range(16))
        + struct.pack('<II', 1, len(l1))
        + b''.join(struct.pack('<Q', e) for e in l1))
ext = bytearray(CL)
ext[0:8] = struct.pack('<Q', 0xab234cef23dcea87)
ext[24:48] = struct.pack('<QQII', 0x20385fae252cb34a, 0, len(feat), 0)
ext[48:48 + len(feat)] = feat             # then "end of features": zeros
ext[8:24] = hashlib.md5(bytes(ext[24:])).digest()
body[ext_c * CL:(ext_c + 1) * CL] = ext
body[bits_c * CL:bits_c * CL + 8] = bytes([0x81, 0, 0xff, 0, 0, 0x10, 0, 1])
open(out, 'wb').write(bytes(body))
