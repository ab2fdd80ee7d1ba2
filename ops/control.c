/* ops/control.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_control[] = {{0}};
const int weft_ops_control_count = 0;
