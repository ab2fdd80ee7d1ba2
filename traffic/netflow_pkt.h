/*
 * traffic/netflow_pkt.h — NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) export datagrams → flows.
 *
 * The input is a pcap / pcapng capture of the UDP datagrams an exporter sent (any port: exporters use
 * 2055, 2056, 4739, 9995, 9996 and others). A datagram is taken as an export when its version field is
 * 5, 9 or 10 and its header is sane (v5: 1 to 30 records; v9: a 20-byte header; IPFIX: a message length
 * from 16 to the datagram's size); any other packet is counted ("not an export datagram") and skipped.
 * Link types: Ethernet (VLAN tags), Linux SLL / SLL2, raw IP, BSD loopback; IPv4 / IPv6. Fragmented
 * datagrams (large v9 / IPFIX exports over a small MTU) are not reassembled: counted and skipped.
 *
 * v9 and IPFIX data need their template. Templates are kept per (exporter address, v9 source ID or
 * IPFIX observation domain, template ID) for the whole file, a later template of the same ID replacing
 * the earlier one (IPFIX withdrawals with a field count of 0 remove it). Options templates are learned
 * only so that their data sets (exporter statistics, sampling) are passed over quietly. A data set whose
 * template has not been seen is skipped ("data set before its template"): exporters repeat templates
 * every few minutes, so a capture that starts mid-stream loses its first data only. IPFIX
 * variable-length fields and enterprise-specific fields are walked by their lengths.
 *
 * One flow record makes one weft_flow. Information elements used (IANA numbers):
 *   8 / 12 and 27 / 28  source / destination IPv4 and IPv6 address
 *   7 / 11              ports (0 for protocols without ports: ICMP's type / code are not ports)
 *   4                   protocol;  6  TCP flags
 *   2 / 1               packets / octets (delta; 86 / 85, the totals, when there is no delta)
 *   22 / 21             first / last switched, in ms of the exporter's uptime: v5 and v9 turn them
 *                       into times with the header's uptime and clock; IPFIX with 160
 *                       (systemInitTimeMilliseconds) in the same record
 *   150 / 151, 152 / 153, 154 / 155, 156 / 157   IPFIX flow start / end in s, ms, µs, ns
 *   v9 24 / 23          OUT_PKTS / OUT_BYTES: the reverse direction (bwd), as nProbe exports them and as
 *                       the NF-* CSV reader takes them; IPFIX's 23 / 24 (post-middlebox counts of the
 *                       same direction) are not used
 *   IPFIX enterprise 29305 (RFC 5103 biflow) 2 / 1 / 86 / 85 / 6: the reverse packets, octets, flags
 * A record is one direction of traffic unless it carries reverse counters: bwd stays zero then. Records
 * carry no packet-size extremes or inter-arrival times: has_stats is false. A record with no time at
 * all (IPFIX without absolute times) starts at the message's export time, with a warning. Counts are as
 * exported: sampled exports are not scaled up.
 *
 * Problems are counted in the report, never fatal: a datagram cut short, a set whose length runs past
 * its datagram, a template with a field of length 0 or longer than its set ("bad template"), an element
 * whose length does not fit its type (the field is ignored, with a warning), a record without
 * addresses or with an end before its start.
 */
#ifndef WEFT_TRAFFIC_NETFLOW_PKT_H
#define WEFT_TRAFFIC_NETFLOW_PKT_H

#include <stddef.h>
#include <stdint.h>

#include "traffic/flow.h"
#include "traffic/report.h"

/* Templates learned so far (one per capture file). */
typedef struct weft_export_state weft_export_state;

weft_export_state *weft_export_state_new(void);
void weft_export_state_free(weft_export_state *s);

/* One UDP payload sent by `exporter`. Flows go to t, problems to r (named by file and packet number).
 * Returns 1 if it was an export datagram (even one with bad parts), 0 if it is not one (nothing counted:
 * the caller counts it), -1 on allocation failure. */
int weft_export_datagram(weft_export_state *s, const weft_ip *exporter, const uint8_t *d, size_t n,
                         weft_flow_table *t, weft_read_report *r, const char *file, uint64_t pkt_no);

/* Reads a capture of export datagrams and appends one flow per flow record to t. Returns 0 (records may
 * have been skipped: see the report), or -1 when the file cannot be read (message in err). */
int weft_export_read_file(const char *path, weft_flow_table *t, weft_read_report *r, char *err, size_t errn);

#endif
