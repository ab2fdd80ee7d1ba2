/*
 * tests/fuzz/fuzz_frame.c — one captured frame → weft_parse_frame (link layers, IP, tunnels).
 *
 * Reaching the packet parser through whole capture files spends most of each input on libpcap's
 * framing; this harness feeds it frames directly. Input: byte 0 picks the link type, byte 1's low bit
 * turns tunnel opening off, the rest is the frame.
 */
#include <pcap/dlt.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "traffic/pcap_reader.h"

/* The link types weft_parse_frame handles, and one it does not. */
static const int link_types[] = {DLT_EN10MB, DLT_LINUX_SLL, 276 /* SLL2 */, 12 /* DLT_RAW */, 14, 101,
                                 228 /* IPv4 */, 229 /* IPv6 */, DLT_PPP, DLT_PPP_SERIAL, DLT_C_HDLC,
                                 DLT_NULL, DLT_LOOP, DLT_IEEE802_11};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    int dlt = link_types[data[0] % (sizeof link_types / sizeof link_types[0])];
    bool decap = !(data[1] & 1);
    weft_pkt p;
    memset(&p, 0, sizeof p);
    const char *why = NULL;
    weft_frame_result r = weft_parse_frame(dlt, data + 2, (uint32_t)(size - 2), decap, &p, &why);
    if (r == WEFT_FRAME_OK && (p.ip_version != 4 && p.ip_version != 6)) abort();
    return 0;
}
