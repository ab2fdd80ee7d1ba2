/* ops/movement.c — (family not yet filled). */
#include "op.h"

const weft_op_def weft_ops_movement[] = {{0}};
const int weft_ops_movement_count = 0;
