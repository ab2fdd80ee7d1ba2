#!/usr/bin/env python3
"""bench/make_big_capture.py — one large classic pcap made of shifted copies of the shared captures.

    bench/make_big_capture.py --size 4G -o /tmp/big.pcap [--data DIR] [--seed N] [--stats]

Reads every capture of DATA/ndpi/pcap and DATA/slips (classic pcap in either byte order, micro- or
nanosecond, and pcapng: enhanced and obsolete packet blocks; simple packet blocks carry no time and are
left out) whose link type is Ethernet, raw IP, Linux cooked (SLL, SLL2) or BSD loopback; frames of other
link types are left out. Every frame becomes an Ethernet frame (the others get a made-up Ethernet header
with the matching EtherType). Each file is put on a common time axis: its frames in time order, the first
at 0, and every gap longer than 150 s shortened to 150 s (many nDPI test captures join snippets recorded
years apart; 150 s is above weft's default 120 s idle timeout, so the flows do not change). The frames of
all files are then sorted by time once (stable), and that sequence, lasting `span` seconds (whole seconds:
the last frame's time + 1), is the unit copied:

  - copy k is the sequence with every timestamp moved k x span seconds later, so the copies follow each
    other and time never runs backwards (the first copy starts at 2023-11-14 22:13:20 UTC);
  - copy k's IPv4 and IPv6 addresses get a per-copy 24-bit value XOR-ed into their last three bytes
    (IPv4: the host part below the first octet; IPv6: the low bytes of the interface identifier), for
    the outer packet and the inner packets of IP-in-IP, 6in4, GRE, VXLAN and GTP-U tunnels, so every
    copy's conversations are new flows. Checksums are left as they were (weft does not verify them).

Copies are written whole until the next one would pass --size, then the last one is cut at a frame
boundary, so the file is at most --size bytes. The output is deterministic for a given data set, size
and seed (the seed picks the per-copy values; copy 0 keeps its addresses only with --seed 0).

The per-copy work is arithmetic on one big integer holding the whole copy: the times are an addition of
k x span at every record's seconds field (no field can carry into the next: the seconds stay below
2^32), the addresses one XOR with the copy's value at every address field, so a copy costs a few
linear passes over its bytes, and the writes are large.

Python standard library only.
"""
import argparse
import bisect
import glob
import os
import struct
import sys
import time

BASE_EPOCH = 1_700_000_000  # the first copy's first second (2023-11-14 22:13:20 UTC)
ETH_HDR_V4 = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
ETH_HDR_V6 = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd"
MAX_DEPTH = 4
# Many nDPI test captures join snippets recorded years apart: inside a file, a gap longer than this is
# shortened to it. It is longer than weft's default idle timeout (120 s), so the flows stay the same.
MAX_GAP_NS = 150 * 1_000_000_000


def parse_size(s):
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    t = s.strip().upper()
    if t.endswith("IB"):
        t = t[:-2]
    elif t.endswith("B"):
        t = t[:-1]
    u = t[-1:] if t[-1:] in ("K", "M", "G", "T") else ""
    num = t[:-1] if u else t
    try:
        v = float(num)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {s!r} (e.g. 400M, 4G)")
    if v <= 0:
        raise argparse.ArgumentTypeError(f"not a positive size: {s!r}")
    return int(v * units[u])


# --- reading captures -------------------------------------------------------------------------------

def read_pcap(buf):
    """Classic pcap: yields (linktype, ts_ns, frame)."""
    magic = buf[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    if len(buf) < 24:
        return
    lt = struct.unpack_from(e + "I", buf, 20)[0] & 0x03FFFFFF
    rec = struct.Struct(e + "IIII")
    mult = 1 if nano else 1000
    off, n = 24, len(buf)
    while off + 16 <= n:
        sec, frac, caplen, _ = rec.unpack_from(buf, off)
        off += 16
        if caplen > n - off or caplen > 262144:
            break  # cut short or damaged: keep what came before
        yield lt, sec * 1_000_000_000 + frac * mult, buf[off:off + caplen]
        off += caplen


def read_pcapng(buf):
    """pcapng: yields (linktype, ts_ns, frame) for enhanced and obsolete packet blocks."""
    off, n = 0, len(buf)
    e = "<"
    ifaces = []  # (linktype, ns per tick numerator, denominator, offset seconds)
    while off + 12 <= n:
        btype = struct.unpack_from(e + "I", buf, off)[0]
        if btype == 0x0A0D0D0A:
            bom = buf[off + 8:off + 12]
            if bom == b"\x4d\x3c\x2b\x1a":
                e = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                e = ">"
            else:
                return
            ifaces = []
        blen = struct.unpack_from(e + "I", buf, off + 4)[0]
        if blen < 12 or blen % 4 or off + blen > n:
            return  # damaged: keep what came before
        body = off + 8
        end = off + blen - 4
        if btype == 1:  # interface description
            lt = struct.unpack_from(e + "H", buf, body)[0]
            num, den, tsoff = 1000, 1, 0  # microseconds by default
            o = body + 8
            while o + 4 <= end:
                code, olen = struct.unpack_from(e + "HH", buf, o)
                o += 4
                if code == 0:
                    break
                if code == 9 and olen >= 1:
                    r = buf[o]
                    if r & 0x80:
                        num, den = 1_000_000_000, 1 << (r & 0x7F)
                    else:
                        p = r & 0x7F
                        num, den = (10 ** (9 - p), 1) if p <= 9 else (1, 10 ** (p - 9))
                elif code == 14 and olen >= 8:
                    tsoff = struct.unpack_from(e + "q", buf, o)[0]
                o += (olen + 3) & ~3
            ifaces.append((lt, num, den, tsoff))
        elif btype in (6, 2):  # enhanced packet, obsolete packet
            if btype == 6:
                iface, hi, lo, caplen = struct.unpack_from(e + "IIII", buf, body)
            else:
                iface = struct.unpack_from(e + "H", buf, body)[0]
                hi, lo, caplen = struct.unpack_from(e + "III", buf, body + 4)
            data = body + 20
            if iface < len(ifaces) and data + caplen <= end:
                lt, num, den, tsoff = ifaces[iface]
                ticks = hi << 32 | lo
                yield lt, ticks * num // den + tsoff * 1_000_000_000, buf[data:data + caplen]
        off += blen


def to_ethernet(lt, frame):
    """An Ethernet frame for a frame of link type lt, or None for link types left out."""
    if lt == 1:
        return frame
    if lt in (12, 14, 101, 228, 229):  # raw IP
        if not frame:
            return None
        v = frame[0] >> 4
        if v == 4:
            return ETH_HDR_V4 + frame
        if v == 6:
            return ETH_HDR_V6 + frame
        return None
    if lt == 113 and len(frame) >= 16:  # Linux SLL
        return ETH_HDR_V4[:12] + frame[14:16] + frame[16:]
    if lt == 276 and len(frame) >= 20:  # Linux SLL2
        return ETH_HDR_V4[:12] + frame[0:2] + frame[20:]
    if lt in (0, 108) and len(frame) >= 4:  # BSD loopback: address family in host / network order
        fam = struct.unpack_from("<I" if lt == 0 else ">I", frame, 0)[0]
        if lt == 0 and fam > 0xFFFF:
            fam = struct.unpack_from(">I", frame, 0)[0]
        if fam == 2:
            return ETH_HDR_V4 + frame[4:]
        if fam in (10, 24, 28, 30):
            return ETH_HDR_V6 + frame[4:]
    return None


# --- address fields ---------------------------------------------------------------------------------

def ip_addrs(f, o, depth, out):
    """Appends to out the byte offsets (in frame f) of the 3-byte fields to XOR of the IP packet at o."""
    if depth > MAX_DEPTH or o >= len(f):
        return
    v = f[o] >> 4
    if v == 4:
        if o + 20 > len(f):
            return
        ihl = (f[o] & 15) * 4
        out.append(o + 13)
        out.append(o + 17)
        if struct.unpack_from(">H", f, o + 6)[0] & 0x3FFF:
            return  # a fragment: no inner packet to look at
        transport(f, o + ihl, f[o + 9], depth, out)
    elif v == 6:
        if o + 40 > len(f):
            return
        out.append(o + 8 + 13)
        out.append(o + 24 + 13)
        transport(f, o + 40, f[o + 6], depth, out)


def transport(f, o, proto, depth, out):
    if proto in (4, 41):  # IP-in-IP, 6in4 / 6in6
        ip_addrs(f, o, depth + 1, out)
    elif proto == 47 and o + 4 <= len(f):  # GRE
        flags, etype = struct.unpack_from(">HH", f, o)
        if flags & 0x0007:  # GRE version 1 (PPTP)
            p = o + 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
            if etype == 0x880B and p + 4 <= len(f) and f[p:p + 2] == b"\xff\x03":
                p += 2
            if etype == 0x880B and p + 2 <= len(f):
                pp = struct.unpack_from(">H", f, p)[0]
                if pp in (0x0021, 0x0057):
                    ip_addrs(f, p + 2, depth + 1, out)
            return
        p = o + 4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0)
        if etype in (0x0800, 0x86DD):
            ip_addrs(f, p, depth + 1, out)
        elif etype == 0x6558:
            eth_addrs(f, p, depth + 1, out)
        elif etype == 0x88BE:  # ERSPAN type II
            eth_addrs(f, p + 8, depth + 1, out)
    elif proto == 17 and o + 8 <= len(f):
        sport, dport = struct.unpack_from(">HH", f, o)
        if 4789 in (sport, dport) and o + 16 <= len(f):  # VXLAN
            eth_addrs(f, o + 16, depth + 1, out)
        elif dport == 2152 and o + 16 <= len(f):  # GTP-U
            g = o + 8
            gflags = f[g]
            if f[g + 1] != 0xFF:
                return
            p = g + 8 + (4 if gflags & 0x07 else 0)
            ip_addrs(f, p, depth + 1, out)


def eth_addrs(f, o, depth, out):
    if o + 14 > len(f):
        return
    et = struct.unpack_from(">H", f, o + 12)[0]
    p = o + 14
    while et in (0x8100, 0x88A8, 0x9100) and p + 4 <= len(f):
        et = struct.unpack_from(">H", f, p + 2)[0]
        p += 4
    if et in (0x8847, 0x8848):  # MPLS: labels to the bottom of the stack, then IP
        while p + 4 <= len(f):
            bos = f[p + 2] & 1
            p += 4
            if bos:
                break
        ip_addrs(f, p, depth, out)
    elif et == 0x8864 and p + 8 <= len(f):  # PPPoE session
        pp = struct.unpack_from(">H", f, p + 6)[0]
        if pp in (0x0021, 0x0057):
            ip_addrs(f, p + 8, depth, out)
    elif et in (0x0800, 0x86DD):
        ip_addrs(f, p, depth, out)


# --- the source set ---------------------------------------------------------------------------------

def load(files):
    pkts = []  # (ts_ns relative to its file's first packet, file index, frame index, frame)
    stats = {"files": 0, "files_used": 0, "frames": 0, "left_out": 0, "span_file": ("", 0)}
    for fi, path in enumerate(files):
        with open(path, "rb") as fh:
            buf = fh.read()
        reader = read_pcapng if buf[:4] == b"\x0a\x0d\x0d\x0a" else read_pcap
        stats["files"] += 1
        t0 = None
        mine = []
        for lt, ts, frame in reader(buf):
            eth = to_ethernet(lt, frame)
            if eth is None:
                stats["left_out"] += 1
                continue
            mine.append((ts, eth))
        if not mine:
            continue
        stats["files_used"] += 1
        # the file's own time axis: its frames in time order (stable), the first at 0, every gap
        # longer than MAX_GAP_NS shortened to it
        mine.sort(key=lambda p: p[0])
        t, prev = 0, mine[0][0]
        for j, (ts, eth) in enumerate(mine):
            t += min(ts - prev, MAX_GAP_NS)
            prev = ts
            pkts.append((t, fi, j, eth))
        if t > stats["span_file"][1]:
            stats["span_file"] = (os.path.basename(path), t)
    pkts.sort(key=lambda p: (p[0], p[1], p[2]))
    stats["frames"] = len(pkts)
    return pkts, stats


def build_template(pkts):
    """The copy as bytes (records only, times of copy 0), the record offsets, and the big integers that
    place a 1 in each record's seconds field (D) and in each address field (M)."""
    out = bytearray()
    rec_off = []
    d_bits = []
    m_bits = []
    hdr = struct.Struct("<IIII")
    for ts, _, _, f in pkts:
        o = len(out)
        rec_off.append(o)
        sec, usec = divmod(ts // 1000, 1_000_000)
        out += hdr.pack(BASE_EPOCH + sec, usec, len(f), len(f))
        out += f
        d_bits.append(o)
        fields = []
        eth_addrs(f, 0, 0, fields)
        for a in fields:
            m_bits.append(o + 16 + a)
    rec_off.append(len(out))
    return bytes(out), rec_off, positions_int(d_bits, len(out)), positions_int(m_bits, len(out))


def positions_int(byte_positions, n):
    """The little-endian integer with a 1 in the lowest byte of each listed byte position."""
    b = bytearray(n)
    for p in byte_positions:
        b[p] = 1
    return int.from_bytes(b, "little")


def copy_value(k, seed):
    """The 24-bit value XOR-ed into copy k's addresses: distinct for every k below 2^24."""
    v = ((k * 0x9E3779) ^ (seed * 0x5BD1E9)) & 0xFFFFFF
    if seed == 0 and k == 0:
        v = 0
    return v


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=parse_size, required=True, help="file size: 400M, 4G, ... (binary units)")
    ap.add_argument("-o", "--output", required=True, help="the pcap to write ('-' for standard output)")
    ap.add_argument("--data", default=os.environ.get("DATA_DIR", os.path.join(here, "..", "..", "shared", "data")),
                    help="the shared data folder (default ../shared/data from the repository)")
    ap.add_argument("--seed", type=int, default=1, help="picks the per-copy address values (default 1)")
    ap.add_argument("--stats", action="store_true", help="print what was made as JSON on stderr")
    a = ap.parse_args()

    t_start = time.time()
    files = sorted(glob.glob(os.path.join(a.data, "ndpi", "pcap", "*.pcap*"))) + \
        sorted(glob.glob(os.path.join(a.data, "slips", "*.pcap")))
    files = [f for f in files if os.path.isfile(f)]
    if not files:
        sys.exit(f"make_big_capture.py: no captures under {a.data}/ndpi/pcap or {a.data}/slips")
    pkts, st = load(files)
    if not pkts:
        sys.exit("make_big_capture.py: no usable frames in the captures")
    span = pkts[-1][0] // 1_000_000_000 + 1  # whole seconds: a copy's microseconds stay as they are
    tmpl, rec_off, D, M = build_template(pkts)
    del pkts
    T = int.from_bytes(tmpl, "little")
    n = len(tmpl)
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
    if len(head) + rec_off[1] > a.size:
        sys.exit(f"make_big_capture.py: --size {a.size} holds no frame")
    full = (a.size - len(head)) // n
    last_cut = rec_off[bisect.bisect_right(rec_off, a.size - len(head) - full * n) - 1]
    copies = full + (1 if last_cut else 0)
    if BASE_EPOCH + copies * span >= 1 << 32:
        sys.exit(f"make_big_capture.py: {copies} copies of {span} s run past the pcap time field")

    out = sys.stdout.buffer if a.output == "-" else open(a.output, "wb", buffering=0)
    out.write(head)
    written = len(head)
    frames = 0
    for k in range(copies):
        v = copy_value(k, a.seed)
        v_le = int.from_bytes(v.to_bytes(3, "big"), "little")
        x = T
        if k:
            x = x + (k * span) * D
        if v_le:
            x = x ^ (v_le * M)
        data = x.to_bytes(n, "little")
        if k == full:  # the last, partial copy
            data = data[:last_cut]
            frames += bisect.bisect_left(rec_off, last_cut)
        else:
            frames += len(rec_off) - 1
        mv = memoryview(data)
        for i in range(0, len(data), 1 << 26):
            out.write(mv[i:i + (1 << 26)])
        written += len(data)
    if out is not sys.stdout.buffer:
        out.close()
    else:
        out.flush()
    if a.stats:
        import json
        json.dump({"output": a.output, "bytes": written, "frames": frames, "copies": copies,
                   "full_copies": full, "copy_bytes": n, "copy_frames": len(rec_off) - 1, "span_s": span,
                   "source_files": st["files"], "source_files_used": st["files_used"],
                   "source_frames_left_out": st["left_out"], "longest_file": st["span_file"][0],
                   "longest_file_s": st["span_file"][1] / 1e9, "seed": a.seed,
                   "seconds": round(time.time() - t_start, 2)}, sys.stderr)
        sys.stderr.write("\n")


if __name__ == "__main__":
    main()
