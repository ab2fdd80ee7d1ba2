/*
 * runtime/graph_edit.h — adding values, inputs, initializers and nodes to a graph: what the models built
 * around an encoder (runtime/linkpred.c, runtime/classifier.c) are made with. Errors are sticky: once
 * one call fails (out of memory), the others do nothing and `st` holds the failure, so a builder reads
 * like the graph it makes and checks once at the end.
 */
#ifndef WEFT_RUNTIME_GRAPH_EDIT_H
#define WEFT_RUNTIME_GRAPH_EDIT_H

#include <stdint.h>

#include "../compiler/ir.h"

typedef struct weft_gedit {
    weft_graph *g;
    const char *prefix; /* names of unnamed values and of nodes: "<prefix>__N", "<prefix>/<Op>_N" */
    weft_status st;
    int serial;
} weft_gedit;

/* A new value named `name`, or a fresh name when NULL; -1 once failed. */
int weft_gedit_value(weft_gedit *e, const char *name);
/* type(in...) in `domain` at `opset` writing one new value (named `out`, or a fresh name). */
int weft_gedit_op(weft_gedit *e, const char *type, const char *domain, int opset, const int *in, int n_in,
                  const char *out);
void weft_gedit_attr_int(weft_gedit *e, int v, const char *name, int64_t i);
void weft_gedit_attr_float(weft_gedit *e, int v, const char *name, float f);
/* A typed graph input, appended to the graph's inputs. */
int weft_gedit_input(weft_gedit *e, const char *name, weft_dtype dt, int rank, const weft_dim *dims);
/* A constant of `rank` dims holding `data`, named `name` (or a fresh name when NULL): part of the
 * model's structure, never trained. */
int weft_gedit_constant(weft_gedit *e, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                        const void *data);
/* The same as an initializer: a weight, which weft_trainer makes a parameter (float ones). */
int weft_gedit_initializer(weft_gedit *e, const char *name, weft_dtype dt, int rank, const int64_t *dims,
                           const void *data);

/* A new model around a copy of src's graph, with its own copy of the symbols, src's IR version and
 * opset imports, and room for `extra_opsets` more imports (weft_gedit_import). *out: weft_model_free. */
weft_status weft_gedit_model_copy(const weft_model *src, int extra_opsets, weft_model **out);
/* Adds an opset import for `domain` when the model has none; returns the version it imports. */
int64_t weft_gedit_import(weft_gedit *e, weft_model *m, const char *domain, int64_t version);
/* The graph's outputs become exactly outs[0..n) (the old ones stay values, no longer outputs). */
void weft_gedit_set_outputs(weft_gedit *e, const int *outs, int n);

/* splitmix64: the seeded sequence the builders draw weights and samples from. */
uint64_t weft_splitmix64(uint64_t *state);

#endif
