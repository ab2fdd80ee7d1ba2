/*
 * ops/onednn/prim.c — oneDNN helpers the `onednn` backend's files share (onednn_prim.h).
 */
#include <dnnl_debug.h>
#include <stdlib.h>

#include "onednn_prim.h"

weft_status weft_dn_fail(const weft_node_info *node, dnnl_status_t s, const char *what)
{
    weft_status st = s == dnnl_out_of_memory ? WEFT_ERR_NOMEM : s == dnnl_unimplemented ? WEFT_ERR_UNSUPPORTED : WEFT_ERR_INTERNAL;
    return node ? weft_op_error(node, st, "oneDNN: %s: %s", what, dnnl_status2str(s))
                : weft_error(st, "oneDNN: %s: %s", what, dnnl_status2str(s));
}

void *weft_dn_alloc64(size_t bytes) { return aligned_alloc(64, weft_dn_up64(bytes ? bytes : 1)); }

dnnl_format_tag_t weft_dn_plain_tag(int ndims)
{
    static const dnnl_format_tag_t t[] = {dnnl_format_tag_undef, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde, dnnl_abcdef};
    return ndims >= 1 && ndims <= 6 ? t[ndims] : dnnl_format_tag_undef;
}

dnnl_status_t weft_dn_reorder_once(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const void *a,
                                   const dnnl_memory_desc_t *to, void *b)
{
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    dnnl_memory_t ma = NULL, mb = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, NULL);
    if (!s) s = dnnl_primitive_create(&prim, pd);
    if (!s) s = dnnl_memory_create(&ma, from, eng, (void *)a);
    if (!s) s = dnnl_memory_create(&mb, to, eng, b);
    if (!s) s = dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
    if (!s) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ma}, {DNNL_ARG_TO, mb}};
        s = dnnl_primitive_execute(prim, stream, 2, args);
        if (!s) s = dnnl_stream_wait(stream);
    }
    if (stream) dnnl_stream_destroy(stream);
    if (mb) dnnl_memory_destroy(mb);
    if (ma) dnnl_memory_destroy(ma);
    if (prim) dnnl_primitive_destroy(prim);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return s;
}

dnnl_status_t weft_dn_make_reorder(dnnl_engine_t eng, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                                   dnnl_primitive_t *out, size_t *scr)
{
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_status_t s = dnnl_primitive_attr_create(&attr);
    if (!s) s = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    if (!s) s = dnnl_reorder_primitive_desc_create(&pd, from, eng, to, eng, attr);
    if (!s) {
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        size_t b = smd ? dnnl_memory_desc_get_size(smd) : 0;
        if (b > *scr) *scr = b;
        s = dnnl_primitive_create(out, pd);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return s;
}
