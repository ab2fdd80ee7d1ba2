/* traffic/graph_stream.c — graphs from flows that arrive one at a time (see graph.h, "streaming").
 *
 * Flows wait in a table until the graphs they belong to are complete: graph g is complete once the
 * latest start seen, less the reorder allowance, has passed the end of its last window (a later flow
 * starts later, so it cannot overlap those windows). Complete graphs are built by the whole-table
 * builder restricted to them (graph_part.h) — the same code, so the same graphs — and a flow leaves the
 * table once no graph still to come has one of its windows. Builds are batched (a build costs a pass
 * over the flows held), so each flow takes part in a bounded number of passes. */
#include "graph.h"
#include "graph_part.h"
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct weft_tgraph_stream {
    weft_tgraph_params p;   /* checked; p.origin is fixed per axis unless the user gave one */
    bool user_origin;
    const weft_scaler *sc;
    weft_tgraph_fn fn;
    void *user;
    weft_tgraph_stats *stats;
    double reorder;
    bool new_axis_on_jump;
    weft_flow_table pend;   /* the flows held, in arrival order */
    uint64_t *rows;         /* per held flow: its row among all flows pushed */
    size_t cap_rows;
    uint64_t pushed;
    size_t first_new;       /* pend[first_new..] not yet counted in the statistics */
    size_t new_since_build;
    bool axis_started;      /* origin and first window fixed */
    int64_t kfirst, next_g; /* graph 0's first window; the next graph to write */
    double smin, smax;      /* the earliest and the latest start of a valid flow on this axis */
};

void weft_tgraph_stream_free(weft_tgraph_stream *g)
{
    if (!g) return;
    free(g->pend.flows); /* strings belong to the caller */
    free(g->rows);
    free(g);
}

weft_tgraph_stream *weft_tgraph_stream_new(const weft_tgraph_params *p, const weft_scaler *s, double reorder,
                                           bool new_axis_on_jump, weft_tgraph_fn fn, void *user,
                                           weft_tgraph_stats *stats, char *err, size_t err_n)
{
    if (!s || !fn || !stats) {
        weft_set_err(err, err_n, "no feature scaling, graph callback or statistics given");
        return NULL;
    }
    if (!(reorder >= 0) || !isfinite(reorder)) {
        weft_set_err(err, err_n, "the reorder allowance must be a finite number of seconds >= 0 (got %g)", reorder);
        return NULL;
    }
    weft_tgraph_stream *g = calloc(1, sizeof *g);
    if (!g) {
        weft_set_err(err, err_n, "out of memory");
        return NULL;
    }
    g->p = *p;
    if (!weft_tgraph_check_params(&g->p, err, err_n)) {
        free(g);
        return NULL;
    }
    g->user_origin = !isnan(p->origin);
    g->sc = s;
    g->fn = fn;
    g->user = user;
    g->stats = stats;
    memset(stats, 0, sizeof *stats);
    g->reorder = reorder;
    g->new_axis_on_jump = new_axis_on_jump;
    g->smin = INFINITY;
    g->smax = -INFINITY;
    weft_flow_table_init(&g->pend);
    return g;
}

/* Fixes the axis's origin and first window from the flows held (the earliest start among them: with
 * the reorder allowance passed, no earlier flow is still to come). */
static void start_axis(weft_tgraph_stream *g)
{
    if (!g->user_origin) g->p.origin = isfinite(g->smin) ? floor(g->smin / g->p.stride) * g->p.stride : 0.0;
    g->kfirst = INT64_MAX;
    for (size_t i = 0; i < g->pend.n; i++) {
        int64_t lo, hi;
        if (weft_tgraph_flow_windows(&g->p, &g->pend.flows[i], &lo, &hi) && hi >= lo && lo < g->kfirst) g->kfirst = lo;
    }
    if (g->kfirst == INT64_MAX) g->kfirst = 0;
    g->axis_started = true;
    g->next_g = 0;
    g->stats->axes++;
}

/* Graphs 0 .. n-1 of the axis whose windows all end by time h. */
static int64_t graphs_complete_by(const weft_tgraph_stream *g, double h)
{
    const weft_tgraph_params *p = &g->p;
    if (!isfinite(h)) return h > 0 ? INT64_MAX : 0;
    double kf = floor((h - p->window - p->origin) / p->stride);
    if (!(kf > -1e15 && kf < 1e15)) return kf > 0 ? INT64_MAX : 0;
    int64_t k = (int64_t)kf;
    /* settle the rounding with the exact test: window k is complete when its end is at or before h (a few
     * steps at most: h and the origin are within the range where window starts are exact) */
    for (int i = 0; i < 4 && weft_tgraph_window_start(p, k + 1) + p->window <= h; i++) k++;
    for (int i = 0; i < 4 && !(weft_tgraph_window_start(p, k) + p->window <= h); i++) k--;
    int64_t rel = k - g->kfirst - p->window_memory + 1; /* graph g needs kfirst + g*gs + K - 1 <= k */
    if (rel < 0) return 0;
    return rel / p->graph_stride + 1;
}

/* The user's callback, told which row each held flow is. */
static int relay(const weft_tgraph *gr, void *user)
{
    weft_tgraph_stream *g = user;
    weft_tgraph copy = *gr;
    copy.flow_rows = g->rows;
    return g->fn(&copy, g->user);
}

/* Writes graphs next_g .. g_hi-1 and lets go of the flows no later graph needs. */
static int build(weft_tgraph_stream *g, int64_t g_hi, char *err, size_t err_n)
{
    if (!g->axis_started) start_axis(g);
    weft_tgraph_part part = {.first_window = g->kfirst,
                             .g_lo = g->next_g,
                             .g_hi = g_hi,
                             .index_base = g->stats->graphs,
                             .first_new = g->first_new,
                             .last = g_hi == INT64_MAX};
    int rc = weft_tgraph_build_part(&g->pend, &g->p, g->sc, &part, relay, g, g->stats, err, err_n);
    if (rc) return rc;
    g->next_g = g_hi;
    g->new_since_build = 0;
    /* keep the flows with a window in a graph still to come, in their order */
    int64_t keep_from = g_hi == INT64_MAX ? INT64_MAX : g->kfirst + g_hi * (int64_t)g->p.graph_stride;
    size_t w = 0;
    for (size_t i = 0; i < g->pend.n; i++) {
        int64_t lo, hi;
        if (weft_tgraph_flow_windows(&g->p, &g->pend.flows[i], &lo, &hi) && hi >= lo && hi >= keep_from) {
            g->rows[w] = g->rows[i];
            g->pend.flows[w++] = g->pend.flows[i];
        }
    }
    g->pend.n = w;
    g->first_new = w;
    return 0;
}

/* Builds what is complete when enough has arrived to be worth a pass (or always, when forced). */
static int maybe_build(weft_tgraph_stream *g, bool forced, char *err, size_t err_n)
{
    if (!g->pend.n) return 0;
    double h = g->smax - g->reorder;
    if (!g->axis_started) {
        if (!(h >= g->smin) && !forced) return 0; /* earlier flows may still come */
        start_axis(g);
    }
    int64_t done = graphs_complete_by(g, h);
    if (done <= g->next_g) return 0;
    size_t batch = g->pend.n / 2 > 4096 ? g->pend.n / 2 : 4096;
    if (!forced && g->new_since_build < batch) return 0;
    return build(g, done, err, err_n);
}

int weft_tgraph_stream_flush(weft_tgraph_stream *g, char *err, size_t err_n)
{
    int rc = 0;
    if (g->pend.n) rc = build(g, INT64_MAX, err, err_n);
    g->pend.n = 0;
    g->first_new = 0;
    g->new_since_build = 0;
    g->axis_started = false;
    g->next_g = 0;
    g->smin = INFINITY;
    g->smax = -INFINITY;
    return rc;
}

int weft_tgraph_stream_poll(weft_tgraph_stream *g, char *err, size_t err_n)
{
    return maybe_build(g, true, err, err_n);
}

int weft_tgraph_stream_push(weft_tgraph_stream *g, const weft_flow *f, char *err, size_t err_n)
{
    bool valid = weft_tgraph_flow_valid(&g->p, f);
    if (valid && f->start < g->smax - g->reorder) {
        if (g->new_axis_on_jump) {
            int rc = weft_tgraph_stream_flush(g, err, err_n);
            if (rc) return rc;
        } else if (g->axis_started) {
            int64_t lo, hi;
            /* past the last window of the last graph written, or before the axis's first */
            int64_t written_end =
                g->next_g > 0 ? g->kfirst + (g->next_g - 1) * (int64_t)g->p.graph_stride + g->p.window_memory : g->kfirst;
            if (weft_tgraph_flow_windows(&g->p, f, &lo, &hi) && hi >= lo && (lo < written_end || lo < g->kfirst))
                g->stats->flows_late++;
        }
    }
    if (g->pend.n == g->cap_rows) {
        size_t cap = g->cap_rows ? g->cap_rows * 2 : 1024;
        uint64_t *r = realloc(g->rows, cap * sizeof *r);
        if (!r) {
            weft_set_err(err, err_n, "out of memory holding %zu flows", g->pend.n);
            return -1;
        }
        g->rows = r;
        g->cap_rows = cap;
    }
    if (weft_flow_table_push(&g->pend, f)) {
        weft_set_err(err, err_n, "out of memory holding %zu flows", g->pend.n);
        return -1;
    }
    g->rows[g->pend.n - 1] = g->pushed++;
    if (g->pend.n > g->stats->peak_flows_held) g->stats->peak_flows_held = g->pend.n;
    g->new_since_build++;
    if (valid && f->start > g->smax) g->smax = f->start; /* a skipped flow moves no clock */
    if (valid && f->start < g->smin) g->smin = f->start;
    return maybe_build(g, false, err, err_n);
}
