/* tests/unit/test_traffic_graph.c — flow CSV, feature scaling, positional encodings and the graph builder,
 * checked against values worked out by hand (schemas/traffic_graph.md, traffic/graph.h). */
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traffic/features.h"
#include "traffic/flow_csv.h"
#include "traffic/graph.h"

static char tmpdir[] = "/tmp/weft_tg_XXXXXX";

static void tmp_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

static weft_flow mkflow(const char *src, const char *dst, unsigned sport, unsigned dport, unsigned proto,
                        double start, double duration)
{
    weft_flow f;
    memset(&f, 0, sizeof f);
    CU_ASSERT(weft_ip_parse(src, &f.src));
    CU_ASSERT(weft_ip_parse(dst, &f.dst));
    f.sport = (uint16_t)sport;
    f.dport = (uint16_t)dport;
    f.proto = (uint8_t)proto;
    f.ip_version = weft_ip_is_v4(&f.src) ? 4 : 6;
    f.start = start;
    f.duration = duration;
    return f;
}

/* ---------------- flow CSV ---------------- */

static bool same_dir(const weft_flow_dir *a, const weft_flow_dir *b)
{
    return a->packets == b->packets && a->bytes == b->bytes && a->min_size == b->min_size &&
           a->max_size == b->max_size && memcmp(&a->mean_iat, &b->mean_iat, sizeof(double)) == 0 &&
           a->flags == b->flags && memcmp(&a->first, &b->first, sizeof(double)) == 0 &&
           memcmp(&a->last, &b->last, sizeof(double)) == 0;
}

static bool same_str(const char *a, const char *b)
{
    if (!a || !b) return a == b;
    return strcmp(a, b) == 0;
}

static void test_csv_round_trip(void)
{
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_flow f = mkflow("192.168.1.10", "8.8.8.8", 51515, 53, 17, 1700000000.123456789, 0.1);
    f.fwd = (weft_flow_dir){3, 250, 60, 110, 0.05, 0, 1700000000.123456789, 1700000000.2234567};
    f.bwd = (weft_flow_dir){1, 4000000000ULL, 4000000000U, 4000000000U, 0, 0, 1.5, 1.5};
    f.has_stats = true;
    f.label = weft_flow_table_intern(&t, "Malicious, \"botnet\"\nline two");
    f.detail = weft_flow_table_intern(&t, ""); /* known and empty: must stay "" */
    f.category = NULL;                          /* unknown: must stay NULL */
    CU_ASSERT_EQUAL(weft_flow_table_push(&t, &f), 0);
    weft_flow g = mkflow("2001:db8::1", "fe80::2", 0, 0, 58, 1e-300, 1.0 / 3.0);
    g.fwd.flags = WEFT_TCP_SYN | WEFT_TCP_ACK;
    g.bwd.flags = 0xff;
    g.fwd.mean_iat = 0.1 + 0.2;
    g.label = weft_flow_table_intern(&t, "Benign");
    g.category = weft_flow_table_intern(&t, "Web");
    CU_ASSERT_EQUAL(weft_flow_table_push(&t, &g), 0);

    char path[256];
    tmp_path(path, sizeof path, "round.csv");
    FILE *o = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    CU_ASSERT_EQUAL(weft_flow_csv_write(o, &t), 0);
    fclose(o);

    weft_flow_table u;
    weft_flow_table_init(&u);
    weft_read_report rep;
    weft_report_init(&rep);
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(weft_flow_csv_read(path, &u, &rep, err, sizeof err), 0);
    CU_ASSERT_EQUAL(rep.records, 2);
    CU_ASSERT_EQUAL(rep.skipped, 0);
    CU_ASSERT_EQUAL(rep.warnings, 1); /* the second flow starts before the first */
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_OUT_OF_ORDER), 1);
    CU_ASSERT_EQUAL_FATAL(u.n, 2);
    for (size_t i = 0; i < 2; i++) {
        const weft_flow *a = &t.flows[i], *b = &u.flows[i];
        CU_ASSERT(memcmp(&a->src, &b->src, sizeof a->src) == 0);
        CU_ASSERT(memcmp(&a->dst, &b->dst, sizeof a->dst) == 0);
        CU_ASSERT_EQUAL(a->sport, b->sport);
        CU_ASSERT_EQUAL(a->dport, b->dport);
        CU_ASSERT_EQUAL(a->proto, b->proto);
        CU_ASSERT_EQUAL(a->ip_version, b->ip_version);
        CU_ASSERT(memcmp(&a->start, &b->start, sizeof(double)) == 0);
        CU_ASSERT(memcmp(&a->duration, &b->duration, sizeof(double)) == 0);
        CU_ASSERT(same_dir(&a->fwd, &b->fwd));
        CU_ASSERT(same_dir(&a->bwd, &b->bwd));
        CU_ASSERT_EQUAL(a->has_stats, b->has_stats);
        CU_ASSERT(same_str(a->label, b->label));
        CU_ASSERT(same_str(a->detail, b->detail));
        CU_ASSERT(same_str(a->category, b->category));
    }
    CU_ASSERT_EQUAL(u.flows[1].ip_version, 6);
    CU_ASSERT_PTR_NULL(u.flows[0].category);
    CU_ASSERT_PTR_NOT_NULL(u.flows[0].detail);
    weft_flow_table_free(&t);
    weft_flow_table_free(&u);
}

static bool has_problem(const weft_read_report *r, const char *needle)
{
    for (int i = 0; i < r->n_problems; i++)
        if (strstr(r->problems[i], needle)) return true;
    return false;
}

static void test_csv_malformed(void)
{
    char path[256];
    tmp_path(path, sizeof path, "bad.csv");
    /* Columns in a different order than the writer's, some absent (optional): reading is by name. */
    write_file(path,
               "start,src,dst,sport,dport,proto,duration,fwd_packets,fwd_first,fwd_last,label\r\n"
               "1.5,10.0.0.1,10.0.0.2,1,2,6,0.5,3,1.5,2.0,ok\r\n"          /* line 2: good */
               "1.6,10.0.0.999,10.0.0.2,1,2,6,0.5,3,1.5,2.0,x\n"          /* 3: bad address */
               "1.7,10.0.0.1,10.0.0.2,1,2,6\n"                             /* 4: too few fields */
               "\n"                                                        /* 5: blank, ignored */
               "1.8,10.0.0.1,10.0.0.2,1,2,6,-0.5,3,1.5,2.0,x\n"           /* 6: negative duration */
               "1.9,10.0.0.1,10.0.0.2,1,2,6,0.5,3,2.0,1.5,x\n"            /* 7: last before first */
               "2.0,10.0.0.1,10.0.0.2,70000,2,6,0.5,3,1.5,2.0,x\n"        /* 8: port out of range */
               "2.1,10.0.0.1,10.0.0.2,1,2,6,0.5,-3,1.5,2.0,x\n"           /* 9: negative count */
               "1.0,10.0.0.3,10.0.0.2,1,2,17,0.5,3,1.5,2.0,\"a,\"\"b\"\"\"\n" /* 10: good, earlier start */
               "2.2,10.0.0.1,10.0.0.2,1,2,6,0.5,3,1.5,2.0,\"x\"y\n"        /* 11: text after quote */
               "2.3,10.0.0.1,10.0.0.2,1,2,6,nan,3,1.5,2.0,x\n"            /* 12: not finite */
               "2.4,10.0.0.1,10.0.0.2,1,2,6,0.5,3,1.5,2.0,\"never ends\n"); /* 13: unterminated */
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report rep;
    weft_report_init(&rep);
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(weft_flow_csv_read(path, &t, &rep, err, sizeof err), 0);
    CU_ASSERT_EQUAL(rep.files, 1);
    CU_ASSERT_EQUAL(rep.records, 11); /* the blank line is not a record */
    CU_ASSERT_EQUAL(rep.skipped, 9);
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_BAD_FIELD), 4);
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_WRONG_COLUMNS), 1);
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_BACKWARDS), 2);
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_BAD_QUOTE), 2);
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_OUT_OF_ORDER), 1);
    /* 30 known columns, 11 present: 19 optional ones missing. */
    CU_ASSERT_EQUAL(weft_report_count(&rep, WEFT_CSV_MISSING_COLUMN), 19);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].fwd.packets, 3);
    CU_ASSERT_EQUAL(t.flows[0].fwd.bytes, 0); /* absent column: 0 */
    CU_ASSERT_STRING_EQUAL(t.flows[0].label, "ok");
    CU_ASSERT_STRING_EQUAL(t.flows[1].label, "a,\"b\"");
    CU_ASSERT_EQUAL(t.flows[1].proto, 17);
    CU_ASSERT_EQUAL(t.flows[1].ip_version, 4); /* from the address */
    weft_flow_table_free(&t);

    /* The problems name the file and line; the first ten are kept (19 warnings come first, so read again
     * with a header that has every column to see the row problems). */
    weft_flow_table_init(&t);
    write_file(path,
               "src,dst,sport,dport,proto,ip_version,start,duration,fwd_packets,fwd_bytes,fwd_min_size,"
               "fwd_max_size,fwd_mean_size,fwd_mean_iat,fwd_flags,fwd_first,fwd_last,bwd_packets,bwd_bytes,"
               "bwd_min_size,bwd_max_size,bwd_mean_size,bwd_mean_iat,bwd_flags,bwd_first,bwd_last,has_stats,"
               "label,detail,category\n"
               "10.0.0.1,10.0.0.2,1,2,6,4,0,1,1,60,60,60,60,0,2,0,0,0,0,0,0,0,0,0,0,0,1,,,\n"
               "10.0.0.1,10.0.0.2,1,2,6,5,0,1,1,60,60,60,60,0,2,0,0,0,0,0,0,0,0,0,0,0,1,,,\n"
               "10.0.0.1,10.0.0.2,1,2,6,4,0,1,1,60,70,60,60,0,2,0,0,0,0,0,0,0,0,0,0,0,1,,,\n"
               "10.0.0.1,10.0.0.2,1,2,6,4,0,1,1,60,60,60,60,0,256,0,0,0,0,0,0,0,0,0,0,0,1,,,\n");
    weft_report_init(&rep);
    CU_ASSERT_EQUAL_FATAL(weft_flow_csv_read(path, &t, &rep, err, sizeof err), 0);
    CU_ASSERT_EQUAL(t.n, 1);
    CU_ASSERT_EQUAL(rep.skipped, 3);
    CU_ASSERT_EQUAL(rep.warnings, 0);
    CU_ASSERT(has_problem(&rep, "bad.csv: line 3: malformed field"));
    CU_ASSERT(has_problem(&rep, "ip_version '5'"));
    CU_ASSERT(has_problem(&rep, "line 4: malformed field (skipped): fwd_min_size 70 exceeds fwd_max_size 60"));
    CU_ASSERT(has_problem(&rep, "line 5: malformed field (skipped): fwd_flags '256'"));
    CU_ASSERT(t.flows[0].has_stats);
    weft_flow_table_free(&t);

    /* Fatal: no such file, empty file, required column missing. */
    weft_flow_table_init(&t);
    weft_report_init(&rep);
    tmp_path(path, sizeof path, "missing.csv");
    CU_ASSERT_EQUAL(weft_flow_csv_read(path, &t, &rep, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "missing.csv"));
    tmp_path(path, sizeof path, "empty.csv");
    write_file(path, "");
    CU_ASSERT_EQUAL(weft_flow_csv_read(path, &t, &rep, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "no header"));
    tmp_path(path, sizeof path, "nostart.csv");
    write_file(path, "src,dst\n1.2.3.4,5.6.7.8\n");
    CU_ASSERT_EQUAL(weft_flow_csv_read(path, &t, &rep, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'start'"));
    CU_ASSERT_EQUAL(t.n, 0);
    weft_flow_table_free(&t);
}

/* ---------------- features ---------------- */

static void test_flow_stats(void)
{
    weft_flow f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 100.0, 2.0);
    f.fwd = (weft_flow_dir){3, 300, 40, 200, 0.5, WEFT_TCP_SYN | WEFT_TCP_ACK, 100.0, 101.0};
    f.bwd = (weft_flow_dir){2, 100, 30, 70, 1.0, WEFT_TCP_FIN, 100.5, 101.5};
    double s[WEFT_FEAT_NSTATS];
    weft_flow_stats(&f, s);
    const double want[WEFT_FEAT_NSTATS] = {
        2.0,                                   /* duration */
        5, 400, 30, 200, 80, 0.5,              /* bidir: mean size 400/5, iat 2/(5-1) */
        3, 300, 40, 200, 100, 0.5,             /* fwd */
        2, 100, 30, 70, 50, 1.0,               /* bwd */
        0x13, 0x12, 0x01,                      /* flags */
        200, 2.5,                              /* rates: 400/2, 5/2 */
    };
    for (int i = 0; i < WEFT_FEAT_NSTATS; i++) CU_ASSERT_EQUAL(s[i], want[i]);
    /* No backward packets: its min/max/mean are 0, bidir min/max come from fwd alone; zero duration: rates 0. */
    f.bwd = (weft_flow_dir){0};
    f.duration = 0;
    weft_flow_stats(&f, s);
    CU_ASSERT_EQUAL(s[3], 40);
    CU_ASSERT_EQUAL(s[4], 200);
    CU_ASSERT_EQUAL(s[6], 0);
    CU_ASSERT_EQUAL(s[15], 0);
    CU_ASSERT_EQUAL(s[17], 0);
    CU_ASSERT_EQUAL(s[22], 0);
    CU_ASSERT_EQUAL(s[23], 0);
}

static void test_scaler(void)
{
    /* 101 flows with duration 0..100: the 3% and 97% quantiles are exactly 3 and 97. Packets (fwd) 0..10
     * repeated: position 0.03*100 = 3 -> sorted value 0, 0.97*100 = 97 -> 10. */
    weft_flow fl[101];
    for (int i = 0; i < 101; i++) {
        fl[i] = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 0, (double)i);
        fl[i].fwd.packets = (uint64_t)(i % 11);
    }
    weft_scaler sc;
    char err[200] = "";
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, fl, 101, 0.03, 0.97, err, sizeof err), 0);
    CU_ASSERT_EQUAL(sc.lo[0], 3.0);
    CU_ASSERT_EQUAL(sc.hi[0], 97.0);
    CU_ASSERT_EQUAL(sc.lo[7], 0.0);
    CU_ASSERT_EQUAL(sc.hi[7], 10.0);
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 0, 50.0), (float)(47.0 / 94.0));
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 0, 3.0), 0.0f);
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 0, -7.0), 0.0f);  /* clipped below */
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 0, 99.0), 1.0f);  /* clipped above */
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 7, 5.0), 0.5f);
    /* Constant column (bwd packets all 0): 0 at or below, 1 above. */
    CU_ASSERT_EQUAL(sc.lo[13], 0.0);
    CU_ASSERT_EQUAL(sc.hi[13], 0.0);
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 13, 0.0), 0.0f);
    CU_ASSERT_EQUAL(weft_scaler_apply(&sc, 13, 2.0), 1.0f);

    /* Interpolation between ranks: durations 0..10, position 0.3 and 9.7. */
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, fl, 11, 0.03, 0.97, err, sizeof err), 0);
    CU_ASSERT_DOUBLE_EQUAL(sc.lo[0], 0.3, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(sc.hi[0], 9.7, 1e-12);
    double x[4] = {1, 2, 4, 8};
    CU_ASSERT_EQUAL(weft_quantile_sorted(x, 4, 0.5), 3.0);  /* position 1.5 */
    CU_ASSERT_EQUAL(weft_quantile_sorted(x, 4, 0.0), 1.0);
    CU_ASSERT_EQUAL(weft_quantile_sorted(x, 4, 1.0), 8.0);
    CU_ASSERT_EQUAL(weft_quantile_sorted(x, 1, 0.97), 1.0);

    /* Save / load gives the same bits. */
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, fl, 101, 0.03, 0.97, err, sizeof err), 0);
    sc.lo[5] = 0.1 + 0.2; /* a value %.6g would not keep */
    sc.hi[5] = 1.0 / 3.0;
    char path[256];
    tmp_path(path, sizeof path, "scaler.txt");
    CU_ASSERT_EQUAL_FATAL(weft_scaler_save(&sc, path, err, sizeof err), 0);
    weft_scaler back;
    memset(&back, 0, sizeof back);
    CU_ASSERT_EQUAL_FATAL(weft_scaler_load(&back, path, err, sizeof err), 0);
    CU_ASSERT(memcmp(&sc, &back, sizeof sc) == 0);

    /* Refusals: no flows, bad quantiles, bad files. */
    CU_ASSERT_EQUAL(weft_scaler_fit(&sc, fl, 0, 0.03, 0.97, err, sizeof err), -1);
    CU_ASSERT_EQUAL(weft_scaler_fit(&sc, fl, 5, 0.9, 0.1, err, sizeof err), -1);
    write_file(path, "weft-scaler 2\n");
    CU_ASSERT_EQUAL(weft_scaler_load(&back, path, err, sizeof err), -1);
    write_file(path, "weft-scaler 1\nquantiles 0.03 0.97\nduration 5 1\n");
    CU_ASSERT_EQUAL(weft_scaler_load(&back, path, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":3:"));
    write_file(path, "weft-scaler 1\nquantiles 0.03 0.97\nduration 0 1\n");
    CU_ASSERT_EQUAL(weft_scaler_load(&back, path, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":4:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bi_packets"));
}

static void test_pos_encoding(void)
{
    float pe[30];
    weft_pos_encoding(0.0, 30, pe);
    for (int i = 0; i < 30; i++) CU_ASSERT_EQUAL(pe[i], (i % 2) ? 1.0f : 0.0f);
    /* p = 1: sin/cos of 1, of 10000^(-2/30) = 0.541169526546..., and of 10000^(-28/30). */
    weft_pos_encoding(1.0, 30, pe);
    CU_ASSERT_DOUBLE_EQUAL(pe[0], 0.8414709848078965, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(pe[1], 0.5403023058681398, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(pe[2], 0.5151387, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(pe[3], 0.8571068, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(pe[28], 1.8478498e-4, 1e-9);
    CU_ASSERT_EQUAL(pe[29], 1.0f);
    /* The exact definition, element by element, for a larger position. */
    weft_pos_encoding(37.0, 30, pe);
    for (int i = 0; i < 15; i++) {
        double w = 37.0 / pow(10000.0, 2.0 * i / 30.0);
        CU_ASSERT_EQUAL(pe[2 * i], (float)sin(w));
        CU_ASSERT_EQUAL(pe[2 * i + 1], (float)cos(w));
    }
    float row[WEFT_FEAT_IP_DIM];
    weft_ip_features(1, row);
    CU_ASSERT_EQUAL(row[0], 1.0f);
    CU_ASSERT_DOUBLE_EQUAL(row[1], 0.8414709848078965, 1e-7);
}

static void test_con_features_onehot(void)
{
    weft_scaler sc;
    for (int i = 0; i < WEFT_FEAT_NSTATS; i++) sc.lo[i] = 0, sc.hi[i] = 10;
    sc.q_lo = 0.03, sc.q_hi = 0.97;
    struct { const char *src, *dst; unsigned proto; float oh[6]; } cases[] = {
        {"10.0.0.1", "10.0.0.2", 6, {1, 0, 0, 0, 1, 0}},
        {"10.0.0.1", "10.0.0.2", 17, {0, 1, 0, 0, 1, 0}},
        {"10.0.0.1", "10.0.0.2", 1, {0, 0, 1, 0, 1, 0}},
        {"2001:db8::1", "2001:db8::2", 58, {0, 0, 1, 0, 0, 1}},
        {"2001:db8::1", "2001:db8::2", 47, {0, 0, 0, 1, 0, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        weft_flow f = mkflow(cases[c].src, cases[c].dst, 1, 2, cases[c].proto, 0, 4.0);
        float row[WEFT_FEAT_CON_DIM];
        weft_con_features(&sc, &f, 3, NULL, row);
        CU_ASSERT_EQUAL(row[0], 0.4f); /* duration 4 in [0, 10] */
        for (int k = 0; k < 6; k++) CU_ASSERT_EQUAL(row[WEFT_FEAT_PROTO + k], cases[c].oh[k]);
        float pe[30];
        weft_pos_encoding(3, 30, pe);
        CU_ASSERT(memcmp(row + WEFT_FEAT_CON_PE, pe, sizeof pe) == 0);
    }
}

/* ---------------- graph builder ---------------- */

/* A copy of one graph. */
typedef struct gcopy {
    int64_t first_window;
    size_t window_flows[8];
    bool window_dropped[8];
    size_t nn[WEFT_NODE_TYPES], ne[WEFT_EDGE_TYPES];
    float *x_con, *x_ip;
    int64_t *e[WEFT_EDGE_TYPES];
    size_t *con_flow;
    int *con_slice, *ip_slice;
    weft_ip *ip_addr;
} gcopy;

typedef struct gset {
    gcopy g[8];
    size_t n;
} gset;

static void *memdup(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (n) memcpy(q, p, n);
    return q;
}

/* Counts the graphs (collect keeps the first 8 only). */
static int count_graphs(const weft_tgraph *g, void *user)
{
    (void)g;
    ++*(size_t *)user;
    return 0;
}

static int collect(const weft_tgraph *g, void *user)
{
    gset *s = user;
    if (s->n == 8) return 7;
    gcopy *c = &s->g[s->n++];
    memset(c, 0, sizeof *c);
    c->first_window = g->first_window;
    for (int i = 0; i < g->n_slices && i < 8; i++) {
        c->window_flows[i] = g->window_flows[i];
        c->window_dropped[i] = g->window_dropped[i];
    }
    size_t ncn = g->num_nodes[WEFT_NODE_CON], nip = g->num_nodes[WEFT_NODE_IP];
    c->nn[0] = ncn;
    c->nn[1] = nip;
    c->x_con = memdup(g->x_con, ncn * WEFT_FEAT_CON_DIM * sizeof(float));
    c->x_ip = memdup(g->x_ip, nip * WEFT_FEAT_IP_DIM * sizeof(float));
    c->con_flow = memdup(g->con_flow, ncn * sizeof(size_t));
    c->con_slice = memdup(g->con_slice, ncn * sizeof(int));
    c->ip_slice = memdup(g->ip_slice, nip * sizeof(int));
    c->ip_addr = memdup(g->ip_addr, nip * sizeof(weft_ip));
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        c->ne[e] = g->num_edges[e];
        c->e[e] = memdup(g->edge_index[e], 2 * g->num_edges[e] * sizeof(int64_t));
    }
    return 0;
}

static void gset_free(gset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        gcopy *c = &s->g[i];
        free(c->x_con), free(c->x_ip), free(c->con_flow), free(c->con_slice), free(c->ip_slice), free(c->ip_addr);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++) free(c->e[e]);
    }
    s->n = 0;
}

static void check_edges(const gcopy *c, int type, const int64_t *src, const int64_t *dst, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(c->ne[type], n);
    for (size_t i = 0; i < n; i++) {
        if (c->e[type][i] != src[i] || c->e[type][n + i] != dst[i]) {
            fprintf(stderr, "\n%s edge %zu: got (%lld,%lld), want (%lld,%lld)\n", weft_edge_type_names[type], i,
                    (long long)c->e[type][i], (long long)c->e[type][n + i], (long long)src[i], (long long)dst[i]);
            CU_FAIL("edge differs");
        }
    }
}

/*
 * Six flows over A = 10.0.0.1, B = 10.0.0.2, C = 10.0.0.3; windows of 5 s from 0; two slices per graph.
 *   f0 A->B tcp 1000->80  start 0.0 dur 1  window 0
 *   f1 A->C udp 1001->53  start 1.0 dur 0  window 0
 *   f2 B->C tcp 2000->443 start 2.0 dur 4  windows 0 and 1 (ends at 6)
 *   f3 A->B tcp 1000->80  start 6.0 dur 1  window 1 (same 5-tuple as f0)
 *   f4 C->A icmp          start 7.0 dur 0  window 1
 *   f5 A->C udp 1002->53  start 0.5 dur 0  window 0 (before f1 in time, after it in the table)
 * con nodes (slice, then start): 0 f0, 1 f5, 2 f1, 3 f2 | 4 f2, 5 f3, 6 f4; positions 0 1 2 3 | 0 1 2.
 * ip nodes (slice, then address): 0 A, 1 B, 2 C | 3 A, 4 B, 5 C.
 */
static void six_flows(weft_flow_table *t)
{
    weft_flow_table_init(t);
    weft_flow f[6] = {
        mkflow("10.0.0.1", "10.0.0.2", 1000, 80, 6, 0.0, 1.0),
        mkflow("10.0.0.1", "10.0.0.3", 1001, 53, 17, 1.0, 0.0),
        mkflow("10.0.0.2", "10.0.0.3", 2000, 443, 6, 2.0, 4.0),
        mkflow("10.0.0.1", "10.0.0.2", 1000, 80, 6, 6.0, 1.0),
        mkflow("10.0.0.3", "10.0.0.1", 0, 0, 1, 7.0, 0.0),
        mkflow("10.0.0.1", "10.0.0.3", 1002, 53, 17, 0.5, 0.0),
    };
    f[0].fwd.packets = 3, f[0].bwd.packets = 2; /* 5 packets: 0.5 of [0, 10] */
    for (int i = 0; i < 6; i++) CU_ASSERT_EQUAL(weft_flow_table_push(t, &f[i]), 0);
}

static void unit_scaler(weft_scaler *sc)
{
    for (int i = 0; i < WEFT_FEAT_NSTATS; i++) sc->lo[i] = 0, sc->hi[i] = 10;
    sc->q_lo = 0.03, sc->q_hi = 0.97;
}

static void test_graph_by_hand(void)
{
    weft_flow_table t;
    six_flows(&t);
    weft_scaler sc;
    unit_scaler(&sc);
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    CU_ASSERT_EQUAL(p.window, 5.0);
    CU_ASSERT_EQUAL(p.window_memory, 5);
    CU_ASSERT_EQUAL(p.flow_memory, 20);
    CU_ASSERT_EQUAL(p.max_flows, 10000);
    p.window_memory = 2;
    gset s = {0};
    weft_tgraph_stats st;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.flows, 6);
    CU_ASSERT_EQUAL(st.memberships, 7);
    CU_ASSERT_EQUAL(st.windows, 2);
    CU_ASSERT_EQUAL(st.windows_dropped, 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    const gcopy *c = &s.g[0];
    CU_ASSERT_EQUAL(c->first_window, 0);
    CU_ASSERT_EQUAL(c->window_flows[0], 4);
    CU_ASSERT_EQUAL(c->window_flows[1], 3);
    CU_ASSERT_EQUAL_FATAL(c->nn[WEFT_NODE_CON], 7);
    CU_ASSERT_EQUAL_FATAL(c->nn[WEFT_NODE_IP], 6);
    const size_t want_flow[7] = {0, 5, 1, 2, 2, 3, 4};
    const int want_slice[7] = {0, 0, 0, 0, 1, 1, 1};
    const size_t want_pos[7] = {0, 1, 2, 3, 0, 1, 2};
    const float want_proto[7][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 1, 0, 0}, {1, 0, 0, 0},
                                    {1, 0, 0, 0}, {1, 0, 0, 0}, {0, 0, 1, 0}};
    const float want_dur[7] = {0.1f, 0, 0, 0.4f, 0.4f, 0.1f, 0};
    for (int i = 0; i < 7; i++) {
        CU_ASSERT_EQUAL(c->con_flow[i], want_flow[i]);
        CU_ASSERT_EQUAL(c->con_slice[i], want_slice[i]);
        const float *row = c->x_con + i * WEFT_FEAT_CON_DIM;
        CU_ASSERT_EQUAL(row[0], want_dur[i]);
        CU_ASSERT_EQUAL(row[1], i == 0 ? 0.5f : 0.0f); /* bidirectional packets */
        for (int k = 0; k < 4; k++) CU_ASSERT_EQUAL(row[WEFT_FEAT_PROTO + k], want_proto[i][k]);
        CU_ASSERT_EQUAL(row[WEFT_FEAT_IPVER], 1.0f);
        CU_ASSERT_EQUAL(row[WEFT_FEAT_IPVER + 1], 0.0f);
        float pe[30];
        weft_pos_encoding((double)want_pos[i], 30, pe);
        CU_ASSERT(memcmp(row + WEFT_FEAT_CON_PE, pe, sizeof pe) == 0);
    }
    const char *want_ip[6] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"};
    for (int i = 0; i < 6; i++) {
        weft_ip ip;
        weft_ip_parse(want_ip[i], &ip);
        CU_ASSERT(memcmp(&ip, &c->ip_addr[i], sizeof ip) == 0);
        CU_ASSERT_EQUAL(c->ip_slice[i], i / 3);
        const float *row = c->x_ip + i * WEFT_FEAT_IP_DIM;
        CU_ASSERT_EQUAL(row[0], 1.0f);
        CU_ASSERT_EQUAL(row[1], i < 3 ? 0.0f : (float)sin(1.0));
        CU_ASSERT_EQUAL(row[2], i < 3 ? 1.0f : (float)cos(1.0));
    }
    /* Every edge of every type, sorted by (source, destination). */
    check_edges(c, WEFT_EDGE_IP_SRC_CON, (int64_t[]){0, 0, 0, 1, 3, 4, 5}, (int64_t[]){0, 1, 2, 3, 5, 4, 6}, 7);
    check_edges(c, WEFT_EDGE_CON_DST_IP, (int64_t[]){0, 1, 2, 3, 4, 5, 6}, (int64_t[]){1, 2, 2, 2, 5, 4, 3}, 7);
    check_edges(c, WEFT_EDGE_CON_REV_SRC_IP, (int64_t[]){0, 1, 2, 3, 4, 5, 6}, (int64_t[]){0, 0, 0, 1, 4, 3, 5}, 7);
    check_edges(c, WEFT_EDGE_IP_REV_DST_CON, (int64_t[]){1, 2, 2, 2, 3, 4, 5}, (int64_t[]){0, 1, 2, 3, 6, 5, 4}, 7);
    check_edges(c, WEFT_EDGE_IP_NEXT_IP, (int64_t[]){0, 1, 2}, (int64_t[]){3, 4, 5}, 3);
    check_edges(c, WEFT_EDGE_CON_NEXT_SRC_CON, (int64_t[]){0, 0, 1}, (int64_t[]){1, 2, 2}, 3);
    check_edges(c, WEFT_EDGE_CON_NEXT_DST_CON, (int64_t[]){1, 1, 2}, (int64_t[]){2, 3, 3}, 3);
    check_edges(c, WEFT_EDGE_CON_REPEAT_CON, (int64_t[]){0, 3}, (int64_t[]){5, 4}, 2);
    gset_free(&s);

    /* flow_memory 1: each flow joins only the next one with its source / destination. */
    p.flow_memory = 1;
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    check_edges(&s.g[0], WEFT_EDGE_CON_NEXT_SRC_CON, (int64_t[]){0, 1}, (int64_t[]){1, 2}, 2);
    check_edges(&s.g[0], WEFT_EDGE_CON_NEXT_DST_CON, (int64_t[]){1, 2}, (int64_t[]){2, 3}, 2);
    check_edges(&s.g[0], WEFT_EDGE_CON_REPEAT_CON, (int64_t[]){0, 3}, (int64_t[]){5, 4}, 2);
    gset_free(&s);

    /* One slice per graph: two graphs, no temporal edges across them. */
    p.flow_memory = 20;
    p.window_memory = 1;
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 2);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_CON], 4);
    CU_ASSERT_EQUAL(s.g[1].nn[WEFT_NODE_CON], 3);
    CU_ASSERT_EQUAL(s.g[1].first_window, 1);
    CU_ASSERT_EQUAL(s.g[1].ne[WEFT_EDGE_IP_NEXT_IP], 0);
    CU_ASSERT_EQUAL(s.g[1].ne[WEFT_EDGE_CON_REPEAT_CON], 0);
    /* In graph 1 the flows are f2, f3, f4 at positions 0, 1, 2 and the addresses A, B, C at slice 0. */
    CU_ASSERT_EQUAL(s.g[1].con_flow[0], 2);
    CU_ASSERT_EQUAL(s.g[1].x_ip[1], 0.0f);
    gset_free(&s);

    /* Sliding graphs (graph stride 1, two slices): windows {0,1} and {1,2}; the second holds only window 1. */
    p.window_memory = 2;
    p.graph_stride = 1;
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(s.n, 2);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_CON], 7);
    CU_ASSERT_EQUAL(s.g[1].first_window, 1);
    CU_ASSERT_EQUAL(s.g[1].nn[WEFT_NODE_CON], 3);
    gset_free(&s);

    /* Overlapping windows (window 5, stride 2.5): f2 [2, 6] is in windows [0,5), [2.5,7.5), [5,10). */
    weft_tgraph_params_default(&p);
    p.stride = 2.5;
    p.window_memory = 4;
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, &st, err, sizeof err), 0);
    /* windows: -1 [-2.5,2.5): f0 f5 f1 f2; 0 [0,5): f0 f5 f1 f2; 1 [2.5,7.5): f2 f3 f4; 2 [5,10): f2 f3 f4 */
    CU_ASSERT_EQUAL(st.memberships, 14);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    CU_ASSERT_EQUAL(s.g[0].first_window, -1);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_CON], 14);
    gset_free(&s);
    weft_flow_table_free(&t);
}

static void test_graph_cap(void)
{
    weft_flow_table t;
    six_flows(&t);
    weft_scaler sc;
    unit_scaler(&sc);
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    p.window_memory = 2;
    p.max_flows = 4; /* window 0 has 4 flows: dropped; window 1 has 3: kept */
    gset s = {0};
    weft_tgraph_stats st;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.windows_dropped, 1);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    CU_ASSERT(s.g[0].window_dropped[0]);
    CU_ASSERT(!s.g[0].window_dropped[1]);
    CU_ASSERT_EQUAL(s.g[0].window_flows[0], 4);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_CON], 3);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_IP], 3);
    CU_ASSERT_EQUAL(s.g[0].con_slice[0], 1);
    CU_ASSERT_EQUAL(s.g[0].ip_slice[0], 1);
    CU_ASSERT_EQUAL(s.g[0].x_ip[1], (float)sin(1.0)); /* still slice 1 of the graph */
    check_edges(&s.g[0], WEFT_EDGE_CON_REPEAT_CON, NULL, NULL, 0);
    gset_free(&s);
    p.max_flows = 3; /* both dropped: no graph at all */
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.windows_dropped, 2);
    CU_ASSERT_EQUAL(s.n, 0);
    weft_flow_table_free(&t);

    /* The default cap: 10,000 flows in window 0 are dropped, 9,999 in window 1 are kept. */
    weft_flow_table_init(&t);
    for (int i = 0; i < 19999; i++) {
        weft_flow f = mkflow("10.0.0.1", "10.0.0.2", (unsigned)(i % 60000), 80, 6, i < 10000 ? 1.0 : 6.0, 0.5);
        f.fwd.packets = 1;
        CU_ASSERT_EQUAL_FATAL(weft_flow_table_push(&t, &f), 0);
    }
    weft_tgraph_params_default(&p);
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.windows, 2);
    CU_ASSERT_EQUAL(st.windows_dropped, 1);
    CU_ASSERT_EQUAL_FATAL(s.n, 1);
    CU_ASSERT_EQUAL(s.g[0].nn[WEFT_NODE_CON], 9999);
    CU_ASSERT_EQUAL(s.g[0].window_flows[0], 10000);
    CU_ASSERT(s.g[0].window_dropped[0]);
    /* One source: next_src edges = sum over positions of min(20, 9998 - pos). */
    CU_ASSERT_EQUAL(s.g[0].ne[WEFT_EDGE_CON_NEXT_SRC_CON], (size_t)(9999 - 20) * 20 + 20 * 19 / 2);
    gset_free(&s);
    weft_flow_table_free(&t);
}

static void test_graph_determinism_and_errors(void)
{
    /* A few hundred pseudo-random flows: two builds give the same bytes. */
    weft_flow_table t;
    weft_flow_table_init(&t);
    uint32_t x = 12345;
    for (int i = 0; i < 600; i++) {
        x = x * 1103515245u + 12345u;
        char a[32], b[32];
        snprintf(a, sizeof a, "10.0.%u.%u", (x >> 8) % 3, (x >> 12) % 7);
        snprintf(b, sizeof b, "10.1.0.%u", (x >> 16) % 5);
        weft_flow f = mkflow(a, b, 1000 + (x >> 20) % 4, 80, (x >> 24) % 2 ? 6 : 17, (double)((x >> 4) % 4000) / 100.0,
                             (double)((x >> 9) % 800) / 100.0);
        f.fwd.packets = (x >> 3) % 9;
        CU_ASSERT_EQUAL_FATAL(weft_flow_table_push(&t, &f), 0);
    }
    weft_scaler sc;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err), 0);
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    p.window_memory = 3;
    gset s1 = {0}, s2 = {0};
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(weft_tgraph_build(&t, &p, &sc, collect, &s2, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(s1.n, s2.n);
    CU_ASSERT(s1.n >= 2);
    for (size_t g = 0; g < s1.n; g++) {
        const gcopy *a = &s1.g[g], *b = &s2.g[g];
        CU_ASSERT(memcmp(a->nn, b->nn, sizeof a->nn) == 0);
        CU_ASSERT(memcmp(a->ne, b->ne, sizeof a->ne) == 0);
        CU_ASSERT(memcmp(a->x_con, b->x_con, a->nn[0] * WEFT_FEAT_CON_DIM * sizeof(float)) == 0);
        CU_ASSERT(memcmp(a->x_ip, b->x_ip, a->nn[1] * WEFT_FEAT_IP_DIM * sizeof(float)) == 0);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
            CU_ASSERT(memcmp(a->e[e], b->e[e], 2 * a->ne[e] * sizeof(int64_t)) == 0);
            /* sorted, in range */
            size_t n = a->ne[e];
            size_t ns = a->nn[weft_edge_type_src[e]], nd = a->nn[weft_edge_type_dst[e]];
            for (size_t i = 0; i < n; i++) {
                CU_ASSERT(a->e[e][i] >= 0 && (size_t)a->e[e][i] < ns);
                CU_ASSERT(a->e[e][n + i] >= 0 && (size_t)a->e[e][n + i] < nd);
                if (i)
                    CU_ASSERT(a->e[e][i - 1] < a->e[e][i] ||
                              (a->e[e][i - 1] == a->e[e][i] && a->e[e][n + i - 1] < a->e[e][n + i]));
            }
        }
    }
    gset_free(&s1);
    gset_free(&s2);

    /* Bad parameters and values. */
    p.window = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "window"));
    weft_tgraph_params_default(&p);
    p.window_memory = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), -1);
    weft_tgraph_params_default(&p);
    p.flow_memory = -1;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), -1);
    weft_tgraph_params_default(&p);
    p.graph_stride = 6;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), -1);
    weft_flow_table_free(&t);

    /* Flows with times that are not finite are skipped; a flow lasting ~forever is refused with a message. */
    weft_flow_table_init(&t);
    weft_flow f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, NAN, 1);
    weft_flow_table_push(&t, &f);
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 0, -1);
    weft_flow_table_push(&t, &f);
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1);
    weft_flow_table_push(&t, &f);
    weft_tgraph_params_default(&p);
    weft_tgraph_stats st;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.flows_skipped, 2);
    CU_ASSERT_EQUAL(s1.n, 1);
    gset_free(&s1);
    /* Times so large that window starts near them are not exact are skipped (and do not move the origin). */
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, -1e300, 0);
    weft_flow_table_push(&t, &f);
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1e300, 1e300);
    weft_flow_table_push(&t, &f);
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.flows_skipped, 4);
    CU_ASSERT_EQUAL_FATAL(s1.n, 1);
    CU_ASSERT_EQUAL(s1.g[0].first_window, 0);
    CU_ASSERT_EQUAL(s1.g[0].nn[WEFT_NODE_CON], 1);
    gset_free(&s1);
    /* A flow lasting ~forever is kept in its first max_flow_windows windows, and counted; without the
     * limit it is refused with a message. (No tail limit here: that one is tested below.) */
    p.max_tail = 0;
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 1, 1e13);
    weft_flow_table_push(&t, &f);
    size_t ng = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, count_graphs, &ng, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(ng, 17280 / 5);
    CU_ASSERT_EQUAL(st.flows_clipped, 1);
    CU_ASSERT_EQUAL(st.windows_clipped, (size_t)2000000000001 - 17280); /* windows 0 .. 2e12, 17280 kept */
    CU_ASSERT_EQUAL(st.memberships, 1 + 17280);                         /* the other valid flow: window 0 */
    CU_ASSERT_EQUAL(st.graphs, 17280 / 5);
    gset_free(&s1);
    p.max_flow_windows = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, &st, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "window"));
    gset_free(&s1);
    p.max_flow_windows = -1;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, &st, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "max flow windows"));
    gset_free(&s1);
    weft_tgraph_params_default(&p);
    /* One flow of 5e7 s (a 52-byte CSV's worth): the input's time range ends 1800 s after its latest
     * start, so 361 windows (0 .. 360) and 73 graphs, not ten million and two million; the day that
     * max_flow_windows keeps is counted as cut first, the rest of it as past the end. */
    weft_flow_table_free(&t);
    weft_flow_table_init(&t);
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 0, 5e7);
    weft_flow_table_push(&t, &f);
    ng = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, count_graphs, &ng, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.memberships, 361);
    CU_ASSERT_EQUAL(st.flows_clipped, 1);
    CU_ASSERT_EQUAL(st.windows_clipped, (size_t)10000000 - 17280);
    CU_ASSERT_EQUAL(st.flows_past_end, 1);
    CU_ASSERT_EQUAL(st.windows_past_end, 17280 - 361);
    CU_ASSERT_EQUAL(st.graphs, 73);
    CU_ASSERT_EQUAL(ng, 73);
    /* a second flow starting later moves the end with it */
    f = mkflow("10.0.0.3", "10.0.0.4", 1, 2, 6, 3600, 1);
    weft_flow_table_push(&t, &f);
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, count_graphs, &ng, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.memberships, (3600 + 1800) / 5 + 1 + 1);
    CU_ASSERT_EQUAL(st.flows_past_end, 1);
    /* without the tail limit: 17280 windows (a day), 3456 graphs */
    weft_flow_table_free(&t);
    weft_flow_table_init(&t);
    f = mkflow("10.0.0.1", "10.0.0.2", 1, 2, 6, 0, 5e7);
    weft_flow_table_push(&t, &f);
    p.max_tail = 0;
    ng = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, count_graphs, &ng, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.memberships, 17280);
    CU_ASSERT_EQUAL(st.flows_clipped, 1);
    CU_ASSERT_EQUAL(st.windows_clipped, (size_t)10000000 - 17280);
    CU_ASSERT_EQUAL(st.graphs, 3456);
    CU_ASSERT_EQUAL(ng, 3456);
    CU_ASSERT_EQUAL(st.flows_past_end, 0);
    p.max_flow_windows = 7; /* a limit that does not divide into whole graphs: the last graph is partial */
    ng = 0;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, count_graphs, &ng, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.memberships, 7);
    CU_ASSERT_EQUAL(st.graphs, 2);
    CU_ASSERT_EQUAL(ng, 2);
    weft_tgraph_params_default(&p);
    /* A callback's non-zero value stops the build and is returned. */
    weft_flow_table_free(&t);
    six_flows(&t);
    p.window_memory = 1;
    s1.n = 8;
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, NULL, err, sizeof err), 7);
    s1.n = 0;
    /* Empty table: no graphs, no error. */
    weft_flow_table_free(&t);
    weft_flow_table_init(&t);
    CU_ASSERT_EQUAL(weft_tgraph_build(&t, &p, &sc, collect, &s1, &st, err, sizeof err), 0);
    CU_ASSERT_EQUAL(st.graphs, 0);
    weft_flow_table_free(&t);
}

static int cleanup(void)
{
    const char *names[] = {"round.csv", "bad.csv", "empty.csv", "nostart.csv", "scaler.txt"};
    char p[256];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        tmp_path(p, sizeof p, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_graph", NULL, cleanup);
    CU_add_test(s, "flow CSV round trip", test_csv_round_trip);
    CU_add_test(s, "flow CSV malformed rows", test_csv_malformed);
    CU_add_test(s, "flow statistics", test_flow_stats);
    CU_add_test(s, "quantile scaler", test_scaler);
    CU_add_test(s, "positional encoding", test_pos_encoding);
    CU_add_test(s, "con features one-hot", test_con_features_onehot);
    CU_add_test(s, "graph worked by hand", test_graph_by_hand);
    CU_add_test(s, "10,000-flow cap", test_graph_cap);
    CU_add_test(s, "determinism and errors", test_graph_determinism_and_errors);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
