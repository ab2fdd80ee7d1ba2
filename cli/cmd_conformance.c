/*
 * cli/cmd_conformance.c — `weft conformance DIR`: runs ONNX node tests (DIR/<test>/model.onnx with
 * test_data_set_N/input_N.pb and output_N.pb) and reports PASS / FAIL / UNSUPPORTED per test.
 *
 * Each test runs in a forked child, so a crash or a hang in one test is that test's FAIL rather than
 * the end of the run; -j N keeps N children going. Results are printed in test order whatever order
 * the children finish in, so two runs print the same lines.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ops/op.h"

#define CONF_RTOL 1e-3
#define CONF_ATOL 1e-7

/* The float tolerance: ONNX's node tests' by default, --rtol / --atol for models whose reference was
 * computed elsewhere (PyTorch eager: the project's 1e-4 relative + 1e-5 absolute). */
static double conf_rtol = CONF_RTOL, conf_atol = CONF_ATOL;
#define CONF_REASON_MAX 1000
#define CONF_MAX_FILES 4096 /* input_N.pb / output_N.pb per data set, and data sets per test */

static int conf_threads = 1; /* kernels' threads per test (tests already run -j at a time) */

static void help(FILE *f)
{
    fprintf(f,
            "usage: weft conformance DIR [--backend B] [--filter REGEX] [--expect FILE]\n"
            "                            [--write-passing FILE] [--json] [--timeout SEC] [-j N] [--threads T]\n"
            "                            [--rtol R] [--atol A]\n\n"
            "Runs every test folder of DIR (sorted by name) that holds a model.onnx, in the layout of\n"
            "ONNX's node tests: model.onnx plus test_data_set_*/input_N.pb and output_N.pb. Inputs are\n"
            "bound to the graph inputs by position (by name when the .pb's name is an input's); each data\n"
            "set runs twice on one session (the run that sets its sizes up, then the cached path); outputs\n"
            "are compared by position: dtype and shape exactly, floats within |got-want| <= %g + %g*|want|\n"
            "(NaN matches NaN, infinities must match), integers and bools exactly.\n"
            "Prints 'PASS name', 'FAIL name: reason' or 'UNSUPPORTED name: reason' per test, then\n"
            "'N passed, N failed, N unsupported'.\n\n"
            "  --backend B            backends in priority order, e.g. onednn or openblas,ref (default:\n"
            "                         every backend of this build; steps a backend does not take run on ref)\n"
            "  --threads T            threads each test's kernels may use (default 1)\n"
            "  --filter REGEX         only tests whose name matches REGEX (POSIX extended, searched)\n"
            "  --expect FILE          tests expected to pass (one per line, '#' comments); listed tests\n"
            "                         that do not pass are printed as REGRESSION lines and make the exit\n"
            "                         status 1; unlisted failures do not\n"
            "  --write-passing FILE   write the sorted names of the passing tests to FILE\n"
            "  --json                 print one JSON object instead of the lines\n"
            "  --timeout SEC          a test running longer fails (default 60)\n"
            "  --rtol R, --atol A     the float tolerance |got-want| <= A + R*|want| (defaults above)\n"
            "  -j N                   run N tests at a time (default 1)\n"
            "  --help                 show this help\n\n"
            "Exit status without --expect: 0 when no test FAILed.\n",
            CONF_ATOL, CONF_RTOL);
}

/* --- one test, run inside the child ---------------------------------------------------------------- */

typedef enum { R_PASS = 'P', R_FAIL = 'F', R_UNSUP = 'U' } result_kind;

typedef struct result {
    result_kind kind;
    char reason[CONF_REASON_MAX + 1];
} result;

static result_kind set_result(result *r, weft_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A failure of the library (st != OK) is UNSUPPORTED when weft said so, else FAIL; st == OK marks a
 * failure of the test itself (a mismatch, a missing file). */
static result_kind set_result(result *r, weft_status st, const char *fmt, ...)
{
    char what[CONF_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->kind = st == WEFT_ERR_UNSUPPORTED ? R_UNSUP : R_FAIL;
    const char *why = weft_last_error();
    if (st != WEFT_OK && why && why[0]) snprintf(r->reason, sizeof r->reason, "%s: %s", what, why);
    else if (st != WEFT_OK) snprintf(r->reason, sizeof r->reason, "%s: %s", what, weft_status_name(st));
    else snprintf(r->reason, sizeof r->reason, "%s", what);
    return r->kind;
}

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* How many of prefix_0.pb, prefix_1.pb, ... exist in dir (numbering is contiguous in ONNX's layout). */
static int count_pb(const char *dir, const char *prefix)
{
    char path[4096];
    int n = 0;
    while (n < CONF_MAX_FILES) {
        snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        if (!is_file(path)) break;
        n++;
    }
    return n;
}

typedef struct strlist {
    char **v;
    int n, cap;
} strlist;

static bool sl_push(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return false;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return false;
    l->n++;
    return true;
}

static void sl_free(strlist *l)
{
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* test_data_set_2 before test_data_set_10. */
static int cmp_dataset(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    long nx = strtol(x + strlen("test_data_set_"), NULL, 10), ny = strtol(y + strlen("test_data_set_"), NULL, 10);
    if (nx != ny) return nx < ny ? -1 : 1;
    return strcmp(x, y);
}

/* Compares one output. Returns true when equal; else writes why into r. */
static bool compare(result *r, int idx, const weft_tensor *got, const weft_tensor *want)
{
    const char *name = want->name && want->name[0] ? want->name : (got->name ? got->name : "?");
    char gd[256], wd[256];
    if (got->dtype != want->dtype) {
        set_result(r, WEFT_OK, "output %d '%s': dtype %s, expected %s", idx, name, weft_dtype_name(got->dtype),
                   weft_dtype_name(want->dtype));
        return false;
    }
    bool same_shape = got->rank == want->rank;
    for (int d = 0; same_shape && d < got->rank; d++) same_shape = got->dims[d] == want->dims[d];
    cli_format_dims(got->dims, got->rank, gd, sizeof gd);
    cli_format_dims(want->dims, want->rank, wd, sizeof wd);
    if (!same_shape) {
        set_result(r, WEFT_OK, "output %d '%s': shape %s, expected %s", idx, name, gd, wd);
        return false;
    }
    int64_t n = cli_numel(want->dims, want->rank);
    size_t es = weft_dtype_size(want->dtype);
    if (n < 0 || es == 0) {
        set_result(r, WEFT_OK, "output %d '%s': cannot compare dtype %s shape %s", idx, name,
                   weft_dtype_name(want->dtype), wd);
        return false;
    }
    /* Never read past either buffer, whatever the headers claimed. */
    if ((uint64_t)n > want->nbytes / es || (uint64_t)n > got->nbytes / es || (n > 0 && (!got->data || !want->data))) {
        set_result(r, WEFT_OK, "output %d '%s': buffer holds %zu bytes (expected %zu) for %lld elements of %s", idx,
                   name, got->nbytes, want->nbytes, (long long)n, weft_dtype_name(want->dtype));
        return false;
    }
    bool is_float = weft_dtype_is_float(want->dtype);
    int64_t bad = 0, first = -1;
    for (int64_t i = 0; i < n; i++) {
        bool ok;
        if (is_float) {
            double g = weft_load_f64(got->dtype, got->data, i), w = weft_load_f64(want->dtype, want->data, i);
            if (isnan(w) || isnan(g)) ok = isnan(w) && isnan(g);
            else if (isinf(w) || isinf(g)) ok = g == w;
            else ok = fabs(g - w) <= conf_atol + conf_rtol * fabs(w);
        } else if (want->dtype == WEFT_BOOL) {
            ok = (((const uint8_t *)got->data)[i] != 0) == (((const uint8_t *)want->data)[i] != 0);
        } else {
            ok = memcmp((const char *)got->data + i * (int64_t)es, (const char *)want->data + i * (int64_t)es, es) == 0;
        }
        if (!ok) {
            if (first < 0) first = i;
            bad++;
        }
    }
    if (bad == 0) return true;
    char gv[64], wv[64];
    cli_format_elem(want->dtype, got->data, first, gv, sizeof gv);
    cli_format_elem(want->dtype, want->data, first, wv, sizeof wv);
    set_result(r, WEFT_OK, "output %d '%s': %lld of %lld values differ; first at flat index %lld: got %s, expected %s",
               idx, name, (long long)bad, (long long)n, (long long)first, gv, wv);
    return false;
}

/* Runs one data set on an open session. */
static result_kind run_dataset(result *r, weft_plan *p, weft_session *s, const char *ds_path, const char *ds)
{
    int n_in = count_pb(ds_path, "input"), n_exp = count_pb(ds_path, "output");
    int n_graph_in = weft_plan_num_inputs(p), n_graph_out = weft_plan_num_outputs(p);
    if (n_in > n_graph_in)
        return set_result(r, WEFT_OK, "%s: %d input files for %d graph inputs", ds, n_in, n_graph_in);
    if (n_exp > n_graph_out)
        return set_result(r, WEFT_OK, "%s: %d expected outputs for %d graph outputs", ds, n_exp, n_graph_out);
    if (n_exp == 0) return set_result(r, WEFT_OK, "%s: no output_N.pb files", ds);

    weft_tensor *in = calloc((size_t)n_in + 1, sizeof *in), *call_in = calloc((size_t)n_in + 1, sizeof *call_in);
    weft_tensor *want = calloc((size_t)n_exp, sizeof *want), *got = calloc((size_t)n_exp, sizeof *got);
    result_kind k = R_PASS;
    char path[4096];
    if (!in || !call_in || !want || !got) {
        k = set_result(r, WEFT_OK, "out of memory");
        goto done;
    }
    for (int j = 0; j < n_in && k == R_PASS; j++) {
        snprintf(path, sizeof path, "%s/input_%d.pb", ds_path, j);
        weft_status st = weft_tensor_load(path, &in[j]);
        if (st != WEFT_OK) {
            k = set_result(r, st, "%s: cannot read input_%d.pb", ds, j);
            break;
        }
        call_in[j] = in[j];
        /* By name when the file names a graph input, else by position. */
        weft_tensor info;
        bool named = false;
        for (int g = 0; in[j].name && g < n_graph_in && !named; g++)
            if (weft_plan_input_info(p, g, &info) == WEFT_OK && info.name && strcmp(info.name, in[j].name) == 0)
                named = true;
        if (!named) {
            st = weft_plan_input_info(p, j, &info);
            if (st != WEFT_OK) {
                k = set_result(r, st, "%s: graph input %d", ds, j);
                break;
            }
            call_in[j].name = info.name;
        }
    }
    for (int j = 0; j < n_exp && k == R_PASS; j++) {
        snprintf(path, sizeof path, "%s/output_%d.pb", ds_path, j);
        weft_status st = weft_tensor_load(path, &want[j]);
        if (st != WEFT_OK) {
            k = set_result(r, st, "%s: cannot read output_%d.pb", ds, j);
            break;
        }
        /* Position decides, except when the file names one of the graph outputs. */
        weft_tensor info;
        got[j].name = NULL;
        if (weft_plan_output_info(p, j, &info) != WEFT_OK || !want[j].name || !info.name ||
            strcmp(info.name, want[j].name) != 0) {
            for (int g = 0; want[j].name && g < n_graph_out; g++)
                if (weft_plan_output_info(p, g, &info) == WEFT_OK && info.name && strcmp(info.name, want[j].name) == 0)
                    got[j].name = info.name;
        }
    }
    /* Twice: the first run sets these sizes up, the second takes the path every later run takes. */
    for (int pass = 0; pass < 2 && k == R_PASS; pass++) {
        const char *which = pass ? " (second run)" : "";
        weft_status st = weft_session_run(s, call_in, (size_t)n_in, got, (size_t)n_exp);
        if (st != WEFT_OK) k = set_result(r, st, "%s: run%s", ds, which);
        for (int j = 0; j < n_exp && k == R_PASS; j++) {
            if (!compare(r, j, &got[j], &want[j])) {
                char tmp[CONF_REASON_MAX + 1];
                snprintf(tmp, sizeof tmp, "%s%s: %s", ds, which, r->reason);
                snprintf(r->reason, sizeof r->reason, "%s", tmp);
                k = r->kind = R_FAIL;
            }
        }
    }
done:
    for (int j = 0; in && j < n_in; j++) weft_tensor_release(&in[j]);
    for (int j = 0; want && j < n_exp; j++) weft_tensor_release(&want[j]);
    free(in);
    free(call_in);
    free(want);
    free(got);
    return k;
}

static void run_test(result *r, const char *test_dir, const char *backend)
{
    char path[4096];
    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_session *s = NULL;
    strlist sets = {0};
    r->kind = R_PASS;
    r->reason[0] = '\0';

    snprintf(path, sizeof path, "%s/model.onnx", test_dir);
    weft_status st = weft_model_load(path, &m);
    if (st != WEFT_OK) { set_result(r, st, "load"); goto done; }
    weft_compile_options opts = {backend, 1};
    st = weft_compile(m, &opts, &p);
    if (st != WEFT_OK) { set_result(r, st, "compile"); goto done; }
    weft_model_free(m);
    m = NULL;
    weft_session_options so = {conf_threads, 0};
    st = weft_session_create_with_options(p, &so, &s);
    if (st != WEFT_OK) { set_result(r, st, "session"); goto done; }

    DIR *d = opendir(test_dir);
    if (!d) { set_result(r, WEFT_OK, "cannot list '%s': %s", test_dir, strerror(errno)); goto done; }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "test_data_set_", 14) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", test_dir, e->d_name);
        if (!is_dir(path)) continue;
        if (sets.n >= CONF_MAX_FILES || !sl_push(&sets, e->d_name)) {
            closedir(d);
            set_result(r, WEFT_OK, "too many data sets or out of memory");
            goto done;
        }
    }
    closedir(d);
    if (sets.n == 0) { set_result(r, WEFT_OK, "no test_data_set_* folder"); goto done; }
    qsort(sets.v, (size_t)sets.n, sizeof *sets.v, cmp_dataset);
    for (int i = 0; i < sets.n; i++) {
        snprintf(path, sizeof path, "%s/%s", test_dir, sets.v[i]);
        if (run_dataset(r, p, s, path, sets.v[i]) != R_PASS) break;
    }
done:
    sl_free(&sets);
    weft_session_free(s);
    weft_plan_free(p);
    weft_model_free(m);
    /* One line per test: the library's message must not break it. */
    for (char *c = r->reason; *c; c++)
        if (*c == '\n' || *c == '\r') *c = ' ';
}

/* --- the scheduler, in the parent ------------------------------------------------------------------ */

typedef struct test {
    char *name;
    bool done;
    result res;
} test;

typedef struct slot {
    pid_t pid;
    int fd;
    int test;
    double start;
    char buf[CONF_REASON_MAX + 2];
    size_t len;
} slot;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void start_test(slot *sl, test *t, int idx, const char *dir, const char *backend)
{
    int fds[2];
    sl->test = idx;
    sl->len = 0;
    sl->pid = -1;
    sl->fd = -1;
    if (pipe(fds) != 0) {
        t->done = true;
        t->res.kind = R_FAIL;
        snprintf(t->res.reason, sizeof t->res.reason, "cannot create a pipe: %s", strerror(errno));
        return;
    }
    fflush(NULL); /* so the child inherits no buffered output to repeat */
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        t->done = true;
        t->res.kind = R_FAIL;
        snprintf(t->res.reason, sizeof t->res.reason, "cannot fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, t->name);
        result r;
        run_test(&r, path, backend);
        char msg[CONF_REASON_MAX + 2];
        int n = snprintf(msg, sizeof msg, "%c%s", (char)r.kind, r.reason);
        if (n < 0) n = 0;
        if ((size_t)n >= sizeof msg) n = (int)sizeof msg - 1;
        bool sent = write_all(fds[1], msg, (size_t)n);
        close(fds[1]);
        /* exit, not _exit: under a sanitizer build the leak check runs at exit, and a finding there
         * turns into a nonzero status the parent reports. Nothing is buffered (flushed before fork). */
        exit(sent ? 0 : 3);
    }
    close(fds[1]);
    sl->pid = pid;
    sl->fd = fds[0];
    sl->start = now_s();
}

/* The child closed its pipe (or must be stopped): reap it and record the result. */
static void finish_test(slot *sl, test *tests, bool timed_out, int timeout)
{
    test *t = &tests[sl->test];
    int status = 0;
    if (timed_out) kill(sl->pid, SIGKILL);
    while (waitpid(sl->pid, &status, 0) < 0 && errno == EINTR) {}
    close(sl->fd);
    t->done = true;
    if (timed_out) {
        t->res.kind = R_FAIL;
        snprintf(t->res.reason, sizeof t->res.reason, "timed out after %ds", timeout);
    } else if (WIFSIGNALED(status)) {
        t->res.kind = R_FAIL;
        snprintf(t->res.reason, sizeof t->res.reason, "crashed with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && sl->len > 0 &&
               (sl->buf[0] == R_PASS || sl->buf[0] == R_FAIL || sl->buf[0] == R_UNSUP)) {
        t->res.kind = (result_kind)sl->buf[0];
        sl->buf[sl->len] = '\0';
        snprintf(t->res.reason, sizeof t->res.reason, "%s", sl->buf + 1);
    } else if (sl->len > 0 && WIFEXITED(status)) {
        t->res.kind = R_FAIL;
        sl->buf[sl->len] = '\0';
        snprintf(t->res.reason, sizeof t->res.reason,
                 "test process exited with status %d after its result (a sanitizer finding?): %s%s%s",
                 WEXITSTATUS(status), sl->buf[0] == R_PASS ? "PASS" : sl->buf[0] == R_UNSUP ? "UNSUPPORTED" : "FAIL",
                 sl->buf[1] ? ": " : "", sl->buf + 1);
    } else {
        t->res.kind = R_FAIL;
        snprintf(t->res.reason, sizeof t->res.reason, "test process exited with status %d without a result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    sl->pid = -1;
    sl->fd = -1;
}

static void run_all(test *tests, int n, const char *dir, const char *backend, int jobs, int timeout,
                    void (*report)(test *, void *), void *user)
{
    slot *slots = calloc((size_t)jobs, sizeof *slots);
    struct pollfd *pfd = calloc((size_t)jobs, sizeof *pfd);
    if (!slots || !pfd) {
        /* Without room to schedule, every test fails the same clear way. */
        for (int i = 0; i < n; i++) {
            tests[i].done = true;
            tests[i].res.kind = R_FAIL;
            snprintf(tests[i].res.reason, sizeof tests[i].res.reason, "out of memory");
            report(&tests[i], user);
        }
        free(slots);
        free(pfd);
        return;
    }
    for (int j = 0; j < jobs; j++) slots[j].pid = -1;
    int next = 0, reported = 0, running = 0;
    while (reported < n) {
        while (running < jobs && next < n) {
            int j = 0;
            while (slots[j].pid >= 0) j++;
            start_test(&slots[j], &tests[next], next, dir, backend);
            next++;
            if (slots[j].pid >= 0) running++;
        }
        /* Print every finished test that is next in order. */
        while (reported < n && tests[reported].done) report(&tests[reported++], user);
        if (running == 0) continue;

        int np = 0;
        double t_now = now_s(), wait_s = 0.2;
        for (int j = 0; j < jobs; j++) {
            if (slots[j].pid < 0) continue;
            double left = slots[j].start + timeout - t_now;
            if (left < wait_s) wait_s = left < 0 ? 0 : left;
            pfd[np].fd = slots[j].fd;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            np++;
        }
        int pr = poll(pfd, (nfds_t)np, (int)(wait_s * 1000) + 1);
        if (pr < 0 && errno != EINTR) break;
        t_now = now_s();
        for (int j = 0; j < jobs; j++) {
            slot *sl = &slots[j];
            if (sl->pid < 0) continue;
            short rev = 0;
            for (int q = 0; q < np; q++)
                if (pfd[q].fd == sl->fd) rev = pfd[q].revents;
            if (rev & (POLLIN | POLLHUP | POLLERR)) {
                char tmp[512];
                ssize_t got = read(sl->fd, tmp, sizeof tmp);
                if (got > 0) {
                    size_t room = sizeof sl->buf - 1 - sl->len;
                    size_t take = (size_t)got < room ? (size_t)got : room;
                    memcpy(sl->buf + sl->len, tmp, take);
                    sl->len += take;
                } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
                    finish_test(sl, tests, false, timeout);
                    running--;
                    continue;
                }
            }
            if (t_now - sl->start >= timeout) {
                finish_test(sl, tests, true, timeout);
                running--;
            }
        }
    }
    free(slots);
    free(pfd);
}

/* --- output ------------------------------------------------------------------------------------------ */

typedef struct out_state {
    bool json;
    int n_pass, n_fail, n_unsup;
    bool first;
} out_state;

static void report_test(test *t, void *user)
{
    out_state *o = user;
    const char *word = t->res.kind == R_PASS ? "PASS" : t->res.kind == R_UNSUP ? "UNSUPPORTED" : "FAIL";
    if (t->res.kind == R_PASS) o->n_pass++;
    else if (t->res.kind == R_UNSUP) o->n_unsup++;
    else o->n_fail++;
    if (o->json) {
        printf("%s{\"name\":", o->first ? "" : ",");
        o->first = false;
        cli_json_str(stdout, t->name);
        printf(",\"status\":\"%s\"", t->res.kind == R_PASS ? "pass" : t->res.kind == R_UNSUP ? "unsupported" : "fail");
        if (t->res.kind != R_PASS) {
            printf(",\"reason\":");
            cli_json_str(stdout, t->res.reason);
        }
        printf("}");
    } else {
        printf("%s ", word);
        cli_text_str(stdout, t->name);
        if (t->res.kind != R_PASS) {
            printf(": ");
            cli_text_str(stdout, t->res.reason);
        }
        putchar('\n');
        fflush(stdout);
    }
}

/* Reads the --expect list: one name a line; '#' starts a comment; blank lines are skipped. */
static bool read_expect(const char *path, strlist *out)
{
    FILE *f = fopen(path, "r");
    if (!f) return false;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        char *h = strchr(line, '#');
        if (h) *h = '\0';
        char *s = line, *e = line + strlen(line);
        while (*s == ' ' || *s == '\t') s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) e--;
        *e = '\0';
        if (*s && !sl_push(out, s)) {
            fclose(f);
            return false;
        }
    }
    bool ok = !ferror(f);
    fclose(f);
    return ok;
}

/* The smallest model (y = Identity(x), float[1], opset 13) as serialized by ONNX: compiling it tells
 * whether the backend exists at all, so a mistyped --backend is one clear error and not a run in which
 * every test is UNSUPPORTED. */
static const unsigned char probe_model[] = {
    8,  7,  58, 59, 10, 16, 10, 1,  120, 18, 1,  121, 34, 8,  73, 100, 101, 110, 116, 105, 116, 121, 18,
    5,  112, 114, 111, 98, 101, 90, 15, 10, 1,  120, 18, 10, 10, 8,  8,  1,   18,  4,  10,  2,  8,   1,
    98, 15, 10, 1,  121, 18, 10, 10, 8,  8,  1,  18, 4,  10, 2,  8,  1,  66,  4,   10,  0,  16,  13};

static bool backend_available(const char *backend)
{
    weft_model *m = NULL;
    weft_plan *p = NULL;
    weft_compile_options opts = {backend, 1};
    if (weft_model_load_from_buffer(probe_model, sizeof probe_model, NULL, &m) != WEFT_OK) return true;
    weft_status st = weft_compile(m, &opts, &p);
    weft_plan_free(p);
    weft_model_free(m);
    return st == WEFT_OK;
}

int cmd_conformance(int argc, char **argv)
{
    const char *dir = NULL, *backend = NULL, *filter = NULL, *expect_path = NULL, *passing_path = NULL;
    bool json = false;
    long timeout = 60, jobs = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            help(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (strcmp(a, "--backend") == 0 || strcmp(a, "--filter") == 0 || strcmp(a, "--expect") == 0 ||
                   strcmp(a, "--write-passing") == 0 || strcmp(a, "--timeout") == 0 || strcmp(a, "-j") == 0 ||
                   strcmp(a, "--threads") == 0 || strcmp(a, "--rtol") == 0 || strcmp(a, "--atol") == 0) {
            if (i + 1 >= argc) return cli_usage("conformance", "conformance: %s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--backend") == 0) backend = v;
            else if (strcmp(a, "--filter") == 0) filter = v;
            else if (strcmp(a, "--expect") == 0) expect_path = v;
            else if (strcmp(a, "--write-passing") == 0) passing_path = v;
            else if (strcmp(a, "--rtol") == 0 || strcmp(a, "--atol") == 0) {
                char *end = NULL;
                double t = strtod(v, &end);
                if (!end || *end || !(t >= 0 && t <= 1))
                    return cli_usage("conformance", "conformance: %s wants a number in 0..1, got '%s'", a, v);
                if (a[2] == 'r') conf_rtol = t;
                else conf_atol = t;
            } else if (strcmp(a, "--threads") == 0) {
                long t = 1;
                if (!cli_parse_int(v, 1, 1024, &t))
                    return cli_usage("conformance", "conformance: --threads wants a number in 1..1024, got '%s'", v);
                conf_threads = (int)t;
            } else if (strcmp(a, "--timeout") == 0) {
                if (!cli_parse_int(v, 1, 86400, &timeout))
                    return cli_usage("conformance", "conformance: --timeout wants whole seconds in 1..86400, got '%s'", v);
            } else if (!cli_parse_int(v, 1, 256, &jobs)) {
                return cli_usage("conformance", "conformance: -j wants a number in 1..256, got '%s'", v);
            }
        } else if (strncmp(a, "-j", 2) == 0 && a[2]) {
            if (!cli_parse_int(a + 2, 1, 256, &jobs))
                return cli_usage("conformance", "conformance: -j wants a number in 1..256, got '%s'", a + 2);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage("conformance", "conformance: unknown option '%s'", a);
        } else if (dir) {
            return cli_usage("conformance", "conformance: more than one folder given ('%s' and '%s')", dir, a);
        } else {
            dir = a;
        }
    }
    if (!dir) return cli_usage("conformance", "conformance: no test folder given");

    regex_t re;
    bool have_re = false;
    if (filter) {
        int rc = regcomp(&re, filter, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char msg[256];
            regerror(rc, &re, msg, sizeof msg);
            return cli_usage("conformance", "conformance: bad --filter '%s': %s", filter, msg);
        }
        have_re = true;
    }

    strlist expect = {0}, names = {0};
    int rc = CLI_OK;
    test *tests = NULL;
    if (backend && !backend_available(backend)) {
        rc = cli_fail("--backend");
        goto out;
    }
    if (expect_path && !read_expect(expect_path, &expect)) {
        fprintf(stderr, "weft: cannot read --expect file '%s': %s\n", expect_path, strerror(errno));
        rc = CLI_FAIL;
        goto out;
    }

    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "weft: cannot open test folder '%s': %s\n", dir, strerror(errno));
        rc = CLI_FAIL;
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s/model.onnx", dir, e->d_name) >= sizeof path) continue;
        if (!is_file(path)) continue;
        if (have_re && regexec(&re, e->d_name, 0, NULL, 0) != 0) continue;
        if (!sl_push(&names, e->d_name)) {
            closedir(d);
            fprintf(stderr, "weft: out of memory\n");
            rc = CLI_FAIL;
            goto out;
        }
    }
    closedir(d);
    if (names.n > 1) qsort(names.v, (size_t)names.n, sizeof *names.v, cmp_str);

    tests = calloc((size_t)names.n + 1, sizeof *tests);
    if (!tests) {
        fprintf(stderr, "weft: out of memory\n");
        rc = CLI_FAIL;
        goto out;
    }
    for (int i = 0; i < names.n; i++) tests[i].name = names.v[i];

    out_state o = {json, 0, 0, 0, true};
    if (json) {
        printf("{\"dir\":");
        cli_json_str(stdout, dir);
        printf(",\"results\":[");
    }
    run_all(tests, names.n, dir, backend, (int)jobs, (int)timeout, report_test, &o);

    /* Listed tests that were selected (by the filter) but did not pass. */
    strlist regressions = {0};
    for (int i = 0; i < expect.n; i++) {
        if (have_re && regexec(&re, expect.v[i], 0, NULL, 0) != 0) continue;
        const test *t = NULL;
        for (int k = 0; k < names.n && !t; k++)
            if (strcmp(tests[k].name, expect.v[i]) == 0) t = &tests[k];
        if (t && t->done && t->res.kind == R_PASS) continue;
        char line[CONF_REASON_MAX + 64];
        snprintf(line, sizeof line, "%s", !t ? "not found" : !t->done ? "not run" : t->res.reason);
        if (!sl_push(&regressions, expect.v[i]) || !sl_push(&regressions, line)) {
            fprintf(stderr, "weft: out of memory\n");
            rc = CLI_FAIL;
        }
    }

    if (passing_path) {
        FILE *f = fopen(passing_path, "w");
        bool ok = f != NULL;
        for (int i = 0; ok && i < names.n; i++)
            if (tests[i].done && tests[i].res.kind == R_PASS) ok = fprintf(f, "%s\n", tests[i].name) >= 0;
        if (f && fclose(f) != 0) ok = false;
        if (!ok) {
            fprintf(stderr, "weft: cannot write --write-passing file '%s': %s\n", passing_path, strerror(errno));
            rc = CLI_FAIL;
        }
    }

    if (json) {
        printf("],\"regressions\":[");
        for (int i = 0; i + 1 < regressions.n; i += 2) {
            printf("%s{\"name\":", i ? "," : "");
            cli_json_str(stdout, regressions.v[i]);
            printf(",\"reason\":");
            cli_json_str(stdout, regressions.v[i + 1]);
            printf("}");
        }
        printf("],\"passed\":%d,\"failed\":%d,\"unsupported\":%d}\n", o.n_pass, o.n_fail, o.n_unsup);
    } else {
        for (int i = 0; i + 1 < regressions.n; i += 2) {
            printf("REGRESSION ");
            cli_text_str(stdout, regressions.v[i]);
            printf(": ");
            cli_text_str(stdout, regressions.v[i + 1]);
            putchar('\n');
        }
        printf("%d passed, %d failed, %d unsupported\n", o.n_pass, o.n_fail, o.n_unsup);
    }
    if (rc == CLI_OK) {
        if (expect_path) rc = regressions.n ? CLI_FAIL : CLI_OK;
        else rc = o.n_fail ? CLI_FAIL : CLI_OK;
    }
    sl_free(&regressions);
out:
    if (have_re) regfree(&re);
    free(tests);
    sl_free(&names);
    sl_free(&expect);
    if (fflush(stdout) != 0 && rc == CLI_OK) rc = CLI_FAIL;
    return rc;
}
