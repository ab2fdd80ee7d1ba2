/*
 * traffic/log_readers.h — flow logs and flow exports → flows:
 *   zeek       Zeek conn.log (with the label / detailedlabel columns of labelled logs)
 *   binetflow  Argus / CTU .binetflow
 *   wireshark  Wireshark conversation CSV (ustc-tfc2016: "Address A", "Port A", "Packets A → B", ...,
 *              "Rel Start", "Duration"; labels and protocol from the file name)
 *   netflow    NetFlow-v9-style CSV (the NF-* datasets: IPV4_SRC_ADDR, L4_SRC_PORT, ..., IN_BYTES,
 *              OUT_BYTES, IN_PKTS, OUT_PKTS, TCP_FLAGS, FLOW_DURATION_MILLISECONDS, Label, Attack)
 *   cic        CICFlowMeter CSV: CIC-IDS2017 ("Flow ID", " Source IP", ..., " Label"), CSE-CIC-IDS2018
 *              ("Flow ID", "Src IP", ..., "Dst Port", "Tot Fwd Pkts", ..., "Label") and the CICFlowMeter-V4
 *              tool's own output; day-first timestamps ("3/7/2017 8:55", "14/02/2018 08:31:01",
 *              "14/02/2018 08:31:01 AM", read as UTC), durations and inter-arrival times in µs
 *   unsw       UNSW-NB15 CSV: the 49 columns of UNSW-NB15_1..4.csv (no header row: told by its shape) or
 *              the same names in a header
 *   nfdump     `nfdump -o csv` output (ts, te, td, sa, da, sp, dp, pr, flg, ..., ipkt, ibyt, opkt, obyt);
 *              the Summary block at its end closes the data
 *   csv        any other CSV / TSV through a column map
 *   export-pcap  a pcap / pcapng capture of NetFlow v5 / v9 / IPFIX export datagrams (any UDP port):
 *              read by traffic/netflow_pkt.h, one flow per flow record. A capture cannot be told from an
 *              ordinary one cheaply, so this format is never detected: it must be asked for.
 *
 * The CSV-like logs are read as a header (Zeek: the #fields line) naming the columns, then one flow per
 * row; columns the format does not use are ignored. Flows from logs have per-direction packets and bytes
 * but no packet-size extremes or inter-arrival times: has_stats is false, min/max sizes and mean_iat are
 * 0, first/last are the flow's start and end. CICFlowMeter rows are the exception: they carry
 * per-direction packet-length extremes and inter-arrival means, so their flows have has_stats true (CIC
 * counts payload bytes, not IP lengths). UNSW-NB15 rows carry per-direction mean inter-arrival times
 * (Sintpkt / Dintpkt) but no size extremes: mean_iat is filled, has_stats stays false.
 *
 * Labels: zeek keeps label / detailedlabel; binetflow's "flow=..." text is the detail and its class
 * (Malicious / Benign / Background) the label; netflow and unsw Label 0 / 1 become "Benign" /
 * "Malicious" with Attack / attack_cat (trimmed) as the detail; cic's class name is the detail and the
 * label is "Benign" for BENIGN / Benign, else "Malicious" ("NeedManualLabel", the tool's placeholder, is
 * no label). CIC-IDS2017's "Web Attack – Brute Force" is spelled with an en-dash in some releases, a
 * Windows-1252 byte 0x96 or U+FFFD in others: all become the en-dash (U+2013), so releases agree.
 *
 * Bad rows (too few fields, an address, number or time that does not parse, a negative duration,
 * a protocol that is not IP such as Argus "arp" / "llc" / "man" records) are counted in the report with
 * file and line, and skipped; so are header rows repeated inside a file (CSE-CIC-IDS2018 has them:
 * "repeated header row"). A statistic that is NaN, Infinity or negative (CIC rows have them) is read as
 * 0 with a warning. A missing required column (src, dst) makes the file unreadable, and the error names
 * the header the format expects (CIC-IDS2017's MachineLearningCVE files and the UNSW-NB15 training /
 * testing sets have no addresses); a missing optional one is a warning (the value is 0 / unknown).
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
    WEFT_FMT_CSV,         /* needs a column map */
    WEFT_FMT_CIC,         /* CICFlowMeter CSV (CIC-IDS2017, CSE-CIC-IDS2018, CICFlowMeter-V4) */
    WEFT_FMT_UNSW,        /* UNSW-NB15 CSV */
    WEFT_FMT_NFDUMP,      /* nfdump -o csv */
    WEFT_FMT_EXPORT_PCAP, /* capture of NetFlow v5 / v9 / IPFIX export datagrams (never detected) */
    WEFT_FMT_COUNT
} weft_input_format;

const char *weft_format_name(weft_input_format f);
/* "auto", "pcap", "zeek", "binetflow", "wireshark", "netflow", "csv", "cic", "unsw", "nfdump",
 * "export-pcap"; false if none. */
bool weft_format_parse(const char *s, weft_input_format *out);

/* Looks at the file (magic number, first line) to tell its format. Returns WEFT_FMT_AUTO when it cannot
 * tell (reason in err). A file with an unrecognised header is WEFT_FMT_CSV when have_columns is true.
 * First lines: cic has "Flow Duration" with "Total Fwd Packets" or "Tot Fwd Pkts"; nfdump starts
 * "ts,te,td,sa,da"; unsw is 49 comma-separated fields with addresses in the first and third, or a header
 * naming sbytes, dbytes and attack_cat. Any capture is pcap (export-pcap is never guessed). */
weft_input_format weft_format_detect(const char *path, bool have_columns, char *err, size_t errn);

/* Column map syntax: "field=Header,field=Header,..." with fields
 *   src dst sport dport proto start start_ms end end_ms duration duration_ms
 *   fwd_packets fwd_bytes bwd_packets bwd_bytes packets bytes flags fwd_flags bwd_flags label detail category
 * (start / end: epoch seconds or a date "YYYY/MM/DD HH:MM:SS.ffffff" / "YYYY-MM-DD[ T]HH:MM:SS", read as UTC;
 * *_ms: milliseconds; packets / bytes: both directions, with fwd_* the rest is bwd). Checks the syntax;
 * false with a message in err. */
bool weft_columns_check(const char *map, char *err, size_t errn);

/* Reads a flow log of the given format (not WEFT_FMT_PCAP / AUTO) and appends its flows to t.
 * `columns` (may be NULL) overrides or extends the format's own column names; export-pcap ignores it
 * (that format is handed to weft_export_read_file). Returns 0 (rows may have been skipped: see the
 * report), or -1 when the file cannot be read (message in err). */
int weft_log_read_file(const char *path, weft_input_format fmt, const char *columns, weft_flow_table *t,
                       weft_read_report *r, char *err, size_t errn);

#endif
