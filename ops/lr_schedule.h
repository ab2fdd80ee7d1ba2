/*
 * ops/lr_schedule.h — learning rate at a step: linear warm-up, then constant, cosine or step decay.
 *
 * The optimizer ops (ops/optim.c) take the learning rate as an input tensor, so a trainer evaluates
 * the schedule on the host before each step and writes the number into that tensor: no recompilation.
 * The formulas are torch.optim.lr_scheduler's closed forms:
 *   warm-up, k < warmup_steps:  base_lr * (f + (1 - f) * k / warmup_steps)   (LinearLR, start_factor f)
 *   then, with j = k - warmup_steps:
 *     constant: base_lr
 *     cosine:   min_lr + (base_lr - min_lr) * (1 + cos(pi * j / decay_steps)) / 2   (CosineAnnealingLR,
 *               T_max = decay_steps, eta_min = min_lr); min_lr from j = decay_steps on, where
 *               CosineAnnealingLR would climb again
 *     step:     base_lr * gamma^floor(j / step_size)                               (StepLR)
 * k counts the optimizer steps already taken (a scheduler's last_epoch): the first update uses k = 0.
 */
#ifndef WEFT_OPS_LR_SCHEDULE_H
#define WEFT_OPS_LR_SCHEDULE_H

#include <stdint.h>

#include "../base/status.h"

typedef enum weft_lr_decay { WEFT_LR_CONSTANT, WEFT_LR_COSINE, WEFT_LR_STEP } weft_lr_decay;

typedef struct weft_lr_schedule {
    double base_lr;
    int64_t warmup_steps;       /* 0: no warm-up */
    double warmup_start_factor; /* the warm-up starts at base_lr * this, in [0, 1] */
    weft_lr_decay decay;
    int64_t decay_steps;        /* cosine: steps from base_lr down to min_lr (> 0) */
    double min_lr;              /* cosine: the floor */
    int64_t step_size;          /* step: steps between decays (> 0) */
    double gamma;               /* step: the factor at each decay */
} weft_lr_schedule;

/* WEFT_OK, or an error (with its message set) naming the first field out of range. */
weft_status weft_lr_schedule_check(const weft_lr_schedule *s);
/* The learning rate for the update after k steps (k >= 0) of a checked schedule. */
double weft_lr_at(const weft_lr_schedule *s, int64_t k);

#endif
