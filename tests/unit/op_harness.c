/* tests/unit/op_harness.c — see op_harness.h. */
#include "op_harness.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int32_t wt_next_sym(void *counter)
{
    int *n = counter;
    return (*n)++;
}

void *wt_get_scratch(void *scratch, size_t bytes)
{
    wt_scratch *s = scratch;
    if (bytes > s->cap) {
        void *p = realloc(s->buf, bytes ? bytes : 1);
        if (!p) return NULL;
        s->buf = p;
        s->cap = bytes;
    }
    return s->buf;
}

int64_t wt_numel(const weft_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

weft_shape wt_shape(int rank, const int64_t *dims)
{
    weft_shape s = {rank, {{0}}};
    for (int j = 0; j < rank; j++) s.d[j] = weft_dim_num(dims[j]);
    return s;
}

weft_tview wt_view(const weft_tensor *t)
{
    weft_tview v = {t->dtype, t->rank, {0}, wt_numel(t), t->data};
    memcpy(v.dims, t->dims, sizeof v.dims);
    return v;
}

weft_status wt_run_op_domain(const char *domain, const char *op, int opset, const weft_attr *attrs,
                             int n_attrs, const weft_tensor *in, int n_in, weft_tensor *out, int n_out)
{
    const weft_op_def *def = weft_op_find(domain, op, opset);
    if (!def) return weft_error(WEFT_ERR_UNSUPPORTED, "op %s (opset %d) is not registered", op, opset);
    weft_node_info info = {op, op, domain, opset, n_attrs, attrs};
    weft_dtype in_dt[16], out_dt[16];
    weft_shape in_sh[16], out_sh[16];
    const void *in_data[16];
    if (n_in > 16 || n_out > 16) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "too many inputs");
    for (int i = 0; i < n_out; i++) memset(&out[i], 0, sizeof out[i]); /* safe to free after any failure */
    for (int i = 0; i < n_in; i++) {
        in_dt[i] = in[i].dtype;
        in_sh[i] = wt_shape(in[i].rank, in[i].dims);
        in_data[i] = in[i].data;
    }
    int sym = 0;
    weft_infer_ctx ic = {&info, n_in, in_dt, in_sh, in_data, n_out, out_dt, out_sh, wt_next_sym, &sym};
    memset(out_dt, 0, sizeof out_dt);
    memset(out_sh, 0, sizeof out_sh);
    weft_status st = def->infer(&ic);
    if (st) return st;
    weft_tview iv[16], ov[16];
    for (int i = 0; i < n_in; i++) iv[i] = wt_view(&in[i]);
    for (int i = 0; i < n_out; i++) {
        memset(&out[i], 0, sizeof out[i]);
        if (!weft_shape_known(&out_sh[i])) {
            wt_free_outputs(out, i);
            return weft_error(WEFT_ERR_INTERNAL, "%s: output %d shape not fully inferred", op, i);
        }
        ov[i].dtype = out_dt[i];
        ov[i].rank = out_sh[i].rank;
        ov[i].numel = 1;
        for (int j = 0; j < ov[i].rank; j++) { ov[i].dims[j] = out_sh[i].d[j].v; ov[i].numel *= ov[i].dims[j]; }
        size_t nb = (size_t)ov[i].numel * weft_dtype_size(out_dt[i]);
        ov[i].data = calloc(1, nb ? nb : 1);
        if (!ov[i].data) { wt_free_outputs(out, i); return weft_error(WEFT_ERR_NOMEM, "%s: output %d too large", op, i); }
        out[i].dtype = out_dt[i];
        out[i].rank = ov[i].rank;
        memcpy(out[i].dims, ov[i].dims, sizeof ov[i].dims);
        out[i].data = ov[i].data;
        out[i].nbytes = nb;
    }
    wt_scratch sc = {0};
    weft_kernel_ctx kc = {&info, n_in, iv, n_out, ov, wt_get_scratch, &sc};
    st = def->run(&kc);
    free(sc.buf);
    if (st) wt_free_outputs(out, n_out); /* nothing to free after any failure */
    return st;
}

weft_status wt_run_op(const char *op, int opset, const weft_attr *attrs, int n_attrs, const weft_tensor *in,
                      int n_in, weft_tensor *out, int n_out)
{
    return wt_run_op_domain("", op, opset, attrs, n_attrs, in, n_in, out, n_out);
}

void wt_free_outputs(weft_tensor *out, int n)
{
    for (int i = 0; i < n; i++) { free(out[i].data); out[i].data = NULL; }
}

weft_attr wt_attr_int(const char *name, int64_t v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_INT; a.i = v;
    return a;
}
weft_attr wt_attr_float(const char *name, float v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_FLOAT; a.f = v;
    return a;
}
weft_attr wt_attr_string(const char *name, const char *s)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_STRING; a.s = (char *)s; a.s_len = strlen(s);
    return a;
}
weft_attr wt_attr_ints(const char *name, int n, const int64_t *v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_INTS; a.n = n; a.ints = (int64_t *)v;
    return a;
}
weft_attr wt_attr_floats(const char *name, int n, const float *v)
{
    weft_attr a = {0};
    a.name = (char *)name; a.type = WEFT_ATTR_FLOATS; a.n = n; a.floats = (float *)v;
    return a;
}

weft_tensor wt_tensor(weft_dtype t, const void *data, int rank, const int64_t *dims)
{
    weft_tensor x = {0};
    x.dtype = t; x.rank = rank; x.data = (void *)data;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) { x.dims[i] = dims[i]; n *= dims[i]; }
    x.nbytes = (size_t)n * weft_dtype_size(t);
    return x;
}

weft_tensor wt_alloc(weft_dtype t, int rank, const int64_t *dims)
{
    weft_tensor x = wt_tensor(t, NULL, rank, dims);
    x.data = malloc(x.nbytes ? x.nbytes : 1);
    return x;
}

weft_tensor wt_absent(void)
{
    weft_tensor x = {0};
    return x;
}

int wt_close_f32(const float *got, const float *want, int64_t n, double rtol, double atol)
{
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        if (isnan(w) && isnan(g)) continue;
        if (!(fabs(g - w) <= atol + rtol * fabs(w))) {
            fprintf(stderr, "  mismatch at %lld: got %.9g, want %.9g\n", (long long)i, g, w);
            return 0;
        }
    }
    return 1;
}

int wt_shape_is(const weft_tensor *t, int rank, const int64_t *dims)
{
    if (t->rank != rank) { fprintf(stderr, "  rank %d, want %d\n", t->rank, rank); return 0; }
    for (int i = 0; i < rank; i++)
        if (t->dims[i] != dims[i]) {
            fprintf(stderr, "  dim %d is %lld, want %lld\n", i, (long long)t->dims[i], (long long)dims[i]);
            return 0;
        }
    return 1;
}

uint8_t *wt_read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(len > 0 ? (size_t)len : 1);
    if (b && len > 0 && fread(b, 1, (size_t)len, f) != (size_t)len) { free(b); b = NULL; }
    fclose(f);
    *n = len > 0 ? (size_t)len : 0;
    return b;
}

int wt_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

#define WT_DRIVE_MAX 16

weft_status wt_drive_backend(const weft_backend *be, const weft_node_info *node, const weft_tensor *in,
                             const bool *is_const, int n_in, const weft_tensor *want, int n_out, int threads, int runs,
                             void *const *out)
{
    if (n_in > WT_DRIVE_MAX || n_out > WT_DRIVE_MAX) return WEFT_ERR_INVALID_ARGUMENT;
    weft_dtype idt[WT_DRIVE_MAX], odt[WT_DRIVE_MAX];
    weft_shape ish[WT_DRIVE_MAX], osh[WT_DRIVE_MAX];
    const void *cdata[WT_DRIVE_MAX];
    for (int i = 0; i < n_in; i++) {
        idt[i] = in[i].dtype;
        ish[i] = wt_shape(in[i].rank, in[i].dims);
        cdata[i] = is_const && is_const[i] ? in[i].data : NULL;
    }
    for (int o = 0; o < n_out; o++) {
        odt[o] = want[o].dtype;
        osh[o] = wt_shape(want[o].rank, want[o].dims);
    }
    weft_step_desc d = {weft_op_find(node->domain, node->op_type, node->opset), node, n_in, n_out, idt, ish, cdata,
                        odt, osh};
    if (!be->supports(&d)) {
        fprintf(stderr, "  %s does not take %s\n", be->name, node->op_type);
        return WEFT_ERR_UNSUPPORTED;
    }
    void *prep = NULL, *state = NULL;
    weft_status st = be->prepare ? be->prepare(&d, &prep) : WEFT_OK;
    if (st) return st;
    weft_tview iv[WT_DRIVE_MAX], ov[WT_DRIVE_MAX];
    for (int i = 0; i < n_in; i++) {
        iv[i] = wt_view(&in[i]);
        iv[i].data = NULL; /* reshape sees sizes only */
    }
    for (int o = 0; o < n_out; o++) {
        memset(&ov[o], 0, sizeof ov[o]);
        if (want[o].dtype != WEFT_UNDEFINED) ov[o] = wt_view(&want[o]);
        ov[o].data = NULL;
    }
    wt_scratch sc = {0};
    weft_kernel_ctx k = {node, n_in, iv, n_out, ov, wt_get_scratch, &sc, threads};
    if (be->reshape && (st = be->reshape(prep, &k, &state))) goto done;
    for (int i = 0; i < n_in; i++) iv[i].data = in[i].data;
    for (int o = 0; o < n_out; o++)
        if (want[o].dtype != WEFT_UNDEFINED) {
            ov[o].data = out[o];
            memset(out[o], 0x7f, (size_t)ov[o].numel * weft_dtype_size(want[o].dtype));
        }
    for (int r = 0; r < runs && !st; r++) st = be->run(prep, state, &k);
done:
    if (state && be->release_state) be->release_state(state);
    if (prep && be->release) be->release(prep);
    free(sc.buf);
    return st;
}
