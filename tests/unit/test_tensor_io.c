/*
 * tests/unit/test_tensor_io.c — tensors on disk: .npy round trips and hand-written headers (versions
 * 1.0-3.0, every dtype, scalars), ONNX TensorProto .pb in raw and typed form, malformed files.
 */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx/onnx.pb-c.h"
#include "weft.h"
#include "tests/unit/op_harness.h"

static char tmpdir[256];

/* Builds a .npy image: magic, version, header (padded to 64 bytes with '\n' last), data. */
static size_t make_npy(uint8_t *out, int major, const char *dict, const void *data, size_t nbytes)
{
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = pre + dl + 1, pad = (64 - total % 64) % 64, hl = dl + pad + 1;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (uint8_t)major;
    out[7] = 0;
    out[8] = (uint8_t)(hl & 0xff);
    out[9] = (uint8_t)(hl >> 8);
    if (major != 1) { out[10] = 0; out[11] = 0; }
    memcpy(out + pre, dict, dl);
    memset(out + pre + dl, ' ', pad);
    out[pre + dl + pad] = '\n';
    if (nbytes) memcpy(out + pre + hl, data, nbytes);
    return pre + hl + nbytes;
}

static weft_status load_buf(const void *b, size_t n, weft_tensor *t)
{
    weft_status s = weft_tensor_load_from_buffer(b, n, t);
    if (s != WEFT_OK) CU_ASSERT(weft_last_error()[0] != '\0');
    return s;
}

/* --- .npy ---------------------------------------------------------------------------------------- */

static void test_npy_round_trip_all_dtypes(void)
{
    static const struct { weft_dtype dt; const char *descr; } types[] = {
        {WEFT_FLOAT32, "'<f4'"}, {WEFT_FLOAT64, "'<f8'"}, {WEFT_FLOAT16, "'<f2'"}, {WEFT_INT64, "'<i8'"},
        {WEFT_INT32, "'<i4'"},   {WEFT_INT16, "'<i2'"},   {WEFT_INT8, "'|i1'"},    {WEFT_UINT8, "'|u1'"},
        {WEFT_UINT16, "'<u2'"},  {WEFT_UINT32, "'<u4'"},  {WEFT_UINT64, "'<u8'"},  {WEFT_BOOL, "'|b1'"},
    };
    char path[512];
    snprintf(path, sizeof path, "%s/t.npy", tmpdir);
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        uint8_t data[2 * 3 * 8];
        size_t es = weft_dtype_size(types[k].dt);
        for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(i * 7 + 1);
        if (types[k].dt == WEFT_BOOL)
            for (size_t i = 0; i < 6; i++) data[i] = (uint8_t)(i % 2);
        weft_tensor t = {.dtype = types[k].dt, .rank = 2, .dims = {2, 3}, .data = data, .nbytes = 6 * es};
        CU_ASSERT_EQUAL_FATAL(weft_tensor_save_npy(path, &t), WEFT_OK);
        /* the header says what numpy would */
        size_t n;
        uint8_t *file = wt_read_file(path, &n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(file);
        CU_ASSERT(memcmp(file, "\x93NUMPY\x01\x00", 8) == 0);
        size_t hl = (size_t)file[8] | (size_t)file[9] << 8;
        CU_ASSERT_EQUAL((10 + hl) % 64, 0);
        CU_ASSERT_EQUAL(file[10 + hl - 1], '\n');
        CU_ASSERT_EQUAL(n, 10 + hl + 6 * es);
        char header[256] = {0};
        memcpy(header, file + 10, hl < 255 ? hl : 255);
        CU_ASSERT_PTR_NOT_NULL(strstr(header, types[k].descr));
        CU_ASSERT_PTR_NOT_NULL(strstr(header, "'fortran_order': False"));
        CU_ASSERT_PTR_NOT_NULL(strstr(header, "'shape': (2, 3)"));
        free(file);
        weft_tensor r;
        CU_ASSERT_EQUAL_FATAL(weft_tensor_load(path, &r), WEFT_OK);
        CU_ASSERT_EQUAL(r.dtype, types[k].dt);
        CU_ASSERT_EQUAL(r.rank, 2);
        CU_ASSERT(r.dims[0] == 2 && r.dims[1] == 3);
        CU_ASSERT_EQUAL(r.nbytes, 6 * es);
        CU_ASSERT(memcmp(r.data, data, 6 * es) == 0);
        CU_ASSERT_PTR_NULL(r.name);
        weft_tensor_release(&r);
        CU_ASSERT_PTR_NULL(r.data);
        CU_ASSERT_EQUAL(r.nbytes, 0);
    }
    /* scalars and 1-D shapes are spelled "()" and "(5,)" */
    double sc = -0.5;
    weft_tensor t = {.dtype = WEFT_FLOAT64, .rank = 0, .data = &sc, .nbytes = 8};
    CU_ASSERT_EQUAL(weft_tensor_save_npy(path, &t), WEFT_OK);
    size_t n;
    uint8_t *file = wt_read_file(path, &n);
    CU_ASSERT(file && memmem(file, n, "'shape': ()", 11) != NULL);
    free(file);
    weft_tensor r;
    CU_ASSERT_EQUAL(weft_tensor_load(path, &r), WEFT_OK);
    CU_ASSERT_EQUAL(r.rank, 0);
    CU_ASSERT(r.nbytes == 8 && *(double *)r.data == -0.5);
    weft_tensor_release(&r);
    int32_t five[5] = {1, -2, 3, -4, 5};
    t = (weft_tensor){.dtype = WEFT_INT32, .rank = 1, .dims = {5}, .data = five, .nbytes = 20};
    CU_ASSERT_EQUAL(weft_tensor_save_npy(path, &t), WEFT_OK);
    file = wt_read_file(path, &n);
    CU_ASSERT(file && memmem(file, n, "'shape': (5,)", 13) != NULL);
    free(file);
    /* an empty tensor */
    t = (weft_tensor){.dtype = WEFT_FLOAT32, .rank = 2, .dims = {0, 4}, .data = NULL, .nbytes = 0};
    CU_ASSERT_EQUAL(weft_tensor_save_npy(path, &t), WEFT_OK);
    CU_ASSERT_EQUAL(weft_tensor_load(path, &r), WEFT_OK);
    CU_ASSERT(r.rank == 2 && r.dims[0] == 0 && r.dims[1] == 4 && r.nbytes == 0);
    weft_tensor_release(&r);
    unlink(path);
}

static void test_npy_save_refusals(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad.npy", tmpdir);
    uint16_t b[2] = {0x3F80, 0};
    weft_tensor t = {.dtype = WEFT_BFLOAT16, .rank = 1, .dims = {2}, .data = b, .nbytes = 4};
    CU_ASSERT_EQUAL(weft_tensor_save_npy(path, &t), WEFT_ERR_UNSUPPORTED); /* numpy has no bfloat16 */
    float f[3] = {0};
    t = (weft_tensor){.dtype = WEFT_FLOAT32, .rank = 1, .dims = {4}, .data = f, .nbytes = 12};
    CU_ASSERT_EQUAL(weft_tensor_save_npy(path, &t), WEFT_ERR_INVALID_ARGUMENT); /* 4 elements, 12 bytes */
    t = (weft_tensor){.dtype = WEFT_FLOAT32, .rank = 1, .dims = {3}, .data = f, .nbytes = 12};
    CU_ASSERT_EQUAL(weft_tensor_save_npy("/nonexistent_dir/x.npy", &t), WEFT_ERR_IO);
    CU_ASSERT_EQUAL(weft_tensor_save_npy(NULL, &t), WEFT_ERR_INVALID_ARGUMENT);
}

static void test_npy_versions_and_headers(void)
{
    uint8_t buf[1024];
    weft_tensor t;
    /* float32 [1.5, -2.0]: little-endian 00 00 C0 3F, 00 00 00 C0 */
    const uint8_t f32[8] = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0x00, 0x00, 0xC0};
    for (int major = 1; major <= 3; major++) {
        size_t n = make_npy(buf, major, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32, 8);
        CU_ASSERT_EQUAL_FATAL(load_buf(buf, n, &t), WEFT_OK);
        CU_ASSERT(t.dtype == WEFT_FLOAT32 && t.rank == 1 && t.dims[0] == 2);
        CU_ASSERT(((float *)t.data)[0] == 1.5f && ((float *)t.data)[1] == -2.0f);
        weft_tensor_release(&t);
    }
    /* key order and spacing as other writers produce them; '=' native order; a Python-2 long */
    size_t n = make_npy(buf, 1, "{\"shape\":(2L ,1) ,\"fortran_order\":False,\"descr\":\"=f4\"}", f32, 8);
    CU_ASSERT_EQUAL(load_buf(buf, n, &t), WEFT_OK);
    CU_ASSERT(t.rank == 2 && t.dims[0] == 2 && t.dims[1] == 1);
    weft_tensor_release(&t);
    /* bool bytes are normalised to 0/1 */
    n = make_npy(buf, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", "\x00\x02\x01", 3);
    CU_ASSERT_EQUAL(load_buf(buf, n, &t), WEFT_OK);
    CU_ASSERT(t.nbytes == 3 && memcmp(t.data, "\x00\x01\x01", 3) == 0);
    weft_tensor_release(&t);
    /* a single-byte type with '>' is still fine */
    n = make_npy(buf, 1, "{'descr': '>i1', 'fortran_order': False, 'shape': (1,), }", "\xff", 1);
    CU_ASSERT_EQUAL(load_buf(buf, n, &t), WEFT_OK);
    CU_ASSERT(t.dtype == WEFT_INT8 && ((int8_t *)t.data)[0] == -1);
    weft_tensor_release(&t);
}

static void test_npy_malformed(void)
{
    uint8_t buf[1024];
    weft_tensor t;
    const uint8_t f32[8] = {0};
    struct { const char *dict; size_t data; weft_status want; } cases[] = {
        {"{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8, WEFT_ERR_UNSUPPORTED}, /* big-endian */
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8, WEFT_ERR_UNSUPPORTED},  /* Fortran */
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", 8, WEFT_ERR_UNSUPPORTED}, /* complex */
        {"{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }", 8, WEFT_ERR_UNSUPPORTED}, /* unicode */
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 8, WEFT_ERR_PARSE}, /* record */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8, WEFT_ERR_PARSE},  /* data too short */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8, WEFT_ERR_PARSE},  /* data too long */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8, WEFT_ERR_PARSE}, /* negative */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, }", 8, WEFT_ERR_PARSE},    /* unterminated */
        {"{'descr': '<f4', 'fortran_order': False}", 8, WEFT_ERR_PARSE},                   /* no shape */
        {"{'fortran_order': False, 'shape': (2,)}", 8, WEFT_ERR_PARSE},                    /* no descr */
        {"{'descr': '<f4', 'shape': (2,)}", 8, WEFT_ERR_PARSE},                            /* no order */
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,2), }", 8, WEFT_ERR_UNSUPPORTED},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }", 8, WEFT_ERR_NOMEM},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", 8, WEFT_ERR_PARSE},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        size_t n = make_npy(buf, 1, cases[k].dict, f32, cases[k].data);
        weft_status s = load_buf(buf, n, &t);
        if (s != cases[k].want) printf("\n  case %zu: got %s: %s\n", k, weft_status_name(s), weft_last_error());
        CU_ASSERT_EQUAL(s, cases[k].want);
        CU_ASSERT_PTR_NULL(t.data);
    }
    /* unknown format version, truncated preambles and headers */
    size_t n = make_npy(buf, 4, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32, 8);
    CU_ASSERT_EQUAL(load_buf(buf, n, &t), WEFT_ERR_UNSUPPORTED);
    n = make_npy(buf, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32, 8);
    for (size_t cut = 6; cut < n; cut++) CU_ASSERT_NOT_EQUAL(load_buf(buf, cut, &t), WEFT_OK);
    n = make_npy(buf, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f32, 8);
    buf[10] = 0xff; /* header length 16 MiB and more: beyond the file */
    CU_ASSERT_EQUAL(load_buf(buf, n, &t), WEFT_ERR_PARSE);
}

/* --- ONNX TensorProto -------------------------------------------------------------------------- */

static uint8_t *pack_tensor(const Onnx__TensorProto *tp, size_t *n)
{
    *n = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *b = malloc(*n ? *n : 1);
    if (b) onnx__tensor_proto__pack(tp, b);
    return b;
}

static void test_pb_forms(void)
{
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {2, 2};
    float raw[4] = {1.0f, 2.0f, -3.0f, 0.25f};
    tp.n_dims = 2;
    tp.dims = dims;
    tp.has_data_type = 1;
    tp.data_type = 1;
    tp.name = "input_0";
    tp.has_raw_data = 1;
    tp.raw_data.data = (uint8_t *)raw;
    tp.raw_data.len = sizeof raw;
    size_t n;
    uint8_t *b = pack_tensor(&tp, &n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    char path[512];
    snprintf(path, sizeof path, "%s/t.pb", tmpdir);
    CU_ASSERT_FATAL(wt_write_file(path, b, n) == 0);
    free(b);
    weft_tensor t;
    CU_ASSERT_EQUAL_FATAL(weft_tensor_load(path, &t), WEFT_OK);
    CU_ASSERT_EQUAL(t.dtype, WEFT_FLOAT32);
    CU_ASSERT(t.rank == 2 && t.dims[0] == 2 && t.dims[1] == 2 && t.nbytes == 16);
    CU_ASSERT(memcmp(t.data, raw, 16) == 0);
    CU_ASSERT(t.name && strcmp(t.name, "input_0") == 0);
    weft_tensor_release(&t);
    CU_ASSERT_PTR_NULL(t.name);

    /* typed: float16 bits in int32_data (1.0 = 0x3C00, -0.5 = 0xB800) */
    Onnx__TensorProto t16 = ONNX__TENSOR_PROTO__INIT;
    int64_t d1[1] = {2};
    int32_t bits[2] = {0x3C00, 0xB800};
    t16.n_dims = 1;
    t16.dims = d1;
    t16.has_data_type = 1;
    t16.data_type = 10;
    t16.n_int32_data = 2;
    t16.int32_data = bits;
    b = pack_tensor(&t16, &n);
    CU_ASSERT_EQUAL(load_buf(b, n, &t), WEFT_OK);
    CU_ASSERT(t.dtype == WEFT_FLOAT16 && t.nbytes == 4);
    if (t.data) CU_ASSERT(((uint16_t *)t.data)[0] == 0x3C00 && ((uint16_t *)t.data)[1] == 0xB800);
    weft_tensor_release(&t);
    free(b);

    /* the typed count must match */
    t16.n_int32_data = 1;
    b = pack_tensor(&t16, &n);
    CU_ASSERT_EQUAL(load_buf(b, n, &t), WEFT_ERR_INVALID_MODEL);
    free(b);

    /* external data from a buffer has no folder: refused */
    Onnx__TensorProto te = ONNX__TENSOR_PROTO__INIT;
    Onnx__StringStringEntryProto loc = ONNX__STRING_STRING_ENTRY_PROTO__INIT, *locs[1] = {&loc};
    loc.key = "location";
    loc.value = "t.pb";
    te.n_dims = 1;
    te.dims = d1;
    te.has_data_type = 1;
    te.data_type = 1;
    te.has_data_location = 1;
    te.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    te.n_external_data = 1;
    te.external_data = locs;
    b = pack_tensor(&te, &n);
    CU_ASSERT_EQUAL(load_buf(b, n, &t), WEFT_ERR_SECURITY);
    /* from a file, external data next to it works: the first 8 bytes of t.pb itself are not 8 floats'
     * worth, so the length check must refuse it rather than read past the end */
    char epath[512];
    snprintf(epath, sizeof epath, "%s/e.pb", tmpdir);
    CU_ASSERT_FATAL(wt_write_file(epath, b, n) == 0);
    free(b);
    weft_status s = weft_tensor_load(epath, &t);
    CU_ASSERT_EQUAL(s, WEFT_ERR_INVALID_MODEL); /* t.pb is not 8 bytes long */
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), epath));
    unlink(epath);
    unlink(path);

    /* string tensors are unsupported */
    Onnx__TensorProto ts = ONNX__TENSOR_PROTO__INIT;
    ts.has_data_type = 1;
    ts.data_type = 8;
    b = pack_tensor(&ts, &n);
    CU_ASSERT_EQUAL(load_buf(b, n, &t), WEFT_ERR_UNSUPPORTED);
    free(b);
}

static void test_malformed_files(void)
{
    weft_tensor t;
    char path[512];
    snprintf(path, sizeof path, "%s/m.bin", tmpdir);
    CU_ASSERT(wt_write_file(path, "", 0) == 0);
    CU_ASSERT_EQUAL(weft_tensor_load(path, &t), WEFT_ERR_PARSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), path));
    CU_ASSERT_EQUAL(weft_tensor_load("/nonexistent/x.pb", &t), WEFT_ERR_IO);
    CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), "/nonexistent/x.pb"));
    CU_ASSERT_EQUAL(weft_tensor_load(tmpdir, &t), WEFT_ERR_IO); /* a folder */
    CU_ASSERT_EQUAL(weft_tensor_load(path, NULL), WEFT_ERR_INVALID_ARGUMENT);
    /* random bytes: never a crash, and a failure names the file */
    uint32_t seed = 99;
    int failed = 0;
    for (int trial = 0; trial < 200; trial++) {
        uint8_t buf[300];
        size_t n = 1 + (size_t)trial;
        for (size_t i = 0; i < n; i++) { seed = seed * 1103515245u + 12345u; buf[i] = (uint8_t)(seed >> 16); }
        CU_ASSERT(wt_write_file(path, buf, n) == 0);
        weft_status s = weft_tensor_load(path, &t);
        if (s == WEFT_OK) { weft_tensor_release(&t); continue; }
        failed++;
        CU_ASSERT_PTR_NOT_NULL(strstr(weft_last_error(), path));
        CU_ASSERT_PTR_NULL(t.data);
    }
    CU_ASSERT(failed > 150);
    /* a TensorProto claiming 2^62 elements with 8 bytes of data */
    Onnx__TensorProto tp = ONNX__TENSOR_PROTO__INIT;
    int64_t dims[2] = {(int64_t)1 << 31, (int64_t)1 << 31};
    float raw[2] = {0};
    tp.n_dims = 2;
    tp.dims = dims;
    tp.has_data_type = 1;
    tp.data_type = 1;
    tp.has_raw_data = 1;
    tp.raw_data.data = (uint8_t *)raw;
    tp.raw_data.len = sizeof raw;
    size_t n;
    uint8_t *b = pack_tensor(&tp, &n);
    CU_ASSERT_NOT_EQUAL(weft_tensor_load_from_buffer(b, n, &t), WEFT_OK);
    dims[0] = -1;
    free(b);
    b = pack_tensor(&tp, &n);
    CU_ASSERT_EQUAL(weft_tensor_load_from_buffer(b, n, &t), WEFT_ERR_INVALID_MODEL);
    free(b);
    unlink(path);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft_tio_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("tensor_io", NULL, NULL);
    CU_add_test(s, "npy round trip, every dtype", test_npy_round_trip_all_dtypes);
    CU_add_test(s, "npy save refusals", test_npy_save_refusals);
    CU_add_test(s, "npy versions and headers", test_npy_versions_and_headers);
    CU_add_test(s, "npy malformed", test_npy_malformed);
    CU_add_test(s, "TensorProto forms", test_pb_forms);
    CU_add_test(s, "malformed files", test_malformed_files);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    rmdir(tmpdir);
    return fails ? 1 : 0;
}
