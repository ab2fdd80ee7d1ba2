/*
 * tests/fuzz/fuzz_flowcsv.c — the normalised flow CSV that `weft flows` writes and `weft graph` reads:
 * weft_flow_csv_read, then the round trip (what was read, written again, reads back the same).
 */
#include "fuzz_common.h"
#include "fuzz_traffic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file("flows.csv", data, size);
    if (!path) return 0;
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    char err[512];
    if (weft_flow_csv_read(path, &t, &r, err, sizeof err) == 0) fuzz_flow_csv_roundtrip(&t);
    weft_flow_table_free(&t);
    return 0;
}
