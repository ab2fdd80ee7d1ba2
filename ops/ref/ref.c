/*
 * ops/ref/ref.c — the reference backend: every op's own kernel from ops/, portable C, one thread.
 * It takes every op that has a kernel, so it closes every priority list, and it is the oracle every
 * other backend is tested against. Preparing a step just remembers the op's `run`, so running it
 * involves no lookup.
 */
#include "../backend.h"

static bool ref_supports(const weft_step_desc *s) { return s->def && s->def->run; }

static weft_status ref_prepare(const weft_step_desc *s, void **prepared)
{
    *prepared = (void *)s->def;
    return WEFT_OK;
}

static weft_status ref_run(const void *prepared, void *state, weft_kernel_ctx *k)
{
    (void)state;
    return ((const weft_op_def *)prepared)->run(k);
}

const weft_backend weft_backend_ref = {
    .name = "ref",
    .buft = &weft_buffer_host,
    .supports = ref_supports,
    .prepare = ref_prepare,
    .reshape = NULL,
    .run = ref_run,
    .release = NULL,
    .release_state = NULL,
};
