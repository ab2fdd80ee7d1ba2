/*
 * tests/unit/op_harness.h — run one operator outside any graph: infer, allocate, run.
 *
 * Kernel tests use this to check an op against values worked out by hand. The same infer and run
 * functions serve the compiler and the runtime, so what passes here passes there.
 */
#ifndef WEFT_TESTS_OP_HARNESS_H
#define WEFT_TESTS_OP_HARNESS_H

#include "../../ops/backend.h"
#include "../../ops/op.h"

/* Runs `op` (default domain unless `domain` is given to wt_run_op_domain) at `opset`. `in[i]` with dtype
 * WEFT_UNDEFINED is an absent optional input. On success outputs are malloc'd: release them with
 * wt_free_outputs. On failure nothing is left allocated (calling wt_free_outputs is still safe). */
weft_status wt_run_op(const char *op, int opset, const weft_attr *attrs, int n_attrs, const weft_tensor *in,
                      int n_in, weft_tensor *out, int n_out);
weft_status wt_run_op_domain(const char *domain, const char *op, int opset, const weft_attr *attrs,
                             int n_attrs, const weft_tensor *in, int n_in, weft_tensor *out, int n_out);
void wt_free_outputs(weft_tensor *out, int n);

/* Builders (the attribute borrows its arrays; nothing to free). */
weft_attr wt_attr_int(const char *name, int64_t v);
weft_attr wt_attr_float(const char *name, float v);
weft_attr wt_attr_string(const char *name, const char *s);
weft_attr wt_attr_ints(const char *name, int n, const int64_t *v);
weft_attr wt_attr_floats(const char *name, int n, const float *v);

/* A tensor over caller-owned data: wt_tensor(WEFT_FLOAT32, data, 2, (int64_t[]){2, 3}). */
weft_tensor wt_tensor(weft_dtype t, const void *data, int rank, const int64_t *dims);
/* An absent optional input. */
weft_tensor wt_absent(void);
/* A tensor owning uninitialised malloc'd data (at least one byte): free(t.data) when done. */
weft_tensor wt_alloc(weft_dtype t, int rank, const int64_t *dims);

/* Elements of t (the product of its dims). */
int64_t wt_numel(const weft_tensor *t);
/* The shape of these dims (numbers, no symbols). */
weft_shape wt_shape(int rank, const int64_t *dims);
/* The view a kernel sees of t (its data as it is). */
weft_tview wt_view(const weft_tensor *t);

/* What a weft_kernel_ctx asks of its caller: one growing scratch buffer (free `buf` when done) ... */
typedef struct wt_scratch {
    void *buf;
    size_t cap;
} wt_scratch;
void *wt_get_scratch(void *scratch, size_t bytes);
/* Runs one step through backend `be` as the runtime drives it: a step descriptor of `node` over the
 * inputs (is_const[i]: shown to prepare as a constant; NULL: none), the outputs' dtypes and shapes taken
 * from want[o] (dtype WEFT_UNDEFINED: output o is not asked for), reshape on sizes only, then `runs` runs
 * into out[o] (filled with garbage first; NULL for an output not asked for). WEFT_ERR_UNSUPPORTED, with a
 * line on stderr, when the backend does not take the step. */
weft_status wt_drive_backend(const weft_backend *be, const weft_node_info *node, const weft_tensor *in,
                             const bool *is_const, int n_in, const weft_tensor *want, int n_out, int threads, int runs,
                             void *const *out);
/* ... and, for a weft_infer_ctx, fresh symbols counted in an int. */
int32_t wt_next_sym(void *counter);

/* True when t has exactly this rank and these dims; prints the first difference. */
int wt_shape_is(const weft_tensor *t, int rank, const int64_t *dims);

/* Whole-file helpers for tests: read returns a malloc'd buffer (NULL on failure) and its size in *n;
 * write returns 0 on success. */
uint8_t *wt_read_file(const char *path, size_t *n);
int wt_write_file(const char *path, const void *data, size_t n);

/* True when every element of two float32 arrays agrees within atol + rtol * |expected|. Prints the first
 * mismatch. */
int wt_close_f32(const float *got, const float *want, int64_t n, double rtol, double atol);

#endif
