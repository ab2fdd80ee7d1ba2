/*
 * bench/floors.c — what the machine itself allows, to read the GNN benchmark against:
 *   - memory bandwidth (STREAM-style copy and triad over arrays far larger than the caches, T threads):
 *     a segment reduction cannot run faster than the bytes it must move divided by this;
 *   - oneDNN's own dnnl_sgemm on given shapes (built with -DFLOORS_DNNL -ldnnl): what the dense layers
 *     cost in the library the onednn backend uses, with nothing of weft around it.
 * Best of several repetitions; prints one JSON object.
 *
 * usage: floors [--threads T] [--mib MIB] [--gemm MxKxN ...]
 *   (oneDNN's threads follow OMP_NUM_THREADS; set it to T)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef FLOORS_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct job {
    float *a, *b, *c;
    size_t lo, hi;
    int kind; /* 0 copy a = b, 1 triad a = b + 3 c, 2 first touch */
} job;

static void *work(void *p)
{
    job *j = p;
    if (j->kind == 0) memcpy(j->a + j->lo, j->b + j->lo, (j->hi - j->lo) * sizeof(float));
    else if (j->kind == 1)
        for (size_t i = j->lo; i < j->hi; i++) j->a[i] = j->b[i] + 3.0f * j->c[i];
    else
        for (size_t i = j->lo; i < j->hi; i++) j->a[i] = 0, j->b[i] = 1, j->c[i] = 2;
    return NULL;
}

/* Seconds of the best of `reps` passes of `kind` over n elements split across t threads. */
static double pass(float *a, float *b, float *c, size_t n, int t, int kind, int reps)
{
    pthread_t th[256];
    job jb[256];
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        for (int k = 0; k < t; k++) {
            jb[k] = (job){a, b, c, n * (size_t)k / (size_t)t, n * (size_t)(k + 1) / (size_t)t, kind};
            pthread_create(&th[k], NULL, work, &jb[k]);
        }
        for (int k = 0; k < t; k++) pthread_join(th[k], NULL);
        double s = now() - t0;
        if (s < best) best = s;
    }
    return best;
}

int main(int argc, char **argv)
{
    int threads = 1;
    size_t mib = 256;
    const char *gemms[64];
    int n_gemm = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mib") && i + 1 < argc) mib = (size_t)atol(argv[++i]);
        else if (!strcmp(argv[i], "--gemm") && i + 1 < argc && n_gemm < 64) gemms[n_gemm++] = argv[++i];
        else {
            fprintf(stderr, "usage: floors [--threads T] [--mib MIB] [--gemm MxKxN ...]\n");
            return 2;
        }
    }
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    size_t n = mib * 1024 * 1024 / sizeof(float);
    float *a = aligned_alloc(64, n * sizeof(float)), *b = aligned_alloc(64, n * sizeof(float)),
          *c = aligned_alloc(64, n * sizeof(float));
    if (!a || !b || !c) {
        fprintf(stderr, "floors: out of memory\n");
        return 1;
    }
    pass(a, b, c, n, threads, 2, 1); /* first touch by the threads that use the pages */
    double copy = pass(a, b, c, n, threads, 0, 8), triad = pass(a, b, c, n, threads, 1, 8);
    printf("{\"threads\":%d,\"array_mib\":%zu,\"copy_gb_per_s\":%.3f,\"triad_gb_per_s\":%.3f", threads, mib,
           2.0 * (double)n * sizeof(float) / copy / 1e9, 3.0 * (double)n * sizeof(float) / triad / 1e9);
    free(a);
    free(b);
    free(c);
    printf(",\"sgemm\":[");
    for (int g = 0; g < n_gemm; g++) {
        long long M, K, N;
        if (sscanf(gemms[g], "%lldx%lldx%lld", &M, &K, &N) != 3 || M <= 0 || K <= 0 || N <= 0) {
            fprintf(stderr, "floors: --gemm wants MxKxN, got '%s'\n", gemms[g]);
            return 2;
        }
#ifdef FLOORS_DNNL
        float *A = malloc((size_t)(M * K) * sizeof(float)), *B = malloc((size_t)(K * N) * sizeof(float)),
              *C = malloc((size_t)(M * N) * sizeof(float));
        if (!A || !B || !C) return 1;
        for (long long i = 0; i < M * K; i++) A[i] = (float)(i % 7) * 0.1f;
        for (long long i = 0; i < K * N; i++) B[i] = (float)(i % 5) * 0.1f;
        double best = 1e30;
        for (int r = 0; r < 7; r++) {
            double t0 = now();
            if (dnnl_sgemm('N', 'N', M, N, K, 1.0f, A, K, B, N, 0.0f, C, N) != dnnl_success) {
                fprintf(stderr, "floors: dnnl_sgemm failed on %s\n", gemms[g]);
                return 1;
            }
            double s = now() - t0;
            if (r > 0 && s < best) best = s; /* the first call sets oneDNN up */
        }
        printf("%s{\"shape\":\"%s\",\"ms\":%.4f,\"gflop_per_s\":%.2f}", g ? "," : "", gemms[g], best * 1e3,
               2.0 * (double)M * (double)K * (double)N / best / 1e9);
        free(A);
        free(B);
        free(C);
#else
        printf("%s{\"shape\":\"%s\",\"ms\":null}", g ? "," : "", gemms[g]);
#endif
    }
    printf("]}\n");
    return 0;
}
