/* cli/cmd_flows.c — `weft flows`: captures and flow logs → one normalised flow CSV. */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "traffic/input.h"
#include "traffic/flow_builder.h"
#include "traffic/flow_csv.h"
#include "traffic/labels.h"
#include "traffic/log_readers.h"
#include "traffic/pcap_reader.h"
#include "traffic/report.h"

int cmd_flows(int argc, char **argv);

static void flows_help(FILE *f)
{
    fprintf(f,
            "usage: weft flows INPUT... -o FLOWS.csv [options]\n"
            "       weft flows --interface IF -o FLOWS.csv [--filter EXPR] [--duration S] [--count N]\n"
            "\n"
            "Reads packet captures and flow logs and writes one normalised flow CSV (a header row, one row\n"
            "per flow: addresses, ports, protocol, start, duration, per-direction statistics, labels), then\n"
            "a summary of the records read and skipped, and why.\n"
            "\n"
            "inputs (told apart by their content unless --format is given):\n"
            "  pcap / pcapng captures     Ethernet (VLAN, PPPoE, MPLS), Linux SLL / SLL2, raw IP, loopback;\n"
            "                             IPv4 / IPv6; TCP, UDP, ICMP and other protocols\n"
            "  Zeek conn.log              label / detailedlabel columns of labelled logs are kept\n"
            "  Argus / CTU .binetflow     Label column (flow=...) kept as detail, class as label\n"
            "  Wireshark conversation CSV as in ustc-tfc2016 (labels and protocol from the file name)\n"
            "  NetFlow CSV                NF-* dataset columns (IPV4_SRC_ADDR, ..., Label, Attack)\n"
            "  CICFlowMeter CSV           CIC-IDS2017, CSE-CIC-IDS2018 and CICFlowMeter-V4 output (files\n"
            "                             without Src IP / Dst IP, such as MachineLearningCVE, are refused)\n"
            "  UNSW-NB15 CSV              UNSW-NB15_1..4.csv (no header row); Label 0/1 -> Benign/Malicious,\n"
            "                             attack_cat as detail\n"
            "  nfdump CSV                 nfdump -o csv (its closing Summary block is not read as flows)\n"
            "  NetFlow v5 / v9 / IPFIX    a pcap / pcapng capture of the exporter's UDP datagrams, with\n"
            "                             --format export-pcap (it looks like any capture: never guessed)\n"
            "  any other CSV              with --columns\n"
            "\n"
            "options:\n"
            "  -o, --output FILE      the flow CSV to write ('-' for standard output); required\n"
            "  --labels FILE|DIR      nDPI .out file(s): application and category per 5-tuple (either\n"
            "                         direction). A FILE labels every input; a DIR labels each capture X\n"
            "                         from DIR/<name of X>.out when it exists. The application (e.g. TLS,\n"
            "                         DNS, Google) goes in the detail column and nDPI's category (Web,\n"
            "                         Network, ...) in category; the label column is for classes such as\n"
            "                         Benign / Malicious that labelled flow logs carry\n"
            "  --idle-timeout S       a flow ends after S seconds without packets (default %g)\n"
            "  --active-timeout S     a flow ends after lasting S seconds (default %g)\n"
            "                         (TCP flows also end after FIN from both sides or RST: a later SYN\n"
            "                         of the same 5-tuple starts a new flow)\n"
            "  --ignore-vlan          merge flows that differ only by VLAN ID (by default the VLAN is part\n"
            "                         of the flow key; the vlan column keeps the first packet's)\n"
            "  --no-decap             report tunnelled packets by the tunnel's own addresses (by default\n"
            "                         IP-in-IP, 6in4, GRE, PPTP, ERSPAN, VXLAN, Geneve and GTP-U packets make\n"
            "                         the inner packet's flow; the columns tunnel, outer_src and outer_dst\n"
            "                         keep the outermost tunnel)\n"
            "  --format F             auto (default), pcap, zeek, binetflow, wireshark, netflow, cic, unsw,\n"
            "                         nfdump, export-pcap, csv\n"
            "  --columns MAP          column map for CSV input: field=Header,... with fields src dst sport\n"
            "                         dport proto start start_ms end end_ms duration duration_ms fwd_packets\n"
            "                         fwd_bytes bwd_packets bwd_bytes packets bytes flags fwd_flags\n"
            "                         bwd_flags label detail category\n"
            "live capture (instead of input files; needs root or CAP_NET_RAW):\n"
            "  --interface IF         capture from network interface IF (libpcap); flows are written as\n"
            "                         they end and the file is flushed every second; a rate line per\n"
            "                         second goes to stderr; Ctrl-C (or SIGTERM) stops and writes the\n"
            "                         flows still running\n"
            "  --filter EXPR          BPF filter, tcpdump syntax (e.g. 'tcp or udp')\n"
            "  --duration S           stop after S seconds\n"
            "  --count N              stop after N packets\n"
            "  --promisc              promiscuous mode\n"
            "  --json                 print the summary as JSON on standard output (text on stderr otherwise)\n"
            "  -h, --help             this text\n"
            "\n"
            "Inputs may be '-' (standard input, read as a capture unless --format says otherwise) and may be\n"
            "compressed with gzip or zstd (told by their content). Flows of a capture are written as they\n"
            "end, so memory holds the flows in flight, not the capture; each input's flows are in order of\n"
            "start time, one input after the other. Bad records (malformed packets, unknown link types,\n"
            "malformed rows, missing columns, timestamps running backwards) are counted, named with file and\n"
            "packet or line number, and skipped; a capture that breaks off keeps what was read before.\n"
            "exit status: 0 all inputs read, 1 some input could not be read (the others are still written),\n"
            "2 bad command line.\n",
            WEFT_FLOW_IDLE_TIMEOUT_DEFAULT, WEFT_FLOW_ACTIVE_TIMEOUT_DEFAULT);
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v > 0) || v > 1e9) return false;
    *out = v;
    return true;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Sort flows by start time; equal starts keep their input order. */
typedef struct order {
    double start;
    size_t i;
} order;

static int order_cmp(const void *a, const void *b)
{
    const order *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int sort_flows(weft_flow_table *t)
{
    if (t->n < 2) return 0;
    order *o = malloc(t->n * sizeof *o);
    weft_flow *nf = malloc(t->n * sizeof *nf);
    if (!o || !nf) {
        free(o);
        free(nf);
        return -1;
    }
    for (size_t i = 0; i < t->n; i++) o[i].start = t->flows[i].start, o[i].i = i;
    qsort(o, t->n, sizeof *o, order_cmp);
    for (size_t i = 0; i < t->n; i++) nf[i] = t->flows[o[i].i];
    free(t->flows);
    t->flows = nf;
    t->cap = t->n;
    free(o);
    return 0;
}

/* Flows on their way to the CSV: gathered in a small table so labels are joined a batch at a time,
 * then written and forgotten (the table keeps only its interned label strings). */
typedef struct flow_writer {
    FILE *out;
    weft_flow_table t;
    weft_labels *L;     /* this input's labels, or NULL */
    size_t flows, with_label;
    long labelled;
    bool write_failed, oom;
} flow_writer;

enum { WRITER_BATCH = 4096 };

static void writer_flush(flow_writer *w)
{
    if (w->L && w->t.n) {
        long h = weft_labels_apply(w->L, &w->t, 0, w->t.n);
        if (h < 0)
            w->oom = true;
        else
            w->labelled += h;
    }
    for (size_t i = 0; i < w->t.n && !w->write_failed; i++) {
        const weft_flow *f = &w->t.flows[i];
        if (weft_flow_csv_write_row(w->out, f)) w->write_failed = true;
        w->flows++;
        if (f->label || f->detail || f->category) w->with_label++;
    }
    w->t.n = 0;
}

static int writer_sink(const weft_flow *f, void *user)
{
    flow_writer *w = user;
    if (weft_flow_table_push(&w->t, f) != 0) {
        w->oom = true;
        return 1;
    }
    if (w->t.n >= WRITER_BATCH) writer_flush(w);
    return w->write_failed || w->oom;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

typedef struct live_ctx {
    flow_writer *w;
    bool tty;
} live_ctx;

/* Once a second: the flows that ended reach the file, and a rate line reaches stderr (rewritten in place
 * on a terminal, one line per second otherwise). */
static void live_progress(const weft_live_progress *p, void *user)
{
    live_ctx *lc = user;
    if (!lc->w->oom && !lc->w->write_failed) writer_flush(lc->w);
    if (fflush(lc->w->out) != 0) lc->w->write_failed = true;
    fprintf(stderr, "%s%.0f s: %llu packets (%.0f/s), %zu flows written, %zu running, %llu dropped by the kernel%s",
            lc->tty ? "\r" : "", p->seconds, (unsigned long long)p->packets, p->packets_per_second, lc->w->flows,
            p->flows_held, (unsigned long long)p->kernel_dropped, lc->tty ? "   " : "\n");
    fflush(stderr);
}

int cmd_flows(int argc, char **argv)
{
    const char *out_path = NULL, *labels_path = NULL, *columns = NULL;
    weft_input_format fmt = WEFT_FMT_AUTO;
    weft_flow_opts opts;
    weft_flow_opts_default(&opts);
    bool json = false;
    const char *iface = NULL;
    weft_live_opts live;
    memset(&live, 0, sizeof live);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    int n_in = 0;
    if (!inputs) return cli_usage("flows", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            flows_help(stdout);
            free(inputs);
            return CLI_OK;
        }
        bool takes = strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--labels") == 0 ||
                     strcmp(a, "--idle-timeout") == 0 || strcmp(a, "--active-timeout") == 0 ||
                     strcmp(a, "--format") == 0 || strcmp(a, "--columns") == 0 || strcmp(a, "--interface") == 0 ||
                     strcmp(a, "--filter") == 0 || strcmp(a, "--duration") == 0 || strcmp(a, "--count") == 0;
        if (takes && i + 1 >= argc) {
            free(inputs);
            return cli_usage("flows", "%s needs a value", a);
        }
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            out_path = argv[++i];
        } else if (strcmp(a, "--labels") == 0) {
            labels_path = argv[++i];
        } else if (strcmp(a, "--interface") == 0) {
            iface = argv[++i];
        } else if (strcmp(a, "--filter") == 0) {
            live.filter = argv[++i];
        } else if (strcmp(a, "--promisc") == 0) {
            live.promisc = true;
        } else if (strcmp(a, "--duration") == 0) {
            if (!parse_seconds(argv[i + 1], &live.duration)) {
                free(inputs);
                return cli_usage("flows", "--duration: '%s' is not a positive number of seconds", argv[i + 1]);
            }
            i++;
        } else if (strcmp(a, "--count") == 0) {
            long n;
            if (!cli_parse_int(argv[i + 1], 1, 4000000000000L, &n)) {
                free(inputs);
                return cli_usage("flows", "--count: '%s' is not a whole number of packets from 1", argv[i + 1]);
            }
            live.count = (uint64_t)n;
            i++;
        } else if (strcmp(a, "--no-decap") == 0) {
            opts.decap = false;
        } else if (strcmp(a, "--ignore-vlan") == 0) {
            opts.ignore_vlan = true;
        } else if (strcmp(a, "--idle-timeout") == 0 || strcmp(a, "--active-timeout") == 0) {
            double v;
            if (!parse_seconds(argv[i + 1], &v)) {
                free(inputs);
                return cli_usage("flows", "%s: '%s' is not a positive number of seconds", a, argv[i + 1]);
            }
            if (a[2] == 'i')
                opts.idle_timeout = v;
            else
                opts.active_timeout = v;
            i++;
        } else if (strcmp(a, "--format") == 0) {
            if (!weft_format_parse(argv[++i], &fmt)) {
                free(inputs);
                return cli_usage("flows", "--format: unknown format '%s'", argv[i]);
            }
        } else if (strcmp(a, "--columns") == 0) {
            columns = argv[++i];
            char err[512];
            if (!weft_columns_check(columns, err, sizeof err)) {
                free(inputs);
                return cli_usage("flows", "--columns: %s", err);
            }
        } else if (strcmp(a, "--json") == 0) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            free(inputs);
            return cli_usage("flows", "unknown option '%s'", a);
        } else {
            inputs[n_in++] = a;
        }
    }
    if (!n_in && !iface) {
        free(inputs);
        return cli_usage("flows", "no input files (or --interface IF to capture)");
    }
    if (n_in && iface) {
        free(inputs);
        return cli_usage("flows", "--interface captures live: give no input files with it");
    }
    if (!iface && (live.filter || live.duration > 0 || live.count || live.promisc)) {
        free(inputs);
        return cli_usage("flows", "--filter, --duration, --count and --promisc go with --interface");
    }
    if (!out_path) {
        free(inputs);
        return cli_usage("flows", "no output file (-o FLOWS.csv)");
    }

    weft_read_report rep, lrep;
    weft_report_init(&rep);
    weft_report_init(&lrep);
    int status = CLI_OK;
    char err[1024];
    weft_labels *all_labels = NULL;
    bool labels_dir = labels_path && is_dir(labels_path);
    if (labels_path && !labels_dir) {
        all_labels = weft_labels_new();
        if (!all_labels || weft_labels_load_ndpi(all_labels, labels_path, &lrep, err, sizeof err) < 0) {
            fprintf(stderr, "weft flows: --labels: %s\n", all_labels ? err : "out of memory");
            weft_labels_free(all_labels);
            free(inputs);
            return CLI_FAIL;
        }
    }
    flow_writer w;
    memset(&w, 0, sizeof w);
    weft_flow_table_init(&w.t);
    w.out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!w.out) {
        fprintf(stderr, "weft flows: cannot write %s: %s\n", out_path, strerror(errno));
        weft_labels_free(all_labels);
        free(inputs);
        return CLI_FAIL;
    }
    if (!iface) setvbuf(w.out, NULL, _IOFBF, (size_t)1 << 20); /* rows are many and small */
    if (weft_flow_csv_write_header(w.out)) w.write_failed = true;
    int failed_inputs = 0, label_files = all_labels ? 1 : 0;
    size_t unmatched_lines = 0;
    if (iface) {
        /* live: flows reach the file (flushed each second) as they end; Ctrl-C ends the capture cleanly */
        w.L = all_labels;
        live.stop = &stop_requested;
        live.progress = live_progress;
        live_ctx lc = {&w, isatty(2) != 0};
        live.progress_user = &lc;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_stop_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        int rc = weft_pcap_live(iface, &live, &opts, writer_sink, &w, &rep, err, sizeof err);
        if (lc.tty) fputc('\n', stderr);
        if (rc > 0) rc = 0;
        if (!w.oom && !w.write_failed) writer_flush(&w);
        if (rc != 0) {
            fprintf(stderr, "weft flows: %s\n", err);
            failed_inputs++;
            status = CLI_FAIL;
        }
        n_in = 1;
        inputs[0] = iface;
        w.L = NULL;
    }
    for (int k = 0; k < n_in && !iface && !w.write_failed && !w.oom; k++) {
        const char *path = inputs[k];
        weft_input_format f = fmt;
        err[0] = 0;
        /* standard input can be read once only, so its format is not looked at first: a capture,
         * unless --format says otherwise */
        if (f == WEFT_FMT_AUTO && strcmp(path, "-") == 0) f = WEFT_FMT_PCAP;
        if (f == WEFT_FMT_AUTO) f = weft_format_detect(path, columns != NULL, err, sizeof err);
        /* labels for this input's flows, ready before its first flow is written */
        weft_labels *own = NULL;
        w.L = all_labels;
        if (labels_dir) {
            const char *base = strrchr(path, '/');
            base = base ? base + 1 : path;
            char lp[4096];
            snprintf(lp, sizeof lp, "%s/%s.out", labels_path, base);
            struct stat st;
            if (stat(lp, &st) == 0) {
                own = weft_labels_new();
                if (!own || weft_labels_load_ndpi(own, lp, &lrep, err, sizeof err) < 0) {
                    fprintf(stderr, "weft flows: labels: %s\n", own ? err : "out of memory");
                    status = CLI_FAIL;
                    weft_labels_free(own);
                    own = NULL;
                } else {
                    label_files++;
                }
                w.L = own;
            }
        }
        int rc;
        if (f == WEFT_FMT_AUTO) {
            rc = -1;
            weft_report_skip(&rep, "unreadable file", path, NULL, 0, "%s", err);
        } else if (f == WEFT_FMT_PCAP) {
            /* flows are written as they end: memory holds the flows in flight, not the capture */
            rc = weft_pcap_read(path, &opts, writer_sink, &w, &rep, err, sizeof err);
            if (rc > 0) rc = 0; /* the writer stopped: its own flags say why */
        } else {
            rc = weft_log_read_file(path, f, columns, &w.t, &rep, err, sizeof err);
            if (rc != 0) weft_report_skip(&rep, "unreadable file", path, NULL, 0, "%s", err);
            if (sort_flows(&w.t) != 0) w.oom = true;
        }
        if (!w.oom && !w.write_failed) writer_flush(&w);
        if (rc != 0) {
            fprintf(stderr, "weft flows: %s\n", err);
            failed_inputs++;
            status = CLI_FAIL;
        }
        if (own) unmatched_lines += weft_labels_unmatched(own);
        weft_labels_free(own);
        w.L = NULL;
    }
    if (all_labels) unmatched_lines += weft_labels_unmatched(all_labels);
    weft_labels_free(all_labels);
    if (w.oom) {
        fprintf(stderr, "weft flows: out of memory\n");
        status = CLI_FAIL;
    }
    int wrc = w.write_failed ? -1 : 0;
    if (w.out != stdout) {
        if (fclose(w.out) != 0) wrc = -1;
    } else if (fflush(w.out) != 0) {
        wrc = -1;
    }
    if (wrc != 0) {
        fprintf(stderr, "weft flows: writing %s failed: %s\n", out_path, strerror(errno));
        status = CLI_FAIL;
    }
    size_t n_flows = w.flows, with_label = w.with_label;
    long labelled = w.labelled;

    FILE *sf = json && strcmp(out_path, "-") != 0 ? stdout : stderr;
    if (json) {
        fprintf(sf, "{\"inputs\": %d, \"unreadable_inputs\": %d, \"flows\": %zu, \"labelled_flows\": %zu, "
                    "\"ndpi_label_matches\": %ld, \"idle_timeout\": %g, \"active_timeout\": %g, \"read\": ",
                n_in, failed_inputs, n_flows, with_label, labelled, opts.idle_timeout, opts.active_timeout);
        weft_report_json(sf, &rep);
        if (labels_path) {
            fprintf(sf, ", \"label_files\": %d, \"label_lines\": %llu, \"label_lines_unmatched\": %zu, "
                        "\"flows_without_label\": %zu, \"labels_read\": ",
                    label_files, (unsigned long long)lrep.records, unmatched_lines, n_flows - with_label);
            weft_report_json(sf, &lrep);
        }
        fputs("}\n", sf);
    } else {
        fprintf(sf, "weft flows: %d input(s), %zu flow(s) written to %s (%zu with a label)\n", n_in, n_flows,
                out_path, with_label);
        weft_report_print(sf, &rep);
        if (labels_path) {
            /* counts side by side, none of them an error: captures hold flows nDPI did not list (other
             * timeouts) and nDPI lists flows these captures split differently */
            fprintf(sf,
                    "labels: %d label file(s) with %llu nDPI flow line(s); %ld flow(s) took a label from them, "
                    "%zu flow(s) have no label; %zu line(s) named a 5-tuple no flow here has\n",
                    label_files, (unsigned long long)lrep.records, labelled, n_flows - with_label, unmatched_lines);
            if (lrep.skipped) weft_report_print(sf, &lrep);
        }
    }
    weft_flow_table_free(&w.t);
    free(inputs);
    return status;
}
