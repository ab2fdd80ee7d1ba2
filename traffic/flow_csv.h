/*
 * traffic/flow_csv.h — the normalised flow CSV: what `weft flows` writes and `weft graph` reads.
 *
 * One header row, then one row per flow. Columns (by name; a reader matches them by name, in any order):
 *   src, dst, sport, dport, proto, ip_version, start, duration,
 *   fwd_packets, fwd_bytes, fwd_min_size, fwd_max_size, fwd_mean_size, fwd_mean_iat, fwd_flags,
 *   fwd_first, fwd_last, and the same nine for bwd_, has_stats, label, detail, category,
 *   tunnel, outer_src, outer_dst (what carried the flow, weft_tunnel_name, and the outermost tunnel's
 *   addresses; empty without a tunnel), vlan (the VLAN ID, empty for none); these four are optional on
 *   reading, so files written before them still read without a warning.
 * Doubles are printed with %.17g so reading back gives the same bits; fwd_mean_size / bwd_mean_size are
 * bytes / packets, written for people and ignored on reading. Text fields follow RFC 4180 quoting; an
 * unknown label is an empty unquoted field, an empty label is "" (so NULL and "" both survive a round
 * trip).
 */
#ifndef WEFT_TRAFFIC_FLOW_CSV_H
#define WEFT_TRAFFIC_FLOW_CSV_H

#include <stdio.h>

#include "flow.h"
#include "report.h"

/* Writes the header and every flow of t. Returns 0, or -1 when writing failed (errno set). */
int weft_flow_csv_write(FILE *f, const weft_flow_table *t);
/* The same in pieces, for writing flows as they end: the header once, then one row per flow. */
int weft_flow_csv_write_header(FILE *f);
int weft_flow_csv_write_row(FILE *f, const weft_flow *fl);

/* Reasons the reader counts in its weft_read_report (skips drop the row; warnings keep it). */
#define WEFT_CSV_BAD_FIELD "malformed field"           /* skip: a number or address that does not parse */
#define WEFT_CSV_WRONG_COLUMNS "wrong number of fields" /* skip: not as many fields as the header */
#define WEFT_CSV_BACKWARDS "time runs backwards"        /* skip: negative duration, last packet before first */
#define WEFT_CSV_BAD_QUOTE "broken quoting"             /* skip: unterminated quote, text after a quote */
#define WEFT_CSV_OUT_OF_ORDER "rows not in start order" /* warning, once per file: kept (the graph sorts) */
#define WEFT_CSV_MISSING_COLUMN "optional column missing" /* warning, once per absent column: 0 / unknown */

/* Appends the flows of the CSV file at `path` to t; counts rows, skips and warnings in rep (which may
 * be shared by several files; it is not reset). Returns 0 when the file was read (even with skipped
 * rows), -1 when it cannot be: cannot open, not a flow CSV (no header, or a required column — src, dst,
 * start — missing), or out of memory; the reason is then in err (when not NULL; at most err_n bytes). */
int weft_flow_csv_read(const char *path, weft_flow_table *t, weft_read_report *rep, char *err, size_t err_n);

/* The same one flow at a time, for inputs read as a stream ("-" is standard input; gzip and zstd files
 * are decompressed as read): memory is bounded by the longest row, not the file. open reads the header
 * (NULL with err set when the file is not a flow CSV, as above); next gives the next good row (1), the
 * end (0), or -1 when memory runs out (2: see weft_flow_csv_follow); label strings are interned in `strings`. rep may be NULL. */
typedef struct weft_flow_csv_reader weft_flow_csv_reader;
weft_flow_csv_reader *weft_flow_csv_open(const char *path, weft_read_report *rep, char *err, size_t err_n);
int weft_flow_csv_next(weft_flow_csv_reader *r, weft_flow *out, weft_flow_table *strings, char *err, size_t err_n);
void weft_flow_csv_close(weft_flow_csv_reader *r);
/* From now on the end of the file is not the end: next returns 2 while no whole row has been written
 * after what was read (a file another program is still writing; standard input still ends at its end). */
void weft_flow_csv_follow(weft_flow_csv_reader *r);

#endif
