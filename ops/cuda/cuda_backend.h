/*
 * ops/cuda/cuda_backend.h — what the files of the `cuda` backend share: a session's queue (stream,
 * cuBLASLt handle, the device record of failed checks, pinned staging), the table of kernels, and the
 * rules every kernel follows.
 *
 * The backend (ops/cuda/cuda.c) is one `weft_backend` whose buffer type is device memory. Each op it
 * takes is one `weft_cuda_op` (one file per op family in ops/cuda/), found once per step at lowering, like ops/cpu/'s table.
 *
 * Rules for a kernel's entry points, so that the whole plan can be captured in a CUDA Graph and replayed:
 *   - prepare runs at compile time on the host and must not touch the device (a plan can be compiled
 *     and described on a machine without a GPU);
 *   - reshape (once per session and set of sizes) may allocate device memory (weft_cuda_malloc), make
 *     cuBLASLt descriptors, choose algorithms, size temporary storage; it sees dims, not data;
 *   - run only enqueues work on q->stream: kernel launches, cudaMemsetAsync, device-to-device
 *     cudaMemcpyAsync, cuBLASLt calls. It never allocates, synchronises, or reads device data on the
 *     host, and it checks launch errors with weft_cuda_launched. Every operand it gets is device memory,
 *     except the inputs its op lists in `host_inputs`, which stay on the host.
 *   - Index checks happen on the device: a kernel that meets an index out of range records it with
 *     weft_cuda_flag (the first failure of the run wins), never reads or writes out of bounds, and the
 *     session reports it as an error naming the step when the run ends.
 */
#ifndef WEFT_OPS_CUDA_BACKEND_H
#define WEFT_OPS_CUDA_BACKEND_H

#include <cuda_runtime_api.h>
#include <cublasLt.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* weft's headers are C: in a .cu file (C++) their functions keep C linkage. Include this header before
 * any other weft header (ops/weft_fused.h included first would declare op.h's functions as C++). */
#ifdef __cplusplus
extern "C" {
#endif

#include "../backend.h"

/* What a failed device-side check was. */
enum { WEFT_CUDA_OK = 0, WEFT_CUDA_ERR_INDEX = 1, WEFT_CUDA_ERR_STRUCTURE = 2 };

/* The device record of the first check that failed in a run (zeroed when the run starts). */
typedef struct weft_cuda_err {
    int code;        /* WEFT_CUDA_ERR_*, 0 while nothing failed */
    int tag;         /* the step that failed (weft_cuda_tag) */
    long long value; /* INDEX: the offending index; STRUCTURE: the position that is wrong */
    long long bound; /* INDEX: the size of the axis it indexes */
} weft_cuda_err;

#define WEFT_CUDA_MAX_TAGS 1024
#define WEFT_CUDA_TAG_LEN 96

/* A session's queue of work on the device. */
typedef struct weft_cuda_queue {
    int device;
    int sm_count;                /* streaming multiprocessors of the device */
    cudaStream_t stream;
    cublasLtHandle_t lt;
    void *lt_workspace;          /* device memory for cuBLASLt, lt_workspace_bytes */
    size_t lt_workspace_bytes;
    weft_cuda_err *err;          /* device memory */
    weft_cuda_err *err_host;     /* pinned, read after a run */
    int n_tags;
    char (*tag_names)[WEFT_CUDA_TAG_LEN]; /* "node 'x' (RowGather)" per tag */
    void *staging;               /* pinned host memory for copies between host and device */
    size_t staging_cap, staging_used;
    bool tf32;                   /* dense work may use TF32 (session option; reported) */
} weft_cuda_queue;

/* A number naming step `node` in the error a device check reports (registered in reshape; the same
 * node gets the same tag). -1 when the table is full (the error then names no step). */
int weft_cuda_tag(weft_cuda_queue *q, const weft_node_info *node);

/* WEFT_OK, or an error "what: <CUDA's message>". */
weft_status weft_cuda_status(cudaError_t e, const char *what);
/* After a kernel launch in run: the launch's error as a status naming the node. */
weft_status weft_cuda_launched(const weft_node_info *node);
/* Device memory (256-byte aligned); bytes 0 gives a valid 1-byte block. */
weft_status weft_cuda_malloc(size_t bytes, void **out);
void weft_cuda_free(void *p);

/* One cuBLASLt product of the dense and recurrent steps (dense.c, rnn.c): its descriptors and two
 * algorithms, [0] for operands on 16-byte boundaries and [1] for any float alignment (run picks by the
 * pointers it is given). */
typedef struct weft_cuda_lt_mm {
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo[2];
} weft_cuda_lt_mm;

void weft_cuda_lt_mm_free(weft_cuda_lt_mm *m);
/* cuBLASLt's best algorithm for m's descriptors with the queue's workspace and every operand on
 * `align`-byte boundaries; CUBLAS_STATUS_NOT_SUPPORTED when cuBLASLt has none. */
cublasStatus_t weft_cuda_lt_pick(weft_cuda_queue *q, const weft_cuda_lt_mm *m, uint32_t align, cublasLtMatmulAlgo_t *algo);
/* A failed cuBLASLt call as an error naming the node (out of memory, else internal). */
weft_status weft_cuda_lt_error(const weft_node_info *node, cublasStatus_t st, const char *what);

/* Grid size for a grid-stride loop over n items with `threads` per block (never 0, capped). */
static inline unsigned weft_cuda_grid(int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    if (b < 1) b = 1;
    if (b > 65535LL * 8) b = 65535LL * 8;
    return (unsigned)b;
}

/* Whether a tensor of dtype dt and compile-time shape s belongs on the device: float32 always; other
 * fixed-size dtypes (int64 / int32 indices, bool masks) when a dim is a symbol (sized by the graph's data:
 * edges, nodes) or the tensor has more elements than a shape vector can (WEFT_CUDA_SHAPE_MAX). Smaller
 * integer tensors of known size are shape arithmetic (Concat of dims, Unsqueeze of a count) that host
 * steps read: moving them to the device would add a download and a wait. float64 stays with the host
 * backends. */
#define WEFT_CUDA_SHAPE_MAX 64
static inline bool weft_cuda_data_on_device(weft_dtype dt, const weft_shape *s)
{
    if (dt == WEFT_FLOAT32) return true;
    if (dt == WEFT_STRING || dt == WEFT_FLOAT64 || dt == WEFT_UNDEFINED || s->rank < 0) return false;
    double n = 1; /* (a double cannot overflow on absurd dims) */
    for (int i = 0; i < s->rank; i++) {
        if (!weft_dim_known(s->d[i])) return true;
        n *= (double)s->d[i].v;
    }
    return n > WEFT_CUDA_SHAPE_MAX;
}

/* One op of the backend. */
typedef struct weft_cuda_op {
    const char *domain, *name; /* for reports; matching is `supports`'s job */
    /* At lowering; float32 data (int32 / int64 indices) only, shapes as compile time knows them. */
    bool (*supports)(const weft_step_desc *s);
    /* May be NULL. Host only (see the rules above); the object is immutable and shared by sessions. */
    weft_status (*prepare)(const weft_step_desc *s, void **prepared);
    /* May be NULL. Once per session and set of sizes (k's dims are the real ones). */
    weft_status (*reshape)(const void *prepared, const weft_kernel_ctx *k, weft_cuda_queue *q, void **state);
    /* Every run: enqueue only. */
    weft_status (*run)(const void *prepared, void *state, const weft_kernel_ctx *k, weft_cuda_queue *q);
    void (*release)(void *prepared);        /* may be NULL: free() */
    void (*release_state)(void *state);     /* may be NULL: free() */
} weft_cuda_op;

/* The first op of the table (ops/cuda/cuda_ops.c) that takes step s, or NULL. */
const weft_cuda_op *weft_cuda_find(const weft_step_desc *s);

/* The backend and its buffer type (ops/cuda/cuda.c). */
extern const weft_backend weft_backend_cuda;
extern const weft_buffer_type weft_buffer_cuda;
/* True when the process sees a CUDA device (checked once). *why (may be NULL) says why not. */
bool weft_cuda_available(const char **why);

#ifdef __cplusplus
}
#endif

#ifdef __CUDACC__
/* Records the first failed check of the run (device code). */
static __device__ __forceinline__ void weft_cuda_flag(weft_cuda_err *e, int code, int tag, long long value, long long bound)
{
    if (atomicCAS(&e->code, 0, -1) == 0) {
        e->tag = tag;
        e->value = value;
        e->bound = bound;
        __threadfence();
        atomicExch(&e->code, code);
    }
}
#endif

#endif
