/*
 * compiler/onnx_tensor.h — decoding ONNX TensorProto / SparseTensorProto into dense weft tensors.
 *
 * Shared by the model importer (initializers, Constant nodes, tensor attributes) and by runtime tensor
 * I/O (`.pb` files). Every size is checked before anything is allocated, so a hostile file can claim
 * any dims it likes and still only gets an error.
 */
#ifndef WEFT_COMPILER_ONNX_TENSOR_H
#define WEFT_COMPILER_ONNX_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/onnx.pb-c.h"
#include "weft.h"

/* The weft dtype of an ONNX TensorProto.DataType; WEFT_ERR_UNSUPPORTED (string, complex, float8, int4,
 * ...) or WEFT_ERR_INVALID_MODEL (undefined / unknown numbers), with a message naming `what`. */
weft_status weft_onnx_dtype(int32_t onnx_type, weft_dtype *out, const char *what);

/* Decodes a TensorProto in any storage form (raw_data, the typed fields, external data). External
 * files are resolved against `base_dir` and must stay inside it; base_dir NULL refuses external data.
 * `what` names the tensor in messages ("initializer 'W'"). On success out->data (nbytes bytes, at least
 * one byte allocated) and out->name (TensorProto name or NULL) are malloc'd. */
weft_status weft_onnx_tensor_decode(const Onnx__TensorProto *tp, const char *base_dir, const char *what,
                            weft_tensor *out);

/* Densifies a SparseTensorProto (values [NNZ]; indices [NNZ] linear or [NNZ, rank] coordinates). */
weft_status weft_onnx_sparse_decode(const Onnx__SparseTensorProto *sp, const char *base_dir, const char *what,
                            weft_tensor *out);

/* Reads a whole regular file into a malloc'd buffer (at least one byte allocated). Files larger than
 * `max_bytes` are refused. Messages name the path. */
weft_status weft_read_whole_file(const char *path, size_t max_bytes, uint8_t **buf, size_t *len);

/* Element count of dims[0..rank) and its size in bytes for dtype; WEFT_ERR_NOMEM when it overflows,
 * WEFT_ERR_INVALID_MODEL for a negative dim. */
weft_status weft_onnx_tensor_bytes(const int64_t *dims, int rank, weft_dtype dt, const char *what, int64_t *numel,
                           size_t *nbytes);

#endif
