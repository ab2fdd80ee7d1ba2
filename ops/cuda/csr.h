/*
 * ops/cuda/csr.h — CSR indices on the device, built (by the ai.weft CSR op in ops/cuda/csr.cu, and by
 * SegmentReduce and EdgeSoftmax in ops/cuda/graph.cu, which index their edges before reducing) or checked
 * (by the readers of ops/cuda/graph.cu).
 *
 * A build sorts the edges by destination, stably, so that the edges of a segment keep their order:
 * every reader then folds them in the reference kernels' order. Two forms:
 *   - offsets (the segment count N known at reshape): offsets [N + 1] and perm [E], as CSR outputs them;
 *   - runs (N only at run time, EdgeSoftmax's num_segments): perm [E] and the first position of each
 *     run of equal destinations (starts, with their count on the device); empty segments have no run.
 * reserve (reshape) allocates everything, build (run) only enqueues.
 *
 * The readers of an index they did not build (CsrReduce & co.) check it first (weft_cuda_csr_check).
 */
#ifndef WEFT_OPS_CUDA_CSR_H
#define WEFT_OPS_CUDA_CSR_H

#include "cuda_backend.h"

typedef struct weft_cuda_csr {
    int64_t E, N;                /* N < 0: the runs form */
    bool key64;                  /* 64-bit sort keys (offsets form with N >= 2^32; runs: both reserved) */
    int end_bit;                 /* bits of the keys the sort looks at (offsets form) */
    void *keys, *keys_sorted;    /* [E] */
    int64_t *ids;                /* [E] 0..E-1: the sort's values, and the positions runs select from */
    int64_t *perm;               /* [E] when the caller has no buffer of its own for it */
    unsigned long long *counts;  /* [N + 1] edges per segment (offsets form) */
    unsigned char *heads;        /* [E] position starts a run (runs form) */
    int64_t *starts, *nruns;     /* [E] and [1] (runs form) */
    void *temp;
    size_t temp_bytes;
} weft_cuda_csr;

/* Sizes and allocates a build of E edges into N segments (N < 0: the runs form); own_perm: perm lives
 * in the builder. */
weft_status weft_cuda_csr_reserve(weft_cuda_csr *c, int64_t E, int64_t N, bool own_perm);
void weft_cuda_csr_release(weft_cuda_csr *c);

/* Enqueues the build of `index` (int32 / int64, E values; `wrap`: values in [-N, N) count from the end)
 * into N segments (the value the run has: the reserved one in the offsets form). A value out of range is
 * flagged as WEFT_CUDA_ERR_INDEX under `tag` and its edge parked past the last segment. Writes offsets
 * (offsets form) and perm (NULL: the builder's own). */
weft_status weft_cuda_csr_build(weft_cuda_csr *c, weft_cuda_queue *q, const weft_node_info *node, int tag,
                                const void *index, bool index64, int64_t N, bool wrap, int64_t *offsets, int64_t *perm);

/* Bytes of the scratch weft_cuda_csr_check needs for E edges (one bit each), allocated at reshape. */
static inline size_t weft_cuda_csr_seen_bytes(int64_t E) { return (size_t)((E + 31) / 32) * sizeof(unsigned); }

/* Enqueues the checks of a CSR index a reader is handed, as the reference makes them: offsets [N + 1]
 * start at 0, never decrease and end at E (else WEFT_CUDA_ERR_STRUCTURE at the entry); perm (may be
 * NULL) holds each of [0, E) once (a value out of range: _INDEX; a repeat: _STRUCTURE at its position);
 * col (may be NULL) holds values in [0, M) (_INDEX). */
weft_status weft_cuda_csr_check(weft_cuda_queue *q, const weft_node_info *node, int tag, const int64_t *offsets, int64_t N,
                                int64_t E, const int64_t *perm, const int64_t *col, int64_t M, unsigned *seen);

/* The perm a build wrote (the caller's, else the builder's own). */
static inline const int64_t *weft_cuda_csr_perm(const weft_cuda_csr *c, const int64_t *perm) { return perm ? perm : c->perm; }

#endif
