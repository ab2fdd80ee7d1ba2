/*
 * tests/fuzz/fuzz_scaler.c — saved feature scalings (`weft graph --scaler`): weft_scaler_load, and a
 * loaded scaler saved again must load to the same bits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "traffic/features.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file("scaler.txt", data, size);
    if (!path) return 0;
    weft_scaler s, u;
    char err[512];
    if (weft_scaler_load(&s, path, err, sizeof err) != 0) return 0;
    for (int c = 0; c < WEFT_FEAT_NSTATS; c++) (void)weft_scaler_apply(&s, c, 1.0);
    path = fuzz_scratch_file("scaler2.txt", NULL, 0);
    if (!path || weft_scaler_save(&s, path, err, sizeof err) != 0) return 0;
    if (weft_scaler_load(&u, path, err, sizeof err) != 0) {
        fprintf(stderr, "a scaler saved from a loaded one does not load: %s\n", err);
        abort();
    }
    if (memcmp(s.lo, u.lo, sizeof s.lo) != 0 || memcmp(s.hi, u.hi, sizeof s.hi) != 0) abort();
    return 0;
}
