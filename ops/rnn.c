/* ops/rnn.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_rnn[] = {{0}};
const int weft_ops_rnn_count = 0;
