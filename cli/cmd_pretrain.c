/* cli/cmd_pretrain.c — `weft pretrain`: self-supervised link prediction on traffic graphs built from
 * captures and flow files, with no Python: the encoder's weights come out as an ONNX model. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "graph_data.h"
#include "graph_union.h"
#include "lr_options.h"
#include "train_meta.h"
#include "traffic/features.h"
#include "traffic/graph.h"

int cmd_pretrain(int argc, char **argv);

static void pretrain_help(FILE *f)
{
    fprintf(f,
            "usage: weft pretrain --model ENCODER.onnx --data PATH... -o BASE.onnx [options]\n"
            "\n"
            "Pretrains a traffic graph encoder by link prediction (../shared/seeds): the data's flows become\n"
            "spatio-temporal graphs (as 'weft graph' makes them), each graph's edges of every type are split\n"
            "into message edges (the encoder's input) and supervision edges, each supervision edge gets\n"
            "--neg-ratio negatives (same source, a random destination), a dot-product decoder scores them\n"
            "and binary cross-entropy is minimised with Adam. Every --val-every-th graph is held out; its\n"
            "loss and AUC are reported each epoch. The encoder with the trained weights is written to -o.\n"
            "\n"
            "  --model FILE         the encoder: inputs x_con, x_ip, edge_index__<type>; outputs h_con, h_ip\n"
            "  --data PATH          captures, flow logs or flow CSVs (as 'weft flows' reads them); repeatable\n"
            "  -o, --output FILE    the pretrained encoder (ONNX, written atomically)\n"
            "  --epochs N           passes over the training graphs (10)\n"
            "  --batch-graphs B     graphs per step, trained as one disjoint union (1; at most 64)\n"
            "  --lr X               Adam learning rate (1e-3)\n");
    cli_lr_help(f);
    fprintf(f,
            "  --neg-ratio K        negatives per supervision edge (1)\n"
            "  --sup-fraction F     share of each edge type's edges used as supervision (0.2)\n"
            "  --val-every K        every K-th graph is held out for validation (10; 0: none)\n"
            "  --seed S             the split, the negatives and the graph order (1)\n"
            "  --clip-norm X        clip the gradients' global norm (0: off)\n"
            "  --scaler FILE        feature scaling saved earlier (default: fitted on the data's flows)\n"
            "  --window S, --window-memory K, --flow-memory K, --max-flows N   graph options ('weft graph')\n"
            "  --backend LIST, --threads N\n"
            "  --json FILE          metrics per epoch as JSON\n"
            "  --checkpoint FILE    write a checkpoint (weights, optimizer state, epoch; ONNX, atomically)\n"
            "                       every --checkpoint-every epochs (1) and after the last\n"
            "  --resume FILE        go on from a checkpoint of the same model, data and options: the result\n"
            "                       is the one an uninterrupted run gives, bit for bit (a checkpoint holds\n"
            "                       the graph options, scaling and training options it was made with, and\n"
            "                       others are refused)\n"
            "  -h, --help           this text\n"
            "\n"
            "One line per epoch on stderr. Exit status: 0 success, 1 failure, 2 bad command line.\n");
}

typedef cli_graph gtensors;

/* Whether graph g of n is held out for validation: every val_every-th, when there are two or more. */
static bool held_out(size_t g, size_t n, long val_every)
{
    return val_every > 0 && n >= 2 && g % (size_t)val_every == (size_t)val_every - 1;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Loss and AUC of the link prediction model over the validation graphs (fixed split per graph). */
static weft_status validate(weft_trainer *tr, const gtensors *graphs, const size_t *val, size_t n_val,
                            const weft_linkpred_options *lo, double *loss, double *auc)
{
    float *sc = NULL, *lb = NULL;
    size_t n = 0, cap = 0;
    double lsum = 0;
    size_t lcount = 0;
    weft_status st = WEFT_OK;
    for (size_t v = 0; v < n_val && !st; v++) {
        weft_linkpred_options o = *lo;
        o.seed = mix(lo->seed ^ (0x5151ULL + val[v]));
        weft_linkpred_batch b;
        if ((st = weft_linkpred_make_batch(graphs[val[v]].t, 2 + WEFT_EDGE_TYPES, &o, &b))) break;
        weft_tensor out[1 + WEFT_EDGE_TYPES];
        memset(out, 0, sizeof out);
        st = weft_trainer_eval(tr, b.t, b.n, out, 1 + WEFT_EDGE_TYPES);
        size_t pairs = 0;
        for (int k = 1; !st && k <= WEFT_EDGE_TYPES; k++) {
            size_t m = out[k].nbytes / sizeof(float);
            const char *type = out[k].name + strlen("logits__");
            char lname[96];
            snprintf(lname, sizeof lname, "label__%s", type);
            const weft_tensor *lt = NULL;
            for (size_t j = 0; j < b.n; j++)
                if (strcmp(b.t[j].name, lname) == 0) lt = &b.t[j];
            if (!lt || lt->nbytes != out[k].nbytes) {
                st = WEFT_ERR_INTERNAL;
                break;
            }
            if (n + m > cap) {
                cap = (n + m) * 2;
                float *a = realloc(sc, cap * sizeof *a), *c = realloc(lb, cap * sizeof *c);
                if (a) sc = a;
                if (c) lb = c;
                if (!a || !c) {
                    st = WEFT_ERR_NOMEM;
                    break;
                }
            }
            memcpy(sc + n, out[k].data, out[k].nbytes);
            memcpy(lb + n, lt->data, lt->nbytes);
            n += m;
            pairs += m;
        }
        if (!st && pairs) {
            lsum += *(const float *)out[0].data * (double)pairs;
            lcount += pairs;
        }
        weft_linkpred_batch_free(&b);
    }
    *loss = lcount ? lsum / (double)lcount : NAN;
    *auc = st || !n ? -1 : weft_auc(sc, lb, n);
    free(sc);
    free(lb);
    return st;
}

int cmd_pretrain(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL, *json_path = NULL, *scaler_path = NULL, *backend = NULL;
    const char *ckpt_path = NULL, *resume_path = NULL;
    long ckpt_every = 1;
    const char **data = calloc((size_t)argc + 1, sizeof *data);
    int n_data = 0;
    long epochs = 10, neg = 1, val_every = 10, threads = 0, seed = 1, batch = 1;
    cli_lr_options lro;
    bool lbad = false;
    cli_lr_defaults(&lro);
    double lr = 1e-3, sup = 0.2, clip = 0;
    weft_tgraph_params gp;
    weft_tgraph_params_default(&gp);
    if (!data) return cli_usage("pretrain", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long lv;
        double dv;
        char *end;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            pretrain_help(stdout);
            free(data);
            return CLI_OK;
        }
        if (!v) {
            free(data);
            return cli_usage("pretrain", "%s %s", a, a[0] == '-' ? "needs a value" : ": unexpected argument");
        }
        i++;
        errno = 0;
        dv = strtod(v, &end);
        bool num_ok = end != v && !*end && !errno && isfinite(dv);
        if (strcmp(a, "--model") == 0) model_path = v;
        else if (strcmp(a, "--data") == 0) data[n_data++] = v;
        else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) out_path = v;
        else if (strcmp(a, "--json") == 0) json_path = v;
        else if (strcmp(a, "--checkpoint") == 0) ckpt_path = v;
        else if (strcmp(a, "--resume") == 0) resume_path = v;
        else if (strcmp(a, "--checkpoint-every") == 0 && cli_parse_int(v, 1, 1000000, &lv)) ckpt_every = lv;
        else if (strcmp(a, "--scaler") == 0) scaler_path = v;
        else if (strcmp(a, "--backend") == 0) backend = v;
        else if (strcmp(a, "--lr") == 0 && num_ok && dv > 0 && dv < 10) lr = dv;
        else if (strcmp(a, "--sup-fraction") == 0 && num_ok && dv > 0 && dv < 1) sup = dv;
        else if (strcmp(a, "--clip-norm") == 0 && num_ok && dv >= 0) clip = dv;
        else if (strcmp(a, "--window") == 0 && num_ok && dv > 0) gp.window = dv;
        else if (strcmp(a, "--epochs") == 0 && cli_parse_int(v, 1, 100000, &lv)) epochs = lv;
        else if (strcmp(a, "--neg-ratio") == 0 && cli_parse_int(v, 0, 100, &lv)) neg = lv;
        else if (strcmp(a, "--batch-graphs") == 0 && cli_parse_int(v, 1, 64, &lv)) batch = lv;
        else if (cli_lr_option(a, v, &lro, &lbad) && !lbad) continue;
        else if (strcmp(a, "--val-every") == 0 && cli_parse_int(v, 0, 1000000, &lv)) val_every = lv;
        else if (strcmp(a, "--seed") == 0 && cli_parse_int(v, 0, 2147483647L, &lv)) seed = lv;
        else if (strcmp(a, "--threads") == 0 && cli_parse_int(v, 0, 1024, &lv)) threads = lv;
        else if (strcmp(a, "--window-memory") == 0 && cli_parse_int(v, 1, 100000, &lv)) gp.window_memory = (int)lv;
        else if (strcmp(a, "--flow-memory") == 0 && cli_parse_int(v, 0, 100000, &lv)) gp.flow_memory = (int)lv;
        else if (strcmp(a, "--max-flows") == 0 && cli_parse_int(v, 0, 1000000000L, &lv)) gp.max_flows = (size_t)lv;
        else {
            free(data);
            return cli_usage("pretrain", "%s '%s': unknown option or value out of range", a, v);
        }
    }
    if (!model_path || !out_path || !n_data) {
        free(data);
        return cli_usage("pretrain", "--model, --data and -o are required");
    }
    if (cli_lr_check(&lro)) {
        free(data);
        return cli_usage("pretrain", "%s", cli_lr_check(&lro));
    }

    int rc = CLI_FAIL;
    char err[1024];
    weft_model *enc = NULL, *lpm = NULL;
    weft_trainer *tr = NULL;
    cli_graphs c = {0};
    size_t *order = NULL, *val = NULL;
    FILE *jf = NULL;
    weft_flow_table *tables = calloc((size_t)n_data, sizeof *tables);
    weft_read_report rep;
    weft_report_init(&rep);
    if (!tables) goto out;
    /* every input's flows (each its own time axis), the scaling over all of them, then the graphs */
    size_t n_flows = 0;
    for (int i = 0; i < n_data; i++) {
        weft_flow_table_init(&tables[i]);
        if (cli_read_flows(data[i], &tables[i], &rep, err, sizeof err)) {
            fprintf(stderr, "weft pretrain: %s\n", err);
            goto out;
        }
        n_flows += tables[i].n;
    }
    weft_scaler sc;
    if (scaler_path) {
        if (weft_scaler_load(&sc, scaler_path, err, sizeof err)) {
            fprintf(stderr, "weft pretrain: %s\n", err);
            goto out;
        }
    } else {
        weft_flow *all = malloc((n_flows + 1) * sizeof *all);
        if (!all) goto out;
        size_t k = 0;
        for (int i = 0; i < n_data; i++) {
            memcpy(all + k, tables[i].flows, tables[i].n * sizeof *all);
            k += tables[i].n;
        }
        int fr = n_flows ? weft_scaler_fit(&sc, all, n_flows, 0.03, 0.97, err, sizeof err) : -1;
        free(all);
        if (fr) {
            fprintf(stderr, "weft pretrain: %s\n", n_flows ? err : "no flows in the data");
            goto out;
        }
    }
    for (int i = 0; i < n_data; i++) {
        weft_tgraph_stats st;
        if (weft_tgraph_build(&tables[i], &gp, &sc, cli_graphs_add, &c, &st, err, sizeof err)) {
            fprintf(stderr, "weft pretrain: %s: %s\n", data[i], c.oom ? "out of memory" : err);
            goto out;
        }
    }
    if (c.n == 0) {
        fprintf(stderr, "weft pretrain: the data make no graph\n");
        goto out;
    }

    if (weft_model_load(model_path, &enc) || weft_linkpred_model(enc, &lpm)) {
        fprintf(stderr, "weft pretrain: %s\n", weft_last_error());
        goto out;
    }
    weft_trainer_options o;
    weft_trainer_options_default(&o);
    o.loss = "loss";
    o.lr = lr;
    o.clip_norm = clip;
    size_t n_train0 = 0; /* the steps of the run, for a schedule over all of it */
    for (size_t g = 0; g < c.n; g++) n_train0 += !held_out(g, c.n, val_every);
    cli_lr_apply(&lro, epochs * (long)((n_train0 + (size_t)batch - 1) / (size_t)batch), &o);
    o.backend = backend;
    o.threads = (int)threads;
    if (weft_trainer_create(lpm, &o, &tr)) {
        fprintf(stderr, "weft pretrain: %s\n", weft_last_error());
        goto out;
    }
    /* what the encoder and its checkpoints carry: the graphs and scaling it was trained on, and the
     * options a resumed run must repeat to continue the same run */
    char train_meta[1024], lr_text[512];
    cli_lr_text(&lro, lr_text, sizeof lr_text);
    snprintf(train_meta, sizeof train_meta, "pretrain seed=%ld neg_ratio=%ld sup_fraction=%.17g val_every=%ld lr=%.17g "
             "clip_norm=%.17g batch_graphs=%ld%s", seed, neg, sup, val_every, lr, clip, batch, lr_text);
    if (cli_meta_set(tr, "pretrain", &gp, &sc, train_meta)) goto out;
    /* graphs held out for validation: every val_every-th, when there are at least two graphs */
    order = malloc(c.n * sizeof *order);
    val = malloc(c.n * sizeof *val);
    if (!order || !val) goto out;
    size_t n_train = 0, n_val = 0;
    for (size_t g = 0; g < c.n; g++) {
        if (held_out(g, c.n, val_every)) val[n_val++] = g;
        else order[n_train++] = g;
    }
    if (json_path && !(jf = fopen(json_path, "w"))) {
        fprintf(stderr, "weft pretrain: cannot write %s: %s\n", json_path, strerror(errno));
        goto out;
    }
    fprintf(stderr, "weft pretrain: %zu flows, %zu graphs (%zu for training, %zu held out), %d parameters\n", n_flows,
            c.n, n_train, n_val, weft_trainer_num_params(tr));
    if (jf) fprintf(jf, "{\"graphs\": %zu, \"train_graphs\": %zu, \"val_graphs\": %zu, \"epochs\": [", c.n, n_train, n_val);
    weft_linkpred_options lo = {sup, (int)neg, (uint64_t)seed};
    bool tty = isatty(2);
    long first_epoch = 0;
    if (resume_path) {
        int64_t done = 0;
        if (cli_meta_check_resume("pretrain", resume_path, &gp, &sc, train_meta)) goto out;
        if (weft_trainer_load_checkpoint(tr, resume_path, &done)) {
            fprintf(stderr, "weft pretrain: --resume: %s\n", weft_last_error());
            goto out;
        }
        if (done < 0 || done > epochs) {
            fprintf(stderr, "weft pretrain: --resume: %s was written after epoch %lld, outside 0 .. --epochs %ld\n",
                    resume_path, (long long)done, epochs);
            goto out;
        }
        first_epoch = (long)done;
        fprintf(stderr, "weft pretrain: resuming after epoch %ld (%lld steps) from %s\n", first_epoch,
                (long long)weft_trainer_steps(tr), resume_path);
    }
    for (long ep = first_epoch; ep < epochs; ep++) {
        double t0 = now_s(), lsum = 0;
        /* a seeded shuffle of the training graphs, a function of the seed and the epoch alone (so a run
         * resumed from a checkpoint sees the epochs an uninterrupted one would) */
        for (size_t i = 0, k = 0; i < c.n; i++)
            if (!held_out(i, c.n, val_every)) order[k++] = i;
        uint64_t rs = mix((uint64_t)seed * 1000003u + (uint64_t)ep);
        for (size_t i = n_train; i > 1; i--) {
            rs = mix(rs);
            size_t j = (size_t)(rs % i);
            size_t x = order[i - 1];
            order[i - 1] = order[j], order[j] = x;
        }
        size_t n_steps = 0;
        for (size_t i = 0; i < n_train; i += (size_t)batch) {
            /* one step over `batch` graphs: their disjoint union (one graph needs no copy) */
            size_t nb = n_train - i < (size_t)batch ? n_train - i : (size_t)batch;
            const cli_graph *parts[64];
            cli_graph u = {0};
            for (size_t k = 0; k < nb; k++) parts[k] = &c.g[order[i + k]];
            if (nb > 1 && cli_graph_union(parts, nb, &u)) {
                fprintf(stderr, "\nweft pretrain: out of memory batching graphs\n");
                goto out;
            }
            weft_linkpred_options bo = lo;
            bo.seed = mix((uint64_t)seed ^ ((uint64_t)ep << 32) ^ order[i]);
            weft_linkpred_batch b;
            double loss = 0;
            if (weft_linkpred_make_batch(nb > 1 ? u.t : parts[0]->t, 2 + WEFT_EDGE_TYPES, &bo, &b) ||
                weft_trainer_step(tr, b.t, b.n, &loss)) {
                weft_linkpred_batch_free(&b);
                cli_graph_union_free(&u);
                fprintf(stderr, "\nweft pretrain: epoch %ld, graph %zu: %s\n", ep + 1, order[i], weft_last_error());
                goto out;
            }
            weft_linkpred_batch_free(&b);
            cli_graph_union_free(&u);
            lsum += loss;
            n_steps++;
            if (tty)
                fprintf(stderr, "\repoch %ld/%ld  graph %zu/%zu  loss %.4f", ep + 1, epochs, i + nb, n_train,
                        lsum / (double)n_steps);
        }
        double secs = now_s() - t0, vloss = NAN, vauc = -1;
        if (n_val && validate(tr, c.g, val, n_val, &lo, &vloss, &vauc)) {
            fprintf(stderr, "\nweft pretrain: validation: %s\n", weft_last_error());
            goto out;
        }
        double tl = n_steps ? lsum / (double)n_steps : NAN;
        fprintf(stderr, "%sepoch %ld/%ld: loss %.4f", tty ? "\r" : "", ep + 1, epochs, tl);
        if (n_val) fprintf(stderr, ", val loss %.4f, val AUC %.4f", vloss, vauc);
        fprintf(stderr, ", %.1f graphs/s, ETA %.0f s\n", secs > 0 ? (double)n_train / secs : 0.0,
                secs * (double)(epochs - ep - 1));
        if (jf)
            fprintf(jf, "%s\n  {\"epoch\": %ld, \"loss\": %.9g, \"val_loss\": %.9g, \"val_auc\": %.9g, \"seconds\": %.3f}",
                    ep > first_epoch ? "," : "", ep + 1, tl, n_val ? vloss : 0.0, vauc, secs);
        if (ckpt_path && ((ep + 1) % ckpt_every == 0 || ep + 1 == epochs) &&
            weft_trainer_save_checkpoint(tr, ckpt_path, ep + 1)) {
            fprintf(stderr, "weft pretrain: checkpoint: %s\n", weft_last_error());
            goto out;
        }
    }
    if (jf) fprintf(jf, "\n]}\n");
    if (weft_trainer_save_into(tr, enc, out_path)) {
        fprintf(stderr, "weft pretrain: %s\n", weft_last_error());
        goto out;
    }
    fprintf(stderr, "weft pretrain: encoder written to %s\n", out_path);
    rc = CLI_OK;
out:
    if (jf && fclose(jf) != 0 && rc == CLI_OK) {
        fprintf(stderr, "weft pretrain: writing %s failed\n", json_path);
        rc = CLI_FAIL;
    }
    cli_graphs_free(&c);
    free(order);
    free(val);
    if (tables)
        for (int i = 0; i < n_data; i++) weft_flow_table_free(&tables[i]);
    free(tables);
    weft_trainer_free(tr);
    weft_model_free(lpm);
    weft_model_free(enc);
    free(data);
    return rc;
}
