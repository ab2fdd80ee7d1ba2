/*
 * tests/fuzz/fuzz_onnx.c — ONNX models: import from memory, describe, compile, run on small inputs.
 *
 * The input is an ONNX ModelProto. Seeds: the project's small models (tests/data/import, models/).
 * External data is refused (no base folder), as for any model read from memory.
 * WEFT_FUZZ_BACKEND (environment) picks the backend list given to the compiler (default "ref": the
 * oracle and the fastest to set up; "auto" takes every backend of the build).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_run.h"
#include "weft.h"

static const char *backend;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *b = getenv("WEFT_FUZZ_BACKEND");
    backend = b && *b ? b : "ref";
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    weft_model *m = NULL;
    if (weft_model_load_from_buffer(data, size, NULL, &m) != WEFT_OK) return 0;
    char *text = NULL;
    if (weft_model_describe(m, WEFT_DESCRIBE_JSON, &text) == WEFT_OK) free(text);

    weft_compile_options co = {.backend = backend, .opt_level = 1};
    weft_plan *p = NULL;
    weft_status st = weft_compile(m, &co, &p);
    weft_model_free(m);
    if (st != WEFT_OK) return 0;
    if (weft_plan_describe(p, WEFT_DESCRIBE_TEXT | WEFT_DESCRIBE_STEPS | WEFT_DESCRIBE_PASSES, &text) == WEFT_OK)
        free(text);
    fuzz_run_plan(p);
    weft_plan_free(p);
    return 0;
}
