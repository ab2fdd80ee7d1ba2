/*
 * tests/unit/cuda_check.h — checking the cuda backend against `ref` on whole (small) graphs.
 *
 * A test describes a graph by a builder function (tests/unit/ir_build.h); wt_cuda_compare builds it
 * twice, lowers one copy for `ref` and the other for `cuda,ref` at -O `opt_level`, runs both on the same
 * inputs and compares every output within atol + rtol * |ref|. The inputs go through the device copies
 * lowering inserts, so each check also covers placement, uploads and the run's device error record.
 *
 * Without a GPU the suites check placement only: every case is compiled for cuda and must put its op
 * on the device, but nothing runs (wt_cuda_skip prints one line saying so).
 */
#ifndef WEFT_TESTS_CUDA_CHECK_H
#define WEFT_TESTS_CUDA_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler/ir.h"
#include "weft.h"

/* True (after printing "<suite>: skipped: <why>") when this build has no cuda backend. When it has one
 * but the machine has no GPU, prints one line saying so and returns false: the cases then only compile
 * for cuda and check that their steps landed there (wt_cuda_placement_only), and no kernel runs. */
bool wt_cuda_skip(const char *suite);
bool wt_cuda_placement_only(void);

/* Builds the graph to test into g (inputs, constants, nodes, outputs); `user` is passed through. */
typedef void (*wt_graph_fn)(weft_graph *g, void *user);

typedef struct wt_cuda_case {
    wt_graph_fn build;
    void *user;
    const weft_tensor *in;  /* named as the graph's inputs */
    int n_in;
    double rtol, atol;
    int opt_level;          /* 0: the graph's ops as built; 1: the compiler's passes too */
    int min_cuda_steps;     /* kernel steps the cuda backend must have taken (the op under test) */
    int runs;               /* runs of the cuda session (>= 1): later runs replay the captured graph */
} wt_cuda_case;

/* Runs the case; returns 0 when every output matches (and the cuda steps were taken), else prints the
 * first difference and returns -1. `weft_status want_error`: when nonzero the cuda run must fail with
 * it (the ref run is then not compared) and its message must contain `error_has` (may be NULL). */
int wt_cuda_compare(const wt_cuda_case *c);
int wt_cuda_expect_error(const wt_cuda_case *c, weft_status want_error, const char *error_has);

/* The suites' random shapes and values: one xorshift generator, seeded by each suite's main. */
void wt_rnd_seed(uint64_t seed);
uint64_t wt_rnd(void);
int64_t wt_rnd_int(int64_t n); /* uniform in [0, n); 0 when n <= 0 */
/* A dim: mostly small and odd-sized, sometimes 1, 33 or (rarely, when zero is allowed) 0. */
int64_t wt_rnd_dim(bool zero);

/* Random data: floats uniform in [lo, hi), indices uniform in [0, n). Deterministic per seed. */
void wt_fill_uniform(float *x, long long n, float lo, float hi, unsigned *seed);
void wt_fill_index(long long *x, long long n, long long range, unsigned *seed);

#endif
