/* traffic/report.c — read reports: counts per reason and the first few problems. */
#include "traffic/report.h"

#include <stdarg.h>
#include <string.h>

void weft_report_init(weft_read_report *r)
{
    memset(r, 0, sizeof *r);
}

/* Returns the new count of this reason. */
static uint64_t count_reason(weft_read_report *r, const char *reason)
{
    for (int i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i].reason, reason) == 0) return ++r->reasons[i].count;
    if (r->n_reasons == WEFT_REPORT_MAX_REASONS) return ++r->other_reasons;
    weft_report_reason *e = &r->reasons[r->n_reasons++];
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->count = 1;
    return 1;
}

/* The problem list keeps the first few of each reason, so one noisy file cannot hide the others. */
#define WEFT_REPORT_PER_REASON 3

static void add_problem(weft_read_report *r, const char *kind, const char *reason, const char *file,
                        const char *unit, uint64_t where, const char *fmt, va_list ap)
{
    if (r->n_problems == WEFT_REPORT_MAX_PROBLEMS) return;
    char detail[200] = "";
    if (fmt) vsnprintf(detail, sizeof detail, fmt, ap);
    char *p = r->problems[r->n_problems++];
    size_t n = sizeof r->problems[0];
    if (where)
        snprintf(p, n, "%s: %s %llu: %s (%s)%s%s", file ? file : "?", unit ? unit : "record",
                 (unsigned long long)where, reason, kind, detail[0] ? ": " : "", detail);
    else
        snprintf(p, n, "%s: %s (%s)%s%s", file ? file : "?", reason, kind, detail[0] ? ": " : "", detail);
}

void weft_report_skip(weft_read_report *r, const char *reason, const char *file, const char *unit,
                      uint64_t where, const char *fmt, ...)
{
    r->skipped++;
    if (count_reason(r, reason) > WEFT_REPORT_PER_REASON) return;
    va_list ap;
    va_start(ap, fmt);
    add_problem(r, "skipped", reason, file, unit, where, fmt, ap);
    va_end(ap);
}

void weft_report_warn(weft_read_report *r, const char *reason, const char *file, const char *unit,
                      uint64_t where, const char *fmt, ...)
{
    r->warnings++;
    if (count_reason(r, reason) > WEFT_REPORT_PER_REASON) return;
    va_list ap;
    va_start(ap, fmt);
    add_problem(r, "kept", reason, file, unit, where, fmt, ap);
    va_end(ap);
}

uint64_t weft_report_count(const weft_read_report *r, const char *reason)
{
    for (int i = 0; i < r->n_reasons; i++)
        if (strcmp(r->reasons[i].reason, reason) == 0) return r->reasons[i].count;
    return 0;
}

void weft_report_not_ip(weft_read_report *r) { r->not_ip++; }

void weft_report_print(FILE *f, const weft_read_report *r)
{
    fprintf(f, "read %llu file(s), %llu record(s)", (unsigned long long)r->files, (unsigned long long)r->records);
    if (r->not_ip)
        fprintf(f, " (%llu of them frames without IP, such as ARP, LLDP or STP: not flows, nothing wrong)",
                (unsigned long long)r->not_ip);
    fprintf(f, "; skipped %llu; warnings %llu\n", (unsigned long long)r->skipped, (unsigned long long)r->warnings);
    for (int i = 0; i < r->n_reasons; i++)
        fprintf(f, "  %-40s %llu\n", r->reasons[i].reason, (unsigned long long)r->reasons[i].count);
    if (r->other_reasons) fprintf(f, "  %-40s %llu\n", "(other reasons)", (unsigned long long)r->other_reasons);
    if (r->n_problems) {
        fprintf(f, "first problems:\n");
        for (int i = 0; i < r->n_problems; i++) fprintf(f, "  %s\n", r->problems[i]);
    }
}

/* JSON string: escapes quotes, backslashes and control bytes; other bytes pass through. */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

void weft_report_json(FILE *f, const weft_read_report *r)
{
    fprintf(f, "{\"files\": %llu, \"records\": %llu, \"not_ip\": %llu, \"skipped\": %llu, \"warnings\": %llu, "
               "\"reasons\": {",
            (unsigned long long)r->files, (unsigned long long)r->records, (unsigned long long)r->not_ip,
            (unsigned long long)r->skipped, (unsigned long long)r->warnings);
    for (int i = 0; i < r->n_reasons; i++) {
        if (i) fputs(", ", f);
        json_str(f, r->reasons[i].reason);
        fprintf(f, ": %llu", (unsigned long long)r->reasons[i].count);
    }
    if (r->other_reasons)
        fprintf(f, "%s\"(other reasons)\": %llu", r->n_reasons ? ", " : "", (unsigned long long)r->other_reasons);
    fputs("}, \"problems\": [", f);
    for (int i = 0; i < r->n_problems; i++) {
        if (i) fputs(", ", f);
        json_str(f, r->problems[i]);
    }
    fputs("]}", f);
}

void weft_set_err(char *err, size_t n, const char *fmt, ...)
{
    if (!err || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}
