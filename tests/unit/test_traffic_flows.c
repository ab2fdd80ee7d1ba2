/* tests/unit/test_traffic_flows.c — captures written byte by byte, flow logs written inline, and every
 * file of the shared traffic data: readers, flow building, labels, bad input. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "traffic/flow_builder.h"
#include "traffic/flow_csv.h"
#include "traffic/labels.h"
#include "traffic/log_readers.h"
#include "traffic/pcap_reader.h"
#include "traffic/report.h"

#define EPS 1e-6

/* ---------- byte buffers ---------- */

typedef struct buf {
    uint8_t d[1 << 16];
    size_t n;
} buf;

static void put8(buf *b, unsigned v) { b->d[b->n++] = (uint8_t)v; }
static void put16be(buf *b, unsigned v) { put8(b, v >> 8); put8(b, v); }
static void put32be(buf *b, uint32_t v) { put16be(b, v >> 16); put16be(b, v & 0xffff); }
static void put16le(buf *b, unsigned v) { put8(b, v); put8(b, v >> 8); }
static void put32le(buf *b, uint32_t v) { put16le(b, v & 0xffff); put16le(b, v >> 16); }
static void putn(buf *b, const void *p, size_t n) { memcpy(b->d + b->n, p, n); b->n += n; }
static void zeros(buf *b, size_t n) { memset(b->d + b->n, 0, n); b->n += n; }

/* pcap (microsecond) global header, little-endian */
static void pcap_header(buf *f, uint32_t linktype)
{
    put32le(f, 0xa1b2c3d4);
    put16le(f, 2);
    put16le(f, 4);
    put32le(f, 0);
    put32le(f, 0);
    put32le(f, 65535);
    put32le(f, linktype);
}

static void pcap_record(buf *f, uint32_t sec, uint32_t usec, const buf *frame)
{
    put32le(f, sec);
    put32le(f, usec);
    put32le(f, (uint32_t)frame->n);
    put32le(f, (uint32_t)frame->n);
    putn(f, frame->d, frame->n);
}

static uint32_t v4(unsigned a, unsigned b, unsigned c, unsigned d)
{
    return (uint32_t)a << 24 | b << 16 | c << 8 | d;
}

static void eth(buf *b, unsigned ethertype)
{
    static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 6, 7, 8, 9, 10};
    putn(b, macs, 12);
    put16be(b, ethertype);
}

/* IPv4 header for a payload of l4len bytes (checksum left 0: readers do not check it). */
static void ipv4(buf *b, uint32_t src, uint32_t dst, unsigned proto, unsigned l4len, unsigned id, unsigned frag)
{
    put8(b, 0x45);
    put8(b, 0);
    put16be(b, 20 + l4len);
    put16be(b, id);
    put16be(b, frag);
    put8(b, 64);
    put8(b, proto);
    put16be(b, 0);
    put32be(b, src);
    put32be(b, dst);
}

/* The sequence number tcp() writes: a test sets another to open a new connection on a 5-tuple. */
static uint32_t tcp_seq = 1;

static void tcp(buf *b, unsigned sport, unsigned dport, unsigned flags, unsigned payload)
{
    put16be(b, sport);
    put16be(b, dport);
    put32be(b, tcp_seq);
    put32be(b, 0);
    put8(b, 0x50);
    put8(b, flags);
    put16be(b, 65535);
    put32be(b, 0);
    zeros(b, payload);
}

static void udp(buf *b, unsigned sport, unsigned dport, unsigned payload)
{
    put16be(b, sport);
    put16be(b, dport);
    put16be(b, 8 + payload);
    put16be(b, 0);
    zeros(b, payload);
}

/* Ethernet / IPv4 / TCP frame */
static void tcp4_frame(buf *fr, uint32_t s, uint32_t d, unsigned sp, unsigned dp, unsigned flags, unsigned payload)
{
    fr->n = 0;
    eth(fr, 0x0800);
    ipv4(fr, s, d, 6, 20 + payload, 1, 0);
    tcp(fr, sp, dp, flags, payload);
}

static char *write_temp(const buf *f, const char *suffix)
{
    char *path = NULL;
    if (asprintf(&path, "/tmp/weft_tf_XXXXXX%s", suffix) < 0) return NULL;
    int fd = mkstemps(path, (int)strlen(suffix));
    if (fd < 0) {
        free(path);
        return NULL;
    }
    ssize_t w = write(fd, f->d, f->n);
    close(fd);
    if (w != (ssize_t)f->n) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

static char *write_text(const char *text, const char *suffix)
{
    static buf b;
    b.n = 0;
    putn(&b, text, strlen(text));
    return write_temp(&b, suffix);
}

/* Reads a capture held in f; returns the read status, fills t and r. */
static int read_capture(const buf *f, const weft_flow_opts *o, weft_flow_table *t, weft_read_report *r)
{
    char *path = write_temp(f, ".pcap");
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    char err[512];
    weft_flow_table_init(t);
    weft_report_init(r);
    int rc = weft_pcap_read_file(path, o, t, r, err, sizeof err);
    unlink(path);
    free(path);
    return rc;
}

static void check_ip4(const weft_ip *ip, uint32_t a)
{
    weft_ip e;
    weft_ip_from_v4(&e, a);
    CU_ASSERT(memcmp(ip->b, e.b, 16) == 0);
}

/* ---------- captures ---------- */

static buf F, FR; /* file and frame scratch (large: static) */

/* Handshake, data both ways, FIN from both sides, last ACK; then a new SYN on the same 5-tuple. */
static void test_tcp_session(void)
{
    uint32_t c = v4(10, 0, 0, 1), s = v4(10, 0, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    struct {
        int from_client;
        unsigned flags, payload;
        uint32_t sec, usec;
    } pk[] = {
        {1, WEFT_TCP_SYN, 0, 1, 0},
        {0, WEFT_TCP_SYN | WEFT_TCP_ACK, 0, 1, 100000},
        {1, WEFT_TCP_ACK, 0, 1, 200000},
        {1, WEFT_TCP_PSH | WEFT_TCP_ACK, 100, 1, 300000},
        {0, WEFT_TCP_PSH | WEFT_TCP_ACK, 500, 1, 500000},
        {1, WEFT_TCP_FIN | WEFT_TCP_ACK, 0, 2, 0},
        {0, WEFT_TCP_FIN | WEFT_TCP_ACK, 0, 2, 100000},
        {1, WEFT_TCP_ACK, 0, 2, 200000},
        {1, WEFT_TCP_SYN, 0, 3, 0}, /* after the close: a new flow */
    };
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        tcp_seq = pk[i].sec == 3 ? 5000 : 1; /* the new connection's own initial sequence number */
        if (pk[i].from_client)
            tcp4_frame(&FR, c, s, 40000, 80, pk[i].flags, pk[i].payload);
        else
            tcp4_frame(&FR, s, c, 80, 40000, pk[i].flags, pk[i].payload);
        pcap_record(&F, pk[i].sec, pk[i].usec, &FR);
    }
    tcp_seq = 1;
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(r.records, 9);
    CU_ASSERT_EQUAL(r.skipped, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0];
    check_ip4(&f->src, c);
    check_ip4(&f->dst, s);
    CU_ASSERT_EQUAL(f->sport, 40000);
    CU_ASSERT_EQUAL(f->dport, 80);
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_EQUAL(f->ip_version, 4);
    CU_ASSERT(f->has_stats);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 1.2, EPS);
    /* client: 40 + 40 + 140 + 40 + 40 bytes at 1.0, 1.2, 1.3, 2.0, 2.2 */
    CU_ASSERT_EQUAL(f->fwd.packets, 5);
    CU_ASSERT_EQUAL(f->fwd.bytes, 300);
    CU_ASSERT_EQUAL(f->fwd.min_size, 40);
    CU_ASSERT_EQUAL(f->fwd.max_size, 140);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.3, EPS);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN | WEFT_TCP_ACK | WEFT_TCP_PSH | WEFT_TCP_FIN);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.first, 1.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.last, 2.2, EPS);
    /* server: 40 + 540 + 40 bytes at 1.1, 1.5, 2.1 */
    CU_ASSERT_EQUAL(f->bwd.packets, 3);
    CU_ASSERT_EQUAL(f->bwd.bytes, 620);
    CU_ASSERT_EQUAL(f->bwd.min_size, 40);
    CU_ASSERT_EQUAL(f->bwd.max_size, 540);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.mean_iat, 0.5, EPS);
    CU_ASSERT_EQUAL(f->bwd.flags, WEFT_TCP_SYN | WEFT_TCP_ACK | WEFT_TCP_PSH | WEFT_TCP_FIN);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.first, 1.1, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.last, 2.1, EPS);
    f = &t.flows[1];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 3.0, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 1);
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.0, EPS);
    weft_flow_table_free(&t);
}

/* RST ends a TCP flow: the next SYN starts another; the server's answer to it joins the new flow. */
static void test_tcp_rst(void)
{
    uint32_t c = v4(10, 0, 0, 1), s = v4(10, 0, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    tcp4_frame(&FR, c, s, 1234, 22, WEFT_TCP_SYN, 0);
    pcap_record(&F, 10, 0, &FR);
    tcp4_frame(&FR, s, c, 22, 1234, WEFT_TCP_RST | WEFT_TCP_ACK, 0);
    pcap_record(&F, 10, 1, &FR);
    tcp_seq = 77; /* a new connection: a new initial sequence number */
    tcp4_frame(&FR, c, s, 1234, 22, WEFT_TCP_SYN, 0);
    pcap_record(&F, 11, 0, &FR);
    tcp4_frame(&FR, s, c, 22, 1234, WEFT_TCP_SYN | WEFT_TCP_ACK, 0);
    pcap_record(&F, 11, 1, &FR);
    tcp_seq = 1;
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.flags, WEFT_TCP_RST | WEFT_TCP_ACK);
    CU_ASSERT_EQUAL(t.flows[1].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[1].bwd.packets, 1);
    check_ip4(&t.flows[1].src, c);
    weft_flow_table_free(&t);
}

/* A SYN refused by RST and sent again with the same port and initial sequence number is one
 * connection attempt (Windows retries so), answered or not: one flow. Nor does a SYN that also carries
 * RST open a connection. A SYN with a new sequence number after the close does. */
static void test_tcp_syn_retry(void)
{
    uint32_t c = v4(10, 0, 0, 1), s = v4(10, 0, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    struct {
        int from_client;
        unsigned flags;
        uint32_t seq, usec;
    } pk[] = {
        {1, WEFT_TCP_SYN, 7, 0},
        {0, WEFT_TCP_RST | WEFT_TCP_ACK, 0, 1000},
        {1, WEFT_TCP_SYN, 7, 500000},               /* the same SYN again: same flow */
        {0, WEFT_TCP_SYN | WEFT_TCP_ACK, 900, 501000}, /* accepted this time: same flow */
        {1, WEFT_TCP_ACK, 8, 502000},
        {1, WEFT_TCP_SYN | WEFT_TCP_RST, 99, 600000}, /* opens nothing: same flow */
        {1, WEFT_TCP_SYN, 99, 700000},              /* a new connection */
    };
    for (size_t i = 0; i < sizeof pk / sizeof pk[0]; i++) {
        tcp_seq = pk[i].seq;
        if (pk[i].from_client)
            tcp4_frame(&FR, c, s, 50202, 57648, pk[i].flags, 0);
        else
            tcp4_frame(&FR, s, c, 57648, 50202, pk[i].flags, 0);
        pcap_record(&F, 20, pk[i].usec, &FR);
    }
    tcp_seq = 1;
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 4);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 2);
    CU_ASSERT_EQUAL(t.flows[1].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[1].fwd.flags, WEFT_TCP_SYN);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].start, 20.7, EPS);
    weft_flow_table_free(&t);
}

/* An IP length beyond the frame: a snap length cut (the wire had the bytes) is kept; a frame that was
 * that short on the wire is malformed; without the wire length nothing tells them apart: kept. */
static void test_ip_length_beyond_frame(void)
{
    uint32_t a = v4(131, 78, 81, 254), b = v4(204, 186, 80, 229);
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, a, b, 17, 8 + 1472, 1, 0); /* says 1500 bytes */
    udp(&FR, 53, 52327, 200);            /* carries 228 */
    weft_pkt p;
    const char *why = NULL;
    CU_ASSERT_EQUAL(weft_parse_frame_wire(1, FR.d, (uint32_t)FR.n, (uint32_t)FR.n, true, &p, &why),
                    WEFT_FRAME_MALFORMED);
    CU_ASSERT_EQUAL(weft_parse_frame_wire(1, FR.d, (uint32_t)FR.n, 14 + 1500, true, &p, &why), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.ip_len, 1500);
    CU_ASSERT_EQUAL(p.dport, 52327);
    CU_ASSERT_EQUAL(weft_parse_frame(1, FR.d, (uint32_t)FR.n, true, &p, &why), WEFT_FRAME_OK);
    /* Ethernet padding after a short packet is no problem either way */
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, a, b, 17, 8, 2, 0);
    udp(&FR, 53, 52327, 0);
    zeros(&FR, 18);
    CU_ASSERT_EQUAL(weft_parse_frame_wire(1, FR.d, (uint32_t)FR.n, (uint32_t)FR.n, true, &p, &why), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.ip_len, 28);
}

/* 802.1ad outer tag + 802.1Q inner tag around a UDP query and its answer. */
static void test_vlan_udp(void)
{
    uint32_t a = v4(192, 168, 1, 5), b = v4(192, 168, 1, 9);
    F.n = 0;
    pcap_header(&F, 1);
    for (int dir = 0; dir < 2; dir++) {
        FR.n = 0;
        eth(&FR, 0x88a8);
        put16be(&FR, 100); /* outer TCI */
        put16be(&FR, 0x8100);
        put16be(&FR, 200); /* inner TCI */
        put16be(&FR, 0x0800);
        unsigned payload = dir ? 100 : 32;
        ipv4(&FR, dir ? b : a, dir ? a : b, 17, 8 + payload, 7, 0);
        udp(&FR, dir ? 53 : 5353, dir ? 5353 : 53, payload);
        pcap_record(&F, 100, dir ? 250000 : 0, &FR);
    }
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    const weft_flow *f = &t.flows[0];
    check_ip4(&f->src, a);
    CU_ASSERT_EQUAL(f->sport, 5353);
    CU_ASSERT_EQUAL(f->dport, 53);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_EQUAL(f->fwd.packets, 1);
    CU_ASSERT_EQUAL(f->fwd.bytes, 60);
    CU_ASSERT_EQUAL(f->bwd.packets, 1);
    CU_ASSERT_EQUAL(f->bwd.bytes, 128);
    CU_ASSERT_EQUAL(f->bwd.min_size, 128);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.25, EPS);
    CU_ASSERT_EQUAL(f->vlan, 100); /* the first tag's */
    weft_flow_table_free(&t);

    /* The same conversation on VLANs 7 and 8 (a reused address plan) is two flows; a priority-only tag
     * (VLAN 0) is no VLAN; --ignore-vlan merges them all. */
    F.n = 0;
    pcap_header(&F, 1);
    for (unsigned k = 0; k < 3; k++) {
        FR.n = 0;
        eth(&FR, 0x8100);
        put16be(&FR, k == 2 ? 0xa000 : 7 + k); /* k = 2: priority 5, VLAN 0 */
        put16be(&FR, 0x0800);
        ipv4(&FR, a, b, 17, 8 + 4, 7, 0);
        udp(&FR, 5353, 53, 4);
        pcap_record(&F, 100, k * 1000, &FR);
    }
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 3);
    CU_ASSERT_EQUAL(t.flows[0].vlan, 7);
    CU_ASSERT_EQUAL(t.flows[1].vlan, 8);
    CU_ASSERT_EQUAL(t.flows[2].vlan, 0);
    weft_flow_table_free(&t);
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.ignore_vlan = true;
    CU_ASSERT_EQUAL(read_capture(&F, &o, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 3);
    CU_ASSERT_EQUAL(t.flows[0].vlan, 7);
    weft_flow_table_free(&t);
}

/* Linux cooked capture (SLL, link type 113): ICMP echo and reply make one flow without ports. */
static void test_sll_icmp(void)
{
    uint32_t a = v4(172, 16, 0, 1), b = v4(172, 16, 0, 2);
    F.n = 0;
    pcap_header(&F, 113);
    for (int dir = 0; dir < 2; dir++) {
        FR.n = 0;
        put16be(&FR, dir ? 0 : 4); /* packet type */
        put16be(&FR, 1);           /* ARPHRD_ETHER */
        put16be(&FR, 6);
        zeros(&FR, 8);
        put16be(&FR, 0x0800);
        ipv4(&FR, dir ? b : a, dir ? a : b, 1, 64, 9, 0);
        put8(&FR, dir ? 0 : 8); /* echo reply / request */
        zeros(&FR, 63);
        pcap_record(&F, 5, dir ? 1000 : 0, &FR);
    }
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].proto, 1);
    CU_ASSERT_EQUAL(t.flows[0].sport, 0);
    CU_ASSERT_EQUAL(t.flows[0].dport, 0);
    CU_ASSERT_EQUAL(t.flows[0].fwd.bytes, 84);
    CU_ASSERT_EQUAL(t.flows[0].bwd.bytes, 84);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 0.001, EPS);
    weft_flow_table_free(&t);
}

static const uint8_t V6A[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
static const uint8_t V6B[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

static void ipv6(buf *b, const uint8_t *src, const uint8_t *dst, unsigned next, unsigned payload)
{
    put32be(b, 0x60000000);
    put16be(b, payload);
    put8(b, next);
    put8(b, 64);
    putn(b, src, 16);
    putn(b, dst, 16);
}

/* Linux cooked v2 (SLL2, link type 276) with IPv6 / UDP. */
static void test_sll2_ipv6_udp(void)
{
    F.n = 0;
    pcap_header(&F, 276);
    FR.n = 0;
    put16be(&FR, 0x86dd); /* protocol type */
    put16be(&FR, 0);      /* reserved */
    put32be(&FR, 2);      /* interface index */
    put16be(&FR, 1);      /* ARPHRD */
    put8(&FR, 4);         /* packet type */
    put8(&FR, 6);
    zeros(&FR, 8);
    ipv6(&FR, V6A, V6B, 17, 8 + 12);
    udp(&FR, 546, 547, 12);
    pcap_record(&F, 7, 0, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    const weft_flow *f = &t.flows[0];
    CU_ASSERT_EQUAL(f->ip_version, 6);
    CU_ASSERT(memcmp(f->src.b, V6A, 16) == 0);
    CU_ASSERT(memcmp(f->dst.b, V6B, 16) == 0);
    CU_ASSERT_EQUAL(f->sport, 546);
    CU_ASSERT_EQUAL(f->dport, 547);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_EQUAL(f->fwd.bytes, 60);
    weft_flow_table_free(&t);
}

/* Raw IP (LINKTYPE_RAW 101): IPv6 with a hop-by-hop and a destination-options header before TCP. */
static void test_raw_ipv6_ext(void)
{
    F.n = 0;
    pcap_header(&F, 101);
    FR.n = 0;
    ipv6(&FR, V6B, V6A, 0, 8 + 16 + 20);
    put8(&FR, 60); /* hop-by-hop: next = destination options, length 0 (8 bytes) */
    put8(&FR, 0);
    zeros(&FR, 6);
    put8(&FR, 6); /* destination options: next = TCP, length 1 (16 bytes) */
    put8(&FR, 1);
    zeros(&FR, 14);
    tcp(&FR, 443, 50000, WEFT_TCP_ACK, 0);
    pcap_record(&F, 9, 0, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(r.skipped, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    const weft_flow *f = &t.flows[0];
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_EQUAL(f->sport, 443);
    CU_ASSERT_EQUAL(f->dport, 50000);
    CU_ASSERT_EQUAL(f->fwd.bytes, 84);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_ACK);
    weft_flow_table_free(&t);
}

/* The last record says 100 bytes but only 10 follow: the flow read before it stays. */
/* ---------- tunnels ---------- */

/* The inner packet every tunnel test carries: UDP 10.9.0.1:5000 -> 10.9.0.2:53 with 12 bytes of data
 * (IPv4 length 40). */
static void inner_udp(buf *b)
{
    ipv4(b, v4(10, 9, 0, 1), v4(10, 9, 0, 2), 17, 8 + 12, 3, 0);
    udp(b, 5000, 53, 12);
}

/* Wraps the inner bytes in Ethernet / IPv4 (proto) from 192.0.2.1 to 192.0.2.2, then parses it. */
static weft_frame_result parse_outer(const buf *inner, unsigned proto, bool decap, weft_pkt *p)
{
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, v4(192, 0, 2, 1), v4(192, 0, 2, 2), proto, (unsigned)inner->n, 9, 0);
    putn(&FR, inner->d, inner->n);
    return weft_parse_frame(1, FR.d, (uint32_t)FR.n, decap, p, NULL);
}

static void check_inner(const weft_pkt *p, int tunnel)
{
    check_ip4(&p->src, v4(10, 9, 0, 1));
    check_ip4(&p->dst, v4(10, 9, 0, 2));
    CU_ASSERT_EQUAL(p->sport, 5000);
    CU_ASSERT_EQUAL(p->dport, 53);
    CU_ASSERT_EQUAL(p->proto, 17);
    CU_ASSERT_EQUAL(p->ip_len, 40);
    CU_ASSERT_EQUAL(p->tunnel, tunnel);
    check_ip4(&p->outer_src, v4(192, 0, 2, 1));
    check_ip4(&p->outer_dst, v4(192, 0, 2, 2));
}

static buf IN; /* a tunnel's payload */

static void test_tunnels(void)
{
    weft_pkt p;
    /* IP in IP */
    IN.n = 0;
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 4, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_IPIP);
    /* decapsulation off: the tunnel's own flow, protocol 4 without ports */
    CU_ASSERT_EQUAL(parse_outer(&IN, 4, false, &p), WEFT_FRAME_OK);
    check_ip4(&p.src, v4(192, 0, 2, 1));
    CU_ASSERT_EQUAL(p.proto, 4);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_NONE);
    /* protocol 4 whose payload is not IPv4: stays the outer packet */
    IN.d[0] = 0x65;
    CU_ASSERT_EQUAL(parse_outer(&IN, 4, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.proto, 4);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_NONE);

    /* IPv6 in IPv4 (6in4) */
    IN.n = 0;
    ipv6(&IN, V6A, V6B, 17, 8 + 4);
    udp(&IN, 7000, 8000, 4);
    CU_ASSERT_EQUAL(parse_outer(&IN, 41, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(memcmp(p.src.b, V6A, 16), 0);
    CU_ASSERT_EQUAL(p.sport, 7000);
    CU_ASSERT_EQUAL(p.ip_version, 6);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_IP6IP);
    check_ip4(&p.outer_src, v4(192, 0, 2, 1));

    /* GRE with key and sequence number, carrying IPv4 */
    IN.n = 0;
    put16be(&IN, 0x3000);
    put16be(&IN, 0x0800);
    put32be(&IN, 77);
    put32be(&IN, 1);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_GRE);
    /* GRE cut inside its optional fields */
    IN.n = 6;
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_MALFORMED);
    /* GRE transparent Ethernet bridging with a VLAN tag inside */
    IN.n = 0;
    put16be(&IN, 0);
    put16be(&IN, 0x6558);
    eth(&IN, 0x8100);
    put16be(&IN, 42);
    put16be(&IN, 0x0800);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_GRE);
    /* ERSPAN II (GRE with a sequence number, 8-byte ERSPAN header) */
    IN.n = 0;
    put16be(&IN, 0x1000);
    put16be(&IN, 0x88be);
    put32be(&IN, 5);
    put32be(&IN, 0x10000001);
    put32be(&IN, 0);
    eth(&IN, 0x0800);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_ERSPAN);
    /* ERSPAN III with the platform subheader (O flag) */
    IN.n = 0;
    put16be(&IN, 0x1000);
    put16be(&IN, 0x22eb);
    put32be(&IN, 5);
    put32be(&IN, 0x20000001);
    put32be(&IN, 12345);
    put32be(&IN, 1); /* ... O = 1 */
    zeros(&IN, 8);
    eth(&IN, 0x0800);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_ERSPAN);
    /* PPTP enhanced GRE carrying PPP / IPv4; an acknowledgement alone stays the GRE flow */
    IN.n = 0;
    put16be(&IN, 0x3081);
    put16be(&IN, 0x880b);
    put16be(&IN, 4 + 40);
    put16be(&IN, 7);
    put32be(&IN, 1);
    put32be(&IN, 0);
    put16be(&IN, 0xff03);
    put16be(&IN, 0x0021);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_GRE);
    IN.n = 16;
    IN.d[4] = IN.d[5] = 0;
    CU_ASSERT_EQUAL(parse_outer(&IN, 47, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.proto, 47);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_NONE);

    /* VXLAN: UDP to 4789, 8-byte header with the I flag, Ethernet inside */
    IN.n = 0;
    put16be(&IN, 40000);
    put16be(&IN, 4789);
    put16be(&IN, 8 + 8 + 14 + 40);
    put16be(&IN, 0);
    put32be(&IN, 0x08000000);
    put32be(&IN, 0x00123400);
    eth(&IN, 0x0800);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_VXLAN);
    /* without the I flag it is not VXLAN: the outer UDP flow */
    IN.d[8] = 0;
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.dport, 4789);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_NONE);

    /* Geneve with 8 bytes of options, carrying IPv4 directly */
    IN.n = 0;
    put16be(&IN, 40000);
    put16be(&IN, 6081);
    put16be(&IN, 8 + 16 + 40);
    put16be(&IN, 0);
    put8(&IN, 2); /* version 0, 2 option words */
    put8(&IN, 0);
    put16be(&IN, 0x0800);
    put32be(&IN, 0x00abcd00);
    zeros(&IN, 8);
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_GENEVE);
    /* options longer than the packet */
    IN.n = 8 + 12;
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_MALFORMED);

    /* GTP-U T-PDU with a sequence number and one extension header (PDU session container) */
    IN.n = 0;
    put16be(&IN, 2152);
    put16be(&IN, 2152);
    put16be(&IN, 8 + 12 + 4 + 40);
    put16be(&IN, 0);
    put8(&IN, 0x36); /* version 1, PT, E and S */
    put8(&IN, 0xff);
    put16be(&IN, 4 + 4 + 40);
    put32be(&IN, 0x11223344);
    put16be(&IN, 1); /* sequence */
    put8(&IN, 0);    /* N-PDU */
    put8(&IN, 0x85); /* next extension: PDU session container */
    put8(&IN, 1);    /* 4 bytes */
    put8(&IN, 0);
    put8(&IN, 9);
    put8(&IN, 0); /* no further extension */
    inner_udp(&IN);
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_OK);
    check_inner(&p, WEFT_TUNNEL_GTPU);
    /* an extension header of length 0 would never end: malformed */
    IN.d[8 + 12] = 0;
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_MALFORMED);
    /* a GTP-U echo request is not user data: the UDP flow itself */
    IN.d[8 + 1] = 1;
    CU_ASSERT_EQUAL(parse_outer(&IN, 17, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.dport, 2152);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_NONE);

    /* Nested: IP-in-IP five deep. Four tunnels are opened; the outermost is the one kept. */
    IN.n = 0;
    for (int k = 0; k < 5; k++) ipv4(&IN, v4(172, 16, 0, (unsigned)k), v4(172, 17, 0, (unsigned)k), 4, 0, 1, 0);
    inner_udp(&IN);
    for (int k = 0; k < 5; k++) { /* fix the total lengths from the inside out */
        size_t off = (size_t)k * 20;
        unsigned len = (unsigned)(IN.n - off);
        IN.d[off + 2] = (uint8_t)(len >> 8), IN.d[off + 3] = (uint8_t)len;
    }
    CU_ASSERT_EQUAL(parse_outer(&IN, 4, true, &p), WEFT_FRAME_OK);
    CU_ASSERT_EQUAL(p.tunnel, WEFT_TUNNEL_IPIP);
    CU_ASSERT_EQUAL(p.tunnel_depth, 4);
    CU_ASSERT_EQUAL(p.proto, 4); /* the fourth tunnel's packet, still carrying IP-in-IP */
    check_ip4(&p.src, v4(172, 16, 0, 3));
    check_ip4(&p.outer_src, v4(192, 0, 2, 1));

    /* Through the reader and the CSV: both directions of the inner conversation are one flow carrying
     * the tunnel, and the tunnel columns survive a round trip. */
    F.n = 0;
    pcap_header(&F, 1);
    IN.n = 0;
    inner_udp(&IN);
    parse_outer(&IN, 4, true, &p);
    pcap_record(&F, 100, 0, &FR);
    IN.n = 0;
    ipv4(&IN, v4(10, 9, 0, 2), v4(10, 9, 0, 1), 17, 8 + 12, 3, 0);
    udp(&IN, 53, 5000, 12);
    parse_outer(&IN, 4, true, &p);
    pcap_record(&F, 100, 500000, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].tunnel, WEFT_TUNNEL_IPIP);
    check_ip4(&t.flows[0].outer_dst, v4(192, 0, 2, 2));
    char *path = write_text("", ".csv");
    FILE *fo = fopen(path, "w");
    CU_ASSERT_EQUAL(weft_flow_csv_write(fo, &t), 0);
    fclose(fo);
    weft_flow_table u;
    weft_flow_table_init(&u);
    weft_read_report r2;
    weft_report_init(&r2);
    char err[256];
    CU_ASSERT_EQUAL(weft_flow_csv_read(path, &u, &r2, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r2.warnings, 0);
    CU_ASSERT_EQUAL_FATAL(u.n, 1);
    CU_ASSERT_EQUAL(u.flows[0].tunnel, WEFT_TUNNEL_IPIP);
    CU_ASSERT_EQUAL(u.flows[0].vlan, 0);
    check_ip4(&u.flows[0].outer_src, v4(192, 0, 2, 1));
    check_ip4(&u.flows[0].outer_dst, v4(192, 0, 2, 2));
    remove(path);
    free(path);
    weft_flow_table_free(&u);
    weft_flow_table_free(&t);
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.decap = false;
    CU_ASSERT_EQUAL(read_capture(&F, &o, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].proto, 4);
    CU_ASSERT_EQUAL(t.flows[0].tunnel, WEFT_TUNNEL_NONE);
    weft_flow_table_free(&t);
    CU_ASSERT_STRING_EQUAL(weft_tunnel_name(WEFT_TUNNEL_GTPU), "gtp-u");
    CU_ASSERT_EQUAL(weft_tunnel_parse("vxlan"), WEFT_TUNNEL_VXLAN);
    CU_ASSERT_EQUAL(weft_tunnel_parse(""), WEFT_TUNNEL_NONE);
    CU_ASSERT_EQUAL(weft_tunnel_parse("nope"), -1);
}

static void test_truncated_last_record(void)
{
    uint32_t c = v4(10, 1, 0, 1), s = v4(10, 1, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    tcp4_frame(&FR, c, s, 1000, 80, WEFT_TCP_SYN, 0);
    pcap_record(&F, 1, 0, &FR);
    tcp4_frame(&FR, s, c, 80, 1000, WEFT_TCP_SYN | WEFT_TCP_ACK, 0);
    pcap_record(&F, 1, 10, &FR);
    put32le(&F, 2);
    put32le(&F, 0);
    put32le(&F, 100);
    put32le(&F, 100);
    zeros(&F, 10);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(r.records, 2);
    CU_ASSERT_EQUAL(r.warnings, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "capture cut short or damaged (packets before it kept)"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 1);
    CU_ASSERT(r.n_problems >= 1 && strstr(r.problems[0], "packet 3") != NULL);
    weft_flow_table_free(&t);
}

/* A link type weft does not read (USER0 = 147): every packet counted and skipped, no crash. */
static void test_unknown_link_type(void)
{
    F.n = 0;
    pcap_header(&F, 147);
    FR.n = 0;
    zeros(&FR, 60);
    pcap_record(&F, 1, 0, &FR);
    pcap_record(&F, 2, 0, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(t.n, 0);
    CU_ASSERT_EQUAL(r.records, 2);
    CU_ASSERT_EQUAL(r.skipped, 2);
    CU_ASSERT_EQUAL(weft_report_count(&r, "unknown link type"), 2);
    CU_ASSERT(r.n_problems >= 1 && strstr(r.problems[0], "link type 147") != NULL);
    weft_flow_table_free(&t);
}

/* A timestamp earlier than the one before: counted, the packet kept at the latest time seen. */
static void test_backwards_timestamp(void)
{
    uint32_t a = v4(10, 2, 0, 1), b = v4(10, 2, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    for (int i = 0; i < 3; i++) {
        FR.n = 0;
        eth(&FR, 0x0800);
        ipv4(&FR, a, b, 17, 8 + 10, 1, 0);
        udp(&FR, 1000, 2000, 10);
        pcap_record(&F, i == 1 ? 5 : 10 + (uint32_t)i, 0, &FR); /* 10, 5, 12 */
    }
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "timestamp runs backwards (kept in its flow's order)"), 1);
    CU_ASSERT_EQUAL(r.skipped, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 3);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].start, 10.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 2.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].fwd.mean_iat, 1.0, EPS); /* (12 - 10) / 2 */
    CU_ASSERT(r.n_problems >= 1 && strstr(r.problems[0], "packet 2") != NULL);
    CU_ASSERT(r.n_problems >= 1 && strstr(r.problems[0], "5.000000000 s before") != NULL);
    weft_flow_table_free(&t);

    /* The clock steps back 100 s while flow B is open: B's packets stay in B's order (B lasts 2 s,
     * not 102), and a flow that starts in the stepped-back time starts there. */
    uint32_t c = v4(10, 2, 0, 3);
    F.n = 0;
    pcap_header(&F, 1);
    const struct { uint32_t sec, src; } seq[] = {{200, a}, {201, c}, {300, a}, {203, c}, {202, b}};
    for (int i = 0; i < 5; i++) {
        FR.n = 0;
        eth(&FR, 0x0800);
        ipv4(&FR, seq[i].src, v4(10, 2, 9, 9), 17, 8 + 10, 1, 0);
        udp(&FR, 1000, 2000, 10);
        pcap_record(&F, seq[i].sec, 0, &FR);
    }
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "timestamp runs backwards (kept in its flow's order)"), 2);
    CU_ASSERT_EQUAL_FATAL(t.n, 3);
    for (size_t i = 0; i < t.n; i++) CU_ASSERT(t.flows[i].duration >= 0 && t.flows[i].fwd.mean_iat >= 0);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].start, 201.0, EPS); /* c */
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].duration, 2.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[2].start, 202.0, EPS); /* b */
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 100.0, EPS); /* a: 200 and 300 */
    weft_flow_table_free(&t);
}

/* Idle timeout: UDP at 0, 10 and 200 s splits after 10 s (gap 190 > 120); a 300 s idle timeout does not.
 * Active timeout: a packet every 100 s from 0 to 2000 with 1800 s: 0..1800 (19 packets), 1900, 2000. */
static void test_timeouts(void)
{
    uint32_t a = v4(10, 3, 0, 1), b = v4(10, 3, 0, 2);
    uint32_t times[] = {1000, 1010, 1200};
    F.n = 0;
    pcap_header(&F, 1);
    for (int i = 0; i < 3; i++) {
        FR.n = 0;
        eth(&FR, 0x0800);
        ipv4(&FR, i == 1 ? b : a, i == 1 ? a : b, 17, 8, 1, 0);
        udp(&FR, i == 1 ? 53 : 4000, i == 1 ? 4000 : 53, 0);
        pcap_record(&F, times[i], 0, &FR);
    }
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 1);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 10.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].start, 1200.0, EPS);
    check_ip4(&t.flows[1].src, a);
    weft_flow_table_free(&t);

    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.idle_timeout = 300;
    CU_ASSERT_EQUAL(read_capture(&F, &o, &t, &r), 0);
    CU_ASSERT_EQUAL(t.n, 1);
    weft_flow_table_free(&t);

    F.n = 0;
    pcap_header(&F, 1);
    for (uint32_t s = 0; s <= 2000; s += 100) {
        FR.n = 0;
        eth(&FR, 0x0800);
        ipv4(&FR, a, b, 17, 8, 1, 0);
        udp(&FR, 4000, 53, 0);
        pcap_record(&F, 5000 + s, 0, &FR);
    }
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 19);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 1800.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].fwd.mean_iat, 100.0, EPS);
    CU_ASSERT_EQUAL(t.flows[1].fwd.packets, 2);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].start, 6900.0, EPS);
    weft_flow_table_free(&t);
}

/* A UDP datagram in two IPv4 fragments: the second (no UDP header) joins the first's flow. A lone
 * later fragment is counted and skipped. */
static void test_fragments(void)
{
    uint32_t a = v4(10, 4, 0, 1), b = v4(10, 4, 0, 2);
    F.n = 0;
    pcap_header(&F, 1);
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, a, b, 17, 8 + 24, 77, 0x2000); /* MF, offset 0 */
    udp(&FR, 7000, 9000, 24);
    pcap_record(&F, 1, 0, &FR);
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, a, b, 17, 16, 77, 4); /* offset 4 * 8 = 32 bytes */
    zeros(&FR, 16);
    pcap_record(&F, 1, 5, &FR);
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, a, b, 17, 16, 78, 4); /* a datagram whose first fragment was never seen */
    zeros(&FR, 16);
    pcap_record(&F, 1, 9, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "IP fragment without transport header"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].sport, 7000);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.bytes, 52 + 36);
    weft_flow_table_free(&t);
}

/* Short and malformed frames are counted; nothing is read past the captured bytes (ASan checks). */
static void test_malformed(void)
{
    F.n = 0;
    pcap_header(&F, 1);
    FR.n = 0;
    zeros(&FR, 10); /* shorter than an Ethernet header */
    pcap_record(&F, 1, 0, &FR);
    FR.n = 0;
    eth(&FR, 0x0800);
    put8(&FR, 0x43); /* IHL 3 */
    zeros(&FR, 19);
    pcap_record(&F, 1, 1, &FR);
    FR.n = 0;
    eth(&FR, 0x0800);
    ipv4(&FR, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 6, 20, 1, 0);
    put16be(&FR, 80); /* TCP header cut after 2 bytes */
    pcap_record(&F, 1, 2, &FR);
    FR.n = 0;
    eth(&FR, 0x0806); /* ARP: not IP */
    zeros(&FR, 28);
    pcap_record(&F, 1, 3, &FR);
    FR.n = 0;
    eth(&FR, 0x86dd);
    ipv6(&FR, V6A, V6B, 0, 4); /* hop-by-hop header cut short */
    zeros(&FR, 4);
    pcap_record(&F, 1, 4, &FR);
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL(read_capture(&F, NULL, &t, &r), 0);
    CU_ASSERT_EQUAL(t.n, 0);
    CU_ASSERT_EQUAL(r.records, 5);
    CU_ASSERT_EQUAL(r.skipped, 4); /* the ARP frame is not a problem: counted apart */
    CU_ASSERT_EQUAL(r.not_ip, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "malformed packet"), 4);
    CU_ASSERT_EQUAL(weft_report_count(&r, "not an IP packet"), 0);
    weft_flow_table_free(&t);

    /* every prefix of a good frame parses or fails cleanly */
    tcp4_frame(&FR, v4(1, 1, 1, 1), v4(2, 2, 2, 2), 1, 2, WEFT_TCP_SYN, 0);
    for (uint32_t n = 0; n <= FR.n; n++) {
        uint8_t *copy = malloc(n ? n : 1);
        memcpy(copy, FR.d, n);
        weft_pkt p;
        weft_frame_result res = weft_parse_frame(1, copy, n, true, &p, NULL);
        CU_ASSERT(n >= 14 + 20 + 14 ? res == WEFT_FRAME_OK : res == WEFT_FRAME_MALFORMED);
        free(copy);
    }
}

static void test_not_a_capture(void)
{
    char *path = write_text("this is not a capture\n", ".pcap");
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    char err[512] = "";
    CU_ASSERT_EQUAL(weft_pcap_read_file(path, NULL, &t, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, path) != NULL);
    CU_ASSERT_EQUAL(weft_pcap_read_file("/nonexistent/x.pcap", NULL, &t, &r, err, sizeof err), -1);
    unlink(path);
    free(path);
    weft_flow_table_free(&t);
}

/* ---------- flow logs ---------- */

static int read_log(const char *text, const char *suffix, weft_input_format fmt, const char *cols,
                    weft_flow_table *t, weft_read_report *r, char *err, size_t errn)
{
    char *path = write_text(text, suffix);
    weft_flow_table_init(t);
    weft_report_init(r);
    if (fmt == WEFT_FMT_AUTO) fmt = weft_format_detect(path, cols != NULL, err, errn);
    int rc = weft_log_read_file(path, fmt, cols, t, r, err, errn);
    unlink(path);
    free(path);
    return rc;
}

static void test_zeek(void)
{
    const char *log =
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\t"
        "resp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\t"
        "resp_pkts\tresp_ip_bytes\ttunnel_parents\tlabel\tdetailedlabel\n"
        "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\t"
        "count\tstring\tcount\tcount\tcount\tcount\tset[string]\tstring\tstring\n"
        "1677024003.5\tC1\t192.168.1.107\t65164\t66.63.168.35\t5888\ttcp\t-\t0.25\t0\t0\tREJ\tT\tF\t0\tSr\t2\t104\t"
        "2\t80\t-\tMalicious\tFrom_malicious-RemcosRAT\n"
        "19.75\tC2\tfd2d::1\t56464\tfd2d::53\t53\tudp\tdns\t-\t-\t-\tS0\tF\tF\t0\tD\t1\t82\t0\t0\t(empty)\t"
        "Background\t(empty)\n"
        "20.0\tC3\tnot-an-ip\t1\t10.0.0.1\t2\ttcp\t-\t1\t0\t0\tS0\tF\tF\t0\tS\t1\t40\t0\t0\t-\tBenign\t-\n"
        "21.0\tC4\t10.0.0.1\t1\n"
        "#close\t2023-01-01\n";
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_log(log, ".log", WEFT_FMT_AUTO, NULL, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 4);
    CU_ASSERT_EQUAL(r.skipped, 2);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad address"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "too few fields"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0];
    check_ip4(&f->src, v4(192, 168, 1, 107));
    CU_ASSERT_EQUAL(f->sport, 65164);
    CU_ASSERT_EQUAL(f->dport, 5888);
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1677024003.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.25, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 2);
    CU_ASSERT_EQUAL(f->fwd.bytes, 104);
    CU_ASSERT_EQUAL(f->bwd.packets, 2);
    CU_ASSERT_EQUAL(f->bwd.bytes, 80);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN);  /* S */
    CU_ASSERT_EQUAL(f->bwd.flags, WEFT_TCP_RST);  /* r */
    CU_ASSERT_FALSE(f->has_stats);
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");
    CU_ASSERT_STRING_EQUAL(f->detail, "From_malicious-RemcosRAT");
    f = &t.flows[1];
    CU_ASSERT_EQUAL(f->ip_version, 6);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.0, EPS); /* "-" */
    CU_ASSERT_STRING_EQUAL(f->label, "Background");
    CU_ASSERT_PTR_NULL(f->detail); /* "(empty)" */
    weft_flow_table_free(&t);

    /* no id.orig_h column: the file cannot be read */
    CU_ASSERT_EQUAL(read_log("#separator \\x09\n#fields\tts\tid.resp_h\n1.0\t10.0.0.1\n", ".log", WEFT_FMT_ZEEK, NULL,
                             &t, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "id.orig_h") != NULL);
    weft_flow_table_free(&t);
}

static void test_binetflow(void)
{
    const char *csv =
        "StartTime,Dur,Proto,SrcAddr,Sport,Dir,DstAddr,Dport,State,sTos,dTos,TotPkts,TotBytes,SrcBytes,SrcPkts,Label\n"
        "2019/04/04 16:23:00.325010,0.027947,udp,10.8.0.69,48427,  <->,8.8.8.8,53,CON,0,0,2,142,63,1,"
        "flow=From-Botnet-V42-UDP-DNS\n"
        "2019/04/04 16:24:00.5,1.5,icmp,10.0.2.15,0x0303,   ->,8.8.4.4,0x0ecc,URP,0,,1,173,173,1,flow=Background\n"
        "2019/04/04 16:25:00,2.0,arp,10.0.2.15,,  who,10.0.2.2,,CON,,,22,924,462,11,flow=Background-ARP\n"
        "2019/04/04 16:26:00,-1,tcp,10.0.0.1,1,   ->,10.0.0.2,2,S_,0,0,1,60,60,1,\n"
        "2019/04/04 16:27:00,1,tcp,10.0.0.1,1,   ->,10.0.0.2,2,S_,0,0,1,60,70,1,\n"
        "2019/13/04 16:27:00,1,tcp,10.0.0.1,1,   ->,10.0.0.2,2,S_,0,0,1,60,60,1,\n";
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_log(csv, ".binetflow", WEFT_FMT_AUTO, NULL, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 6);
    CU_ASSERT_EQUAL(weft_report_count(&r, "not an IP protocol"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "negative duration"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "inconsistent counts"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad time"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0];
    /* 2019-04-04 16:23:00 UTC = 1554394980 */
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1554394980.325010, EPS);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_EQUAL(f->fwd.packets, 1);
    CU_ASSERT_EQUAL(f->fwd.bytes, 63);
    CU_ASSERT_EQUAL(f->bwd.packets, 1);
    CU_ASSERT_EQUAL(f->bwd.bytes, 79);
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");
    CU_ASSERT_STRING_EQUAL(f->detail, "From-Botnet-V42-UDP-DNS");
    f = &t.flows[1];
    CU_ASSERT_EQUAL(f->proto, 1);
    CU_ASSERT_EQUAL(f->sport, 0x0303);
    CU_ASSERT_EQUAL(f->dport, 0x0ecc);
    CU_ASSERT_STRING_EQUAL(f->label, "Background");
    weft_flow_table_free(&t);
}

static void test_wireshark(void)
{
    char dir[] = "/tmp/weft_tf_dirXXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/Malware_Zeus_TCP.csv", dir);
    FILE *fp = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    fputs("\xef\xbb\xbf"
          "Address A,Port A,Address B,Port B,Packets,Bytes,Packets A \xe2\x86\x92 B,Bytes A \xe2\x86\x92 B,"
          "Packets B \xe2\x86\x92 A,Bytes B \xe2\x86\x92 A,Rel Start,Duration,Bits/s A \xe2\x86\x92 B,"
          "Bits/s B \xe2\x86\x92 A\n"
          "192.168.0.250,49163,192.168.0.1,80,4,264,3,200,1,64,2.3448,2.5,705.6,0\n"
          "192.168.0.250,49164,192.168.0.1,80,x,264,3,200,1,64,2.5,2.5,705.6,0\n",
          fp);
    fclose(fp);
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    char err[512];
    CU_ASSERT_EQUAL(weft_format_detect(path, false, err, sizeof err), WEFT_FMT_WIRESHARK);
    CU_ASSERT_EQUAL_FATAL(weft_log_read_file(path, WEFT_FMT_WIRESHARK, NULL, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad number"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    const weft_flow *f = &t.flows[0];
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_EQUAL(f->sport, 49163);
    CU_ASSERT_EQUAL(f->fwd.packets, 3);
    CU_ASSERT_EQUAL(f->fwd.bytes, 200);
    CU_ASSERT_EQUAL(f->bwd.packets, 1);
    CU_ASSERT_EQUAL(f->bwd.bytes, 64);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 2.3448, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 2.5, EPS);
    CU_ASSERT_STRING_EQUAL(f->label, "Malware");
    CU_ASSERT_STRING_EQUAL(f->detail, "Zeus");
    weft_flow_table_free(&t);
    unlink(path);
    rmdir(dir);

    char label[32], detail[32];
    unsigned proto;
    CU_ASSERT(weft_label_from_filename("x/Benign_WorldOfWarcraft_TCP.csv", label, sizeof label, detail,
                                       sizeof detail, &proto));
    CU_ASSERT_STRING_EQUAL(label, "Benign");
    CU_ASSERT_STRING_EQUAL(detail, "WorldOfWarcraft");
    CU_ASSERT_EQUAL(proto, 6);
    CU_ASSERT_FALSE(weft_label_from_filename("conn.log", label, sizeof label, detail, sizeof detail, &proto));
    CU_ASSERT_FALSE(weft_label_from_filename("Benign_.csv", label, sizeof label, detail, sizeof detail, &proto));
}

static void test_netflow(void)
{
    const char *csv = "IPV4_SRC_ADDR,L4_SRC_PORT,IPV4_DST_ADDR,L4_DST_PORT,PROTOCOL,L7_PROTO,IN_BYTES,OUT_BYTES,"
                      "IN_PKTS,OUT_PKTS,TCP_FLAGS,FLOW_DURATION_MILLISECONDS,Label,Attack\n"
                      "149.171.126.0,62073,59.166.0.5,56082,6,0.0,9672,416,11,8,25,15,0,Benign\n"
                      "175.45.176.1,0,149.171.126.16,0,17,0.0,200,0,2,0,0,1500,1,DoS\n"
                      "175.45.176.1,70000,149.171.126.16,0,17,0.0,200,0,2,0,0,1500,1,DoS\n";
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_log(csv, ".csv", WEFT_FMT_AUTO, NULL, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "no start time column (flows start at 0)"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad port"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0];
    CU_ASSERT_EQUAL(f->fwd.bytes, 9672);
    CU_ASSERT_EQUAL(f->bwd.bytes, 416);
    CU_ASSERT_EQUAL(f->fwd.packets, 11);
    CU_ASSERT_EQUAL(f->bwd.packets, 8);
    CU_ASSERT_EQUAL(f->fwd.flags, 25);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.015, EPS);
    CU_ASSERT_STRING_EQUAL(f->label, "Benign");
    CU_ASSERT_STRING_EQUAL(f->detail, "Benign");
    CU_ASSERT_STRING_EQUAL(t.flows[1].label, "Malicious");
    CU_ASSERT_STRING_EQUAL(t.flows[1].detail, "DoS");
    CU_ASSERT_DOUBLE_EQUAL(t.flows[1].duration, 1.5, EPS);
    weft_flow_table_free(&t);
}

static void test_mapped_csv(void)
{
    const char *csv = "a;b,c,when,len,who,sp,dp,pr,\"note, quoted\"\n"
                      "1.2.3.4,5.6.7.8,2024-01-02T03:04:05.5,10,x,11,12,tcp,\"a \"\"b\"\"\"\n"
                      "1.2.3.4,5.6.7.8,\"unterminated,10,x,11,12,tcp,z\n";
    const char *cols = "src=a;b,dst=c,start=when,duration=len,sport=sp,dport=dp,proto=pr,label=note, quoted";
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    /* "note, quoted" cannot be named in a comma-separated map: that map is refused */
    CU_ASSERT_EQUAL(read_log(csv, ".csv", WEFT_FMT_CSV, cols, &t, &r, err, sizeof err), -1);
    weft_flow_table_free(&t);
    cols = "src=a;b,dst=c,start=when,duration=len,sport=sp,dport=dp,proto=pr";
    CU_ASSERT_EQUAL_FATAL(read_log(csv, ".csv", WEFT_FMT_AUTO, cols, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "broken quoting"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    /* 2024-01-02 03:04:05 UTC = 1704164645 */
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].start, 1704164645.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 10.0, EPS);
    CU_ASSERT_EQUAL(t.flows[0].sport, 11);
    CU_ASSERT_EQUAL(t.flows[0].proto, 6);
    weft_flow_table_free(&t);
    /* a mapped column that is not in the header; a CSV without a map; an unknown field name */
    CU_ASSERT_EQUAL(read_log(csv, ".csv", WEFT_FMT_CSV, "src=a;b,dst=nope", &t, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "dst") != NULL);
    weft_flow_table_free(&t);
    CU_ASSERT_EQUAL(read_log(csv, ".csv", WEFT_FMT_CSV, NULL, &t, &r, err, sizeof err), -1);
    weft_flow_table_free(&t);
    CU_ASSERT_FALSE(weft_columns_check("source=x", err, sizeof err));
    CU_ASSERT_FALSE(weft_columns_check("src", err, sizeof err));
    CU_ASSERT(weft_columns_check("src=x,dst=y", err, sizeof err));
}

/* ---------- nDPI labels ---------- */

static void test_ndpi_labels(void)
{
    const char *out =
        "Guessed flow protos:\t1\n\n"
        "\t1\t 192.168.1.13             \t 1      \n" /* a JA3 table row: not a flow */
        "\t1\tTCP 192.168.1.13:53096 <-> 178.62.197.130:443 [proto: 91.26/TLS.ntop][IP: 26/ntop][cat: Network/14]"
        "[316 pkts/28495 bytes <-> 351 pkts/429572 bytes]\n"
        "\t2\tICMPV6 [2001:db8::2]:0 -> [2001:db8::1]:0 [proto: 102/ICMPV6][cat: Network/14][1 pkts]\n"
        "\t3\tUDP [302e::3d00::8001]:1 -> 1.2.3.4:2 [proto: 0/Unknown]\n"
        "\t4\tSCTP 10.28.6.43:0 <-> 10.28.6.44:0 [proto: 84/SCTP][cat: Network/14]\n"
        "\t5\t113 10.0.0.7:0 -> 224.0.0.9:0 [proto: 0/Unknown]\n" /* PGM: by its number */
        "Undetected flows:\n"
        "\t1\tUDP 10.0.0.1:5000 -> 10.0.0.2:6000 [proto: 0/Unknown][IP: 0/Unknown]\n";
    char *path = write_text(out, ".out");
    weft_labels *L = weft_labels_new();
    weft_read_report r;
    weft_report_init(&r);
    char err[256];
    CU_ASSERT_EQUAL(weft_labels_load_ndpi(L, path, &r, err, sizeof err), 5);
    CU_ASSERT_EQUAL(weft_report_count(&r, "nDPI line: bad address"), 1);
    unlink(path);
    free(path);

    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_flow f;
    memset(&f, 0, sizeof f);
    /* reverse direction of line 1 */
    weft_ip_parse("178.62.197.130", &f.src);
    weft_ip_parse("192.168.1.13", &f.dst);
    f.sport = 443, f.dport = 53096, f.proto = 6;
    weft_flow_table_push(&t, &f);
    weft_ip_parse("2001:db8::1", &f.src);
    weft_ip_parse("2001:db8::2", &f.dst);
    f.sport = 0, f.dport = 0, f.proto = 58;
    weft_flow_table_push(&t, &f);
    f.proto = 17; /* same addresses, another protocol: no label */
    weft_flow_table_push(&t, &f);
    weft_ip_parse("10.0.0.1", &f.src);
    weft_ip_parse("10.0.0.2", &f.dst);
    f.sport = 5000, f.dport = 6000;
    weft_flow_table_push(&t, &f);
    /* nDPI writes SCTP without ports: the flow (with its ports) takes the line of its addresses */
    weft_ip_parse("10.28.6.44", &f.src);
    weft_ip_parse("10.28.6.43", &f.dst);
    f.sport = 2944, f.dport = 16384, f.proto = 132;
    weft_flow_table_push(&t, &f);
    weft_ip_parse("10.0.0.7", &f.src);
    weft_ip_parse("224.0.0.9", &f.dst);
    f.sport = 0, f.dport = 0, f.proto = 113;
    weft_flow_table_push(&t, &f);
    CU_ASSERT_EQUAL(weft_labels_apply(L, &t, 0, t.n), 5);
    CU_ASSERT_STRING_EQUAL(t.flows[4].detail, "SCTP");
    CU_ASSERT_STRING_EQUAL(t.flows[5].detail, "Unknown");
    CU_ASSERT_EQUAL(weft_labels_unmatched(L), 0);
    CU_ASSERT_STRING_EQUAL(t.flows[0].detail, "TLS.ntop");
    CU_ASSERT_STRING_EQUAL(t.flows[0].category, "Network");
    CU_ASSERT_STRING_EQUAL(t.flows[1].detail, "ICMPV6");
    CU_ASSERT_PTR_NULL(t.flows[2].detail);
    CU_ASSERT_STRING_EQUAL(t.flows[3].detail, "Unknown");
    CU_ASSERT_PTR_NULL(t.flows[3].category);
    weft_flow_table_free(&t);
    weft_labels_free(L);
}

static void test_helpers(void)
{
    weft_ip ip;
    char s[64];
    CU_ASSERT(weft_ip_parse("10.1.2.3", &ip));
    CU_ASSERT(weft_ip_is_v4(&ip));
    weft_ip_format(&ip, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "10.1.2.3");
    CU_ASSERT(weft_ip_parse("2001:db8::1", &ip));
    CU_ASSERT_FALSE(weft_ip_is_v4(&ip));
    weft_ip_format(&ip, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, "2001:db8::1");
    CU_ASSERT_FALSE(weft_ip_parse("10.1.2", &ip));
    CU_ASSERT_FALSE(weft_ip_parse("00:11:22:33:44:55", &ip));
    CU_ASSERT_EQUAL(weft_proto_from_name("ipv6-icmp"), 58);
    CU_ASSERT_EQUAL(weft_proto_from_name("TCP"), 6);
    CU_ASSERT_EQUAL(weft_proto_from_name("arp"), -1);
    CU_ASSERT_EQUAL(weft_proto_from_name("256"), -1);
    weft_flow_table t;
    weft_flow_table_init(&t);
    const char *a = weft_flow_table_intern(&t, "Benign");
    CU_ASSERT_PTR_EQUAL(a, weft_flow_table_intern(&t, "Benign"));
    CU_ASSERT_PTR_NOT_EQUAL(a, weft_flow_table_intern(&t, "Malicious"));
    weft_flow_table_free(&t);

    /* many distinct 5-tuples: the hash table grows and keeps every flow apart */
    weft_flow_table_init(&t);
    weft_flow_builder *b = weft_flow_builder_new(NULL, weft_flow_table_sink, &t);
    for (uint32_t i = 0; i < 100000; i++) {
        weft_pkt p;
        memset(&p, 0, sizeof p);
        p.ts = 1.0 + i * 1e-6;
        weft_ip_from_v4(&p.src, 0x0a000000u + i);
        weft_ip_from_v4(&p.dst, 0x08080808u);
        p.sport = (uint16_t)(i * 7), p.dport = 53, p.proto = 17, p.ip_version = 4, p.ip_len = 60;
        CU_ASSERT_EQUAL_FATAL(weft_flow_builder_add(b, &p), 0);
        p.ts += 0.5;
        weft_pkt q = p;
        q.src = p.dst, q.dst = p.src, q.sport = p.dport, q.dport = p.sport;
        CU_ASSERT_EQUAL_FATAL(weft_flow_builder_add(b, &q), 0);
    }
    /* every flow is still running when the input ends: all held, then all written */
    CU_ASSERT_EQUAL(weft_flow_builder_keys(b), 100000);
    CU_ASSERT_EQUAL(weft_flow_builder_finish(b), 0);
    CU_ASSERT_EQUAL(weft_flow_builder_keys(b), 0);
    CU_ASSERT_EQUAL(weft_flow_builder_peak(b), 100000);
    weft_flow_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(t.n, 100000);
    size_t bad = 0;
    for (size_t i = 0; i < t.n; i++)
        if (t.flows[i].fwd.packets != 1 || t.flows[i].bwd.packets != 1 || t.flows[i].dport != 53) bad++;
    CU_ASSERT_EQUAL(bad, 0);
    weft_flow_table_free(&t);
}

/* ---------- the shared data ---------- */

static char data_dir[1024];

static bool have_data(void)
{
    const char *env = getenv("WEFT_DATA_DIR");
    snprintf(data_dir, sizeof data_dir, "%s", env && *env ? env : "../shared/data");
    struct stat st;
    if (stat(data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("\n  SKIPPED: traffic data folder %s not found (set WEFT_DATA_DIR)\n", data_dir);
        return false;
    }
    return true;
}

typedef struct scan {
    size_t files, captures, logs, outs, failures;
    size_t flows;
} scan;

static void read_any(const char *path, scan *s)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (strcmp(base, "README.md") == 0) return;
    s->files++;
    char err[1024] = "";
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    int rc;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".out") == 0) {
        weft_labels *L = weft_labels_new();
        rc = weft_labels_load_ndpi(L, path, &r, err, sizeof err) < 0 ? -1 : 0;
        weft_labels_free(L);
        s->outs++;
    } else {
        weft_input_format f = weft_format_detect(path, false, err, sizeof err);
        if (f == WEFT_FMT_PCAP) {
            rc = weft_pcap_read_file(path, NULL, &t, &r, err, sizeof err);
            s->captures++;
        } else if (f == WEFT_FMT_AUTO) {
            rc = -1;
        } else {
            rc = weft_log_read_file(path, f, NULL, &t, &r, err, sizeof err);
            s->logs++;
        }
    }
    if (rc != 0) {
        s->failures++;
        printf("\n  FAILED to read %s: %s", path, err);
    }
    s->flows += t.n;
    weft_flow_table_free(&t);
}

static void scan_dir(const char *dir, scan *s, int depth)
{
    DIR *d = opendir(dir);
    if (!d || depth > 4) {
        if (d) closedir(d);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode))
            scan_dir(p, s, depth + 1);
        else if (S_ISREG(st.st_mode))
            read_any(p, s);
    }
    closedir(d);
}

static void test_all_data_reads(void)
{
    if (!have_data()) return;
    scan s = {0};
    scan_dir(data_dir, &s, 0);
    printf("\n  %zu files (%zu captures, %zu flow logs, %zu nDPI .out): %zu flows, %zu unreadable\n", s.files,
           s.captures, s.logs, s.outs, s.flows, s.failures);
    CU_ASSERT(s.files > 0);
    CU_ASSERT_EQUAL(s.failures, 0);
}

/*
 * Flow count against nDPI's own .out files. nDPI's reference outputs keep one flow per 5-tuple for the
 * whole capture (no idle or active timeout), while weft ends flows on the 120 s idle timeout and the
 * 1800 s active timeout; the captures with long-lived flows with gaps (keepalives every few minutes:
 * teamspeak3, gnutella, ipsec_isakmp_esp, avast, ...) therefore give more flows here (+7.3% measured).
 * With the timeouts disabled the two definitions agree: measured -0.09% (5,753 flows against 5,758
 * lines). What is left: CAPWAP data is not decapsulated (capwap*: nDPI lists the inner flows), fuzzed
 * captures whose TCP headers are shorter than 20 bytes (nDPI: a flow with ports 0) or whose IPv4 header
 * length is below 5, and first fragments reused for garbage (ip_fragmented_garbage).
 */
static void test_ndpi_flow_count(void)
{
    if (!have_data()) return;
    char pdir[1100], ldir[1100];
    snprintf(pdir, sizeof pdir, "%s/ndpi/pcap", data_dir);
    snprintf(ldir, sizeof ldir, "%s/ndpi/labels", data_dir);
    DIR *d = opendir(pdir);
    if (!d) {
        printf("\n  SKIPPED: %s not found\n", pdir);
        return;
    }
    size_t ours = 0, theirs = 0, ours_notimeout = 0, files = 0, labelled = 0;
    weft_flow_opts none;
    weft_flow_opts_default(&none);
    none.idle_timeout = 1e12;
    none.active_timeout = 1e12;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2300], lp[2300], err[1024];
        snprintf(p, sizeof p, "%s/%s", pdir, e->d_name);
        snprintf(lp, sizeof lp, "%s/%s.out", ldir, e->d_name);
        weft_flow_table t;
        weft_read_report r;
        weft_flow_table_init(&t);
        weft_report_init(&r);
        CU_ASSERT_EQUAL(weft_pcap_read_file(p, NULL, &t, &r, err, sizeof err), 0);
        weft_labels *L = weft_labels_new();
        long n = weft_labels_load_ndpi(L, lp, &r, err, sizeof err);
        if (n >= 0) {
            theirs += (size_t)n + weft_report_count(&r, "nDPI line: bad address") +
                      weft_report_count(&r, "nDPI line: unknown protocol");
            long h = weft_labels_apply(L, &t, 0, t.n);
            if (h > 0) labelled += (size_t)h;
        }
        weft_labels_free(L);
        ours += t.n;
        weft_flow_table_free(&t);
        weft_flow_table_init(&t);
        weft_report_init(&r);
        weft_pcap_read_file(p, &none, &t, &r, err, sizeof err);
        ours_notimeout += t.n;
        weft_flow_table_free(&t);
        files++;
    }
    closedir(d);
    double diff = theirs ? ((double)ours - (double)theirs) / (double)theirs : 0;
    double diff_nt = theirs ? ((double)ours_notimeout - (double)theirs) / (double)theirs : 0;
    printf("\n  nDPI captures: %zu files; flows: weft %zu (without timeouts %zu), nDPI .out %zu "
           "(difference %+.2f%%, without timeouts %+.2f%%); %zu weft flows got an nDPI label\n",
           files, ours, ours_notimeout, theirs, 100.0 * diff, 100.0 * diff_nt, labelled);
    CU_ASSERT(theirs > 0);
    /* measured: +7.29% with the default timeouts, -0.09% without, 6,167 flows labelled */
    CU_ASSERT(diff >= 0.0 && diff <= 0.075);
    CU_ASSERT(fabs(diff_nt) <= 0.005);
    CU_ASSERT(labelled >= 6150);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_flows", NULL, NULL);
    CU_add_test(s, "TCP session: handshake, data, FIN both sides, new SYN", test_tcp_session);
    CU_add_test(s, "TCP RST ends a flow", test_tcp_rst);
    CU_add_test(s, "TCP SYN retried after RST: one flow", test_tcp_syn_retry);
    CU_add_test(s, "IP length beyond the frame", test_ip_length_beyond_frame);
    CU_add_test(s, "stacked VLAN UDP exchange", test_vlan_udp);
    CU_add_test(s, "Linux SLL ICMP", test_sll_icmp);
    CU_add_test(s, "Linux SLL2 IPv6 UDP", test_sll2_ipv6_udp);
    CU_add_test(s, "raw IPv6 with extension headers", test_raw_ipv6_ext);
    CU_add_test(s, "tunnels: IP-in-IP, 6in4, GRE, ERSPAN, PPTP, VXLAN, Geneve, GTP-U, nesting", test_tunnels);
    CU_add_test(s, "truncated last record", test_truncated_last_record);
    CU_add_test(s, "unknown link type", test_unknown_link_type);
    CU_add_test(s, "timestamp going backwards", test_backwards_timestamp);
    CU_add_test(s, "idle and active timeouts", test_timeouts);
    CU_add_test(s, "IPv4 fragments", test_fragments);
    CU_add_test(s, "malformed frames", test_malformed);
    CU_add_test(s, "not a capture", test_not_a_capture);
    CU_add_test(s, "Zeek conn.log", test_zeek);
    CU_add_test(s, "Argus binetflow", test_binetflow);
    CU_add_test(s, "Wireshark conversations", test_wireshark);
    CU_add_test(s, "NetFlow CSV", test_netflow);
    CU_add_test(s, "CSV with a column map", test_mapped_csv);
    CU_add_test(s, "nDPI labels", test_ndpi_labels);
    CU_add_test(s, "addresses, names, interning, many flows", test_helpers);
    CU_add_test(s, "every data file reads", test_all_data_reads);
    CU_add_test(s, "flow count against nDPI", test_ndpi_flow_count);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
