/*
 * traffic/graph.h — the spatio-temporal graph builder (schemas/traffic_graph.md).
 *
 * Time is cut into windows: window k is [origin + k*stride, origin + k*stride + window). A flow belongs
 * to every window its lifetime [start, start + duration] overlaps (a flow of zero duration to the
 * windows that contain its start; a flow ending exactly where a window begins is not in it). Windows
 * with max_flows or more flows are dropped (their slice is empty). A graph stacks window_memory
 * consecutive windows ("slices"); graph g covers windows first + g*graph_stride ... + window_memory - 1,
 * where `first` is the earliest window any flow belongs to; graphs without any node are not produced.
 *
 * Inside a graph:
 *  - con nodes: one per (flow, slice), ordered by slice, then flow start, then the flow's index in the
 *    table; a flow's position within its slice (0-based, in that order) feeds its positional encoding;
 *  - ip nodes: one per (address, slice) for every address that is a source or destination of a flow in
 *    the slice, ordered by slice, then address bytes (IPv4-mapped form);
 *  - edges of each type sorted by (source node, destination node); every type is listed in the contract.
 *    ip__next__ip joins an address's node to its node in the next slice of the graph where it appears;
 *    con__next_src__con / con__next_dst__con join a flow to each of the next flow_memory flows (in node
 *    order) with the same source / destination address in its slice; con__repeat__con joins a flow to the
 *    flows with the same 5-tuple (src, dst, sport, dport, proto) in the next slice where the 5-tuple
 *    appears (at most flow_memory of them, the first in node order).
 * Everything is deterministic: the same table and parameters give the same bytes.
 */
#ifndef WEFT_TRAFFIC_GRAPH_H
#define WEFT_TRAFFIC_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "features.h"
#include "flow.h"

enum {
    WEFT_EDGE_IP_SRC_CON,      /* ip__src__con */
    WEFT_EDGE_CON_DST_IP,      /* con__dst__ip */
    WEFT_EDGE_CON_REV_SRC_IP,  /* con__rev_src__ip */
    WEFT_EDGE_IP_REV_DST_CON,  /* ip__rev_dst__con */
    WEFT_EDGE_IP_NEXT_IP,      /* ip__next__ip */
    WEFT_EDGE_CON_NEXT_SRC_CON,/* con__next_src__con */
    WEFT_EDGE_CON_NEXT_DST_CON,/* con__next_dst__con */
    WEFT_EDGE_CON_REPEAT_CON,  /* con__repeat__con */
    WEFT_EDGE_TYPES
};
enum { WEFT_NODE_CON, WEFT_NODE_IP, WEFT_NODE_TYPES };

extern const char *const weft_edge_type_names[WEFT_EDGE_TYPES];
extern const int weft_edge_type_src[WEFT_EDGE_TYPES]; /* WEFT_NODE_* of the source */
extern const int weft_edge_type_dst[WEFT_EDGE_TYPES];
extern const char *const weft_node_type_names[WEFT_NODE_TYPES]; /* "con", "ip" */

typedef struct weft_tgraph_params {
    double window;       /* seconds (5) */
    double stride;       /* seconds between window starts (0: = window) */
    double origin;       /* start of window 0 (NAN: floor(earliest start / stride) * stride) */
    int window_memory;   /* slices per graph (5) */
    int graph_stride;    /* windows between the first slices of consecutive graphs (0: = window_memory) */
    int flow_memory;     /* temporal fan-out of next_src / next_dst / repeat edges (20) */
    size_t max_flows;    /* windows with this many flows or more are dropped (10000); 0: no cap */
    double max_tail;     /* seconds a flow may last past the latest flow start of its input (1800, the
                          * flows' active timeout; 0: no limit): an input's time range ends there, so a
                          * flow whose duration is broken cannot make graphs after everything else ended */
    int64_t max_flow_windows; /* a flow belongs to at most this many windows, its first ones (17280: a day
                               * of 5 s windows); 0: no limit. A broken duration in a flow log (a start
                               * date off by decades) would otherwise put one flow in millions of windows
                               * and make as many graphs of it. */
} weft_tgraph_params;

void weft_tgraph_params_default(weft_tgraph_params *p);

/* One graph; all arrays are owned by the builder and valid only during the callback. */
typedef struct weft_tgraph {
    size_t index;              /* 0, 1, ... in the order produced */
    int64_t first_window;      /* window index of slice 0 */
    double t0;                 /* start time of slice 0 */
    int n_slices;              /* window_memory */
    const size_t *window_flows;   /* [n_slices] flows belonging to each window (dropped ones included) */
    const bool *window_dropped;   /* [n_slices] */
    size_t num_nodes[WEFT_NODE_TYPES];
    const float *x_con;        /* [num_con][WEFT_FEAT_CON_DIM] */
    const float *x_ip;         /* [num_ip][WEFT_FEAT_IP_DIM] */
    size_t num_edges[WEFT_EDGE_TYPES];
    const int64_t *edge_index[WEFT_EDGE_TYPES]; /* [2][num_edges]: row 0 sources, then row 1 destinations */
    /* Where nodes come from (for reports, labels and DOT output). */
    const size_t *con_flow;    /* [num_con] index of the flow in the table */
    const int *con_slice;      /* [num_con] */
    const weft_ip *ip_addr;    /* [num_ip] */
    const int *ip_slice;       /* [num_ip] */
    const weft_flow_table *table; /* the flows con_flow indexes */
    const uint64_t *flow_rows; /* streaming: per table flow, its row among all flows pushed (NULL: the
                                * table index is the row) */
} weft_tgraph;

typedef struct weft_tgraph_stats {
    size_t flows;              /* flows in the table */
    size_t flows_skipped;      /* flows with a start or duration that is not finite, negative or out of range */
    size_t flows_clipped;      /* flows cut to their first max_flow_windows windows */
    size_t flows_past_end;     /* flows cut at the end of their input's time range (max_tail) */
    size_t windows_past_end;   /* (flow, window) pairs those cuts left out */
    size_t windows_clipped;    /* (flow, window) pairs those cuts left out */
    size_t memberships;        /* (flow, window) pairs */
    size_t windows;            /* non-empty windows */
    size_t windows_dropped;    /* of those, dropped by the cap */
    size_t graphs;             /* graphs produced */
    /* streaming (weft_tgraph_stream) only: */
    size_t axes;               /* time axes: inputs, or stretches between backward jumps, graphed apart */
    size_t flows_late;         /* flows that arrived after graphs of their windows were written */
    size_t peak_flows_held;    /* the most flows held at once */
} weft_tgraph_stats;

/* Called once per graph, in order; return non-zero to stop (weft_tgraph_build then returns that value). */
typedef int (*weft_tgraph_fn)(const weft_tgraph *g, void *user);

/* Builds every graph of the table. Returns 0, the callback's non-zero value, or -1 with err set
 * (bad parameters, out of memory, a graph too large for 32-bit node numbering). stats may be NULL. */
int weft_tgraph_build(const weft_flow_table *t, const weft_tgraph_params *p, const weft_scaler *s, weft_tgraph_fn fn,
                     void *user, weft_tgraph_stats *stats, char *err, size_t err_n);

/* ---------- streaming ----------
 * Flows are pushed in order of start time (as `weft flows` writes them) and each graph is built as soon
 * as no later flow can belong to it, so memory holds the flows of the windows in flight, not the input.
 * The graphs are those weft_tgraph_build makes from the same flows, in the same order. Start times may
 * run backwards by up to `reorder` seconds (graphs wait that long); a flow further back either starts a
 * new time axis (new_axis_on_jump: unrelated inputs one after the other, each with its own origin) or is
 * counted late (stats.flows_late: it joins only the graphs not yet written). */
typedef struct weft_tgraph_stream weft_tgraph_stream;

/* stats (required) is reset here and filled as graphs are written. NULL with err set on bad
 * parameters or out of memory. */
weft_tgraph_stream *weft_tgraph_stream_new(const weft_tgraph_params *p, const weft_scaler *s, double reorder,
                                           bool new_axis_on_jump, weft_tgraph_fn fn, void *user,
                                           weft_tgraph_stats *stats, char *err, size_t err_n);
/* Adds one flow (copied; its label strings must outlive the stream) and writes the graphs it completes.
 * Returns 0, the callback's non-zero value, or -1 with err set. */
int weft_tgraph_stream_push(weft_tgraph_stream *g, const weft_flow *f, char *err, size_t err_n);
/* Writes every graph that no later flow can change (for live input: after a pause). Same returns. */
int weft_tgraph_stream_poll(weft_tgraph_stream *g, char *err, size_t err_n);
/* The end of a time axis (an input ends): writes its remaining graphs; the next flow starts a new axis. */
int weft_tgraph_stream_flush(weft_tgraph_stream *g, char *err, size_t err_n);
void weft_tgraph_stream_free(weft_tgraph_stream *g);

#endif
