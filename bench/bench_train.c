/* bench/bench_train.c — the time of one training step (forward, loss, backward, Adam) of a model that
 * computes its own loss, on given inputs, with weft_trainer:
 *
 *   bench_train MODEL.onnx --loss NAME --input NAME=PATH ... [--threads T] [--steps N] [--warmup N] [--lr X]
 *
 * Prints one JSON line: the median, p10 and p90 step time in ms, the steps timed, the first and last
 * loss, the trainer's set-up time and the peak resident set. Made by bench/run_train_bench.sh next to PyTorch's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* The process's peak resident set (VmHWM): getrusage's ru_maxrss would carry the peak of whatever
 * process exec'd this one (Linux keeps it across execve), such as a Python driver holding PyTorch. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cmp_prof(const void *a, const void *b)
{
    double x = ((const weft_step_profile *)a)->total_ms, y = ((const weft_step_profile *)b)->total_ms;
    return (x < y) - (x > y);
}

/* The `top` slowest steps of the training plan, ms per step, on stderr. */
static void print_profile(const weft_trainer *t, int top, int runs)
{
    const weft_step_profile *p;
    int n = 0;
    if (weft_trainer_profile(t, &p, &n) != WEFT_OK || n <= 0) return;
    weft_step_profile *c = malloc((size_t)n * sizeof *c);
    if (!c) return;
    memcpy(c, p, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_prof);
    double total = 0;
    for (int i = 0; i < n; i++) total += c[i].total_ms;
    fprintf(stderr, "profile: %d steps, %.2f ms per training step\n", n, total / runs);
    for (int i = 0; i < n && i < top; i++)
        fprintf(stderr, "%8.3f ms %5.1f%%  %-20s %-8s %s\n", c[i].total_ms / runs, 100 * c[i].total_ms / total,
                c[i].op_type, c[i].backend, c[i].name);
    free(c);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_train MODEL --loss NAME --input NAME=PATH ... [--threads T] [--steps N] "
                        "[--warmup N] [--lr X] [--profile TOP] [--describe 1]\n");
        return 2;
    }
    const char *loss = "loss";
    int threads = 0, steps = 20, warmup = 3, profile = 0, describe = 0;
    double lr = 1e-3;
    weft_tensor in[32];
    char *names[32];
    int n_in = 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--loss") == 0) loss = v;
        else if (strcmp(a, "--threads") == 0) threads = atoi(v);
        else if (strcmp(a, "--steps") == 0) steps = atoi(v);
        else if (strcmp(a, "--warmup") == 0) warmup = atoi(v);
        else if (strcmp(a, "--lr") == 0) lr = atof(v);
        else if (strcmp(a, "--profile") == 0) profile = atoi(v);
        else if (strcmp(a, "--describe") == 0) describe = atoi(v);
        else if (strcmp(a, "--input") == 0 && n_in < 32) {
            const char *eq = strchr(v, '=');
            if (!eq) return fprintf(stderr, "--input NAME=PATH\n"), 2;
            names[n_in] = strndup(v, (size_t)(eq - v));
            if (weft_tensor_load(eq + 1, &in[n_in])) return fprintf(stderr, "%s\n", weft_last_error()), 1;
            free((char *)in[n_in].name); /* the file's own name: the input is bound by the given one */
            in[n_in].name = names[n_in];
            n_in++;
        } else {
            return fprintf(stderr, "unknown option %s\n", a), 2;
        }
    }
    if (steps < 1) steps = 1;
    weft_model *m = NULL;
    if (weft_model_load(argv[1], &m)) return fprintf(stderr, "%s\n", weft_last_error()), 1;
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.loss = loss;
    o.lr = lr;
    o.threads = threads;
    o.profile = profile > 0;
    weft_trainer *t = NULL;
    double t0 = now_ms();
    if (weft_trainer_create(m, &o, &t)) return fprintf(stderr, "%s\n", weft_last_error()), 1;
    double setup = now_ms() - t0;
    double *ms = malloc((size_t)steps * sizeof *ms), first = 0, last = 0;
    for (int s = 0; s < warmup + steps; s++) {
        double a = now_ms(), l = 0;
        if (weft_trainer_step(t, in, (size_t)n_in, &l)) return fprintf(stderr, "%s\n", weft_last_error()), 1;
        double b = now_ms();
        if (s == 0) first = l;
        last = l;
        if (s >= warmup) ms[s - warmup] = b - a;
    }
    qsort(ms, (size_t)steps, sizeof *ms, cmp_d);
    printf("{\"median_ms\": %.3f, \"p10_ms\": %.3f, \"p90_ms\": %.3f, \"steps\": %d, \"first_loss\": %.9g, "
           "\"last_loss\": %.9g, \"setup_ms\": %.1f, \"peak_rss_mib\": %.1f, \"params\": %d}\n",
           ms[steps / 2], ms[steps / 10], ms[(steps * 9) / 10], steps, first, last, setup, peak_rss_mib(),
           weft_trainer_num_params(t));
    free(ms);
    if (describe) {
        char *d = NULL;
        if (weft_trainer_describe(t, WEFT_DESCRIBE_STEPS, &d) == WEFT_OK) fputs(d, stderr);
        free(d);
    }
    if (profile) print_profile(t, profile, warmup + steps);
    weft_trainer_free(t);
    weft_model_free(m);
    for (int i = 0; i < n_in; i++) weft_tensor_release(&in[i]); /* frees names[i] too */
    return 0;
}
