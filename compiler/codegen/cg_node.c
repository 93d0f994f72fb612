/*
 * cg_node.c — which emitter generates each op (see cg_kernel.h).
 */
#include "cg_kernel.h"

const CgEmitter *cg_emitter(const IrNode *n) {
    switch (op_info[n->op].cls) {
    case OC_UNARY:
    case OC_BINARY:
    case OC_COMPARE:
    case OC_LOGIC:
    case OC_TERNARY:
        return &cg_emit_elementwise;
    case OC_REDUCE:
        return &cg_emit_reduce;
    case OC_NORM:
        return n->op == OP_SOFTMAX ? &cg_emit_softmax : &cg_emit_layer_norm;
    case OC_MATMUL:
        return &cg_emit_matmul;
    case OC_GATHER:
        return &cg_emit_gather;
    case OC_SOURCE:
        return n->op == OP_ARANGE || n->op == OP_FULL ? &cg_emit_elementwise : NULL;
    case OC_SHAPE:
        switch (n->op) {
        case OP_EXPAND: return &cg_emit_elementwise;
        case OP_PERMUTE: return &cg_emit_permute;
        case OP_SLICE: return &cg_emit_slice;
        case OP_CONCAT: return &cg_emit_concat;
        default: return NULL; /* RESHAPE shares its operand's buffer */
        }
    case OC_CONTROL:
        return NULL;
    }
    return NULL;
}
