/*
 * tests/fuzz/fuzz_plan.c — `.weftplan` files: weft_plan_load_from_buffer, then a run on small inputs.
 *
 * A plan carries a SHA-256 of its contents, which a mutation breaks every time: a fuzzer fed raw bytes
 * would only ever test the checksum. So when the input's body decodes as a WeftPlan message, the harness
 * stores the right digest in it first (computed as schemas/weftplan.md specifies) and loads that; the
 * loader then meets mutated backends, assignments and embedded graphs. Inputs whose body does not decode
 * are loaded as they are (header and framing checks).
 */
#include <stdlib.h>
#include <string.h>

#include "compiler/plan_file.h"
#include "fuzz_common.h"
#include "fuzz_run.h"
#include "schemas/weftplan.pb-c.h"
#include "weft.h"

#define HEADER_LEN 12 /* "WEFTPLAN" + format version (u32 LE) */

/* The input with its digest made right, or NULL (then load the input as it is). */
static uint8_t *fix_digest(const uint8_t *data, size_t size, size_t *out_len)
{
    if (size < HEADER_LEN || memcmp(data, "WEFTPLAN", 8) != 0) return NULL;
    Weft__WeftPlan *m = weft__weft_plan__unpack(NULL, size - HEADER_LEN, data + HEADER_LEN);
    if (!m) return NULL;
    uint8_t d[32];
    weft_plan_digest(m, d);
    ProtobufCBinaryData keep = m->sha256;
    protobuf_c_boolean had = m->has_sha256;
    m->sha256.data = d;
    m->sha256.len = sizeof d;
    m->has_sha256 = 1;
    size_t body = weft__weft_plan__get_packed_size(m);
    uint8_t *buf = malloc(HEADER_LEN + body);
    if (buf) {
        memcpy(buf, data, HEADER_LEN);
        weft__weft_plan__pack(m, buf + HEADER_LEN);
        *out_len = HEADER_LEN + body;
    }
    m->sha256 = keep; /* the unpacked message owns its own bytes: give them back before freeing */
    m->has_sha256 = had;
    weft__weft_plan__free_unpacked(m, NULL);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t len = size;
    uint8_t *fixed = fix_digest(data, size, &len);
    weft_plan *p = NULL;
    weft_status st = weft_plan_load_from_buffer(fixed ? fixed : data, fixed ? len : size, &p);
    free(fixed);
    if (st != WEFT_OK) return 0;
    char *text = NULL;
    if (weft_plan_describe(p, WEFT_DESCRIBE_JSON | WEFT_DESCRIBE_STEPS, &text) == WEFT_OK) free(text);
    fuzz_run_plan(p);
    weft_plan_free(p);
    return 0;
}
