/*
 * tests/unit/ir_build.h — building small IR graphs by hand in unit tests (values, inputs, constants,
 * nodes, attributes, outputs). Failures stop the test (CU_ASSERT_FATAL).
 */
#ifndef WEFT_TESTS_IR_BUILD_H
#define WEFT_TESTS_IR_BUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "compiler/ir.h"

/* A new value with a declared dtype and shape (and `flags` besides WEFT_VALUE_TYPED). */
int irb_typed(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims, unsigned flags);
/* A typed graph input, appended to the graph's inputs. */
int irb_input(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims);
/* An initializer holding `data` (row-major, dims' element count). */
int irb_constant(weft_graph *g, const char *name, weft_dtype dt, int rank, const int64_t *dims, const void *data);
/* op(in...) in `domain` at `opset`, writing n_out new values named out, out_1, ...; returns the first. */
int irb_node(weft_graph *g, const char *op, const char *domain, int opset, const int *in, int n_in, const char *out,
             int n_out);
/* Attributes of the node that writes value v. */
void irb_attr_i(weft_graph *g, int v, const char *name, int64_t i);
void irb_attr_f(weft_graph *g, int v, const char *name, float f);
void irb_attr_s(weft_graph *g, int v, const char *name, const char *s);
void irb_attr_ints(weft_graph *g, int v, const char *name, int n, const int64_t *x);
/* Marks v a graph output. */
void irb_output(weft_graph *g, int v);

#endif
