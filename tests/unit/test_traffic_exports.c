/* tests/unit/test_traffic_exports.c — the flow exports datasets and collectors ship: CICFlowMeter CSVs
 * (CIC-IDS2017, CSE-CIC-IDS2018, the CICFlowMeter-V4 tool), UNSW-NB15 CSVs, nfdump CSV output, and
 * captures of NetFlow v5 / v9 / IPFIX export datagrams. The samples are in tests/data/traffic (hand-made in
 * the published formats; the captures written by gen_export_pcaps.py there). Every expected value is
 * worked out from those files, never taken from weft. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "traffic/log_readers.h"
#include "traffic/netflow_pkt.h"
#include "traffic/report.h"

#define EPS 1e-6
#define DATA "tests/data/traffic/"

static void check_ip(const weft_ip *ip, const char *text)
{
    weft_ip e;
    CU_ASSERT_FATAL(weft_ip_parse(text, &e));
    char got[64];
    weft_ip_format(ip, got, sizeof got);
    if (memcmp(ip->b, e.b, 16) != 0) printf("\n  address %s, expected %s", got, text);
    CU_ASSERT(memcmp(ip->b, e.b, 16) == 0);
}

/* Reads one sample with its detected format (or fmt when given); fills t and r. */
static int read_sample(const char *name, weft_input_format fmt, weft_flow_table *t, weft_read_report *r, char *err,
                       size_t errn)
{
    weft_flow_table_init(t);
    weft_report_init(r);
    err[0] = 0;
    if (fmt == WEFT_FMT_AUTO) fmt = weft_format_detect(name, false, err, errn);
    return weft_log_read_file(name, fmt, NULL, t, r, err, errn);
}

static char *write_text(const char *text)
{
    char *path = strdup("/tmp/weft_te_XXXXXX.csv");
    int fd = mkstemps(path, 4);
    if (fd < 0) {
        free(path);
        return NULL;
    }
    size_t n = strlen(text);
    ssize_t w = write(fd, text, n);
    close(fd);
    if (w != (ssize_t)n) {
        unlink(path);
        free(path);
        return NULL;
    }
    return path;
}

static void test_names_and_detection(void)
{
    static const struct {
        const char *file;
        weft_input_format fmt;
    } files[] = {
        {DATA "cic_ids2017_sample.csv", WEFT_FMT_CIC},
        {DATA "cic_ids2017_machinelearningcve.csv", WEFT_FMT_CIC},
        {DATA "cse_cic_ids2018_sample.csv", WEFT_FMT_CIC},
        {DATA "cse_cic_ids2018_noaddr.csv", WEFT_FMT_CIC},
        {DATA "cicflowmeter_v4_output.csv", WEFT_FMT_CIC},
        {DATA "unsw_nb15_sample.csv", WEFT_FMT_UNSW},
        {DATA "unsw_nb15_training_set_sample.csv", WEFT_FMT_UNSW},
        {DATA "nfdump_sample.csv", WEFT_FMT_NFDUMP},
        {DATA "netflow_v5.pcap", WEFT_FMT_PCAP}, /* a capture of exports is asked for, never guessed */
    };
    char err[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        weft_input_format f = weft_format_detect(files[i].file, false, err, sizeof err);
        if (f != files[i].fmt) printf("\n  %s: detected %s", files[i].file, weft_format_name(f));
        CU_ASSERT_EQUAL(f, files[i].fmt);
    }
    for (int i = 0; i < WEFT_FMT_COUNT; i++) {
        weft_input_format f;
        CU_ASSERT(weft_format_parse(weft_format_name((weft_input_format)i), &f));
        CU_ASSERT_EQUAL((int)f, i);
    }
    weft_input_format f;
    CU_ASSERT(weft_format_parse("export-pcap", &f));
    CU_ASSERT_EQUAL(f, WEFT_FMT_EXPORT_PCAP);
    CU_ASSERT_FALSE(weft_format_parse("ipfix", &f));
    CU_ASSERT_STRING_EQUAL(weft_format_name(WEFT_FMT_COUNT), "?");
}

/* ---------- CICFlowMeter ---------- */

static void test_cic2017(void)
{
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_sample(DATA "cic_ids2017_sample.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 6);
    CU_ASSERT_EQUAL(r.skipped, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "negative duration"), 1); /* Flow Duration -1 */
    CU_ASSERT_EQUAL(r.warnings, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "unusable statistic (NaN, Infinity or negative) read as 0"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 5);

    /* " Source IP" 104.16.207.165:443 → 192.168.10.5:54865, "3/7/2017 8:55" = 2017-07-03 08:55 UTC */
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "104.16.207.165");
    check_ip(&f->dst, "192.168.10.5");
    CU_ASSERT_EQUAL(f->sport, 443);
    CU_ASSERT_EQUAL(f->dport, 54865);
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1499072100.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 3e-6, 1e-12); /* Flow Duration 3 µs */
    CU_ASSERT_EQUAL(f->fwd.packets, 2);
    CU_ASSERT_EQUAL(f->fwd.bytes, 12);
    CU_ASSERT_EQUAL(f->fwd.min_size, 6);
    CU_ASSERT_EQUAL(f->fwd.max_size, 6);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 3e-6, 1e-12);
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_ACK); /* ACK Flag Count 1 */
    CU_ASSERT(f->has_stats);
    CU_ASSERT_STRING_EQUAL(f->label, "Benign");
    CU_ASSERT_STRING_EQUAL(f->detail, "BENIGN");

    /* DDoS, "7/7/2017 3:56" (the afternoon, written without PM in the dataset: read as written) */
    f = &t.flows[1];
    check_ip(&f->src, "172.16.0.1");
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1499399760.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 1.293792, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 3);
    CU_ASSERT_EQUAL(f->fwd.bytes, 26);
    CU_ASSERT_EQUAL(f->fwd.min_size, 0);
    CU_ASSERT_EQUAL(f->fwd.max_size, 20);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.646896, EPS);
    CU_ASSERT_EQUAL(f->bwd.packets, 7);
    CU_ASSERT_EQUAL(f->bwd.bytes, 11607);
    CU_ASSERT_EQUAL(f->bwd.max_size, 5840);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.mean_iat, 0.215632, EPS);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_PSH); /* PSH Flag Count (both directions: counted as fwd) */
    CU_ASSERT_EQUAL(f->bwd.flags, WEFT_TCP_PSH); /* Bwd PSH Flags */
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.first, f->start, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.last, f->start + 1.293792, EPS);
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");
    CU_ASSERT_STRING_EQUAL(f->detail, "DDoS");

    /* "06/07/2017 09:15:43 AM", the class with its en-dash */
    f = &t.flows[2];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1499332543.0, EPS);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN | WEFT_TCP_FIN);
    CU_ASSERT_STRING_EQUAL(f->detail, "Web Attack \xe2\x80\x93 Brute Force");
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");

    /* "06/07/2017 01:15:43 PM"; NaN / Infinity in Flow Bytes/s and Flow Packets/s (not read) */
    f = &t.flows[3];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1499346943.0, EPS);
    CU_ASSERT_EQUAL(f->proto, 0);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.0, EPS);

    /* the Windows-1252 0x96 dash of the original files becomes the same en-dash; Fwd IAT Mean -12 → 0 */
    f = &t.flows[4];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1499347200.0, EPS);
    CU_ASSERT_STRING_EQUAL(f->detail, "Web Attack \xe2\x80\x93 XSS");
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.0, EPS);
    weft_flow_table_free(&t);

    /* MachineLearningCVE: no addresses, no time: the error names the columns looked for */
    CU_ASSERT_EQUAL(read_sample(DATA "cic_ids2017_machinelearningcve.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err),
                    -1);
    CU_ASSERT(strstr(err, "'Source IP' or 'Src IP'") != NULL);
    CU_ASSERT(strstr(err, "'Destination IP' or 'Dst IP'") != NULL);
    CU_ASSERT(strstr(err, "line 1") != NULL);
    weft_flow_table_free(&t);
}

static void test_cic2018(void)
{
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_sample(DATA "cse_cic_ids2018_sample.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 3);
    CU_ASSERT_EQUAL(r.skipped, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "repeated header row"), 1);
    CU_ASSERT_EQUAL(r.warnings, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "18.219.193.20");
    check_ip(&f->dst, "172.31.69.25");
    CU_ASSERT_EQUAL(f->sport, 37248);
    CU_ASSERT_EQUAL(f->dport, 80);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1519121557.0, EPS); /* 20/02/2018 10:12:37 */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.002106, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 3);
    CU_ASSERT_EQUAL(f->fwd.bytes, 326);
    CU_ASSERT_EQUAL(f->fwd.max_size, 326);
    CU_ASSERT_EQUAL(f->bwd.packets, 4);
    CU_ASSERT_EQUAL(f->bwd.bytes, 935);
    CU_ASSERT_EQUAL(f->bwd.max_size, 935);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.001053, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.mean_iat, 356.6666667e-6, 1e-9);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_FIN | WEFT_TCP_PSH);
    CU_ASSERT(f->has_stats);
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");
    CU_ASSERT_STRING_EQUAL(f->detail, "DDoS attacks-LOIC-HTTP");
    f = &t.flows[1];
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1519115647.0, EPS); /* 20/02/2018 08:34:07 */
    CU_ASSERT_EQUAL(f->fwd.min_size, 33);
    CU_ASSERT_EQUAL(f->bwd.min_size, 147);
    CU_ASSERT_STRING_EQUAL(f->label, "Benign");
    CU_ASSERT_STRING_EQUAL(f->detail, "Benign");
    weft_flow_table_free(&t);

    CU_ASSERT_EQUAL(read_sample(DATA "cse_cic_ids2018_noaddr.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "'Src IP'") != NULL);
    weft_flow_table_free(&t);

    /* the CICFlowMeter-V4 tool: "dd/MM/yyyy hh:mm:ss a", "NeedManualLabel" is no label */
    CU_ASSERT_EQUAL_FATAL(read_sample(DATA "cicflowmeter_v4_output.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    f = &t.flows[0];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1561129527.0, EPS); /* 21/06/2019 03:05:27 PM */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 1.5, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 10);
    CU_ASSERT_EQUAL(f->bwd.bytes, 9000);
    CU_ASSERT_EQUAL(f->bwd.max_size, 1460);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN | WEFT_TCP_ACK);
    CU_ASSERT_PTR_NULL(f->label);
    CU_ASSERT_PTR_NULL(f->detail);
    weft_flow_table_free(&t);
}

/* Unknown columns are ignored wherever they stand; a missing optional column is a warning; time forms. */
static void test_cic_columns_and_times(void)
{
    const char *csv =
        "Extra A,Src IP,Dst IP,Dst Port,Src Port,Protocol,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts,Something Else,"
        "Label\n"
        "x,10.0.0.1,10.0.0.2,80,1000,6,1000000,1,1,y,BENIGN\n"
        "x,10.0.0.1,10.0.0.2,80,1000,6,1000000,1,1,y,Infilteration\n"
        "x,10.0.0.1,10.0.0.2,80,1000,6,abc,1,1,y,BENIGN\n";
    char *path = write_text(csv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL(read_sample(path, WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "no start time column (flows start at 0)"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad number"), 1);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    CU_ASSERT_EQUAL(t.flows[0].dport, 80);
    CU_ASSERT_DOUBLE_EQUAL(t.flows[0].duration, 1.0, EPS);
    CU_ASSERT_FALSE(t.flows[0].has_stats); /* no packet-length columns */
    CU_ASSERT_STRING_EQUAL(t.flows[1].detail, "Infilteration");
    weft_flow_table_free(&t);
    unlink(path);
    free(path);

    /* the time forms of the releases, and ones that are not times */
    static const struct {
        const char *ts;
        double want; /* < 0: a bad time */
    } times[] = {
        {"3/7/2017 8:55", 1499072100.0},         {"03/07/2017 08:55:58", 1499072158.0},
        {"14/02/2018 08:31:01", 1518597061.0},   {"14/02/2018 12:31:01 AM", 1518568261.0},
        {"14/02/2018 12:31:01 PM", 1518611461.0}, {"2018-02-14 08:31:01", 1518597061.0},
        {"14/02/2018 13:31:01 PM", -1},          {"32/01/2018 08:00", -1},
        {"14/13/2018 08:00", -1},                {"14/02/2018 08:31:01 XM", -1},
    };
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, "Src IP,Dst IP,Timestamp,Flow Duration,Tot Fwd Pkts\n1.1.1.1,2.2.2.2,%s,0,1\n",
                 times[i].ts);
        path = write_text(text);
        CU_ASSERT_PTR_NOT_NULL_FATAL(path);
        CU_ASSERT_EQUAL(read_sample(path, WEFT_FMT_CIC, &t, &r, err, sizeof err), 0);
        if (times[i].want < 0) {
            CU_ASSERT_EQUAL(weft_report_count(&r, "bad time"), 1);
            CU_ASSERT_EQUAL(t.n, 0);
        } else {
            CU_ASSERT_EQUAL_FATAL(t.n, 1);
            if (fabs(t.flows[0].start - times[i].want) > EPS) printf("\n  %s → %.0f", times[i].ts, t.flows[0].start);
            CU_ASSERT_DOUBLE_EQUAL(t.flows[0].start, times[i].want, EPS);
        }
        weft_flow_table_free(&t);
        unlink(path);
        free(path);
    }
}

/* ---------- UNSW-NB15 ---------- */

static void test_unsw(void)
{
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_sample(DATA "unsw_nb15_sample.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 6); /* the first line is data: no header row */
    CU_ASSERT_EQUAL(r.skipped, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "not an IP protocol"), 1); /* arp */
    CU_ASSERT_EQUAL(r.warnings, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 5);
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "59.166.0.0");
    check_ip(&f->dst, "149.171.126.6");
    CU_ASSERT_EQUAL(f->sport, 1390);
    CU_ASSERT_EQUAL(f->dport, 53);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1421927414.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.001055, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 2);
    CU_ASSERT_EQUAL(f->fwd.bytes, 132);
    CU_ASSERT_EQUAL(f->bwd.packets, 2);
    CU_ASSERT_EQUAL(f->bwd.bytes, 164);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.000017, 1e-9); /* Sintpkt 0.017 ms */
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.mean_iat, 0.000013, 1e-9);
    CU_ASSERT_FALSE(f->has_stats); /* no packet-size extremes */
    CU_ASSERT_STRING_EQUAL(f->label, "Benign");
    CU_ASSERT_PTR_NULL(f->detail); /* empty attack_cat */
    f = &t.flows[1];
    CU_ASSERT_STRING_EQUAL(f->label, "Malicious");
    CU_ASSERT_STRING_EQUAL(f->detail, "Exploits");
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    f = &t.flows[2];
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 2.39039, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 14);
    CU_ASSERT_EQUAL(f->bwd.bytes, 268);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.mean_iat, 0.1838, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.mean_iat, 0.4776, 1e-9);
    CU_ASSERT_STRING_EQUAL(f->detail, "Fuzzers"); /* " Fuzzers " trimmed */
    f = &t.flows[3];
    CU_ASSERT_EQUAL(f->sport, 11); /* 0x000b */
    CU_ASSERT_EQUAL(f->dport, 11);
    CU_ASSERT_STRING_EQUAL(f->detail, "Backdoors");
    f = &t.flows[4];
    CU_ASSERT_EQUAL(f->proto, 89); /* ospf */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 50.004337, EPS);
    weft_flow_table_free(&t);

    /* the training / testing sets: a header, no addresses */
    CU_ASSERT_EQUAL(read_sample(DATA "unsw_nb15_training_set_sample.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), -1);
    CU_ASSERT(strstr(err, "'srcip'") != NULL);
    CU_ASSERT(strstr(err, "'dstip'") != NULL);
    weft_flow_table_free(&t);

    /* the 49 names as a header row (some re-releases add one), in any case */
    const char *csv = "SRCIP,sport,DSTIP,dsport,proto,dur,sbytes,dbytes,spkts,dpkts,label\n"
                      "10.0.0.1,1,10.0.0.2,2,tcp,1.5,100,200,1,2,1\n";
    char *path = write_text(csv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CU_ASSERT_EQUAL_FATAL(read_sample(path, WEFT_FMT_UNSW, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 1);
    CU_ASSERT_EQUAL(t.flows[0].bwd.packets, 2);
    CU_ASSERT_STRING_EQUAL(t.flows[0].label, "Malicious");
    weft_flow_table_free(&t);
    unlink(path);
    free(path);
}

/* ---------- nfdump ---------- */

static void test_nfdump(void)
{
    weft_flow_table t;
    weft_read_report r;
    char err[512];
    CU_ASSERT_EQUAL_FATAL(read_sample(DATA "nfdump_sample.csv", WEFT_FMT_AUTO, &t, &r, err, sizeof err), 0);
    CU_ASSERT_EQUAL(r.records, 4); /* the Summary block is not rows */
    CU_ASSERT_EQUAL(r.skipped, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad number"), 1); /* flags "..X..S." */
    CU_ASSERT_EQUAL_FATAL(t.n, 3);
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "192.168.1.10");
    check_ip(&f->dst, "10.0.0.1");
    CU_ASSERT_EQUAL(f->sport, 51234);
    CU_ASSERT_EQUAL(f->dport, 443);
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1559736000.0, EPS); /* 2019-06-05 12:00:00 */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 1.004, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 12);
    CU_ASSERT_EQUAL(f->fwd.bytes, 3456);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_ACK | WEFT_TCP_PSH | WEFT_TCP_SYN | WEFT_TCP_FIN); /* ...AP.SF */
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    CU_ASSERT_PTR_NULL(f->label);
    f = &t.flows[1];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1559736002.25, EPS);
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_EQUAL(f->bwd.packets, 1); /* opkt / obyt */
    CU_ASSERT_EQUAL(f->bwd.bytes, 120);
    f = &t.flows[2];
    CU_ASSERT_EQUAL(f->ip_version, 6);
    CU_ASSERT_EQUAL(f->proto, 58); /* ICMP6 */
    weft_flow_table_free(&t);
}

/* ---------- NetFlow / IPFIX export captures ---------- */

static int read_export(const char *name, weft_flow_table *t, weft_read_report *r)
{
    char err[512];
    weft_flow_table_init(t);
    weft_report_init(r);
    int rc = weft_log_read_file(name, WEFT_FMT_EXPORT_PCAP, NULL, t, r, err, sizeof err);
    if (rc) printf("\n  %s", err);
    return rc;
}

static void test_netflow_v5(void)
{
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL_FATAL(read_export(DATA "netflow_v5.pcap", &t, &r), 0);
    CU_ASSERT_EQUAL(r.records, 7);
    CU_ASSERT_EQUAL(r.not_ip, 1); /* ARP */
    CU_ASSERT_EQUAL(r.skipped, 2);
    CU_ASSERT_EQUAL(weft_report_count(&r, "not an export datagram"), 1);    /* DNS */
    CU_ASSERT_EQUAL(weft_report_count(&r, "export datagram cut short"), 1); /* 2 records announced, 1 sent */
    CU_ASSERT_EQUAL_FATAL(t.n, 4);
    /* export clock 1700000000.5 at uptime 360000 ms; First 300000, Last 350000 */
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "10.1.1.1");
    check_ip(&f->dst, "10.2.2.2");
    CU_ASSERT_EQUAL(f->sport, 40000);
    CU_ASSERT_EQUAL(f->dport, 443);
    CU_ASSERT_EQUAL(f->proto, 6);
    CU_ASSERT_EQUAL(f->ip_version, 4);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1699999940.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 50.0, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 10);
    CU_ASSERT_EQUAL(f->fwd.bytes, 1500);
    CU_ASSERT_EQUAL(f->fwd.flags, 0x1b);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.first, 1699999940.5, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->fwd.last, 1699999990.5, EPS);
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    CU_ASSERT_FALSE(f->has_stats);
    f = &t.flows[1];
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_EQUAL(f->dport, 53);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1699999999.5, EPS);
    f = &t.flows[2];
    CU_ASSERT_EQUAL(f->proto, 1);
    CU_ASSERT_EQUAL(f->dport, 0); /* ICMP type / code in the port field are not a port */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 3.0, EPS);
    f = &t.flows[3];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700000096.0, EPS);
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN);
    weft_flow_table_free(&t);
}

static void test_netflow_v9(void)
{
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL_FATAL(read_export(DATA "netflow_v9.pcap", &t, &r), 0);
    CU_ASSERT_EQUAL(r.records, 5);
    CU_ASSERT_EQUAL(r.skipped, 2);
    /* one before the template came, one from a second exporter whose templates were never seen */
    CU_ASSERT_EQUAL(weft_report_count(&r, "data set before its template"), 2);
    CU_ASSERT_EQUAL(r.warnings, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 3);
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "172.16.0.5");
    check_ip(&f->dst, "172.16.0.9");
    CU_ASSERT_EQUAL(f->sport, 51000);
    CU_ASSERT_EQUAL(f->dport, 80);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001010.0, EPS); /* 1700001020 - (120000 - 110000) ms */
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 8.0, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 8);
    CU_ASSERT_EQUAL(f->fwd.bytes, 1200);
    CU_ASSERT_EQUAL(f->fwd.flags, 0x1a);
    CU_ASSERT_EQUAL(f->bwd.packets, 6); /* OUT_PKTS */
    CU_ASSERT_EQUAL(f->bwd.bytes, 4800);
    f = &t.flows[1];
    CU_ASSERT_EQUAL(f->proto, 17);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001019.5, EPS);
    CU_ASSERT_EQUAL(f->bwd.packets, 0);
    f = &t.flows[2];
    CU_ASSERT_EQUAL(f->ip_version, 6);
    check_ip(&f->src, "2001:db8::5");
    check_ip(&f->dst, "2001:db8::80");
    CU_ASSERT_EQUAL(f->sport, 55000);
    CU_ASSERT_EQUAL(f->fwd.packets, 5);
    CU_ASSERT_EQUAL(f->fwd.bytes, 700);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001015.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 4.0, EPS);
    weft_flow_table_free(&t);
}

static void test_ipfix(void)
{
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL_FATAL(read_export(DATA "ipfix.pcap", &t, &r), 0);
    CU_ASSERT_EQUAL(r.records, 4);
    CU_ASSERT_EQUAL(r.skipped, 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "data set before its template"), 1); /* 302 was withdrawn */
    CU_ASSERT_EQUAL(r.warnings, 0);
    CU_ASSERT_EQUAL_FATAL(t.n, 3);
    const weft_flow *f = &t.flows[0];
    check_ip(&f->src, "198.51.100.1");
    check_ip(&f->dst, "203.0.113.7");
    CU_ASSERT_EQUAL(f->sport, 60000);
    CU_ASSERT_EQUAL(f->dport, 443);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001990.25, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 5.5, EPS);
    CU_ASSERT_EQUAL(f->fwd.packets, 20);
    CU_ASSERT_EQUAL(f->fwd.bytes, 5000); /* octetDeltaCount in 4 bytes (reduced size) */
    CU_ASSERT_EQUAL(f->fwd.flags, WEFT_TCP_SYN | WEFT_TCP_ACK);
    CU_ASSERT_EQUAL(f->bwd.packets, 50); /* RFC 5103 reverse elements */
    CU_ASSERT_EQUAL(f->bwd.bytes, 64000);
    CU_ASSERT_EQUAL(f->bwd.flags, WEFT_TCP_FIN | WEFT_TCP_ACK);
    CU_ASSERT_DOUBLE_EQUAL(f->bwd.first, 1700001990.25, EPS);
    f = &t.flows[1]; /* after a 300-byte variable-length field (the 255 + 2-byte length form) */
    check_ip(&f->dst, "203.0.113.8");
    CU_ASSERT_EQUAL(f->sport, 123);
    CU_ASSERT_EQUAL(f->fwd.bytes, 76);
    CU_ASSERT_EQUAL(f->bwd.packets, 1);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001999.0, EPS);
    f = &t.flows[2];
    CU_ASSERT_EQUAL(f->ip_version, 6);
    check_ip(&f->src, "2001:db8:1::1");
    CU_ASSERT_EQUAL(f->sport, 0);
    CU_ASSERT_EQUAL(f->fwd.packets, 2);
    CU_ASSERT_EQUAL(f->fwd.bytes, 200);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700001980.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 5.0, EPS);
    weft_flow_table_free(&t);
}

static void test_export_hostile(void)
{
    weft_flow_table t;
    weft_read_report r;
    CU_ASSERT_EQUAL_FATAL(read_export(DATA "export_hostile.pcap", &t, &r), 0);
    CU_ASSERT_EQUAL(weft_report_count(&r, "export datagram cut short"), 2);
    CU_ASSERT_EQUAL(weft_report_count(&r, "bad template"), 3);
    CU_ASSERT_EQUAL(weft_report_count(&r, "malformed export datagram"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "fragmented export datagram (not reassembled)"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "element length does not fit its type (field ignored)"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "IPFIX message longer than its datagram"), 1);
    CU_ASSERT_EQUAL(weft_report_count(&r, "record without flow times (export time used)"), 1);
    CU_ASSERT_EQUAL(r.skipped, 4);
    CU_ASSERT_EQUAL(r.warnings, 6);
    CU_ASSERT_EQUAL(r.records, 6);
    CU_ASSERT_EQUAL_FATAL(t.n, 2);
    const weft_flow *f = &t.flows[0]; /* the 4-byte source port is ignored, the rest of the record kept */
    check_ip(&f->src, "10.9.9.1");
    CU_ASSERT_EQUAL(f->sport, 0);
    CU_ASSERT_EQUAL(f->dport, 8080);
    CU_ASSERT_EQUAL(f->fwd.packets, 2);
    CU_ASSERT_EQUAL(f->fwd.bytes, 120);
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700002999.0, EPS);
    CU_ASSERT_DOUBLE_EQUAL(f->duration, 0.5, EPS);
    f = &t.flows[1];
    CU_ASSERT_DOUBLE_EQUAL(f->start, 1700003000.0, EPS); /* the export time */
    weft_flow_table_free(&t);

    /* not a capture; a capture without exports */
    char err[512];
    weft_flow_table_init(&t);
    weft_report_init(&r);
    CU_ASSERT_EQUAL(weft_log_read_file(DATA "nfdump_sample.csv", WEFT_FMT_EXPORT_PCAP, NULL, &t, &r, err, sizeof err),
                    -1);
    CU_ASSERT(strstr(err, "nfdump_sample.csv") != NULL);
    weft_flow_table_free(&t);
}

/* Every prefix of every datagram, and bytes flipped one at a time (deterministically): never a crash, a
 * hang or a read out of bounds (run under ASan in the sanitizer builds). */
static void test_datagram_truncations(void)
{
    /* a v9 datagram with a template and data, and an IPFIX one with variable-length fields */
    static const uint8_t v9[] = {
        0, 9, 0, 2, 0, 1, 0xd4, 0xc0, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1, 0, 0, 0, 7,
        /* template flowset: 256 with src, dst, sport, dport, proto, pkts, bytes, first, last */
        0, 0, 0, 44, 1, 0, 0, 9, 0, 8, 0, 4, 0, 12, 0, 4, 0, 7, 0, 2, 0, 11, 0, 2, 0, 4, 0, 1, 0, 2, 0, 4,
        0, 1, 0, 4, 0, 22, 0, 4, 0, 21, 0, 4,
        /* data flowset: one record of 29 bytes + 3 of padding */
        1, 0, 0, 36, 10, 0, 0, 1, 10, 0, 0, 2, 0x30, 0x39, 0, 80, 6, 0, 0, 0, 3, 0, 0, 0, 180, 0, 1, 0x86, 0xa0,
        0, 1, 0x86, 0xa0, 0, 0, 0};
    static const uint8_t ipfix[] = {
        0, 10, 0, 62, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1, 0, 0, 0, 1,
        /* template set: 300 with src, dst, a variable-length field, an enterprise field */
        0, 2, 0, 28, 1, 44, 0, 4, 0, 8, 0, 4, 0, 12, 0, 4, 0, 82, 0xff, 0xff, 0x80, 100, 0, 2, 0, 0, 0, 9,
        /* data set: one record (4 + 4 + 1 + 3 + 2) */
        1, 44, 0, 18, 10, 0, 0, 1, 10, 0, 0, 2, 3, 'e', 't', 'h', 0, 1};
    const struct {
        const uint8_t *d;
        size_t n;
        size_t flows; /* from the whole datagram */
    } grams[] = {{v9, sizeof v9, 1}, {ipfix, sizeof ipfix, 1}};
    weft_ip ex;
    weft_ip_parse("192.0.2.9", &ex);
    for (size_t g = 0; g < 2; g++) {
        uint8_t buf[128];
        CU_ASSERT_FATAL(grams[g].n <= sizeof buf);
        for (size_t len = 0; len <= grams[g].n; len++) {
            weft_export_state *s = weft_export_state_new();
            weft_flow_table t;
            weft_flow_table_init(&t);
            weft_read_report r;
            weft_report_init(&r);
            uint8_t *copy = malloc(len ? len : 1); /* exactly len bytes: ASan sees any read past them */
            memcpy(copy, grams[g].d, len);
            int rc = weft_export_datagram(s, &ex, copy, len, &t, &r, "mem", 1);
            CU_ASSERT(rc >= 0);
            if (len == grams[g].n) {
                CU_ASSERT_EQUAL(rc, 1);
                CU_ASSERT_EQUAL(t.n, grams[g].flows);
            }
            free(copy);
            weft_flow_table_free(&t);
            weft_export_state_free(s);
        }
        uint32_t seed = 12345;
        for (int k = 0; k < 2000; k++) {
            memcpy(buf, grams[g].d, grams[g].n);
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % grams[g].n] ^= (uint8_t)(1u << ((seed >> 4) & 7));
            seed = seed * 1103515245u + 12345u;
            buf[(seed >> 8) % grams[g].n] = (uint8_t)(seed >> 16);
            weft_export_state *s = weft_export_state_new();
            weft_flow_table t;
            weft_flow_table_init(&t);
            weft_read_report r;
            weft_report_init(&r);
            uint8_t *copy = malloc(grams[g].n);
            memcpy(copy, buf, grams[g].n);
            /* twice: the second pass reads its data with the template the first one may have left */
            CU_ASSERT(weft_export_datagram(s, &ex, copy, grams[g].n, &t, &r, "mem", 1) >= 0);
            CU_ASSERT(weft_export_datagram(s, &ex, copy, grams[g].n, &t, &r, "mem", 2) >= 0);
            CU_ASSERT(r.skipped <= r.records);
            free(copy);
            weft_flow_table_free(&t);
            weft_export_state_free(s);
        }
    }
}

int main(void)
{
    if (CU_initialize_registry() != CUE_SUCCESS) return 1;
    CU_pSuite s = CU_add_suite("traffic_exports", NULL, NULL);
    CU_add_test(s, "format names and detection of each preset", test_names_and_detection);
    CU_add_test(s, "CIC-IDS2017 CSV (and MachineLearningCVE: named missing columns)", test_cic2017);
    CU_add_test(s, "CSE-CIC-IDS2018 CSV, repeated header, CICFlowMeter-V4 output", test_cic2018);
    CU_add_test(s, "CIC: unknown columns ignored, time forms", test_cic_columns_and_times);
    CU_add_test(s, "UNSW-NB15 CSV (headerless; training set: named missing columns)", test_unsw);
    CU_add_test(s, "nfdump CSV with its Summary block", test_nfdump);
    CU_add_test(s, "NetFlow v5 capture", test_netflow_v5);
    CU_add_test(s, "NetFlow v9 capture: templates per exporter, options, IPv6", test_netflow_v9);
    CU_add_test(s, "IPFIX capture: reduced sizes, variable length, enterprise, biflow, withdrawal", test_ipfix);
    CU_add_test(s, "broken export datagrams", test_export_hostile);
    CU_add_test(s, "every truncation and byte flip of a v9 and an IPFIX datagram", test_datagram_truncations);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned fails = CU_get_number_of_failures();
    CU_cleanup_registry();
    return fails ? 1 : 0;
}
