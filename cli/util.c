/* cli/util.c — small helpers the subcommands share: error lines, JSON strings, file names, values. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "compiler/plan.h"
#include "compiler/strbuf.h"
#include "ops/op.h"

int cli_fail(const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *why = weft_last_error();
    /* One line: the library's message must not break it. */
    fputs("weft: ", stderr);
    cli_text_str(stderr, what);
    if (why && why[0]) {
        fputs(": ", stderr);
        cli_text_str(stderr, why);
    }
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr, "weft: %s (see 'weft %s --help')\n", what, cmd ? cmd : "");
    return CLI_USAGE;
}

/* The escaping rules live with the library's reports (compiler/strbuf.c): one definition of what a
 * safe JSON string or terminal line is. */
static void put_sb(FILE *f, void (*fmt)(weft_sb *, const char *), const char *s)
{
    weft_sb b = {0};
    fmt(&b, s);
    if (b.s) fputs(b.s, f);
    else if (fmt == weft_sb_json_str) fputs("\"\"", f);
    free(b.s);
}

void cli_json_str(FILE *f, const char *s) { put_sb(f, weft_sb_json_str, s); }

void cli_text_str(FILE *f, const char *s) { put_sb(f, weft_sb_text_str, s); }

void cli_safe_name(const char *name, char *buf, size_t n)
{
    if (n == 0) return;
    size_t k = 0;
    for (const char *p = name ? name : ""; *p && k + 1 < n; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-';
        buf[k++] = ok ? c : '_';
    }
    buf[k] = '\0';
    /* "", "." and ".." would name no file or a directory; a leading '.' would hide the file. */
    if (k == 0 || buf[0] == '.') {
        if (k + 1 < n) {
            memmove(buf + 1, buf, k + 1);
            buf[0] = '_';
        } else {
            buf[0] = '_';
        }
    }
}

int cli_mkdir_p(const char *path)
{
    char tmp[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(tmp, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char saved = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return -1;
            tmp[i] = saved;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

void cli_format_dims(const int64_t *dims, int rank, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return;
    buf[0] = '\0';
    k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "[");
    for (int i = 0; i < rank && i < WEFT_MAX_RANK; i++)
        k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (rank < 0) k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "?");
    snprintf(buf + k, k < n ? n - k : 0, "]");
}

int64_t cli_numel(const int64_t *dims, int rank)
{
    if (rank < 0 || rank > WEFT_MAX_RANK) return -1;
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) return -1;
        if (dims[i] != 0 && n > INT64_MAX / dims[i]) return -1;
        n *= dims[i];
    }
    return n;
}

void cli_format_elem(weft_dtype t, const void *data, int64_t i, char *buf, size_t n)
{
    switch (t) {
    case WEFT_FLOAT32: case WEFT_FLOAT16: case WEFT_BFLOAT16:
        snprintf(buf, n, "%.9g", weft_load_f64(t, data, i));
        break;
    case WEFT_FLOAT64:
        snprintf(buf, n, "%.17g", weft_load_f64(t, data, i));
        break;
    case WEFT_BOOL:
        snprintf(buf, n, "%s", ((const uint8_t *)data)[i] ? "true" : "false");
        break;
    case WEFT_UINT64:
        snprintf(buf, n, "%llu", (unsigned long long)((const uint64_t *)data)[i]);
        break;
    case WEFT_INT8: case WEFT_UINT8: case WEFT_INT16: case WEFT_UINT16: case WEFT_INT32: case WEFT_UINT32:
    case WEFT_INT64:
        snprintf(buf, n, "%lld", (long long)weft_load_i64(t, data, i));
        break;
    default:
        snprintf(buf, n, "?");
    }
}

void cli_json_elem(FILE *f, weft_dtype t, const void *data, int64_t i)
{
    char buf[64];
    if (weft_dtype_is_float(t)) {
        double v = weft_load_f64(t, data, i);
        /* JSON has no NaN or infinity literals. */
        if (isnan(v)) { fputs("\"nan\"", f); return; }
        if (isinf(v)) { fputs(v > 0 ? "\"inf\"" : "\"-inf\"", f); return; }
    }
    if (t == WEFT_UNDEFINED || t == WEFT_STRING) { fputs("null", f); return; }
    cli_format_elem(t, data, i, buf, sizeof buf);
    fputs(buf, f);
}

double cli_elem_f64(weft_dtype t, const void *data, int64_t i) { return weft_load_f64(t, data, i); }

int64_t cli_elem_i64(weft_dtype t, const void *data, int64_t i) { return weft_load_i64(t, data, i); }

bool cli_dtype_is_float(weft_dtype t) { return weft_dtype_is_float(t); }

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return false;
    *out = v;
    return true;
}

bool cli_is_plan_file(const char *path)
{
    char head[8];
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, "WEFTPLAN", sizeof head) == 0;
}

weft_status cli_load_plan(const char *path, const char *backend, int opt_level, weft_plan **out)
{
    *out = NULL;
    if (cli_is_plan_file(path)) {
        weft_status st = weft_plan_load(path, out);
        if (st || !backend) return st;
        /* the file was lowered for one priority list: another cannot be had without compiling again */
        const weft_backend *want[WEFT_MAX_BACKENDS];
        int n_want = 0;
        st = weft_backend_parse_list(backend, want, WEFT_MAX_BACKENDS, &n_want);
        bool same = !st && n_want == (*out)->n_backends;
        for (int i = 0; same && i < n_want; i++) same = want[i] == (*out)->backends[i];
        if (same) return WEFT_OK;
        char have[256];
        cli_plan_backends(*out, have, sizeof have);
        weft_plan_free(*out);
        *out = NULL;
        if (st) return st;
        return weft_error(WEFT_ERR_INVALID_ARGUMENT,
                          "%s: the plan was compiled for backends %s, not '%s' (compile the model again, or leave "
                          "out --backend)", path, have, backend);
    }
    weft_model *m = NULL;
    weft_status st = weft_model_load(path, &m);
    if (st) return st;
    weft_compile_options o = {backend, opt_level};
    st = weft_compile(m, &o, out);
    weft_model_free(m);
    if (st) weft_error_wrap(st, "%s", path);
    return st;
}

void cli_plan_backends(const weft_plan *p, char *buf, size_t n)
{
    size_t k = 0;
    if (n == 0) return;
    buf[0] = '\0';
    for (int i = 0; i < p->n_backends; i++)
        k += (size_t)snprintf(buf + k, k < n ? n - k : 0, "%s%s", i ? "," : "", p->backends[i]->name);
}
