/* compiler/symval.h — symbolic contents of shape tensors (see symval.c). */
#ifndef WEFT_COMPILER_SYMVAL_H
#define WEFT_COMPILER_SYMVAL_H

#include "ir.h"

/* The contents of a small int tensor as dims; len < 0: not known. */
typedef struct weft_symval {
    int len;
    bool scalar;
    weft_dim d[WEFT_MAX_RANK];
} weft_symval;

/* After node n's inference: records the symbolic contents of its output, when they follow from its
 * inputs'. `t` is indexed by value, len = -1 where unknown. */
void weft_symval_propagate(weft_symval *t, const weft_graph *g, const weft_node *n);
/* Sharpens the output shape of a Reshape / Expand / ConstantOfShape whose shape input has symbolic
 * contents (Reshape's 0s and -1 included), and a Range's length from its scalars'. */
void weft_symval_refine(const weft_symval *t, weft_graph *g, const weft_node *n);

#endif
