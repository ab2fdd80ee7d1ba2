/*
 * tests/fuzz/fuzz_flowlog.c — flow logs → flows: weft_log_read_file, one executable per format
 * (FUZZ_LOG_FORMAT, the format's name as `weft flows --format` takes it, set by tests/fuzz/CMakeLists.txt):
 * fuzz_zeek (conn.log), fuzz_binetflow (Argus), fuzz_wireshark (conversation CSV), fuzz_netflow
 * (NetFlow-v9 CSV), fuzz_csv (any CSV through a column map: the input's first line is the map, the rest
 * the file), and the formats added since (CICFlowMeter, UNSW-NB15, nfdump, NetFlow export captures).
 * The format is looked up by name (weft_format_parse), so a harness for a format this build does not
 * know says so once and tests nothing, instead of failing the build.
 *
 * The readers take a path, so the input goes to a scratch file; the Wireshark reader takes the label
 * and protocol from ustc-tfc2016's file names, so its file is named like one. The flows read must
 * survive the flow-CSV round trip (fuzz_traffic.h), and format detection runs on every input.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "fuzz_traffic.h"
#include "traffic/log_readers.h"

#ifndef FUZZ_LOG_FORMAT
#error "FUZZ_LOG_FORMAT must name a format (\"zeek\", ...)"
#endif

static weft_input_format fmt = WEFT_FMT_AUTO; /* AUTO: unknown to this build */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!weft_format_parse(FUZZ_LOG_FORMAT, &fmt) || fmt == WEFT_FMT_AUTO || fmt == WEFT_FMT_PCAP) {
        fprintf(stderr, "fuzz: this build has no flow-log format '%s': nothing to test\n", FUZZ_LOG_FORMAT);
        fmt = WEFT_FMT_AUTO;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (fmt == WEFT_FMT_AUTO) return 0;
    char *columns = NULL;
    char err[512];
    if (fmt == WEFT_FMT_CSV) {
        const uint8_t *rest;
        size_t rest_n;
        if (fuzz_split_line(data, size, &columns, &rest, &rest_n)) return 0;
        if (!weft_columns_check(columns, err, sizeof err)) {
            free(columns);
            return 0;
        }
        data = rest;
        size = rest_n;
    }
    /* the Wireshark reader takes label and protocol from ustc-tfc2016's file names */
    const char *path = fuzz_scratch_file(fmt == WEFT_FMT_WIRESHARK ? "Benign_Fuzz_TCP.csv" : "flows.log", data, size);
    if (!path) {
        free(columns);
        return 0;
    }
    (void)weft_format_detect(path, columns != NULL, err, sizeof err);
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    if (weft_log_read_file(path, fmt, columns, &t, &r, err, sizeof err) == 0) fuzz_flow_csv_roundtrip(&t);
    weft_flow_table_free(&t);
    free(columns);
    return 0;
}
