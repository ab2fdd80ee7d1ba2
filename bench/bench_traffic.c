/*
 * bench/bench_traffic.c — throughput of the traffic pipeline on one core, on the real files of
 * ../shared/data (or DATA_DIR):
 *   1. capture -> flows, end to end (libpcap file reading, frame parsing, flow table) on the given captures;
 *   2. capture -> flows from frames already in memory (parsing and flow building only);
 *   3. flows -> graphs (windows, nodes, edges, features) on the flows of the captures, of the flow logs
 *      and of the ustc-tfc2016 conversation CSVs, each repeated (shifted in time) to at least the minimum
 *      amount of work.
 * Every measurement repeats its work until at least --min-seconds of CPU time have passed and reports
 * the rate per CPU second (one thread: one core);
 * nothing is asserted. Prints a table, or JSON with --json.
 *
 * usage: bench_traffic [--data DIR] [--min-seconds S] [--json] [--no-graphs] [CAPTURE...]
 *   (without CAPTURE arguments: every .pcap / .pcapng under DIR/ndpi/pcap and DIR/slips)
 */
#include <dirent.h>
#include <math.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "traffic/features.h"
#include "traffic/flow_builder.h"
#include "traffic/graph.h"
#include "traffic/log_readers.h"
#include "traffic/pcap_reader.h"

/* CPU time of this process: the machine may be shared, and the targets are per core. */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void strv_push(strv *s, const char *x)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = strdup(x);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* Files of dir whose names end with one of the suffixes (sorted, so runs are repeatable). */
static void list_dir(strv *out, const char *dir, const char *const *suffixes)
{
    DIR *d = opendir(dir);
    if (!d) return;
    size_t first = out->n;
    struct dirent *e;
    while ((e = readdir(d))) {
        for (const char *const *s = suffixes; *s; s++)
            if (ends_with(e->d_name, *s)) {
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                strv_push(out, p);
                break;
            }
    }
    closedir(d);
    qsort(out->v + first, out->n - first, sizeof *out->v, cmp_str);
}

/* ---------- 1. end to end ---------- */

typedef struct result {
    const char *name;
    double items, seconds, bytes;
    size_t passes;
    const char *unit;
    char note[200];
} result;

static result bench_capture_files(const strv *files, double min_s, weft_flow_table *keep)
{
    result r = {.name = "capture -> flows (files, libpcap)", .unit = "packets"};
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    double t0 = now();
    size_t flows = 0;
    do {
        weft_read_report rep;
        weft_report_init(&rep);
        weft_flow_table t;
        weft_flow_table_init(&t);
        char err[512];
        for (size_t i = 0; i < files->n; i++) weft_pcap_read_file(files->v[i], &o, &t, &rep, err, sizeof err);
        r.items += (double)rep.records;
        flows = t.n;
        if (keep && r.passes == 0) {
            *keep = t; /* the first pass's flows feed the graph benchmark */
        } else {
            weft_flow_table_free(&t);
        }
        r.passes++;
    } while ((r.seconds = now() - t0) < min_s);
    snprintf(r.note, sizeof r.note, "%zu files, %.0f packets and %zu flows per pass", files->n, r.items / (double)r.passes,
             flows);
    return r;
}

/* ---------- 2. frames in memory ---------- */

typedef struct frame {
    double ts;
    uint32_t caplen;
    size_t off;
} frame;

typedef struct capture {
    int dlt;
    frame *f;
    size_t n, cap;
} capture;

typedef struct frames {
    capture *c;
    size_t n;
    unsigned char *data;
    size_t len, cap;
    size_t total;
} frames;

static void load_frames(frames *F, const strv *files)
{
    memset(F, 0, sizeof *F);
    F->c = calloc(files->n + 1, sizeof *F->c);
    for (size_t i = 0; i < files->n; i++) {
        char eb[PCAP_ERRBUF_SIZE];
        pcap_t *p = pcap_open_offline(files->v[i], eb);
        if (!p) continue;
        capture *c = &F->c[F->n++];
        c->dlt = pcap_datalink(p);
        struct pcap_pkthdr *h;
        const u_char *d;
        while (pcap_next_ex(p, &h, &d) == 1) {
            if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 256;
                c->f = realloc(c->f, c->cap * sizeof *c->f);
            }
            if (F->len + h->caplen > F->cap) {
                while (F->len + h->caplen > F->cap) F->cap = F->cap ? 2 * F->cap : 1 << 20;
                F->data = realloc(F->data, F->cap);
            }
            if (!c->f || !F->data) abort();
            memcpy(F->data + F->len, d, h->caplen);
            c->f[c->n++] = (frame){(double)h->ts.tv_sec + 1e-6 * (double)h->ts.tv_usec, h->caplen, F->len};
            F->len += h->caplen;
            F->total++;
        }
        pcap_close(p);
    }
}

static result bench_capture_memory(const frames *F, double min_s)
{
    result r = {.name = "capture -> flows (frames in memory)", .unit = "packets"};
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    double t0 = now();
    size_t parsed = 0;
    do {
        weft_flow_table t;
        weft_flow_table_init(&t);
        parsed = 0;
        for (size_t i = 0; i < F->n; i++) {
            const capture *c = &F->c[i];
            weft_flow_builder *b = weft_flow_builder_new(&o, weft_flow_table_sink, &t);
            if (!b) abort();
            double last = -INFINITY;
            for (size_t k = 0; k < c->n; k++) {
                weft_pkt pk;
                if (weft_parse_frame(c->dlt, F->data + c->f[k].off, c->f[k].caplen, true, &pk, NULL) != WEFT_FRAME_OK)
                    continue;
                /* the builder wants non-decreasing times, as the file reader guarantees by clamping */
                pk.ts = c->f[k].ts > last ? c->f[k].ts : last;
                last = pk.ts;
                weft_flow_builder_add(b, &pk);
                parsed++;
            }
            weft_flow_builder_finish(b);
            weft_flow_builder_free(b);
        }
        r.items += (double)F->total;
        r.bytes += (double)F->len;
        weft_flow_table_free(&t);
        r.passes++;
    } while ((r.seconds = now() - t0) < min_s);
    snprintf(r.note, sizeof r.note, "%zu frames (%zu IP packets with a transport header), %.1f MB per pass", F->total,
             parsed, (double)F->len / 1e6);
    return r;
}

/* ---------- 3. flows -> graphs ---------- */

typedef struct gcount {
    size_t nodes, edges;
} gcount;

static int count_graph(const weft_tgraph *g, void *user)
{
    gcount *c = user;
    c->nodes += g->num_nodes[0] + g->num_nodes[1];
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) c->edges += g->num_edges[e];
    return 0;
}

/* The base flows repeated `times` times, copy r shifted by r * (span + 60 s) so copies follow each other. */
static void repeat_table(const weft_flow_table *base, size_t times, weft_flow_table *out)
{
    weft_flow_table_init(out);
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < base->n; i++) {
        const weft_flow *f = &base->flows[i];
        if (f->start < lo) lo = f->start;
        if (f->start + f->duration > hi) hi = f->start + f->duration;
    }
    double shift = base->n ? hi - lo + 60.0 : 0;
    for (size_t r = 0; r < times; r++)
        for (size_t i = 0; i < base->n; i++) {
            weft_flow f = base->flows[i];
            f.start += (double)r * shift;
            if (weft_flow_table_push(out, &f)) abort();
        }
}

static result bench_graphs(const char *name, const weft_flow_table *base, double min_s)
{
    result r = {.name = name, .unit = "flows"};
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    if (base->n == 0) {
        snprintf(r.note, sizeof r.note, "no flows");
        return r;
    }
    /* Enough copies for about a million flows per build, so one build is a realistic amount of work. */
    size_t times = (1000000 + base->n - 1) / base->n;
    weft_flow_table t;
    repeat_table(base, times, &t);
    weft_scaler sc;
    char err[512];
    double tf = now();
    if (weft_scaler_fit(&sc, t.flows, t.n, 0.03, 0.97, err, sizeof err)) {
        snprintf(r.note, sizeof r.note, "scaler: %s", err);
        weft_flow_table_free(&t);
        return r;
    }
    tf = now() - tf;
    weft_tgraph_stats st;
    gcount gc = {0, 0};
    double t0 = now();
    do {
        gc = (gcount){0, 0};
        if (weft_tgraph_build(&t, &p, &sc, count_graph, &gc, &st, err, sizeof err)) {
            snprintf(r.note, sizeof r.note, "build failed: %s", err);
            break;
        }
        r.items += (double)t.n;
        r.passes++;
    } while ((r.seconds = now() - t0) < min_s);
    snprintf(r.note, sizeof r.note,
             "%zu flows x %zu = %zu; %zu windows (%zu dropped), %zu graphs, %zu nodes, %zu edges; scaler fit %.0f flows/s",
             base->n, times, t.n, st.windows, st.windows_dropped, st.graphs, gc.nodes, gc.edges,
             tf > 0 ? (double)t.n / tf : 0);
    weft_flow_table_free(&t);
    return r;
}

static void read_logs(const char *data, weft_flow_table *logs, weft_flow_table *ustc)
{
    static const char *const log_suffixes[] = {".log", ".labeled", ".binetflow", NULL};
    static const char *const csv_suffixes[] = {".csv", NULL};
    strv files = {0};
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/stratosphere", data);
    list_dir(&files, dir, log_suffixes);
    snprintf(dir, sizeof dir, "%s/slips", data);
    list_dir(&files, dir, log_suffixes);
    weft_read_report rep;
    weft_report_init(&rep);
    char err[512];
    for (size_t i = 0; i < files.n; i++) {
        weft_input_format f = weft_format_detect(files.v[i], false, err, sizeof err);
        if (f != WEFT_FMT_AUTO && f != WEFT_FMT_PCAP) weft_log_read_file(files.v[i], f, NULL, logs, &rep, err, sizeof err);
        free(files.v[i]);
    }
    files.n = 0;
    snprintf(dir, sizeof dir, "%s/ustc-tfc2016", data);
    list_dir(&files, dir, csv_suffixes);
    for (size_t i = 0; i < files.n; i++) {
        weft_log_read_file(files.v[i], WEFT_FMT_WIRESHARK, NULL, ustc, &rep, err, sizeof err);
        free(files.v[i]);
    }
    free(files.v);
}

static void print_result(const result *r, bool json, bool first)
{
    double rate = r->seconds > 0 ? r->items / r->seconds : 0;
    if (json) {
        printf("%s\n  {\"name\": \"%s\", \"unit\": \"%s\", \"per_second\": %.0f, \"passes\": %zu, \"seconds\": %.3f, "
               "\"note\": \"%s\"}",
               first ? "" : ",", r->name, r->unit, rate, r->passes, r->seconds, r->note);
    } else {
        printf("%-40s %12.0f %-8s/s  (%zu passes, %.2f CPU s)\n    %s\n", r->name, rate, r->unit, r->passes, r->seconds,
               r->note);
    }
}

int main(int argc, char **argv)
{
    const char *data = getenv("DATA_DIR") ? getenv("DATA_DIR") : "../shared/data";
    double min_s = 1.0;
    bool json = false, graphs = true;
    strv caps = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--data") == 0 && i + 1 < argc) data = argv[++i];
        else if (strcmp(argv[i], "--min-seconds") == 0 && i + 1 < argc) min_s = atof(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0) json = true;
        else if (strcmp(argv[i], "--no-graphs") == 0) graphs = false;
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: bench_traffic [--data DIR] [--min-seconds S] [--json] [--no-graphs] [CAPTURE...]\n");
            return 2;
        } else strv_push(&caps, argv[i]);
    }
    if (!caps.n) {
        static const char *const cap_suffixes[] = {".pcap", ".pcapng", ".cap", NULL};
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/ndpi/pcap", data);
        list_dir(&caps, dir, cap_suffixes);
        snprintf(dir, sizeof dir, "%s/slips", data);
        list_dir(&caps, dir, cap_suffixes);
    }
    if (!caps.n) {
        fprintf(stderr, "bench_traffic: no captures found under %s (set DATA_DIR or --data)\n", data);
        return 1;
    }
    result res[8];
    int nr = 0;
    weft_flow_table cap_flows;
    weft_flow_table_init(&cap_flows);
    res[nr++] = bench_capture_files(&caps, min_s, &cap_flows);
    frames F;
    load_frames(&F, &caps);
    res[nr++] = bench_capture_memory(&F, min_s);
    weft_flow_table logs, ustc;
    weft_flow_table_init(&logs);
    weft_flow_table_init(&ustc);
    if (graphs) {
        read_logs(data, &logs, &ustc);
        res[nr++] = bench_graphs("flows -> graphs (capture flows)", &cap_flows, min_s);
        res[nr++] = bench_graphs("flows -> graphs (zeek/argus logs)", &logs, min_s);
        res[nr++] = bench_graphs("flows -> graphs (ustc-tfc2016 CSVs)", &ustc, min_s);
    }
    if (json) printf("[");
    for (int i = 0; i < nr; i++) print_result(&res[i], json, i == 0);
    if (json) printf("\n]\n");
    weft_flow_table_free(&cap_flows);
    weft_flow_table_free(&logs);
    weft_flow_table_free(&ustc);
    for (size_t i = 0; i < F.n; i++) free(F.c[i].f);
    free(F.c);
    free(F.data);
    for (size_t i = 0; i < caps.n; i++) free(caps.v[i]);
    free(caps.v);
    return 0;
}
