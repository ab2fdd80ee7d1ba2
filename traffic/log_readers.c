/* traffic/log_readers.c — flow logs (Zeek, Argus, Wireshark conversations, NetFlow CSV, CICFlowMeter,
 * UNSW-NB15, nfdump CSV, any CSV with a column map) → flows. One engine: a header names the columns, a
 * per-format table maps names to flow fields, every row is parsed field by field with the problems
 * counted. What differs between formats beyond their column names (CIC's day-first dates and class
 * names, UNSW's missing header, nfdump's flag letters and closing summary) is a small rule here, keyed
 * by the format. Captures of NetFlow / IPFIX export datagrams are handed to traffic/netflow_pkt.c. */
#define _GNU_SOURCE
#include "traffic/log_readers.h"

#include "traffic/input.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "traffic/labels.h"
#include "traffic/netflow_pkt.h"
#include "traffic/pcap_reader.h"

enum field {
    F_SRC, F_DST, F_SPORT, F_DPORT, F_PROTO, F_START, F_START_MS, F_END, F_END_MS, F_DUR, F_DUR_MS,
    F_FPKTS, F_FBYTES, F_BPKTS, F_BBYTES, F_PKTS, F_BYTES, F_FLAGS, F_FFLAGS, F_BFLAGS, F_HISTORY,
    F_LABEL, F_DETAIL, F_CATEGORY,
    F_PUBLIC, /* the fields above can be named in a column map; those below only by the presets */
    F_DUR_US = F_PUBLIC, F_FMIN, F_FMAX, F_BMIN, F_BMAX, F_FIAT_US, F_BIAT_US, F_FIAT_MS, F_BIAT_MS,
    F_FLAGCNT, /* a count of packets with one TCP flag (colname.aux: the flag, DIR_BWD for bwd) */
    F_COUNT
};

static const char *const field_names[F_COUNT] = {
    "src", "dst", "sport", "dport", "proto", "start", "start_ms", "end", "end_ms", "duration", "duration_ms",
    "fwd_packets", "fwd_bytes", "bwd_packets", "bwd_bytes", "packets", "bytes", "flags", "fwd_flags",
    "bwd_flags", "history", "label", "detail", "category", "duration_us", "fwd_min_size", "fwd_max_size",
    "bwd_min_size", "bwd_max_size", "fwd_mean_iat_us", "bwd_mean_iat_us", "fwd_mean_iat_ms", "bwd_mean_iat_ms",
    "flag_count",
};

enum { DIR_BWD = 0x100 };

typedef struct colname {
    int field;
    const char *name;
    unsigned aux; /* F_FLAGCNT: the WEFT_TCP_* flag, | DIR_BWD for the bwd direction */
} colname;

static const colname zeek_cols[] = {
    {F_START, "ts"}, {F_SRC, "id.orig_h"}, {F_SPORT, "id.orig_p"}, {F_DST, "id.resp_h"},
    {F_DPORT, "id.resp_p"}, {F_PROTO, "proto"}, {F_DUR, "duration"}, {F_FPKTS, "orig_pkts"},
    {F_FBYTES, "orig_ip_bytes"}, {F_BPKTS, "resp_pkts"}, {F_BBYTES, "resp_ip_bytes"},
    {F_HISTORY, "history"}, {F_LABEL, "label"}, {F_DETAIL, "detailedlabel"}, {-1, NULL},
};
static const colname binetflow_cols[] = {
    {F_START, "StartTime"}, {F_DUR, "Dur"}, {F_PROTO, "Proto"}, {F_SRC, "SrcAddr"}, {F_SPORT, "Sport"},
    {F_DST, "DstAddr"}, {F_DPORT, "Dport"}, {F_PKTS, "TotPkts"}, {F_BYTES, "TotBytes"},
    {F_FBYTES, "SrcBytes"}, {F_FPKTS, "SrcPkts"}, {F_BBYTES, "DstBytes"}, {F_BPKTS, "DstPkts"},
    {F_LABEL, "Label"}, {-1, NULL},
};
static const colname wireshark_cols[] = {
    {F_SRC, "Address A"}, {F_SPORT, "Port A"}, {F_DST, "Address B"}, {F_DPORT, "Port B"},
    {F_PKTS, "Packets"}, {F_BYTES, "Bytes"}, {F_FPKTS, "Packets A \xe2\x86\x92 B"},
    {F_FBYTES, "Bytes A \xe2\x86\x92 B"}, {F_BPKTS, "Packets B \xe2\x86\x92 A"},
    {F_BBYTES, "Bytes B \xe2\x86\x92 A"}, {F_FPKTS, "Packets A -> B"}, {F_FBYTES, "Bytes A -> B"},
    {F_BPKTS, "Packets B -> A"}, {F_BBYTES, "Bytes B -> A"}, {F_START, "Rel Start"},
    {F_DUR, "Duration"}, {-1, NULL},
};
static const colname netflow_cols[] = {
    {F_SRC, "IPV4_SRC_ADDR"}, {F_DST, "IPV4_DST_ADDR"}, {F_SRC, "IPV6_SRC_ADDR"}, {F_DST, "IPV6_DST_ADDR"},
    {F_SPORT, "L4_SRC_PORT"}, {F_DPORT, "L4_DST_PORT"}, {F_PROTO, "PROTOCOL"}, {F_FBYTES, "IN_BYTES"},
    {F_BBYTES, "OUT_BYTES"}, {F_FPKTS, "IN_PKTS"}, {F_BPKTS, "OUT_PKTS"}, {F_FLAGS, "TCP_FLAGS"},
    {F_FFLAGS, "CLIENT_TCP_FLAGS"}, {F_BFLAGS, "SERVER_TCP_FLAGS"},
    {F_DUR_MS, "FLOW_DURATION_MILLISECONDS"}, {F_START_MS, "FLOW_START_MILLISECONDS"},
    {F_END_MS, "FLOW_END_MILLISECONDS"}, {F_LABEL, "Label"}, {F_DETAIL, "Attack"}, {-1, NULL},
};
/* CICFlowMeter: CIC-IDS2017's long names (the files put a space before most of them; headers are trimmed)
 * and the short names of CSE-CIC-IDS2018 and the CICFlowMeter-V4 tool. The flag counts cover both
 * directions, except the Fwd / Bwd PSH and URG ones; both-direction flags go to fwd, as NetFlow's
 * TCP_FLAGS do. "CWE Flag Count" is CICFlowMeter's spelling of CWR. */
static const colname cic_cols[] = {
    {F_SRC, "Source IP"}, {F_SRC, "Src IP"}, {F_DST, "Destination IP"}, {F_DST, "Dst IP"},
    {F_SPORT, "Source Port"}, {F_SPORT, "Src Port"}, {F_DPORT, "Destination Port"}, {F_DPORT, "Dst Port"},
    {F_PROTO, "Protocol"}, {F_START, "Timestamp"}, {F_DUR_US, "Flow Duration"},
    {F_FPKTS, "Total Fwd Packets"}, {F_FPKTS, "Tot Fwd Pkts"}, {F_BPKTS, "Total Backward Packets"},
    {F_BPKTS, "Tot Bwd Pkts"}, {F_FBYTES, "Total Length of Fwd Packets"}, {F_FBYTES, "TotLen Fwd Pkts"},
    {F_BBYTES, "Total Length of Bwd Packets"}, {F_BBYTES, "TotLen Bwd Pkts"},
    {F_FMAX, "Fwd Packet Length Max"}, {F_FMAX, "Fwd Pkt Len Max"}, {F_FMIN, "Fwd Packet Length Min"},
    {F_FMIN, "Fwd Pkt Len Min"}, {F_BMAX, "Bwd Packet Length Max"}, {F_BMAX, "Bwd Pkt Len Max"},
    {F_BMIN, "Bwd Packet Length Min"}, {F_BMIN, "Bwd Pkt Len Min"}, {F_FIAT_US, "Fwd IAT Mean"},
    {F_BIAT_US, "Bwd IAT Mean"},
    {F_FLAGCNT, "FIN Flag Count", WEFT_TCP_FIN}, {F_FLAGCNT, "FIN Flag Cnt", WEFT_TCP_FIN},
    {F_FLAGCNT, "SYN Flag Count", WEFT_TCP_SYN}, {F_FLAGCNT, "SYN Flag Cnt", WEFT_TCP_SYN},
    {F_FLAGCNT, "RST Flag Count", WEFT_TCP_RST}, {F_FLAGCNT, "RST Flag Cnt", WEFT_TCP_RST},
    {F_FLAGCNT, "PSH Flag Count", WEFT_TCP_PSH}, {F_FLAGCNT, "PSH Flag Cnt", WEFT_TCP_PSH},
    {F_FLAGCNT, "ACK Flag Count", WEFT_TCP_ACK}, {F_FLAGCNT, "ACK Flag Cnt", WEFT_TCP_ACK},
    {F_FLAGCNT, "URG Flag Count", WEFT_TCP_URG}, {F_FLAGCNT, "URG Flag Cnt", WEFT_TCP_URG},
    {F_FLAGCNT, "CWE Flag Count", WEFT_TCP_CWR}, {F_FLAGCNT, "CWE Flag Cnt", WEFT_TCP_CWR},
    {F_FLAGCNT, "ECE Flag Count", WEFT_TCP_ECE}, {F_FLAGCNT, "ECE Flag Cnt", WEFT_TCP_ECE},
    {F_FLAGCNT, "Fwd PSH Flags", WEFT_TCP_PSH}, {F_FLAGCNT, "Bwd PSH Flags", WEFT_TCP_PSH | DIR_BWD},
    {F_FLAGCNT, "Fwd URG Flags", WEFT_TCP_URG}, {F_FLAGCNT, "Bwd URG Flags", WEFT_TCP_URG | DIR_BWD},
    {F_LABEL, "Label"}, {-1, NULL},
};
/* UNSW-NB15 (NUSW-NB15_features.csv): matched without regard to case, so the training / testing sets'
 * lower-case names match too. dur in seconds, Stime / Ltime epoch seconds, Sintpkt / Dintpkt in ms. */
static const colname unsw_cols[] = {
    {F_SRC, "srcip"}, {F_SPORT, "sport"}, {F_DST, "dstip"}, {F_DPORT, "dsport"}, {F_PROTO, "proto"},
    {F_DUR, "dur"}, {F_FBYTES, "sbytes"}, {F_BBYTES, "dbytes"}, {F_FPKTS, "Spkts"}, {F_BPKTS, "Dpkts"},
    {F_START, "Stime"}, {F_END, "Ltime"}, {F_FIAT_MS, "Sintpkt"}, {F_BIAT_MS, "Dintpkt"},
    {F_DETAIL, "attack_cat"}, {F_LABEL, "Label"}, {-1, NULL},
};
/* The 49 columns of UNSW-NB15_1..4.csv, which have no header row. */
static const char unsw_header[] =
    "srcip,sport,dstip,dsport,proto,state,dur,sbytes,dbytes,sttl,dttl,sloss,dloss,service,Sload,Dload,Spkts,"
    "Dpkts,swin,dwin,stcpb,dtcpb,smeansz,dmeansz,trans_depth,res_bdy_len,Sjit,Djit,Stime,Ltime,Sintpkt,Dintpkt,"
    "tcprtt,synack,ackdat,is_sm_ips_ports,ct_state_ttl,ct_flw_http_mthd,is_ftp_login,ct_ftp_cmd,ct_srv_src,"
    "ct_srv_dst,ct_dst_ltm,ct_src_ltm,ct_src_dport_ltm,ct_dst_sport_ltm,ct_dst_src_ltm,attack_cat,Label";
#define UNSW_COLUMNS 49
/* nfdump -o csv: in* counters are the flow's direction, out* the reverse one of bidirectional records. */
static const colname nfdump_cols[] = {
    {F_START, "ts"}, {F_END, "te"}, {F_DUR, "td"}, {F_SRC, "sa"}, {F_DST, "da"}, {F_SPORT, "sp"},
    {F_DPORT, "dp"}, {F_PROTO, "pr"}, {F_FLAGS, "flg"}, {F_FPKTS, "ipkt"}, {F_FBYTES, "ibyt"},
    {F_BPKTS, "opkt"}, {F_BBYTES, "obyt"}, {-1, NULL},
};

static const colname *format_cols(weft_input_format fmt)
{
    switch (fmt) {
    case WEFT_FMT_ZEEK: return zeek_cols;
    case WEFT_FMT_BINETFLOW: return binetflow_cols;
    case WEFT_FMT_WIRESHARK: return wireshark_cols;
    case WEFT_FMT_NETFLOW: return netflow_cols;
    case WEFT_FMT_CIC: return cic_cols;
    case WEFT_FMT_UNSW: return unsw_cols;
    case WEFT_FMT_NFDUMP: return nfdump_cols;
    default: return NULL;
    }
}

const char *weft_format_name(weft_input_format f)
{
    static const char *const n[WEFT_FMT_COUNT] = {"auto", "pcap", "zeek", "binetflow", "wireshark", "netflow",
                                                  "csv", "cic", "unsw", "nfdump", "export-pcap"};
    return (unsigned)f < WEFT_FMT_COUNT ? n[f] : "?";
}

bool weft_format_parse(const char *s, weft_input_format *out)
{
    for (int i = WEFT_FMT_AUTO; i < WEFT_FMT_COUNT; i++)
        if (strcmp(s, weft_format_name((weft_input_format)i)) == 0) {
            *out = (weft_input_format)i;
            return true;
        }
    return false;
}

static void strip_eol(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r')) s[--n] = 0;
}

static char *skip_bom(char *s)
{
    return (unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf ? s + 3 : s;
}

/* Field i (0-based) of a comma-separated line, copied into out (trimmed of spaces); false if the line
 * has fewer fields or the field does not fit. */
static bool csv_field(const char *line, int i, char *out, size_t n)
{
    const char *p = line;
    for (; i > 0; i--) {
        p = strchr(p, ',');
        if (!p) return false;
        p++;
    }
    while (*p == ' ') p++;
    size_t len = strcspn(p, ",");
    while (len && p[len - 1] == ' ') len--;
    if (len >= n) return false;
    memcpy(out, p, len);
    out[len] = 0;
    return true;
}

/* A data row of UNSW-NB15_1..4.csv: 49 fields, addresses first and third, a protocol name fifth. */
static bool unsw_is_data_line(const char *line)
{
    int commas = 0;
    for (const char *q = line; *q && *q != '\n' && *q != '\r'; q++) commas += *q == ',';
    char a[64], b[64], pr[32];
    weft_ip ip;
    return commas == UNSW_COLUMNS - 1 && csv_field(line, 0, a, sizeof a) && weft_ip_parse(a, &ip) &&
           csv_field(line, 2, b, sizeof b) && weft_ip_parse(b, &ip) && csv_field(line, 4, pr, sizeof pr) &&
           isalpha((unsigned char)pr[0]);
}

weft_input_format weft_format_detect(const char *path, bool have_columns, char *err, size_t errn)
{
    if (weft_pcap_is_capture(path)) return WEFT_FMT_PCAP;
    FILE *f = weft_input_open(path, NULL, err, errn); /* compressed logs are told apart by their text */
    if (!f) return WEFT_FMT_AUTO;
    char buf[4096];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    if (!line) {
        snprintf(err, errn, "%s: empty file", path);
        return WEFT_FMT_AUTO;
    }
    line = skip_bom(line);
    if (strncmp(line, "#separator", 10) == 0 || strncmp(line, "#fields", 7) == 0) return WEFT_FMT_ZEEK;
    if (have_columns) return WEFT_FMT_CSV;
    if (strstr(line, "StartTime") && strstr(line, "SrcAddr")) return WEFT_FMT_BINETFLOW;
    if (strstr(line, "Address A") && strstr(line, "Address B")) return WEFT_FMT_WIRESHARK;
    if (strstr(line, "IPV4_SRC_ADDR") || strstr(line, "IPV6_SRC_ADDR")) return WEFT_FMT_NETFLOW;
    if (strstr(line, "Flow Duration") && (strstr(line, "Total Fwd Packets") || strstr(line, "Tot Fwd Pkts")))
        return WEFT_FMT_CIC;
    if (strncmp(line, "ts,te,td,sa,da,", 15) == 0) return WEFT_FMT_NFDUMP;
    if (unsw_is_data_line(line) ||
        (strcasestr(line, "sbytes") && strcasestr(line, "dbytes") && strcasestr(line, "attack_cat")))
        return WEFT_FMT_UNSW;
    snprintf(err, errn, "%s: cannot tell the format from the first line (give --format, or --columns for "
                        "another CSV)", path);
    return WEFT_FMT_AUTO;
}

/* Walks "field=Header,..."; calls back for each pair. Returns false with a message on bad syntax. */
static bool walk_columns(const char *map, char *err, size_t errn,
                         void (*cb)(void *ctx, int field, const char *name, size_t len), void *ctx)
{
    const char *p = map;
    while (*p) {
        const char *eq = strchr(p, '=');
        const char *comma = strchr(p, ',');
        if (!comma) comma = p + strlen(p);
        if (!eq || eq > comma) {
            snprintf(err, errn, "column map: '%.*s' is not field=Header", (int)(comma - p), p);
            return false;
        }
        int field = -1;
        for (int i = 0; i < F_PUBLIC; i++)
            if (strlen(field_names[i]) == (size_t)(eq - p) && strncmp(field_names[i], p, (size_t)(eq - p)) == 0)
                field = i;
        if (field < 0) {
            snprintf(err, errn, "column map: unknown field '%.*s' (fields: src dst sport dport proto start "
                                "start_ms end end_ms duration duration_ms fwd_packets fwd_bytes bwd_packets "
                                "bwd_bytes packets bytes flags fwd_flags bwd_flags label detail category)",
                     (int)(eq - p), p);
            return false;
        }
        if (comma == eq + 1) {
            snprintf(err, errn, "column map: no header name for '%s'", field_names[field]);
            return false;
        }
        if (cb) cb(ctx, field, eq + 1, (size_t)(comma - eq - 1));
        p = *comma ? comma + 1 : comma;
    }
    return true;
}

bool weft_columns_check(const char *map, char *err, size_t errn)
{
    return walk_columns(map, err, errn, NULL, NULL);
}

/* ---- per-file state ---- */

#define MAX_COLS 512

typedef struct reader {
    const char *path;
    weft_input_format fmt;
    weft_read_report *r;
    weft_flow_table *t;
    int col[F_COUNT]; /* column index of each field, -1 when absent */
    struct {
        int col;
        unsigned aux;
    } flagcols[16]; /* F_FLAGCNT columns found in the header */
    int nflagcols;
    char *names[MAX_COLS];
    int ncols;
    char sep;
    const char *unset, *empty; /* Zeek's "-" and "(empty)" */
    /* file-name labels (Wireshark conversations) */
    const char *fn_label, *fn_detail;
    int fn_proto;
    uint64_t lineno;
    bool warned_no_start, warned_totals;
} reader;

static void map_cb(void *ctx, int field, const char *name, size_t len)
{
    reader *rd = ctx;
    rd->col[field] = -1; /* an explicit mapping replaces the format's own */
    for (int i = 0; i < rd->ncols; i++)
        if (strlen(rd->names[i]) == len && strncmp(rd->names[i], name, len) == 0) {
            rd->col[field] = i;
            return;
        }
    rd->col[field] = -2; /* asked for but not in the header */
}

/* Splits line in place. CSV fields may be "quoted" with "" for a quote; TSV fields are taken as they are.
 * Returns the field count, or -1 when a quote is not closed. */
static int split(char *line, char sep, char **out, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return n + 1; /* more than we keep: the caller reports it */
        if (sep == ',' && *p == '"') {
            char *w = p, *q = p + 1;
            out[n++] = w;
            for (;;) {
                if (!*q) return -1;
                if (*q == '"') {
                    if (q[1] == '"') {
                        *w++ = '"';
                        q += 2;
                        continue;
                    }
                    q++;
                    break;
                }
                *w++ = *q++;
            }
            *w = 0;
            if (*q == sep) {
                p = q + 1;
                continue;
            }
            if (!*q) return n;
            return -1; /* text after a closing quote */
        }
        out[n++] = p;
        char *e = strchr(p, sep);
        if (!e) return n;
        *e = 0;
        p = e + 1;
    }
}

static void trim(char **s)
{
    char *p = *s;
    while (*p == ' ') p++;
    size_t n = strlen(p);
    while (n && p[n - 1] == ' ') p[--n] = 0;
    *s = p;
}

static bool is_blank(const reader *rd, const char *v)
{
    return !*v || (rd->unset && strcmp(v, rd->unset) == 0) || (rd->empty && strcmp(v, rd->empty) == 0);
}

static bool parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s)) return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) {
        /* "12.0" from exports that print counts as floats: accept exact integers only */
        double d = strtod(s, &end);
        if (*end || !(d >= 0) || d > 1.8e19 || d != floor(d)) return false;
        v = (unsigned long long)d;
    }
    *out = v;
    return true;
}

static bool parse_port(const char *s, uint16_t *out)
{
    char *end;
    errno = 0;
    unsigned long v;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        v = strtoul(s + 2, &end, 16);
    else if (isdigit((unsigned char)*s))
        v = strtoul(s, &end, 10);
    else
        return false;
    if (errno || *end || v > 65535) return false;
    *out = (uint16_t)v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* Epoch seconds, or "YYYY/MM/DD HH:MM:SS[.frac]" / "YYYY-MM-DD[ T]HH:MM:SS[.frac]" as UTC. */
static bool parse_time(const char *s, double *out)
{
    int y, mo, d, h, mi;
    double sec;
    char c1, c2, sp;
    if (strlen(s) >= 19 && sscanf(s, "%4d%c%2d%c%2d%c%2d:%2d:%lf", &y, &c1, &mo, &c2, &d, &sp, &h, &mi, &sec) == 9 &&
        (c1 == '/' || c1 == '-') && c2 == c1 && (sp == ' ' || sp == 'T')) {
        if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61)) return false;
        struct tm tm = {0};
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        time_t t = timegm(&tm);
        if (t == (time_t)-1 && y != 1969) return false;
        *out = (double)t + sec;
        return true;
    }
    double v;
    if (!parse_double(s, &v) || v < 0 || v > 1e11) return false;
    *out = v;
    return true;
}

/* CICFlowMeter's day-first times: "3/7/2017 8:55", "03/07/2017 08:55:58", "14/02/2018 08:31:01",
 * "14/02/2018 08:31:01 AM" (the V4 tool's "dd/MM/yyyy hh:mm:ss a"), read as UTC like every log time.
 * CIC-IDS2017's short form has no AM / PM although its clock is 12-hour: afternoon times read as early
 * morning ones; that is in the data, not guessed at here. Other forms go to parse_time. */
static bool parse_cic_time(const char *s, double *out)
{
    int d, mo, y, h, mi, n = 0;
    if (sscanf(s, "%2d/%2d/%4d %2d:%2d%n", &d, &mo, &y, &h, &mi, &n) != 5) return parse_time(s, out);
    const char *p = s + n;
    double sec = 0;
    if (*p == ':') {
        char *end;
        if (!isdigit((unsigned char)p[1])) return false;
        sec = strtod(p + 1, &end);
        p = end;
    }
    while (*p == ' ') p++;
    if (strcasecmp(p, "AM") == 0 || strcasecmp(p, "PM") == 0) {
        if (h < 1 || h > 12) return false;
        h = (h % 12) + (toupper((unsigned char)*p) == 'P' ? 12 : 0);
    } else if (*p) {
        return false;
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || !(sec >= 0 && sec < 61))
        return false;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return false;
    *out = (double)t + sec;
    return true;
}

/* TCP flags as a number (decimal or 0x hex) or as letters, nfdump's "...AP.SF" / Argus' "FSPA_": a
 * letter sets its flag wherever it stands, '.' and '_' are none. */
static bool parse_flags(const char *s, uint8_t *out)
{
    uint64_t v;
    char *end;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2])) {
        errno = 0;
        v = strtoull(s + 2, &end, 16);
        if (errno || *end || v > 255) return false;
        *out = (uint8_t)v;
        return true;
    }
    if (isdigit((unsigned char)*s)) {
        if (!parse_u64(s, &v) || v > 255) return false;
        *out = (uint8_t)v;
        return true;
    }
    uint8_t f = 0;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case 'C': f |= WEFT_TCP_CWR; break;
        case 'E': f |= WEFT_TCP_ECE; break;
        case 'U': f |= WEFT_TCP_URG; break;
        case 'A': f |= WEFT_TCP_ACK; break;
        case 'P': f |= WEFT_TCP_PSH; break;
        case 'R': f |= WEFT_TCP_RST; break;
        case 'S': f |= WEFT_TCP_SYN; break;
        case 'F': f |= WEFT_TCP_FIN; break;
        case '.': case '_': break;
        default: return false;
        }
    }
    *out = f;
    return *s != 0;
}

/* A CIC class name with its dash spelled one way: CIC-IDS2017's "Web Attack – Brute Force" has an
 * en-dash (U+2013) in some releases, a bare Windows-1252 0x96 byte or the replacement character U+FFFD in
 * others. Writes into out (n bytes); returns false when it does not fit. */
static bool cic_class(const char *s, char *out, size_t n)
{
    static const char en_dash[] = "\xe2\x80\x93";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const char *put;
        size_t plen, adv;
        if (p[0] == 0x96) {
            put = en_dash, plen = 3, adv = 1;
        } else if (p[0] == 0xef && p[1] == 0xbf && p[2] == 0xbd) {
            put = en_dash, plen = 3, adv = 3;
        } else {
            put = (const char *)p, plen = 1, adv = 1;
        }
        if (o + plen >= n) return false;
        memcpy(out + o, put, plen);
        o += plen;
        p += adv;
    }
    out[o] = 0;
    return true;
}

/* Zeek history letters: upper case for the originator, lower case for the responder. */
static void history_flags(const char *h, uint8_t *fwd, uint8_t *bwd)
{
    for (; *h; h++) {
        uint8_t fl = 0;
        switch (tolower((unsigned char)*h)) {
        case 's': fl = WEFT_TCP_SYN; break;
        case 'h': fl = WEFT_TCP_SYN | WEFT_TCP_ACK; break;
        case 'a': fl = WEFT_TCP_ACK; break;
        case 'f': fl = WEFT_TCP_FIN; break;
        case 'r': fl = WEFT_TCP_RST; break;
        default: break;
        }
        if (isupper((unsigned char)*h))
            *fwd |= fl;
        else
            *bwd |= fl;
    }
}

/* CTU / Argus labels ("flow=From-Botnet-V42-TCP-...", "flow=Background-UDP-Attempt", "Normal-..."):
 * detail keeps the text, label is its class in the Zeek vocabulary. */
static const char *ctu_class(const char *s)
{
    if (strcasestr(s, "botnet") || strcasestr(s, "malware") || strcasestr(s, "malicious") || strcasestr(s, "attack"))
        return "Malicious";
    if (strcasestr(s, "normal") || strcasestr(s, "benign")) return "Benign";
    return "Background";
}

#define SKIP(reason, ...)                                                                  \
    do {                                                                                   \
        weft_report_skip(rd->r, reason, rd->path, "line", rd->lineno, __VA_ARGS__);        \
        return 0;                                                                          \
    } while (0)

static int intern_set(reader *rd, const char **dst, const char *s)
{
    *dst = weft_flow_table_intern(rd->t, s);
    return *dst ? 0 : -1;
}

/* One data row → one flow. Returns 0 (kept or skipped) or -1 on allocation failure. */
static int read_row(reader *rd, char **v, int nv)
{
    rd->r->records++;
    int need = 0;
    for (int i = 0; i < F_COUNT; i++)
        if (rd->col[i] >= 0 && rd->col[i] + 1 > need) need = rd->col[i] + 1;
    for (int i = 0; i < rd->nflagcols; i++)
        if (rd->flagcols[i].col + 1 > need) need = rd->flagcols[i].col + 1;
    if (nv < need) SKIP("too few fields", "%d fields, the columns need %d", nv, need);
    for (int i = 0; i < nv; i++) trim(&v[i]);
    /* files joined from several captures repeat their header (CSE-CIC-IDS2018's Thursday-20-02 does) */
    if (nv == rd->ncols && strcmp(v[0], rd->names[0]) == 0 && strcmp(v[nv - 1], rd->names[nv - 1]) == 0)
        SKIP("repeated header row", "'%s, ...'", v[0]);
#define VAL(f) (rd->col[f] >= 0 ? v[rd->col[f]] : NULL)
#define HAS(f) (rd->col[f] >= 0 && !is_blank(rd, v[rd->col[f]]))

    weft_flow f;
    memset(&f, 0, sizeof f);
    /* protocol first: Argus rows of ARP / LLC / management records have no IP addresses */
    int proto = rd->fn_proto;
    if (HAS(F_PROTO)) {
        proto = weft_proto_from_name(VAL(F_PROTO));
        if (proto < 0) SKIP("not an IP protocol", "protocol '%s'", VAL(F_PROTO));
    }
    f.proto = (uint8_t)(proto < 0 ? 0 : proto);
    if (!HAS(F_SRC) || !weft_ip_parse(VAL(F_SRC), &f.src)) SKIP("bad address", "source '%s'", VAL(F_SRC) ? VAL(F_SRC) : "");
    if (!HAS(F_DST) || !weft_ip_parse(VAL(F_DST), &f.dst))
        SKIP("bad address", "destination '%s'", VAL(F_DST) ? VAL(F_DST) : "");
    if (weft_ip_is_v4(&f.src) != weft_ip_is_v4(&f.dst)) SKIP("bad address", "IPv4 and IPv6 ends mixed");
    f.ip_version = weft_ip_is_v4(&f.src) ? 4 : 6;
    if (HAS(F_SPORT) && !parse_port(VAL(F_SPORT), &f.sport)) SKIP("bad port", "source port '%s'", VAL(F_SPORT));
    if (HAS(F_DPORT) && !parse_port(VAL(F_DPORT), &f.dport)) SKIP("bad port", "destination port '%s'", VAL(F_DPORT));

    /* times */
    double start = 0, end = NAN, dur = NAN, x;
    if (HAS(F_START)) {
        bool ok = rd->fmt == WEFT_FMT_CIC ? parse_cic_time(VAL(F_START), &start) : parse_time(VAL(F_START), &start);
        if (!ok) SKIP("bad time", "start '%s'", VAL(F_START));
    } else if (HAS(F_START_MS)) {
        if (!parse_double(VAL(F_START_MS), &x) || x < 0 || x > 1e14) SKIP("bad time", "start '%s' ms", VAL(F_START_MS));
        start = x / 1000.0;
    } else if (rd->col[F_START] >= 0 || rd->col[F_START_MS] >= 0) {
        SKIP("bad time", "start time empty");
    }
    if (HAS(F_DUR)) {
        if (!parse_double(VAL(F_DUR), &dur)) SKIP("bad number", "duration '%s'", VAL(F_DUR));
    } else if (HAS(F_DUR_MS)) {
        if (!parse_double(VAL(F_DUR_MS), &dur)) SKIP("bad number", "duration '%s' ms", VAL(F_DUR_MS));
        dur /= 1000.0;
    } else if (HAS(F_DUR_US)) {
        if (!parse_double(VAL(F_DUR_US), &dur)) SKIP("bad number", "duration '%s' us", VAL(F_DUR_US));
        dur /= 1e6;
    }
    if (HAS(F_END)) {
        if (!parse_time(VAL(F_END), &end)) SKIP("bad time", "end '%s'", VAL(F_END));
    } else if (HAS(F_END_MS)) {
        if (!parse_double(VAL(F_END_MS), &x) || x < 0 || x > 1e14) SKIP("bad time", "end '%s' ms", VAL(F_END_MS));
        end = x / 1000.0;
    }
    if (isnan(dur)) dur = isnan(end) ? 0.0 : end - start;
    if (dur < 0) SKIP("negative duration", "duration %.6f s (time runs backwards)", dur);
    f.start = start;
    f.duration = dur;

    /* counts */
    uint64_t c[F_COUNT] = {0};
    static const int counts[] = {F_FPKTS, F_FBYTES, F_BPKTS, F_BBYTES, F_PKTS, F_BYTES};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        int fi = counts[i];
        if (HAS(fi) && !parse_u64(VAL(fi), &c[fi])) SKIP("bad number", "%s '%s'", field_names[fi], VAL(fi));
    }
    bool have_fp = HAS(F_FPKTS) || rd->col[F_FPKTS] >= 0, have_fb = HAS(F_FBYTES) || rd->col[F_FBYTES] >= 0;
    bool have_bp = rd->col[F_BPKTS] >= 0, have_bb = rd->col[F_BBYTES] >= 0;
    f.fwd.packets = c[F_FPKTS];
    f.fwd.bytes = c[F_FBYTES];
    f.bwd.packets = c[F_BPKTS];
    f.bwd.bytes = c[F_BBYTES];
    /* totals fill in what the per-direction columns leave out */
    if (rd->col[F_PKTS] >= 0 && !have_bp) {
        if (!have_fp) {
            f.fwd.packets = c[F_PKTS];
        } else {
            if (c[F_PKTS] < c[F_FPKTS]) SKIP("inconsistent counts", "total packets %llu below source packets %llu",
                                             (unsigned long long)c[F_PKTS], (unsigned long long)c[F_FPKTS]);
            f.bwd.packets = c[F_PKTS] - c[F_FPKTS];
        }
    }
    if (rd->col[F_BYTES] >= 0 && !have_bb) {
        if (!have_fb) {
            f.fwd.bytes = c[F_BYTES];
        } else {
            if (c[F_BYTES] < c[F_FBYTES]) SKIP("inconsistent counts", "total bytes %llu below source bytes %llu",
                                               (unsigned long long)c[F_BYTES], (unsigned long long)c[F_FBYTES]);
            f.bwd.bytes = c[F_BYTES] - c[F_FBYTES];
        }
    }
    if ((rd->col[F_PKTS] >= 0 && !have_fp && !have_bp) && !rd->warned_totals) {
        rd->warned_totals = true;
        weft_report_warn(rd->r, "no per-direction packet counts (totals counted as src->dst)", rd->path, "line",
                         rd->lineno, "the file has totals only");
    }

    /* flags */
    uint8_t fl;
    if (HAS(F_FLAGS)) {
        if (!parse_flags(VAL(F_FLAGS), &fl)) SKIP("bad number", "flags '%s'", VAL(F_FLAGS));
        f.fwd.flags |= fl;
    }
    if (HAS(F_FFLAGS)) {
        if (!parse_flags(VAL(F_FFLAGS), &fl)) SKIP("bad number", "fwd_flags '%s'", VAL(F_FFLAGS));
        f.fwd.flags |= fl;
    }
    if (HAS(F_BFLAGS)) {
        if (!parse_flags(VAL(F_BFLAGS), &fl)) SKIP("bad number", "bwd_flags '%s'", VAL(F_BFLAGS));
        f.bwd.flags |= fl;
    }
    for (int i = 0; i < rd->nflagcols; i++) {
        const char *cv = v[rd->flagcols[i].col];
        double n;
        if (is_blank(rd, cv)) continue;
        if (!parse_double(cv, &n) || n < 0) SKIP("bad number", "flag count '%s'", cv);
        if (n > 0) *(rd->flagcols[i].aux & DIR_BWD ? &f.bwd.flags : &f.fwd.flags) |= (uint8_t)rd->flagcols[i].aux;
    }
    if (HAS(F_HISTORY) && f.proto == 6) history_flags(VAL(F_HISTORY), &f.fwd.flags, &f.bwd.flags);

    /* per-direction times: only the flow's ends are known */
    if (f.fwd.packets) f.fwd.first = start, f.fwd.last = start + dur;
    if (f.bwd.packets) f.bwd.first = start, f.bwd.last = start + dur;
    f.has_stats = false;

    /* per-direction statistics of the presets that have them (CIC: sizes and IAT; UNSW: IAT only) */
    static const struct {
        int field;
        double scale;
    } stats[] = {{F_FMIN, 1}, {F_FMAX, 1}, {F_BMIN, 1}, {F_BMAX, 1},
                 {F_FIAT_US, 1e-6}, {F_BIAT_US, 1e-6}, {F_FIAT_MS, 1e-3}, {F_BIAT_MS, 1e-3}};
    double st[F_COUNT] = {0};
    for (size_t i = 0; i < sizeof stats / sizeof stats[0]; i++) {
        int fi = stats[i].field;
        if (!HAS(fi)) continue;
        double x;
        /* CICFlowMeter writes NaN / Infinity and, with clock steps, negative times: the row is kept */
        if (!parse_double(VAL(fi), &x) || x < 0 || (stats[i].scale == 1 && x > 4294967295.0)) {
            weft_report_warn(rd->r, "unusable statistic (NaN, Infinity or negative) read as 0", rd->path, "line",
                             rd->lineno, "%s '%s'", field_names[fi], VAL(fi));
            continue;
        }
        st[fi] = x * stats[i].scale;
    }
    if (f.fwd.packets) {
        f.fwd.min_size = (uint32_t)st[F_FMIN], f.fwd.max_size = (uint32_t)st[F_FMAX];
        f.fwd.mean_iat = st[F_FIAT_US] + st[F_FIAT_MS];
    }
    if (f.bwd.packets) {
        f.bwd.min_size = (uint32_t)st[F_BMIN], f.bwd.max_size = (uint32_t)st[F_BMAX];
        f.bwd.mean_iat = st[F_BIAT_US] + st[F_BIAT_MS];
    }
    weft_flow_dir *dirs[2] = {&f.fwd, &f.bwd};
    for (int i = 0; i < 2; i++)
        if (dirs[i]->min_size > dirs[i]->max_size) {
            weft_report_warn(rd->r, "unusable statistic (minimum size above maximum) read as 0", rd->path, "line",
                             rd->lineno, "%s min %u, max %u", i ? "bwd" : "fwd", (unsigned)dirs[i]->min_size,
                             (unsigned)dirs[i]->max_size);
            dirs[i]->min_size = dirs[i]->max_size = 0;
        }
    f.has_stats = rd->col[F_FMIN] >= 0 && rd->col[F_FMAX] >= 0 && rd->col[F_BMIN] >= 0 && rd->col[F_BMAX] >= 0 &&
                  rd->col[F_FIAT_US] >= 0 && rd->col[F_BIAT_US] >= 0;

    /* labels */
    if (HAS(F_LABEL)) {
        const char *l = VAL(F_LABEL);
        if (rd->fmt == WEFT_FMT_BINETFLOW) {
            const char *d = strncmp(l, "flow=", 5) == 0 ? l + 5 : l;
            if (intern_set(rd, &f.label, ctu_class(d)) || intern_set(rd, &f.detail, d)) return -1;
        } else if ((rd->fmt == WEFT_FMT_NETFLOW || rd->fmt == WEFT_FMT_UNSW) &&
                   (strcmp(l, "0") == 0 || strcmp(l, "1") == 0)) {
            if (intern_set(rd, &f.label, l[0] == '0' ? "Benign" : "Malicious")) return -1;
        } else if (rd->fmt == WEFT_FMT_CIC) {
            /* "NeedManualLabel" is what the CICFlowMeter tool writes before anyone labelled the flow */
            char cls[256];
            if (strcmp(l, "NeedManualLabel") != 0) {
                const char *d = cic_class(l, cls, sizeof cls) ? cls : l;
                if (intern_set(rd, &f.label, strcasecmp(d, "benign") == 0 ? "Benign" : "Malicious") ||
                    intern_set(rd, &f.detail, d))
                    return -1;
            }
        } else if (intern_set(rd, &f.label, l)) {
            return -1;
        }
    } else if (rd->fn_label && intern_set(rd, &f.label, rd->fn_label)) {
        return -1;
    }
    if (HAS(F_DETAIL)) {
        if (intern_set(rd, &f.detail, VAL(F_DETAIL))) return -1;
    } else if (!f.detail && rd->fn_detail && intern_set(rd, &f.detail, rd->fn_detail)) {
        return -1;
    }
    if (HAS(F_CATEGORY) && intern_set(rd, &f.category, VAL(F_CATEGORY))) return -1;
#undef VAL
#undef HAS
    return weft_flow_table_push(rd->t, &f);
}

static bool zeek_unescape_sep(const char *s, char *out)
{
    /* "#separator \x09" */
    if (s[0] == '\\' && s[1] == 'x' && isxdigit((unsigned char)s[2]) && isxdigit((unsigned char)s[3]) && !s[4]) {
        *out = (char)strtol(s + 2, NULL, 16);
        return *out != 0 && *out != '\n';
    }
    if (s[0] && !s[1]) {
        *out = s[0];
        return true;
    }
    return false;
}

/* Sets names[] from a header line (split in place) and maps the format's columns. */
static void set_header(reader *rd, char *hdr, const colname *cols, int *nfields)
{
    char *fields[MAX_COLS];
    int n = split(hdr, rd->sep, fields, MAX_COLS);
    if (n < 0) n = 0;
    if (n > MAX_COLS) n = MAX_COLS;
    for (int i = 0; i < n; i++) {
        trim(&fields[i]);
        rd->names[i] = fields[i];
    }
    rd->ncols = n;
    *nfields = n;
    for (int i = 0; i < F_COUNT; i++) rd->col[i] = -1;
    rd->nflagcols = 0;
    /* UNSW-NB15's own files capitalise Spkts / Label, its training and testing sets do not */
    int (*cmp)(const char *, const char *) = rd->fmt == WEFT_FMT_UNSW ? strcasecmp : strcmp;
    for (const colname *c = cols; c && c->name; c++)
        for (int i = 0; i < n; i++) {
            if (cmp(rd->names[i], c->name) != 0) continue;
            if (c->field == F_FLAGCNT) {
                if (rd->nflagcols < (int)(sizeof rd->flagcols / sizeof rd->flagcols[0]))
                    rd->flagcols[rd->nflagcols].col = i, rd->flagcols[rd->nflagcols++].aux = c->aux;
            } else if (rd->col[c->field] < 0) {
                rd->col[c->field] = i;
            }
            break;
        }
}

/* "'Source IP' or 'Src IP'": the header names a format gives a field, for error messages. */
static void names_of(const colname *cols, int field, char *out, size_t n)
{
    size_t o = 0;
    out[0] = 0;
    for (const colname *c = cols; c && c->name; c++) {
        if (c->field != field) continue;
        int w = snprintf(out + o, n - o, "%s'%s'", o ? " or " : "", c->name);
        if (w < 0 || (size_t)w >= n - o) break;
        o += (size_t)w;
    }
}

int weft_log_read_file(const char *path, weft_input_format fmt, const char *columns, weft_flow_table *t,
                       weft_read_report *r, char *err, size_t errn)
{
    if (fmt == WEFT_FMT_EXPORT_PCAP) return weft_export_read_file(path, t, r, err, errn);
    if (columns && !weft_columns_check(columns, err, errn)) return -1;
    const colname *cols = format_cols(fmt);
    if (fmt == WEFT_FMT_CSV && !columns) {
        snprintf(err, errn, "%s: a CSV of another kind needs a column map (--columns src=...,dst=...)", path);
        return -1;
    }
    if (fmt == WEFT_FMT_PCAP || fmt == WEFT_FMT_AUTO || (unsigned)fmt >= WEFT_FMT_COUNT) {
        snprintf(err, errn, "%s: not a flow log format", path);
        return -1;
    }
    FILE *fp = weft_input_open(path, NULL, err, errn); /* "-", gzip and zstd too */
    if (!fp) {
        weft_report_skip(r, "unreadable file", path, NULL, 0, "%s", err);
        return -1;
    }
    reader rd;
    memset(&rd, 0, sizeof rd);
    rd.path = path;
    rd.fmt = fmt;
    rd.r = r;
    rd.t = t;
    rd.sep = ',';
    rd.fn_proto = -1;
    for (int i = 0; i < F_COUNT; i++) rd.col[i] = -1;
    char fn_label[64], fn_detail[128];
    unsigned fn_proto;
    if (weft_label_from_filename(path, fn_label, sizeof fn_label, fn_detail, sizeof fn_detail, &fn_proto)) {
        rd.fn_label = fn_label;
        rd.fn_detail = fn_detail;
        if (fn_proto) rd.fn_proto = (int)fn_proto;
    }
    r->files++;
    char *line = NULL, *header = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0, nheader = 0;
    char *vals[MAX_COLS + 1];
    while ((len = getline(&line, &cap, fp)) >= 0) {
        rd.lineno++;
        strip_eol(line);
        char *s = rd.lineno == 1 ? skip_bom(line) : line;
        if (fmt == WEFT_FMT_ZEEK && s[0] == '#') {
            char *sp = s + 1;
            while (*sp && *sp != ' ' && *sp != '\t') sp++;
            char *arg = *sp ? sp + 1 : sp;
            size_t klen = (size_t)(sp - s);
            if (klen == 10 && strncmp(s, "#separator", 10) == 0) {
                if (!zeek_unescape_sep(arg, &rd.sep)) {
                    snprintf(err, errn, "%s: line %llu: bad #separator '%s'", path, (unsigned long long)rd.lineno, arg);
                    rc = -1;
                    break;
                }
            } else if (klen == 7 && strncmp(s, "#fields", 7) == 0) {
                free(header);
                header = strdup(arg);
                if (!header) {
                    rc = -1;
                    snprintf(err, errn, "%s: out of memory", path);
                    break;
                }
                set_header(&rd, header, cols, &nheader);
            }
            continue; /* #unset_field / #empty_field keep Zeek's usual "-" / "(empty)" below */
        }
        /* nfdump closes its CSV with "Summary", a header of totals and one row of them: not flows */
        if (fmt == WEFT_FMT_NFDUMP && header && strncmp(s, "Summary", 7) == 0 && (!s[7] || s[7] == ','))
            break;
        bool data_too = false; /* the first line is data, not a header (UNSW-NB15_1..4.csv) */
        if (!header) {
            if (fmt == WEFT_FMT_ZEEK) {
                snprintf(err, errn, "%s: line %llu: data before the #fields line", path, (unsigned long long)rd.lineno);
                rc = -1;
                break;
            }
            if (!*s) continue;
            /* the first line is the header; tabs or commas, whichever it has more of */
            size_t tabs = 0, commas = 0;
            for (const char *q = s; *q; q++) tabs += *q == '\t', commas += *q == ',';
            rd.sep = tabs > commas ? '\t' : ',';
            data_too = fmt == WEFT_FMT_UNSW && unsw_is_data_line(s);
            header = strdup(data_too ? unsw_header : s);
            if (!header) {
                rc = -1;
                snprintf(err, errn, "%s: out of memory", path);
                break;
            }
            set_header(&rd, header, cols, &nheader);
            if (columns) walk_columns(columns, err, errn, map_cb, &rd);
            /* requirements */
            const char *missing = NULL;
            for (int i = 0; i < F_COUNT; i++)
                if (rd.col[i] < -1) missing = field_names[i];
            if (missing) {
                snprintf(err, errn, "%s: the column mapped to '%s' is not in the header", path, missing);
                rc = -1;
                break;
            }
            if (rd.col[F_SRC] < 0 || rd.col[F_DST] < 0) {
                /* name what the format looks for, so a user can see which export of a dataset this is */
                bool no_src = rd.col[F_SRC] < 0, no_dst = rd.col[F_DST] < 0;
                char a[70] = "", b[70] = "";
                names_of(cols, F_SRC, a, sizeof a);
                names_of(cols, F_DST, b, sizeof b);
                const char *what = no_src && no_dst ? "source or destination address"
                                   : no_src         ? "source address"
                                                    : "destination address";
                if (cols)
                    snprintf(err, errn, "%s: no %s column in the header (line 1): %s looks for %s%s%s; use --columns "
                             "to name it%s", path, what, weft_format_name(fmt), no_src ? a : b,
                             no_src && no_dst ? ", and " : "", no_src && no_dst ? b : "",
                             fmt == WEFT_FMT_CIC    ? " (CIC-IDS2017's MachineLearningCVE files and most "
                                                      "CSE-CIC-IDS2018 files have no addresses at all)"
                             : fmt == WEFT_FMT_UNSW ? " (UNSW-NB15's training and testing sets have no "
                                                      "addresses at all)"
                                                    : "");
                else
                    snprintf(err, errn, "%s: no %s column in the header (line 1); use --columns to name it", path, what);
                rc = -1;
                break;
            }
            if (rd.col[F_START] < 0 && rd.col[F_START_MS] < 0)
                weft_report_warn(r, "no start time column (flows start at 0)", path, "line", 1, "header");
            if (!data_too) continue;
        }
        if (fmt == WEFT_FMT_ZEEK) {
            if (rd.unset == NULL) rd.unset = "-", rd.empty = "(empty)";
            if (rd.col[F_SRC] < 0 || rd.col[F_DST] < 0) {
                snprintf(err, errn, "%s: the #fields line has no id.orig_h / id.resp_h", path);
                rc = -1;
                break;
            }
        }
        if (!*s) continue;
        int nv = split(s, rd.sep, vals, MAX_COLS);
        if (nv < 0) {
            r->records++;
            weft_report_skip(r, "broken quoting", path, "line", rd.lineno, "unterminated quote or text after one");
            continue;
        }
        if (nv > MAX_COLS) {
            r->records++;
            weft_report_skip(r, "too many fields", path, "line", rd.lineno, "more than %d", MAX_COLS);
            continue;
        }
        if (read_row(&rd, vals, nv) != 0) {
            snprintf(err, errn, "%s: out of memory", path);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && !header) {
        snprintf(err, errn, "%s: no header line", path);
        rc = -1;
    }
    if (rc == 0 && ferror(fp)) {
        snprintf(err, errn, "%s: read error", path);
        rc = -1;
    }
    free(line);
    free(header);
    fclose(fp);
    return rc;
}
