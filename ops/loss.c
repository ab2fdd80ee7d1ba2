/* ops/loss.c — (being written) */
#include "op.h"

const weft_op_def weft_ops_loss[] = {{0}};
const int weft_ops_loss_count = 0;
