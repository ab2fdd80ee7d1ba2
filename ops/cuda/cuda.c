/*
 * ops/cuda/cuda.c — the `cuda` backend: its buffer type (device memory), a session's queue (stream,
 * cuBLASLt handle and workspace, pinned staging, the device record of failed checks), CUDA Graph
 * capture and replay, and the backend entry points that forward each step to its kernel
 * (ops/cuda/cuda_ops.c's table).
 *
 * Copies between host and device go through the queue's pinned staging block: an upload is a memcpy into
 * staging and an asynchronous copy on the stream, so the run goes on enqueuing while the DMA engine works;
 * a download waits for the stream (the host is about to read the bytes). Staging is reused from the start
 * whenever the stream has drained (each download, the end of each run).
 *
 * Index checks run on the device. A kernel that meets an index out of range records it in the queue's
 * error record (the first failure of the run wins) and goes on without touching memory out of bounds;
 * when the run ends, queue_sync reads the record and turns it into an error naming the step. The record is
 * cleared as a run starts, outside any captured graph.
 *
 * The device is device 0 (CUDA_VISIBLE_DEVICES picks it); one plan's constants are uploaded once to it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"

#define WEFT_CUDA_LT_WORKSPACE (32u << 20)
#define WEFT_CUDA_STAGING_MIN (1u << 20)

/* --- availability -------------------------------------------------------------------------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static char probe_why[256];
static bool probe_ok;

static void probe(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(probe_why, sizeof probe_why, "no CUDA device (%s)", cudaGetErrorString(e));
        cudaGetLastError();
        return;
    }
    if (n < 1) {
        snprintf(probe_why, sizeof probe_why, "no CUDA device");
        return;
    }
    probe_ok = true;
}

bool weft_cuda_available(const char **why)
{
    pthread_once(&probe_once, probe);
    if (why) *why = probe_ok ? NULL : probe_why;
    return probe_ok;
}

static const char *cuda_unavailable(void)
{
    const char *why = NULL;
    return weft_cuda_available(&why) ? NULL : why;
}

/* --- errors and memory --------------------------------------------------------------------------- */

weft_status weft_cuda_status(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return WEFT_OK;
    weft_status st = e == cudaErrorMemoryAllocation ? WEFT_ERR_NOMEM : WEFT_ERR_INTERNAL;
    return weft_error(st, "%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

weft_status weft_cuda_launched(const weft_node_info *node)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess) return WEFT_OK;
    return weft_op_error(node, WEFT_ERR_INTERNAL, "cuda: kernel launch failed: %s", cudaGetErrorString(e));
}

weft_status weft_cuda_malloc(size_t bytes, void **out)
{
    *out = NULL;
    cudaError_t e = cudaMalloc(out, bytes ? bytes : 1);
    if (e != cudaSuccess) {
        *out = NULL;
        cudaGetLastError();
        return weft_error(e == cudaErrorMemoryAllocation ? WEFT_ERR_NOMEM : WEFT_ERR_INTERNAL,
                          "cuda: cannot allocate %zu bytes of device memory: %s", bytes, cudaGetErrorString(e));
    }
    return WEFT_OK;
}

void weft_cuda_free(void *p)
{
    if (p) cudaFree(p);
}

/* --- the queue ----------------------------------------------------------------------------------- */

void weft_cuda_lt_mm_free(weft_cuda_lt_mm *m)
{
    if (m->desc) cublasLtMatmulDescDestroy(m->desc);
    if (m->la) cublasLtMatrixLayoutDestroy(m->la);
    if (m->lb) cublasLtMatrixLayoutDestroy(m->lb);
    if (m->ld) cublasLtMatrixLayoutDestroy(m->ld);
    m->desc = NULL;
    m->la = m->lb = m->ld = NULL;
}

weft_status weft_cuda_lt_error(const weft_node_info *node, cublasStatus_t st, const char *what)
{
    return weft_op_error(node, st == CUBLAS_STATUS_ALLOC_FAILED ? WEFT_ERR_NOMEM : WEFT_ERR_INTERNAL, "cuBLASLt: %s: %s",
                         what, cublasLtGetStatusString(st));
}

cublasStatus_t weft_cuda_lt_pick(weft_cuda_queue *q, const weft_cuda_lt_mm *m, uint32_t align, cublasLtMatmulAlgo_t *algo)
{
    cublasLtMatmulPreference_t pref = NULL;
    cublasStatus_t st = cublasLtMatmulPreferenceCreate(&pref);
    if (st) return st;
    uint64_t ws = q->lt_workspace ? (uint64_t)q->lt_workspace_bytes : 0;
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    const cublasLtMatmulPreferenceAttributes_t aligns[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; !st && i < 4; i++) st = cublasLtMatmulPreferenceSetAttribute(pref, aligns[i], &align, sizeof align);
    cublasLtMatmulHeuristicResult_t res;
    int found = 0;
    memset(&res, 0, sizeof res);
    if (!st) st = cublasLtMatmulAlgoGetHeuristic(q->lt, m->desc, m->la, m->lb, m->ld, m->ld, pref, 1, &res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st) return st;
    if (found < 1 || res.state != CUBLAS_STATUS_SUCCESS) return CUBLAS_STATUS_NOT_SUPPORTED;
    *algo = res.algo;
    return CUBLAS_STATUS_SUCCESS;
}

int weft_cuda_tag(weft_cuda_queue *q, const weft_node_info *node)
{
    char name[WEFT_CUDA_TAG_LEN];
    snprintf(name, sizeof name, "node '%s' (%s)", node && node->name ? node->name : "?",
             node && node->op_type ? node->op_type : "?");
    for (int i = 0; i < q->n_tags; i++)
        if (strcmp(q->tag_names[i], name) == 0) return i;
    if (q->n_tags == WEFT_CUDA_MAX_TAGS) return -1;
    memcpy(q->tag_names[q->n_tags], name, sizeof name);
    return q->n_tags++;
}

static void queue_close(void *queue)
{
    weft_cuda_queue *q = queue;
    if (!q) return;
    if (q->stream) cudaStreamSynchronize(q->stream);
    if (q->lt) cublasLtDestroy(q->lt);
    weft_cuda_free(q->lt_workspace);
    weft_cuda_free(q->err);
    if (q->err_host) cudaFreeHost(q->err_host);
    if (q->staging) cudaFreeHost(q->staging);
    if (q->stream) cudaStreamDestroy(q->stream);
    free(q->tag_names);
    free(q);
}

static weft_status queue_open(void *ctx, const struct weft_session_options *opts, void **out)
{
    *out = NULL;
    const char *why = NULL;
    if (!weft_cuda_available(&why)) return weft_error(WEFT_ERR_UNSUPPORTED, "backend 'cuda': %s", why);
    weft_cuda_queue *q = calloc(1, sizeof *q);
    if (!q) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    q->tag_names = calloc(WEFT_CUDA_MAX_TAGS, sizeof *q->tag_names);
    weft_status st = q->tag_names ? WEFT_OK : weft_error(WEFT_ERR_NOMEM, "out of memory");
    if (!st) st = weft_cuda_status(cudaSetDevice(0), "cuda: selecting device 0");
    if (!st) st = weft_cuda_status(cudaDeviceGetAttribute(&q->sm_count, cudaDevAttrMultiProcessorCount, 0), "cuda: device attributes");
    if (!st) st = weft_cuda_status(cudaStreamCreateWithFlags(&q->stream, cudaStreamNonBlocking), "cuda: creating a stream");
    if (!st) {
        cublasStatus_t b = cublasLtCreate(&q->lt);
        if (b != CUBLAS_STATUS_SUCCESS) st = weft_error(WEFT_ERR_INTERNAL, "cuda: cublasLtCreate failed (status %d)", (int)b);
    }
    if (!st) st = weft_cuda_malloc(WEFT_CUDA_LT_WORKSPACE, &q->lt_workspace);
    if (!st) q->lt_workspace_bytes = WEFT_CUDA_LT_WORKSPACE;
    if (!st) st = weft_cuda_malloc(sizeof *q->err, (void **)&q->err);
    if (!st) st = weft_cuda_status(cudaMallocHost((void **)&q->err_host, sizeof *q->err_host), "cuda: pinned memory");
    if (!st) st = weft_cuda_status(cudaMemset(q->err, 0, sizeof *q->err), "cuda: clearing the error record");
    if (st) {
        cudaGetLastError();
        queue_close(q);
        return st;
    }
    q->tf32 = opts && opts->allow_tf32;
    q->device = 0;
    *out = q;
    return WEFT_OK;
}

static weft_status queue_begin(void *queue)
{
    weft_cuda_queue *q = queue;
    q->staging_used = 0;
    return weft_cuda_status(cudaMemsetAsync(q->err, 0, sizeof *q->err, q->stream), "cuda: clearing the error record");
}

static weft_status queue_sync(void *queue)
{
    weft_cuda_queue *q = queue;
    weft_status st = weft_cuda_status(cudaMemcpyAsync(q->err_host, q->err, sizeof *q->err, cudaMemcpyDeviceToHost, q->stream),
                                      "cuda: reading the error record");
    cudaError_t e = cudaStreamSynchronize(q->stream);
    if (!st) st = weft_cuda_status(e, "cuda: running the plan");
    q->staging_used = 0;
    if (st) return st;
    const weft_cuda_err *r = q->err_host;
    if (r->code == WEFT_CUDA_OK) return WEFT_OK;
    const char *who = r->tag >= 0 && r->tag < q->n_tags ? q->tag_names[r->tag] : "a step on the cuda backend";
    if (r->code == WEFT_CUDA_ERR_INDEX)
        return weft_error(WEFT_ERR_INDEX, "%s: index %lld is out of range for an axis of size %lld", who, r->value, r->bound);
    return weft_error(WEFT_ERR_INVALID_ARGUMENT, "%s: malformed index structure at position %lld (size %lld)", who, r->value, r->bound);
}

/* Room for n bytes in the pinned staging block; waits for the stream when the block must grow. */
static weft_status staging(weft_cuda_queue *q, size_t n, char **out)
{
    size_t off = (q->staging_used + 255) & ~(size_t)255;
    if (off + n > q->staging_cap) {
        weft_status st = weft_cuda_status(cudaStreamSynchronize(q->stream), "cuda: copying");
        if (st) return st;
        off = 0;
        if (n > q->staging_cap) {
            size_t cap = q->staging_cap ? q->staging_cap : WEFT_CUDA_STAGING_MIN;
            while (cap < n) cap *= 2;
            if (q->staging) cudaFreeHost(q->staging);
            q->staging = NULL;
            q->staging_cap = 0;
            if ((st = weft_cuda_status(cudaMallocHost(&q->staging, cap), "cuda: pinned staging memory"))) return st;
            q->staging_cap = cap;
        }
    }
    q->staging_used = off + n;
    *out = (char *)q->staging + off;
    return WEFT_OK;
}

/* --- the buffer type ----------------------------------------------------------------------------- */

static weft_status buf_alloc(void *ctx, size_t bytes, void **out) { return weft_cuda_malloc(bytes, out); }

static void buf_free(void *ctx, void *p) { weft_cuda_free(p); }

static weft_status buf_copy(void *ctx, void *queue, void *dst, const void *src, size_t n, int dir)
{
    if (!n) return WEFT_OK;
    weft_cuda_queue *q = queue;
    enum cudaMemcpyKind kind = dir == WEFT_COPY_TO_DEVICE ? cudaMemcpyHostToDevice
                               : dir == WEFT_COPY_TO_HOST ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice;
    if (!q) return weft_cuda_status(cudaMemcpy(dst, src, n, kind), "cuda: copying");
    weft_status st;
    char *stage = NULL;
    if (dir == WEFT_COPY_ON_DEVICE)
        return weft_cuda_status(cudaMemcpyAsync(dst, src, n, kind, q->stream), "cuda: copying on the device");
    if ((st = staging(q, n, &stage))) return st;
    if (dir == WEFT_COPY_TO_DEVICE) {
        memcpy(stage, src, n);
        return weft_cuda_status(cudaMemcpyAsync(dst, stage, n, kind, q->stream), "cuda: copying to the device");
    }
    if ((st = weft_cuda_status(cudaMemcpyAsync(stage, src, n, kind, q->stream), "cuda: copying to the host"))) return st;
    if ((st = weft_cuda_status(cudaStreamSynchronize(q->stream), "cuda: running the plan"))) return st;
    memcpy(dst, stage, n);
    q->staging_used = 0; /* the stream has drained: staging is free again */
    return WEFT_OK;
}

static weft_status capture_begin(void *queue)
{
    weft_cuda_queue *q = queue;
    return weft_cuda_status(cudaStreamBeginCapture(q->stream, cudaStreamCaptureModeThreadLocal), "cuda: capturing a graph");
}

static weft_status capture_end(void *queue, void **out)
{
    weft_cuda_queue *q = queue;
    *out = NULL;
    cudaGraph_t g = NULL;
    weft_status st = weft_cuda_status(cudaStreamEndCapture(q->stream, &g), "cuda: capturing a graph");
    if (st) {
        cudaGetLastError();
        if (g) cudaGraphDestroy(g);
        return st;
    }
    cudaGraphExec_t exec = NULL;
    st = weft_cuda_status(cudaGraphInstantiate(&exec, g, 0), "cuda: instantiating a graph");
    cudaGraphDestroy(g);
    if (st) {
        cudaGetLastError();
        return st;
    }
    *out = exec;
    return WEFT_OK;
}

static weft_status replay(void *queue, void *graph)
{
    weft_cuda_queue *q = queue;
    return weft_cuda_status(cudaGraphLaunch((cudaGraphExec_t)graph, q->stream), "cuda: launching a graph");
}

static void graph_free(void *graph)
{
    if (graph) cudaGraphExecDestroy((cudaGraphExec_t)graph);
}

const weft_buffer_type weft_buffer_cuda = {
    .name = "cuda",
    .is_host = false,
    .align = 256,
    .alloc = buf_alloc,
    .free = buf_free,
    .copy = buf_copy,
    .queue_open = queue_open,
    .queue_sync = queue_sync,
    .queue_begin = queue_begin,
    .queue_close = queue_close,
    .capture_begin = capture_begin,
    .capture_end = capture_end,
    .replay = replay,
    .graph_free = graph_free,
};

/* --- the backend --------------------------------------------------------------------------------- */

typedef struct cu_prep {
    const weft_cuda_op *op;
    void *prep;
} cu_prep;

typedef struct cu_state {
    const weft_cuda_op *op;
    void *state;
} cu_state;

static bool cu_supports(const weft_step_desc *s) { return weft_cuda_find(s) != NULL; }

static weft_status cu_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    cu_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->op = weft_cuda_find(s);
    if (!p->op) {
        free(p);
        return weft_error(WEFT_ERR_UNSUPPORTED, "cuda: no kernel takes %s", s->node->op_type);
    }
    weft_status st = p->op->prepare ? p->op->prepare(s, &p->prep) : WEFT_OK;
    if (st) {
        free(p);
        return st;
    }
    *prepared = p;
    return WEFT_OK;
}

static void cu_release_state(void *state)
{
    cu_state *c = state;
    if (!c) return;
    if (c->state) {
        if (c->op->release_state) c->op->release_state(c->state);
        else free(c->state);
    }
    free(c);
}

static weft_status cu_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const cu_prep *p = prepared;
    *state = NULL;
    if (!k->queue) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: the step has no device queue");
    cu_state *c = calloc(1, sizeof *c);
    if (!c) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    c->op = p->op;
    weft_status st = p->op->reshape ? p->op->reshape(p->prep, k, k->queue, &c->state) : WEFT_OK;
    if (st) {
        cu_release_state(c);
        return st;
    }
    *state = c;
    return WEFT_OK;
}

static weft_status cu_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const cu_prep *p = prepared;
    cu_state *c = state;
    if (!c || !k->queue) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "cuda: the step was not set up for a device queue");
    return p->op->run(p->prep, c->state, k, k->queue);
}

static void cu_release(void *prepared)
{
    cu_prep *p = prepared;
    if (!p) return;
    if (p->prep) {
        if (p->op->release) p->op->release(p->prep);
        else free(p->prep);
    }
    free(p);
}

const weft_backend weft_backend_cuda = {
    .name = "cuda",
    .buft = &weft_buffer_cuda,
    .supports = cu_supports,
    .prepare = cu_prepare,
    .reshape = cu_reshape,
    .run = cu_run,
    .release = cu_release,
    .release_state = cu_release_state,
    .unavailable = cuda_unavailable,
};
