/*
 * cli/cmd_bench.c — `weft bench MODEL [--backends LIST] [--nodes N --edges E | --input NAME=PATH ...] ...`:
 * compile time, set-up time, latency percentiles, throughput, arena and peak memory of a model on each
 * backend, side by side, after checking every backend's outputs against `ref`.
 *
 * Each backend is measured in its own child process (fork), so its peak resident set (getrusage's
 * ru_maxrss, which is process-wide) is its own: the parent holds no model, plan or tensor. The first
 * child runs `ref`: it works out the inputs (see below), writes ref's outputs to a temporary folder and,
 * when `ref` is one of the backends asked for, is timed too. Every other backend's child compares its
 * first outputs with those files in a grandchild (so the reference copies never count in its peak) and
 * is timed only when they match. Children report through a shared anonymous mapping.
 *
 * Synthesised inputs (without --input) come from weft_plan_synthesize_inputs: float inputs N(0,1),
 * integer inputs random multigraphs whose rows index the node sets the plan uses them for; every
 * edge-count symbol is --edges, every other symbol --nodes, --dim SYM=V sets one symbol. Everything is a
 * function of --seed. Each child synthesises for its own plan; the ref child also reports the sizes
 * (weft_plan_synthesize_describe), and the others check that theirs are the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define BENCH_MAX_INPUTS 64
#define BENCH_MAX_ROWS 64
#define BENCH_MAX_SYMS 64
#define BENCH_MAX_BACKENDS 8
#define BENCH_TOP 10

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft bench MODEL [--backends LIST] [--nodes N] [--edges E] [--dim SYM=V ...]\n"
            "                  [--input NAME=PATH ...] [--threads T] [--warmup-ms MS] [--min-iters K]\n"
            "                  [--min-ms MS] [--seed S] [--reference B] [--profile] [--allow-tf32]\n"
            "                  [--json]\n\n"
            "Measures MODEL (an ONNX file) on each backend, each in its own process: compile time (import to\n"
            "plan), set-up time (session and first reshape), then, after --warmup-ms of warm-up, at least\n"
            "--min-iters runs lasting at least --min-ms in all: min / mean / p50 / p90 / p95 / p99 latency,\n"
            "runs/s, edges/s, the session's arena bytes and the process's peak resident memory. Before\n"
            "timing, every backend's outputs are compared with ref's, or --reference's (1e-4 relative +\n"
            "1e-5 absolute); a backend that differs is reported and not timed, and the exit status is 1.\n"
            "A .weftplan file is measured on the backends it was compiled for (its load time as compile\n"
            "time), uncompared.\n\n"
            "  --backends LIST   comma-separated backends (default: every backend of this build that can\n"
            "                    run here: %s)\n"
            "  --nodes N         synthesise inputs: every node-count dimension is N (default 10000)\n"
            "  --edges E         ... and every edge-count dimension is E (default 50000): integer inputs\n"
            "                    are random multigraphs whose rows index the node sets the model uses them\n"
            "                    for (found in the compiled graph, else from the input names), float\n"
            "                    inputs are N(0,1); a heterogeneous model gets E edges of every edge type\n"
            "  --dim SYM=V       set the dimension symbol SYM to V instead (repeatable)\n"
            "  --input NAME=PATH bind graph input NAME to a tensor file (.npy or .pb) instead of\n"
            "                    synthesising; then every input must be given\n"
            "  --threads T       threads per session (default: the cores this process may use)\n"
            "  --warmup-ms MS    warm-up time before timing (default 200)\n"
            "  --min-iters K     timed runs, at least (default 10)\n"
            "  --min-ms MS       timed duration, at least (default 1000)\n"
            "  --seed S          seed of the synthesised inputs (default 1)\n"
            "  --reference B     the backend whose outputs the others must match (default ref; a faster\n"
            "                    one, itself checked against ref on smaller sizes, for sizes where ref's\n"
            "                    one thread would take minutes)\n"
            "  --profile         also time every step: ms per run by op class (dense, message passing,\n"
            "                    elementwise, other) and the 10 slowest steps (a separate session)\n"
            "  --allow-tf32      cuda: dense work may use TF32 tensor cores (its error shows as the\n"
            "                    max |diff| against ref)\n"
            "  --json            print one JSON document\n"
            "  --help            show this help\n",
            weft_backends_usable());
}

/* --- what the children share with the parent --------------------------------------------------- */

/* What the report says of the inputs (copied out of the library's description, for the parent). */
typedef struct bench_input {
    char name[256];
    int rank;
    int64_t dims[WEFT_MAX_RANK];
    int n_rows;                        /* an index input: its rows (1 for rank 1); 0 otherwise */
    int64_t range[BENCH_MAX_ROWS];     /* values of row r lie in [0, range[r]) */
    char source[BENCH_MAX_ROWS][32];   /* how range[r] was found */
} bench_input;

typedef struct bench_sym {
    char name[128];
    int64_t v;
} bench_sym;

typedef struct bench_spec {
    int n_inputs;
    bench_input in[BENCH_MAX_INPUTS];
    int n_syms;
    bench_sym syms[BENCH_MAX_SYMS];
    int64_t edges; /* edges per run: the sum of the edge lists' lengths */
} bench_spec;

typedef struct bench_step {
    char name[160], op_type[64], backend[32], op_class[32];
    double ms; /* per run */
    uint64_t calls;
} bench_step;

enum { RES_NONE, RES_OK, RES_MISMATCH, RES_FAILED };

typedef struct bench_result {
    char backend[32];
    int state;
    char message[1024];
    bool timed;
    double compile_ms, setup_ms, min_ms, mean_ms, p50_ms, p90_ms, p95_ms, p99_ms, max_ms;
    /* device backends: the same runs launched step by step instead of replayed as captured graphs */
    bool has_eager;
    double eager_p50_ms, eager_mean_ms;
    long iterations;
    double runs_per_s, edges_per_s;
    size_t arena_bytes, scratch_bytes, dynamic_bytes;
    long long peak_rss_bytes;
    bool compared;
    double max_abs_diff;
    bool profiled;
    int prof_runs;
    double class_ms[4];
    int n_top;
    bench_step top[BENCH_TOP];
} bench_result;

typedef struct bench_shared {
    bench_spec spec;   /* written by the ref child when synthesising */
    bench_result res;  /* the child's result */
    int cmp_ok;        /* the grandchild's verdict */
    double cmp_max_diff;
    char cmp_message[512];
} bench_shared;

typedef struct bench_opts {
    const char *model;
    const char *backends[BENCH_MAX_BACKENDS];
    int n_backends;
    bool ref_wanted;       /* the reference backend is also one of those measured */
    const char *reference; /* the backend the others are compared with: ref unless --reference */
    int64_t nodes, edges;
    struct { const char *name, *path; } inputs[BENCH_MAX_INPUTS];
    int n_inputs;
    const char *dim_names[BENCH_MAX_SYMS]; /* --dim */
    int64_t dim_values[BENCH_MAX_SYMS];
    int n_dims;
    int threads;
    double warmup_ms, min_ms;
    long min_iters;
    uint64_t seed;
    bool profile, json;
    bool allow_tf32;
    bool plan; /* MODEL is a .weftplan file: measured on the backends it was compiled for, not compared */
    char tmpdir[4096];
} bench_opts;

/* --- small helpers ------------------------------------------------------------------------------ */

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static void set_msg(bench_result *r, int state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_msg(bench_result *r, int state, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->state = state;
}

/* "<what>: <weft_last_error()>" as the result's message. */
static void set_fail(bench_result *r, const char *what)
{
    const char *why = weft_last_error();
    set_msg(r, RES_FAILED, "%s%s%s", what, why && why[0] ? ": " : "", why ? why : "");
}

static int available_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

static bool parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_ms(const char *s, double *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0) || v > 1e9) return false;
    *out = v;
    return true;
}

/* --- the synthesised inputs ------------------------------------------------------------------ */

static weft_synth_options synth_options(const bench_opts *o)
{
    return (weft_synth_options){o->nodes, o->edges, o->seed, o->dim_names, o->dim_values, o->n_dims};
}

/* "<what>: <weft_last_error()>", with the option that gets around a failure to synthesise. */
static void set_synth_fail(bench_result *r, weft_status st)
{
    set_fail(r, "cannot synthesise the inputs");
    const char *hint = st == WEFT_ERR_UNSUPPORTED ? "; give the inputs with --input NAME=PATH"
                       : st == WEFT_ERR_SHAPE     ? "; set the dimension with --dim SYM=V"
                                                  : "";
    size_t len = strlen(r->message);
    snprintf(r->message + len, sizeof r->message - len, "%s", hint);
}

/* The report's view of the synthesised inputs of plan p (the ref child's), in sp; notes on index rows
 * the graph uses over more than one dimension go to stderr. */
static bool record_spec(const weft_plan *p, const bench_opts *o, bench_spec *sp, bench_result *res)
{
    memset(sp, 0, sizeof *sp);
    weft_synth_options so = synth_options(o);
    weft_synth_info *si = NULL;
    weft_status st = weft_plan_synthesize_describe(p, &so, &si);
    if (st) {
        set_synth_fail(res, st);
        return false;
    }
    bool ok = false;
    if (si->n_inputs > BENCH_MAX_INPUTS) {
        set_msg(res, RES_FAILED, "the model has %d inputs; at most %d can be synthesised", si->n_inputs, BENCH_MAX_INPUTS);
        goto done;
    }
    if (si->n_symbols > BENCH_MAX_SYMS) {
        set_msg(res, RES_FAILED, "the model's inputs have more than %d dimension symbols", BENCH_MAX_SYMS);
        goto done;
    }
    sp->n_inputs = si->n_inputs;
    for (int i = 0; i < si->n_inputs; i++) {
        bench_input *in = &sp->in[i];
        snprintf(in->name, sizeof in->name, "%s", si->inputs[i].name);
        in->rank = si->inputs[i].rank;
        memcpy(in->dims, si->inputs[i].dims, sizeof in->dims);
    }
    sp->n_syms = si->n_symbols;
    for (int k = 0; k < si->n_symbols; k++) {
        snprintf(sp->syms[k].name, sizeof sp->syms[k].name, "%s", si->symbols[k].name);
        sp->syms[k].v = si->symbols[k].value;
    }
    sp->edges = si->edges;
    for (int r = 0; r < si->n_rows; r++) {
        const weft_synth_row *row = &si->rows[r];
        bench_input *in = &sp->in[row->input];
        in->n_rows++;
        if (row->row < BENCH_MAX_ROWS) {
            in->range[row->row] = row->range;
            snprintf(in->source[row->row], sizeof in->source[row->row], "%s", row->source);
        }
        if (row->conflicts > 0 && !o->json)
            fprintf(stderr, "weft: bench: note: row %d of input '%s' indexes %s in %d uses and %s in %d; using %s\n",
                    row->row, in->name, row->dim ? row->dim : "", row->uses, row->other_dim ? row->other_dim : "",
                    row->conflicts, row->dim ? row->dim : "");
    }
    ok = true;
done:
    weft_synth_info_free(si);
    return ok;
}

/* --- comparing with ref -------------------------------------------------------------------------- */

static void ref_path(const bench_opts *o, int k, char *buf, size_t n) { snprintf(buf, n, "%s/out_%d.npy", o->tmpdir, k); }

/* In a grandchild (so the reference copies never count in the measured process's memory): compares
 * the outputs with ref's files; writes the verdict to the shared mapping. */
static void compare_outputs(const bench_opts *o, const weft_tensor *out, int n_out, bench_shared *sh)
{
    sh->cmp_ok = 0;
    sh->cmp_max_diff = 0;
    snprintf(sh->cmp_message, sizeof sh->cmp_message, "comparison did not run");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(sh->cmp_message, sizeof sh->cmp_message, "fork failed: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        double worst = 0;
        for (int k = 0; k < n_out; k++) {
            char path[4200];
            ref_path(o, k, path, sizeof path);
            weft_tensor want;
            if (weft_tensor_load(path, &want) != WEFT_OK) {
                snprintf(sh->cmp_message, sizeof sh->cmp_message, "cannot read ref's output %d: %s", k, weft_last_error());
                _exit(1);
            }
            const weft_tensor *got = &out[k];
            bool same_shape = want.dtype == got->dtype && want.rank == got->rank;
            for (int d = 0; same_shape && d < got->rank; d++) same_shape = want.dims[d] == got->dims[d];
            if (!same_shape) {
                char a[128], b[128];
                cli_format_dims(got->dims, got->rank, a, sizeof a);
                cli_format_dims(want.dims, want.rank, b, sizeof b);
                snprintf(sh->cmp_message, sizeof sh->cmp_message, "output '%s' is %s%s, ref's is %s%s",
                         got->name ? got->name : "?", weft_dtype_name(got->dtype), a, weft_dtype_name(want.dtype), b);
                _exit(1);
            }
            int64_t n = cli_numel(got->dims, got->rank);
            bool fl = cli_dtype_is_float(got->dtype);
            for (int64_t i = 0; i < n; i++) {
                char ga[64], wa[64];
                if (fl) {
                    double g = cli_elem_f64(got->dtype, got->data, i), w = cli_elem_f64(want.dtype, want.data, i);
                    if (isnan(g) && isnan(w)) continue;
                    double diff = fabs(g - w);
                    if (isinf(w) && g == w) diff = 0;
                    if (diff > worst || isnan(diff)) worst = isnan(diff) ? INFINITY : diff;
                    if (!(diff <= 1e-5 + 1e-4 * fabs(w))) {
                        snprintf(sh->cmp_message, sizeof sh->cmp_message,
                                 "output '%s' element %lld is %.9g, ref's is %.9g (beyond 1e-4 relative + 1e-5 absolute)",
                                 got->name ? got->name : "?", (long long)i, g, w);
                        sh->cmp_max_diff = worst;
                        _exit(1);
                    }
                } else if (cli_elem_i64(got->dtype, got->data, i) != cli_elem_i64(want.dtype, want.data, i)) {
                    cli_format_elem(got->dtype, got->data, i, ga, sizeof ga);
                    cli_format_elem(want.dtype, want.data, i, wa, sizeof wa);
                    snprintf(sh->cmp_message, sizeof sh->cmp_message, "output '%s' element %lld is %s, ref's is %s",
                             got->name ? got->name : "?", (long long)i, ga, wa);
                    _exit(1);
                }
            }
            weft_tensor_release(&want);
        }
        sh->cmp_max_diff = worst;
        sh->cmp_message[0] = '\0';
        sh->cmp_ok = 1;
        _exit(0);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status))
        snprintf(sh->cmp_message, sizeof sh->cmp_message, "the comparison crashed (signal %d)", WTERMSIG(status));
}

/* --- one backend, in a child process ------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(const double *sorted, long n, double q)
{
    if (n <= 0) return 0;
    double pos = q * (double)(n - 1);
    long i = (long)pos;
    if (i + 1 >= n) return sorted[n - 1];
    return sorted[i] + (pos - (double)i) * (sorted[i + 1] - sorted[i]);
}

/* An ONNX model compiled for `backend`, or a plan file as it was compiled (its own backends). */
static weft_status load_plan(const bench_opts *o, const char *backend, weft_plan **out)
{
    return cli_load_plan(o->model, o->plan ? NULL : backend, 1, out);
}

static int class_index(const char *c)
{
    if (!c) return 0;
    if (!strcmp(c, "dense")) return 0;
    if (!strcmp(c, "message passing")) return 1;
    if (!strcmp(c, "elementwise")) return 2;
    return 3;
}

static const char *const class_names[4] = {"dense", "message passing", "elementwise", "other"};

static void profile_steps(weft_session *s, int runs, bench_result *r)
{
    const weft_step_profile *prof;
    int n;
    if (weft_session_profile(s, &prof, &n) != WEFT_OK) return;
    r->profiled = true;
    r->prof_runs = runs;
    for (int i = 0; i < n; i++) r->class_ms[class_index(prof[i].op_class)] += prof[i].total_ms / runs;
    /* the BENCH_TOP largest, by insertion into a short sorted list */
    for (int i = 0; i < n; i++) {
        if (prof[i].calls == 0) continue; /* steps that only compute sizes ran at set-up, not in runs */
        double ms = prof[i].total_ms / runs;
        int at = r->n_top;
        while (at > 0 && r->top[at - 1].ms < ms) at--;
        if (at >= BENCH_TOP) continue;
        int last = r->n_top < BENCH_TOP ? r->n_top : BENCH_TOP - 1;
        memmove(&r->top[at + 1], &r->top[at], (size_t)(last - at) * sizeof r->top[0]);
        bench_step *t = &r->top[at];
        snprintf(t->name, sizeof t->name, "%s", prof[i].name ? prof[i].name : "");
        snprintf(t->op_type, sizeof t->op_type, "%s", prof[i].op_type ? prof[i].op_type : "");
        snprintf(t->backend, sizeof t->backend, "%s", prof[i].backend ? prof[i].backend : "");
        snprintf(t->op_class, sizeof t->op_class, "%s", prof[i].op_class ? prof[i].op_class : "other");
        t->ms = ms;
        t->calls = prof[i].calls;
        if (r->n_top < BENCH_TOP) r->n_top++;
    }
}

/* Everything the child does for one backend; the result is in sh->res (and sh->spec for the ref child
 * when synthesising). `role_ref`: this child makes the reference (writes ref's outputs); `timed`:
 * measure it. */
static void bench_child(const bench_opts *o, const char *backend, bool role_ref, bool timed, bench_shared *sh)
{
    bench_result *r = &sh->res;
    memset(r, 0, sizeof *r);
    snprintf(r->backend, sizeof r->backend, "%s", backend);
    weft_plan *p = NULL;
    weft_session *s = NULL;
    weft_tensor *in = NULL, *out = NULL;
    double *lat = NULL;
    int n_in = 0, n_out = 0;
    bool synthesised = false; /* the inputs' names are theirs (else argv's) */

    double t0 = now_ms();
    if (load_plan(o, backend, &p) != WEFT_OK) {
        set_fail(r, o->plan ? "cannot load the plan" : "cannot compile the model");
        goto done;
    }
    r->compile_ms = now_ms() - t0;
    if (o->plan) cli_plan_backends(p, r->backend, sizeof r->backend); /* named by its priority list */

    int n_graph_in = weft_plan_num_inputs(p);
    in = calloc((size_t)(n_graph_in > 0 ? n_graph_in : 1), sizeof *in);
    if (!in) { set_msg(r, RES_FAILED, "out of memory"); goto done; }
    if (o->n_inputs > 0) {
        for (int g = 0; g < n_graph_in; g++) {
            weft_tensor info;
            weft_plan_input_info(p, g, &info);
            int j;
            for (j = 0; j < o->n_inputs; j++)
                if (info.name && !strcmp(info.name, o->inputs[j].name)) break;
            if (j == o->n_inputs) {
                set_msg(r, RES_FAILED, "missing input '%s': give it with --input %s=PATH (or synthesise every input)",
                        info.name ? info.name : "?", info.name ? info.name : "?");
                goto done;
            }
            if (weft_tensor_load(o->inputs[j].path, &in[n_in]) != WEFT_OK) {
                char what[512];
                snprintf(what, sizeof what, "cannot read input '%s' from '%s'", o->inputs[j].name, o->inputs[j].path);
                set_fail(r, what);
                goto done;
            }
            free((void *)in[n_in].name);
            in[n_in++].name = o->inputs[j].name;
        }
        for (int j = 0; j < o->n_inputs; j++) {
            bool found = false;
            for (int g = 0; g < n_graph_in && !found; g++) {
                weft_tensor info;
                if (weft_plan_input_info(p, g, &info) == WEFT_OK && info.name && !strcmp(info.name, o->inputs[j].name))
                    found = true;
            }
            if (!found) {
                set_msg(r, RES_FAILED, "--input '%s': the model has no input of that name", o->inputs[j].name);
                goto done;
            }
        }
        /* for the report: the inputs' sizes, and the edges per run (the last dimension of the integer
         * inputs that are not pairs) */
        if (role_ref) {
            sh->spec.n_inputs = n_in;
            for (int j = 0; j < n_in; j++) {
                bench_input *bi = &sh->spec.in[j];
                snprintf(bi->name, sizeof bi->name, "%s", in[j].name);
                bi->rank = in[j].rank;
                memcpy(bi->dims, in[j].dims, sizeof bi->dims);
                if ((in[j].dtype == WEFT_INT64 || in[j].dtype == WEFT_INT32) && (in[j].rank == 1 || in[j].rank == 2) &&
                    strncmp(in[j].name, "pairs", 5) != 0)
                    sh->spec.edges += in[j].dims[in[j].rank - 1];
            }
        }
    } else {
        if (role_ref && !record_spec(p, o, &sh->spec, r)) goto done;
        if (sh->spec.n_inputs != n_graph_in) {
            set_msg(r, RES_FAILED, "the plan for %s has %d inputs, ref's has %d", backend, n_graph_in, sh->spec.n_inputs);
            goto done;
        }
        weft_synth_options so = synth_options(o);
        weft_status st = weft_plan_synthesize_inputs(p, &so, in, n_graph_in);
        if (st) {
            set_synth_fail(r, st);
            goto done;
        }
        synthesised = true;
        n_in = n_graph_in;
        /* every backend's plan must get ref's inputs, or the comparison would compare nothing */
        for (int g = 0; g < n_in; g++) {
            const bench_input *want = &sh->spec.in[g];
            bool same = !strcmp(in[g].name, want->name) && in[g].rank == want->rank;
            for (int d = 0; same && d < want->rank; d++) same = in[g].dims[d] == want->dims[d];
            if (!same) {
                char a[128], b[128];
                cli_format_dims(in[g].dims, in[g].rank, a, sizeof a);
                cli_format_dims(want->dims, want->rank, b, sizeof b);
                set_msg(r, RES_FAILED, "the plan for %s makes input %d '%s' %s, ref's '%s' %s", backend, g, in[g].name,
                        a, want->name, b);
                goto done;
            }
        }
    }

    n_out = weft_plan_num_outputs(p);
    out = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof *out);
    if (!out) { set_msg(r, RES_FAILED, "out of memory"); goto done; }
    weft_session_options so = {o->threads, 0, 0, o->allow_tf32};
    t0 = now_ms();
    if (weft_session_create_with_options(p, &so, &s) != WEFT_OK || weft_session_reshape(s, in, (size_t)n_in) != WEFT_OK) {
        set_fail(r, "cannot set the session up for these inputs");
        goto done;
    }
    r->setup_ms = now_ms() - t0;
    if (weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK) {
        set_fail(r, "the first run failed");
        goto done;
    }
    if (o->plan) {
        r->compared = false; /* nothing to compare with: the plan runs on its own backends only */
    } else if (role_ref) {
        for (int k = 0; k < n_out; k++) {
            char path[4200];
            ref_path(o, k, path, sizeof path);
            if (weft_tensor_save_npy(path, &out[k]) != WEFT_OK) {
                set_fail(r, "cannot write ref's outputs");
                goto done;
            }
        }
        r->compared = true; /* the reference is its own */
    } else {
        compare_outputs(o, out, n_out, sh);
        r->compared = true;
        r->max_abs_diff = sh->cmp_max_diff;
        if (!sh->cmp_ok) {
            set_msg(r, RES_MISMATCH, "outputs differ from %s's: %s", o->reference, sh->cmp_message);
            goto done;
        }
    }
    if (!timed) {
        r->state = RES_OK;
        goto done;
    }

    /* warm-up, then the timed runs */
    t0 = now_ms();
    while (now_ms() - t0 < o->warmup_ms)
        if (weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK) {
            set_fail(r, "a warm-up run failed");
            goto done;
        }
    long cap = 1024, n = 0;
    lat = malloc((size_t)cap * sizeof *lat);
    if (!lat) { set_msg(r, RES_FAILED, "out of memory"); goto done; }
    double start = now_ms(), total = 0;
    while (n < o->min_iters || total < o->min_ms) {
        if (n == cap) {
            double *more = realloc(lat, (size_t)cap * 2 * sizeof *lat);
            if (!more) break;
            lat = more;
            cap *= 2;
        }
        double a = now_ms();
        weft_status st = weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out);
        double b = now_ms();
        if (st != WEFT_OK) {
            set_fail(r, "a timed run failed");
            goto done;
        }
        lat[n++] = b - a;
        total = b - start;
    }
    weft_session_stats stats;
    if (weft_session_get_stats(s, &stats) == WEFT_OK) {
        r->arena_bytes = stats.arena_bytes;
        r->scratch_bytes = stats.scratch_bytes;
        r->dynamic_bytes = stats.dynamic_bytes;
    }
    double sum = 0;
    for (long i = 0; i < n; i++) sum += lat[i];
    qsort(lat, (size_t)n, sizeof *lat, cmp_double);
    r->iterations = n;
    r->min_ms = lat[0];
    r->max_ms = lat[n - 1];
    r->mean_ms = sum / (double)n;
    r->p50_ms = percentile(lat, n, 0.50);
    r->p90_ms = percentile(lat, n, 0.90);
    r->p95_ms = percentile(lat, n, 0.95);
    r->p99_ms = percentile(lat, n, 0.99);
    r->runs_per_s = r->mean_ms > 0 ? 1e3 / r->mean_ms : 0;
    r->edges_per_s = r->runs_per_s * (double)sh->spec.edges;
    r->timed = true;

    if (strcmp(backend, "cuda") == 0 || strncmp(backend, "cuda,", 5) == 0) {
        /* a second session launching step by step: what the captured graphs save */
        weft_session_free(s);
        s = NULL;
        weft_session_options eo = {o->threads, 0, 1, o->allow_tf32};
        if (weft_session_create_with_options(p, &eo, &s) != WEFT_OK || weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK) {
            set_fail(r, "cannot run the plan launch by launch");
            goto done;
        }
        double e0 = now_ms(), esum = 0;
        long en = 0;
        while (en < n && now_ms() - e0 < o->warmup_ms) weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out);
        for (en = 0; en < n; en++) {
            double a = now_ms();
            if (weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK) {
                set_fail(r, "a launch-by-launch run failed");
                goto done;
            }
            lat[en] = now_ms() - a;
            esum += lat[en];
        }
        qsort(lat, (size_t)n, sizeof *lat, cmp_double);
        r->has_eager = true;
        r->eager_p50_ms = percentile(lat, n, 0.50);
        r->eager_mean_ms = esum / (double)n;
    }

    if (o->profile) {
        /* a separate session: profiling costs time the latencies above do not include */
        weft_session_free(s);
        s = NULL;
        weft_session_options po = {o->threads, 1, 0, o->allow_tf32};
        int runs = o->min_iters > 3 ? (int)(o->min_iters < 1000 ? o->min_iters : 1000) : 3;
        if (weft_session_create_with_options(p, &po, &s) != WEFT_OK) {
            set_fail(r, "cannot create a profiling session");
            goto done;
        }
        for (int i = 0; i < runs; i++)
            if (weft_session_run(s, in, (size_t)n_in, out, (size_t)n_out) != WEFT_OK) {
                set_fail(r, "a profiled run failed");
                goto done;
            }
        profile_steps(s, runs, r);
    }
    r->state = RES_OK;
done:;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) r->peak_rss_bytes = (long long)ru.ru_maxrss * 1024;
    free(lat);
    weft_session_free(s);
    for (int i = 0; i < n_in; i++) {
        if (synthesised) weft_tensor_release(&in[i]);
        else free(in[i].data);
    }
    free(in);
    free(out);
    weft_plan_free(p);
}

/* Runs bench_child in a fresh process; copies its result (and spec) out of the shared mapping. */
static void run_in_child(const bench_opts *o, const char *backend, bool role_ref, bool timed, bench_shared *sh,
                         bench_result *res)
{
    memset(&sh->res, 0, sizeof sh->res);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        memset(res, 0, sizeof *res);
        snprintf(res->backend, sizeof res->backend, "%s", backend);
        set_msg(res, RES_FAILED, "fork failed: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        bench_child(o, backend, role_ref, timed, sh);
        fflush(stdout);
        fflush(stderr);
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    *res = sh->res;
    if (!o->plan || !res->backend[0]) snprintf(res->backend, sizeof res->backend, "%s", backend);
    if (WIFSIGNALED(status))
        set_msg(res, RES_FAILED, "the process measuring %s was killed by signal %d (%s)", backend, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else if (res->state == RES_NONE)
        set_msg(res, RES_FAILED, "the process measuring %s ended without a result (exit status %d)", backend,
                WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* --- reports ------------------------------------------------------------------------------------- */

static void json_num(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.6g", v);
    else fputs("null", f);
}

/* {"<index input>": [per row: its range, or how the range was found], ...} */
static void json_index_rows(FILE *f, const bench_spec *sp, bool sources)
{
    bool first = true;
    fputc('{', f);
    for (int i = 0; i < sp->n_inputs; i++) {
        if (!sp->in[i].n_rows) continue;
        fprintf(f, "%s", first ? "" : ",");
        first = false;
        cli_json_str(f, sp->in[i].name);
        fputs(":[", f);
        for (int r = 0; r < sp->in[i].n_rows && r < BENCH_MAX_ROWS; r++) {
            fprintf(f, "%s", r ? "," : "");
            if (sources) cli_json_str(f, sp->in[i].source[r]);
            else fprintf(f, "%lld", (long long)sp->in[i].range[r]);
        }
        fputs("]", f);
    }
    fputc('}', f);
}

static void print_json(const bench_opts *o, const bench_spec *sp, const bench_result *res, int n_res)
{
    FILE *f = stdout;
    fputs("{\"model\":", f);
    cli_json_str(f, o->model);
    fprintf(f, ",\"threads\":%d,\"seed\":%llu,\"backends_available\":", o->threads, (unsigned long long)o->seed);
    cli_json_str(f, weft_backends());
    fprintf(f, ",\"plan_file\":%s,\"reference\":", o->plan ? "true" : "false");
    cli_json_str(f, o->reference);
    fprintf(f, ",\"synthetic\":%s,\"edges\":%lld,\"inputs\":{", o->n_inputs ? "false" : "true", (long long)sp->edges);
    for (int i = 0; i < sp->n_inputs; i++) {
        fprintf(f, "%s", i ? "," : "");
        cli_json_str(f, sp->in[i].name);
        fputs(":[", f);
        for (int d = 0; d < sp->in[i].rank; d++) fprintf(f, "%s%lld", d ? "," : "", (long long)sp->in[i].dims[d]);
        fputs("]", f);
    }
    fputs("},\"dims\":{", f);
    for (int k = 0; k < sp->n_syms; k++) {
        fprintf(f, "%s", k ? "," : "");
        cli_json_str(f, sp->syms[k].name);
        fprintf(f, ":%lld", (long long)sp->syms[k].v);
    }
    fputs("},\"index_ranges\":", f);
    json_index_rows(f, sp, false);
    fputs(",\"index_range_sources\":", f);
    json_index_rows(f, sp, true);
    fputs(",\"results\":[", f);
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        fprintf(f, "%s{\"backend\":", i ? "," : "");
        cli_json_str(f, r->backend);
        fprintf(f, ",\"status\":\"%s\"", r->state == RES_OK ? "ok" : r->state == RES_MISMATCH ? "mismatch" : "failed");
        fprintf(f, ",\"matches_ref\":%s", !r->compared && r->state == RES_OK ? "null" : r->state == RES_OK ? "true" : "false");
        if (r->state != RES_OK) {
            fputs(",\"error\":", f);
            cli_json_str(f, r->message);
        }
        fputs(",\"max_abs_diff_vs_ref\":", f);
        if (r->compared) json_num(f, r->max_abs_diff);
        else fputs("null", f);
        fputs(",\"compile_ms\":", f);
        json_num(f, r->compile_ms);
        fputs(",\"setup_ms\":", f);
        json_num(f, r->setup_ms);
        if (r->timed) {
            const struct { const char *k; double v; } t[] = {
                {"p50_ms", r->p50_ms}, {"p90_ms", r->p90_ms}, {"p95_ms", r->p95_ms}, {"p99_ms", r->p99_ms},
                {"mean_ms", r->mean_ms}, {"min_ms", r->min_ms}, {"max_ms", r->max_ms},
                {"runs_per_s", r->runs_per_s}, {"edges_per_s", r->edges_per_s}};
            for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
                fprintf(f, ",\"%s\":", t[k].k);
                json_num(f, t[k].v);
            }
            fprintf(f, ",\"iterations\":%ld,\"arena_bytes\":%zu,\"scratch_bytes\":%zu,\"dynamic_bytes\":%zu",
                    r->iterations, r->arena_bytes, r->scratch_bytes, r->dynamic_bytes);
            if (r->has_eager) {
                fputs(",\"graph_replay\":true,\"launch_by_launch_p50_ms\":", f);
                json_num(f, r->eager_p50_ms);
                fputs(",\"launch_by_launch_mean_ms\":", f);
                json_num(f, r->eager_mean_ms);
            }
        }
        fprintf(f, ",\"peak_rss_bytes\":%lld,\"profile\":", r->peak_rss_bytes);
        if (!r->profiled) {
            fputs("null}", f);
            continue;
        }
        fprintf(f, "{\"runs\":%d,\"ms_per_run\":{", r->prof_runs);
        for (int c = 0; c < 4; c++) {
            fprintf(f, "%s\"%s\":", c ? "," : "", class_names[c]);
            json_num(f, r->class_ms[c]);
        }
        fputs("},\"top_steps\":[", f);
        for (int k = 0; k < r->n_top; k++) {
            const bench_step *t = &r->top[k];
            fprintf(f, "%s{\"name\":", k ? "," : "");
            cli_json_str(f, t->name);
            fputs(",\"op_type\":", f);
            cli_json_str(f, t->op_type);
            fputs(",\"backend\":", f);
            cli_json_str(f, t->backend);
            fputs(",\"op_class\":", f);
            cli_json_str(f, t->op_class);
            fputs(",\"ms_per_run\":", f);
            json_num(f, t->ms);
            fprintf(f, ",\"calls\":%llu}", (unsigned long long)t->calls);
        }
        fputs("]}}", f);
    }
    fputs("]}\n", f);
}

static void fmt_bytes(double b, char *buf, size_t n)
{
    if (b >= 1024.0 * 1024 * 1024) snprintf(buf, n, "%.2f GiB", b / (1024.0 * 1024 * 1024));
    else if (b >= 1024.0 * 1024) snprintf(buf, n, "%.1f MiB", b / (1024.0 * 1024));
    else snprintf(buf, n, "%.1f KiB", b / 1024.0);
}

static void print_text(const bench_opts *o, const bench_spec *sp, const bench_result *res, int n_res)
{
    printf("model: ");
    cli_text_str(stdout, o->model);
    printf("\nthreads: %d   backends of this build: %s\ninputs:", o->threads, weft_backends());
    for (int i = 0; i < sp->n_inputs; i++) {
        char d[256];
        cli_format_dims(sp->in[i].dims, sp->in[i].rank, d, sizeof d);
        printf("%s ", i ? "," : "");
        cli_text_str(stdout, sp->in[i].name);
        printf("%s", d);
    }
    printf("%s\n", o->n_inputs ? "" : "  (synthetic)");
    if (sp->n_syms) {
        printf("dims:");
        for (int k = 0; k < sp->n_syms; k++) printf(" %s=%lld", sp->syms[k].name, (long long)sp->syms[k].v);
        putchar('\n');
    }
    printf("edges per run: %lld\n\n", (long long)sp->edges);
    char vs[64];
    snprintf(vs, sizeof vs, "vs %s", o->reference);
    printf("%-10s %10s %9s %9s %9s %9s %9s %9s %9s %6s %9s %10s %10s %10s  %s\n", "backend", "compile", "setup", "p50",
           "p90", "p95", "p99", "mean", "min", "iters", "runs/s", "Medges/s", "arena", "peak RSS", vs);
    printf("%-10s %10s %9s %9s %9s %9s %9s %9s %9s\n", "", "ms", "ms", "ms", "ms", "ms", "ms", "ms", "ms");
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        char arena[32] = "-", rss[32] = "-";
        if (r->timed) fmt_bytes((double)r->arena_bytes, arena, sizeof arena);
        if (r->peak_rss_bytes) fmt_bytes((double)r->peak_rss_bytes, rss, sizeof rss);
        printf("%-10s ", r->backend);
        if (r->timed)
            printf("%10.1f %9.2f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %6ld %9.1f %10.2f %10s %10s  ", r->compile_ms,
                   r->setup_ms, r->p50_ms, r->p90_ms, r->p95_ms, r->p99_ms, r->mean_ms, r->min_ms, r->iterations,
                   r->runs_per_s, r->edges_per_s / 1e6, arena, rss);
        else
            printf("%10s %9s %9s %9s %9s %9s %9s %9s %6s %9s %10s %10s %10s  ", "-", "-", "-", "-", "-", "-", "-", "-",
                   "-", "-", "-", "-", rss);
        if (r->state == RES_OK && o->plan) printf("(plan file: not compared)\n");
        else if (r->state == RES_OK && !strcmp(r->backend, o->reference)) printf("(reference)\n");
        else if (r->state == RES_OK) printf("ok (max |diff| %.2g)\n", r->max_abs_diff);
        else {
            printf("%s: ", r->state == RES_MISMATCH ? "MISMATCH" : "FAILED");
            cli_text_str(stdout, r->message);
            putchar('\n');
        }
    }
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        if (r->timed && r->has_eager)
            printf("\n%s: p50 %.3f ms replaying the plan as CUDA Graphs, %.3f ms launching step by step (mean %.3f / %.3f)\n",
                   r->backend, r->p50_ms, r->eager_p50_ms, r->mean_ms, r->eager_mean_ms);
    }
    for (int i = 0; i < n_res; i++) {
        const bench_result *r = &res[i];
        if (!r->profiled) continue;
        double total = 0;
        for (int c = 0; c < 4; c++) total += r->class_ms[c];
        printf("\nprofile of %s (%d profiled runs, ms per run):\n", r->backend, r->prof_runs);
        for (int c = 0; c < 4; c++)
            printf("  %-16s %9.3f  %5.1f%%\n", class_names[c], r->class_ms[c],
                   total > 0 ? 100 * r->class_ms[c] / total : 0.0);
        printf("  slowest steps:\n");
        for (int k = 0; k < r->n_top; k++) {
            printf("  %9.3f ms %5.1f%%  %-22s %-16s ", r->top[k].ms, total > 0 ? 100 * r->top[k].ms / total : 0.0,
                   r->top[k].op_type, r->top[k].op_class);
            cli_text_str(stdout, r->top[k].name);
            putchar('\n');
        }
    }
}

/* --- the command ---------------------------------------------------------------------------------- */

static bool backend_known(const char *name, size_t len)
{
    const char *list = weft_backends();
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == len && !strncmp(p, name, len)) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static int parse_backends(bench_opts *o, char *list)
{
    o->n_backends = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (!*tok) continue;
        if (!backend_known(tok, strlen(tok)))
            return cli_usage("bench", "bench: unknown backend '%s' (this build has: %s)", tok, weft_backends());
        for (int i = 0; i < o->n_backends; i++)
            if (!strcmp(o->backends[i], tok)) return cli_usage("bench", "bench: backend '%s' is given twice", tok);
        if (o->n_backends == BENCH_MAX_BACKENDS) return cli_usage("bench", "bench: too many backends");
        o->backends[o->n_backends++] = tok;
    }
    if (o->n_backends == 0) return cli_usage("bench", "bench: --backends names no backend");
    return CLI_OK;
}

static void remove_tmpdir(const char *dir)
{
    if (!dir[0]) return;
    for (int k = 0; k < 4096; k++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/out_%d.npy", dir, k);
        if (unlink(path) != 0 && errno == ENOENT) break;
    }
    rmdir(dir);
}

int cmd_bench(int argc, char **argv)
{
    static bench_opts o; /* large; one command per process */
    memset(&o, 0, sizeof o);
    o.nodes = 10000;
    o.edges = 50000;
    o.warmup_ms = 200;
    o.min_ms = 1000;
    o.min_iters = 10;
    o.seed = 1;
    bool synth_opts = false;
    static char default_list[128];
    char *backend_list = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--json")) {
            o.json = true;
        } else if (!strcmp(a, "--profile")) {
            o.profile = true;
        } else if (!strcmp(a, "--allow-tf32")) {
            o.allow_tf32 = true;
        } else if (!strcmp(a, "--backends") || !strcmp(a, "--backend") || !strcmp(a, "--nodes") ||
                   !strcmp(a, "--edges") || !strcmp(a, "--input") || !strcmp(a, "--dim") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--warmup-ms") || !strcmp(a, "--min-iters") || !strcmp(a, "--min-ms") ||
                   !strcmp(a, "--seed") || !strcmp(a, "--reference")) {
            if (i + 1 >= argc) return cli_usage("bench", "bench: %s needs a value", a);
            char *v = argv[++i];
            int64_t x;
            if (!strcmp(a, "--backends") || !strcmp(a, "--backend")) {
                backend_list = v;
            } else if (!strcmp(a, "--reference")) {
                o.reference = v;
            } else if (!strcmp(a, "--nodes") || !strcmp(a, "--edges")) {
                if (!parse_i64(v, 1, (int64_t)1 << 40, &x))
                    return cli_usage("bench", "bench: %s wants a positive integer, got '%s'", a, v);
                if (a[2] == 'n') o.nodes = x;
                else o.edges = x;
                synth_opts = true;
            } else if (!strcmp(a, "--threads")) {
                if (!parse_i64(v, 0, 1024, &x)) return cli_usage("bench", "bench: --threads wants 0..1024, got '%s'", v);
                o.threads = (int)x;
            } else if (!strcmp(a, "--min-iters")) {
                if (!parse_i64(v, 1, 100000000, &x))
                    return cli_usage("bench", "bench: --min-iters wants a positive integer, got '%s'", v);
                o.min_iters = (long)x;
            } else if (!strcmp(a, "--seed")) {
                if (!parse_i64(v, 0, INT64_MAX, &x))
                    return cli_usage("bench", "bench: --seed wants a non-negative integer, got '%s'", v);
                o.seed = (uint64_t)x;
            } else if (!strcmp(a, "--warmup-ms") || !strcmp(a, "--min-ms")) {
                double ms;
                if (!parse_ms(v, &ms)) return cli_usage("bench", "bench: %s wants milliseconds >= 0, got '%s'", a, v);
                if (a[2] == 'w') o.warmup_ms = ms;
                else o.min_ms = ms;
            } else {
                /* NAME=PATH or SYM=V: split in place (argv strings are ours) */
                char *eq = strchr(v, '=');
                if (!eq || eq == v || !eq[1])
                    return cli_usage("bench", "bench: %s wants %s, got '%s'", a,
                                     a[2] == 'i' ? "NAME=PATH" : "SYM=VALUE", v);
                *eq = '\0';
                if (a[2] == 'i') {
                    if (o.n_inputs == BENCH_MAX_INPUTS) return cli_usage("bench", "bench: too many --input");
                    for (int j = 0; j < o.n_inputs; j++)
                        if (!strcmp(o.inputs[j].name, v)) return cli_usage("bench", "bench: input '%s' is given twice", v);
                    o.inputs[o.n_inputs].name = v;
                    o.inputs[o.n_inputs++].path = eq + 1;
                } else {
                    if (!parse_i64(eq + 1, 0, (int64_t)1 << 40, &x))
                        return cli_usage("bench", "bench: --dim %s wants a non-negative integer, got '%s'", v, eq + 1);
                    if (o.n_dims == BENCH_MAX_SYMS) return cli_usage("bench", "bench: too many --dim");
                    o.dim_names[o.n_dims] = v;
                    o.dim_values[o.n_dims++] = x;
                    synth_opts = true;
                }
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage("bench", "bench: unknown option '%s'", a);
        } else if (o.model) {
            return cli_usage("bench", "bench: more than one model given ('%s' and '%s')", o.model, a);
        } else {
            o.model = a;
        }
    }
    if (!o.model) return cli_usage("bench", "bench: no model given");
    if (o.n_inputs && synth_opts)
        return cli_usage("bench", "bench: --input binds the inputs; --nodes, --edges and --dim synthesise them: use one or the other");
    o.plan = cli_is_plan_file(o.model);
    if (o.plan && backend_list)
        return cli_usage("bench", "bench: '%s' is a plan file: it runs on the backends it was compiled for "
                                  "(--backends applies to ONNX models)", o.model);
    if (!backend_list) {
        snprintf(default_list, sizeof default_list, "%s", o.plan ? "ref" : weft_backends_usable());
        backend_list = default_list;
    }
    int rc = parse_backends(&o, backend_list);
    if (rc != CLI_OK) return rc;
    if (o.reference && o.plan)
        return cli_usage("bench", "bench: '%s' is a plan file: it is measured uncompared (--reference applies to "
                                  "ONNX models)", o.model);
    if (!o.reference) o.reference = "ref";
    const char *why = weft_backend_unavailable(o.reference);
    if (why) return cli_usage("bench", "bench: --reference %s: %s", o.reference, why);
    for (int i = 0; i < o.n_backends; i++)
        if (!strcmp(o.backends[i], o.reference)) o.ref_wanted = true;
    if (o.threads == 0) o.threads = available_cores();
    {
        struct stat st;
        if (stat(o.model, &st) != 0) {
            fprintf(stderr, "weft: bench: cannot open model '%s': %s\n", o.model, strerror(errno));
            return CLI_FAIL;
        }
    }

    const char *tmp = getenv("TMPDIR");
    snprintf(o.tmpdir, sizeof o.tmpdir, "%s/weft_bench.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (!mkdtemp(o.tmpdir)) {
        fprintf(stderr, "weft: bench: cannot create a temporary folder '%s': %s\n", o.tmpdir, strerror(errno));
        return CLI_FAIL;
    }
    bench_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        fprintf(stderr, "weft: bench: cannot map shared memory: %s\n", strerror(errno));
        remove_tmpdir(o.tmpdir);
        return CLI_FAIL;
    }
    memset(sh, 0, sizeof *sh);
    static bench_result res[BENCH_MAX_BACKENDS];
    static bench_spec spec;
    int n_res = 0;
    rc = CLI_OK;

    /* the reference first: it decides the inputs and writes the outputs the others must match (a plan
     * file: the plan alone) */
    bench_result ref_res;
    if (o.plan) o.ref_wanted = true;
    run_in_child(&o, o.reference, true, o.ref_wanted, sh, &ref_res);
    spec = sh->spec;
    if (ref_res.state != RES_OK) {
        /* nothing can be compared with: say why, once */
        if (o.plan) fprintf(stderr, "weft: bench: ");
        else if (o.ref_wanted) fprintf(stderr, "weft: bench: %s: ", o.reference);
        else fprintf(stderr, "weft: bench: the reference run (%s) failed: ", o.reference);
        cli_text_str(stderr, ref_res.message);
        fputc('\n', stderr);
        munmap(sh, sizeof *sh);
        remove_tmpdir(o.tmpdir);
        return CLI_FAIL;
    }
    for (int i = 0; i < o.n_backends; i++) {
        bench_result *r = &res[n_res++];
        if (!strcmp(o.backends[i], o.reference)) *r = ref_res;
        else run_in_child(&o, o.backends[i], false, true, sh, r);
        if (r->state != RES_OK) rc = CLI_FAIL;
    }
    munmap(sh, sizeof *sh);
    remove_tmpdir(o.tmpdir);

    if (o.json) print_json(&o, &spec, res, n_res);
    else print_text(&o, &spec, res, n_res);
    for (int i = 0; i < n_res; i++)
        if (res[i].state != RES_OK) {
            fprintf(stderr, "weft: bench: %s: ", res[i].backend);
            cli_text_str(stderr, res[i].message);
            fputc('\n', stderr);
        }
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        fprintf(stderr, "weft: cannot write to stdout: %s\n", strerror(errno));
        rc = CLI_FAIL;
    }
    return rc;
}
