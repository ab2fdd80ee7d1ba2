/* tests/unit/cuda_check.c — see cuda_check.h. */
#include "cuda_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compiler/plan.h"
#include "ops/backend.h"

static bool placement_only;

bool wt_cuda_skip(const char *suite)
{
    if (!weft_backend_find("cuda")) {
        printf("%s: skipped: the cuda backend is not in this build\n", suite);
        return true;
    }
    const char *why = weft_backend_unavailable("cuda");
    if (!why) return false;
    placement_only = true;
    printf("%s: no GPU (%s): checking that every case compiles and lands on cuda; kernels not run\n", suite, why);
    return false;
}

bool wt_cuda_placement_only(void) { return placement_only; }

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

void wt_rnd_seed(uint64_t seed) { rng_state = seed ? seed : 0x9E3779B97F4A7C15ull; }

uint64_t wt_rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

int64_t wt_rnd_int(int64_t n) { return n > 0 ? (int64_t)(wt_rnd() % (uint64_t)n) : 0; }

int64_t wt_rnd_dim(bool zero)
{
    int64_t r = wt_rnd_int(16);
    if (r < 3) return 1;
    if (r == 3) return 33;
    if (r == 4 && zero && wt_rnd_int(3) == 0) return 0;
    return 2 + wt_rnd_int(6);
}

void wt_fill_uniform(float *x, long long n, float lo, float hi, unsigned *seed)
{
    for (long long i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        x[i] = lo + (hi - lo) * (float)((*seed >> 8) * (1.0 / 16777216.0));
    }
}

void wt_fill_index(long long *x, long long n, long long range, unsigned *seed)
{
    for (long long i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        unsigned long long r = ((unsigned long long)*seed << 16) ^ (*seed >> 7);
        x[i] = range > 0 ? (long long)(r % (unsigned long long)range) : 0;
    }
}

/* Builds, compiles and lowers the case's graph for `backend`. */
static weft_status make_plan(const wt_cuda_case *c, const char *backend, weft_plan **out)
{
    *out = NULL;
    weft_symtab *syms = calloc(1, sizeof *syms);
    if (!syms) return WEFT_ERR_NOMEM;
    weft_graph *g = weft_graph_new(NULL, syms);
    c->build(g, c->user);
    weft_ir_resolve_ops(g, NULL);
    weft_status st = weft_compile_graph(g, c->opt_level, NULL, NULL);
    const weft_backend *list[WEFT_MAX_BACKENDS];
    int n = 0;
    if (!st) st = weft_backend_parse_list(backend, list, WEFT_MAX_BACKENDS, &n);
    if (!st) st = weft_plan_lower(g, syms, list, n, NULL, out);
    if (st) {
        fprintf(stderr, "  building the plan for %s: %s\n", backend, weft_last_error());
        weft_graph_free(g);
        weft_symtab_free(syms);
        free(syms);
    }
    return st;
}

static int cuda_steps(const weft_plan *p)
{
    int n = 0;
    for (int i = 0; i < p->n_steps; i++)
        n += p->steps[i].kind == WEFT_STEP_KERNEL && strcmp(p->steps[i].backend->name, "cuda") == 0;
    return n;
}

/* Runs plan p `runs` times on the case's inputs; the outputs of the last run, copied, in out[]. */
static weft_status run_plan(const weft_plan *p, const wt_cuda_case *c, int runs, weft_tensor *out, int n_out)
{
    weft_session *s = NULL;
    weft_status st = weft_session_create(p, &s);
    for (int r = 0; !st && r < runs; r++) {
        memset(out, 0, (size_t)n_out * sizeof *out);
        st = weft_session_run(s, c->in, (size_t)c->n_in, out, (size_t)n_out);
    }
    for (int o = 0; !st && o < n_out; o++) {
        void *copy = malloc(out[o].nbytes ? out[o].nbytes : 1);
        if (!copy) { st = WEFT_ERR_NOMEM; break; }
        memcpy(copy, out[o].data, out[o].nbytes);
        out[o].data = copy;
    }
    if (st) {
        for (int o = 0; o < n_out; o++) out[o].data = NULL;
    }
    weft_session_free(s);
    return st;
}

static void free_outputs(weft_tensor *out, int n)
{
    for (int o = 0; o < n; o++) free(out[o].data);
}

static double as_double(const weft_tensor *t, long long i)
{
    switch (t->dtype) {
    case WEFT_FLOAT32: return ((const float *)t->data)[i];
    case WEFT_FLOAT64: return ((const double *)t->data)[i];
    case WEFT_INT64: return (double)((const int64_t *)t->data)[i];
    case WEFT_INT32: return ((const int32_t *)t->data)[i];
    case WEFT_BOOL: return ((const uint8_t *)t->data)[i];
    default: return NAN;
    }
}

int wt_cuda_compare(const wt_cuda_case *c)
{
    weft_plan *pr = NULL, *pc = NULL;
    int rc = -1;
    enum { MAXO = 8 };
    weft_tensor want[MAXO], got[MAXO];
    memset(want, 0, sizeof want);
    memset(got, 0, sizeof got);
    if (make_plan(c, "cuda", &pc)) goto done;
    int taken = cuda_steps(pc);
    if (taken < c->min_cuda_steps) {
        fprintf(stderr, "  the cuda backend took %d steps, the case wants at least %d\n", taken, c->min_cuda_steps);
        goto done;
    }
    if (placement_only) {
        rc = 0;
        goto done;
    }
    if (make_plan(c, "ref", &pr)) goto done;
    int n_out = weft_plan_num_outputs(pr);
    if (n_out > MAXO) n_out = MAXO;
    if (run_plan(pr, c, 1, want, n_out)) {
        fprintf(stderr, "  ref run: %s\n", weft_last_error());
        goto done;
    }
    if (run_plan(pc, c, c->runs > 0 ? c->runs : 1, got, n_out)) {
        fprintf(stderr, "  cuda run: %s\n", weft_last_error());
        goto done;
    }
    rc = 0;
    for (int o = 0; o < n_out && rc == 0; o++) {
        if (want[o].dtype != got[o].dtype || want[o].rank != got[o].rank ||
            memcmp(want[o].dims, got[o].dims, (size_t)want[o].rank * sizeof want[o].dims[0]) != 0) {
            fprintf(stderr, "  output %d: dtype or shape differs from ref\n", o);
            rc = -1;
            break;
        }
        size_t es = weft_dtype_size(want[o].dtype);
        long long n = es ? (long long)(want[o].nbytes / es) : 0;
        for (long long i = 0; i < n; i++) {
            double a = as_double(&got[o], i), b = as_double(&want[o], i);
            /* integers and bools are compared bit for bit (a double would round int64 past 2^53) */
            bool exact = want[o].dtype != WEFT_FLOAT32 && want[o].dtype != WEFT_FLOAT64;
            bool same = exact ? memcmp((const char *)got[o].data + i * (long long)es,
                                       (const char *)want[o].data + i * (long long)es, es) == 0
                              : (isnan(a) && isnan(b)) || a == b || fabs(a - b) <= c->atol + c->rtol * fabs(b);
            if (!same) {
                fprintf(stderr, "  output %d element %lld: cuda %.9g, ref %.9g\n", o, i, a, b);
                rc = -1;
                break;
            }
        }
    }
done:
    free_outputs(want, MAXO);
    free_outputs(got, MAXO);
    weft_plan_free(pr);
    weft_plan_free(pc);
    return rc;
}

int wt_cuda_expect_error(const wt_cuda_case *c, weft_status want_error, const char *error_has)
{
    weft_plan *pc = NULL;
    if (make_plan(c, "cuda", &pc)) return -1;
    int rc = -1;
    if (cuda_steps(pc) < c->min_cuda_steps) {
        fprintf(stderr, "  the cuda backend took %d steps, the case wants at least %d\n", cuda_steps(pc), c->min_cuda_steps);
        weft_plan_free(pc);
        return -1;
    }
    if (placement_only) {
        weft_plan_free(pc);
        return 0;
    }
    weft_session *s = NULL;
    if (weft_session_create(pc, &s) == WEFT_OK) {
        for (int r = 0; r < (c->runs > 0 ? c->runs : 1); r++) {
            weft_tensor out[8];
            memset(out, 0, sizeof out);
            weft_status st = weft_session_run(s, c->in, (size_t)c->n_in, out, 1);
            const char *msg = weft_last_error();
            rc = st == want_error && (!error_has || (msg && strstr(msg, error_has))) ? 0 : -1;
            if (rc) {
                fprintf(stderr, "  run %d: status %d (%s), wanted %d with '%s'\n", r, (int)st, msg ? msg : "",
                        (int)want_error, error_has ? error_has : "");
                break;
            }
        }
    }
    weft_session_free(s);
    weft_plan_free(pc);
    return rc;
}
