/* cli/cmd_finetune.c — `weft finetune`: a flow classifier trained on labelled traffic on top of a
 * (pretrained or fresh) graph encoder, and `weft predict`: the classifier applied to new traffic.
 *
 * Both see a flow through the con nodes it has in the graphs (one per slice it is active in, in every
 * graph that holds the slice): a flow's scores are the mean of its nodes' softmax scores, so a flow is
 * one sample of the metrics however long it lasted. Flows, not nodes, are split into train, validation
 * and test, so no flow is seen in training and scored in test. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "graph_data.h"
#include "train_meta.h"
#include "lr_options.h"
#include "compiler/ir.h"
#include "traffic/features.h"
#include "traffic/flow_csv.h"
#include "traffic/graph.h"
#include "traffic/labels.h"
#include "traffic/log_readers.h"
#include "traffic/pcap_reader.h"

int cmd_finetune(int argc, char **argv);
int cmd_predict(int argc, char **argv);

static void finetune_help(FILE *f)
{
    fprintf(f,
            "usage: weft finetune (--base BASE.onnx | --scratch ENCODER.onnx) --data PATH... -o TASK.onnx [options]\n"
            "\n"
            "Trains a flow classifier: the data's flows become spatio-temporal graphs (as 'weft graph' makes\n"
            "them), a head (Linear -> LeakyReLU -> Linear) on the encoder's con embeddings scores every\n"
            "connection node, and weighted softmax cross-entropy is minimised with Adam. A flow's class is its\n"
            "label (the data's label column: Benign / Malicious / Background for CTU and Stratosphere logs)\n"
            "when it has one, else its detail (nDPI application, detailed label); flows with neither are not\n"
            "classified. Classes are the distinct names, sorted. Flows (not nodes) of every class are split,\n"
            "seeded: --shots or --fraction of them train, the rest go half to validation (early stopping)\n"
            "and half to test, where the metrics are reported. Class weights: inverse frequency over the\n"
            "training flows. A flow's scores: the mean softmax of its con nodes over every graph.\n"
            "\n"
            "  --base FILE          a pretrained encoder ('weft pretrain')\n"
            "  --scratch FILE       an encoder trained from its initial weights (the same contract)\n"
            "  --data PATH          captures, flow logs or flow CSVs (as 'weft flows' reads them); repeatable\n"
            "  -o, --output FILE    the classifier (encoder, head and loss) as ONNX; the class names, one a\n"
            "                       line, also go to FILE.classes.txt and the feature scaling to FILE.scaler\n"
            "  --ndpi FILE          an nDPI .out file (ndpiReader's flow list): its application of each\n"
            "                       5-tuple becomes the flow's detail; repeatable\n"
            "  --label-map FILE     'name,class' lines: flows whose detail (else label) is a name get its\n"
            "                       class (an empty class: not classified); other flows keep their own\n"
            "  --shots K            training flows per class (at most half of a class's flows)\n"
            "  --fraction F         share of each class's flows used for training (0.5 without --shots)\n"
            "  --epochs N           passes over the training graphs (20)\n"
            "  --lr X               Adam learning rate (1e-3)\n");
    cli_lr_help(f);
    fprintf(f,
            "  --hidden N           width of the head's hidden layer (64)\n"
            "  --patience N         epochs without a better validation loss before stopping (5; 0: never)\n"
            "  --freeze-encoder     train the head only\n"
            "  --scaler FILE        the feature scaling ('weft graph --save-scaler'); default: the base\n"
            "                       encoder's (--base), else fitted on the data's flows\n"
            "  --seed S             the split, the head's initial weights and the graph order (1)\n"
            "  --window S, --window-memory K, --flow-memory K, --max-flows N   graph options ('weft graph')\n"
            "  --backend LIST, --threads N\n"
            "  --json FILE          the split, the epochs and the test metrics as JSON\n"
            "  --checkpoint FILE    write a checkpoint (weights, optimizer state, early stopping's best\n"
            "                       weights and counters, epoch; ONNX, atomically) every\n"
            "                       --checkpoint-every epochs (1) and after the last\n"
            "  --resume FILE        go on from a checkpoint of the same data and options: the result is the\n"
            "                       one an uninterrupted run gives, bit for bit\n"
            "  -h, --help           this text\n"
            "\n"
            "The classifier carries its class names, feature scaling, graph options and training options\n"
            "as ONNX metadata ('weft predict' and 'weft export' read them). With --base, the encoder's own\n"
            "scaling and graph options (from 'weft pretrain') are used; graph options given here override\n"
            "them. Reports accuracy, macro and weighted F1, per-class precision / recall / F1, one-vs-rest ROC-AUC\n"
            "and the confusion matrix of the test flows on stderr. Exit status: 0 success, 1 failure, 2 bad\n"
            "command line.\n");
}

static void predict_help(FILE *f)
{
    fprintf(f,
            "usage: weft predict --model TASK.onnx --data PATH... [-o PRED.csv] [--json FILE] [options]\n"
            "\n"
            "Classifies every flow of the data with a model 'weft finetune' wrote: its class names, feature\n"
            "scaling and graph options come from the model's metadata (weft.classes, weft.scaler,\n"
            "weft.graph; for a model without them, TASK.onnx.classes.txt and TASK.onnx.scaler beside it).\n"
            "One CSV row per flow that appears in a graph: src,dst,sport,dport,proto,start,predicted,\n"
            "score_<class>... (stdout without -o). Where flows carry labels (as for 'weft finetune'), the\n"
            "metrics over them on stderr and in --json. Graph options given here override the model's.\n"
            "\n"
            "  --model FILE, --data PATH (repeatable), -o FILE, --json FILE\n"
            "  --ndpi FILE          as for 'weft finetune'\n"
            "  --label-map FILE     as for 'weft finetune' (the labels the metrics are computed against)\n"
            "  --window S, --window-memory K, --flow-memory K, --max-flows N   graph options ('weft graph')\n"
            "  --backend LIST, --threads N\n"
            "  -h, --help           this text\n"
            "\n"
            "Exit status: 0 success, 1 failure, 2 bad command line.\n");
}

/* --- data ---------------------------------------------------------------------------------------- */

typedef cli_graph gtensors;

/* The nDPI .out files given, in one table of 5-tuples; NULL after a message. */
static weft_labels *load_ndpi(const char *cmd, const char *const *paths, int n)
{
    char err[1024];
    weft_read_report rep;
    weft_report_init(&rep);
    weft_labels *L = weft_labels_new();
    if (!L) return fprintf(stderr, "weft %s: out of memory\n", cmd), NULL;
    for (int i = 0; i < n; i++)
        if (weft_labels_load_ndpi(L, paths[i], &rep, err, sizeof err) < 0) {
            fprintf(stderr, "weft %s: %s\n", cmd, err);
            weft_labels_free(L);
            return NULL;
        }
    return L;
}

/* Everything both commands build from the data. */
typedef struct dataset {
    int n_in;
    weft_flow_table *tables;
    size_t *offset;      /* [n_in + 1] global id of each input's first flow */
    size_t n_flows;
    cli_graphs c;
} dataset;

static const weft_flow *flow_of(const dataset *d, size_t id)
{
    int i = 0;
    while (i + 1 < d->n_in && id >= d->offset[i + 1]) i++;
    return &d->tables[i].flows[id - d->offset[i]];
}

/* --label-map: "name,class" lines renaming the data's label vocabularies into the task's classes. */
typedef struct label_map {
    char **from, **to;
    int n;
} label_map;

static void label_map_free(label_map *m)
{
    for (int i = 0; i < m->n; i++) free(m->from[i]), free(m->to[i]);
    free(m->from), free(m->to);
    memset(m, 0, sizeof *m);
}

/* Reads the map: one "name,class" a line (surrounding blanks ignored, '#' starts a comment line); an
 * empty class drops the flows of that name. Returns 0, or -1 with a message in err. */
static int label_map_load(label_map *m, const char *path, char *err, size_t errn)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errn, "cannot read the label map %s: %s", path, strerror(errno)), -1;
    char line[2048];
    long no = 0;
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = 0;
        char *a = line;
        while (*a == ' ' || *a == '\t') a++;
        if (!*a || *a == '#') continue;
        char *comma = strrchr(a, ',');
        if (!comma) {
            snprintf(err, errn, "%s:%ld: expected 'name,class'", path, no);
            rc = -1;
            break;
        }
        *comma = 0;
        char *b = comma + 1;
        while (*b == ' ' || *b == '\t') b++;
        for (char *e = a + strlen(a); e > a && (e[-1] == ' ' || e[-1] == '\t');) *--e = 0;
        for (char *e = b + strlen(b); e > b && (e[-1] == ' ' || e[-1] == '\t');) *--e = 0;
        char **fa = realloc(m->from, (size_t)(m->n + 1) * sizeof *fa);
        if (fa) m->from = fa;
        char **ta = realloc(m->to, (size_t)(m->n + 1) * sizeof *ta);
        if (ta) m->to = ta;
        char *x = malloc(strlen(a) + 1), *y = malloc(strlen(b) + 1);
        if (!fa || !ta || !x || !y) {
            free(x), free(y);
            snprintf(err, errn, "out of memory");
            rc = -1;
            break;
        }
        strcpy(x, a), strcpy(y, b);
        m->from[m->n] = x, m->to[m->n++] = y;
    }
    fclose(f);
    return rc;
}

static const char *map_name(const label_map *m, const char *name, bool *hit)
{
    *hit = false;
    if (!name || !*name) return NULL;
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->from[i], name) == 0) return *hit = true, m->to[i][0] ? m->to[i] : NULL;
    return name;
}

/* The class of a flow: with a label map, the mapped detail, else the mapped label; without one (or
 * where the map names neither), the label, else the detail; NULL when none applies. */
static const char *class_name(const label_map *m, const weft_flow *f)
{
    bool hit;
    const char *c = map_name(m, f->detail, &hit);
    if (hit) return c;
    c = map_name(m, f->label, &hit);
    if (hit) return c;
    if (f->label && *f->label) return f->label;
    if (f->detail && *f->detail) return f->detail;
    return NULL;
}

static void dataset_free(dataset *d)
{
    cli_graphs_free(&d->c);
    if (d->tables)
        for (int i = 0; i < d->n_in; i++) weft_flow_table_free(&d->tables[i]);
    free(d->tables);
    free(d->offset);
}

/* Reads the inputs, scales (the given scaler, or one fitted on the flows: *sc then gets it), graphs. */
static int dataset_load(const char *cmd, const char **paths, int n, const weft_tgraph_params *gp, weft_scaler *sc,
                        bool fit, weft_labels *ndpi, dataset *d)
{
    char err[1024];
    memset(d, 0, sizeof *d);
    d->n_in = n;
    d->tables = calloc((size_t)n, sizeof *d->tables);
    d->offset = calloc((size_t)n + 1, sizeof *d->offset);
    weft_read_report rep;
    weft_report_init(&rep);
    if (!d->tables || !d->offset) return fprintf(stderr, "weft %s: out of memory\n", cmd), -1;
    for (int i = 0; i < n; i++) {
        weft_flow_table_init(&d->tables[i]);
        if (cli_read_flows(paths[i], &d->tables[i], &rep, err, sizeof err))
            return fprintf(stderr, "weft %s: %s\n", cmd, err), -1;
        /* nDPI's application of each 5-tuple becomes the flow's detail (so its class, without a label) */
        if (ndpi && weft_labels_apply(ndpi, &d->tables[i], 0, d->tables[i].n) < 0)
            return fprintf(stderr, "weft %s: out of memory\n", cmd), -1;
        d->offset[i + 1] = d->offset[i] + d->tables[i].n;
    }
    d->n_flows = d->offset[n];
    if (d->n_flows == 0) return fprintf(stderr, "weft %s: no flows in the data\n", cmd), -1;
    if (fit) {
        weft_flow *all = malloc(d->n_flows * sizeof *all);
        if (!all) return fprintf(stderr, "weft %s: out of memory\n", cmd), -1;
        for (int i = 0; i < n; i++) memcpy(all + d->offset[i], d->tables[i].flows, d->tables[i].n * sizeof *all);
        int fr = weft_scaler_fit(sc, all, d->n_flows, 0.03, 0.97, err, sizeof err);
        free(all);
        if (fr) return fprintf(stderr, "weft %s: %s\n", cmd, err), -1;
    }
    for (int i = 0; i < n; i++) {
        d->c.offset = d->offset[i];
        if (weft_tgraph_build(&d->tables[i], gp, sc, cli_graphs_add, &d->c, NULL, err, sizeof err))
            return fprintf(stderr, "weft %s: %s: %s\n", cmd, paths[i], d->c.oom ? "out of memory" : err), -1;
    }
    if (d->c.n == 0) return fprintf(stderr, "weft %s: the data make no graph\n", cmd), -1;
    return 0;
}

/* --- scores and metrics -------------------------------------------------------------------------- */

/* Adds the softmax of each con node's logits to its flow's row of sum [n_flows][C]; count per flow. */
static void accumulate(const gtensors *g, const float *logits, int C, double *sum, size_t *count)
{
    for (size_t i = 0; i < g->n_con; i++) {
        const float *z = logits + i * (size_t)C;
        double mx = z[0], s = 0;
        for (int k = 1; k < C; k++) mx = z[k] > mx ? z[k] : mx;
        for (int k = 0; k < C; k++) s += exp(z[k] - mx);
        double *row = sum + g->flow[i] * (size_t)C;
        for (int k = 0; k < C; k++) row[k] += exp(z[k] - mx) / s;
        count[g->flow[i]]++;
    }
}

/* Mean scores of the flows in `sel` (all flows when sel is NULL) over the graphs that hold them.
 * Graphs without a selected flow are not run. */
typedef weft_status (*logits_fn)(void *ctx, const gtensors *g, const float **logits);

static weft_status flow_scores(const dataset *d, const unsigned char *sel, int C, logits_fn fn, void *ctx,
                               double *sum, size_t *count)
{
    memset(sum, 0, d->n_flows * (size_t)C * sizeof *sum);
    memset(count, 0, d->n_flows * sizeof *count);
    for (size_t gi = 0; gi < d->c.n; gi++) {
        const gtensors *g = &d->c.g[gi];
        bool any = !sel;
        for (size_t i = 0; !any && i < g->n_con; i++) any = sel[g->flow[i]];
        if (!any || g->n_con == 0) continue;
        const float *lg;
        weft_status st = fn(ctx, g, &lg);
        if (st) return st;
        accumulate(g, lg, C, sum, count);
    }
    for (size_t f = 0; f < d->n_flows; f++)
        if (count[f])
            for (int k = 0; k < C; k++) sum[f * (size_t)C + k] /= (double)count[f];
    return WEFT_OK;
}

typedef struct metrics {
    size_t n;
    double accuracy, macro_f1, weighted_f1, macro_auc, loss;
    double *precision, *recall, *f1, *auc; /* [C] (auc -1: undefined) */
    size_t *support, *confusion;           /* [C], [C][C] rows true, columns predicted */
} metrics;

static void metrics_free(metrics *m)
{
    free(m->precision), free(m->recall), free(m->f1), free(m->auc), free(m->support), free(m->confusion);
    memset(m, 0, sizeof *m);
}

static int argmax(const double *s, int C)
{
    int b = 0;
    for (int k = 1; k < C; k++)
        if (s[k] > s[b]) b = k;
    return b;
}

/* Metrics of the flows with truth[f] >= 0, count[f] > 0 and (sel NULL or sel[f]). */
static int compute_metrics(size_t n_flows, const int *truth, const unsigned char *sel, const double *scores,
                           const size_t *count, int C, metrics *m)
{
    memset(m, 0, sizeof *m);
    m->precision = calloc((size_t)C, sizeof(double));
    m->recall = calloc((size_t)C, sizeof(double));
    m->f1 = calloc((size_t)C, sizeof(double));
    m->auc = calloc((size_t)C, sizeof(double));
    m->support = calloc((size_t)C, sizeof(size_t));
    m->confusion = calloc((size_t)C * (size_t)C, sizeof(size_t));
    float *sc = malloc((n_flows + 1) * sizeof *sc), *lb = malloc((n_flows + 1) * sizeof *lb);
    size_t *idx = malloc((n_flows + 1) * sizeof *idx);
    if (!m->precision || !m->recall || !m->f1 || !m->auc || !m->support || !m->confusion || !sc || !lb || !idx) {
        free(sc), free(lb), free(idx);
        return -1;
    }
    size_t correct = 0;
    double lsum = 0;
    for (size_t f = 0; f < n_flows; f++) {
        if (truth[f] < 0 || !count[f] || (sel && !sel[f])) continue;
        const double *s = scores + f * (size_t)C;
        int p = argmax(s, C);
        idx[m->n++] = f;
        m->support[truth[f]]++;
        m->confusion[(size_t)truth[f] * (size_t)C + (size_t)p]++;
        correct += p == truth[f];
        lsum += -log(s[truth[f]] > 1e-12 ? s[truth[f]] : 1e-12);
    }
    m->accuracy = m->n ? (double)correct / (double)m->n : 0;
    m->loss = m->n ? lsum / (double)m->n : NAN;
    int n_auc = 0, n_present = 0;
    double auc_sum = 0;
    for (int k = 0; k < C; k++) {
        size_t tp = m->confusion[(size_t)k * (size_t)C + (size_t)k], pred = 0;
        for (int t = 0; t < C; t++) pred += m->confusion[(size_t)t * (size_t)C + (size_t)k];
        m->precision[k] = pred ? (double)tp / (double)pred : 0;
        m->recall[k] = m->support[k] ? (double)tp / (double)m->support[k] : 0;
        double pr = m->precision[k] + m->recall[k];
        m->f1[k] = pr > 0 ? 2 * m->precision[k] * m->recall[k] / pr : 0;
        /* sklearn's macro F1 averages over the classes present in the truth or the predictions */
        if (m->support[k] || pred) m->macro_f1 += m->f1[k], n_present++;
        m->weighted_f1 += m->f1[k] * (double)m->support[k];
        for (size_t i = 0; i < m->n; i++) {
            sc[i] = (float)scores[idx[i] * (size_t)C + (size_t)k];
            lb[i] = truth[idx[i]] == k ? 1.0f : 0.0f;
        }
        m->auc[k] = m->n ? weft_auc(sc, lb, m->n) : -1;
        if (m->auc[k] >= 0) auc_sum += m->auc[k], n_auc++;
    }
    m->macro_f1 = n_present ? m->macro_f1 / n_present : 0;
    m->weighted_f1 = m->n ? m->weighted_f1 / (double)m->n : 0;
    m->macro_auc = n_auc ? auc_sum / n_auc : -1;
    free(sc), free(lb), free(idx);
    return 0;
}

static void metrics_print(const char *cmd, const char *what, const metrics *m, char *const *classes, int C)
{
    fprintf(stderr, "weft %s: %s: %zu flows, accuracy %.4f, macro F1 %.4f, weighted F1 %.4f", cmd, what, m->n,
            m->accuracy, m->macro_f1, m->weighted_f1);
    if (m->macro_auc >= 0) fprintf(stderr, ", ROC-AUC (one-vs-rest, macro) %.4f", m->macro_auc);
    fprintf(stderr, "\n  %-24s %9s %9s %9s %9s %9s\n", "class", "precision", "recall", "F1", "ROC-AUC", "support");
    for (int k = 0; k < C; k++) {
        fprintf(stderr, "  %-24s %9.4f %9.4f %9.4f ", classes[k], m->precision[k], m->recall[k], m->f1[k]);
        if (m->auc[k] >= 0) fprintf(stderr, "%9.4f", m->auc[k]);
        else fprintf(stderr, "%9s", "-");
        fprintf(stderr, " %9zu\n", m->support[k]);
    }
    fprintf(stderr, "  confusion (rows: true, columns: predicted, in the order above)\n");
    for (int t = 0; t < C; t++) {
        fprintf(stderr, "  ");
        for (int p = 0; p < C; p++) fprintf(stderr, " %6zu", m->confusion[(size_t)t * (size_t)C + (size_t)p]);
        fprintf(stderr, "\n");
    }
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double x)
{
    if (isfinite(x)) fprintf(f, "%.9g", x);
    else fprintf(f, "null");
}

static void metrics_json(FILE *f, const metrics *m, char *const *classes, int C)
{
    fprintf(f, "{\"flows\": %zu, \"accuracy\": ", m->n);
    json_num(f, m->accuracy);
    fprintf(f, ", \"macro_f1\": ");
    json_num(f, m->macro_f1);
    fprintf(f, ", \"weighted_f1\": ");
    json_num(f, m->weighted_f1);
    fprintf(f, ", \"roc_auc\": ");
    json_num(f, m->macro_auc >= 0 ? m->macro_auc : NAN);
    fprintf(f, ", \"per_class\": {");
    for (int k = 0; k < C; k++) {
        fprintf(f, "%s\n    ", k ? "," : "");
        json_string(f, classes[k]);
        fprintf(f, ": {\"precision\": %.9g, \"recall\": %.9g, \"f1\": %.9g, \"roc_auc\": ", m->precision[k], m->recall[k],
                m->f1[k]);
        json_num(f, m->auc[k] >= 0 ? m->auc[k] : NAN);
        fprintf(f, ", \"support\": %zu}", m->support[k]);
    }
    fprintf(f, "},\n  \"confusion_matrix\": [");
    for (int t = 0; t < C; t++) {
        fprintf(f, "%s[", t ? ", " : "");
        for (int p = 0; p < C; p++) fprintf(f, "%s%zu", p ? ", " : "", m->confusion[(size_t)t * (size_t)C + (size_t)p]);
        fprintf(f, "]");
    }
    fprintf(f, "]}");
}

/* --- options shared by both commands ------------------------------------------------------------- */

static bool graph_option(const char *a, const char *v, weft_tgraph_params *gp)
{
    long lv;
    char *end;
    errno = 0;
    double dv = strtod(v, &end);
    bool num_ok = end != v && !*end && !errno && isfinite(dv);
    if (strcmp(a, "--window") == 0 && num_ok && dv > 0) gp->window = dv;
    else if (strcmp(a, "--window-memory") == 0 && cli_parse_int(v, 1, 100000, &lv)) gp->window_memory = (int)lv;
    else if (strcmp(a, "--flow-memory") == 0 && cli_parse_int(v, 0, 100000, &lv)) gp->flow_memory = (int)lv;
    else if (strcmp(a, "--max-flows") == 0 && cli_parse_int(v, 0, 1000000000L, &lv)) gp->max_flows = (size_t)lv;
    else return false;
    return true;
}

/* The graph options a trained model carries (weft.graph, when it has them) under those the command
 * line gives (argv parsed already: every option but `flags` takes a value). 0, or -1 after a message. */
static int graph_options_of(const char *cmd, const weft_model *m, const char *path, int argc, char **argv,
                            const char *const *flags, weft_tgraph_params *gp)
{
    char err[1024];
    const char *graph = weft_model_metadata(m, CLI_META_GRAPH);
    if (graph && cli_meta_graph_parse(graph, gp, err, sizeof err)) {
        fprintf(stderr, "weft %s: %s: %s\n", cmd, path, err);
        return -1;
    }
    for (int i = 1; i + 1 < argc; i++) {
        bool flag = false;
        for (int k = 0; flags[k]; k++) flag |= strcmp(argv[i], flags[k]) == 0;
        if (flag) continue;
        graph_option(argv[i], argv[i + 1], gp);
        i++;
    }
    return 0;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --- finetune ------------------------------------------------------------------------------------ */

enum { SPLIT_NONE, SPLIT_TRAIN, SPLIT_VAL, SPLIT_TEST };

/* The model's inputs for one graph: the graph's tensors, labels and the class weights. */
typedef struct feed {
    weft_tensor in[4 + WEFT_EDGE_TYPES];
    int64_t *labels;
    size_t cap;
} feed;

static int make_feed(feed *fd, const gtensors *g, const int *truth, const unsigned char *split, int want,
                     const weft_tensor *cw)
{
    if (g->n_con + 1 > fd->cap) {
        int64_t *l = realloc(fd->labels, (g->n_con + 1) * sizeof *l);
        if (!l) return -1;
        fd->labels = l;
        fd->cap = g->n_con + 1;
    }
    int n = 0;
    for (size_t i = 0; i < g->n_con; i++) {
        size_t f = g->flow[i];
        bool use = truth && truth[f] >= 0 && split[f] == want;
        fd->labels[i] = use ? truth[f] : -100;
        n += use;
    }
    for (int i = 0; i < 2 + WEFT_EDGE_TYPES; i++) fd->in[i] = g->t[i];
    fd->in[2 + WEFT_EDGE_TYPES] = (weft_tensor){.name = "labels", .dtype = WEFT_INT64, .rank = 1,
                                                .dims = {(int64_t)g->n_con}, .data = fd->labels,
                                                .nbytes = g->n_con * sizeof(int64_t)};
    fd->in[3 + WEFT_EDGE_TYPES] = *cw;
    return n;
}

typedef struct eval_ctx {
    weft_trainer *tr;
    feed *fd;
    const weft_tensor *cw;
} eval_ctx;

static weft_status trainer_logits(void *ctx, const gtensors *g, const float **logits)
{
    eval_ctx *e = ctx;
    if (make_feed(e->fd, g, NULL, NULL, 0, e->cw) < 0) return WEFT_ERR_NOMEM;
    weft_tensor out[1] = {{.name = "logits"}};
    weft_status st = weft_trainer_eval(e->tr, e->fd->in, 4 + WEFT_EDGE_TYPES, out, 1);
    *logits = out[0].data;
    return st;
}

/* The glob patterns naming each of the encoder's float initializers (fnmatch's specials escaped). */
static char *freeze_list(const weft_model *enc)
{
    size_t cap = 256, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    const weft_graph *g = enc->graph;
    for (int i = 0; i < g->n_values; i++) {
        const weft_value *v = &g->values[i];
        if (!(v->flags & WEFT_VALUE_INITIALIZER) || !v->name || (v->dtype != WEFT_FLOAT32 && v->dtype != WEFT_FLOAT64))
            continue;
        size_t need = n + 2 * strlen(v->name) + 2;
        if (need >= cap) {
            cap = need * 2;
            char *t = realloc(s, cap);
            if (!t) return free(s), NULL;
            s = t;
        }
        if (n) s[n++] = ',';
        for (const char *p = v->name; *p; p++) {
            if (*p == '*' || *p == '?' || *p == '[' || *p == '\\') s[n++] = '\\';
            s[n++] = *p;
        }
        s[n] = 0;
    }
    return s;
}

int cmd_finetune(int argc, char **argv)
{
    const char *base = NULL, *scratch = NULL, *out_path = NULL, *json_path = NULL, *backend = NULL, *map_path = NULL;
    const char **data = calloc(2 * ((size_t)argc + 1), sizeof *data), **ndpi_paths = data + argc + 1;
    int n_data = 0, n_ndpi = 0;
    long epochs = 20, shots = 0, hidden = 64, patience = 5, threads = 0, seed = 1;
    double lr = 1e-3, fraction = 0;
    bool freeze = false, base_scaler = false, lbad = false;
    cli_lr_options lro;
    cli_lr_defaults(&lro);
    const char *ckpt_path = NULL, *resume_path = NULL, *scaler_path = NULL;
    long ckpt_every = 1;
    weft_tgraph_params gp;
    weft_tgraph_params_default(&gp);
    weft_scaler sc;
    if (!data) return cli_usage("finetune", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long lv;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            finetune_help(stdout);
            free(data);
            return CLI_OK;
        }
        if (strcmp(a, "--freeze-encoder") == 0) {
            freeze = true;
            continue;
        }
        if (!v) {
            free(data);
            return cli_usage("finetune", "%s %s", a, a[0] == '-' ? "needs a value" : ": unexpected argument");
        }
        i++;
        char *end;
        errno = 0;
        double dv = strtod(v, &end);
        bool num_ok = end != v && !*end && !errno && isfinite(dv);
        if (strcmp(a, "--base") == 0) base = v;
        else if (strcmp(a, "--label-map") == 0) map_path = v;
        else if (strcmp(a, "--ndpi") == 0) ndpi_paths[n_ndpi++] = v;
        else if (strcmp(a, "--scratch") == 0) scratch = v;
        else if (strcmp(a, "--data") == 0) data[n_data++] = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out_path = v;
        else if (strcmp(a, "--json") == 0) json_path = v;
        else if (strcmp(a, "--checkpoint") == 0) ckpt_path = v;
        else if (strcmp(a, "--resume") == 0) resume_path = v;
        else if (strcmp(a, "--checkpoint-every") == 0 && cli_parse_int(v, 1, 1000000, &lv)) ckpt_every = lv;
        else if (strcmp(a, "--scaler") == 0) scaler_path = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--lr") == 0 && num_ok && dv > 0 && dv < 10) lr = dv;
        else if (cli_lr_option(a, v, &lro, &lbad) && !lbad) continue;
        else if (strcmp(a, "--fraction") == 0 && num_ok && dv > 0 && dv < 1) fraction = dv;
        else if (strcmp(a, "--shots") == 0 && cli_parse_int(v, 1, 1000000000L, &lv)) shots = lv;
        else if (strcmp(a, "--epochs") == 0 && cli_parse_int(v, 1, 100000, &lv)) epochs = lv;
        else if (strcmp(a, "--hidden") == 0 && cli_parse_int(v, 1, 65536, &lv)) hidden = lv;
        else if (strcmp(a, "--patience") == 0 && cli_parse_int(v, 0, 100000, &lv)) patience = lv;
        else if (strcmp(a, "--seed") == 0 && cli_parse_int(v, 0, 2147483647L, &lv)) seed = lv;
        else if (strcmp(a, "--threads") == 0 && cli_parse_int(v, 0, 1024, &lv)) threads = lv;
        else if (!graph_option(a, v, &gp)) {
            free(data);
            return cli_usage("finetune", "%s '%s': unknown option or value out of range", a, v);
        }
    }
    const char *usage_err = NULL;
    if (!base == !scratch) usage_err = "give the encoder with one of --base and --scratch";
    else if (!out_path || !n_data) usage_err = "--data and -o are required";
    else if (shots && fraction > 0) usage_err = "--shots and --fraction exclude each other";
    else if (cli_lr_check(&lro)) usage_err = cli_lr_check(&lro);
    if (usage_err) {
        free(data);
        return cli_usage("finetune", "%s", usage_err);
    }
    if (!shots && fraction == 0) fraction = 0.5;
    /* a pretrained encoder: its scaling, and its graph options under the command line's (the encoder
     * learned on graphs made so) */
    if (base) {
        weft_model *bm = NULL;
        static const char *const flags[] = {"--freeze-encoder", NULL};
        if (weft_model_load(base, &bm)) {
            fprintf(stderr, "weft finetune: --base %s: %s\n", base, weft_last_error());
            free(data);
            return CLI_FAIL;
        }
        const char *scaler = weft_model_metadata(bm, CLI_META_SCALER);
        char what[4200], serr[1024];
        snprintf(what, sizeof what, "%s (%s)", base, CLI_META_SCALER);
        int bad = graph_options_of("finetune", bm, base, argc, argv, flags, &gp);
        if (!bad && scaler && weft_scaler_from_text(&sc, scaler, what, serr, sizeof serr)) {
            fprintf(stderr, "weft finetune: --base: %s\n", serr);
            bad = 1;
        }
        base_scaler = !bad && scaler;
        weft_model_free(bm);
        if (bad) {
            free(data);
            return CLI_FAIL;
        }
    }
    /* a scaling given outright: for both arms of a pretrained-against-scratch comparison */
    if (scaler_path) {
        char serr[1024];
        if (weft_scaler_load(&sc, scaler_path, serr, sizeof serr)) {
            fprintf(stderr, "weft finetune: --scaler: %s\n", serr);
            free(data);
            return CLI_FAIL;
        }
        base_scaler = true;
    }

    int rc = CLI_FAIL, C = 0;
    char err[1024];
    weft_model *enc = NULL, *cls = NULL;
    weft_trainer *tr = NULL;
    dataset d = {0};
    char **classes = NULL, *frz = NULL;
    int *truth = NULL;
    unsigned char *split = NULL;
    size_t *order = NULL, *count = NULL, *members = NULL;
    double *scores = NULL;
    float *cwv = NULL;
    FILE *jf = NULL;
    feed fd = {0};
    metrics tm = {0};
    label_map lmap = {0};
    weft_labels *ndpi = NULL;
    if (map_path && label_map_load(&lmap, map_path, err, sizeof err)) {
        fprintf(stderr, "weft finetune: %s\n", err);
        goto out;
    }
    if (n_ndpi && !(ndpi = load_ndpi("finetune", ndpi_paths, n_ndpi))) goto out;
    if (dataset_load("finetune", data, n_data, &gp, &sc, !base_scaler, ndpi, &d)) goto out;

    /* classes: the distinct names, sorted, so that the same data give the same class numbers */
    classes = calloc(d.n_flows + 1, sizeof *classes);
    truth = malloc(d.n_flows * sizeof *truth);
    split = calloc(d.n_flows, 1);
    if (!classes || !truth || !split) goto oom;
    for (size_t f = 0; f < d.n_flows; f++) {
        const char *name = class_name(&lmap, flow_of(&d, f));
        if (!name) continue;
        bool seen = false;
        for (int k = 0; k < C && !seen; k++) seen = strcmp(classes[k], name) == 0;
        if (!seen) classes[C++] = (char *)name; /* interned in the table: lives as long as d */
    }
    qsort(classes, (size_t)C, sizeof *classes, cmp_str);
    if (C < 2) {
        fprintf(stderr, "weft finetune: the data's flows have %d class%s (labels or details); a classifier needs two "
                        "or more\n", C, C == 1 ? "" : "es");
        goto out;
    }
    /* which flows appear in some graph (the others cannot be scored) */
    count = calloc(d.n_flows, sizeof *count);
    members = malloc(d.n_flows * sizeof *members);
    if (!count || !members) goto oom;
    for (size_t g = 0; g < d.c.n; g++)
        for (size_t i = 0; i < d.c.g[g].n_con; i++) count[d.c.g[g].flow[i]]++;
    for (size_t f = 0; f < d.n_flows; f++) {
        truth[f] = -1;
        const char *name = class_name(&lmap, flow_of(&d, f));
        if (!name || !count[f]) continue;
        char **hit = bsearch(&name, classes, (size_t)C, sizeof *classes, cmp_str);
        truth[f] = (int)(hit - classes);
    }
    /* the split, per class: a seeded shuffle of its flows; the first K (or F of them) train, the rest
     * alternate between validation and test */
    size_t n_split[4] = {0}, *train_per = calloc((size_t)C, sizeof *train_per);
    if (!train_per) goto oom;
    for (int k = 0; k < C; k++) {
        size_t m = 0;
        for (size_t f = 0; f < d.n_flows; f++)
            if (truth[f] == k) members[m++] = f;
        uint64_t rs = mix((uint64_t)seed * 7919u + (uint64_t)k);
        for (size_t i = m; i > 1; i--) {
            rs = mix(rs);
            size_t j = (size_t)(rs % i), x = members[i - 1];
            members[i - 1] = members[j], members[j] = x;
        }
        size_t nt = shots ? (size_t)shots : (size_t)ceil(fraction * (double)m);
        if (shots && nt > m / 2) nt = m / 2; /* keep flows of every class to validate and test on */
        if (nt == 0 && m) nt = 1;
        for (size_t i = 0; i < m; i++) {
            unsigned char s = i < nt ? SPLIT_TRAIN : (i - nt) % 2 ? SPLIT_VAL : SPLIT_TEST;
            split[members[i]] = s;
            n_split[s]++;
        }
        train_per[k] = nt;
    }
    /* inverse-frequency class weights over the training flows, n / (C n_k) (sklearn's "balanced") */
    cwv = malloc((size_t)C * sizeof *cwv);
    if (!cwv) {
        free(train_per);
        goto oom;
    }
    for (int k = 0; k < C; k++)
        cwv[k] = (float)((double)n_split[SPLIT_TRAIN] / ((double)C * (double)(train_per[k] ? train_per[k] : 1)));
    free(train_per);
    weft_tensor cw = {.name = "class_weight", .dtype = WEFT_FLOAT32, .rank = 1, .dims = {C}, .data = cwv,
                      .nbytes = (size_t)C * sizeof *cwv};

    if (weft_model_load(base ? base : scratch, &enc) || weft_classifier_model(enc, C, (int)hidden, (uint64_t)seed, &cls)) {
        fprintf(stderr, "weft finetune: %s\n", weft_last_error());
        goto out;
    }
    if (freeze && !(frz = freeze_list(enc))) goto oom;
    /* the graphs with a training node; only those make a step (the others' loss is 0 / 0) */
    order = malloc(d.c.n * sizeof *order);
    scores = malloc(d.n_flows * (size_t)C * sizeof *scores);
    if (!order || !scores) goto oom;
    size_t n_train = 0;
    for (size_t g = 0; g < d.c.n; g++) {
        int n = make_feed(&fd, &d.c.g[g], truth, split, SPLIT_TRAIN, &cw);
        if (n < 0) goto oom;
        if (n > 0) order[n_train++] = g;
    }
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.loss = "loss";
    o.lr = lr;
    o.freeze = frz;
    o.backend = backend;
    o.threads = (int)threads;
    cli_lr_apply(&lro, epochs * (long)n_train, &o);
    if (weft_trainer_create(cls, &o, &tr)) {
        fprintf(stderr, "weft finetune: %s\n", weft_last_error());
        goto out;
    }
    /* what the classifier carries (weft predict, weft export) and a resumed run must repeat */
    char train_meta[2048], lr_text[512], *ctext = cli_meta_classes_text(classes, C);
    cli_lr_text(&lro, lr_text, sizeof lr_text);
    snprintf(train_meta, sizeof train_meta, "finetune %s=%s seed=%ld shots=%ld fraction=%.17g lr=%.17g hidden=%ld "
             "patience=%ld freeze_encoder=%d%s", base ? "base" : "scratch", base ? base : scratch, seed, shots, fraction,
             lr, hidden, patience, (int)freeze, lr_text);
    if (!ctext) goto oom;
    int mfail = cli_meta_set(tr, "finetune", &gp, &sc, train_meta) ||
                weft_trainer_set_metadata(tr, CLI_META_CLASSES, ctext);
    free(ctext);
    if (mfail) {
        fprintf(stderr, "weft finetune: %s\n", weft_last_error());
        goto out;
    }
    int np = weft_trainer_num_params(tr);
    if (json_path && !(jf = fopen(json_path, "w"))) {
        fprintf(stderr, "weft finetune: cannot write %s: %s\n", json_path, strerror(errno));
        goto out;
    }
    fprintf(stderr, "weft finetune: %zu flows, %d classes, %zu graphs (%zu with training flows); flows: %zu train, "
                    "%zu validation, %zu test; %d parameters%s\n", d.n_flows, C, d.c.n, n_train, n_split[SPLIT_TRAIN],
            n_split[SPLIT_VAL], n_split[SPLIT_TEST], np, freeze ? " (encoder frozen)" : "");
    if (jf) {
        fprintf(jf, "{\"classes\": [");
        for (int k = 0; k < C; k++) fprintf(jf, "%s", k ? ", " : ""), json_string(jf, classes[k]);
        fprintf(jf, "],\n \"class_weight\": [");
        for (int k = 0; k < C; k++) fprintf(jf, "%s%.9g", k ? ", " : "", cwv[k]);
        fprintf(jf, "],\n \"flows\": %zu, \"graphs\": %zu, \"train_graphs\": %zu,\n \"split\": {\"train\": %zu, "
                    "\"validation\": %zu, \"test\": %zu},\n \"epochs\": [", d.n_flows, d.c.n, n_train,
                n_split[SPLIT_TRAIN], n_split[SPLIT_VAL], n_split[SPLIT_TEST]);
    }
    eval_ctx ec = {tr, &fd, &cw};
    unsigned char *is_val = malloc(d.n_flows), *is_test = malloc(d.n_flows);
    if (!is_val || !is_test) {
        free(is_val), free(is_test);
        goto oom;
    }
    for (size_t f = 0; f < d.n_flows; f++) is_val[f] = split[f] == SPLIT_VAL, is_test[f] = split[f] == SPLIT_TEST;
    double best_loss = INFINITY;
    long best_epoch = 0, since = 0, first_epoch = 0;
    bool tty = isatty(2), failed = false, stopped = false;
    if (resume_path) {
        /* the checkpoint must be this run's; then its weights, optimizer state, best weights and the
         * early-stopping counters */
        weft_model *cm = NULL;
        const char *es = NULL;
        int64_t done = 0;
        int got = 0, was_stopped = 0;
        if (cli_meta_check_resume("finetune", resume_path, &gp, &sc, train_meta)) {
            free(is_val), free(is_test);
            goto out;
        }
        if (weft_model_load(resume_path, &cm)) {
            fprintf(stderr, "weft finetune: --resume: checkpoint %s: %s\n", resume_path, weft_last_error());
            free(is_val), free(is_test);
            goto out;
        }
        if ((es = weft_model_metadata(cm, "weft.early_stop")))
            got = sscanf(es, "best_epoch=%ld since=%ld best_loss=%la stopped=%d", &best_epoch, &since, &best_loss,
                         &was_stopped);
        weft_model_free(cm);
        stopped = was_stopped != 0;
        if (got != 4) {
            fprintf(stderr, "weft finetune: --resume: %s holds no early-stopping state (weft.early_stop)\n", resume_path);
            free(is_val), free(is_test);
            goto out;
        }
        if (weft_trainer_load_checkpoint(tr, resume_path, &done)) {
            fprintf(stderr, "weft finetune: --resume: %s\n", weft_last_error());
            free(is_val), free(is_test);
            goto out;
        }
        if (done < 0 || done > epochs) {
            fprintf(stderr, "weft finetune: --resume: %s was written after epoch %lld, outside 0 .. --epochs %ld\n",
                    resume_path, (long long)done, epochs);
            free(is_val), free(is_test);
            goto out;
        }
        first_epoch = (long)done;
        fprintf(stderr, "weft finetune: resuming after epoch %ld (%lld steps) from %s\n", first_epoch,
                (long long)weft_trainer_steps(tr), resume_path);
    }
    size_t *order0 = malloc((n_train + 1) * sizeof *order0);
    if (!order0) {
        free(is_val), free(is_test);
        goto oom;
    }
    memcpy(order0, order, n_train * sizeof *order);
    for (long ep = first_epoch; ep < epochs && !failed && !stopped; ep++) {
        /* a seeded shuffle, a function of the seed and the epoch alone (so a resumed run sees the epochs
         * an uninterrupted one would) */
        memcpy(order, order0, n_train * sizeof *order);
        uint64_t rs = mix((uint64_t)seed * 1000003u + (uint64_t)ep);
        for (size_t i = n_train; i > 1; i--) {
            rs = mix(rs);
            size_t j = (size_t)(rs % i), x = order[i - 1];
            order[i - 1] = order[j], order[j] = x;
        }
        double lsum = 0;
        for (size_t i = 0; i < n_train; i++) {
            double loss = 0;
            if (make_feed(&fd, &d.c.g[order[i]], truth, split, SPLIT_TRAIN, &cw) < 0 ||
                weft_trainer_step(tr, fd.in, 4 + WEFT_EDGE_TYPES, &loss)) {
                fprintf(stderr, "\nweft finetune: epoch %ld, graph %zu: %s\n", ep + 1, order[i], weft_last_error());
                failed = true;
                break;
            }
            lsum += loss;
            if (tty)
                fprintf(stderr, "\repoch %ld/%ld  graph %zu/%zu  loss %.4f", ep + 1, epochs, i + 1, n_train,
                        lsum / (double)(i + 1));
        }
        if (failed) break;
        double tl = n_train ? lsum / (double)n_train : NAN;
        metrics vm = {0};
        if (n_split[SPLIT_VAL]) {
            if (flow_scores(&d, is_val, C, trainer_logits, &ec, scores, count) ||
                compute_metrics(d.n_flows, truth, is_val, scores, count, C, &vm)) {
                fprintf(stderr, "\nweft finetune: validation: %s\n", weft_last_error());
                metrics_free(&vm);
                failed = true;
                break;
            }
        }
        fprintf(stderr, "%sepoch %ld/%ld: loss %.4f", tty ? "\r" : "", ep + 1, epochs, tl);
        if (n_split[SPLIT_VAL])
            fprintf(stderr, ", val loss %.4f, val accuracy %.4f, val macro F1 %.4f", vm.loss, vm.accuracy, vm.macro_f1);
        fprintf(stderr, "\n");
        if (jf) {
            fprintf(jf, "%s\n  {\"epoch\": %ld, \"loss\": ", ep > first_epoch ? "," : "", ep + 1);
            json_num(jf, tl);
            fprintf(jf, ", \"val_loss\": ");
            json_num(jf, n_split[SPLIT_VAL] ? vm.loss : NAN);
            fprintf(jf, ", \"val_accuracy\": ");
            json_num(jf, n_split[SPLIT_VAL] ? vm.accuracy : NAN);
            fprintf(jf, ", \"val_macro_f1\": ");
            json_num(jf, n_split[SPLIT_VAL] ? vm.macro_f1 : NAN);
            fprintf(jf, "}");
        }
        /* early stopping: keep the parameters of the best validation loss, stop after `patience`
         * epochs without improvement */
        double crit = n_split[SPLIT_VAL] ? vm.loss : tl;
        metrics_free(&vm);
        if (crit < best_loss) {
            best_loss = crit, best_epoch = ep + 1, since = 0;
            if (weft_trainer_snapshot(tr)) {
                fprintf(stderr, "weft finetune: %s\n", weft_last_error());
                failed = true;
                break;
            }
        } else if (patience && ++since >= patience) {
            fprintf(stderr, "weft finetune: no better validation loss for %ld epochs: stopping\n", patience);
            stopped = true;
        }
        if (ckpt_path && ((ep + 1) % ckpt_every == 0 || ep + 1 == epochs || stopped)) {
            char es[256];
            snprintf(es, sizeof es, "best_epoch=%ld since=%ld best_loss=%a stopped=%d", best_epoch, since, best_loss,
                     (int)stopped);
            if (weft_trainer_set_metadata(tr, "weft.early_stop", es) || weft_trainer_save_checkpoint(tr, ckpt_path, ep + 1)) {
                fprintf(stderr, "weft finetune: checkpoint: %s\n", weft_last_error());
                failed = true;
            }
        }
    }
    free(order0);
    if (failed) {
        free(is_val), free(is_test);
        goto out;
    }
    if (jf) fprintf(jf, "\n ],\n \"best_epoch\": %ld,\n", best_epoch);
    if (best_epoch && weft_trainer_restore_snapshot(tr)) {
        fprintf(stderr, "weft finetune: %s\n", weft_last_error());
        free(is_val), free(is_test);
        goto out;
    }
    fprintf(stderr, "weft finetune: the parameters of epoch %ld (best %s loss %.4f)\n", best_epoch,
            n_split[SPLIT_VAL] ? "validation" : "training", best_loss);
    weft_status st = flow_scores(&d, is_test, C, trainer_logits, &ec, scores, count);
    free(is_val);
    if (st || compute_metrics(d.n_flows, truth, is_test, scores, count, C, &tm)) {
        free(is_test);
        fprintf(stderr, "weft finetune: test: %s\n", weft_last_error());
        goto out;
    }
    free(is_test);
    metrics_print("finetune", "test", &tm, classes, C);
    if (jf) {
        fprintf(jf, " \"test\": ");
        metrics_json(jf, &tm, classes, C);
        fprintf(jf, "\n}\n");
    }
    if (weft_trainer_save_model(tr, out_path)) {
        fprintf(stderr, "weft finetune: %s\n", weft_last_error());
        goto out;
    }
    /* the class names and the scaling also beside the model, for readers of the older layout */
    char side[4096];
    snprintf(side, sizeof side, "%s.classes.txt", out_path);
    FILE *cf = fopen(side, "w");
    if (!cf) {
        fprintf(stderr, "weft finetune: cannot write %s: %s\n", side, strerror(errno));
        goto out;
    }
    for (int k = 0; k < C; k++) fprintf(cf, "%s\n", classes[k]);
    if (fclose(cf)) {
        fprintf(stderr, "weft finetune: writing %s failed\n", side);
        goto out;
    }
    snprintf(side, sizeof side, "%s.scaler", out_path);
    if (weft_scaler_save(&sc, side, err, sizeof err)) {
        fprintf(stderr, "weft finetune: %s\n", err);
        goto out;
    }
    fprintf(stderr, "weft finetune: classifier written to %s (classes in %s.classes.txt)\n", out_path, out_path);
    rc = CLI_OK;
    goto out;
oom:
    fprintf(stderr, "weft finetune: out of memory\n");
out:
    if (jf && fclose(jf) != 0 && rc == CLI_OK) {
        fprintf(stderr, "weft finetune: writing %s failed\n", json_path);
        rc = CLI_FAIL;
    }
    metrics_free(&tm);
    free(fd.labels);
    free(cwv);
    free(scores);
    free(order);
    free(count);
    free(members);
    free(classes);
    free(truth);
    free(split);
    free(frz);
    weft_trainer_free(tr);
    weft_model_free(cls);
    weft_model_free(enc);
    dataset_free(&d);
    label_map_free(&lmap);
    weft_labels_free(ndpi);
    free(data);
    return rc;
}

/* --- predict ------------------------------------------------------------------------------------- */

typedef struct run_ctx {
    weft_session *s;
    feed *fd;
    const weft_tensor *cw;
} run_ctx;

static weft_status session_logits(void *ctx, const gtensors *g, const float **logits)
{
    run_ctx *r = ctx;
    if (make_feed(r->fd, g, NULL, NULL, 0, r->cw) < 0) return WEFT_ERR_NOMEM;
    weft_tensor out[1] = {{.name = "logits"}};
    weft_status st = weft_session_run(r->s, r->fd->in, 4 + WEFT_EDGE_TYPES, out, 1);
    *logits = out[0].data;
    return st;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL, *json_path = NULL, *backend = NULL, *map_path = NULL;
    const char **data = calloc(2 * ((size_t)argc + 1), sizeof *data), **ndpi_paths = data + argc + 1;
    int n_data = 0, n_ndpi = 0;
    long threads = 0;
    weft_tgraph_params gp;
    weft_tgraph_params_default(&gp);
    if (!data) return cli_usage("predict", "out of memory");
    weft_model *m = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long lv;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            predict_help(stdout);
            free(data);
            return CLI_OK;
        }
        if (!v) {
            free(data);
            return cli_usage("predict", "%s %s", a, a[0] == '-' ? "needs a value" : ": unexpected argument");
        }
        i++;
        if (strcmp(a, "--model") == 0) model_path = v;
        else if (strcmp(a, "--label-map") == 0) map_path = v;
        else if (strcmp(a, "--ndpi") == 0) ndpi_paths[n_ndpi++] = v;
        else if (strcmp(a, "--data") == 0) data[n_data++] = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out_path = v;
        else if (strcmp(a, "--json") == 0) json_path = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--threads") == 0 && cli_parse_int(v, 0, 1024, &lv)) threads = lv;
        else if (!graph_option(a, v, &gp)) {
            free(data);
            return cli_usage("predict", "%s '%s': unknown option or value out of range", a, v);
        }
    }
    if (!model_path || !n_data) {
        free(data);
        return cli_usage("predict", "--model and --data are required");
    }
    /* the graph options the model was trained with, under the command line's */
    static const char *const no_flags[] = {NULL};
    if (weft_model_load(model_path, &m) || graph_options_of("predict", m, model_path, argc, argv, no_flags, &gp)) {
        if (!m) fprintf(stderr, "weft predict: %s: %s\n", model_path, weft_last_error());
        weft_model_free(m);
        free(data);
        return CLI_FAIL;
    }

    int rc = CLI_FAIL, C = 0;
    char err[1024];
    char **classes = NULL;
    weft_plan *plan = NULL;
    weft_session *s = NULL;
    dataset d = {0};
    double *scores = NULL;
    size_t *count = NULL;
    int *truth = NULL;
    float *cwv = NULL;
    feed fd = {0};
    metrics mt = {0};
    label_map lmap = {0};
    weft_labels *ndpi = NULL;
    FILE *of = NULL, *jf = NULL;
    /* the model's class names and scaling: its metadata, or the files an older weft finetune left */
    weft_scaler sc;
    if (cli_meta_task("predict", m, model_path, &classes, &C, &sc)) goto out;
    weft_compile_options co = {.backend = backend, .opt_level = 1};
    weft_session_options so = {.threads = (int)threads};
    if (weft_compile(m, &co, &plan) || weft_session_create_with_options(plan, &so, &s)) {
        fprintf(stderr, "weft predict: %s: %s\n", model_path, weft_last_error());
        goto out;
    }
    if (map_path && label_map_load(&lmap, map_path, err, sizeof err)) {
        fprintf(stderr, "weft predict: %s\n", err);
        goto out;
    }
    if (n_ndpi && !(ndpi = load_ndpi("predict", ndpi_paths, n_ndpi))) goto out;
    if (dataset_load("predict", data, n_data, &gp, &sc, false, ndpi, &d)) goto out;
    cwv = malloc((size_t)C * sizeof *cwv);
    scores = malloc(d.n_flows * (size_t)C * sizeof *scores);
    count = malloc(d.n_flows * sizeof *count);
    truth = malloc(d.n_flows * sizeof *truth);
    if (!cwv || !scores || !count || !truth) goto oom;
    for (int k = 0; k < C; k++) cwv[k] = 1.0f;
    weft_tensor cw = {.name = "class_weight", .dtype = WEFT_FLOAT32, .rank = 1, .dims = {C}, .data = cwv,
                      .nbytes = (size_t)C * sizeof *cwv};
    run_ctx rctx = {s, &fd, &cw};
    if (flow_scores(&d, NULL, C, session_logits, &rctx, scores, count)) {
        fprintf(stderr, "weft predict: %s\n", weft_last_error());
        goto out;
    }
    /* truth where a flow's class is one the model knows; other names cannot be scored */
    size_t labelled = 0, unknown = 0, rows = 0;
    for (size_t f = 0; f < d.n_flows; f++) {
        truth[f] = -1;
        const char *name = class_name(&lmap, flow_of(&d, f));
        if (!name || !count[f]) continue;
        for (int k = 0; k < C && truth[f] < 0; k++)
            if (strcmp(classes[k], name) == 0) truth[f] = k;
        if (truth[f] >= 0) labelled++;
        else unknown++;
    }
    of = out_path ? fopen(out_path, "w") : stdout;
    if (!of) {
        fprintf(stderr, "weft predict: cannot write %s: %s\n", out_path, strerror(errno));
        goto out;
    }
    fprintf(of, "src,dst,sport,dport,proto,start,predicted");
    for (int k = 0; k < C; k++) fprintf(of, ","), csv_field(of, "score_"), csv_field(of, classes[k]);
    fprintf(of, "\n");
    for (size_t f = 0; f < d.n_flows; f++) {
        if (!count[f]) continue;
        const weft_flow *fl = flow_of(&d, f);
        char a[64], b[64];
        weft_ip_format(&fl->src, a, sizeof a);
        weft_ip_format(&fl->dst, b, sizeof b);
        const double *sr = scores + f * (size_t)C;
        fprintf(of, "%s,%s,%u,%u,%u,%.6f,", a, b, fl->sport, fl->dport, fl->proto, fl->start);
        csv_field(of, classes[argmax(sr, C)]);
        for (int k = 0; k < C; k++) fprintf(of, ",%.6g", sr[k]);
        fprintf(of, "\n");
        rows++;
    }
    if (of != stdout && fclose(of)) {
        of = NULL;
        fprintf(stderr, "weft predict: writing %s failed\n", out_path);
        goto out;
    }
    of = NULL;
    fprintf(stderr, "weft predict: %zu flows, %zu graphs, %zu flows classified (%zu in no graph)%s%s\n", d.n_flows,
            d.c.n, rows, d.n_flows - rows, out_path ? " -> " : "", out_path ? out_path : "");
    if (unknown) fprintf(stderr, "weft predict: %zu flows have a class the model does not know\n", unknown);
    if (labelled) {
        if (compute_metrics(d.n_flows, truth, NULL, scores, count, C, &mt)) goto oom;
        metrics_print("predict", "labelled flows", &mt, classes, C);
    }
    if (json_path) {
        if (!(jf = fopen(json_path, "w"))) {
            fprintf(stderr, "weft predict: cannot write %s: %s\n", json_path, strerror(errno));
            goto out;
        }
        fprintf(jf, "{\"classes\": [");
        for (int k = 0; k < C; k++) fprintf(jf, "%s", k ? ", " : ""), json_string(jf, classes[k]);
        fprintf(jf, "], \"flows\": %zu, \"predicted\": %zu, \"labelled\": %zu, \"unknown_class\": %zu,\n \"metrics\": ",
                d.n_flows, rows, labelled, unknown);
        if (labelled) metrics_json(jf, &mt, classes, C);
        else fprintf(jf, "null");
        fprintf(jf, "\n}\n");
    }
    rc = CLI_OK;
    goto out;
oom:
    fprintf(stderr, "weft predict: out of memory\n");
out:
    if (of && of != stdout) fclose(of);
    if (jf && fclose(jf) != 0 && rc == CLI_OK) {
        fprintf(stderr, "weft predict: writing %s failed\n", json_path);
        rc = CLI_FAIL;
    }
    metrics_free(&mt);
    cli_meta_classes_free(classes, C);
    free(fd.labels);
    free(cwv);
    free(scores);
    free(count);
    free(truth);
    weft_session_free(s);
    weft_plan_free(plan);
    weft_model_free(m);
    dataset_free(&d);
    label_map_free(&lmap);
    weft_labels_free(ndpi);
    free(data);
    return rc;
}
