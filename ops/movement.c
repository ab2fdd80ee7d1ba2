/*
 * ops/movement.c — data-movement and shape operators: the family table, shared helpers, and the ops
 * that create or re-label data (Constant, ConstantOfShape, Identity, Reshape, Shape, Size, Flatten,
 * Squeeze, Unsqueeze, Dropout, Range, Trilu, EyeLike). The ops that copy through index maps are in
 * ops/movement_copy.c.
 *
 * Nothing here looks at element values except where the op is about values (Range, ConstantOfShape's
 * fill, EyeLike's ones): data is moved by weft_dtype_size(), so every fixed-size dtype works.
 */
#include <math.h>
#include <string.h>

#include "grad.h"
#include "movement.h"

#define MV_VARIADIC 0x7fffffff

/* --- shared helpers ------------------------------------------------------------------------------ */

bool weft_movement_mul(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0) return false;
    return !__builtin_mul_overflow(a, b, out);
}

bool weft_movement_dim_mul(weft_infer_ctx *c, weft_dim a, int64_t b, weft_dim *out)
{
    if (!weft_dim_known(a)) {
        *out = b == 1 ? a : b == 0 ? weft_dim_num(0) : weft_dim_unknown(c);
        return true;
    }
    int64_t v;
    if (!weft_movement_mul(a.v, b, &v)) {
        weft_op_error(c->node, WEFT_ERR_SHAPE, "dimension %lld * %lld overflows int64", (long long)a.v,
                      (long long)b);
        return false;
    }
    *out = weft_dim_num(v);
    return true;
}

weft_status weft_movement_check_bytes(weft_infer_ctx *c, int o)
{
    int64_t n = weft_shape_numel(&c->out_shape[o]), nb;
    if (n == -2 || (n >= 0 && !weft_movement_mul(n, (int64_t)weft_dtype_size(c->out_dtype[o]), &nb))) {
        char buf[200];
        weft_shape_format(&c->out_shape[o], buf, sizeof buf);
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "output %d of shape %s is too large (size overflows int64)", o,
                             buf);
    }
    return WEFT_OK;
}

/* Copies one element of esz bytes; the common sizes as typed moves so the compiler inlines them. */
static inline void mv_move1(char *d, const char *s, size_t esz)
{
    switch (esz) {
    case 1: *d = *s; break;
    case 2: memcpy(d, s, 2); break;
    case 4: memcpy(d, s, 4); break;
    case 8: memcpy(d, s, 8); break;
    default: memcpy(d, s, esz); break;
    }
}

void weft_movement_copy_strided(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
                                const int64_t *sstrides, int64_t soff)
{
    const char *s = src;
    char *d = dst;
    if (rank == 0) {
        mv_move1(d, s + soff * (int64_t)esz, esz);
        return;
    }
    int64_t n = 1;
    for (int a = 0; a < rank; a++) n *= dims[a];
    if (n == 0) return;
    int64_t idx[WEFT_MOVEMENT_MAX_AXES] = {0};
    int64_t inner = dims[rank - 1], is = sstrides[rank - 1], off = soff;
    for (int64_t o = 0; o < n; o += inner) {
        if (is == 1) {
            memcpy(d + o * (int64_t)esz, s + off * (int64_t)esz, (size_t)inner * esz);
        } else {
            for (int64_t j = 0; j < inner; j++)
                mv_move1(d + (o + j) * (int64_t)esz, s + (off + j * is) * (int64_t)esz, esz);
        }
        /* Advance the odometer over the outer axes, keeping the source offset in step. */
        for (int a = rank - 2; a >= 0; a--) {
            off += sstrides[a];
            if (++idx[a] < dims[a]) break;
            off -= sstrides[a] * dims[a];
            idx[a] = 0;
        }
    }
}

weft_status weft_movement_kernel_ints(const weft_kernel_ctx *k, int i, int64_t *out, int max, int *n)
{
    const weft_tview *t = &k->in[i];
    if (t->dtype != WEFT_INT64 && t->dtype != WEFT_INT32)
        return weft_op_error(k->node, WEFT_ERR_TYPE, "input %d must be int32 or int64, got %s", i,
                             weft_dtype_name(t->dtype));
    if (t->numel > max)
        return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d has %lld elements, at most %d allowed", i,
                             (long long)t->numel, max);
    for (int64_t j = 0; j < t->numel; j++) out[j] = weft_load_i64(t->dtype, t->data, j);
    *n = (int)t->numel;
    return WEFT_OK;
}

int weft_movement_infer_ints(weft_infer_ctx *c, int i, int64_t *out, int max)
{
    /* An empty tensor is fully known even when no buffer stands behind it. */
    if (weft_in_present(c, i) && !c->in_data[i] && weft_shape_numel(&c->in_shape[i]) == 0) {
        if (c->in_dtype[i] != WEFT_INT64 && c->in_dtype[i] != WEFT_INT32) {
            weft_op_error(c->node, WEFT_ERR_TYPE, "input %d must be int32 or int64, got %s", i,
                          weft_dtype_name(c->in_dtype[i]));
            return -2;
        }
        return 0;
    }
    return weft_infer_int_values(c, i, out, max);
}

/* The whole input 0 into output 0: for ops whose output is the input, re-labelled. */
static weft_status mv_run_copy0(weft_kernel_ctx *k)
{
    size_t nb = (size_t)k->out[0].numel * weft_dtype_size(k->out[0].dtype);
    if (k->in[0].numel != k->out[0].numel || k->in[0].dtype != k->out[0].dtype)
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output does not match the input's size or dtype");
    if (nb && k->out[0].data != k->in[0].data) memmove(k->out[0].data, k->in[0].data, nb);
    return WEFT_OK;
}

static weft_status mv_need_rank(weft_infer_ctx *c, int i)
{
    if (c->in_shape[i].rank > WEFT_MAX_RANK)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d has rank %d, above weft's limit %d", i,
                             c->in_shape[i].rank, WEFT_MAX_RANK);
    return WEFT_OK;
}

/* A data dtype the movement kernels can carry: any fixed-size type (not string). */
static weft_status mv_data_dtype(weft_infer_ctx *c, int i)
{
    if (weft_dtype_size(c->in_dtype[i]) == 0)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "input %d: dtype %s is not supported", i,
                             weft_dtype_name(c->in_dtype[i]));
    return mv_need_rank(c, i);
}

/* --- Constant ------------------------------------------------------------------------------------ */

/* The one value attribute of a Constant node, or an error. */
static weft_status mv_constant_attr(const weft_node_info *n, const weft_attr **out)
{
    static const char *const supported[] = {"value", "value_float", "value_floats", "value_int", "value_ints"};
    static const char *const refused[] = {"sparse_value", "value_string", "value_strings"};
    *out = NULL;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (weft_attr_find(n, refused[i]))
            return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "attribute '%s' is not supported", refused[i]);
    for (size_t i = 0; i < sizeof supported / sizeof supported[0]; i++) {
        const weft_attr *a = weft_attr_find(n, supported[i]);
        if (!a) continue;
        if (*out)
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "exactly one value attribute allowed, got '%s' and '%s'",
                                 (*out)->name, a->name);
        *out = a;
    }
    if (!*out) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "no value attribute");
    const weft_attr *a = *out;
    weft_attr_type want = strcmp(a->name, "value") == 0          ? WEFT_ATTR_TENSOR
                          : strcmp(a->name, "value_float") == 0  ? WEFT_ATTR_FLOAT
                          : strcmp(a->name, "value_floats") == 0 ? WEFT_ATTR_FLOATS
                          : strcmp(a->name, "value_int") == 0    ? WEFT_ATTR_INT
                                                                 : WEFT_ATTR_INTS;
    if (a->type != want || (want == WEFT_ATTR_TENSOR && !a->t))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute '%s' has the wrong type", a->name);
    if ((want == WEFT_ATTR_FLOATS || want == WEFT_ATTR_INTS) && a->n < 0)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute '%s' has a negative length", a->name);
    return WEFT_OK;
}

/* Checks a tensor attribute's header against its buffer: dims, dtype, byte count. */
static weft_status mv_check_tensor_attr(const weft_node_info *n, const char *what, const weft_tensor *t,
                                        int64_t *numel)
{
    if (weft_dtype_size(t->dtype) == 0)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "%s: dtype %s is not supported", what,
                             weft_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > WEFT_MAX_RANK)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "%s: rank %d is not supported", what, t->rank);
    int64_t cnt = 1;
    for (int i = 0; i < t->rank; i++)
        if (!weft_movement_mul(cnt, t->dims[i], &cnt))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s: bad dimension %lld", what, (long long)t->dims[i]);
    int64_t nb;
    if (!weft_movement_mul(cnt, (int64_t)weft_dtype_size(t->dtype), &nb) || (uint64_t)nb != t->nbytes ||
        (nb && !t->data))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "%s: holds %zu bytes, its shape needs %lld", what,
                             t->nbytes, (long long)nb);
    *numel = cnt;
    return WEFT_OK;
}

static weft_status mv_infer_constant(weft_infer_ctx *c)
{
    const weft_attr *a;
    weft_status st = mv_constant_attr(c->node, &a);
    if (st) return st;
    weft_shape *s = &c->out_shape[0];
    switch (a->type) {
    case WEFT_ATTR_TENSOR: {
        int64_t numel;
        if ((st = mv_check_tensor_attr(c->node, "attribute 'value'", a->t, &numel))) return st;
        c->out_dtype[0] = a->t->dtype;
        s->rank = a->t->rank;
        for (int i = 0; i < s->rank; i++) s->d[i] = weft_dim_num(a->t->dims[i]);
        break;
    }
    case WEFT_ATTR_FLOAT: c->out_dtype[0] = WEFT_FLOAT32; s->rank = 0; break;
    case WEFT_ATTR_INT: c->out_dtype[0] = WEFT_INT64; s->rank = 0; break;
    case WEFT_ATTR_FLOATS: c->out_dtype[0] = WEFT_FLOAT32; s->rank = 1; s->d[0] = weft_dim_num(a->n); break;
    default: c->out_dtype[0] = WEFT_INT64; s->rank = 1; s->d[0] = weft_dim_num(a->n); break;
    }
    return WEFT_OK;
}

static weft_status mv_run_constant(weft_kernel_ctx *k)
{
    const weft_attr *a;
    weft_status st = mv_constant_attr(k->node, &a);
    if (st) return st;
    weft_tview *o = &k->out[0];
    const void *src;
    size_t nb;
    switch (a->type) {
    case WEFT_ATTR_TENSOR: src = a->t->data; nb = a->t->nbytes; break;
    case WEFT_ATTR_FLOAT: src = &a->f; nb = sizeof(float); break;
    case WEFT_ATTR_INT: src = &a->i; nb = sizeof(int64_t); break;
    case WEFT_ATTR_FLOATS: src = a->floats; nb = (size_t)a->n * sizeof(float); break;
    default: src = a->ints; nb = (size_t)a->n * sizeof(int64_t); break;
    }
    if (nb != (size_t)o->numel * weft_dtype_size(o->dtype))
        return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output buffer does not match the constant");
    if (nb) memcpy(o->data, src, nb);
    return WEFT_OK;
}

/* --- ConstantOfShape ----------------------------------------------------------------------------- */

weft_status weft_movement_constant_value(const weft_node_info *n, weft_dtype *dt, const void **val)
{
    static const float zero = 0.0f;
    const weft_attr *a = weft_attr_find(n, "value");
    if (!a) {
        *dt = WEFT_FLOAT32;
        *val = &zero;
        return WEFT_OK;
    }
    if (a->type != WEFT_ATTR_TENSOR || !a->t)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'value' must be a tensor");
    int64_t numel;
    weft_status st = mv_check_tensor_attr(n, "attribute 'value'", a->t, &numel);
    if (st) return st;
    if (numel != 1)
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'value' must hold one element, got %lld",
                             (long long)numel);
    *dt = a->t->dtype;
    *val = a->t->data;
    return WEFT_OK;
}

static weft_status mv_infer_constant_of_shape(weft_infer_ctx *c)
{
    weft_status st = weft_movement_constant_value(c->node, &c->out_dtype[0], &(const void *){0});
    if (st) return st;
    if (c->in_dtype[0] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'input' must be int64, got %s",
                             weft_dtype_name(c->in_dtype[0]));
    const weft_shape *is = &c->in_shape[0];
    if (is->rank != 1 && is->rank >= 0)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'input' must be 1-D, got rank %d", is->rank);
    int64_t v[WEFT_MAX_RANK];
    int n = weft_movement_infer_ints(c, 0, v, WEFT_MAX_RANK);
    if (n == -2) return WEFT_ERR_SHAPE;
    weft_shape *s = &c->out_shape[0];
    if (n < 0) {
        /* Values unknown: the rank is the input's length when that is known. */
        if (is->rank == 1 && weft_dim_known(is->d[0])) {
            if (is->d[0].v > WEFT_MAX_RANK)
                return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "output rank %lld is above weft's limit %d",
                                     (long long)is->d[0].v, WEFT_MAX_RANK);
            s->rank = (int)is->d[0].v;
            for (int i = 0; i < s->rank; i++) s->d[i] = weft_dim_unknown(c);
        } else {
            s->rank = -1;
        }
        return WEFT_OK;
    }
    int64_t total = 1;
    s->rank = n;
    for (int i = 0; i < n; i++) {
        if (v[i] < 0)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "shape value %lld at position %d is negative",
                                 (long long)v[i], i);
        if (!weft_movement_mul(total, v[i], &total))
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "the shape's element count overflows int64");
        s->d[i] = weft_dim_num(v[i]);
    }
    return weft_movement_check_bytes(c, 0);
}

static weft_status mv_run_constant_of_shape(weft_kernel_ctx *k)
{
    weft_dtype dt;
    const void *val;
    weft_status st = weft_movement_constant_value(k->node, &dt, &val);
    if (st) return st;
    size_t esz = weft_dtype_size(dt);
    char *o = k->out[0].data;
    for (int64_t i = 0; i < k->out[0].numel; i++) memcpy(o + i * (int64_t)esz, val, esz);
    return WEFT_OK;
}

/* --- Identity ------------------------------------------------------------------------------------ */

static weft_status mv_infer_identity(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    return weft_infer_same_as_input0(c);
}

/* --- Reshape ------------------------------------------------------------------------------------- */

/*
 * The output dim that the -1 stands for, when input and the other output dims are partly symbolic:
 * cancel the symbolic dims the two sides share (a symbol with its offset, N + 1 is not N), then what
 * remains must be a number (the known products divide) or one symbolic dim of the input (the known
 * products agree). False when it is anything else: the caller then makes a fresh symbol.
 */
bool weft_movement_reshape_minus1(const weft_shape *in, const weft_shape *out, int skip, weft_dim *d)
{
    weft_dim syms[WEFT_MAX_RANK];
    int ns = 0;
    int64_t pin = 1, pout = 1;
    if (in->rank < 0 || out->rank < 0) return false;
    for (int i = 0; i < in->rank; i++) {
        if (weft_dim_known(in->d[i])) {
            if (!weft_movement_mul(pin, in->d[i].v, &pin)) return false;
        } else {
            syms[ns++] = in->d[i];
        }
    }
    for (int i = 0; i < out->rank; i++) {
        if (i == skip) continue;
        if (weft_dim_known(out->d[i])) {
            if (!weft_movement_mul(pout, out->d[i].v, &pout)) return false;
            continue;
        }
        int j = 0;
        while (j < ns && !weft_dim_eq(syms[j], out->d[i])) j++;
        if (j == ns) return false; /* a symbol of the output that the input lacks */
        syms[j] = syms[--ns];
    }
    if (pout == 0) return false; /* zero elements: the -1 is not determined */
    if (ns == 1 && pin == pout) {
        *d = syms[0];
        return true;
    }
    if (ns != 0 || pin % pout != 0) return false;
    *d = weft_dim_num(pin / pout);
    return true;
}

static weft_dim mv_reshape_infer_minus1(weft_infer_ctx *c, const weft_shape *in, const weft_shape *out, int skip)
{
    weft_dim d;
    return weft_movement_reshape_minus1(in, out, skip, &d) ? d : weft_dim_unknown(c);
}

static weft_status mv_infer_reshape(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    if (c->in_dtype[1] != WEFT_INT64)
        return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'shape' must be int64, got %s",
                             weft_dtype_name(c->in_dtype[1]));
    const weft_shape *in = &c->in_shape[0], *ss = &c->in_shape[1];
    if (ss->rank >= 0 && ss->rank != 1)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'shape' must be 1-D, got rank %d", ss->rank);
    int64_t az = c->node->opset >= 14 ? weft_attr_int(c->node, "allowzero", 0) : 0;
    if (az != 0 && az != 1) /* runtimes read other values differently: refuse them */
        return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "allowzero must be 0 or 1, got %lld", (long long)az);
    bool allowzero = az != 0;
    int64_t v[WEFT_MAX_RANK];
    int n = weft_movement_infer_ints(c, 1, v, WEFT_MAX_RANK);
    if (n == -2) return WEFT_ERR_SHAPE;
    weft_shape *s = &c->out_shape[0];
    if (n < 0) {
        if (ss->rank == 1 && weft_dim_known(ss->d[0]) && ss->d[0].v <= WEFT_MAX_RANK) {
            s->rank = (int)ss->d[0].v;
            for (int i = 0; i < s->rank; i++) s->d[i] = weft_dim_unknown(c);
        } else {
            s->rank = -1;
        }
        return WEFT_OK;
    }
    s->rank = n;
    int minus1 = -1;
    bool has_zero = false;
    for (int i = 0; i < n; i++) {
        if (v[i] == -1) {
            if (minus1 >= 0)
                return weft_op_error(c->node, WEFT_ERR_SHAPE, "more than one -1 in the shape (positions %d and %d)",
                                     minus1, i);
            minus1 = i;
            s->d[i] = weft_dim_num(1);
        } else if (v[i] < -1) {
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "shape value %lld at position %d is invalid",
                                 (long long)v[i], i);
        } else if (v[i] == 0 && !allowzero) {
            if (in->rank < 0) {
                s->d[i] = weft_dim_unknown(c);
            } else if (i >= in->rank) {
                return weft_op_error(c->node, WEFT_ERR_SHAPE,
                                     "shape value 0 at position %d copies a dimension the rank-%d input lacks", i,
                                     in->rank);
            } else {
                s->d[i] = in->d[i];
            }
        } else {
            has_zero |= v[i] == 0;
            s->d[i] = weft_dim_num(v[i]);
        }
    }
    if (has_zero && minus1 >= 0)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "allowzero=1 forbids both 0 and -1 in the shape");
    if (in->rank < 0) {
        if (minus1 >= 0) s->d[minus1] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    int64_t nin = weft_shape_numel(in);
    if (nin == -2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "input element count overflows int64");
    if (minus1 >= 0) {
        s->d[minus1] = weft_dim_num(1);
        int64_t nout = weft_shape_numel(s);
        if (nin >= 0 && nout >= 0) {
            if (nout == 0 || nin % nout != 0)
                return weft_op_error(c->node, WEFT_ERR_SHAPE,
                                     "cannot infer the -1: %lld elements do not divide into parts of %lld",
                                     (long long)nin, (long long)nout);
            s->d[minus1] = weft_dim_num(nin / nout);
        } else if (nout == -2) {
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "output element count overflows int64");
        } else {
            s->d[minus1] = mv_reshape_infer_minus1(c, in, s, minus1);
        }
    }
    int64_t nout = weft_shape_numel(s);
    if (nout == -2) return weft_op_error(c->node, WEFT_ERR_SHAPE, "output element count overflows int64");
    if (nin >= 0 && nout >= 0 && nin != nout) {
        char a[160], b[160];
        weft_shape_format(in, a, sizeof a);
        weft_shape_format(s, b, sizeof b);
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "cannot reshape %s (%lld elements) to %s (%lld elements)", a,
                             (long long)nin, b, (long long)nout);
    }
    return WEFT_OK;
}

/* --- Shape, Size --------------------------------------------------------------------------------- */

/* The [start, end) window of Shape (opset 15+): negatives count from the back, then clamp. */
static void mv_shape_window(const weft_node_info *n, int rank, int64_t *start, int64_t *end)
{
    *start = 0;
    *end = rank;
    if (n->opset < 15) return;
    int64_t s = weft_attr_int(n, "start", 0), e = weft_attr_int(n, "end", INT64_MAX);
    if (s < 0) s = s < -(int64_t)rank ? 0 : s + rank;
    if (e < 0) e = e < -(int64_t)rank ? 0 : e + rank;
    *start = s > rank ? rank : s;
    *end = e > rank ? rank : e;
}

static weft_status mv_infer_shape(weft_infer_ctx *c)
{
    weft_status st = mv_need_rank(c, 0);
    if (st) return st;
    c->out_dtype[0] = WEFT_INT64;
    c->out_shape[0].rank = 1;
    if (c->in_shape[0].rank < 0) {
        c->out_shape[0].d[0] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    int64_t s, e;
    mv_shape_window(c->node, c->in_shape[0].rank, &s, &e);
    c->out_shape[0].d[0] = weft_dim_num(e > s ? e - s : 0);
    return WEFT_OK;
}

static weft_status mv_run_shape(weft_kernel_ctx *k)
{
    int64_t s, e;
    mv_shape_window(k->node, k->in[0].rank, &s, &e);
    int64_t *o = k->out[0].data;
    for (int64_t i = s; i < e; i++) o[i - s] = k->in[0].dims[i];
    return WEFT_OK;
}

static weft_status mv_infer_size(weft_infer_ctx *c)
{
    weft_status st = mv_need_rank(c, 0);
    if (st) return st;
    if (weft_shape_numel(&c->in_shape[0]) == -2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "the input's element count overflows int64");
    c->out_dtype[0] = WEFT_INT64;
    c->out_shape[0].rank = 0;
    return WEFT_OK;
}

static weft_status mv_run_size(weft_kernel_ctx *k)
{
    *(int64_t *)k->out[0].data = k->in[0].numel;
    return WEFT_OK;
}

/* --- Flatten ------------------------------------------------------------------------------------- */

/* Product of dims [lo, hi): a number, or a symbol when exactly one symbol and the rest multiply to 1. */
static bool mv_dims_product(weft_infer_ctx *c, const weft_shape *s, int lo, int hi, weft_dim *out)
{
    int64_t p = 1;
    int nsym = 0;
    weft_dim sym = {0, -1};
    for (int i = lo; i < hi; i++) {
        if (weft_dim_known(s->d[i])) {
            if (!weft_movement_mul(p, s->d[i].v, &p)) {
                weft_op_error(c->node, WEFT_ERR_SHAPE, "the product of dimensions %d..%d overflows int64", lo, hi - 1);
                return false;
            }
        } else {
            nsym++;
            sym = s->d[i];
        }
    }
    if (nsym == 0) *out = weft_dim_num(p);
    else if (p == 0) *out = weft_dim_num(0);
    else if (nsym == 1 && p == 1) *out = sym;
    else *out = weft_dim_unknown(c);
    return true;
}

static weft_status mv_infer_flatten(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    weft_shape *s = &c->out_shape[0];
    s->rank = 2;
    const weft_shape *in = &c->in_shape[0];
    if (in->rank < 0) {
        s->d[0] = weft_dim_unknown(c);
        s->d[1] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    /* axis in [-r, r]; a negative one counts from the back (so -1 keeps only the last dim). */
    int64_t a = weft_attr_int(c->node, "axis", 1);
    if (a < -(int64_t)in->rank || a > in->rank)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "axis %lld is out of range for rank %d", (long long)a,
                             in->rank);
    int axis = (int)(a < 0 ? a + in->rank : a);
    if (!mv_dims_product(c, in, 0, axis, &s->d[0]) || !mv_dims_product(c, in, axis, in->rank, &s->d[1]))
        return WEFT_ERR_SHAPE;
    return WEFT_OK;
}

/* --- Squeeze, Unsqueeze -------------------------------------------------------------------------- */

/* The axes of (Un)squeeze: attribute before opset 13, optional input 1 from 13. Returns the count,
 * -1 when absent, -2 when present but unknown (compile time), -3 on error. */
static int mv_sq_axes_infer(weft_infer_ctx *c, int64_t *axes)
{
    if (c->node->opset < 13) {
        const int64_t *a;
        int n = weft_attr_ints(c->node, "axes", &a);
        if (n > WEFT_MAX_RANK + 1) {
            weft_op_error(c->node, WEFT_ERR_SHAPE, "too many axes (%d)", n);
            return -3;
        }
        for (int i = 0; i < n; i++) axes[i] = a[i];
        return n;
    }
    if (!weft_in_present(c, 1)) return -1;
    int n = weft_movement_infer_ints(c, 1, axes, WEFT_MAX_RANK + 1);
    if (n == -2) return -3;
    if (n == -1) return -2;
    return n;
}

/* Normalises axes against `rank` into a mask, refusing repeats. */
static weft_status mv_axes_mask(const weft_node_info *node, const int64_t *axes, int n, int rank, bool *mask)
{
    for (int i = 0; i < rank; i++) mask[i] = false;
    for (int i = 0; i < n; i++) {
        int a;
        weft_status st = weft_axis(node, axes[i], rank, false, &a);
        if (st) return st;
        if (mask[a]) return weft_op_error(node, WEFT_ERR_SHAPE, "axis %lld is repeated", (long long)axes[i]);
        mask[a] = true;
    }
    return WEFT_OK;
}

static weft_status mv_infer_squeeze(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *in = &c->in_shape[0];
    weft_shape *s = &c->out_shape[0];
    int64_t axes[WEFT_MAX_RANK + 1];
    int n = mv_sq_axes_infer(c, axes);
    if (n == -3) return WEFT_ERR_SHAPE;
    if (in->rank < 0) {
        s->rank = -1;
        return WEFT_OK;
    }
    if (n == -2) {
        const weft_shape *as = &c->in_shape[1];
        if (as->rank == 1 && weft_dim_known(as->d[0]) && as->d[0].v <= in->rank) {
            s->rank = in->rank - (int)as->d[0].v;
            for (int i = 0; i < s->rank; i++) s->d[i] = weft_dim_unknown(c);
        } else {
            s->rank = -1;
        }
        return WEFT_OK;
    }
    bool mask[WEFT_MAX_RANK];
    if (n <= 0) {
        /* No axes (absent or empty, as ONNX Runtime reads an empty list): every dim of size 1 goes; a symbolic dim might be 1, so the rank is unknown. */
        for (int i = 0; i < in->rank; i++) {
            if (!weft_dim_known(in->d[i])) {
                s->rank = -1;
                return WEFT_OK;
            }
            mask[i] = in->d[i].v == 1;
        }
    } else if ((st = mv_axes_mask(c->node, axes, n, in->rank, mask))) {
        return st;
    }
    s->rank = 0;
    for (int i = 0; i < in->rank; i++) {
        if (!mask[i]) {
            s->d[s->rank++] = in->d[i];
        } else if (weft_dim_known(in->d[i]) && in->d[i].v != 1) {
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "cannot squeeze axis %d of size %lld", i,
                                 (long long)in->d[i].v);
        }
    }
    return WEFT_OK;
}

static weft_status mv_infer_unsqueeze(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    c->out_dtype[0] = c->in_dtype[0];
    const weft_shape *in = &c->in_shape[0];
    weft_shape *s = &c->out_shape[0];
    int64_t axes[WEFT_MAX_RANK + 1];
    int n = mv_sq_axes_infer(c, axes);
    if (n == -3) return WEFT_ERR_SHAPE;
    if (n == -1) return weft_op_error(c->node, WEFT_ERR_INVALID_MODEL, "axes are required");
    if (in->rank < 0 || n == -2) {
        const weft_shape *as = &c->in_shape[1];
        if (in->rank >= 0 && as->rank == 1 && weft_dim_known(as->d[0]) && in->rank + as->d[0].v <= WEFT_MAX_RANK) {
            s->rank = in->rank + (int)as->d[0].v;
            for (int i = 0; i < s->rank; i++) s->d[i] = weft_dim_unknown(c);
        } else {
            s->rank = -1;
        }
        return WEFT_OK;
    }
    int r = in->rank + n;
    if (r > WEFT_MAX_RANK)
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "output rank %d is above weft's limit %d", r,
                             WEFT_MAX_RANK);
    bool mask[WEFT_MAX_RANK];
    if ((st = mv_axes_mask(c->node, axes, n, r, mask))) return st;
    s->rank = r;
    for (int i = 0, j = 0; i < r; i++) s->d[i] = mask[i] ? weft_dim_num(1) : in->d[j++];
    return WEFT_OK;
}

/* --- Dropout (inference only) -------------------------------------------------------------------- */

/* Training mode drops at random, which weft does not do, except with ratio 0, where nothing is dropped
 * and the op is the identity again. `rdt` is WEFT_UNDEFINED when the ratio is absent (0.5); `rdata`
 * NULL when it is not known yet (compile time: decided at run time). */
static weft_status mv_dropout_check_training(const weft_node_info *n, weft_dtype dt, const void *data,
                                             weft_dtype rdt, const void *rdata)
{
    if (dt == WEFT_UNDEFINED || !data || weft_load_f64(dt, data, 0) == 0) return WEFT_OK;
    if (rdt != WEFT_UNDEFINED && !rdata) return WEFT_OK;
    if (rdt != WEFT_UNDEFINED && weft_load_f64(rdt, rdata, 0) == 0) return WEFT_OK;
    return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "training_mode=true with a nonzero ratio is not supported");
}

static weft_status mv_infer_dropout(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    if (weft_in_present(c, 2)) {
        if (c->in_dtype[2] != WEFT_BOOL)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'training_mode' must be bool, got %s",
                                 weft_dtype_name(c->in_dtype[2]));
        if (c->in_shape[2].rank > 0)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'training_mode' must be a scalar");
    }
    if (weft_in_present(c, 1)) {
        if (!weft_dtype_is_float(c->in_dtype[1]))
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'ratio' must be a float type, got %s",
                                 weft_dtype_name(c->in_dtype[1]));
        if (weft_shape_numel(&c->in_shape[1]) > 1 || c->in_shape[1].rank > 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'ratio' must be a scalar");
        if (c->in_data[1] && weft_shape_numel(&c->in_shape[1]) != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'ratio' must hold one element");
    }
    if (weft_in_present(c, 2) &&
        (st = mv_dropout_check_training(c->node, c->in_dtype[2], c->in_data[2],
                                        weft_in_present(c, 1) ? c->in_dtype[1] : WEFT_UNDEFINED,
                                        weft_in_present(c, 1) ? c->in_data[1] : NULL)))
        return st;
    weft_infer_same_as_input0(c);
    if (c->n_out > 1) {
        /* The mask is bool from opset 10; before that it had the input's type. */
        c->out_dtype[1] = c->node->opset >= 10 ? WEFT_BOOL : c->in_dtype[0];
        c->out_shape[1] = c->in_shape[0];
    }
    return WEFT_OK;
}

static weft_status mv_run_dropout(weft_kernel_ctx *k)
{
    if (weft_kin_present(k, 2)) {
        bool ratio = weft_kin_present(k, 1);
        if (ratio && k->in[1].numel != 1)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 'ratio' must hold one element");
        /* At run time every value is known: an absent ratio is 0.5, so training mode is refused. */
        static const float half = 0.5f;
        weft_status st = mv_dropout_check_training(k->node, k->in[2].dtype, k->in[2].numel ? k->in[2].data : NULL,
                                                   ratio ? k->in[1].dtype : WEFT_FLOAT32,
                                                   ratio ? k->in[1].data : &half);
        if (st) return st;
    }
    weft_status st = mv_run_copy0(k);
    if (st) return st;
    if (k->n_out > 1 && k->out[1].dtype != WEFT_UNDEFINED) {
        /* Nothing is dropped at inference: the mask keeps every element. */
        for (int64_t i = 0; i < k->out[1].numel; i++) weft_store_f64(k->out[1].dtype, k->out[1].data, i, 1.0);
    }
    return WEFT_OK;
}

/* --- Range --------------------------------------------------------------------------------------- */

static bool mv_range_dtype_ok(weft_dtype t)
{
    return t == WEFT_FLOAT32 || t == WEFT_FLOAT64 || t == WEFT_FLOAT16 || t == WEFT_BFLOAT16 || t == WEFT_INT16 ||
           t == WEFT_INT32 || t == WEFT_INT64 || t == WEFT_INT8 || t == WEFT_UINT8 || t == WEFT_UINT16 ||
           t == WEFT_UINT32;
}

/* Element count max(ceil((limit - start) / delta), 0), exact for integers. */
static weft_status mv_range_count(const weft_node_info *n, weft_dtype t, const void *const d[3], int64_t *count)
{
    if (weft_dtype_is_float(t)) {
        double s = weft_load_f64(t, d[0], 0), l = weft_load_f64(t, d[1], 0), dl = weft_load_f64(t, d[2], 0);
        if (!isfinite(s) || !isfinite(l) || !isfinite(dl))
            return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "start, limit and delta must be finite");
        if (dl == 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "delta must not be 0");
        double q = ceil((l - s) / dl);
        if (!(q < 9.2e18)) return weft_op_error(n, WEFT_ERR_SHAPE, "the range has too many elements (%g)", q);
        *count = q > 0 ? (int64_t)q : 0;
        return WEFT_OK;
    }
    int64_t s = weft_load_i64(t, d[0], 0), l = weft_load_i64(t, d[1], 0), dl = weft_load_i64(t, d[2], 0);
    if (dl == 0) return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "delta must not be 0");
    __int128 span = (__int128)l - s, q;
    /* Ceiling division with the sign of delta: q = ceil(span / dl). */
    if (dl > 0) q = span > 0 ? (span + dl - 1) / dl : 0;
    else q = span < 0 ? (-span + (-(__int128)dl) - 1) / (-(__int128)dl) : 0;
    if (q > INT64_MAX) return weft_op_error(n, WEFT_ERR_SHAPE, "the range has too many elements");
    *count = (int64_t)q;
    return WEFT_OK;
}

static weft_status mv_infer_range(weft_infer_ctx *c)
{
    weft_dtype t = c->in_dtype[0];
    for (int i = 0; i < 3; i++) {
        if (c->in_dtype[i] != t)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "start, limit and delta must share a dtype (%s vs %s)",
                                 weft_dtype_name(t), weft_dtype_name(c->in_dtype[i]));
        const weft_shape *s = &c->in_shape[i];
        /* Scalars by the spec; a one-element 1-D tensor is accepted as one. */
        if (s->rank > 1 || (s->rank == 1 && weft_dim_known(s->d[0]) && s->d[0].v != 1))
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must be a scalar", i);
    }
    if (!mv_range_dtype_ok(t))
        return weft_op_error(c->node, WEFT_ERR_UNSUPPORTED, "dtype %s is not supported", weft_dtype_name(t));
    c->out_dtype[0] = t;
    c->out_shape[0].rank = 1;
    if (!c->in_data[0] || !c->in_data[1] || !c->in_data[2]) {
        c->out_shape[0].d[0] = weft_dim_unknown(c);
        return WEFT_OK;
    }
    for (int i = 0; i < 3; i++)
        if (weft_shape_numel(&c->in_shape[i]) != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input %d must hold one element", i);
    int64_t count;
    const void *d[3] = {c->in_data[0], c->in_data[1], c->in_data[2]};
    weft_status st = mv_range_count(c->node, t, d, &count);
    if (st) return st;
    c->out_shape[0].d[0] = weft_dim_num(count);
    return weft_movement_check_bytes(c, 0);
}

static weft_status mv_run_range(weft_kernel_ctx *k)
{
    weft_dtype t = k->in[0].dtype;
    for (int i = 0; i < 3; i++)
        if (k->in[i].numel != 1 || k->in[i].dtype != t)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input %d must be one element of the common dtype", i);
    const void *d[3] = {k->in[0].data, k->in[1].data, k->in[2].data};
    int64_t count;
    weft_status st = mv_range_count(k->node, t, d, &count);
    if (st) return st;
    if (count != k->out[0].numel) return weft_op_error(k->node, WEFT_ERR_INTERNAL, "output size mismatch");
    void *o = k->out[0].data;
    if (weft_dtype_is_float(t)) {
        /* start + i * delta in double, then rounded once to the output type (as numpy's arange). */
        double s = weft_load_f64(t, d[0], 0), dl = weft_load_f64(t, d[2], 0);
        for (int64_t i = 0; i < count; i++) weft_store_f64(t, o, i, s + (double)i * dl);
    } else {
        int64_t s = weft_load_i64(t, d[0], 0), dl = weft_load_i64(t, d[2], 0);
        /* Every value lies between start and limit, so it fits the type, but i * delta alone may not
         * fit int64: add in wrapping unsigned arithmetic, which lands on the exact (in-range) result. */
        for (int64_t i = 0; i < count; i++)
            weft_store_i64(t, o, i, (int64_t)((uint64_t)s + (uint64_t)i * (uint64_t)dl));
    }
    return WEFT_OK;
}

/* --- Trilu --------------------------------------------------------------------------------------- */

static weft_status mv_infer_trilu(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank < 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must have rank >= 2, got %d", c->in_shape[0].rank);
    if (weft_in_present(c, 1)) {
        if (c->in_dtype[1] != WEFT_INT64)
            return weft_op_error(c->node, WEFT_ERR_TYPE, "input 'k' must be int64, got %s",
                                 weft_dtype_name(c->in_dtype[1]));
        int64_t n = weft_shape_numel(&c->in_shape[1]);
        if (n >= 0 && n != 1)
            return weft_op_error(c->node, WEFT_ERR_SHAPE, "input 'k' must hold one element, got %lld", (long long)n);
    }
    return weft_infer_same_as_input0(c);
}

static weft_status mv_run_trilu(weft_kernel_ctx *k)
{
    const weft_tview *x = &k->in[0];
    int64_t diag = 0;
    if (weft_kin_present(k, 1)) {
        if (k->in[1].numel != 1)
            return weft_op_error(k->node, WEFT_ERR_SHAPE, "input 'k' must hold one element");
        diag = ((const int64_t *)k->in[1].data)[0];
    }
    bool upper = weft_attr_int(k->node, "upper", 1) != 0;
    int64_t rows = x->dims[x->rank - 2], cols = x->dims[x->rank - 1];
    size_t esz = weft_dtype_size(x->dtype);
    const char *src = x->data;
    char *dst = k->out[0].data;
    int64_t mats = (rows != 0 && cols != 0) ? x->numel / (rows * cols) : 0;
    for (int64_t m = 0; m < mats; m++)
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < cols; j++) {
                int64_t e = (m * rows + i) * cols + j;
                /* j - i is small, so comparing it with any int64 k cannot overflow. */
                bool keep = upper ? (j - i >= diag) : (j - i <= diag);
                if (keep) memcpy(dst + e * (int64_t)esz, src + e * (int64_t)esz, esz);
                else memset(dst + e * (int64_t)esz, 0, esz); /* all-zero bits are 0 in every dtype */
            }
    return WEFT_OK;
}

/* --- EyeLike ------------------------------------------------------------------------------------- */

static weft_status mv_eyelike_dtype(const weft_node_info *n, weft_dtype in, weft_dtype *out)
{
    const weft_attr *a = weft_attr_find(n, "dtype");
    *out = a && a->type == WEFT_ATTR_INT ? (weft_dtype)a->i : in;
    if (a && a->type == WEFT_ATTR_INT && (a->i < 0 || a->i > 16))
        return weft_op_error(n, WEFT_ERR_INVALID_MODEL, "attribute 'dtype' %lld is not a dtype", (long long)a->i);
    if (weft_dtype_size(*out) == 0)
        return weft_op_error(n, WEFT_ERR_UNSUPPORTED, "output dtype %s is not supported", weft_dtype_name(*out));
    return WEFT_OK;
}

static weft_status mv_infer_eyelike(weft_infer_ctx *c)
{
    weft_status st = mv_data_dtype(c, 0);
    if (st) return st;
    if (c->in_shape[0].rank >= 0 && c->in_shape[0].rank != 2)
        return weft_op_error(c->node, WEFT_ERR_SHAPE, "input must be 2-D, got rank %d", c->in_shape[0].rank);
    if ((st = mv_eyelike_dtype(c->node, c->in_dtype[0], &c->out_dtype[0]))) return st;
    c->out_shape[0] = c->in_shape[0];
    return WEFT_OK;
}

static weft_status mv_run_eyelike(weft_kernel_ctx *k)
{
    weft_tview *o = &k->out[0];
    int64_t rows = o->dims[0], cols = o->dims[1], diag = weft_attr_int(k->node, "k", 0);
    memset(o->data, 0, (size_t)o->numel * weft_dtype_size(o->dtype));
    for (int64_t i = 0; i < rows; i++) {
        /* Column j = i + k, skipping rows where it falls outside; |k| may be huge, so compare first. */
        if (diag >= cols || diag <= -rows) break;
        int64_t j = i + diag;
        if (j >= 0 && j < cols) weft_store_f64(o->dtype, o->data, i * cols + j, 1.0);
    }
    return WEFT_OK;
}

/* --- gradients (ops/grad.h) ----------------------------------------------------------------------- */

static weft_status grad_identity(weft_grad_ctx *c)
{
    weft_grad_to(c, 0, weft_grad_dout(c, 0));
    return c->st;
}

/* Reshape, Flatten, Squeeze, Unsqueeze only relabel the elements: the gradient takes x's shape back. */
static weft_status grad_reshape(weft_grad_ctx *c)
{
    int shape = weft_grad_shape_of(c, c->in[0], &c->in_shape[0]);
    weft_grad_to(c, 0, weft_grad_op2(c, "Reshape", weft_grad_dout(c, 0), shape));
    return c->st;
}

static weft_status grad_transpose(weft_grad_ctx *c)
{
    int rank = c->in_shape[0].rank;
    const int64_t *perm = NULL;
    int n = weft_attr_ints(c->node, "perm", &perm);
    int64_t inv[WEFT_MAX_RANK];
    for (int a = 0; a < rank; a++) {
        int64_t p = n == rank ? perm[a] : rank - 1 - a; /* default: the axes reversed */
        if (p < 0) p += rank;
        inv[p] = a;
    }
    weft_grad_to(c, 0, weft_grad_transpose(c, weft_grad_dout(c, 0), inv, rank));
    return c->st;
}

/* An int64 [1] value holding dim `axis` of input i: a constant when known, else read from its shape. */
static int dim_value(weft_grad_ctx *c, int i, int axis)
{
    weft_dim d = c->in_shape[i].d[axis];
    if (weft_dim_known(d)) return weft_grad_i64s(c, &d.v, 1);
    weft_attr at[2] = {weft_grad_attr_int("start", axis), weft_grad_attr_int("end", axis + 1)};
    return weft_grad_op(c, "Shape", &c->in[i], 1, at, 2);
}

/* Each input's part of the gradient is the slice of g it filled: offsets are the sums of the sizes
 * before it (constants, or Add nodes over Shape when sizes are symbols). */
static weft_status grad_concat(weft_grad_ctx *c)
{
    int rank = c->out_shape[0].rank, axis;
    if (weft_axis(c->node, weft_attr_int(c->node, "axis", 0), rank, false, &axis)) return c->st = WEFT_ERR_INVALID_MODEL;
    int g = weft_grad_dout(c, 0);
    int64_t zero = 0, ax = axis;
    int start = weft_grad_i64s(c, &zero, 1), axes = weft_grad_i64s(c, &ax, 1);
    for (int i = 0; i < c->n_in && !c->st; i++) {
        int end = weft_grad_op2(c, "Add", start, dim_value(c, i, axis));
        if (c->want[i]) {
            int in[4] = {g, start, end, axes};
            weft_grad_to(c, i, weft_grad_op(c, "Slice", in, 4, NULL, 0));
        }
        start = end;
    }
    return c->st;
}

/* The parts' gradients put back together (zeros for a part the loss does not read). */
static weft_status grad_split(weft_grad_ctx *c)
{
    int rank = c->in_shape[0].rank, axis;
    if (weft_axis(c->node, weft_attr_int(c->node, "axis", 0), rank, false, &axis)) return c->st = WEFT_ERR_INVALID_MODEL;
    int parts[64];
    if (c->n_out > 64) return weft_grad_fail(c, WEFT_ERR_UNSUPPORTED, "more than 64 parts");
    for (int o = 0; o < c->n_out; o++) parts[o] = weft_grad_dout(c, o);
    weft_attr at = weft_grad_attr_int("axis", axis);
    weft_grad_to(c, 0, weft_grad_op(c, "Concat", parts, c->n_out, &at, 1));
    return c->st;
}

/* Input i's constant integers into out[], their count; -1 when absent or not a constant. */
static int slice_const(const weft_grad_ctx *c, int i, int64_t *out)
{
    if (i >= c->n_in || c->in[i] < 0 || !c->in_data[i] || (c->in_dtype[i] != WEFT_INT64 && c->in_dtype[i] != WEFT_INT32))
        return -1;
    int64_t n = weft_shape_numel(&c->in_shape[i]);
    if (n < 0 || n > WEFT_MAX_RANK) return -1;
    for (int64_t k = 0; k < n; k++)
        out[k] = c->in_dtype[i] == WEFT_INT64 ? ((const int64_t *)c->in_data[i])[k] : ((const int32_t *)c->in_data[i])[k];
    return (int)n;
}

/* The box a Slice keeps, as Pad amounts, when it is known at compile time: constant starts / ends /
 * axes, steps of 1, numbers for the sliced dims. false otherwise (nothing is emitted or failed). */
static bool slice_box(weft_grad_ctx *c, int64_t *pads)
{
    const weft_shape *sx = &c->in_shape[0];
    int rank = sx->rank, n;
    int64_t starts[WEFT_MAX_RANK], ends[WEFT_MAX_RANK], axes[WEFT_MAX_RANK], steps[WEFT_MAX_RANK];
    if (rank < 0) return false;
    if (c->node->opset < 10) {
        const int64_t *s = NULL, *e = NULL, *a = NULL;
        n = weft_attr_ints(c->node, "starts", &s);
        if (n < 0 || n > WEFT_MAX_RANK || weft_attr_ints(c->node, "ends", &e) != n) return false;
        int na = weft_attr_ints(c->node, "axes", &a);
        for (int k = 0; k < n; k++) { starts[k] = s[k]; ends[k] = e[k]; axes[k] = na == n ? a[k] : k; steps[k] = 1; }
    } else {
        n = slice_const(c, 1, starts);
        if (n < 0 || slice_const(c, 2, ends) != n) return false;
        for (int k = 0; k < n; k++) { axes[k] = k; steps[k] = 1; }
        if (c->n_in > 3 && c->in[3] >= 0 && slice_const(c, 3, axes) != n) return false;
        if (c->n_in > 4 && c->in[4] >= 0 && slice_const(c, 4, steps) != n) return false;
    }
    for (int a = 0; a < 2 * rank; a++) pads[a] = 0;
    for (int k = 0; k < n; k++) {
        int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
        if (a < 0 || a >= rank || steps[k] != 1 || !weft_dim_known(sx->d[a])) return false;
        int64_t d = sx->d[a].v, s = starts[k], e = ends[k];
        s = s < 0 ? s + d : s;
        e = e < 0 ? e + d : e;
        s = s < 0 ? 0 : s > d ? d : s;
        e = e < s ? s : e > d ? d : e;
        pads[a] = s;
        pads[rank + a] = d - e;
    }
    return true;
}

/* A Slice keeps some elements of x, each once: its gradient is g put back where they came from, zeros
 * elsewhere. A box known at compile time pads g; otherwise (starts / ends / axes / steps computed at run
 * time, steps other than 1, symbolic sizes) the same Slice, applied to every element's flat position,
 * says where each element of g goes, and g is scattered there into zeros. Reusing the forward Slice
 * keeps its clamping and negative-step rules exactly. */
static weft_status grad_slice(weft_grad_ctx *c)
{
    const weft_shape *sx = &c->in_shape[0];
    int64_t pads[2 * WEFT_MAX_RANK];
    int g = weft_grad_dout(c, 0);
    if (slice_box(c, pads)) {
        int in[2] = {g, weft_grad_i64s(c, pads, 2 * sx->rank)};
        weft_grad_to(c, 0, weft_grad_op(c, "Pad", in, 2, NULL, 0));
        return c->st;
    }
    if (sx->rank < 0) return weft_grad_fail(c, WEFT_ERR_SHAPE, "the rank of the sliced value is unknown");
    int pos = weft_grad_positions(c, c->in[0], sx), where;
    int64_t m1 = -1;
    if (c->node->opset < 10) { /* the bounds are attributes: the same ones, as inputs */
        int in[4] = {pos, -1, -1, -1}, n_in = 3;
        const char *names[3] = {"starts", "ends", "axes"};
        for (int k = 0; k < 3; k++) {
            const int64_t *v = NULL;
            int n = weft_attr_ints(c->node, names[k], &v);
            if (n > 0) in[1 + k] = weft_grad_i64s(c, v, n);
            if (k == 2 && n > 0) n_in = 4;
        }
        where = weft_grad_op(c, "Slice", in, n_in, NULL, 0);
    } else {
        int in[5] = {pos, -1, -1, -1, -1};
        for (int k = 1; k < c->n_in && k < 5; k++) in[k] = c->in[k];
        where = weft_grad_op(c, "Slice", in, c->n_in < 5 ? c->n_in : 5, NULL, 0);
    }
    int flat = weft_grad_i64s(c, &m1, 1);
    int zeros = weft_grad_op2(c, "Reshape", weft_grad_zeros_like(c, c->in[0], sx), flat);
    int in[3] = {zeros, weft_grad_op2(c, "Reshape", where, flat), weft_grad_op2(c, "Reshape", g, flat)};
    int scat = weft_grad_op(c, "ScatterElements", in, 3, NULL, 0);
    weft_grad_to(c, 0, weft_grad_op2(c, "Reshape", scat, weft_grad_shape_of(c, c->in[0], sx)));
    return c->st;
}

static weft_status grad_expand(weft_grad_ctx *c)
{
    weft_grad_to_bcast(c, 0, weft_grad_dout(c, 0), &c->out_shape[0]);
    return c->st;
}

/* --- the family table ---------------------------------------------------------------------------- */

#define VD WEFT_OP_VALUE_DEPENDENT_SHAPE
const weft_op_def weft_ops_movement[] = {
    {"Constant", "", 1, 0, 0, 0, 1, 1, 0, mv_infer_constant, mv_run_constant},
    {"ConstantOfShape", "", 9, 0, 1, 1, 1, 1, VD, mv_infer_constant_of_shape, mv_run_constant_of_shape, 0x1},
    {"Identity", "", 1, 0, 1, 1, 1, 1, 0, mv_infer_identity, mv_run_copy0, 0, grad_identity},
    {"Reshape", "", 5, 0, 2, 2, 1, 1, VD, mv_infer_reshape, mv_run_copy0, 0x2, grad_reshape},
    {"Shape", "", 1, 0, 1, 1, 1, 1, WEFT_OP_DIMS_ONLY, mv_infer_shape, mv_run_shape},
    {"Size", "", 1, 0, 1, 1, 1, 1, WEFT_OP_DIMS_ONLY, mv_infer_size, mv_run_size},
    {"Flatten", "", 1, 0, 1, 1, 1, 1, 0, mv_infer_flatten, mv_run_copy0, 0, grad_reshape},
    {"Squeeze", "", 1, 0, 1, 2, 1, 1, VD, mv_infer_squeeze, mv_run_copy0, 0x2, grad_reshape},
    {"Unsqueeze", "", 1, 0, 1, 2, 1, 1, VD, mv_infer_unsqueeze, mv_run_copy0, 0x2, grad_reshape},
    {"Dropout", "", 1, 0, 1, 3, 1, 2, 0, mv_infer_dropout, mv_run_dropout},
    {"Range", "", 11, 0, 3, 3, 1, 1, VD, mv_infer_range, mv_run_range, 0x7},
    {"Trilu", "", 14, 0, 1, 2, 1, 1, 0, mv_infer_trilu, mv_run_trilu},
    {"EyeLike", "", 9, 0, 1, 1, 1, 1, 0, mv_infer_eyelike, mv_run_eyelike},
    {"Transpose", "", 1, 0, 1, 1, 1, 1, 0, weft_movement_infer_transpose, weft_movement_run_transpose, 0, grad_transpose},
    {"Concat", "", 1, 0, 1, MV_VARIADIC, 1, 1, 0, weft_movement_infer_concat, weft_movement_run_concat, 0, grad_concat},
    {"Split", "", 1, 0, 1, 2, 1, MV_VARIADIC, VD, weft_movement_infer_split, weft_movement_run_split, 0x2, grad_split},
    {"Slice", "", 1, 0, 1, 5, 1, 1, VD, weft_movement_infer_slice, weft_movement_run_slice, 0x1e, grad_slice},
    {"Tile", "", 6, 0, 2, 2, 1, 1, VD, weft_movement_infer_tile, weft_movement_run_tile, 0x2},
    {"Expand", "", 8, 0, 2, 2, 1, 1, VD, weft_movement_infer_expand, weft_movement_run_expand, 0x2, grad_expand},
    {"Pad", "", 2, 0, 1, 4, 1, 1, VD, weft_movement_infer_pad, weft_movement_run_pad, 0xa},
    {"DepthToSpace", "", 1, 0, 1, 1, 1, 1, 0, weft_movement_infer_depth_to_space, weft_movement_run_depth_to_space},
    {"SpaceToDepth", "", 1, 0, 1, 1, 1, 1, 0, weft_movement_infer_space_to_depth, weft_movement_run_space_to_depth},
    {"Compress", "", 9, 0, 2, 2, 1, 1, VD, weft_movement_infer_compress, weft_movement_run_compress},
};
#undef VD
const int weft_ops_movement_count = (int)(sizeof weft_ops_movement / sizeof weft_ops_movement[0]);
