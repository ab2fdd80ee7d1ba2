/* tests/unit/test_traffic_stream.c — flows written as they end: start order, bounded memory, the same
 * flows as reading everything first; inputs from gzip / zstd files and damaged compressed data. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "traffic/flow_builder.h"
#include "traffic/input.h"

static weft_pkt udp_pkt(double ts, uint32_t src, uint16_t sport)
{
    weft_pkt p;
    memset(&p, 0, sizeof p);
    p.ts = ts;
    weft_ip_from_v4(&p.src, src);
    weft_ip_from_v4(&p.dst, 0x08080808u);
    p.sport = sport, p.dport = 53, p.proto = 17, p.ip_version = 4, p.ip_len = 60;
    return p;
}

typedef struct collect {
    weft_flow_table t;
    size_t held_max; /* largest number of flows the builder held when a flow came out */
    weft_flow_builder *b;
    size_t stop_after; /* 0: never stop */
} collect;

static int collect_sink(const weft_flow *f, void *user)
{
    collect *c = user;
    if (weft_flow_table_push(&c->t, f)) return -1;
    if (c->stop_after && c->t.n == c->stop_after) return 7;
    return 0;
}

/* A long run of short DNS exchanges, each its own 5-tuple: flows end by the idle timeout while the
 * capture goes on, so the builder holds only the last idle_timeout seconds of them. */
static void test_bounded_memory(void)
{
    collect c;
    memset(&c, 0, sizeof c);
    weft_flow_table_init(&c.t);
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.idle_timeout = 10;
    weft_flow_builder *b = weft_flow_builder_new(&o, collect_sink, &c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    const uint32_t n = 200000; /* one new flow every 10 ms over 2000 s */
    for (uint32_t i = 0; i < n; i++) {
        weft_pkt p = udp_pkt(1000.0 + i * 0.01, 0x0a000000u + i, (uint16_t)(1024 + i % 60000));
        CU_ASSERT_EQUAL_FATAL(weft_flow_builder_add(b, &p), 0);
        weft_pkt q = p;
        q.ts += 0.002;
        q.src = p.dst, q.dst = p.src, q.sport = p.dport, q.dport = p.sport;
        CU_ASSERT_EQUAL_FATAL(weft_flow_builder_add(b, &q), 0);
    }
    /* ~10 s of flows at 100 per second are in flight, not 200,000 */
    CU_ASSERT(weft_flow_builder_peak(b) <= 1100);
    CU_ASSERT(weft_flow_builder_keys(b) <= 1100);
    CU_ASSERT(c.t.n >= n - 1100);
    CU_ASSERT_EQUAL(weft_flow_builder_finish(b), 0);
    CU_ASSERT_EQUAL(weft_flow_builder_keys(b), 0);
    weft_flow_builder_free(b);
    CU_ASSERT_EQUAL_FATAL(c.t.n, n);
    size_t bad = 0;
    for (size_t i = 0; i < c.t.n; i++) {
        const weft_flow *f = &c.t.flows[i];
        if (f->fwd.packets != 1 || f->bwd.packets != 1 || fabs(f->duration - 0.002) > 1e-9) bad++;
        if (i && !(f->start > c.t.flows[i - 1].start)) bad++; /* start order */
    }
    CU_ASSERT_EQUAL(bad, 0);
    weft_flow_table_free(&c.t);
}

/* A flow that lasts keeps younger flows waiting (output in start order), and the same 5-tuple after an
 * idle gap is a second flow, written after the flows that started between them. */
static void test_start_order_and_reuse(void)
{
    collect c;
    memset(&c, 0, sizeof c);
    weft_flow_table_init(&c.t);
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.idle_timeout = 5;
    o.active_timeout = 1000;
    weft_flow_builder *b = weft_flow_builder_new(&o, collect_sink, &c);
    /* A: a keep-alive every 2 s for 100 s; B..: one-packet flows every second */
    for (int s = 0; s <= 100; s++) {
        if (s % 2 == 0) {
            weft_pkt a = udp_pkt(s, 0x01010101u, 7);
            CU_ASSERT_EQUAL(weft_flow_builder_add(b, &a), 0);
        }
        weft_pkt x = udp_pkt(s + 0.5, 0x02000000u + (uint32_t)(s % 3), 9); /* three tuples reused */
        CU_ASSERT_EQUAL(weft_flow_builder_add(b, &x), 0);
    }
    /* the keep-alive is still running: everything after it waits, so nothing was written yet */
    CU_ASSERT_EQUAL(c.t.n, 0);
    CU_ASSERT(weft_flow_builder_peak(b) >= 4);
    /* time passes with no packet: every flow ends, oldest first */
    CU_ASSERT_EQUAL(weft_flow_builder_expire(b, 200.0), 0);
    CU_ASSERT_EQUAL(c.t.n, 4); /* A and the three reused tuples (gaps of 3 s < 5 s idle) */
    CU_ASSERT_EQUAL(c.t.flows[0].fwd.packets, 51);
    CU_ASSERT_DOUBLE_EQUAL(c.t.flows[0].duration, 100.0, 1e-9);
    for (size_t i = 1; i < c.t.n; i++) CU_ASSERT(c.t.flows[i].start > c.t.flows[i - 1].start);
    /* the same tuple after the gap is a new flow */
    weft_pkt a = udp_pkt(300, 0x01010101u, 7);
    CU_ASSERT_EQUAL(weft_flow_builder_add(b, &a), 0);
    CU_ASSERT_EQUAL(weft_flow_builder_finish(b), 0);
    CU_ASSERT_EQUAL(c.t.n, 5);
    CU_ASSERT_DOUBLE_EQUAL(c.t.flows[4].start, 300.0, 1e-9);
    weft_flow_builder_free(b);
    weft_flow_table_free(&c.t);
}

/* A sink that says stop: the builder call returns its value and the builder stays usable. */
static void test_sink_stops(void)
{
    collect c;
    memset(&c, 0, sizeof c);
    weft_flow_table_init(&c.t);
    c.stop_after = 3;
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    o.idle_timeout = 1;
    weft_flow_builder *b = weft_flow_builder_new(&o, collect_sink, &c);
    int rc = 0;
    for (int i = 0; i < 20 && !rc; i++) {
        weft_pkt p = udp_pkt(i * 10.0, 0x0a000000u + (uint32_t)i, 5);
        rc = weft_flow_builder_add(b, &p);
    }
    CU_ASSERT_EQUAL(rc, 7);
    CU_ASSERT_EQUAL(c.t.n, 3);
    weft_flow_builder_free(b);
    weft_flow_table_free(&c.t);
}

/* ---------- compressed inputs ---------- */

static char *tmp_path(const char *suffix)
{
    static char p[256];
    snprintf(p, sizeof p, "/tmp/weft_stream_%d_%s", (int)getpid(), suffix);
    return p;
}

static void write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(d, 1, n, f), n);
    fclose(f);
}

/* Reads everything; returns bytes read, sets *err_seen when the stream reported an error. */
static size_t read_all(const char *path, char *out, size_t cap, weft_compression *comp, bool *err_seen)
{
    char err[256];
    FILE *f = weft_input_open(path, comp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(out, 1, cap, f);
    *err_seen = ferror(f) != 0;
    fclose(f);
    return n;
}

static void test_compressed(void)
{
    enum { N = 300000 };
    char *plain = malloc(N), *got = malloc(N + 16);
    for (size_t i = 0; i < N; i++) plain[i] = (char)("flows,graphs\n"[i % 13] + (i / 4096) % 3);
    /* gzip: two members back to back, as `cat a.gz b.gz` makes */
    uLongf cap = compressBound(N) + 64;
    unsigned char *gz = malloc(2 * cap);
    size_t gzn = 0;
    for (int m = 0; m < 2; m++) {
        z_stream z;
        memset(&z, 0, sizeof z);
        CU_ASSERT_EQUAL_FATAL(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)plain + m * (N / 2);
        z.avail_in = N / 2;
        z.next_out = gz + gzn;
        z.avail_out = (uInt)cap;
        CU_ASSERT_EQUAL(deflate(&z, Z_FINISH), Z_STREAM_END);
        gzn += z.total_out;
        deflateEnd(&z);
    }
    weft_compression comp;
    bool e;
    const char *p = tmp_path("a.gz");
    write_file(p, gz, gzn);
    CU_ASSERT_EQUAL(read_all(p, got, N + 16, &comp, &e), N);
    CU_ASSERT_EQUAL(comp, WEFT_COMP_GZIP);
    CU_ASSERT_FALSE(e);
    CU_ASSERT(memcmp(got, plain, N) == 0);
    /* cut short: what was decompressed comes out, then an error */
    write_file(p, gz, gzn / 3);
    size_t n = read_all(p, got, N + 16, &comp, &e);
    CU_ASSERT(n < N);
    CU_ASSERT_TRUE(e);
    CU_ASSERT(memcmp(got, plain, n) == 0);
    /* corrupted in the middle: an error, never a crash */
    memcpy(got, gz, gzn);
    for (size_t i = gzn / 2; i < gzn / 2 + 64; i++) got[i] ^= 0x5a;
    write_file(p, got, gzn);
    read_all(p, got, N + 16, &comp, &e);
    CU_ASSERT_TRUE(e);
    unlink(p);

    /* zstd: one frame */
    size_t zcap = ZSTD_compressBound(N);
    unsigned char *zs = malloc(zcap);
    size_t zn = ZSTD_compress(zs, zcap, plain, N, 3);
    CU_ASSERT_FALSE_FATAL(ZSTD_isError(zn));
    p = tmp_path("a.zst");
    write_file(p, zs, zn);
    CU_ASSERT_EQUAL(read_all(p, got, N + 16, &comp, &e), N);
    CU_ASSERT_EQUAL(comp, WEFT_COMP_ZSTD);
    CU_ASSERT_FALSE(e);
    CU_ASSERT(memcmp(got, plain, N) == 0);
    write_file(p, zs, zn - 10);
    n = read_all(p, got, N + 16, &comp, &e);
    CU_ASSERT_TRUE(e);
    CU_ASSERT(n < N);
    unlink(p);

    /* plain and empty files pass through; a missing file is an error naming it */
    p = tmp_path("plain");
    write_file(p, plain, 3);
    CU_ASSERT_EQUAL(read_all(p, got, N, &comp, &e), 3);
    CU_ASSERT_EQUAL(comp, WEFT_COMP_NONE);
    write_file(p, plain, 0);
    CU_ASSERT_EQUAL(read_all(p, got, N, &comp, &e), 0);
    unlink(p);
    char err[256];
    CU_ASSERT_PTR_NULL(weft_input_open("/nonexistent/weft.pcap.gz", NULL, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/weft.pcap.gz"));
    CU_ASSERT_EQUAL(weft_input_peek("-", got, 4, err, sizeof err), -1);
    free(plain);
    free(got);
    free(gz);
    free(zs);
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_stream", NULL, NULL);
    CU_add_test(s, "flows end while the capture goes on: bounded memory", test_bounded_memory);
    CU_add_test(s, "start order, a long flow holds younger ones, reuse after a gap", test_start_order_and_reuse);
    CU_add_test(s, "a sink that stops", test_sink_stops);
    CU_add_test(s, "gzip and zstd inputs, cut short and corrupted", test_compressed);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned f = CU_get_number_of_failures();
    CU_cleanup_registry();
    return f ? 1 : 0;
}
