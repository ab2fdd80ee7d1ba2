/* runtime/tensor_io.c — tensors on disk: NumPy `.npy` (1.0-3.0) and ONNX TensorProto `.pb`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../compiler/onnx_tensor.h"
#include "../ops/op.h"

#define MAX_TENSOR_FILE_BYTES ((size_t)1 << 40)

void weft_tensor_release(weft_tensor *t)
{
    if (!t) return;
    free(t->data);
    free((char *)t->name);
    memset(t, 0, sizeof *t);
}

/* --- .npy ---------------------------------------------------------------------------------------- */

static const struct {
    const char *code; /* descr without its byte-order character */
    weft_dtype dt;
} npy_types[] = {
    {"f4", WEFT_FLOAT32}, {"f8", WEFT_FLOAT64}, {"f2", WEFT_FLOAT16}, {"i8", WEFT_INT64}, {"i4", WEFT_INT32},
    {"i2", WEFT_INT16},   {"i1", WEFT_INT8},    {"u1", WEFT_UINT8},   {"u2", WEFT_UINT16}, {"u4", WEFT_UINT32},
    {"u8", WEFT_UINT64},  {"b1", WEFT_BOOL},
};

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* Finds the value of key `key` ('descr', ...) in the header dict; returns a pointer just past the ':'. */
static const char *npy_find_key(const char *h, const char *end, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = h; p + kl + 2 <= end; p++) {
        if ((*p == '\'' || *p == '"') && p[kl + 1] == *p && memcmp(p + 1, key, kl) == 0) {
            const char *q = skip_ws(p + kl + 2, end);
            if (q < end && *q == ':') return skip_ws(q + 1, end);
        }
    }
    return NULL;
}

static weft_status npy_parse_header(const char *h, size_t hl, const char *label, weft_tensor *t)
{
    const char *end = h + hl;
    /* descr */
    const char *p = npy_find_key(h, end, "descr");
    if (!p || p >= end || (*p != '\'' && *p != '"'))
        return weft_error(WEFT_ERR_PARSE, "%s: .npy header has no 'descr'", label);
    char q = *p++;
    const char *ds = p;
    while (p < end && *p != q) p++;
    if (p >= end) return weft_error(WEFT_ERR_PARSE, "%s: .npy header: unterminated 'descr'", label);
    size_t dl = (size_t)(p - ds);
    char descr[16];
    if (dl == 0 || dl >= sizeof descr)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: .npy dtype '%.*s' is not supported", label, (int)(dl > 32 ? 32 : dl),
                          ds);
    memcpy(descr, ds, dl);
    descr[dl] = '\0';
    char order = descr[0];
    const char *code = descr + 1;
    if (order != '<' && order != '>' && order != '|' && order != '=')
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", label, descr);
    weft_dtype dt = WEFT_UNDEFINED;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (strcmp(code, npy_types[i].code) == 0) dt = npy_types[i].dt;
    if (dt == WEFT_UNDEFINED) return weft_error(WEFT_ERR_UNSUPPORTED, "%s: .npy dtype '%s' is not supported", label, descr);
    if (order == '>' && weft_dtype_size(dt) > 1)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: big-endian .npy data ('%s') is not supported", label, descr);

    /* fortran_order */
    p = npy_find_key(h, end, "fortran_order");
    if (!p) return weft_error(WEFT_ERR_PARSE, "%s: .npy header has no 'fortran_order'", label);
    if ((size_t)(end - p) >= 4 && memcmp(p, "True", 4) == 0)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: Fortran-ordered .npy arrays are not supported", label);
    if (!((size_t)(end - p) >= 5 && memcmp(p, "False", 5) == 0))
        return weft_error(WEFT_ERR_PARSE, "%s: .npy header: bad 'fortran_order'", label);

    /* shape: a tuple of non-negative integers, "()" for a scalar, "(n,)" for one dim */
    p = npy_find_key(h, end, "shape");
    if (!p || p >= end || *p != '(') return weft_error(WEFT_ERR_PARSE, "%s: .npy header has no 'shape' tuple", label);
    p++;
    int rank = 0;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end) return weft_error(WEFT_ERR_PARSE, "%s: .npy header: unterminated 'shape'", label);
        if (*p == ')') break;
        if (*p < '0' || *p > '9') return weft_error(WEFT_ERR_PARSE, "%s: .npy header: bad 'shape'", label);
        int64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            int d = *p++ - '0';
            if (v > (INT64_MAX - d) / 10) return weft_error(WEFT_ERR_PARSE, "%s: .npy shape dimension overflows", label);
            v = v * 10 + d;
        }
        if (p < end && *p == 'L') p++; /* Python 2 longs */
        if (rank >= WEFT_MAX_RANK)
            return weft_error(WEFT_ERR_UNSUPPORTED, "%s: .npy rank exceeds weft's maximum of %d", label, WEFT_MAX_RANK);
        t->dims[rank++] = v;
        p = skip_ws(p, end);
        if (p < end && *p == ',') p++;
        else if (p < end && *p == ')') break;
        else return weft_error(WEFT_ERR_PARSE, "%s: .npy header: bad 'shape'", label);
    }
    t->rank = rank;
    t->dtype = dt;
    return WEFT_OK;
}

static weft_status npy_load(const uint8_t *buf, size_t len, const char *label, weft_tensor *out)
{
    if (len < 10) return weft_error(WEFT_ERR_PARSE, "%s: truncated .npy header", label);
    unsigned major = buf[6];
    size_t hl, start;
    if (major == 1) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (len < 12) return weft_error(WEFT_ERR_PARSE, "%s: truncated .npy header", label);
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        start = 12;
    } else {
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: .npy format version %u.%u is not supported", label, major, buf[7]);
    }
    if (hl > len - start) return weft_error(WEFT_ERR_PARSE, "%s: truncated .npy header", label);
    weft_tensor t = {0};
    weft_status s = npy_parse_header((const char *)buf + start, hl, label, &t);
    if (s != WEFT_OK) return s;
    int64_t numel;
    size_t nbytes;
    s = weft_onnx_tensor_bytes(t.dims, t.rank, t.dtype, label, &numel, &nbytes);
    if (s != WEFT_OK) return s;
    size_t have = len - start - hl;
    if (have != nbytes)
        return weft_error(WEFT_ERR_PARSE, "%s: .npy data holds %zu bytes but shape and dtype need %zu", label, have,
                          nbytes);
    if (!(t.data = malloc(nbytes ? nbytes : 1))) return weft_error(WEFT_ERR_NOMEM, "%s: out of memory", label);
    if (nbytes) memcpy(t.data, buf + start + hl, nbytes);
    if (t.dtype == WEFT_BOOL)
        for (size_t i = 0; i < nbytes; i++) ((uint8_t *)t.data)[i] = ((uint8_t *)t.data)[i] != 0;
    t.nbytes = nbytes;
    *out = t;
    return WEFT_OK;
}

/* --- loading ------------------------------------------------------------------------------------- */

static weft_status load_any(const void *buf, size_t len, const char *label, const char *base_dir, weft_tensor *out)
{
    memset(out, 0, sizeof *out);
    if (!buf && len) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "%s: NULL buffer", label);
    if (len == 0) return weft_error(WEFT_ERR_PARSE, "%s: empty tensor file", label);
    if (len >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) return npy_load(buf, len, label, out);
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(NULL, len, buf);
    if (!tp) return weft_error(WEFT_ERR_PARSE, "%s: neither a .npy file nor a valid ONNX TensorProto", label);
    char what[300];
    snprintf(what, sizeof what, "%.256s", label);
    weft_status s = weft_onnx_tensor_decode(tp, base_dir, what, out);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    return s;
}

weft_status weft_tensor_load_from_buffer(const void *buf, size_t len, weft_tensor *out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_tensor_load_from_buffer: out is NULL");
    return load_any(buf, len, "<buffer>", NULL, out);
}

weft_status weft_tensor_load(const char *path, weft_tensor *out)
{
    if (!out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_tensor_load: out is NULL");
    memset(out, 0, sizeof *out);
    uint8_t *buf;
    size_t len;
    weft_status s = weft_read_whole_file(path, MAX_TENSOR_FILE_BYTES, &buf, &len);
    if (s != WEFT_OK) return s;
    /* a TensorProto's external data lives next to it, under the same rules as a model's */
    char *dir = strdup(path);
    if (!dir) { free(buf); return weft_error(WEFT_ERR_NOMEM, "out of memory"); }
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    s = load_any(buf, len, path, dir, out);
    free(dir);
    free(buf);
    return s;
}

/* --- saving -------------------------------------------------------------------------------------- */

weft_status weft_tensor_save_npy(const char *path, const weft_tensor *t)
{
    if (!path || !t) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_tensor_save_npy: NULL argument");
    const char *descr = NULL;
    for (size_t i = 0; i < sizeof npy_types / sizeof npy_types[0]; i++)
        if (npy_types[i].dt == t->dtype) descr = npy_types[i].code;
    if (!descr)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: dtype %s cannot be written as .npy", path,
                          weft_dtype_name(t->dtype));
    if (t->rank < 0 || t->rank > WEFT_MAX_RANK)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "%s: bad rank %d", path, t->rank);
    int64_t numel;
    size_t nbytes;
    weft_status s = weft_onnx_tensor_bytes(t->dims, t->rank, t->dtype, path, &numel, &nbytes);
    if (s != WEFT_OK) return s;
    if (t->nbytes != nbytes || (nbytes && !t->data))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "%s: tensor holds %zu bytes but its shape needs %zu", path,
                          t->nbytes, nbytes);

    char header[256];
    int n = snprintf(header, sizeof header, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                     weft_dtype_size(t->dtype) == 1 ? '|' : '<', descr);
    for (int i = 0; i < t->rank; i++)
        n += snprintf(header + n, sizeof header - (size_t)n, "%lld,%s", (long long)t->dims[i],
                      i + 1 < t->rank ? " " : "");
    if (t->rank > 1) n--; /* numpy writes "(2, 3)" but "(5,)" */
    n += snprintf(header + n, sizeof header - (size_t)n, "), }");
    /* pad with spaces so the data starts on a 64-byte boundary; the header ends with '\n' */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hl = (size_t)n + pad + 1;
    uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hl & 0xff), (uint8_t)(hl >> 8)};

    FILE *f = fopen(path, "wb");
    if (!f) return weft_error(WEFT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
    for (size_t i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    if (ok && nbytes) ok = fwrite(t->data, 1, nbytes, f) == nbytes;
    if (fclose(f) != 0) ok = false;
    if (!ok) return weft_error(WEFT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return WEFT_OK;
}
