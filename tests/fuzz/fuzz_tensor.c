/*
 * tests/fuzz/fuzz_tensor.c — tensors on disk: `.npy` (format 1.0-3.0) and ONNX TensorProto `.pb`,
 * through weft_tensor_load_from_buffer (which tells them apart by content, as weft_tensor_load does).
 *
 * A tensor that loads is written back as .npy and read again: the two must agree (dtype, shape, bytes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "weft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_tensor t;
    memset(&t, 0, sizeof t);
    if (weft_tensor_load_from_buffer(data, size, &t) != WEFT_OK) return 0;
    if (t.rank < 0 || t.rank > WEFT_MAX_RANK) abort(); /* a loaded tensor is always well-formed */
    size_t numel = 1;
    for (int d = 0; d < t.rank; d++) {
        if (t.dims[d] < 0) abort();
        numel *= (size_t)t.dims[d];
    }
    size_t es = weft_dtype_size(t.dtype);
    if (es && numel * es != t.nbytes) abort();
    /* touch every byte: a buffer shorter than nbytes shows up under ASan */
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < t.nbytes; i++) sink ^= ((const uint8_t *)t.data)[i];
    (void)sink;

    /* round trip through .npy (a scratch file: weft_tensor_save_npy takes a path) */
    const char *path = fuzz_scratch_file("t.npy", NULL, 0);
    if (path && es && weft_tensor_save_npy(path, &t) == WEFT_OK) {
        weft_tensor u;
        memset(&u, 0, sizeof u);
        if (weft_tensor_load(path, &u) != WEFT_OK) abort();
        if (u.dtype != t.dtype || u.rank != t.rank || u.nbytes != t.nbytes ||
            memcmp(u.dims, t.dims, sizeof(int64_t) * (size_t)t.rank) != 0 ||
            (t.nbytes && memcmp(u.data, t.data, t.nbytes) != 0))
            abort();
        weft_tensor_release(&u);
    }
    weft_tensor_release(&t);
    return 0;
}
