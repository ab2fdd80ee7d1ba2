/*
 * tests/fuzz/fuzz_run.h — runs a compiled plan on small inputs (shared by fuzz_onnx and fuzz_plan).
 *
 * weft has no limit of its own on the sizes a model asks for (a user may run any graph the machine
 * holds), so the harness keeps them small: every symbolic dimension is bound to FUZZ_NODES / FUZZ_EDGES
 * and a plan whose fixed input sizes add up to more than FUZZ_MAX_INPUT_BYTES is not run. What the graph
 * itself computes from those (Expand, Tile, ConstantOfShape, ...) can still be large: single allocations
 * over the sanitizer's cap fail and must end in weft's out-of-memory error (fuzz_common.c).
 */
#ifndef WEFT_FUZZ_RUN_H
#define WEFT_FUZZ_RUN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft.h"

#define FUZZ_NODES 3
#define FUZZ_EDGES 5
#define FUZZ_MAX_INPUT_BYTES ((size_t)1 << 16)

/* The byte size of input i with symbols bound small, or SIZE_MAX when it is not bindable (a string,
 * an unknown rank) or over the cap. */
static size_t fuzz_input_bytes(const weft_plan *p, int i, weft_tensor *info)
{
    if (weft_plan_input_info(p, i, info) != WEFT_OK) return SIZE_MAX;
    size_t es = weft_dtype_size(info->dtype);
    if (!es || info->rank < 0 || info->rank > WEFT_MAX_RANK) return SIZE_MAX;
    size_t n = es;
    for (int d = 0; d < info->rank; d++) {
        int64_t v = info->dims[d];
        if (v < 0) v = FUZZ_EDGES > FUZZ_NODES ? FUZZ_EDGES : FUZZ_NODES;
        if (v > 0 && n > FUZZ_MAX_INPUT_BYTES / (size_t)v) return SIZE_MAX;
        n *= (size_t)v;
    }
    return n;
}

/* Binds inputs by hand where synthesis refuses (types it does not make, index rows it cannot place):
 * symbols as FUZZ_NODES, values a fixed small pattern (in range for small index tensors more often than
 * not). */
static int fuzz_manual_inputs(const weft_plan *p, weft_tensor *in, int n)
{
    for (int i = 0; i < n; i++) {
        weft_tensor info;
        if (fuzz_input_bytes(p, i, &info) == SIZE_MAX) return -1;
        in[i] = info;
        size_t numel = 1;
        for (int d = 0; d < info.rank; d++) {
            if (in[i].dims[d] < 0) in[i].dims[d] = FUZZ_NODES;
            numel *= (size_t)in[i].dims[d];
        }
        size_t es = weft_dtype_size(info.dtype);
        in[i].nbytes = numel * es;
        in[i].data = calloc(numel ? numel : 1, es);
        if (!in[i].data) return -1;
        uint8_t *b = in[i].data;
        for (size_t k = 0; k < numel; k++) {
            /* the low byte only: 0, 1, 2, 0, ... as an integer, tiny values as float, true/false as bool */
            if (info.dtype == WEFT_FLOAT32) ((float *)b)[k] = (float)(k % 3) - 1.0f;
            else if (info.dtype == WEFT_FLOAT64) ((double *)b)[k] = (double)(k % 3) - 1.0;
            else if (info.dtype == WEFT_BOOL) b[k] = (uint8_t)(k & 1);
            else b[k * es] = (uint8_t)(k % FUZZ_NODES);
        }
    }
    return 0;
}

/* Creates a one-thread session and runs the plan once on small inputs; errors are fine (the input is
 * hostile), crashes, leaks and undefined behaviour are what the fuzzer looks for. */
static void fuzz_run_plan(const weft_plan *p)
{
    int n = weft_plan_num_inputs(p);
    if (n < 0 || n > 64) return;
    weft_tensor info;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        size_t b = fuzz_input_bytes(p, i, &info);
        if (b == SIZE_MAX || (total += b) > FUZZ_MAX_INPUT_BYTES) return;
    }
    weft_tensor *in = calloc((size_t)(n ? n : 1), sizeof *in);
    if (!in) return;
    weft_synth_options so = {.nodes = FUZZ_NODES, .edges = FUZZ_EDGES, .seed = 1};
    int synthesized = weft_plan_synthesize_inputs(p, &so, in, n) == WEFT_OK;
    if (!synthesized) {
        memset(in, 0, (size_t)n * sizeof *in); /* nothing of a failed synthesis is left to free */
        if (fuzz_manual_inputs(p, in, n) != 0) goto out;
    }

    weft_session_options o = {.threads = 1};
    weft_session *s = NULL;
    if (weft_session_create_with_options(p, &o, &s) == WEFT_OK) {
        weft_tensor outs[4];
        memset(outs, 0, sizeof outs);
        int n_out = weft_plan_num_outputs(p);
        size_t k = n_out < 0 ? 0 : n_out > 4 ? 4 : (size_t)n_out;
        if (weft_session_run(s, in, (size_t)n, outs, k) == WEFT_OK) {
            /* read every output byte, so a short or dangling output buffer shows up under ASan */
            volatile uint8_t sink = 0;
            for (size_t i = 0; i < k; i++)
                for (size_t b = 0; b < outs[i].nbytes; b++) sink ^= ((const uint8_t *)outs[i].data)[b];
            (void)sink;
            /* a second run takes the cached set-up's path */
            weft_session_run(s, in, (size_t)n, outs, k);
        }
        weft_session_free(s);
    }
out:
    for (int i = 0; i < n; i++) {
        if (synthesized) {
            weft_tensor_release(&in[i]);
        } else {
            free(in[i].data);
        }
    }
    free(in);
}

#endif
