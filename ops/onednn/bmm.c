/*
 * ops/onednn/bmm.c — the `onednn` backend's batched MatMul: ONNX MatMul whose B has batch dimensions
 * (the products of attention, Q K^T and P V, and torch.bmm), float32, as one oneDNN matmul primitive
 * over every batch. MatMul with a 2-D B is dense work of rows x K times K x N (ops/dense/, onednn.c).
 *
 * ONNX MatMul broadcasts like numpy: the operand of lower rank gets leading 1s, then every batch dim
 * is equal or 1. oneDNN's matmul takes that form directly (all three tensors of one rank, batch dims
 * of src and weights equal or 1), so the operands are described as they lie, plain row-major, with
 * their batch dims padded with 1s on the left, and nothing is copied.
 *
 * Lifecycle: prepare holds the engine; reshape (once per set of sizes) checks the shapes, creates the
 * primitive for them under the session's thread count with a user scratchpad, and memory objects whose
 * data handles are set per run; run binds and executes. Shapes outside that form (rank-1 operands are
 * never taken; empty tensors) run the reference kernel, an error under WEFT_ONEDNN_STRICT.
 */
#include <dnnl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../cpu/cpu.h"
#include "onednn_prim.h"
#include "onednn_bmm.h"

#define BMM_MAX_RANK 12 /* oneDNN's limit */

typedef struct bmm_prep {
    const weft_op_def *def; /* the reference kernel, for fallbacks */
    dnnl_engine_t eng;
} bmm_prep;

typedef struct bmm_state {
    bool fallback;
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_memory_t a, b, y, scr;
    size_t scr_bytes;
} bmm_state;

bool weft_dn_bmm_supports(const weft_step_desc *s)
{
    const weft_op_def *d = s->def;
    if (!d || strcmp(d->name, "MatMul") != 0 || (d->domain[0] && strcmp(d->domain, "ai.onnx") != 0)) return false;
    if (s->n_in != 2 || s->n_out != 1) return false;
    for (int i = 0; i < 2; i++)
        if (s->in_dtype[i] != WEFT_FLOAT32) return false;
    int ra = s->in_shape[0].rank, rb = s->in_shape[1].rank;
    /* a 2-D B is dense work (ops/dense); rank-1 operands are the reference's */
    return ra >= 2 && rb >= 3 && ra <= BMM_MAX_RANK && rb <= BMM_MAX_RANK;
}

weft_status weft_dn_bmm_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = NULL;
    bmm_prep *p = calloc(1, sizeof *p);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    p->def = s->def;
    dnnl_status_t ds = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    if (ds) {
        free(p);
        return weft_dn_fail(s->node, ds, "creating the CPU engine");
    }
    *prepared = p;
    return WEFT_OK;
}

void weft_dn_bmm_release(void *prepared)
{
    bmm_prep *p = prepared;
    if (!p) return;
    if (p->eng) dnnl_engine_destroy(p->eng);
    free(p);
}

void weft_dn_bmm_release_state(void *state)
{
    bmm_state *s = state;
    if (!s) return;
    if (s->prim) dnnl_primitive_destroy(s->prim);
    dnnl_memory_t mems[] = {s->a, s->b, s->y, s->scr};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    if (s->stream) dnnl_stream_destroy(s->stream);
    free(s);
}

/* The dims of view v padded on the left with 1s to rank r. */
static void padded(const weft_tview *v, int r, dnnl_dims_t out)
{
    int lead = r - v->rank;
    for (int i = 0; i < r; i++) out[i] = i < lead ? 1 : v->dims[i - lead];
}

/* The operands fit oneDNN's form: batch dims equal or 1 and giving the output's, M, K, N agreeing,
 * nothing empty. Dims in a, b, y. */
static bool fits(const weft_kernel_ctx *k, int r, dnnl_dims_t a, dnnl_dims_t b, dnnl_dims_t y)
{
    const weft_tview *A = &k->in[0], *B = &k->in[1], *Y = &k->out[0];
    if (A->dtype != WEFT_FLOAT32 || B->dtype != WEFT_FLOAT32 || Y->dtype != WEFT_FLOAT32) return false;
    if (A->rank < 2 || B->rank < 2 || Y->rank != r || r > BMM_MAX_RANK) return false;
    padded(A, r, a);
    padded(B, r, b);
    padded(Y, r, y);
    for (int i = 0; i < r - 2; i++) {
        if (a[i] != b[i] && a[i] != 1 && b[i] != 1) return false;
        if (y[i] != (a[i] > b[i] ? a[i] : b[i])) return false;
    }
    if (a[r - 1] != b[r - 2] || y[r - 2] != a[r - 2] || y[r - 1] != b[r - 1]) return false;
    return A->numel > 0 && B->numel > 0 && Y->numel > 0;
}

static dnnl_status_t md(dnnl_memory_desc_t *m, int r, const dnnl_dims_t d)
{
    static const dnnl_format_tag_t tags[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde,
                                             dnnl_abcdef, dnnl_abcdefg, dnnl_abcdefgh, dnnl_abcdefghi, dnnl_abcdefghij,
                                             dnnl_abcdefghijk, dnnl_abcdefghijkl};
    return dnnl_memory_desc_init_by_tag(m, r, d, dnnl_f32, tags[r]);
}

weft_status weft_dn_bmm_reshape(const void *prepared, const weft_kernel_ctx *k, void **state)
{
    const bmm_prep *p = prepared;
    *state = NULL;
    bmm_state *s = calloc(1, sizeof *s);
    if (!s) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    int r = k->out[0].rank;
    dnnl_dims_t a, b, y;
    if (!fits(k, r, a, b, y)) {
        if (getenv("WEFT_ONEDNN_STRICT")) {
            free(s);
            return weft_op_error(k->node, WEFT_ERR_UNSUPPORTED, "oneDNN: shapes outside the primitive's form");
        }
        s->fallback = true; /* the reference kernel, which also reports every error */
        *state = s;
        return WEFT_OK;
    }
    weft_cpu_set_threads(weft_kthreads(k));
    dnnl_memory_desc_t ma, mb, my, ms;
    dnnl_matmul_desc_t mdesc;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t ds;
    if ((ds = md(&ma, r, a)) || (ds = md(&mb, r, b)) || (ds = md(&my, r, y)) ||
        (ds = dnnl_matmul_desc_init(&mdesc, &ma, &mb, NULL, &my)) || (ds = dnnl_primitive_attr_create(&attr)) ||
        (ds = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)) ||
        (ds = dnnl_primitive_desc_create(&pd, &mdesc, attr, p->eng, NULL)))
        goto out;
    const dnnl_memory_desc_t *q = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    s->scr_bytes = q ? dnnl_memory_desc_get_size(q) : 0;
    if ((ds = dnnl_primitive_create(&s->prim, pd)) || (ds = dnnl_stream_create(&s->stream, p->eng, dnnl_stream_default_flags)) ||
        (ds = dnnl_memory_create(&s->a, &ma, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->b, &mb, p->eng, DNNL_MEMORY_NONE)) ||
        (ds = dnnl_memory_create(&s->y, &my, p->eng, DNNL_MEMORY_NONE)))
        goto out;
    if (s->scr_bytes) {
        dnnl_dims_t sd = {(int64_t)s->scr_bytes};
        if ((ds = dnnl_memory_desc_init_by_tag(&ms, 1, sd, dnnl_u8, dnnl_a)) ||
            (ds = dnnl_memory_create(&s->scr, &ms, p->eng, DNNL_MEMORY_NONE)))
            goto out;
    }
out:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ds) {
        weft_dn_bmm_release_state(s);
        if (getenv("WEFT_ONEDNN_STRICT")) return weft_dn_fail(k->node, ds, "creating the primitive");
        if (!(s = calloc(1, sizeof *s))) return weft_error(WEFT_ERR_NOMEM, "out of memory");
        s->fallback = true; /* oneDNN declines these shapes: the reference kernel */
    }
    *state = s;
    return WEFT_OK;
}

weft_status weft_dn_bmm_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    const bmm_prep *p = prepared;
    bmm_state *s = state;
    if (!s) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "onednn: run before reshape");
    if (s->fallback) return p->def->run(k);
    weft_cpu_set_threads(weft_kthreads(k));
    char *scr = NULL;
    if (s->scr_bytes) {
        if (!(scr = k->scratch(k->user, s->scr_bytes + 64)))
            return weft_op_error(k->node, WEFT_ERR_NOMEM, "cannot allocate %zu bytes of scratch", s->scr_bytes);
        scr += (64 - ((uintptr_t)scr & 63)) & 63;
    }
    dnnl_status_t ds = dnnl_memory_set_data_handle(s->a, k->in[0].data);
    if (!ds) ds = dnnl_memory_set_data_handle(s->b, k->in[1].data);
    if (!ds) ds = dnnl_memory_set_data_handle(s->y, k->out[0].data);
    if (!ds && s->scr) ds = dnnl_memory_set_data_handle(s->scr, scr);
    if (ds) return weft_dn_fail(k->node, ds, "binding memory");
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, s->a}, {DNNL_ARG_WEIGHTS, s->b}, {DNNL_ARG_DST, s->y}, {DNNL_ARG_SCRATCHPAD, s->scr}};
    ds = dnnl_primitive_execute(s->prim, s->stream, s->scr ? 4 : 3, args);
    if (!ds) ds = dnnl_stream_wait(s->stream);
    return ds ? weft_dn_fail(k->node, ds, "executing matmul") : WEFT_OK;
}
