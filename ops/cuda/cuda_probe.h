/*
 * ops/cuda/cuda_probe.h — measurements of the device for benchmarks (defined in ops/cuda/graph.cu).
 */
#ifndef WEFT_OPS_CUDA_PROBE_H
#define WEFT_OPS_CUDA_PROBE_H

#include <stddef.h>

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The device memory bandwidth a plain vectorised copy reaches: copies `bytes` (rounded down to a multiple
 * of 16) from one fresh buffer to another `reps` times (after one copy to warm up), timed with CUDA
 * events, and sets *gbps to the bytes read plus the bytes written per second, in units of 1e9. The
 * reference a memory-bound kernel's achieved bandwidth is compared with. Allocates, synchronises and
 * frees: for benchmarks, never inside a run. */
weft_status weft_cuda_copy_bandwidth(size_t bytes, int reps, double *gbps);

#ifdef __cplusplus
}
#endif

#endif
