/*
 * tests/fuzz/fuzz_labels.c — nDPI `.out` label files: weft_labels_load_ndpi, then weft_labels_apply to
 * a few flows whose 5-tuples the seeds name (so matching, both directions, runs), and the file-name
 * labels of ustc-tfc2016 (weft_label_from_filename) on the input's first line.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "traffic/labels.h"

static void add_flow(weft_flow_table *t, const char *src, const char *dst, unsigned sport, unsigned dport,
                     unsigned proto)
{
    weft_flow f;
    memset(&f, 0, sizeof f);
    if (!weft_ip_parse(src, &f.src) || !weft_ip_parse(dst, &f.dst)) return;
    f.sport = (uint16_t)sport;
    f.dport = (uint16_t)dport;
    f.proto = (uint8_t)proto;
    f.ip_version = weft_ip_is_v4(&f.src) ? 4 : 6;
    weft_flow_table_push(t, &f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *first;
    const uint8_t *rest;
    size_t rest_n;
    if (fuzz_split_line(data, size, &first, &rest, &rest_n)) return 0;
    char label[64], detail[128];
    unsigned proto = 0;
    (void)weft_label_from_filename(first, label, sizeof label, detail, sizeof detail, &proto);
    (void)weft_proto_from_name(first);
    free(first);

    const char *path = fuzz_scratch_file("capture.pcap.out", data, size);
    if (!path) return 0;
    weft_labels *L = weft_labels_new();
    if (!L) return 0;
    weft_read_report r;
    weft_report_init(&r);
    char err[512];
    if (weft_labels_load_ndpi(L, path, &r, err, sizeof err) >= 0) {
        weft_flow_table t;
        weft_flow_table_init(&t);
        add_flow(&t, "192.168.1.1", "10.0.0.1", 1234, 80, 6);
        add_flow(&t, "10.0.0.1", "192.168.1.1", 53, 5353, 17);
        add_flow(&t, "fe80::1", "ff02::fb", 5353, 5353, 17);
        add_flow(&t, "192.168.1.1", "8.8.8.8", 0, 0, 1);
        long n = weft_labels_apply(L, &t, 0, t.n);
        if (n > (long)t.n) abort();
        (void)weft_labels_count(L);
        (void)weft_labels_unmatched(L);
        weft_flow_table_free(&t);
    }
    weft_labels_free(L);
    return 0;
}
