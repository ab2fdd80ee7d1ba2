/*
 * ops/weft_attention.h — ai.weft FusedAttention (schemas/ai.weft.md, ops/weft_attention.c): its
 * attributes and the strided views of its operands, shared by the reference kernel and the CPU kernel
 * (ops/cpu/attention.c).
 *
 * Y = out_perm( Softmax( (q_perm(Q) @ k_perm(K)) * scale + mask [+ causal], last axis ) @ v_perm(V) ), where K is
 * the second operand of the scores' MatMul (K transposed, [..., D, Sk]) and a perm names the Transpose
 * an export applied to the operand (absent: none).
 */
#ifndef WEFT_OPS_WEFT_ATTENTION_H
#define WEFT_OPS_WEFT_ATTENTION_H

#include "op.h"

/* Ranks the op takes: the operands' (and the output's). */
#define WEFT_ATTN_MAX_RANK 6

typedef struct weft_attn_spec {
    int perm[4][WEFT_ATTN_MAX_RANK]; /* Q, K, V, output; identity when not given */
    bool has_perm[4];
    int perm_n[4];                   /* the perm's length, or 0 */
    bool has_scale, divide;          /* scores * scale, or / scale (`scale_divides`) */
    bool causal;                     /* key j > query row i masked out (`causal`) */
    float scale;
} weft_attn_spec;

enum { WEFT_ATTN_Q, WEFT_ATTN_K, WEFT_ATTN_V, WEFT_ATTN_OUT };

/* Reads and checks the attributes (each perm a permutation of 0..n-1, n <= WEFT_ATTN_MAX_RANK). */
weft_status weft_attn_read(const weft_node_info *n, weft_attn_spec *a);

/* An operand as the formula reads it: dims and element strides of the permuted view. */
typedef struct weft_attn_view {
    int rank;
    int64_t dims[WEFT_ATTN_MAX_RANK], strides[WEFT_ATTN_MAX_RANK];
} weft_attn_view;

/* The view of a tensor of `rank` dims `dims` (row-major) under spec perm `which` (WEFT_ATTN_*), or for
 * the output: the view of Y (before out_perm) inside an output tensor of dims `dims`. False when the
 * perm's length is not the rank. */
bool weft_attn_view_of(const weft_attn_spec *a, int which, int rank, const int64_t *dims, weft_attn_view *v);

#endif
