/*
 * traffic/report.h — what a reader tells about the input it read: how many records (packets or rows)
 * it read, how many it skipped and why (a count per reason), and the first few problems with the file
 * and the line or packet number, so a user can find them.
 *
 * Every reader in traffic/ (pcap_reader, log_readers, flow_csv) takes one of these; several files can
 * share one report (counts add up).
 */
#ifndef WEFT_TRAFFIC_REPORT_H
#define WEFT_TRAFFIC_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WEFT_REPORT_MAX_REASONS 32
#define WEFT_REPORT_MAX_PROBLEMS 16

typedef struct weft_report_reason {
    char reason[64];
    uint64_t count;
} weft_report_reason;

typedef struct weft_read_report {
    uint64_t files;       /* input files opened */
    uint64_t records;     /* packets or rows read (skipped ones included) */
    uint64_t skipped;     /* records dropped: sum of the counts in reasons[] with skip = yes */
    uint64_t warnings;    /* problems that did not drop a record (e.g. a capture cut short) */
    uint64_t not_ip;      /* frames that carry no IP packet (ARP, LLDP, STP, ...): read, counted, not
                           * flows, and not a problem with the input (neither skipped nor warned) */
    weft_report_reason reasons[WEFT_REPORT_MAX_REASONS]; /* per-reason counts (skips and warnings) */
    int n_reasons;
    uint64_t other_reasons; /* count of events whose reason did not fit in reasons[] */
    char problems[WEFT_REPORT_MAX_PROBLEMS][320]; /* "file: line N: reason: detail", the first 3 of each
                                                     reason, WEFT_REPORT_MAX_PROBLEMS in all */
    int n_problems;
} weft_read_report;

void weft_report_init(weft_read_report *r);

/* A record that was dropped. `unit` is "line" or "packet" (or "record"), `where` its number (1-based);
 * `reason` is a short fixed phrase (counted), the detail a printf-style message (kept for the first few). */
void weft_report_skip(weft_read_report *r, const char *reason, const char *file, const char *unit,
                      uint64_t where, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* A problem that did not drop the record (counted under `reason`, not in `skipped`). */
void weft_report_warn(weft_read_report *r, const char *reason, const char *file, const char *unit,
                      uint64_t where, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A frame that carries no IP packet: counted in not_ip only. */
void weft_report_not_ip(weft_read_report *r);

/* Count of one reason (0 if never seen). */
uint64_t weft_report_count(const weft_read_report *r, const char *reason);

/* Formats an error message into a caller's buffer (err may be NULL or n 0: then nothing). The builders
 * and the scaler report their failures this way. */
void weft_set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Human summary (several lines) and a JSON object. */
void weft_report_print(FILE *f, const weft_read_report *r);
void weft_report_json(FILE *f, const weft_read_report *r);

#endif
