/*
 * cg_node.c — which emitter generates each op (see cg_kernel.h).
 */
#include "cg_kernel.h"

const CgEmitter *cg_emitter(const IrNode *n) {
    if (cg_elementwise_handles(n->op)) /* ops.def names an element emitter */
        return &cg_emit_elementwise;
    switch (op_info[n->op].cls) {
    case OC_REDUCE:
        return &cg_emit_reduce;
    case OC_NORM:
        return n->op == OP_SOFTMAX ? &cg_emit_softmax : &cg_emit_layer_norm;
    case OC_MATMUL:
        return &cg_emit_matmul;
    case OC_GATHER:
        return &cg_emit_gather;
    case OC_CHECK:
        return &cg_emit_check_lengths;
    case OC_SHAPE:
        if (n->op == OP_PERMUTE)
            return &cg_emit_permute;
        if (n->op == OP_SLICE)
            return &cg_emit_slice;
        if (n->op == OP_CONCAT)
            return &cg_emit_concat;
        return NULL; /* RESHAPE shares its operand's buffer */
    case OC_SOURCE:
    case OC_CONTROL:
        return NULL; /* bound, constant or run by the entry: no kernel */
    case OC_UNARY:
    case OC_BINARY:
    case OC_COMPARE:
    case OC_LOGIC:
    case OC_TERNARY:
        ATTN_UNREACHABLE("elementwise op without an emitter in ops.def");
    }
    ATTN_UNREACHABLE("op class out of range");
}
