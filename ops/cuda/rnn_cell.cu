/*
 * ops/cuda/rnn_cell.cu — the per-time-step kernels of the cuda backend's RNN, GRU and LSTM steps
 * (cuda_rnn.h; the products and the order of the work are ops/cuda/rnn.c's).
 *
 * Every kernel is a grid-stride loop over the state's elements (direction, sequence, hidden unit): each
 * element of the state is read and written by one thread only, so the state is updated in place.
 *
 * Values follow the reference kernel (ops/rnn.c) formula for formula: a gate's pre-activation is summed
 * in double in the reference's order (W's bias, X W^T, R's bias, h R^T; the two products arrive from
 * cuBLASLt as float sums), clipped, then Sigmoid (its two forms, so that exp never overflows) or Tanh in
 * double; the state stays in double between steps and is rounded to float only where it is stored (Y,
 * Y_h, Y_c) or multiplied by cuBLASLt. The build compiles device code with -fmad=false, so no product
 * is fused into an add behind the formulas' back; CUDA's double exp and tanh are within 1-2 ulp of
 * double of the host's, far below float's resolution.
 */
#include "cuda_backend.h"
#include "cuda_rnn.h"

namespace {

constexpr int kThreads = 256;

typedef weft_cuda_rnn_cell Cell;

__device__ __forceinline__ double sigmoid(double x)
{
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

/* The `clip` attribute (ops/rnn_geom.h's weft_rnn_clip): NaN passes through. */
__device__ __forceinline__ double clipped(const Cell &c, double v)
{
    if (!c.has_clip) return v;
    return v < -c.clip ? -c.clip : v > c.clip ? c.clip : v;
}

/* Where element i of the state [dirs, N, H] is: direction d, sequence b, unit j. */
struct Pos {
    int64_t d, b, j;
};

__device__ __forceinline__ Pos pos_of(const Cell &c, int64_t i)
{
    Pos p;
    p.j = i % c.H;
    const int64_t db = i / c.H;
    p.b = db % c.batch;
    p.d = db / c.batch;
    return p;
}

/* The time index direction d reads at step s. */
__device__ __forceinline__ int64_t time_of(const Cell &c, int64_t d, int64_t s)
{
    return c.reverse || d == 1 ? c.seq - 1 - s : s;
}

/* Offset of (d, b) in a state as ONNX stores it (initial_h, Y_h, ...). */
__device__ __forceinline__ int64_t state_off(const Cell &c, const Pos &p)
{
    return (c.layout ? p.b * c.dirs + p.d : p.d * c.batch + p.b) * c.H + p.j;
}

__device__ __forceinline__ int64_t y_off(const Cell &c, const Pos &p, int64_t t)
{
    return (c.layout ? (p.b * c.seq + t) * c.dirs + p.d : (t * c.dirs + p.d) * c.batch + p.b) * c.H + p.j;
}

/* The operands of one (direction, sequence) at one time step, each at its gate 0. */
struct Gates {
    const float *xw; /* NULL: X has no columns */
    const float *wb, *rb;
    const float *rh;
};

__device__ __forceinline__ Gates gates_of(const Cell &c, const Pos &p, int64_t t, int64_t GH)
{
    Gates g;
    const int64_t row = c.layout ? p.b * c.seq + t : t * c.batch + p.b;
    g.xw = c.xw ? c.xw + row * (c.dirs * GH) + p.d * GH : nullptr;
    g.wb = c.bias ? c.bias + p.d * 2 * GH : nullptr;
    g.rb = c.bias ? g.wb + GH : nullptr;
    g.rh = c.rh + (p.d * c.batch + p.b) * GH;
    return g;
}

/* W's bias + X W^T (the input part of gate row q). */
__device__ __forceinline__ double input_part(const Gates &g, int64_t q)
{
    double acc = g.wb ? (double)g.wb[q] : 0.0;
    if (g.xw) acc += (double)g.xw[q];
    return acc;
}

/* The whole pre-activation of gate row q: the input part, R's bias, h R^T. */
__device__ __forceinline__ double full_part(const Gates &g, int64_t q)
{
    double acc = input_part(g, q);
    if (g.rb) acc += (double)g.rb[q];
    acc += (double)g.rh[q];
    return acc;
}

__global__ void __launch_bounds__(kThreads) rnn_init(Cell c)
{
    const int64_t total = c.dirs * c.batch * c.H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const Pos p = pos_of(c, i);
        const int64_t so = state_off(c, p);
        const float h0 = c.h0 ? c.h0[so] : 0.0f;
        c.h[i] = (double)h0;
        c.hf[i] = h0;
        if (c.c) c.c[i] = c.c0 ? (double)c.c0[so] : 0.0;
    }
}

/* GRU, linear_before_reset 0: the reset gate r, then r . h for the candidate's product. */
__global__ void __launch_bounds__(kThreads) gru_reset(Cell c, int64_t s)
{
    const int64_t total = c.dirs * c.batch * c.H, GH = 3 * c.H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const Pos p = pos_of(c, i);
        const Gates g = gates_of(c, p, time_of(c, p.d, s), GH);
        const double r = sigmoid(clipped(c, full_part(g, c.H + p.j)));
        c.rhf[i] = (float)(r * c.h[i]);
    }
}

/* The new state of one element; writes Y, Y_h, Y_c. */
template <int KIND>
__global__ void __launch_bounds__(kThreads) rnn_cell(Cell c, int64_t s)
{
    const int64_t H = c.H;
    const int64_t GH = (KIND == WEFT_CUDA_CELL_RNN ? 1 : KIND == WEFT_CUDA_CELL_GRU ? 3 : 4) * H;
    const int64_t total = c.dirs * c.batch * H;
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        const Pos p = pos_of(c, i);
        const int64_t t = time_of(c, p.d, s), j = p.j;
        const Gates g = gates_of(c, p, t, GH);
        double h;
        if (KIND == WEFT_CUDA_CELL_RNN) {
            h = tanh(clipped(c, full_part(g, j)));
        } else if (KIND == WEFT_CUDA_CELL_GRU) {
            /* gates z, r, h: the candidate's row block takes no R term in its pre-activation */
            const double z = sigmoid(clipped(c, full_part(g, j)));
            double acc;
            if (c.lbr) {
                const double r = sigmoid(clipped(c, full_part(g, H + j)));
                acc = (double)g.rh[2 * H + j];
                if (g.rb) acc += (double)g.rb[2 * H + j];
                acc *= r;
            } else {
                acc = (double)c.rh2[i];
                if (g.rb) acc += (double)g.rb[2 * H + j];
            }
            const double cand = tanh(clipped(c, input_part(g, 2 * H + j) + acc));
            h = (1.0 - z) * cand + z * c.h[i];
        } else {
            /* gates i, o, f, c; peepholes P: i, o, f */
            const double cs = c.c[i];
            const float *pd = c.peep ? c.peep + p.d * 3 * H : nullptr;
            double iv = full_part(g, j) + (pd ? (double)pd[j] * cs : 0.0);
            iv = sigmoid(clipped(c, iv));
            double fv;
            if (c.input_forget) {
                fv = 1.0 - iv;
            } else {
                fv = full_part(g, 2 * H + j) + (pd ? (double)pd[2 * H + j] * cs : 0.0);
                fv = sigmoid(clipped(c, fv));
            }
            const double cv = tanh(clipped(c, full_part(g, 3 * H + j)));
            const double cn = fv * cs + iv * cv;
            double ov = full_part(g, H + j) + (pd ? (double)pd[H + j] * cn : 0.0);
            ov = sigmoid(clipped(c, ov));
            h = ov * tanh(cn);
            c.c[i] = cn;
            if (c.yc) c.yc[state_off(c, p)] = (float)cn;
        }
        c.h[i] = h;
        c.hf[i] = (float)h;
        if (c.y) c.y[y_off(c, p, t)] = (float)h;
        if (c.yh) c.yh[state_off(c, p)] = (float)h;
    }
}

int64_t state_elems(const Cell *c) { return c->dirs * c->batch * c->H; }

} // namespace

extern "C" void weft_cuda_rnn_init(const weft_cuda_rnn_cell *c, cudaStream_t stream)
{
    const int64_t n = state_elems(c);
    if (n <= 0) return;
    rnn_init<<<weft_cuda_grid(n, kThreads), kThreads, 0, stream>>>(*c);
}

extern "C" void weft_cuda_rnn_reset(const weft_cuda_rnn_cell *c, int64_t s, cudaStream_t stream)
{
    const int64_t n = state_elems(c);
    if (n <= 0) return;
    gru_reset<<<weft_cuda_grid(n, kThreads), kThreads, 0, stream>>>(*c, s);
}

extern "C" void weft_cuda_rnn_step(const weft_cuda_rnn_cell *c, int64_t s, cudaStream_t stream)
{
    const int64_t n = state_elems(c);
    if (n <= 0) return;
    const unsigned grid = weft_cuda_grid(n, kThreads);
    switch (c->kind) {
    case WEFT_CUDA_CELL_RNN: rnn_cell<WEFT_CUDA_CELL_RNN><<<grid, kThreads, 0, stream>>>(*c, s); break;
    case WEFT_CUDA_CELL_GRU: rnn_cell<WEFT_CUDA_CELL_GRU><<<grid, kThreads, 0, stream>>>(*c, s); break;
    default: rnn_cell<WEFT_CUDA_CELL_LSTM><<<grid, kThreads, 0, stream>>>(*c, s); break;
    }
}
