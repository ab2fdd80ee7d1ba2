/* compiler/onnx_tensor.c — TensorProto / SparseTensorProto → dense tensors, external data, file reads. */
#define _FILE_OFFSET_BITS 64 /* external data files may exceed 2 GiB */
#define _GNU_SOURCE

#include "onnx_tensor.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../ops/op.h"

_Static_assert(sizeof(off_t) == 8, "64-bit file offsets are required for large external data");

/* ONNX stores raw_data little-endian; weft runs on little-endian hosts only. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "weft's ONNX reader assumes a little-endian host"
#endif

weft_status weft_onnx_dtype(int32_t t, weft_dtype *out, const char *what)
{
    switch (t) {
    case 1: case 2: case 3: case 4: case 5: case 6: case 7: case 9: case 10: case 11: case 12: case 13: case 16:
        *out = (weft_dtype)t;
        return WEFT_OK;
    case 8: return weft_error(WEFT_ERR_UNSUPPORTED, "%s: string tensors are not supported", what);
    case 14: case 15: return weft_error(WEFT_ERR_UNSUPPORTED, "%s: complex tensors are not supported", what);
    case 0: return weft_error(WEFT_ERR_INVALID_MODEL, "%s: data type is undefined (0)", what);
    default:
        if (t > 16 && t < 64) /* float8, int4, uint4, float4, ... */
            return weft_error(WEFT_ERR_UNSUPPORTED, "%s: ONNX data type %d is not supported", what, (int)t);
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: unknown ONNX data type %d", what, (int)t);
    }
}

weft_status weft_onnx_tensor_bytes(const int64_t *dims, int rank, weft_dtype dt, const char *what, int64_t *numel,
                                   size_t *nbytes)
{
    int64_t n = 1;
    bool overflow = false;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return weft_error(WEFT_ERR_INVALID_MODEL, "%s: dimension %d is negative (%lld)", what, i,
                              (long long)dims[i]);
        /* keep checking the remaining dims for negatives even once the product is known to overflow */
        if (dims[i] != 0 && n > INT64_MAX / dims[i]) overflow = true;
        else n *= dims[i];
    }
    /* a zero dim makes the tensor empty whatever the others claim */
    for (int i = 0; i < rank; i++)
        if (dims[i] == 0) { n = 0; overflow = false; }
    size_t es = weft_dtype_size(dt);
    if (overflow || es == 0 || (uint64_t)n > (uint64_t)SIZE_MAX / es || (uint64_t)n * es > (uint64_t)INT64_MAX)
        return weft_error(WEFT_ERR_NOMEM, "%s: the tensor's size overflows (dims too large)", what);
    *numel = n;
    *nbytes = (size_t)n * es;
    return WEFT_OK;
}

/* --- whole files ----------------------------------------------------------------------------------- */

static weft_status read_fully(int fd, void *dst, size_t n, off_t off, const char *path)
{
    uint8_t *p = dst;
    while (n > 0) {
        /* Linux caps one read at ~2 GiB; loop */
        size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
        ssize_t r = pread(fd, p, chunk, off);
        if (r < 0) {
            if (errno == EINTR) continue;
            return weft_error(WEFT_ERR_IO, "%s: read failed: %s", path, strerror(errno));
        }
        if (r == 0) return weft_error(WEFT_ERR_IO, "%s: file ended early (it changed while being read?)", path);
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return WEFT_OK;
}

weft_status weft_read_whole_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (!path) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "no file path given");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return weft_error(WEFT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        weft_status s = weft_error(WEFT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return weft_error(WEFT_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max_bytes) {
        close(fd);
        return weft_error(WEFT_ERR_IO, "%s: file too large (%lld bytes; the limit is %zu)", path,
                          (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return weft_error(WEFT_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, n);
    }
    weft_status s = read_fully(fd, p, n, 0, path);
    close(fd);
    if (s != WEFT_OK) { free(p); return s; }
    *buf = p;
    *len = n;
    return WEFT_OK;
}

/* --- external data ----------------------------------------------------------------------------------- */

/* Strict non-negative decimal; false for signs, blanks, junk or overflow. */
static bool parse_u63(const char *s, int64_t *out)
{
    if (!s || !*s) return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        int d = *s - '0';
        if (v > (INT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static weft_status read_external(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                                 size_t nbytes, void **out)
{
    const char *location = NULL, *offset_s = NULL, *length_s = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        if (!e || !e->key) continue;
        if (strcmp(e->key, "location") == 0) location = e->value;
        else if (strcmp(e->key, "offset") == 0) offset_s = e->value;
        else if (strcmp(e->key, "length") == 0) length_s = e->value;
        /* "checksum" and unknown keys are ignored */
    }
    if (!location || !location[0])
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data without a 'location'", what);
    if (!base_dir)
        return weft_error(WEFT_ERR_SECURITY,
                          "%s: external data '%s' refused: the model was loaded from memory with no folder", what,
                          location);
    if (location[0] == '/')
        return weft_error(WEFT_ERR_SECURITY, "%s: external data path '%s' is absolute; it must be relative to the "
                          "model's folder", what, location);
    for (const char *c = location; *c;) {
        const char *e = strchr(c, '/');
        size_t n = e ? (size_t)(e - c) : strlen(c);
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return weft_error(WEFT_ERR_SECURITY, "%s: external data path '%s' contains '..'; it must stay inside the "
                              "model's folder", what, location);
        c += n;
        if (*c == '/') c++;
    }
    int64_t offset = 0, length = -1;
    if (offset_s && !parse_u63(offset_s, &offset))
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data offset '%s' is not a non-negative integer",
                          what, offset_s);
    if (length_s && !parse_u63(length_s, &length))
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data length '%s' is not a non-negative integer",
                          what, length_s);

    /* resolve symlinks on both sides, then require the file to lie under the folder */
    char base_real[PATH_MAX], file_real[PATH_MAX], joined[PATH_MAX * 2];
    if (!realpath(base_dir[0] ? base_dir : ".", base_real))
        return weft_error(WEFT_ERR_IO, "%s: model folder '%s': %s", what, base_dir, strerror(errno));
    if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base_dir[0] ? base_dir : ".", location) >= sizeof joined)
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data path is too long", what);
    if (!realpath(joined, file_real))
        return weft_error(WEFT_ERR_IO, "%s: external data file '%s': %s", what, joined, strerror(errno));
    size_t bl = strlen(base_real);
    bool inside = strncmp(file_real, base_real, bl) == 0 &&
                  (file_real[bl] == '/' || (bl > 0 && base_real[bl - 1] == '/'));
    if (!inside)
        return weft_error(WEFT_ERR_SECURITY, "%s: external data '%s' resolves to '%s', outside the model's folder "
                          "'%s'", what, location, file_real, base_real);

    int fd = open(file_real, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return weft_error(WEFT_ERR_IO, "%s: external data file '%s': %s", what, joined, strerror(errno));
    struct stat st;
    weft_status s = WEFT_OK;
    /* the folder may change between realpath and open (a component swapped for a symlink): check what
     * was actually opened */
    char fdpath[64], opened[PATH_MAX];
    snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    ssize_t ol = readlink(fdpath, opened, sizeof opened - 1);
    if (ol > 0) {
        opened[ol] = '\0';
        if (strcmp(opened, file_real) != 0) {
            s = weft_error(WEFT_ERR_SECURITY, "%s: external data '%s' changed while being opened", what, location);
            goto done;
        }
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        s = weft_error(WEFT_ERR_IO, "%s: external data '%s' is not a regular file", what, joined);
        goto done;
    }
    int64_t fsize = (int64_t)st.st_size;
    if (offset > fsize) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data offset %lld is beyond the end of '%s' (%lld bytes)",
                       what, (long long)offset, joined, (long long)fsize);
        goto done;
    }
    if (length < 0) length = fsize - offset;
    if (length > fsize - offset) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data offset %lld + length %lld exceeds the size of '%s' "
                       "(%lld bytes)", what, (long long)offset, (long long)length, joined, (long long)fsize);
        goto done;
    }
    if ((uint64_t)length != (uint64_t)nbytes) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: external data length %lld does not match the tensor's size "
                       "(%zu bytes)", what, (long long)length, nbytes);
        goto done;
    }
    void *p = malloc(nbytes ? nbytes : 1);
    if (!p) { s = weft_error(WEFT_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes); goto done; }
    s = read_fully(fd, p, nbytes, (off_t)offset, joined);
    if (s != WEFT_OK) { free(p); goto done; }
    *out = p;
done:
    close(fd);
    return s;
}

/* --- dense tensors ------------------------------------------------------------------------------------ */

/* Typed-field storage: int32_data carries every type of 16 bits or fewer (and bool); check ranges so a
 * corrupted value is an error, not a silently wrapped number. */
static weft_status from_int32_field(const Onnx__TensorProto *tp, weft_dtype dt, int64_t n, void *dst,
                                    const char *what)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t v = tp->int32_data[i];
        int32_t lo, hi;
        switch (dt) {
        case WEFT_INT8: lo = INT8_MIN; hi = INT8_MAX; break;
        case WEFT_UINT8: lo = 0; hi = UINT8_MAX; break;
        case WEFT_INT16: lo = INT16_MIN; hi = INT16_MAX; break;
        case WEFT_UINT16: lo = 0; hi = UINT16_MAX; break;
        case WEFT_FLOAT16: case WEFT_BFLOAT16: lo = INT16_MIN; hi = UINT16_MAX; break; /* the 16 bits */
        case WEFT_BOOL: lo = INT32_MIN; hi = INT32_MAX; break;
        default: lo = INT32_MIN; hi = INT32_MAX; break;
        }
        if (v < lo || v > hi)
            return weft_error(WEFT_ERR_INVALID_MODEL, "%s: element %lld (%d) is out of range for %s", what,
                              (long long)i, (int)v, weft_dtype_name(dt));
        switch (dt) {
        case WEFT_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
        case WEFT_UINT8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
        case WEFT_BOOL: ((uint8_t *)dst)[i] = v != 0; break;
        case WEFT_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
        case WEFT_UINT16: case WEFT_FLOAT16: case WEFT_BFLOAT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
        default: ((int32_t *)dst)[i] = v; break;
        }
    }
    return WEFT_OK;
}

static weft_status decode_payload(const Onnx__TensorProto *tp, weft_dtype dt, int64_t numel, size_t nbytes,
                                  const char *base_dir, const char *what, void **out)
{
    *out = NULL;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return read_external(tp, base_dir, what, nbytes, out);
    if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            return weft_error(WEFT_ERR_INVALID_MODEL, "%s: raw_data holds %zu bytes but %lld elements of %s need %zu",
                              what, tp->raw_data.len, (long long)numel, weft_dtype_name(dt), nbytes);
        void *p = malloc(nbytes ? nbytes : 1);
        if (!p) return weft_error(WEFT_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
        if (nbytes) memcpy(p, tp->raw_data.data, nbytes);
        if (dt == WEFT_BOOL) /* one byte per element, 0 or 1, whatever the file wrote */
            for (size_t i = 0; i < nbytes; i++) ((uint8_t *)p)[i] = ((uint8_t *)p)[i] != 0;
        *out = p;
        return WEFT_OK;
    }
    size_t have;
    const char *field;
    switch (dt) {
    case WEFT_FLOAT32: have = tp->n_float_data; field = "float_data"; break;
    case WEFT_INT64: have = tp->n_int64_data; field = "int64_data"; break;
    case WEFT_FLOAT64: have = tp->n_double_data; field = "double_data"; break;
    case WEFT_UINT32: case WEFT_UINT64: have = tp->n_uint64_data; field = "uint64_data"; break;
    default: have = tp->n_int32_data; field = "int32_data"; break;
    }
    if ((uint64_t)have != (uint64_t)numel)
        return weft_error(WEFT_ERR_INVALID_MODEL, "%s: %s holds %zu values but the dims need %lld", what, field, have,
                          (long long)numel);
    void *p = malloc(nbytes ? nbytes : 1);
    if (!p) return weft_error(WEFT_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes);
    weft_status s = WEFT_OK;
    switch (dt) {
    case WEFT_FLOAT32: if (nbytes) memcpy(p, tp->float_data, nbytes); break;
    case WEFT_INT64: if (nbytes) memcpy(p, tp->int64_data, nbytes); break;
    case WEFT_FLOAT64: if (nbytes) memcpy(p, tp->double_data, nbytes); break;
    case WEFT_UINT64: if (nbytes) memcpy(p, tp->uint64_data, nbytes); break;
    case WEFT_UINT32:
        for (int64_t i = 0; i < numel; i++) {
            if (tp->uint64_data[i] > UINT32_MAX) {
                s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: element %lld (%llu) is out of range for uint32", what,
                               (long long)i, (unsigned long long)tp->uint64_data[i]);
                break;
            }
            ((uint32_t *)p)[i] = (uint32_t)tp->uint64_data[i];
        }
        break;
    default: s = from_int32_field(tp, dt, numel, p, what); break;
    }
    if (s != WEFT_OK) { free(p); return s; }
    *out = p;
    return WEFT_OK;
}

weft_status weft_onnx_tensor_decode(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                                    weft_tensor *out)
{
    memset(out, 0, sizeof *out);
    if (!tp) return weft_error(WEFT_ERR_INVALID_MODEL, "%s: missing tensor", what);
    if (!tp->has_data_type) return weft_error(WEFT_ERR_INVALID_MODEL, "%s: tensor has no data_type", what);
    weft_dtype dt;
    weft_status s = weft_onnx_dtype(tp->data_type, &dt, what);
    if (s != WEFT_OK) return s;
    if (tp->segment) return weft_error(WEFT_ERR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    if (tp->n_dims > WEFT_MAX_RANK)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: rank %zu exceeds weft's maximum of %d", what, tp->n_dims,
                          WEFT_MAX_RANK);
    int64_t numel;
    size_t nbytes;
    s = weft_onnx_tensor_bytes(tp->dims, (int)tp->n_dims, dt, what, &numel, &nbytes);
    if (s != WEFT_OK) return s;
    void *data;
    s = decode_payload(tp, dt, numel, nbytes, base_dir, what, &data);
    if (s != WEFT_OK) return s;
    char *name = NULL;
    if (tp->name && tp->name[0] && !(name = strdup(tp->name))) {
        free(data);
        return weft_error(WEFT_ERR_NOMEM, "%s: out of memory", what);
    }
    out->name = name;
    out->dtype = dt;
    out->rank = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) out->dims[i] = tp->dims[i];
    out->data = data;
    out->nbytes = nbytes;
    return WEFT_OK;
}

/* --- sparse tensors ----------------------------------------------------------------------------------- */

static void tensor_free(weft_tensor *t)
{
    free(t->data);
    free((char *)t->name);
    memset(t, 0, sizeof *t);
}

weft_status weft_onnx_sparse_decode(const Onnx__SparseTensorProto *sp, const char *base_dir, const char *what,
                                    weft_tensor *out)
{
    memset(out, 0, sizeof *out);
    char sub[512];
    if (!sp || !sp->values) return weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse tensor without values", what);
    if (sp->n_dims > WEFT_MAX_RANK)
        return weft_error(WEFT_ERR_UNSUPPORTED, "%s: rank %zu exceeds weft's maximum of %d", what, sp->n_dims,
                          WEFT_MAX_RANK);
    int rank = (int)sp->n_dims;
    weft_tensor vals = {0}, idx = {0};
    snprintf(sub, sizeof sub, "%s (sparse values)", what);
    weft_status s = weft_onnx_tensor_decode(sp->values, base_dir, sub, &vals);
    if (s != WEFT_OK) return s;
    int64_t numel;
    size_t nbytes, es = weft_dtype_size(vals.dtype);
    uint8_t *dense = NULL, *seen = NULL;
    s = weft_onnx_tensor_bytes(sp->dims, rank, vals.dtype, what, &numel, &nbytes);
    if (s != WEFT_OK) goto done;
    if (vals.rank != 1) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse values must be 1-D (rank is %d)", what, vals.rank);
        goto done;
    }
    int64_t nnz = vals.dims[0];
    if (nnz > 0 && !sp->indices) {
        s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse tensor without indices", what);
        goto done;
    }
    if (sp->indices) {
        snprintf(sub, sizeof sub, "%s (sparse indices)", what);
        s = weft_onnx_tensor_decode(sp->indices, base_dir, sub, &idx);
        if (s != WEFT_OK) goto done;
        if (idx.dtype != WEFT_INT64) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse indices must be int64 (got %s)", what,
                           weft_dtype_name(idx.dtype));
            goto done;
        }
        bool linear = idx.rank == 1 && idx.dims[0] == nnz;
        bool coords = idx.rank == 2 && idx.dims[0] == nnz && idx.dims[1] == rank;
        if (!linear && !coords) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse indices must have shape [%lld] or [%lld,%d]", what,
                           (long long)nnz, (long long)nnz, rank);
            goto done;
        }
    }
    dense = calloc(nbytes ? nbytes : 1, 1);
    seen = calloc((size_t)(numel / 8 + 1), 1); /* catches duplicate positions */
    if (!dense || !seen) { s = weft_error(WEFT_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, nbytes); goto done; }
    const int64_t *ix = idx.data;
    for (int64_t k = 0; k < nnz; k++) {
        int64_t lin = 0;
        if (idx.rank == 1) {
            lin = ix[k];
            if (lin < 0 || lin >= numel) {
                s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse index %lld (entry %lld) is out of range [0, %lld)",
                               what, (long long)lin, (long long)k, (long long)numel);
                goto done;
            }
        } else {
            for (int d = 0; d < rank; d++) {
                int64_t c = ix[k * rank + d];
                if (c < 0 || c >= sp->dims[d]) {
                    s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse index %lld (entry %lld, axis %d) is out of "
                                   "range for a dimension of size %lld", what, (long long)c, (long long)k, d,
                                   (long long)sp->dims[d]);
                    goto done;
                }
                lin = lin * sp->dims[d] + c; /* < numel, so no overflow */
            }
        }
        if (seen[lin / 8] & (1u << (lin % 8))) {
            s = weft_error(WEFT_ERR_INVALID_MODEL, "%s: sparse position %lld appears twice", what, (long long)lin);
            goto done;
        }
        seen[lin / 8] |= (uint8_t)(1u << (lin % 8));
        memcpy(dense + (size_t)lin * es, (uint8_t *)vals.data + (size_t)k * es, es);
    }
    out->name = vals.name;
    vals.name = NULL;
    out->dtype = vals.dtype;
    out->rank = rank;
    for (int d = 0; d < rank; d++) out->dims[d] = sp->dims[d];
    out->data = dense;
    out->nbytes = nbytes;
    dense = NULL;
done:
    free(dense);
    free(seen);
    tensor_free(&vals);
    tensor_free(&idx);
    return s;
}
