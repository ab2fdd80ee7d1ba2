/*
 * cli/train_meta.h — what a trained model and a checkpoint carry about how they were made, as ONNX
 * metadata_props (weft_trainer_set_metadata / weft_model_metadata):
 *
 *   weft.graph    the graph options: "window=5 window_memory=5 flow_memory=20 max_flows=10000"
 *   weft.scaler   the feature scaling, in the text of a .scaler file
 *   weft.classes  a classifier's class names, one a line, in class order
 *   weft.train    a command's training options ("pretrain seed=1 neg_ratio=1 ..."), which a resumed run
 *                 must repeat
 *
 * so that `weft predict` needs nothing beside the model, and `--resume` refuses a checkpoint made with
 * other options instead of silently continuing a different run.
 */
#ifndef WEFT_CLI_TRAIN_META_H
#define WEFT_CLI_TRAIN_META_H

#include <stdbool.h>
#include <stddef.h>

#include "traffic/features.h"
#include "traffic/graph.h"
#include "weft.h"

#define CLI_META_GRAPH "weft.graph"
#define CLI_META_SCALER "weft.scaler"
#define CLI_META_CLASSES "weft.classes"
#define CLI_META_TRAIN "weft.train"

/* The graph options that change the graphs, as weft.graph holds them. */
void cli_meta_graph_text(const weft_tgraph_params *gp, char *buf, size_t n);
/* Reads weft.graph's options into gp (the keys present; others stay). Returns 0, or -1 with err set. */
int cli_meta_graph_parse(const char *text, weft_tgraph_params *gp, char *err, size_t errn);

/* Sets weft.graph, weft.scaler and weft.train (train may be NULL) on a trainer. Returns 0, or -1 with
 * the reason printed as "weft CMD: ...". */
int cli_meta_set(weft_trainer *tr, const char *cmd, const weft_tgraph_params *gp, const weft_scaler *sc,
                 const char *train);

/* For --resume: the checkpoint at `path` must hold the same weft.graph, weft.scaler and weft.train as
 * this run; the first difference is printed ("weft CMD: --resume: PATH was made with ..., this run has
 * ...") and -1 returned. */
int cli_meta_check_resume(const char *cmd, const char *path, const weft_tgraph_params *gp, const weft_scaler *sc,
                          const char *train);

/* A task model's class names and scaling: from its weft.classes and weft.scaler, else from the files
 * an earlier weft finetune wrote beside it (MODEL.classes.txt, MODEL.scaler). *classes: malloc'd names
 * (cli_meta_classes_free). Returns 0, or -1 with the reason printed as "weft CMD: ...". */
int cli_meta_task(const char *cmd, const weft_model *m, const char *model_path, char ***classes, int *n_classes,
                  weft_scaler *sc);
void cli_meta_classes_free(char **classes, int n);
/* The class names one a line, as weft.classes holds them (malloc'd; NULL when out of memory). */
char *cli_meta_classes_text(char *const *classes, int n);

#endif
