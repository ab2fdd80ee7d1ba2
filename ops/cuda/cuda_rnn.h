/*
 * ops/cuda/cuda_rnn.h — what the cuda backend's recurrent steps (RNN, GRU, LSTM) share between the host
 * side (ops/cuda/rnn.c: attributes, cuBLASLt products, the order of the work) and the kernels of one time
 * step (ops/cuda/rnn_cell.cu).
 *
 * A run of the step, for S time steps of N sequences, dirs directions, hidden size H and G gates:
 *   - init: the state h (and c) from initial_h (initial_c) or zeros;
 *   - one product X W^T for every time step and both directions at once into xw;
 *   - per time step s: rh = h R^T (cuBLASLt, both directions as a strided batch), then one cell kernel
 *     that forms the gates, applies the activations and writes the new state, Y at the step's time, and
 *     Y_h / Y_c after the last step. GRU with linear_before_reset 0 needs the reset gate before its
 *     candidate's product: a reset kernel writes r . h, cuBLASLt multiplies it by the candidate rows of R
 *     into rh2, then the cell kernel runs.
 * The state is kept in double between steps, as the reference kernel (ops/rnn.c) keeps it; its float
 * copy hf is the next product's operand.
 */
#ifndef WEFT_OPS_CUDA_RNN_H
#define WEFT_OPS_CUDA_RNN_H

#include <cuda_runtime_api.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { WEFT_CUDA_CELL_RNN = 0, WEFT_CUDA_CELL_GRU = 1, WEFT_CUDA_CELL_LSTM = 2 };

/* One run's operands and geometry (device pointers; NULL where absent). */
typedef struct weft_cuda_rnn_cell {
    int kind;                /* WEFT_CUDA_CELL_* */
    int lbr;                 /* GRU: linear_before_reset */
    int input_forget;        /* LSTM: the forget gate is 1 - the input gate */
    bool has_clip;
    double clip;
    int layout;              /* 0: X [S, N, I], Y [S, dirs, N, H], states [dirs, N, H]; 1: batch first */
    bool reverse;            /* direction "reverse" (one direction); with two, direction 1 runs backwards */
    int64_t seq, batch, H, dirs;
    const float *xw;         /* X W^T: row r of X (X's own order), then [dirs * G * H]; NULL when X has no columns */
    const float *bias;       /* B [dirs, 2 * G * H]: W's biases, then R's */
    const float *peep;       /* LSTM P [dirs, 3 * H]: i, o, f */
    const float *rh;         /* h R^T of the step: [dirs, N, G * H] */
    const float *rh2;        /* GRU, linear_before_reset 0: (r . h) Rh^T: [dirs, N, H] */
    double *h, *c;           /* the state [dirs, N, H] (c: LSTM only) */
    float *hf;               /* h in float: [dirs, N, H] */
    float *rhf;              /* GRU, linear_before_reset 0: r . h in float: [dirs, N, H] */
    const float *h0, *c0;    /* initial_h, initial_c as ONNX stores them */
    float *y;                /* Y as ONNX stores it */
    float *yh, *yc;          /* Y_h, Y_c: written by the last step's cell kernel */
} weft_cuda_rnn_cell;

/* Each of these enqueues one kernel on `stream` (nothing when dirs * N * H is 0); the caller checks the
 * launch with weft_cuda_launched.
 *   init:  the state from initial_h / initial_c (zeros where absent);
 *   reset: GRU with linear_before_reset 0: rhf = r . h for time step s (reads rh of step s);
 *   step:  the cell of time step s (0 .. seq-1): the new state, Y, and Y_h / Y_c where c->yh / c->yc
 *          are set. */
void weft_cuda_rnn_init(const weft_cuda_rnn_cell *c, cudaStream_t stream);
void weft_cuda_rnn_reset(const weft_cuda_rnn_cell *c, int64_t s, cudaStream_t stream);
void weft_cuda_rnn_step(const weft_cuda_rnn_cell *c, int64_t s, cudaStream_t stream);

#ifdef __cplusplus
}
#endif

#endif
