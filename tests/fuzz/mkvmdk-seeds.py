#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# vmdk seeds for fuzz-vmdk and fuzz-vmdk-rw, written from the layouts of
# VMware's "Virtual Disk Format" note: tiny monolithic images (1 KiB
# grains, 8-entry grain tables) so that each stays a few KiB.  Hosted
# sparse (plain, zeroed grains, redundant directory), streamOptimized with
# its tables at the front (qemu-img's layout) and with a footer (VMware's),
# and an ESX COWD file.  Usage: mkvmdk-seeds.py OUTDIR
import os
import struct
import sys
import zlib

S = 512
out = sys.argv[1]


def desc(kind, sectors, name):
    return (
        "# Disk DescriptorFile\nversion=1\nCID=12345678\n"
        "parentCID=ffffffff\ncreateType=\"%s\"\n\n# Extent description\n"
        "RW %d SPARSE \"%s\"\n\nddb.virtualHWVersion = \"4\"\n"
        % (kind, sectors, name)
    ).encode()


def header(version, flags, cap, grain, dsec, gtes, rgd, gd, over, algo=0):
    h = struct.pack(
        "<4sIIQQQQIQQQ?4sH",
        b"KDMV", version, flags, cap, grain, 1, dsec, gtes, rgd, gd, over,
        False, b"\n \r\n", algo,
    )
    return h.ljust(S, b"\0")


def sparse(name, zeroed=False, stream=False, footer=False):
    grain, gtes, cap = 2, 8, 64  # 1 KiB grains, 16 sectors per GT
    ngt = cap // (grain * gtes)
    flags = 0x1 | (0x2 if not stream else 0) | (0x4 if zeroed else 0)
    if stream:
        flags |= 0x30000
    version = 3 if stream else (2 if zeroed else 1)
    # sectors: 0 header, 1 descriptor, 2 RGD, 3..6 RGTs, 7 GD, 8..11 GTs
    rgd, gd, over = (2, 7, 12) if not stream else (0, 2, 8)
    img = bytearray(over * S)
    d = desc("streamOptimized" if stream else "monolithicSparse", cap, name)
    img[S:S + len(d)] = d
    gts = [[0] * gtes for _ in range(ngt)]
    data = bytearray()
    nxt = over

    def put(gi, payload):
        nonlocal nxt, data
        gts[gi // gtes][gi % gtes] = nxt
        if stream:
            c = zlib.compress(payload)
            m = struct.pack("<QI", gi * grain, len(c)) + c
            m = m.ljust((len(m) + S - 1) // S * S, b"\0")
        else:
            m = payload
        data += m
        nxt += len(m) // S

    put(0, bytes([0x11]) * grain * S)
    put(5, os.urandom(grain * S) if False else bytes(range(256)) * 4)
    put(17, b"vmdk seed " * 102 + b"\0\0\0\0")
    if zeroed:
        gts[1][2] = 1
        gts[3][7] = 1
    gtbase = over if footer else (3 if not stream else 3)
    if footer:
        # VMware's stream: grains, then each GT behind a GT marker, the
        # GD behind a GD marker, the footer behind its marker, EOS.
        tail = bytearray()
        sec = over + len(data) // S
        gdent = []
        for t in gts:
            tail += struct.pack("<QII", 1, 0, 1).ljust(S, b"\0")
            sec += 1
            gdent.append(sec)
            tail += struct.pack("<%dI" % gtes, *t).ljust(S, b"\0")
            sec += 1
        tail += struct.pack("<QII", 1, 0, 2).ljust(S, b"\0")
        sec += 1
        gdsec = sec
        tail += struct.pack("<%dI" % ngt, *gdent).ljust(S, b"\0")
        tail += struct.pack("<QII", 1, 0, 3).ljust(S, b"\0")
        tail += header(3, flags, cap, grain, 1, gtes, 0, gdsec, over, 1)
        tail += bytes(S)
        img[0:S] = header(3, flags, cap, grain, 1, gtes, 0,
                          0xFFFFFFFFFFFFFFFF, over, 1)
        img += data + tail
    else:
        for i, t in enumerate(gts):
            if rgd:
                img[(3 + i) * S:(3 + i) * S + 4 * gtes] = struct.pack(
                    "<%dI" % gtes, *t)
            g = gd + 1 + i
            img[g * S:g * S + 4 * gtes] = struct.pack("<%dI" % gtes, *t)
        if rgd:
            img[rgd * S:rgd * S + 4 * ngt] = struct.pack(
                "<%dI" % ngt, *range(3, 3 + ngt))
        img[gd * S:gd * S + 4 * ngt] = struct.pack(
            "<%dI" % ngt, *range(gd + 1, gd + 1 + ngt))
        img[0:S] = header(version, flags, cap, grain, 1, gtes, rgd, gd,
                          over, 1 if stream else 0)
        img += data
        if stream:
            img += bytes(S)
    with open(os.path.join(out, name), "wb") as f:
        f.write(img)


def cowd(name):
    cap, grain = 32, 2
    h = struct.pack("<4sIIIIII", b"COWD", 1, 3, cap, grain, 1, 1)
    img = bytearray(h.ljust(S, b"\0"))
    img += bytearray(S)  # sector 1: the grain directory
    struct.pack_into("<I", img, S, 2)  # GT at sector 2 (4096 entries)
    gt = [0] * 4096
    gt[1] = 34
    gt[3] = 35
    img += struct.pack("<4096I", *gt)
    img += bytes([0x22]) * S + bytes([0x33]) * S
    with open(os.path.join(out, name), "wb") as f:
        f.write(img)


sparse("sparse.vmdk")
sparse("zeroed.vmdk", zeroed=True)
sparse("stream.vmdk", stream=True)
sparse("footer.vmdk", stream=True, footer=True)
cowd("cowd.vmdk")
