/*
 * compiler/index_ranges.h — which node set the values of each integer graph input index.
 *
 * A GNN's edge index `[2, E]` holds, in row 0, rows of one node tensor and, in row 1, rows of another
 * (the same one for a homogeneous graph, `x_ip` and `x_con` for a heterogeneous edge type). To make
 * valid inputs for such a model (`weft bench` synthesises random graphs) one must know, per row, the
 * dimension its values range over. weft_index_ranges finds it in the compiled graph: it follows the
 * rows of each integer input (Gather(input, k, axis 0), Slice, Split, and value-preserving reshapes,
 * casts, edge filters and concatenations) to where they are used as an index — Gather / RowGather data
 * rows, ScatterElements / ScatterND / SegmentReduce segments, CSR segments and columns, LinkScore rows —
 * and reads the dimension indexed there. Where the graph does not tell, it falls back to the naming
 * conventions of schemas/traffic_graph.md (`edge_index__<src>__<rel>__<dst>` and `pairs__<src>__<rel>__<dst>`
 * index `x_<src>` in row 0 and `x_<dst>` in row 1) and then to the one node-count symbol of the graph's
 * inputs, if there is exactly one.
 */
#ifndef WEFT_COMPILER_INDEX_RANGES_H
#define WEFT_COMPILER_INDEX_RANGES_H

#include "ir.h"

typedef enum weft_range_source {
    WEFT_RANGE_UNKNOWN = 0, /* nothing tells: the caller must be told which dimension to use */
    WEFT_RANGE_GRAPH,       /* found where the graph uses the values as an index */
    WEFT_RANGE_NAME,        /* from the input's name (edge_index__<src>__<rel>__<dst>, pairs__...) */
    WEFT_RANGE_SINGLE,      /* the only node-count dimension among the graph's inputs */
} weft_range_source;

typedef struct weft_index_row {
    int input;              /* position among the graph inputs */
    int row;                /* row of a [R, E] input; 0 for a rank-1 input */
    weft_dim range;         /* the values lie in [0, range): a number (sym < 0) or a symbol of the inputs */
    weft_range_source source;
    int uses;               /* index uses in the graph that name `range` */
    int conflicts;          /* index uses that name another dimension (the most frequent one wins) */
    weft_dim other;         /* one of those, when conflicts > 0 */
} weft_index_row;

/* Name of a source ("graph", "name", "single input dimension", "unknown"). */
const char *weft_range_source_name(weft_range_source s);

/* One entry per row of every int32 / int64 graph input of rank 1 (one row) or rank 2 with a known
 * number of rows (at most 64): *rows is malloc'd (free() it), *n_rows its length. Rows the analysis
 * cannot place have source WEFT_RANGE_UNKNOWN; that is not an error. Dimensions named are numbers or
 * symbols that occur in the graph inputs' shapes (so a caller that binds the inputs decides them). */
weft_status weft_index_ranges(const weft_graph *g, weft_index_row **rows, int *n_rows);

#endif
