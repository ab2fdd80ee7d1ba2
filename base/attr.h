/*
 * base/attr.h — node attributes (ONNX AttributeProto in memory) and what an op knows of its node.
 */
#ifndef WEFT_BASE_ATTR_H
#define WEFT_BASE_ATTR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft.h"
#include "shape.h"

/* --- attributes ---------------------------------------------------------------------------------- */

/* Numbering of ONNX's AttributeProto.AttributeType. */
typedef enum weft_attr_type {
    WEFT_ATTR_UNDEFINED = 0,
    WEFT_ATTR_FLOAT = 1,
    WEFT_ATTR_INT = 2,
    WEFT_ATTR_STRING = 3,
    WEFT_ATTR_TENSOR = 4,
    WEFT_ATTR_GRAPH = 5,
    WEFT_ATTR_FLOATS = 6,
    WEFT_ATTR_INTS = 7,
    WEFT_ATTR_STRINGS = 8,
    WEFT_ATTR_TENSORS = 9,
    WEFT_ATTR_GRAPHS = 10,
    WEFT_ATTR_SPARSE_TENSOR = 11,
    WEFT_ATTR_SPARSE_TENSORS = 12,
    WEFT_ATTR_TYPE_PROTO = 13,
    WEFT_ATTR_TYPE_PROTOS = 14
} weft_attr_type;

struct weft_graph; /* owned by the compiler; opaque here */

typedef struct weft_attr {
    char *name;
    weft_attr_type type;
    float f;
    int64_t i;
    char *s;      /* STRING: NUL-terminated copy (s_len bytes before the NUL) */
    size_t s_len;
    int n;        /* element count of the list forms */
    float *floats;
    int64_t *ints;
    char **strings;
    weft_tensor *t;          /* TENSOR: one; TENSORS: n of them (data owned by the attribute) */
    struct weft_graph *g;    /* GRAPH */
    struct weft_graph **gs;  /* GRAPHS: n of them */
} weft_attr;

/* What an op knows of the node it runs as. */
typedef struct weft_node_info {
    const char *name;    /* node name, or a generated "<op>_<index>" */
    const char *op_type;
    const char *domain;  /* "" for the default ONNX domain */
    int opset;           /* the model's opset for the node's domain */
    int n_attrs;
    const weft_attr *attrs;
} weft_node_info;

const weft_attr *weft_attr_find(const weft_node_info *n, const char *name);
int64_t weft_attr_int(const weft_node_info *n, const char *name, int64_t def);
float weft_attr_float(const weft_node_info *n, const char *name, float def);
const char *weft_attr_string(const weft_node_info *n, const char *name, const char *def);
/* List attributes: returns the count and sets *out, or -1 (and *out = NULL) when absent. */
int weft_attr_ints(const weft_node_info *n, const char *name, const int64_t **out);
int weft_attr_floats(const weft_node_info *n, const char *name, const float **out);

#endif
