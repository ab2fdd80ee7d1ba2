/*
 * cli/lr_options.h — the learning-rate schedule options the training commands share (weft pretrain,
 * weft finetune): --warmup-steps, --warmup-start, --lr-decay constant|cosine|step, --decay-steps,
 * --min-lr, --step-size, --gamma, into weft_trainer_options (include/weft.h says what they compute).
 */
#ifndef WEFT_CLI_LR_OPTIONS_H
#define WEFT_CLI_LR_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "weft.h"

typedef struct cli_lr_options {
    long warmup_steps, decay_steps, step_size; /* decay_steps 0: the run's steps (cosine) */
    double warmup_start, min_lr, gamma;
    weft_lr_decay_kind decay;
} cli_lr_options;

void cli_lr_defaults(cli_lr_options *l);
/* Option a with value v, when it is one of these: true (and *bad when the value is out of range). */
bool cli_lr_option(const char *a, const char *v, cli_lr_options *l, bool *bad);
/* A combination the schedule cannot take, as a usage message, or NULL. */
const char *cli_lr_check(const cli_lr_options *l);
/* Into trainer options; total_steps (the run's) stands for a cosine decay_steps of 0. */
void cli_lr_apply(const cli_lr_options *l, long total_steps, weft_trainer_options *o);
/* " warmup_steps=.. lr_decay=.." for a run's training-options text (what a resumed run must repeat). */
void cli_lr_text(const cli_lr_options *l, char *buf, size_t n);
/* The options' lines of a command's --help. */
void cli_lr_help(FILE *f);

#endif
