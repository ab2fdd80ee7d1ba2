/*
 * compiler/plan_describe.c — weft_plan_describe: what the compiler made of a model. The schedule's op
 * histogram (so a user sees that scatter chains became ai.weft.SegmentReduce), the session buffers
 * that temporaries share, the constants the plan carries, and inputs and outputs with symbolic shapes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "strbuf.h"

typedef struct step_count {
    const char *domain, *op;
    int n;
} step_count;

/* Counts the steps of p and its subplans into counts[0..*n) (at most cap kinds). */
static void count_steps(const struct weft_plan *p, step_count *counts, int *n, int cap, int *total)
{
    for (int i = 0; i < p->n_steps; i++) {
        const weft_step *s = &p->steps[i];
        (*total)++;
        int k = 0;
        while (k < *n && !(strcmp(counts[k].op, s->info.op_type) == 0 && strcmp(counts[k].domain, s->info.domain) == 0)) k++;
        if (k == *n && *n < cap) counts[(*n)++] = (step_count){s->info.domain, s->info.op_type, 0};
        if (k < *n) counts[k].n++;
        for (int j = 0; j < s->n_sub; j++) count_steps(s->sub[j], counts, n, cap, total);
    }
}

static int by_count(const void *a, const void *b)
{
    const step_count *x = a, *y = b;
    if (x->n != y->n) return y->n - x->n;
    return strcmp(x->op, y->op);
}

static void shape_str(const struct weft_plan *p, const weft_slot *s, char *buf, size_t n)
{
    weft_shape_format_sym(&s->shape, p->syms, buf, n);
}

weft_status weft_plan_describe(const weft_plan *p, weft_describe_format fmt, char **out)
{
    if (!p || !out) return weft_error(WEFT_ERR_INVALID_ARGUMENT, "weft_plan_describe: NULL argument");
    *out = NULL;
    enum { CAP = 512 };
    step_count *counts = calloc(CAP, sizeof *counts);
    if (!counts) return weft_error(WEFT_ERR_NOMEM, "out of memory");
    int n_kinds = 0, total = 0;
    count_steps(p, counts, &n_kinds, CAP, &total);
    qsort(counts, (size_t)n_kinds, sizeof *counts, by_count);
    size_t const_bytes = 0;
    int n_const = 0;
    for (int i = 0; i < p->n_slots; i++)
        if (p->slots[i].kind == WEFT_SLOT_CONST) { n_const++; const_bytes += p->slots[i].nbytes; }
    char backends[256] = "";
    for (int i = 0, len = 0; i < p->n_backends && len < (int)sizeof backends; i++)
        len += snprintf(backends + len, sizeof backends - (size_t)len, "%s%s", i ? "," : "", p->backends[i]->name);
    weft_sb b = {0};
    char shape[512];
    bool json = fmt == WEFT_DESCRIBE_JSON;
    if (json) {
        weft_sb_puts(&b, "{\"backend\": ");
        weft_sb_json_str(&b, backends);
        weft_sb_printf(&b, ", \"steps\": %d, \"buffers\": %d, \"constants\": %d, \"constant_bytes\": %zu, \"ops\": [",
                       total, p->n_buffers, n_const, const_bytes);
        for (int k = 0; k < n_kinds; k++) {
            weft_sb_puts(&b, k ? ", {\"op\": " : "{\"op\": ");
            weft_sb_json_str(&b, counts[k].op);
            weft_sb_puts(&b, ", \"domain\": ");
            weft_sb_json_str(&b, counts[k].domain);
            weft_sb_printf(&b, ", \"count\": %d}", counts[k].n);
        }
        for (int io = 0; io < 2; io++) {
            weft_sb_puts(&b, io ? "], \"outputs\": [" : "], \"inputs\": [");
            int n = io ? p->n_outputs : p->n_inputs;
            for (int i = 0; i < n; i++) {
                const weft_slot *s = &p->slots[io ? p->outputs[i] : p->inputs[i]];
                shape_str(p, s, shape, sizeof shape);
                weft_sb_puts(&b, i ? ", {\"name\": " : "{\"name\": ");
                weft_sb_json_str(&b, s->name);
                weft_sb_printf(&b, ", \"dtype\": \"%s\", \"shape\": ", weft_dtype_name(s->dtype));
                weft_sb_json_str(&b, shape);
                weft_sb_puts(&b, "}");
            }
        }
        weft_sb_puts(&b, "]}\n");
    } else {
        weft_sb_printf(&b, "backend: %s\nsteps: %d (%d kinds)\nbuffers: %d shared by the temporaries\n", backends, total,
                       n_kinds, p->n_buffers);
        weft_sb_printf(&b, "constants: %d, %zu bytes\n", n_const, const_bytes);
        for (int io = 0; io < 2; io++) {
            int n = io ? p->n_outputs : p->n_inputs;
            weft_sb_puts(&b, io ? "outputs:\n" : "inputs:\n");
            for (int i = 0; i < n; i++) {
                const weft_slot *s = &p->slots[io ? p->outputs[i] : p->inputs[i]];
                shape_str(p, s, shape, sizeof shape);
                weft_sb_puts(&b, "  ");
                weft_sb_text_str(&b, s->name);
                weft_sb_printf(&b, "  %s %s\n", weft_dtype_name(s->dtype), shape);
            }
        }
        weft_sb_puts(&b, "schedule:\n");
        for (int k = 0; k < n_kinds; k++) {
            weft_sb_printf(&b, "  %6d  ", counts[k].n);
            if (counts[k].domain[0]) {
                weft_sb_text_str(&b, counts[k].domain);
                weft_sb_puts(&b, ".");
            }
            weft_sb_text_str(&b, counts[k].op);
            weft_sb_puts(&b, "\n");
        }
    }
    free(counts);
    if (b.failed) { free(b.s); return weft_error(WEFT_ERR_NOMEM, "out of memory describing the plan"); }
    *out = b.s;
    return WEFT_OK;
}
