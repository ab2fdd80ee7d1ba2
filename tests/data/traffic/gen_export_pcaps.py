#!/usr/bin/env python3
"""Writes the NetFlow v5 / v9 / IPFIX sample captures of this folder, byte for byte and deterministically
(python3, standard library only): Ethernet / IPv4 / UDP frames from an exporter to a collector, as
`tcpdump -w` would keep them. Run it from anywhere; it rewrites the .pcap files next to it.

  netflow_v5.pcap      v5: a datagram of 3 records, one cut short (2 records announced, 1 sent), a DNS
                       packet and an ARP frame (neither is an export)
  netflow_v9.pcap      v9: data before its template, templates 256 (IPv4 with OUT_PKTS / OUT_BYTES) and
                       258 (IPv6), options template 257 and its data, data from a second exporter that
                       never sent templates
  ipfix.pcap           IPFIX: template 300 (IPv4, ms times, RFC 5103 reverse counters, a variable-length
                       field and an enterprise field), 302 (IPv6, s times), options template 301; then
                       302 withdrawn and its data sent anyway
  export_hostile.pcap  broken exports: a FlowSet longer than its datagram, a field of length 0, more
                       fields than the set holds, a port field of 4 bytes, a variable-length field
                       running past its set, a set of length 2, an IPFIX length beyond the datagram
                       (with a record without times), a template ID below 256, an IP fragment

The numbers each file must give are worked out in tests/unit/test_traffic_exports.c.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def ip4(a):
    return bytes(int(x) for x in a.split("."))


def ip6(a):
    import ipaddress
    return ipaddress.IPv6Address(a).packed


def udp_frame(src, dst, sport, dport, payload, frag=0):
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, frag, 64, 17, 0, ip4(src), ip4(dst))
    return bytes.fromhex("0050569c0001") + bytes.fromhex("0050569c0002") + b"\x08\x00" + ip + udp


def arp_frame():
    arp = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes(6), ip4("192.0.2.1"), bytes(6), ip4("192.0.2.10"))
    return b"\xff" * 6 + bytes.fromhex("0050569c0001") + b"\x08\x06" + arp


def pcap(frames):
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for ts, fr in frames:
        sec, usec = int(ts), int(round((ts - int(ts)) * 1e6))
        out += struct.pack("<IIII", sec, usec, len(fr), len(fr)) + fr
    return out


def write(name, frames):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(pcap(frames))


# ---- NetFlow v5 ----

def v5_record(src, dst, pkts, octets, first, last, sport, dport, flags, proto):
    return struct.pack(">4s4s4sHHIIIIHHBBBBHHBBH", ip4(src), ip4(dst), bytes(4), 1, 2, pkts, octets, first, last,
                       sport, dport, 0, flags, proto, 0, 0, 0, 24, 24, 0)


def v5(count, uptime, secs, nsecs, records):
    return struct.pack(">HHIIIIBBH", 5, count, uptime, secs, nsecs, 1, 0, 0, 0) + b"".join(records)


def gen_v5():
    ex, col = "192.0.2.10", "192.0.2.1"
    d1 = v5(3, 360000, 1700000000, 500000000, [
        v5_record("10.1.1.1", "10.2.2.2", 10, 1500, 300000, 350000, 40000, 443, 0x1B, 6),
        v5_record("10.1.1.1", "8.8.8.8", 1, 76, 359000, 359000, 53000, 53, 0, 17),
        v5_record("10.1.1.1", "10.2.2.2", 4, 336, 355000, 358000, 0, 0x0800, 0, 1),  # ICMP echo: type in dport
    ])
    d2 = v5(2, 5000, 1700000100, 0, [v5_record("10.3.3.3", "10.4.4.4", 3, 180, 1000, 2000, 1234, 22, 0x02, 6)])
    dns = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00\x00\x01\x00\x01"
    write("netflow_v5.pcap", [
        (1700000000.5, udp_frame(ex, col, 50000, 2055, d1)),
        (1700000001.0, arp_frame()),
        (1700000002.0, udp_frame(col, "192.0.2.53", 40001, 53, dns)),
        (1700000100.0, udp_frame(ex, col, 50000, 2055, d2)),
    ])


# ---- NetFlow v9 ----

def flowset(fid, body, align=True):
    pad = (-(4 + len(body)) % 4) if align else 0
    return struct.pack(">HH", fid, 4 + len(body) + pad) + body + bytes(pad)


def v9(uptime, secs, seq, source, sets):
    return struct.pack(">HHIIII", 9, len(sets), uptime, secs, seq, source) + b"".join(sets)


def tmpl(tid, fields):
    return struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", t, l) for t, l in fields)


T256 = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (6, 1), (2, 4), (1, 4), (22, 4), (21, 4), (24, 4), (23, 4), (10, 2)]
T258 = [(27, 16), (28, 16), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8), (22, 4), (21, 4)]


def r256(src, dst, sp, dp, proto, flags, pkts, octets, first, last, opkts, obytes, ifin):
    return struct.pack(">4s4sHHBBIIIIIIH", ip4(src), ip4(dst), sp, dp, proto, flags, pkts, octets, first, last,
                       opkts, obytes, ifin)


def gen_v9():
    ex, ex2, col = "192.0.2.20", "192.0.2.21", "192.0.2.1"
    early = r256("172.16.0.5", "172.16.0.9", 51000, 80, 6, 0x02, 1, 60, 99000, 99000, 0, 0, 3)
    a = v9(100000, 1700001000, 0, 7, [flowset(256, early)])
    templates = flowset(0, tmpl(256, T256) + tmpl(258, T258))
    # options template 257: scope System (1) of 4 bytes; samplingInterval (34) 4, samplingAlgorithm (35) 1
    opt = flowset(1, struct.pack(">HHH", 257, 4, 8) + struct.pack(">HHHHHH", 1, 4, 34, 4, 35, 1))
    data = flowset(256, r256("172.16.0.5", "172.16.0.9", 51000, 80, 6, 0x1A, 8, 1200, 110000, 118000, 6, 4800, 3) +
                   r256("172.16.0.5", "172.16.0.53", 5353, 53, 17, 0, 1, 60, 119500, 119500, 0, 0, 3))
    v6 = flowset(258, struct.pack(">16s16sHHBQQII", ip6("2001:db8::5"), ip6("2001:db8::80"), 55000, 443, 6, 5, 700,
                                  115000, 119000))
    optdata = flowset(257, struct.pack(">IIB", 0, 100, 2))
    b = v9(120000, 1700001020, 1, 7, [templates, opt, data, v6, optdata])
    c = v9(50000, 1700001030, 0, 7, [flowset(256, early)])
    write("netflow_v9.pcap", [
        (1700001000.0, udp_frame(ex, col, 50001, 2055, a)),
        (1700001020.0, udp_frame(ex, col, 50001, 2055, b)),
        (1700001030.0, udp_frame(ex2, col, 50001, 2055, c)),
    ])


# ---- IPFIX ----

PEN_REV = 29305


def ipfix(export_time, seq, domain, sets, length=None):
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, length if length is not None else 16 + len(body), export_time, seq, domain) + body


def ie(eid, length, pen=None):
    if pen is None:
        return struct.pack(">HH", eid, length)
    return struct.pack(">HHI", 0x8000 | eid, length, pen)


def itmpl(tid, fields):
    return struct.pack(">HH", tid, len(fields)) + b"".join(fields)


def varlen(b):
    return (bytes([len(b)]) if len(b) < 255 else b"\xff" + struct.pack(">H", len(b))) + b


T300 = [ie(8, 4), ie(12, 4), ie(7, 2), ie(11, 2), ie(4, 1), ie(6, 2), ie(1, 4), ie(2, 8), ie(152, 8), ie(153, 8),
        ie(1, 8, PEN_REV), ie(2, 4, PEN_REV), ie(6, 2, PEN_REV), ie(82, 65535), ie(100, 4, 9)]
T302 = [ie(27, 16), ie(28, 16), ie(4, 1), ie(2, 4), ie(1, 4), ie(150, 4), ie(151, 4)]


def r300(src, dst, sp, dp, proto, flags, octets, pkts, start_ms, end_ms, roct, rpkts, rflags, ifname):
    return (struct.pack(">4s4sHHBHIQQQQIH", ip4(src), ip4(dst), sp, dp, proto, flags, octets, pkts, start_ms, end_ms,
                        roct, rpkts, rflags) + varlen(ifname) + b"\x00\x00\x00\x2a")


def gen_ipfix():
    ex, col = "192.0.2.30", "192.0.2.1"
    templates = flowset(2, itmpl(300, T300) + itmpl(302, T302), align=False)
    # options template 301: scope observationDomainId (149); exportedMessageTotalCount (41)
    opt = flowset(3, struct.pack(">HHH", 301, 2, 1) + ie(149, 4) + ie(41, 8), align=False)
    data = flowset(300, r300("198.51.100.1", "203.0.113.7", 60000, 443, 6, 0x0012, 5000, 20, 1700001990250,
                                  1700001995750, 64000, 50, 0x0011, b"eth0") +
                   r300("198.51.100.1", "203.0.113.8", 123, 123, 17, 0, 76, 1, 1700001999000, 1700001999000, 76, 1,
                        0, b"x" * 300), align=False)
    v6 = flowset(302, struct.pack(">16s16sBIIII", ip6("2001:db8:1::1"), ip6("2001:db8:2::2"), 17, 2, 200,
                                  1700001980, 1700001985), align=False)
    optdata = flowset(301, struct.pack(">IQ", 1, 12), align=False)
    m1 = ipfix(1700002000, 0, 1, [templates, opt, data, v6, optdata])
    withdraw = flowset(2, struct.pack(">HH", 302, 0), align=False)
    m2 = ipfix(1700002060, 3, 1, [withdraw, v6])
    write("ipfix.pcap", [
        (1700002000.0, udp_frame(ex, col, 50002, 4739, m1)),
        (1700002060.0, udp_frame(ex, col, 50002, 4739, m2)),
    ])


# ---- broken exports ----

def gen_hostile():
    ex, col = "192.0.2.40", "192.0.2.1"
    frames = []
    # 1: a FlowSet that says 200 bytes, of which the datagram holds 30
    frames.append(v9(10000, 1700003000, 0, 1, [struct.pack(">HH", 0, 200) + tmpl(259, [(8, 4), (12, 4)]) + bytes(14)]))
    # 2: a field of length 0
    frames.append(v9(10000, 1700003000, 1, 1, [flowset(0, tmpl(260, [(8, 4), (12, 0)]))]))
    # 3: 50 fields announced in a 20-byte set
    frames.append(v9(10000, 1700003000, 2, 1, [flowset(0, struct.pack(">HH", 261, 50) +
                                                       b"".join(struct.pack(">HH", 8, 4) for _ in range(3)))]))
    # 4: a source port of 4 bytes (the field is ignored); the record still makes a flow
    t262 = [(8, 4), (12, 4), (7, 4), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4)]
    rec = struct.pack(">4s4sIHBIIII", ip4("10.9.9.1"), ip4("10.9.9.2"), 8080, 8080, 6, 2, 120, 9000, 9500)
    frames.append(v9(10000, 1700003000, 3, 1, [flowset(0, tmpl(262, t262)), flowset(262, rec)]))
    # 5: IPFIX: a variable-length field whose length runs past its set
    t310 = itmpl(310, [ie(8, 4), ie(12, 4), ie(82, 65535)])
    bad = struct.pack(">4s4s", ip4("10.9.9.1"), ip4("10.9.9.2")) + b"\x40" + b"abc"
    frames.append(ipfix(1700003000, 0, 1, [flowset(2, t310, align=False), flowset(310, bad, align=False)]))
    # 6: a good template set, then a set of length 2 (the rest of the datagram cannot be walked)
    frames.append(v9(10000, 1700003000, 4, 1, [flowset(0, tmpl(263, [(8, 4), (12, 4)])),
                                               struct.pack(">HH", 262, 2) + bytes(8)]))
    # 7: an IPFIX header that says 200 bytes; 29 were sent. The whole set in them is read: one record of
    #    template 310 (from frame 5) with an empty variable-length field and no times (export time used)
    frames.append(ipfix(1700003000, 1, 1, [flowset(310, struct.pack(">4s4s", ip4("10.9.9.1"), ip4("10.9.9.2")) +
                                                   b"\x00", align=False)], length=200))
    # 8: a template ID below 256
    frames.append(v9(10000, 1700003000, 5, 1, [flowset(0, tmpl(100, [(8, 4), (12, 4)]))]))
    out = [(1700003000.0 + i, udp_frame(ex, col, 50003, 2055, f)) for i, f in enumerate(frames)]
    # 9: the first fragment of a datagram (more fragments follow): not reassembled
    out.append((1700003010.0, udp_frame(ex, col, 50003, 2055, v9(10000, 1700003000, 6, 1, []), frag=0x2000)))
    write("export_hostile.pcap", out)


if __name__ == "__main__":
    gen_v5()
    gen_v9()
    gen_ipfix()
    gen_hostile()
