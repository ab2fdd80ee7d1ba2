/* cli/lr_options.c — the training commands' learning-rate schedule options (see lr_options.h). */
#include "lr_options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *const decay_names[] = {"constant", "cosine", "step"};

void cli_lr_defaults(cli_lr_options *l)
{
    memset(l, 0, sizeof *l);
    l->warmup_start = 1.0 / 3.0; /* LinearLR's default start factor */
    l->gamma = 0.1;              /* StepLR's */
    l->decay = WEFT_DECAY_CONSTANT;
}

static bool number(const char *v, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(v, &end);
    return end != v && !*end && !errno && isfinite(*out);
}

bool cli_lr_option(const char *a, const char *v, cli_lr_options *l, bool *bad)
{
    double d;
    long n;
    *bad = false;
    if (strcmp(a, "--warmup-steps") == 0) *bad = !cli_parse_int(v, 0, 1000000000L, &l->warmup_steps);
    else if (strcmp(a, "--decay-steps") == 0) *bad = !cli_parse_int(v, 1, 1000000000L, &l->decay_steps);
    else if (strcmp(a, "--step-size") == 0) *bad = !cli_parse_int(v, 1, 1000000000L, &l->step_size);
    else if (strcmp(a, "--warmup-start") == 0) *bad = !(number(v, &d) && d >= 0 && d <= 1) || (l->warmup_start = d, false);
    else if (strcmp(a, "--min-lr") == 0) *bad = !(number(v, &d) && d >= 0) || (l->min_lr = d, false);
    else if (strcmp(a, "--gamma") == 0) *bad = !(number(v, &d) && d > 0) || (l->gamma = d, false);
    else if (strcmp(a, "--lr-decay") == 0) {
        for (n = 0; n < 3 && strcmp(v, decay_names[n]); n++) {}
        *bad = n == 3;
        if (!*bad) l->decay = (weft_lr_decay_kind)n;
    } else {
        return false;
    }
    return true;
}

const char *cli_lr_check(const cli_lr_options *l)
{
    if (l->decay == WEFT_DECAY_STEP && !l->step_size) return "--lr-decay step needs --step-size";
    return NULL;
}

void cli_lr_apply(const cli_lr_options *l, long total_steps, weft_trainer_options *o)
{
    o->warmup_steps = l->warmup_steps;
    o->warmup_start = l->warmup_start;
    o->lr_decay = l->decay;
    o->decay_steps = l->decay_steps ? l->decay_steps : total_steps - l->warmup_steps > 0 ? total_steps - l->warmup_steps : 1;
    o->min_lr = l->min_lr;
    o->step_size = l->step_size;
    o->gamma = l->gamma;
}

void cli_lr_text(const cli_lr_options *l, char *buf, size_t n)
{
    snprintf(buf, n, " warmup_steps=%ld warmup_start=%.17g lr_decay=%s decay_steps=%ld min_lr=%.17g step_size=%ld "
             "gamma=%.17g", l->warmup_steps, l->warmup_start, decay_names[l->decay], l->decay_steps, l->min_lr,
             l->step_size, l->gamma);
}

void cli_lr_help(FILE *f)
{
    fprintf(f, "  --warmup-steps N     linear warm-up over the first N steps, from --warmup-start (1/3) times\n"
               "                       the learning rate (0: none)\n"
               "  --lr-decay KIND      after the warm-up: constant (default), cosine (to --min-lr, 0, over\n"
               "                       --decay-steps, default the rest of the run) or step (times --gamma,\n"
               "                       0.1, every --step-size steps)\n");
}
