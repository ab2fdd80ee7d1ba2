/*
 * compiler/onnx_export.h — weft IR → ONNX ModelProto: the one ONNX writer (plan files, and later
 * training checkpoints and exports).
 *
 * What is written:
 *   - every node, in graph order, with its attributes (subgraphs of If / Loop / Scan included);
 *   - constants (initializers, Constant nodes, folded values) that something reads, as raw_data
 *     initializers of the graph that owns them;
 *   - graph inputs and outputs with their dtypes and shapes, symbolic dims as dim_param named from the
 *     symbol table; with `value_info`, the types of intermediate values too, so that an importer that
 *     merges declared types (weft's does) sees the same shapes inference gave here;
 *   - an opset import for every domain a node uses (ai.weft included), at the version the nodes were
 *     resolved at, plus any the caller asks for.
 * Values without a name (a pass may make them) get generated names no other value of the model has.
 */
#ifndef WEFT_COMPILER_ONNX_EXPORT_H
#define WEFT_COMPILER_ONNX_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ir.h"

typedef struct weft_onnx_export_options {
    /* Opset imports to declare besides those the nodes need; for a domain the nodes use, the nodes'
     * version wins. May be NULL. */
    const weft_opset_import *opsets;
    int n_opsets;
    int64_t ir_version;           /* 0: the IR version the default-domain opset calls for (at least 4) */
    const char *producer_name;    /* NULL: "weft" */
    const char *producer_version; /* NULL: weft's version */
    bool value_info;              /* also declare the types of intermediate values */
    /* ModelProto.metadata_props: n_metadata key / value pairs (what a trained model carries for its
     * users: class names, feature scaling, graph options). May be NULL. */
    const char *const *metadata_keys;
    const char *const *metadata_values;
    int n_metadata;
} weft_onnx_export_options;

/* Serialises graph g (with the symbol table its shapes use) as an ONNX ModelProto. On success *buf is
 * malloc'd (free() it) and holds *len bytes. opts may be NULL (defaults above, value_info off).
 * Fails with WEFT_ERR_UNSUPPORTED when nodes of one domain were resolved at opsets that one import
 * cannot express (their op definitions differ). */
weft_status weft_ir_to_onnx(const weft_graph *g, const weft_symtab *syms, const weft_onnx_export_options *opts,
                            uint8_t **buf, size_t *len);

/* A whole model: its graph, opset imports and IR version (at least 4); weft is named the producer. */
weft_status weft_model_to_onnx(const weft_model *m, uint8_t **buf, size_t *len);

#endif
