/* traffic/pcap_reader.c — captures → packets → flows. Every header read is bounds-checked against the
 * captured length: a short frame is reported, never read past. */
#include "traffic/pcap_reader.h"

#include "traffic/input.h"

#include <errno.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <time.h>

#include "traffic/dlt.h"

static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

#define FAIL(res, msg)          \
    do {                        \
        if (why) *why = (msg);  \
        return (res);           \
    } while (0)

/* Ports (and TCP flags) from the transport header at l4 (n bytes captured). */
static weft_frame_result parse_l4(const uint8_t *l4, uint32_t n, weft_pkt *p, const char **why)
{
    p->sport = p->dport = 0;
    p->tcp_flags = 0;
    p->tcp_seq = 0;
    switch (p->proto) {
    case 6:
        if (n < 14) FAIL(WEFT_FRAME_MALFORMED, "TCP header cut short");
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        p->tcp_flags = l4[13];
        p->tcp_seq = rd32(l4 + 4);
        break;
    case 17:
    case 132: /* SCTP: ports in the same place */
    case 136: /* UDP-Lite */
        if (n < 4) FAIL(WEFT_FRAME_MALFORMED, "UDP/SCTP header cut short");
        p->sport = rd16(l4);
        p->dport = rd16(l4 + 2);
        break;
    default:
        break; /* ICMP, ICMPv6 and others: flows without ports */
    }
    return WEFT_FRAME_OK;
}

/* Tunnels (weft_flow_opts.decap): the inner packet is the one reported, the outermost tunnel is kept.
 * A tunnel is opened only when its header checks out (version, flags, message type); otherwise the
 * packet stays the outer flow it looks like. Nesting stops after MAX_TUNNEL_DEPTH tunnels. */
#define MAX_TUNNEL_DEPTH 4
enum { UDP_VXLAN = 4789, UDP_GENEVE = 6081, UDP_GTPU = 2152 };

static weft_frame_result parse_ip(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why);
static weft_frame_result parse_ipv4(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why);
static weft_frame_result parse_ipv6(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why);
static weft_frame_result parse_ethertype(uint16_t type, const uint8_t *d, uint32_t n, weft_pkt *p,
                                         const char **why);

static weft_frame_result parse_ethernet(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    if (n < 14) FAIL(WEFT_FRAME_MALFORMED, "Ethernet header cut short");
    uint16_t type = rd16(d + 12);
    if (type < 0x0600) FAIL(WEFT_FRAME_NOT_IP, "802.3 length frame (no IP)");
    return parse_ethertype(type, d + 14, n - 14, p, why);
}

/* Enters a tunnel of type `tun`: the first one keeps the outer addresses. */
static void enter_tunnel(weft_pkt *p, int tun)
{
    if (p->tunnel_depth++ == 0) {
        p->tunnel = (uint8_t)tun;
        p->outer_src = p->src;
        p->outer_dst = p->dst;
    }
}

/* PPP inside PPTP's enhanced GRE: address and control (ff 03) may be left out, the protocol may be
 * compressed to one byte (an odd first byte). */
static weft_frame_result parse_ppp(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    if (n >= 2 && d[0] == 0xff && d[1] == 0x03) d += 2, n -= 2;
    if (n < 1) FAIL(WEFT_FRAME_MALFORMED, "PPP header cut short");
    uint16_t proto = d[0];
    uint32_t hl = 1;
    if (!(d[0] & 1)) {
        if (n < 2) FAIL(WEFT_FRAME_MALFORMED, "PPP header cut short");
        proto = rd16(d), hl = 2;
    }
    if (proto == 0x0021) return parse_ipv4(d + hl, n - hl, p, why);
    if (proto == 0x0057) return parse_ipv6(d + hl, n - hl, p, why);
    FAIL(WEFT_FRAME_NOT_IP, "PPP frame without IP");
}

/* GRE (RFC 2784 / 2890) carrying IP, Ethernet or ERSPAN I / II / III; version 1 (PPTP, RFC 2637)
 * carrying PPP. */
static weft_frame_result parse_gre(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why, bool *opened)
{
    if (n < 4) return WEFT_FRAME_OK;
    uint16_t flags = rd16(d), type = rd16(d + 2);
    if ((flags & 7) == 1 && type == 0x880b && (flags & 0x2000)) {
        /* enhanced GRE: payload length and call ID (the K bit is set), sequence (S) and ack (A) numbers */
        uint32_t hl = 8 + (flags & 0x1000 ? 4 : 0) + (flags & 0x0080 ? 4 : 0);
        if (n < hl) FAIL(WEFT_FRAME_MALFORMED, "PPTP GRE header cut short");
        if (rd16(d + 4) == 0 || n == hl) return WEFT_FRAME_OK; /* an acknowledgement only: stays the GRE flow */
        *opened = true;
        enter_tunnel(p, WEFT_TUNNEL_GRE);
        return parse_ppp(d + hl, n - hl, p, why);
    }
    if ((flags & 7) != 0 || (flags & 0x4000)) return WEFT_FRAME_OK; /* version, or the reserved R bit */
    uint32_t hl = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) + (flags & 0x1000 ? 4 : 0);
    if (n < hl) FAIL(WEFT_FRAME_MALFORMED, "GRE header cut short");
    d += hl, n -= hl;
    *opened = true;
    switch (type) {
    case 0x6558: /* transparent Ethernet bridging */
        enter_tunnel(p, WEFT_TUNNEL_GRE);
        return parse_ethernet(d, n, p, why);
    case 0x88be: /* ERSPAN type II (8-byte header when sequenced), type I without it */
        enter_tunnel(p, WEFT_TUNNEL_ERSPAN);
        if (flags & 0x1000) {
            if (n < 8) FAIL(WEFT_FRAME_MALFORMED, "ERSPAN II header cut short");
            d += 8, n -= 8;
        }
        return parse_ethernet(d, n, p, why);
    case 0x22eb: /* ERSPAN type III: 12 bytes, 8 more when the O flag says a platform subheader follows */
        enter_tunnel(p, WEFT_TUNNEL_ERSPAN);
        if (n < 12) FAIL(WEFT_FRAME_MALFORMED, "ERSPAN III header cut short");
        {
            uint32_t eh = 12 + (d[11] & 1 ? 8 : 0);
            if (n < eh) FAIL(WEFT_FRAME_MALFORMED, "ERSPAN III platform subheader cut short");
            d += eh, n -= eh;
        }
        return parse_ethernet(d, n, p, why);
    default: /* IPv4, IPv6, MPLS, ... by their Ethernet type */
        enter_tunnel(p, WEFT_TUNNEL_GRE);
        return parse_ethertype(type, d, n, p, why);
    }
}

/* UDP tunnels by their well-known destination port (GTP-U by either port: both ends use 2152). */
static weft_frame_result parse_udp_tunnel(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why, bool *opened)
{
    if (n < 8) return WEFT_FRAME_OK;
    uint16_t sport = rd16(d), dport = rd16(d + 2);
    const uint8_t *u = d + 8;
    uint32_t un = n - 8;
    if (dport == UDP_VXLAN) {
        if (un < 8 || !(u[0] & 0x08)) return WEFT_FRAME_OK; /* the I flag: a valid network identifier */
        *opened = true;
        enter_tunnel(p, WEFT_TUNNEL_VXLAN);
        return parse_ethernet(u + 8, un - 8, p, why);
    }
    if (dport == UDP_GENEVE) {
        if (un < 8 || (u[0] >> 6) != 0) return WEFT_FRAME_OK; /* version 0 */
        uint32_t gl = 8 + (uint32_t)(u[0] & 0x3f) * 4;
        if (un < gl) FAIL(WEFT_FRAME_MALFORMED, "Geneve options cut short");
        *opened = true;
        enter_tunnel(p, WEFT_TUNNEL_GENEVE);
        uint16_t type = rd16(u + 2);
        if (type == 0x6558) return parse_ethernet(u + gl, un - gl, p, why);
        return parse_ethertype(type, u + gl, un - gl, p, why);
    }
    if (dport == UDP_GTPU || sport == UDP_GTPU) {
        /* version 1, protocol type GTP, message T-PDU (user data); echo and error indications stay UDP */
        if (un < 8 || (u[0] >> 5) != 1 || !(u[0] & 0x10) || u[1] != 0xff) return WEFT_FRAME_OK;
        uint32_t gl = 8;
        if (u[0] & 0x07) { /* sequence number, N-PDU number, next extension type */
            if (un < 12) FAIL(WEFT_FRAME_MALFORMED, "GTP-U optional fields cut short");
            gl = 12;
            uint8_t next = (u[0] & 0x04) ? u[11] : 0;
            while (next) { /* extension headers: length in 4-byte units, next type in the last byte */
                if (un < gl + 1 || u[gl] == 0) FAIL(WEFT_FRAME_MALFORMED, "GTP-U extension header cut short");
                uint32_t el = (uint32_t)u[gl] * 4;
                if (un < gl + el) FAIL(WEFT_FRAME_MALFORMED, "GTP-U extension header cut short");
                next = u[gl + el - 1];
                gl += el;
            }
        }
        *opened = true;
        enter_tunnel(p, WEFT_TUNNEL_GTPU);
        if (un == gl) FAIL(WEFT_FRAME_NOT_IP, "GTP-U packet without payload");
        return parse_ip(u + gl, un - gl, p, why);
    }
    return WEFT_FRAME_OK;
}

/* The payload of an unfragmented IP packet whose protocol is p->proto: a tunnel's inner packet when it
 * is one (*opened set, the inner packet's result returned); a tunnel header that is cut short is
 * that packet's error; anything else returns WEFT_FRAME_OK with *opened false and changes nothing. */
static weft_frame_result decap(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why, bool *opened)
{
    *opened = false;
    if (!p->decap || p->frag || p->tunnel_depth >= MAX_TUNNEL_DEPTH) return WEFT_FRAME_OK;
    switch (p->proto) {
    case 4:
    case 41:
        if (n < 1 || (d[0] >> 4) != (p->proto == 4 ? 4 : 6)) return WEFT_FRAME_OK;
        *opened = true;
        enter_tunnel(p, p->proto == 4 ? WEFT_TUNNEL_IPIP : WEFT_TUNNEL_IP6IP);
        return parse_ip(d, n, p, why);
    case 47: return parse_gre(d, n, p, why, opened);
    case 17: return parse_udp_tunnel(d, n, p, why, opened);
    default: return WEFT_FRAME_OK;
    }
}

/* Whether an IP packet of `len` bytes, of which `n` were captured, is longer than the frame was on the
 * wire: its length field is wrong (a damaged or forged packet), not cut by the capture's snap length.
 * Unknown without the wire length: such a packet is then kept. */
static bool beyond_wire(const weft_pkt *p, uint32_t len, uint32_t n)
{
    return p->uncaptured != UINT32_MAX && len > n && len - n > p->uncaptured;
}

static weft_frame_result parse_ipv4(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    if (n < 20) FAIL(WEFT_FRAME_MALFORMED, "IPv4 header cut short");
    if ((d[0] >> 4) != 4) FAIL(WEFT_FRAME_MALFORMED, "IP version is not 4");
    uint32_t ihl = (uint32_t)(d[0] & 0x0f) * 4;
    uint32_t total = rd16(d + 2);
    if (ihl < 20) FAIL(WEFT_FRAME_MALFORMED, "IPv4 header length below 20");
    if (n < ihl) FAIL(WEFT_FRAME_MALFORMED, "IPv4 options cut short");
    /* Total length 0 comes from captures taken before TCP segmentation offload split the packet:
     * the captured bytes are the packet. */
    if (total == 0) total = n;
    if (total < ihl) FAIL(WEFT_FRAME_MALFORMED, "IPv4 total length below header length");
    if (beyond_wire(p, total, n)) FAIL(WEFT_FRAME_MALFORMED, "IPv4 total length beyond the frame");
    p->ip_version = 4;
    p->ip_len = total;
    p->proto = d[9];
    weft_ip_from_v4(&p->src, rd32(d + 12));
    weft_ip_from_v4(&p->dst, rd32(d + 16));
    uint16_t frag = rd16(d + 6);
    p->frag_id = rd16(d + 4);
    if (frag & 0x1fff) {
        p->frag = 2;
        FAIL(WEFT_FRAME_FRAGMENT, "IPv4 fragment after the first (no transport header)");
    }
    if (frag & 0x2000) p->frag = 1;
    /* Transport header: within what was captured and within the IP length (padding is not data). */
    uint32_t avail = n < total ? n : total;
    bool opened;
    weft_frame_result r = decap(d + ihl, avail - ihl, p, why, &opened);
    return opened || r != WEFT_FRAME_OK ? r : parse_l4(d + ihl, avail - ihl, p, why);
}

static weft_frame_result parse_ipv6(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    if (n < 40) FAIL(WEFT_FRAME_MALFORMED, "IPv6 header cut short");
    if ((d[0] >> 4) != 6) FAIL(WEFT_FRAME_MALFORMED, "IP version is not 6");
    uint32_t payload = rd16(d + 4);
    p->ip_version = 6;
    p->ip_len = 40 + payload; /* jumbograms (payload 0 + hop-by-hop option) are counted as captured */
    if (payload == 0 && n > 40) p->ip_len = n;
    if (beyond_wire(p, p->ip_len, n)) FAIL(WEFT_FRAME_MALFORMED, "IPv6 payload length beyond the frame");
    memcpy(p->src.b, d + 8, 16);
    memcpy(p->dst.b, d + 24, 16);
    uint8_t nh = d[6];
    uint32_t off = 40;
    uint32_t end = n < p->ip_len ? n : p->ip_len;
    /* Walk the extension headers; at most a few dozen in any sane packet, but the offset always grows,
     * so the loop ends within the captured bytes. */
    for (;;) {
        switch (nh) {
        case 0:   /* hop-by-hop */
        case 43:  /* routing */
        case 60:  /* destination options */
        case 135: /* mobility */
        case 139: /* HIP */
        case 140: /* shim6 */
            if (end < off + 8) FAIL(WEFT_FRAME_MALFORMED, "IPv6 extension header cut short");
            nh = d[off];
            off += ((uint32_t)d[off + 1] + 1) * 8;
            continue;
        case 51: /* AH: length in 4-byte units, minus 2 */
            if (end < off + 8) FAIL(WEFT_FRAME_MALFORMED, "IPv6 AH header cut short");
            nh = d[off];
            off += ((uint32_t)d[off + 1] + 2) * 4;
            continue;
        case 44: /* fragment */
            if (end < off + 8) FAIL(WEFT_FRAME_MALFORMED, "IPv6 fragment header cut short");
            p->frag_id = rd32(d + off + 4);
            if (rd16(d + off + 2) & 0xfff8) {
                p->proto = d[off];
                p->frag = 2;
                FAIL(WEFT_FRAME_FRAGMENT, "IPv6 fragment after the first (no transport header)");
            }
            if (rd16(d + off + 2) & 1) p->frag = 1;
            nh = d[off];
            off += 8;
            continue;
        default:
            break;
        }
        break;
    }
    p->proto = nh;
    if (off > end) FAIL(WEFT_FRAME_MALFORMED, "IPv6 extension headers run past the packet");
    bool opened;
    weft_frame_result r = decap(d + off, end - off, p, why, &opened);
    return opened || r != WEFT_FRAME_OK ? r : parse_l4(d + off, end - off, p, why);
}

/* An IP packet whose version is given by its first nibble. */
static weft_frame_result parse_ip(const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    if (n < 1) FAIL(WEFT_FRAME_MALFORMED, "empty IP packet");
    switch (d[0] >> 4) {
    case 4: return parse_ipv4(d, n, p, why);
    case 6: return parse_ipv6(d, n, p, why);
    default: FAIL(WEFT_FRAME_MALFORMED, "IP version is neither 4 nor 6");
    }
}

/* An Ethernet-style payload type; VLAN tags, PPPoE and MPLS are unwrapped. */
static weft_frame_result parse_ethertype(uint16_t type, const uint8_t *d, uint32_t n, weft_pkt *p,
                                         const char **why)
{
    for (;;) {
        switch (type) {
        case 0x0800: return parse_ipv4(d, n, p, why);
        case 0x86dd: return parse_ipv6(d, n, p, why);
        case 0x8100: /* 802.1Q */
        case 0x88a8: /* 802.1ad */
        case 0x9100: /* old QinQ */
            if (n < 4) FAIL(WEFT_FRAME_MALFORMED, "VLAN tag cut short");
            if (!p->vlan) p->vlan = rd16(d) & 0x0fff; /* the first tag that names a VLAN */
            type = rd16(d + 2);
            d += 4, n -= 4;
            continue;
        case 0x8864: /* PPPoE session: 6-byte header, then the PPP protocol */
            if (n < 8) FAIL(WEFT_FRAME_MALFORMED, "PPPoE header cut short");
            {
                uint16_t ppp = rd16(d + 6);
                d += 8, n -= 8;
                if (ppp == 0x0021) return parse_ipv4(d, n, p, why);
                if (ppp == 0x0057) return parse_ipv6(d, n, p, why);
                FAIL(WEFT_FRAME_NOT_IP, "PPPoE frame without IP");
            }
        case 0x8847: /* MPLS unicast: labels until bottom of stack, then IP */
        case 0x8848:
            for (;;) {
                if (n < 4) FAIL(WEFT_FRAME_MALFORMED, "MPLS label cut short");
                int bottom = d[2] & 1;
                d += 4, n -= 4;
                if (bottom) break;
            }
            return parse_ip(d, n, p, why);
        default:
            FAIL(WEFT_FRAME_NOT_IP, "frame carries no IP packet");
        }
    }
}

static weft_frame_result parse_link(int dlt, const uint8_t *d, uint32_t n, weft_pkt *p, const char **why);

weft_frame_result weft_parse_frame(int dlt, const uint8_t *d, uint32_t n, bool decap_tunnels, weft_pkt *p,
                                   const char **why)
{
    memset(p, 0, sizeof *p);
    p->decap = decap_tunnels;
    p->uncaptured = UINT32_MAX;
    return parse_link(dlt, d, n, p, why);
}

weft_frame_result weft_parse_frame_wire(int dlt, const uint8_t *d, uint32_t caplen, uint32_t wirelen,
                                        bool decap_tunnels, weft_pkt *p, const char **why)
{
    memset(p, 0, sizeof *p);
    p->decap = decap_tunnels;
    p->uncaptured = wirelen > caplen ? wirelen - caplen : 0;
    return parse_link(dlt, d, caplen, p, why);
}

static weft_frame_result parse_link(int dlt, const uint8_t *d, uint32_t n, weft_pkt *p, const char **why)
{
    switch (dlt) {
    case DLT_EN10MB:
        return parse_ethernet(d, n, p, why);
    case DLT_LINUX_SLL:
        if (n < 16) FAIL(WEFT_FRAME_MALFORMED, "Linux cooked (SLL) header cut short");
        return parse_ethertype(rd16(d + 14), d + 16, n - 16, p, why);
    case DLT_LINUX_SLL2:
        if (n < 20) FAIL(WEFT_FRAME_MALFORMED, "Linux cooked (SLL2) header cut short");
        return parse_ethertype(rd16(d), d + 20, n - 20, p, why);
    case 12: /* DLT_RAW on most systems (libpcap maps LINKTYPE_RAW 101 to it) */
    case 14: /* DLT_RAW on OpenBSD */
    case 101: /* LINKTYPE_RAW if a library leaves it unmapped */
        return parse_ip(d, n, p, why);
    case DLT_IPV4:
        return parse_ipv4(d, n, p, why);
    case DLT_IPV6:
        return parse_ipv6(d, n, p, why);
    case DLT_PPP:
    case DLT_PPP_SERIAL:
    case DLT_C_HDLC:
        /* PPP (address 0xff, control 0x03, 2-byte protocol; the first two may be left out) or Cisco
         * HDLC (address 0x0f / 0x8f, control 0, then an Ethernet type), which captures also label PPP. */
        if (n < 4) FAIL(WEFT_FRAME_MALFORMED, "PPP / HDLC header cut short");
        if (d[0] == 0x0f || d[0] == 0x8f) return parse_ethertype(rd16(d + 2), d + 4, n - 4, p, why);
        {
            uint32_t off = (d[0] == 0xff && d[1] == 0x03) ? 2 : 0;
            uint16_t proto = rd16(d + off);
            if (proto == 0x0021) return parse_ipv4(d + off + 2, n - off - 2, p, why);
            if (proto == 0x0057) return parse_ipv6(d + off + 2, n - off - 2, p, why);
            FAIL(WEFT_FRAME_NOT_IP, "PPP frame without IP");
        }
    case DLT_PPI: {
        /* Per-Packet Information header: version, flags, length (LE), inner link type (LE 32). */
        if (n < 8) FAIL(WEFT_FRAME_MALFORMED, "PPI header cut short");
        uint32_t hl = (uint32_t)d[2] | (uint32_t)d[3] << 8;
        int inner = (int)((uint32_t)d[4] | (uint32_t)d[5] << 8 | (uint32_t)d[6] << 16 | (uint32_t)d[7] << 24);
        if (hl < 8 || hl > n) FAIL(WEFT_FRAME_MALFORMED, "PPI header length out of range");
        if (inner == DLT_PPI) FAIL(WEFT_FRAME_MALFORMED, "PPI inside PPI");
        return parse_link(inner, d + hl, n - hl, p, why);
    }
    case DLT_NULL:
    case 108: /* DLT_LOOP: the 4-byte family field (host or network order) then IP */
        if (n < 4) FAIL(WEFT_FRAME_MALFORMED, "loopback header cut short");
        return parse_ip(d + 4, n - 4, p, why);
    default:
        FAIL(WEFT_FRAME_UNKNOWN_LINK, "link type not supported");
    }
}

int weft_pcap_is_capture(const char *path)
{
    uint8_t m[4];
    char err[256];
    if (weft_input_peek(path, m, 4, err, sizeof err) != 4) return 0;
    uint32_t be = rd32(m);
    return be == 0xa1b2c3d4 || be == 0xd4c3b2a1 || be == 0xa1b23c4d || be == 0x4d3cb2a1 || be == 0x0a0d0d0a;
}

/* First fragments leave their ports here so the later fragments of the same datagram (same addresses,
 * protocol and identification) join the same flow. Direct-mapped: a collision forgets the older
 * datagram, whose later fragments are then counted as fragments without transport header. */
#define FRAG_SLOTS 1024

typedef struct frag_slot {
    weft_ip src, dst;
    uint32_t id;
    uint8_t proto, used;
    uint16_t sport, dport;
} frag_slot;

static size_t frag_index(const weft_pkt *p)
{
    uint32_t h = p->frag_id * 2654435761u;
    h ^= (uint32_t)p->src.b[15] << 8 ^ p->dst.b[15] ^ (uint32_t)p->proto << 16;
    return (h ^ (h >> 15)) & (FRAG_SLOTS - 1);
}

static bool frag_match(const frag_slot *s, const weft_pkt *p)
{
    return s->used && s->id == p->frag_id && s->proto == p->proto && memcmp(s->src.b, p->src.b, 16) == 0 &&
           memcmp(s->dst.b, p->dst.b, 16) == 0;
}

/* What reading one capture needs between packets: shared by files and live interfaces. */
typedef struct reader {
    const char *name;       /* for the report: a path or "interface IF" */
    int dlt;
    bool decap;
    weft_flow_builder *b;
    weft_read_report *r;
    frag_slot *frags;
    double tmax;
    uint64_t pkt_no;
    int rc;                 /* 0, -1 out of memory, or the sink's value */
    bool nano;              /* live capture: timestamps in nanoseconds (files: always) */
    char *err;
    size_t errn;
} reader;

/* One captured frame → the flow builder. Returns non-zero to stop (rd->rc says why). */
static int handle_frame(reader *rd, const struct pcap_pkthdr *h, const u_char *data, bool nano)
{
    weft_read_report *r = rd->r;
    rd->pkt_no++;
    r->records++;
    weft_pkt p;
    const char *why = NULL;
    weft_frame_result fr = weft_parse_frame_wire(rd->dlt, data, h->caplen, h->len, rd->decap, &p, &why);
    if (fr == WEFT_FRAME_OK && p.frag == 1) {
        frag_slot *s = &rd->frags[frag_index(&p)];
        s->src = p.src, s->dst = p.dst, s->id = p.frag_id, s->proto = p.proto;
        s->sport = p.sport, s->dport = p.dport, s->used = 1;
    } else if (fr == WEFT_FRAME_FRAGMENT) {
        const frag_slot *s = &rd->frags[frag_index(&p)];
        if (frag_match(s, &p)) {
            p.sport = s->sport, p.dport = s->dport;
            fr = WEFT_FRAME_OK;
        }
    }
    if (fr == WEFT_FRAME_NOT_IP) {
        weft_report_not_ip(r);
        return 0;
    }
    if (fr != WEFT_FRAME_OK) {
        const char *reason = fr == WEFT_FRAME_UNKNOWN_LINK ? "unknown link type"
                             : fr == WEFT_FRAME_FRAGMENT   ? "IP fragment without transport header"
                                                           : "malformed packet";
        if (fr == WEFT_FRAME_UNKNOWN_LINK)
            weft_report_skip(r, reason, rd->name, "packet", rd->pkt_no, "link type %d (%s)", rd->dlt,
                             pcap_datalink_val_to_name(rd->dlt) ? pcap_datalink_val_to_name(rd->dlt) : "?");
        else
            weft_report_skip(r, reason, rd->name, "packet", rd->pkt_no, "%s", why ? why : "");
        return 0;
    }
    double ts = (double)h->ts.tv_sec + (double)h->ts.tv_usec * (nano ? 1e-9 : 1e-6);
    if (ts < rd->tmax)
        weft_report_warn(r, "timestamp runs backwards (kept in its flow's order)", rd->name, "packet", rd->pkt_no,
                         "%.9f is %.9f s before an earlier packet", ts, rd->tmax - ts);
    else
        rd->tmax = ts;
    p.ts = ts;
    int rc = weft_flow_builder_add(rd->b, &p);
    if (rc != 0) {
        if (rc == -1) snprintf(rd->err, rd->errn, "%s: out of memory at packet %llu", rd->name,
                               (unsigned long long)rd->pkt_no);
        rd->rc = rc;
        return 1;
    }
    return 0;
}

static int reader_init(reader *rd, const char *name, int dlt, const weft_flow_opts *opts, weft_flow_sink sink,
                       void *user, weft_read_report *r, char *err, size_t errn)
{
    memset(rd, 0, sizeof *rd);
    rd->name = name;
    rd->dlt = dlt;
    rd->decap = opts ? opts->decap : true;
    rd->r = r;
    rd->err = err;
    rd->errn = errn;
    rd->tmax = -INFINITY;
    rd->b = weft_flow_builder_new(opts, sink, user);
    rd->frags = calloc(FRAG_SLOTS, sizeof *rd->frags);
    if (!rd->b || !rd->frags) {
        weft_flow_builder_free(rd->b);
        free(rd->frags);
        snprintf(err, errn, "%s: out of memory", name);
        return -1;
    }
    return 0;
}

/* Writes the flows still held and frees the reader; returns its status. */
static int reader_end(reader *rd)
{
    if (rd->rc == 0) rd->rc = weft_flow_builder_finish(rd->b);
    weft_flow_builder_free(rd->b);
    free(rd->frags);
    return rd->rc;
}

int weft_pcap_read(const char *path, const weft_flow_opts *opts, weft_flow_sink sink, void *user,
                   weft_read_report *r, char *err, size_t errn)
{
    const char *name = strcmp(path, "-") == 0 ? "standard input" : path;
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    FILE *in = weft_input_open(path, NULL, err, errn);
    if (!in) {
        weft_report_skip(r, "unreadable capture file", name, NULL, 0, "%s", err);
        return -1;
    }
    /* libpcap owns the stream from here and closes it with the handle */
    pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_NANO, ebuf);
    if (!pc) {
        fclose(in);
        snprintf(err, errn, "%s: cannot read capture: %s", name, ebuf);
        weft_report_skip(r, "unreadable capture file", name, NULL, 0, "%s", ebuf);
        return -1;
    }
    r->files++;
    reader rd;
    if (reader_init(&rd, name, pcap_datalink(pc), opts, sink, user, r, err, errn) != 0) {
        pcap_close(pc);
        return -1;
    }
    /* libpcap delivers pcapng files whose interfaces differ in link type only when they agree; a
     * per-packet link type is not exposed, so the file's link type serves all packets. */
    for (;;) {
        struct pcap_pkthdr *h;
        const u_char *data;
        int res = pcap_next_ex(pc, &h, &data);
        if (res == PCAP_ERROR_BREAK) break; /* end of file */
        if (res == PCAP_ERROR) {
            weft_report_warn(r, "capture cut short or damaged (packets before it kept)", name, "packet",
                             rd.pkt_no + 1, "%s", pcap_geterr(pc));
            break;
        }
        if (res != 1) continue;
        if (handle_frame(&rd, h, data, true)) break;
    }
    pcap_close(pc);
    return reader_end(&rd);
}

int weft_pcap_read_file(const char *path, const weft_flow_opts *opts, weft_flow_table *t,
                        weft_read_report *r, char *err, size_t errn)
{
    return weft_pcap_read(path, opts, weft_flow_table_sink, t, r, err, errn);
}

/* ---------- live capture ---------- */

static void live_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    reader *rd = (reader *)user;
    if (rd->rc) return;
    handle_frame(rd, h, data, rd->nano);
}

static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int weft_pcap_live(const char *iface, const weft_live_opts *lo, const weft_flow_opts *opts, weft_flow_sink sink,
                   void *user, weft_read_report *r, char *err, size_t errn)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    char name[300];
    snprintf(name, sizeof name, "interface %s", iface);
    pcap_t *pc = pcap_create(iface, ebuf);
    if (!pc) {
        snprintf(err, errn, "%s: cannot open: %s", name, ebuf);
        return -1;
    }
    pcap_set_snaplen(pc, lo->snaplen > 0 ? lo->snaplen : 262144);
    pcap_set_promisc(pc, lo->promisc ? 1 : 0);
    pcap_set_timeout(pc, 100);      /* wake up at least 10 times a second to end flows and report */
    pcap_set_immediate_mode(pc, 1); /* packets as they come, not when a kernel buffer fills */
    bool nano = pcap_set_tstamp_precision(pc, PCAP_TSTAMP_PRECISION_NANO) == 0;
    int act = pcap_activate(pc);
    if (act < 0) {
        const char *why = act == PCAP_ERROR_PERM_DENIED   ? " (capturing needs root or the CAP_NET_RAW capability)"
                          : act == PCAP_ERROR_NO_SUCH_DEVICE ? " (no such interface)"
                                                            : "";
        snprintf(err, errn, "%s: cannot capture: %s%s", name, pcap_geterr(pc), why);
        pcap_close(pc);
        return -1;
    }
    if (lo->filter && *lo->filter) {
        struct bpf_program prog;
        if (pcap_compile(pc, &prog, lo->filter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
            snprintf(err, errn, "--filter '%s': %s", lo->filter, pcap_geterr(pc));
            pcap_close(pc);
            return -1;
        }
        int fr = pcap_setfilter(pc, &prog);
        pcap_freecode(&prog);
        if (fr != 0) {
            snprintf(err, errn, "--filter '%s': %s", lo->filter, pcap_geterr(pc));
            pcap_close(pc);
            return -1;
        }
    }
    /* Waiting is done here, in poll() with a timeout, so the capture can end flows, report and stop on
     * time while no packet arrives (libpcap's own read timeout does not hold in immediate mode). */
    int fd = pcap_get_selectable_fd(pc);
    if (fd < 0 || pcap_setnonblock(pc, 1, ebuf) != 0) {
        snprintf(err, errn, "%s: cannot wait for packets: %s", name, fd < 0 ? "no selectable descriptor" : ebuf);
        pcap_close(pc);
        return -1;
    }
    r->files++;
    reader rd;
    if (reader_init(&rd, name, pcap_datalink(pc), opts, sink, user, r, err, errn) != 0) {
        pcap_close(pc);
        return -1;
    }
    rd.nano = nano;
    double t0 = mono_now(), next_tick = t0 + 1.0, last_tick = t0;
    uint64_t last_packets = 0;
    for (;;) {
        if (lo->stop && *lo->stop) break;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) < 0 && errno != EINTR) {
            snprintf(err, errn, "%s: waiting for packets failed: %s", name, strerror(errno));
            rd.rc = -1;
            break;
        }
        int cnt = lo->count ? (int)(lo->count - rd.pkt_no < 1000000 ? lo->count - rd.pkt_no : 1000000) : -1;
        int got = pcap_dispatch(pc, cnt, live_packet, (u_char *)&rd);
        if (rd.rc) break;
        if (got == PCAP_ERROR) {
            snprintf(err, errn, "%s: capture failed: %s", name, pcap_geterr(pc));
            rd.rc = -1;
            break;
        }
        if (got == PCAP_ERROR_BREAK) break;
        double now = mono_now();
        bool done = (lo->count && rd.pkt_no >= lo->count) || (lo->duration > 0 && now - t0 >= lo->duration);
        if (now >= next_tick || done) {
            /* time passes without packets too: flows idle since then end now */
            int rc = weft_flow_builder_expire(rd.b, wall_now());
            if (rc) {
                rd.rc = rc;
                break;
            }
            if (lo->progress) {
                weft_live_progress pr = {.seconds = now - t0, .packets = rd.pkt_no,
                                         .packets_per_second = now > last_tick ? (double)(rd.pkt_no - last_packets) / (now - last_tick) : 0,
                                         .flows_held = weft_flow_builder_keys(rd.b)};
                struct pcap_stat ps;
                if (pcap_stats(pc, &ps) == 0) pr.kernel_dropped = ps.ps_drop + ps.ps_ifdrop;
                lo->progress(&pr, lo->progress_user);
            }
            last_packets = rd.pkt_no;
            last_tick = now;
            next_tick = now + 1.0;
        }
        if (done) break;
    }
    pcap_close(pc);
    return reader_end(&rd);
}
