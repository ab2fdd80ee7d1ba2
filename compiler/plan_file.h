/*
 * compiler/plan_file.h — what the .weftplan reader and writer share with tools that build plan files
 * themselves (the plan fuzzer stores a right checksum in mutated plans so the loader gets past it).
 */
#ifndef WEFT_COMPILER_PLAN_FILE_H
#define WEFT_COMPILER_PLAN_FILE_H

#include <stdint.h>

#include "schemas/weftplan.pb-c.h"

/* The SHA-256 of fields 1-7 of a plan message, as schemas/weftplan.md ("Checksum") specifies. */
void weft_plan_digest(const Weft__WeftPlan *m, uint8_t out[32]);

#endif
