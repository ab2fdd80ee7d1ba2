/* cli/train_meta.c — the training metadata of models and checkpoints (see train_meta.h). */
#include "train_meta.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_meta_graph_text(const weft_tgraph_params *gp, char *buf, size_t n)
{
    snprintf(buf, n, "window=%.17g window_memory=%d flow_memory=%d max_flows=%zu", gp->window, gp->window_memory,
             gp->flow_memory, gp->max_flows);
}

int cli_meta_graph_parse(const char *text, weft_tgraph_params *gp, char *err, size_t errn)
{
    weft_tgraph_params p = *gp;
    const char *s = text;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *eq = strchr(s, '='), *end = strpbrk(s, " ");
        if (!end) end = s + strlen(s);
        if (!eq || eq > end) {
            snprintf(err, errn, "%s: expected KEY=VALUE items, got '%.*s'", CLI_META_GRAPH, (int)(end - s), s);
            return -1;
        }
        char key[32], val[64];
        size_t kl = (size_t)(eq - s), vl = (size_t)(end - eq - 1);
        if (kl >= sizeof key || vl >= sizeof val || vl == 0) {
            snprintf(err, errn, "%s: malformed item '%.*s'", CLI_META_GRAPH, (int)(end - s), s);
            return -1;
        }
        memcpy(key, s, kl), key[kl] = 0;
        memcpy(val, eq + 1, vl), val[vl] = 0;
        char *e;
        errno = 0;
        double v = strtod(val, &e);
        bool ok = !*e && !errno && isfinite(v);
        if (ok && strcmp(key, "window") == 0 && v > 0) p.window = v;
        else if (ok && strcmp(key, "window_memory") == 0 && v >= 1 && v <= 100000 && v == floor(v)) p.window_memory = (int)v;
        else if (ok && strcmp(key, "flow_memory") == 0 && v >= 0 && v <= 100000 && v == floor(v)) p.flow_memory = (int)v;
        else if (ok && strcmp(key, "max_flows") == 0 && v >= 0 && v <= 1e9 && v == floor(v)) p.max_flows = (size_t)v;
        else if (ok && strcmp(key, "window") != 0 && strcmp(key, "window_memory") != 0 &&
                 strcmp(key, "flow_memory") != 0 && strcmp(key, "max_flows") != 0)
            ; /* a key from a later version: not an option this one has */
        else {
            snprintf(err, errn, "%s: bad value in '%s=%s'", CLI_META_GRAPH, key, val);
            return -1;
        }
        s = end;
    }
    *gp = p;
    return 0;
}

int cli_meta_set(weft_trainer *tr, const char *cmd, const weft_tgraph_params *gp, const weft_scaler *sc,
                 const char *train)
{
    char graph[256];
    cli_meta_graph_text(gp, graph, sizeof graph);
    char *scaler = weft_scaler_to_text(sc);
    int rc = scaler && !weft_trainer_set_metadata(tr, CLI_META_GRAPH, graph) &&
                     !weft_trainer_set_metadata(tr, CLI_META_SCALER, scaler) &&
                     (!train || !weft_trainer_set_metadata(tr, CLI_META_TRAIN, train))
                 ? 0
                 : -1;
    if (rc) fprintf(stderr, "weft %s: %s\n", cmd, scaler ? weft_last_error() : "out of memory");
    free(scaler);
    return rc;
}

/* "was made with X, this run has Y" for one key; 0 when equal. */
static int same(const char *cmd, const char *path, const weft_model *m, const char *key, const char *want,
                const char *what)
{
    const char *got = weft_model_metadata(m, key);
    if (got && strcmp(got, want) == 0) return 0;
    if (!got)
        fprintf(stderr, "weft %s: --resume: %s is not a weft checkpoint of this command (it holds no %s, %s)\n", cmd,
                path, what, key);
    else if (strchr(want, '\n'))
        fprintf(stderr, "weft %s: --resume: %s was made with another %s than this run's\n", cmd, path, what);
    else
        fprintf(stderr, "weft %s: --resume: %s was made with %s '%s', this run has '%s'\n", cmd, path, what, got, want);
    return -1;
}

int cli_meta_check_resume(const char *cmd, const char *path, const weft_tgraph_params *gp, const weft_scaler *sc,
                          const char *train)
{
    weft_model *m = NULL;
    if (weft_model_load(path, &m)) {
        fprintf(stderr, "weft %s: --resume: checkpoint %s: %s\n", cmd, path, weft_last_error());
        return -1;
    }
    char graph[256];
    cli_meta_graph_text(gp, graph, sizeof graph);
    char *scaler = weft_scaler_to_text(sc);
    int rc = !scaler ? (fprintf(stderr, "weft %s: out of memory\n", cmd), -1)
             : same(cmd, path, m, CLI_META_GRAPH, graph, "graph options") ||
                     same(cmd, path, m, CLI_META_SCALER, scaler, "feature scaling") ||
                     (train && same(cmd, path, m, CLI_META_TRAIN, train, "training options"))
                 ? -1
                 : 0;
    free(scaler);
    weft_model_free(m);
    return rc;
}

void cli_meta_classes_free(char **classes, int n)
{
    for (int k = 0; classes && k < n; k++) free(classes[k]);
    free(classes);
}

char *cli_meta_classes_text(char *const *classes, int n)
{
    size_t len = 1;
    for (int k = 0; k < n; k++) len += strlen(classes[k]) + 1;
    char *s = malloc(len), *p = s;
    if (!s) return NULL;
    for (int k = 0; k < n; k++) p += sprintf(p, "%s\n", classes[k]);
    *p = 0;
    return s;
}

/* Appends the non-empty lines of text to *classes. */
static int add_lines(const char *text, char ***classes, int *n)
{
    while (*text) {
        size_t len = strcspn(text, "\r\n");
        if (len) {
            char **a = realloc(*classes, (size_t)(*n + 1) * sizeof *a);
            if (!a) return -1;
            *classes = a;
            if (!(a[*n] = malloc(len + 1))) return -1;
            memcpy(a[*n], text, len);
            a[(*n)++][len] = 0;
        }
        text += len;
        text += strspn(text, "\r\n");
    }
    return 0;
}

int cli_meta_task(const char *cmd, const weft_model *m, const char *model_path, char ***classes, int *n_classes,
                  weft_scaler *sc)
{
    char side[4096], err[1024];
    *classes = NULL;
    *n_classes = 0;
    const char *text = weft_model_metadata(m, CLI_META_CLASSES);
    if (text) {
        snprintf(side, sizeof side, "%s (%s)", model_path, CLI_META_CLASSES);
        if (add_lines(text, classes, n_classes)) goto oom;
    } else {
        snprintf(side, sizeof side, "%s.classes.txt", model_path);
        FILE *f = fopen(side, "r");
        if (!f) {
            fprintf(stderr, "weft %s: %s holds no class names (%s) and %s cannot be read: %s\n", cmd, model_path,
                    CLI_META_CLASSES, side, strerror(errno));
            return -1;
        }
        char line[1024];
        int bad = 0;
        while (!bad && fgets(line, sizeof line, f)) bad = add_lines(line, classes, n_classes);
        fclose(f);
        if (bad) goto oom;
    }
    if (*n_classes < 2) {
        fprintf(stderr, "weft %s: %s names %d class%s; a classifier has two or more\n", cmd, side, *n_classes,
                *n_classes == 1 ? "" : "es");
        goto fail;
    }
    text = weft_model_metadata(m, CLI_META_SCALER);
    snprintf(side, sizeof side, "%s (%s)", model_path, CLI_META_SCALER);
    int r = text ? weft_scaler_from_text(sc, text, side, err, sizeof err)
                 : (snprintf(side, sizeof side, "%s.scaler", model_path), weft_scaler_load(sc, side, err, sizeof err));
    if (r) {
        fprintf(stderr, "weft %s: %s\n", cmd, err);
        goto fail;
    }
    return 0;
oom:
    fprintf(stderr, "weft %s: out of memory\n", cmd);
fail:
    cli_meta_classes_free(*classes, *n_classes);
    *classes = NULL;
    *n_classes = 0;
    return -1;
}
