/*
 * tests/fuzz/fuzz_pcap.c — captures (pcap and pcapng, through libpcap) → flows: weft_pcap_read_file.
 *
 * libpcap reads files, so the input goes to a scratch file. Seeds: small captures of ../shared/data
 * (nDPI's test captures, Stratosphere's) and hand-made ones (tests/fuzz/make_corpus.sh). The flows
 * read must survive the flow-CSV round trip (fuzz_traffic.h).
 */
#include "fuzz_common.h"
#include "fuzz_traffic.h"
#include "traffic/pcap_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_scratch_file("input.pcap", data, size);
    if (!path) return 0;
    weft_flow_opts o;
    weft_flow_opts_default(&o);
    /* the last byte's low bits pick the options, so the corpus covers them without a format change */
    uint8_t sel = size ? data[size - 1] : 0;
    o.decap = !(sel & 1);
    o.ignore_vlan = (sel & 2) != 0;
    weft_flow_table t;
    weft_flow_table_init(&t);
    weft_read_report r;
    weft_report_init(&r);
    char err[512];
    (void)weft_pcap_is_capture(path);
    if (weft_pcap_read_file(path, &o, &t, &r, err, sizeof err) == 0) fuzz_flow_csv_roundtrip(&t);
    weft_flow_table_free(&t);
    return 0;
}
