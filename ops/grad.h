/*
 * ops/grad.h — what an op's gradient rule sees, and the helpers rules are written with.
 *
 * A rule (weft_op_def.grad) is called by the autodiff pass (compiler/pass_autodiff.c) once per node on
 * a path from a parameter to the loss, in reverse topological order, after the gradients of every
 * reader of the node's outputs have been summed. It emits ordinary ops computing the gradient of the
 * loss with respect to the node's inputs and hands each one to weft_grad_to, so every backend that runs
 * the forward ops runs the backward pass too.
 *
 * ops/ knows nothing of graphs: values are opaque indices, and the graph is edited only through the
 * callbacks of `weft_grad_ops`, which the pass provides. Forward values (the node's inputs and
 * outputs) have inferred dtypes and shapes, given here; values a rule emits are typed later by
 * inference, so rules decide shapes from the forward ones.
 *
 * Error handling is sticky so that rules read as the formulas they implement: every helper returns -1
 * and does nothing once c->st is set, and a rule ends with `return c->st`.
 */
#ifndef WEFT_OPS_GRAD_H
#define WEFT_OPS_GRAD_H

#include "op.h"

/* The graph editing a rule may do; implemented by the pass. Each returns the new value's index, or -1
 * with an error set. */
typedef struct weft_grad_ops {
    /* A node op (in `domain`, "" for ONNX) reading in[0..n_in) (-1 = absent optional input), with copies
     * of attrs[0..n_attrs), writing n_out new values into out[]. */
    weft_status (*node)(void *user, const char *op, const char *domain, const int *in, int n_in,
                        const weft_attr *attrs, int n_attrs, int *out, int n_out);
    /* A constant holding a copy of data. */
    int (*constant)(void *user, weft_dtype t, const weft_shape *s, const void *data, size_t nbytes);
    /* Adds g (in the shape of the node's input i) to the gradient of input i. */
    weft_status (*accumulate)(void *user, int input, int g);
} weft_grad_ops;

typedef struct weft_grad_ctx {
    const weft_node_info *node;
    int n_in;
    const int *in;                /* value indices; -1 for an absent optional input */
    const weft_dtype *in_dtype;
    const weft_shape *in_shape;
    const void *const *in_data;   /* contents of constant inputs (axes, shapes), else NULL */
    int n_out;
    const int *out;
    const weft_dtype *out_dtype;
    const weft_shape *out_shape;
    const int *dout;              /* gradient of each output; -1 when none reaches it (it is zero) */
    const bool *want;             /* want[i]: input i is on a path from a parameter (a float input) */
    weft_dtype dtype;             /* the float type gradients are in (the first wanted input's) */
    weft_status st;               /* the first failure; helpers do nothing once it is set */
    const weft_grad_ops *ops;
    void *user;
} weft_grad_ctx;

/* Records a failure naming the node and op ("node 'x' (Op): gradient: ..."); returns it. */
weft_status weft_grad_fail(weft_grad_ctx *c, weft_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Gradients in and out. */
int weft_grad_dout(weft_grad_ctx *c, int o);      /* output o's gradient, zeros when none reaches it */
void weft_grad_to(weft_grad_ctx *c, int i, int g); /* g (input i's shape) is input i's gradient      */
/* g has shape `from` (what input i was broadcast to): summed over the broadcast axes, then input i's
 * gradient. An axis is decided from the shapes where they tell (equal dimensions or symbols; input 1;
 * an input number other than 1; output 1; for an op broadcasting all its inputs, every input holding
 * the same symbol or 1); an axis they leave open (two unrelated symbols) is decided at run time by
 * comparing input i's shape with g's (Shape, Equal, Compress, then ReduceSum over the axes that differ).
 * Refuses only where a rank is unknown. */
void weft_grad_to_bcast(weft_grad_ctx *c, int i, int g, const weft_shape *from);
/* g reduced from shape `from` to shape `to` (numpy broadcasting run backwards), decided from the shapes
 * alone: refuses when they leave open whether an axis was broadcast. */
int weft_grad_unbroadcast(weft_grad_ctx *c, int g, const weft_shape *from, const weft_shape *to);

/* Emitting ops. weft_grad_op emits a default-domain op at the opset gradients are written for
 * (WEFT_GRAD_OPSET); weft_grad_op_in emits into another domain (ai.weft). Both return output 0. */
#define WEFT_GRAD_OPSET 18
int weft_grad_op(weft_grad_ctx *c, const char *op, const int *in, int n_in, const weft_attr *attrs, int n_attrs);
int weft_grad_op_in(weft_grad_ctx *c, const char *domain, const char *op, const int *in, int n_in,
                    const weft_attr *attrs, int n_attrs);
int weft_grad_op1(weft_grad_ctx *c, const char *op, int a);
int weft_grad_op2(weft_grad_ctx *c, const char *op, int a, int b);
/* Multi-output forms: write n_out values into out[]. */
void weft_grad_op_n(weft_grad_ctx *c, const char *op, const int *in, int n_in, const weft_attr *attrs,
                    int n_attrs, int *out, int n_out);
void weft_grad_op_n_in(weft_grad_ctx *c, const char *domain, const char *op, const int *in, int n_in,
                       const weft_attr *attrs, int n_attrs, int *out, int n_out);

/* Constants: a scalar of the gradient dtype; int64 [n]. */
int weft_grad_scalar(weft_grad_ctx *c, double v);
int weft_grad_i64s(weft_grad_ctx *c, const int64_t *v, int n);
int weft_grad_i64(weft_grad_ctx *c, int64_t v); /* an int64 scalar (rank 0), as Range takes */
/* int64 [numel(v)] holding 0, 1, ..., numel(v) - 1 in v's shape: each element's flat position. */
int weft_grad_positions(weft_grad_ctx *c, int v, const weft_shape *s);
/* An int64 [rank] value holding shape s of value v: a constant when s is known, else Shape(v). */
int weft_grad_shape_of(weft_grad_ctx *c, int v, const weft_shape *s);
/* Zeros of the gradient dtype in shape s of value v. */
int weft_grad_zeros_like(weft_grad_ctx *c, int v, const weft_shape *s);
/* ReduceSum of g over axes[0..n) (keepdims as given); g itself when n is 0. */
int weft_grad_reduce_sum(weft_grad_ctx *c, int g, const int64_t *axes, int n, bool keepdims);
/* Transpose of g by perm[0..rank). */
int weft_grad_transpose(weft_grad_ctx *c, int g, const int64_t *perm, int rank);

/* Attribute builders (the attribute borrows name and arrays). */
weft_attr weft_grad_attr_int(const char *name, int64_t v);
weft_attr weft_grad_attr_ints(const char *name, const int64_t *v, int n);
weft_attr weft_grad_attr_float(const char *name, float v);
weft_attr weft_grad_attr_string(const char *name, const char *s);

/* The constant int values of input i (axes, shapes), count returned; -1 (and c->st set) when absent
 * or not known at compile time. */
int weft_grad_const_ints(weft_grad_ctx *c, int i, int64_t *out, int max);

#endif
