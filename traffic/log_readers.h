/*
 * traffic/log_readers.h — flow logs → flows: Zeek conn.log (with the label / detailedlabel columns of
 * labelled logs), Argus / CTU .binetflow, Wireshark conversation CSV (ustc-tfc2016: "Address A", "Port A",
 * "Packets A → B", ..., "Rel Start", "Duration"; labels and protocol from the file name), NetFlow-v9-style
 * CSV (the NF-* datasets: IPV4_SRC_ADDR, L4_SRC_PORT, ..., IN_BYTES, OUT_BYTES, IN_PKTS, OUT_PKTS,
 * TCP_FLAGS, FLOW_DURATION_MILLISECONDS, Label, Attack) and any other CSV / TSV through a column map.
 *
 * All are read as a header (Zeek: the #fields line) naming the columns, then one flow per row. Flows
 * from logs have per-direction packets and bytes but no packet-size extremes or inter-arrival times:
 * has_stats is false, min/max sizes and mean_iat are 0, first/last are the flow's start and end.
 *
 * Bad rows (too few fields, an address, number or time that does not parse, a negative duration,
 * a protocol that is not IP such as Argus "arp" / "llc" / "man" records) are counted in the report with
 * file and line, and skipped. A missing required column (src, dst) makes the file unreadable; a missing
 * optional one is a warning (the value is 0 / unknown).
 */
#ifndef WEFT_TRAFFIC_LOG_READERS_H
#define WEFT_TRAFFIC_LOG_READERS_H

#include <stddef.h>

#include "traffic/flow.h"
#include "traffic/report.h"

typedef enum weft_input_format {
    WEFT_FMT_AUTO = 0,
    WEFT_FMT_PCAP,
    WEFT_FMT_ZEEK,
    WEFT_FMT_BINETFLOW,
    WEFT_FMT_WIRESHARK,
    WEFT_FMT_NETFLOW,
    WEFT_FMT_CSV, /* needs a column map */
} weft_input_format;

const char *weft_format_name(weft_input_format f);
/* "auto", "pcap", "zeek", "binetflow", "wireshark", "netflow", "csv"; false if none. */
bool weft_format_parse(const char *s, weft_input_format *out);

/* Looks at the file (magic number, first line) to tell its format. Returns WEFT_FMT_AUTO when it cannot
 * tell (reason in err). A file with an unrecognised header is WEFT_FMT_CSV when have_columns is true. */
weft_input_format weft_format_detect(const char *path, bool have_columns, char *err, size_t errn);

/* Column map syntax: "field=Header,field=Header,..." with fields
 *   src dst sport dport proto start start_ms end end_ms duration duration_ms
 *   fwd_packets fwd_bytes bwd_packets bwd_bytes packets bytes flags fwd_flags bwd_flags label detail category
 * (start / end: epoch seconds or a date "YYYY/MM/DD HH:MM:SS.ffffff" / "YYYY-MM-DD[ T]HH:MM:SS", read as UTC;
 * *_ms: milliseconds; packets / bytes: both directions, with fwd_* the rest is bwd). Checks the syntax;
 * false with a message in err. */
bool weft_columns_check(const char *map, char *err, size_t errn);

/* Reads a flow log of the given format (not WEFT_FMT_PCAP / AUTO) and appends its flows to t.
 * `columns` (may be NULL) overrides or extends the format's own column names. Returns 0 (rows may have
 * been skipped: see the report), or -1 when the file cannot be read (message in err). */
int weft_log_read_file(const char *path, weft_input_format fmt, const char *columns, weft_flow_table *t,
                       weft_read_report *r, char *err, size_t errn);

#endif
