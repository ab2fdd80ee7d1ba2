/*
 * ops/onednn/onednn_prim.h — what the `onednn` backend's files (onednn.c, conv.c, deconv.c, rnn.c,
 * bmm.c) share about oneDNN objects (ops/onednn/prim.c): a oneDNN status as weft's error, 64-byte
 * aligned buffers, plain memory formats, and reorders, run once (constant weights in prepare) or made
 * as primitives with a user scratchpad (activations at a step's boundary, every run).
 */
#ifndef WEFT_OPS_ONEDNN_PRIM_H
#define WEFT_OPS_ONEDNN_PRIM_H

#include <dnnl.h>

#include "../backend.h"

/* A failed oneDNN call as an error value: out of memory, unsupported (dnnl_unimplemented) or internal,
 * "oneDNN: <what>: <status>", prefixed with the node when there is one. */
weft_status weft_dn_fail(const weft_node_info *node, dnnl_status_t s, const char *what);
/* n rounded up to a multiple of 64. */
static inline size_t weft_dn_up64(size_t n) { return (n + 63) & ~(size_t)63; }
/* A 64-byte aligned buffer of at least `bytes` (at least one) bytes, for free(); NULL when out of memory. */
void *weft_dn_alloc64(size_t bytes);
/* The plain (row-major) format tag of `ndims` dims (1 to 6), else dnnl_format_tag_undef. */
dnnl_format_tag_t weft_dn_plain_tag(int ndims);
/* Reorders data a (described by `from`) into b (`to`) once, on a stream of its own. */
dnnl_status_t weft_dn_reorder_once(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *a,
                                   const dnnl_memory_desc_t *to, void *b);
/* A reorder primitive from -> to with a user scratchpad, whose size raises *scr. */
dnnl_status_t weft_dn_make_reorder(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                   dnnl_primitive_t *out, size_t *scr);

#endif
