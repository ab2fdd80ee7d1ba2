/* ops/lr_schedule.c — learning-rate schedules (see lr_schedule.h). */
#include "lr_schedule.h"

#include <math.h>

weft_status weft_lr_schedule_check(const weft_lr_schedule *s)
{
    if (!(s->base_lr >= 0) || !isfinite(s->base_lr))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: base_lr %g must be finite and >= 0", s->base_lr);
    if (s->warmup_steps < 0)
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: warmup_steps %lld is negative",
                          (long long)s->warmup_steps);
    if (!(s->warmup_start_factor >= 0 && s->warmup_start_factor <= 1))
        return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: warmup_start_factor %g is not in [0, 1]",
                          s->warmup_start_factor);
    switch (s->decay) {
    case WEFT_LR_CONSTANT: return WEFT_OK;
    case WEFT_LR_COSINE:
        if (s->decay_steps <= 0)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: cosine decay_steps %lld must be > 0",
                              (long long)s->decay_steps);
        if (!(s->min_lr >= 0 && s->min_lr <= s->base_lr))
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: min_lr %g is not in [0, base_lr %g]",
                              s->min_lr, s->base_lr);
        return WEFT_OK;
    case WEFT_LR_STEP:
        if (s->step_size <= 0)
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: step_size %lld must be > 0",
                              (long long)s->step_size);
        if (!(s->gamma > 0) || !isfinite(s->gamma))
            return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: gamma %g must be finite and > 0", s->gamma);
        return WEFT_OK;
    }
    return weft_error(WEFT_ERR_INVALID_ARGUMENT, "learning-rate schedule: unknown decay %d", (int)s->decay);
}

double weft_lr_at(const weft_lr_schedule *s, int64_t k)
{
    if (k < 0) k = 0;
    if (k < s->warmup_steps) {
        double f = s->warmup_start_factor;
        return s->base_lr * (f + (1 - f) * (double)k / (double)s->warmup_steps);
    }
    int64_t j = k - s->warmup_steps;
    switch (s->decay) {
    case WEFT_LR_COSINE:
        if (j >= s->decay_steps) return s->min_lr;
        return s->min_lr + (s->base_lr - s->min_lr) * (1 + cos(M_PI * (double)j / (double)s->decay_steps)) / 2;
    case WEFT_LR_STEP: return s->base_lr * pow(s->gamma, (double)(j / s->step_size));
    case WEFT_LR_CONSTANT: break;
    }
    return s->base_lr;
}
