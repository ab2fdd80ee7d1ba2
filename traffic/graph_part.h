/*
 * traffic/graph_part.h — building some of a time axis's graphs at a time (inside traffic/ only): what
 * the streaming builder (graph_stream.c) needs from the whole-table builder (graph.c), so both make the
 * same graphs from the same flows.
 */
#ifndef WEFT_TRAFFIC_GRAPH_PART_H
#define WEFT_TRAFFIC_GRAPH_PART_H

#include "graph.h"

typedef struct weft_tgraph_part {
    int64_t first_window; /* the window of graph 0's first slice; INT64_MIN: the earliest of the table */
    int64_t g_lo, g_hi;   /* build graphs g_lo <= g < g_hi (g_hi INT64_MAX: to the end) */
    size_t index_base;    /* weft_tgraph.index of the first graph built */
    size_t first_new;     /* flows before this table index were counted by an earlier call */
    bool last;            /* the axis ends here: flows are cut at the end of its time range (max_tail) */
} weft_tgraph_part;

/* Fills in the defaults (stride, graph stride) and checks the parameters; false with err set. */
bool weft_tgraph_check_params(weft_tgraph_params *p, char *err, size_t err_n);

/* Whether flow f takes part at all: finite times, a duration >= 0, and times near enough to 0 (in
 * strides) that window starts near them are exact doubles. Others are skipped and counted. */
bool weft_tgraph_flow_valid(const weft_tgraph_params *p, const weft_flow *f);

/* The windows flow f belongs to (after the max_flow_windows cut), for p with a finite origin: false
 * when the flow is skipped (times not finite, negative duration, out of range). *kmax < *kmin when it
 * belongs to none. */
bool weft_tgraph_flow_windows(const weft_tgraph_params *p, const weft_flow *f, int64_t *kmin, int64_t *kmax);

/* Start time of window k. */
double weft_tgraph_window_start(const weft_tgraph_params *p, int64_t k);

/* weft_tgraph_build restricted by `part`; statistics are added to *stats (not reset): windows from the
 * first window of graph g_lo to that of g_hi, flows from first_new on. */
int weft_tgraph_build_part(const weft_flow_table *t, const weft_tgraph_params *p, const weft_scaler *sc,
                           const weft_tgraph_part *part, weft_tgraph_fn fn, void *user, weft_tgraph_stats *stats,
                           char *err, size_t err_n);

#endif
