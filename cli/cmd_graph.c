/* cli/cmd_graph.c — `weft graph`: a flow CSV → spatio-temporal graphs (schemas/traffic_graph.md): per
 * graph the nodes and edges of each type and their degrees; DOT for a small one; the tensors as .npy. */
#include <errno.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "traffic/features.h"
#include "traffic/flow_csv.h"
#include "traffic/graph.h"
#include "traffic/report.h"

int cmd_graph(int argc, char **argv);

#define DOT_MAX_NODES 2000
/* Flows the scaling is fitted on at most: beyond, an evenly spread sample (every k-th flow), which keeps
 * the first pass's memory bounded (~50 MB) whatever the input's length. */
#define FIT_SAMPLE 262144

static void graph_help(FILE *f)
{
    fprintf(f,
            "usage: weft graph FLOWS.csv... [options]\n"
            "\n"
            "Builds the spatio-temporal graphs of the traffic model from normalised flow CSVs (written by\n"
            "'weft flows') and prints, per graph, its windows, the nodes and edges of each type and, with\n"
            "--stats, the degree distribution of each edge type.\n"
            "\n"
            "graph parameters (defaults are the reference configuration):\n"
            "  --window S           window length in seconds (5)\n"
            "  --stride S           seconds between window starts (= window)\n"
            "  --window-memory K    windows (slices) per graph (5)\n"
            "  --graph-stride K     windows between the first slices of consecutive graphs (= window memory)\n"
            "  --flow-memory K      fan-out of the next-flow and repeat edges (20)\n"
            "  --max-flows N        drop windows with N or more flows (10000; 0 keeps every window)\n"
            "  --max-flow-windows K a flow belongs to at most its first K windows (17280, a day of 5 s\n"
            "                       windows; 0: no limit); the flows cut short are counted in the totals\n"
            "  --max-tail S         an input's time range ends S seconds after its latest flow start (1800,\n"
            "                       the flows' active timeout; 0: no limit): flows lasting beyond are cut\n"
            "                       there, and counted\n"
            "inputs (FLOWS.csv may be '-', standard input, and gzip or zstd compressed):\n"
            "  --per-input          each input on its own time axis, one after the other (default): graphs\n"
            "                       never mix unrelated captures; within an input, start times that jump\n"
            "                       back by more than --reorder begin a new axis too (inputs written one\n"
            "                       after the other by 'weft flows')\n"
            "  --merge              the inputs merged in time order onto one axis (captures of one network)\n"
            "  --reorder S          start times may run back this far and still land in place (60): graphs\n"
            "                       are written once S seconds of later flows have been read\n"
            "  --follow             the one input is a file still being written (weft flows --interface):\n"
            "                       wait at its end for more rows, write each graph as soon as it is\n"
            "                       complete; Ctrl-C or SIGTERM ends, writing the rest (needs --scaler)\n"
            "feature scaling (24 statistics, min-max between quantiles, clipped to [0, 1]):\n"
            "  --scaler FILE        apply bounds saved earlier (inference)\n"
            "  --save-scaler FILE   fit the bounds on these flows (3%%/97%% quantiles) and save them\n"
            "                       (without --scaler the bounds are fitted on these flows in a first pass,\n"
            "                       on an evenly spread sample of %d when there are more; reading standard\n"
            "                       input needs --scaler)\n"
            "output:\n"
            "  --stats              degree distribution (min / median / max / mean, in and out) per edge type\n"
            "  --json               one JSON object on standard output instead of text\n"
            "  --dot FILE           Graphviz DOT of one graph (the first, or --dot-graph N); at most %d nodes\n"
            "  --dot-graph N        which graph --dot draws\n"
            "  --out-dir DIR        write each graph's tensors as DIR/graph_NNNNN/<name>.npy: x_con, x_ip,\n"
            "                       edge_index__<edge type> (names of the contract), and con_flow (int64: the\n"
            "                       row of each con node's flow among the flows read)\n"
            "  -h, --help           this text\n"
            "\n"
            "Flows are read as a stream and each graph is written as soon as its windows are complete, so\n"
            "memory holds the flows of the windows in flight, not the input.\n"
            "exit status: 0 success, 1 a file could not be read or written, 2 bad command line.\n",
            FIT_SAMPLE, DOT_MAX_NODES);
}

static bool parse_pos_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v > 0) || !isfinite(v) || v > 1e12) return false;
    *out = v;
    return true;
}

static void err_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("weft: graph: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---------- .npy ---------- */

static bool host_is_le(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Writes a little-endian .npy (version 1.0) of `count` elements of `size` bytes; descr "<f4" or "<i8". */
static int npy_write(const char *path, const char *descr, const int64_t *shape, int rank, const void *data,
                     size_t count, size_t size)
{
    char dict[200];
    int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < rank; i++)
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%lld%s", (long long)shape[i], rank == 1 ? "," : i + 1 < rank ? ", " : "");
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* Pad with spaces so the data starts on a 64-byte boundary; the header ends with a newline. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint16_t hl = (uint16_t)((size_t)n + pad + 1);
    unsigned char head[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
    fwrite(head, 1, sizeof head, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    if (host_is_le()) {
        if (count) fwrite(data, size, count, f);
    } else {
        const unsigned char *p = data;
        for (size_t i = 0; i < count; i++)
            for (size_t b = size; b > 0; b--) fputc(p[i * size + b - 1], f);
    }
    int bad = ferror(f);
    if (fclose(f) || bad) return -1;
    return 0;
}

/* ---------- degree statistics ---------- */

typedef struct degstat {
    size_t min, max;
    double median, mean;
} degstat;

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Degrees of the n nodes given the node index of each of the E edge ends; buf holds n sizes. */
static degstat degrees(const int64_t *ends, size_t e, size_t n, size_t *buf)
{
    degstat d = {0, 0, 0, 0};
    if (n == 0) return d;
    memset(buf, 0, n * sizeof *buf);
    for (size_t i = 0; i < e; i++) buf[ends[i]]++;
    qsort(buf, n, sizeof *buf, cmp_size);
    d.min = buf[0];
    d.max = buf[n - 1];
    d.median = n % 2 ? (double)buf[n / 2] : ((double)buf[n / 2 - 1] + (double)buf[n / 2]) / 2.0;
    d.mean = (double)e / (double)n;
    return d;
}

/* ---------- per-graph output ---------- */

typedef struct ctx {
    const weft_flow_table *t;
    bool json, stats;
    const char *out_dir, *dot_path;
    long dot_graph;
    bool dot_done;
    size_t *degbuf;
    size_t degcap;
    int64_t *flowbuf;
    size_t flowcap;
    size_t total_nodes[WEFT_NODE_TYPES], total_edges[WEFT_EDGE_TYPES];
    bool failed;
} ctx;

static int write_dot(ctx *c, const weft_tgraph *g)
{
    FILE *f = fopen(c->dot_path, "w");
    if (!f) {
        err_line("cannot create '%s': %s", c->dot_path, strerror(errno));
        return -1;
    }
    static const char *const colour[WEFT_EDGE_TYPES] = {"black", "black", "gray", "gray",
                                                        "blue",  "darkgreen", "orange", "red"};
    fprintf(f, "digraph weft_graph_%zu {\n  rankdir=LR;\n  node [fontsize=10];\n", g->index);
    char a[64], b[64];
    for (int s = 0; s < g->n_slices; s++) {
        fprintf(f, "  subgraph cluster_slice%d {\n    label=\"slice %d (window %lld)%s\";\n", s, s,
                (long long)(g->first_window + s), g->window_dropped[s] ? " dropped" : "");
        for (size_t i = 0; i < g->num_nodes[WEFT_NODE_IP]; i++)
            if (g->ip_slice[i] == s) {
                weft_ip_format(&g->ip_addr[i], a, sizeof a);
                fprintf(f, "    ip%zu [shape=ellipse, label=\"ip%zu\\n%s\"];\n", i, i, a);
            }
        for (size_t i = 0; i < g->num_nodes[WEFT_NODE_CON]; i++)
            if (g->con_slice[i] == s) {
                const weft_flow *fl = &g->table->flows[g->con_flow[i]];
                weft_ip_format(&fl->src, a, sizeof a);
                weft_ip_format(&fl->dst, b, sizeof b);
                fprintf(f, "    con%zu [shape=box, label=\"con%zu\\n%s:%u > %s:%u /%u\"];\n", i, i, a,
                        (unsigned)fl->sport, b, (unsigned)fl->dport, (unsigned)fl->proto);
            }
        fprintf(f, "  }\n");
    }
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        size_t n = g->num_edges[e];
        const int64_t *E = g->edge_index[e];
        for (size_t i = 0; i < n; i++)
            fprintf(f, "  %s%lld -> %s%lld [color=%s, tooltip=\"%s\"];\n", weft_node_type_names[weft_edge_type_src[e]],
                    (long long)E[i], weft_node_type_names[weft_edge_type_dst[e]], (long long)E[n + i], colour[e],
                    weft_edge_type_names[e]);
    }
    fprintf(f, "}\n");
    int bad = ferror(f);
    if (fclose(f) || bad) {
        err_line("cannot write '%s'", c->dot_path);
        return -1;
    }
    return 0;
}

static int write_tensors(ctx *c, const weft_tgraph *g)
{
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/graph_%05zu", c->out_dir, g->index);
    if (cli_mkdir_p(dir)) {
        err_line("cannot create '%s': %s", dir, strerror(errno));
        return -1;
    }
    size_t nc = g->num_nodes[WEFT_NODE_CON], ni = g->num_nodes[WEFT_NODE_IP];
    int64_t shape[2];
    shape[0] = (int64_t)nc, shape[1] = WEFT_FEAT_CON_DIM;
    snprintf(path, sizeof path, "%s/x_con.npy", dir);
    if (npy_write(path, "<f4", shape, 2, g->x_con, nc * WEFT_FEAT_CON_DIM, 4)) goto bad;
    shape[0] = (int64_t)ni, shape[1] = WEFT_FEAT_IP_DIM;
    snprintf(path, sizeof path, "%s/x_ip.npy", dir);
    if (npy_write(path, "<f4", shape, 2, g->x_ip, ni * WEFT_FEAT_IP_DIM, 4)) goto bad;
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
        shape[0] = 2, shape[1] = (int64_t)g->num_edges[e];
        snprintf(path, sizeof path, "%s/edge_index__%s.npy", dir, weft_edge_type_names[e]);
        if (npy_write(path, "<i8", shape, 2, g->edge_index[e], 2 * g->num_edges[e], 8)) goto bad;
    }
    if (nc > c->flowcap) {
        int64_t *nb = realloc(c->flowbuf, nc * sizeof *nb);
        if (!nb) {
            err_line("out of memory");
            return -1;
        }
        c->flowbuf = nb;
        c->flowcap = nc;
    }
    for (size_t i = 0; i < nc; i++)
        c->flowbuf[i] = (int64_t)(g->flow_rows ? g->flow_rows[g->con_flow[i]] : g->con_flow[i]);
    shape[0] = (int64_t)nc;
    snprintf(path, sizeof path, "%s/con_flow.npy", dir);
    if (npy_write(path, "<i8", shape, 1, c->flowbuf, nc, 8)) goto bad;
    return 0;
bad:
    err_line("cannot write '%s': %s", path, strerror(errno));
    return -1;
}

static int on_graph(const weft_tgraph *g, void *user)
{
    ctx *c = user;
    FILE *o = stdout;
    size_t maxn = g->num_nodes[0] > g->num_nodes[1] ? g->num_nodes[0] : g->num_nodes[1];
    if (c->stats && maxn > c->degcap) {
        size_t *nb = realloc(c->degbuf, maxn * sizeof *nb);
        if (!nb) {
            err_line("out of memory");
            return 1;
        }
        c->degbuf = nb;
        c->degcap = maxn;
    }
    for (int k = 0; k < WEFT_NODE_TYPES; k++) c->total_nodes[k] += g->num_nodes[k];
    for (int e = 0; e < WEFT_EDGE_TYPES; e++) c->total_edges[e] += g->num_edges[e];

    if (c->json) {
        fprintf(o, "%s\n    {\"graph\": %zu, \"first_window\": %lld, \"t0\": %.17g, \"windows\": [", g->index ? "," : "",
                g->index, (long long)g->first_window, g->t0);
        for (int s = 0; s < g->n_slices; s++)
            fprintf(o, "%s{\"flows\": %zu, \"dropped\": %s}", s ? ", " : "", g->window_flows[s],
                    g->window_dropped[s] ? "true" : "false");
        fprintf(o, "],\n     \"nodes\": {\"con\": %zu, \"ip\": %zu},\n     \"edges\": {", g->num_nodes[0], g->num_nodes[1]);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++)
            fprintf(o, "%s\"%s\": %zu", e ? ", " : "", weft_edge_type_names[e], g->num_edges[e]);
        fprintf(o, "}");
        if (c->stats) {
            fprintf(o, ",\n     \"degrees\": {");
            for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
                size_t n = g->num_edges[e];
                degstat in = degrees(g->edge_index[e] + n, n, g->num_nodes[weft_edge_type_dst[e]], c->degbuf);
                degstat out = degrees(g->edge_index[e], n, g->num_nodes[weft_edge_type_src[e]], c->degbuf);
                fprintf(o,
                        "%s\"%s\": {\"in\": {\"min\": %zu, \"median\": %.17g, \"max\": %zu, \"mean\": %.17g}, "
                        "\"out\": {\"min\": %zu, \"median\": %.17g, \"max\": %zu, \"mean\": %.17g}}",
                        e ? ",\n       " : "", weft_edge_type_names[e], in.min, in.median, in.max, in.mean, out.min,
                        out.median, out.max, out.mean);
            }
            fprintf(o, "}");
        }
        fprintf(o, "}");
    } else {
        fprintf(o, "graph %zu: windows %lld..%lld from t=%.6f; flows per window:", g->index, (long long)g->first_window,
                (long long)(g->first_window + g->n_slices - 1), g->t0);
        for (int s = 0; s < g->n_slices; s++)
            fprintf(o, " %zu%s", g->window_flows[s], g->window_dropped[s] ? " (dropped)" : "");
        fprintf(o, "\n  nodes: con %zu, ip %zu\n", g->num_nodes[0], g->num_nodes[1]);
        if (c->stats) {
            fprintf(o, "  %-20s %9s  %-27s  %-27s\n", "edge type", "edges", "in-degree min/med/max/mean",
                    "out-degree min/med/max/mean");
            for (int e = 0; e < WEFT_EDGE_TYPES; e++) {
                size_t n = g->num_edges[e];
                degstat in = degrees(g->edge_index[e] + n, n, g->num_nodes[weft_edge_type_dst[e]], c->degbuf);
                degstat out = degrees(g->edge_index[e], n, g->num_nodes[weft_edge_type_src[e]], c->degbuf);
                fprintf(o, "  %-20s %9zu  %5zu %7.1f %6zu %7.3f  %5zu %7.1f %6zu %7.3f\n", weft_edge_type_names[e], n,
                        in.min, in.median, in.max, in.mean, out.min, out.median, out.max, out.mean);
            }
        } else {
            fprintf(o, "  edges:");
            for (int e = 0; e < WEFT_EDGE_TYPES; e++)
                fprintf(o, "%s %s %zu", e ? "," : "", weft_edge_type_names[e], g->num_edges[e]);
            fprintf(o, "\n");
        }
    }
    if (c->dot_path && !c->dot_done) {
        size_t nodes = g->num_nodes[0] + g->num_nodes[1];
        bool chosen = c->dot_graph >= 0 ? (long)g->index == c->dot_graph : nodes <= DOT_MAX_NODES;
        if (chosen) {
            if (nodes > DOT_MAX_NODES) {
                err_line("graph %zu has %zu nodes; --dot draws at most %d (use a shorter --window)", g->index, nodes,
                         DOT_MAX_NODES);
                c->failed = true;
            } else if (write_dot(c, g)) {
                c->failed = true;
            }
            c->dot_done = true;
        }
    }
    if (c->out_dir && write_tensors(c, g)) return 1;
    return 0;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* The first pass: the flows of every input, or every k-th of them once there are more than FIT_SAMPLE
 * (k doubles and the sample is halved each time it fills, so it stays evenly spread and deterministic).
 * Returns 0 fitted, 1 no flow at all, -1 error (err set). Unreadable inputs are left to the second pass
 * to report. */
static int fit_scaler(const char **inputs, int n_in, weft_flow_table *strings, weft_scaler *sc, size_t *sampled,
                      uint64_t *seen, char *err, size_t err_n)
{
    weft_flow *sample = malloc(FIT_SAMPLE * sizeof *sample);
    if (!sample) {
        snprintf(err, err_n, "out of memory");
        return -1;
    }
    size_t n = 0;
    uint64_t every = 1, count = 0;
    int rc = 0;
    for (int i = 0; i < n_in && rc == 0; i++) {
        char e2[512];
        weft_flow_csv_reader *r = weft_flow_csv_open(inputs[i], NULL, e2, sizeof e2);
        if (!r) continue;
        weft_flow fl;
        int got;
        while ((got = weft_flow_csv_next(r, &fl, strings, err, err_n)) == 1) {
            if (count++ % every) continue;
            if (n == FIT_SAMPLE) {
                for (size_t j = 0; j < FIT_SAMPLE / 2; j++) sample[j] = sample[2 * j];
                n = FIT_SAMPLE / 2;
                every *= 2;
                if ((count - 1) % every) continue;
            }
            sample[n++] = fl;
        }
        if (got < 0) rc = -1;
        weft_flow_csv_close(r);
    }
    *sampled = n;
    *seen = count;
    if (rc == 0 && n == 0) rc = 1;
    if (rc == 0 && weft_scaler_fit(sc, sample, n, 0.03, 0.97, err, err_n)) rc = -1;
    free(sample);
    return rc;
}

int cmd_graph(int argc, char **argv)
{
    weft_tgraph_params p;
    weft_tgraph_params_default(&p);
    ctx c;
    memset(&c, 0, sizeof c);
    c.dot_graph = -1;
    const char *scaler_in = NULL, *scaler_out = NULL;
    bool merge = false, follow = false;
    double reorder = 60.0;
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) return cli_usage("graph", "graph: out of memory");
    int n_in = 0, rc = CLI_FAIL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long lv;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            graph_help(stdout);
            free(inputs);
            return CLI_OK;
        } else if (strcmp(a, "--stats") == 0) {
            c.stats = true;
        } else if (strcmp(a, "--json") == 0) {
            c.json = true;
        } else if (strcmp(a, "--merge") == 0) {
            merge = true;
        } else if (strcmp(a, "--follow") == 0) {
            follow = true;
        } else if (strcmp(a, "--per-input") == 0) {
            merge = false;
        } else if (strcmp(a, "-") == 0) {
            inputs[n_in++] = a;
        } else if (a[0] == '-' && a[1] == '-' && !v) {
            free(inputs);
            return cli_usage("graph", "graph: option '%s' needs a value", a);
        } else if (strcmp(a, "--window") == 0 || strcmp(a, "--stride") == 0) {
            double *dst = a[2] == 'w' ? &p.window : &p.stride;
            if (!parse_pos_seconds(v, dst)) {
                free(inputs);
                return cli_usage("graph", "graph: %s needs a positive number of seconds (got '%s')", a, v);
            }
            i++;
        } else if (strcmp(a, "--window-memory") == 0 || strcmp(a, "--graph-stride") == 0 ||
                   strcmp(a, "--flow-memory") == 0 || strcmp(a, "--dot-graph") == 0) {
            long lo = strcmp(a, "--flow-memory") == 0 || strcmp(a, "--dot-graph") == 0 ? 0 : 1;
            if (!cli_parse_int(v, lo, 100000, &lv)) {
                free(inputs);
                return cli_usage("graph", "graph: %s needs a whole number from %ld to 100000 (got '%s')", a, lo, v);
            }
            if (strcmp(a, "--window-memory") == 0) p.window_memory = (int)lv;
            else if (strcmp(a, "--graph-stride") == 0) p.graph_stride = (int)lv;
            else if (strcmp(a, "--flow-memory") == 0) p.flow_memory = (int)lv;
            else c.dot_graph = lv;
            i++;
        } else if (strcmp(a, "--max-flows") == 0) {
            if (!cli_parse_int(v, 0, 1000000000L, &lv)) {
                free(inputs);
                return cli_usage("graph", "graph: --max-flows needs a whole number from 0 to 1e9 (got '%s')", v);
            }
            p.max_flows = (size_t)lv;
            i++;
        } else if (strcmp(a, "--max-flow-windows") == 0) {
            if (!cli_parse_int(v, 0, 1000000000L, &lv)) {
                free(inputs);
                return cli_usage("graph", "graph: --max-flow-windows needs a whole number from 0 to 1e9 (got '%s')", v);
            }
            p.max_flow_windows = lv;
            i++;
        } else if (strcmp(a, "--max-tail") == 0) {
            char *end;
            errno = 0;
            p.max_tail = strtod(v, &end);
            if (end == v || *end || errno || !(p.max_tail >= 0) || p.max_tail > 1e12) {
                free(inputs);
                return cli_usage("graph", "graph: --max-tail needs a number of seconds from 0 to 1e12 (got '%s')", v);
            }
            i++;
        } else if (strcmp(a, "--reorder") == 0) {
            char *end;
            errno = 0;
            reorder = strtod(v, &end);
            if (end == v || *end || errno || !(reorder >= 0) || reorder > 1e9) {
                free(inputs);
                return cli_usage("graph", "graph: --reorder needs a number of seconds from 0 to 1e9 (got '%s')", v);
            }
            i++;
        } else if (strcmp(a, "--scaler") == 0) {
            scaler_in = v, i++;
        } else if (strcmp(a, "--save-scaler") == 0) {
            scaler_out = v, i++;
        } else if (strcmp(a, "--dot") == 0) {
            c.dot_path = v, i++;
        } else if (strcmp(a, "--out-dir") == 0) {
            c.out_dir = v, i++;
        } else if (a[0] == '-' && a[1]) {
            free(inputs);
            return cli_usage("graph", "graph: unknown option '%s'", a);
        } else {
            inputs[n_in++] = a;
        }
    }
    if (!n_in) {
        free(inputs);
        return cli_usage("graph", "graph: no flow CSV given");
    }
    if (p.graph_stride > p.window_memory) {
        free(inputs);
        return cli_usage("graph", "graph: --graph-stride %d exceeds --window-memory %d", p.graph_stride, p.window_memory);
    }
    if (scaler_in && scaler_out) {
        free(inputs);
        return cli_usage("graph", "graph: --scaler and --save-scaler exclude each other");
    }

    weft_flow_table strings; /* label strings of the flows read (graphs need only their numbers) */
    weft_flow_table_init(&strings);
    weft_read_report rep;
    weft_report_init(&rep);
    char err[1024];
    bool read_failed = false;
    weft_tgraph_stream *gs = NULL;
    weft_flow_csv_reader **rd = calloc((size_t)n_in + 1, sizeof *rd);
    weft_flow *head = calloc((size_t)n_in + 1, sizeof *head);
    int *has = calloc((size_t)n_in + 1, sizeof *has);
    if (!rd || !head || !has) {
        err_line("out of memory");
        goto out;
    }
    for (int i = 0; i < n_in; i++)
        if (strcmp(inputs[i], "-") == 0 && (n_in > 1 || !scaler_in)) {
            /* standard input is read once: the scaling cannot be fitted on it first */
            free(inputs), inputs = NULL;
            rc = cli_usage("graph", "graph: standard input ('-') needs --scaler (the bounds cannot be fitted on a "
                                    "stream read once) and must be the only input");
            goto out;
        }

    if (follow && (n_in != 1 || !scaler_in)) {
        free(inputs), inputs = NULL;
        rc = cli_usage("graph", "graph: --follow reads one input as it grows and needs --scaler");
        goto out;
    }
    weft_scaler sc;
    if (scaler_in) {
        if (weft_scaler_load(&sc, scaler_in, err, sizeof err)) {
            err_line("%s", err);
            goto out;
        }
    } else {
        /* fitted on the flows (all of them, or an evenly spread sample of a long input) in a first pass */
        weft_read_report fit_rep;
        weft_report_init(&fit_rep);
        size_t sampled = 0;
        uint64_t seen = 0;
        int frc = fit_scaler(inputs, n_in, &strings, &sc, &sampled, &seen, err, sizeof err);
        if (frc < 0) {
            err_line("%s", err);
            goto out;
        }
        if (frc == 0 && sampled < seen && !c.json)
            fprintf(stderr, "feature scaling fitted on a sample of %zu of %llu flows\n", sampled,
                    (unsigned long long)seen);
        if (frc == 1) {
            memset(&sc, 0, sizeof sc); /* no flows: no graphs either */
            if (scaler_out) {
                err_line("no flows to fit the scaling on; '%s' not written", scaler_out);
                read_failed = true;
            }
        } else if (scaler_out && weft_scaler_save(&sc, scaler_out, err, sizeof err)) {
            err_line("%s", err);
            goto out;
        }
    }
    if (c.out_dir && cli_mkdir_p(c.out_dir)) {
        err_line("cannot create '%s': %s", c.out_dir, strerror(errno));
        goto out;
    }

    if (c.json) {
        printf("{\"params\": {\"window\": %.17g, \"stride\": %.17g, \"window_memory\": %d, \"graph_stride\": %d, "
               "\"flow_memory\": %d, \"max_flows\": %zu, \"max_flow_windows\": %lld, \"max_tail\": %.17g, \"merge\": %s, "
               "\"reorder\": %.17g},\n \"graphs\": [",
               p.window, p.stride ? p.stride : p.window, p.window_memory, p.graph_stride ? p.graph_stride : p.window_memory,
               p.flow_memory, p.max_flows, (long long)p.max_flow_windows, p.max_tail, merge ? "true" : "false", reorder);
    }
    weft_tgraph_stats st;
    memset(&st, 0, sizeof st);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int br = 0;
    gs = weft_tgraph_stream_new(&p, &sc, reorder, !merge, on_graph, &c, &st, err, sizeof err);
    if (!gs) {
        br = -1;
    } else if (merge) {
        /* inputs merged in time order: the next flow is the earliest of the inputs' next ones */
        for (int i = 0; i < n_in && !br; i++) {
            rd[i] = weft_flow_csv_open(inputs[i], &rep, err, sizeof err);
            if (!rd[i]) {
                err_line("%s", err);
                read_failed = true;
                continue;
            }
            has[i] = weft_flow_csv_next(rd[i], &head[i], &strings, err, sizeof err);
            if (has[i] < 0) br = -1;
        }
        while (!br) {
            int best = -1;
            for (int i = 0; i < n_in; i++)
                if (has[i] == 1 && (best < 0 || head[i].start < head[best].start)) best = i;
            if (best < 0) break;
            br = weft_tgraph_stream_push(gs, &head[best], err, sizeof err);
            if (!br) {
                has[best] = weft_flow_csv_next(rd[best], &head[best], &strings, err, sizeof err);
                if (has[best] < 0) br = -1;
            }
        }
        if (!br) br = weft_tgraph_stream_flush(gs, err, sizeof err);
    } else {
        /* one input after the other, each on its own time axis */
        for (int i = 0; i < n_in && !br; i++) {
            weft_flow_csv_reader *r = weft_flow_csv_open(inputs[i], &rep, err, sizeof err);
            if (!r) {
                err_line("%s", err);
                read_failed = true;
                continue;
            }
            weft_flow fl;
            int got = 0;
            if (follow) {
                /* a file still being written: each graph goes out as soon as it is complete, and an end of
                 * the file is a pause; Ctrl-C (or SIGTERM) ends it, writing what is left */
                weft_flow_csv_follow(r);
                struct sigaction sa;
                memset(&sa, 0, sizeof sa);
                sa.sa_handler = on_stop_signal;
                sigaction(SIGINT, &sa, NULL);
                sigaction(SIGTERM, &sa, NULL);
            }
            while (!br && (got = weft_flow_csv_next(r, &fl, &strings, err, sizeof err)) > 0) {
                if (got == 2) {
                    if (stop_requested) break;
                    if (fflush(stdout) != 0) c.failed = true;
                    nanosleep(&(struct timespec){0, 200000000}, NULL);
                    continue;
                }
                br = weft_tgraph_stream_push(gs, &fl, err, sizeof err);
                if (!br && follow) br = weft_tgraph_stream_poll(gs, err, sizeof err);
                if (follow && stop_requested) break;
            }
            if (got < 0) br = -1;
            weft_flow_csv_close(r);
            if (!br) br = weft_tgraph_stream_flush(gs, err, sizeof err);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (!c.json) weft_report_print(stderr, &rep);
    if (br == -1) {
        if (c.json) printf("]}\n");
        err_line("%s", err);
        goto out;
    }
    if (br) {
        if (c.json) printf("]}\n");
        goto out; /* the callback said why */
    }
    if (c.json) {
        printf("\n ],\n \"read\": ");
        weft_report_json(stdout, &rep);
        printf(",\n \"totals\": {\"flows\": %zu, \"flows_skipped\": %zu, \"flows_clipped\": %zu, "
               "\"windows_clipped\": %zu, \"memberships\": %zu, \"windows\": %zu, "
               "\"windows_dropped\": %zu, \"graphs\": %zu, \"time_axes\": %zu, \"flows_late\": %zu, "
               "\"flows_past_end\": %zu, \"windows_past_end\": %zu, "
               "\"peak_flows_held\": %zu, \"nodes\": {\"con\": %zu, \"ip\": %zu}, \"edges\": {",
               st.flows, st.flows_skipped, st.flows_clipped, st.windows_clipped, st.memberships, st.windows,
               st.windows_dropped, st.graphs, st.axes, st.flows_late, st.flows_past_end, st.windows_past_end,
               st.peak_flows_held,
               c.total_nodes[0], c.total_nodes[1]);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++)
            printf("%s\"%s\": %zu", e ? ", " : "", weft_edge_type_names[e], c.total_edges[e]);
        printf("}, \"seconds\": %.6f}}\n", secs);
    } else {
        printf("total: %zu flows (%zu skipped), %zu (flow, window) pairs, %zu windows (%zu dropped with >= %zu flows), "
               "%zu graphs; nodes: con %zu, ip %zu; edges:",
               st.flows, st.flows_skipped, st.memberships, st.windows, st.windows_dropped, p.max_flows, st.graphs,
               c.total_nodes[0], c.total_nodes[1]);
        for (int e = 0; e < WEFT_EDGE_TYPES; e++) printf("%s %s %zu", e ? "," : "", weft_edge_type_names[e], c.total_edges[e]);
        printf("\nbuilt in %.3f s (%.0f flows/s)\n", secs, secs > 0 ? (double)st.flows / secs : 0.0);
        if (st.flows_clipped)
            printf("%zu flow(s) lasted longer than %lld windows and were kept in their first %lld only (%zu (flow, window) "
                   "pairs left out; --max-flow-windows sets the limit)\n",
                   st.flows_clipped, (long long)p.max_flow_windows, (long long)p.max_flow_windows, st.windows_clipped);
        if (st.flows_past_end)
            printf("%zu flow(s) lasted past the end of their input's time range (%g s after its latest flow start) "
                   "and were cut there (%zu (flow, window) pairs left out; --max-tail sets the limit)\n",
                   st.flows_past_end, p.max_tail, st.windows_past_end);
        printf("%zu time axis/axes (%s); at most %zu flows held at once\n", st.axes,
               merge ? "inputs merged in time order" : "each input on its own, and a new one where start times jump back",
               st.peak_flows_held);
        if (st.flows_late)
            printf("%zu flow(s) started more than %g s before flows read earlier and missed graphs already written "
                   "(--reorder sets the allowance)\n", st.flows_late, reorder);
    }
    if (c.dot_path && !c.dot_done) {
        if (c.dot_graph >= 0) err_line("--dot-graph %ld: there are only %zu graphs", c.dot_graph, st.graphs);
        else err_line("no graph has at most %d nodes; DOT not written (use a shorter --window)", DOT_MAX_NODES);
        c.failed = true;
    }
    if (fflush(stdout) != 0) {
        err_line("cannot write the report");
        goto out;
    }
    rc = read_failed || c.failed ? CLI_FAIL : CLI_OK;
out:
    free(inputs);
    free(c.degbuf);
    free(c.flowbuf);
    weft_tgraph_stream_free(gs);
    if (rd)
        for (int i = 0; i < n_in; i++) weft_flow_csv_close(rd[i]);
    free(rd);
    free(head);
    free(has);
    weft_flow_table_free(&strings);
    return rc;
}
