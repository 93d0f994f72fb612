/*
 * cg_matmul_node.c — code generation for the MATMUL node: a loop over the
 * (broadcast) batch calling the matmul core (cg_matmul.h) for each product.
 *
 * Transposed operands are strides, never copies. When the right operand is a
 * 2-D weight, the code reads the packed copy made when weights were bound
 * (ctx->params[k->param]) and calls attn_gemm_packed. The batch is the
 * kernel's rows, so the products of an attention layer's heads spread over
 * the pool; a single product spreads its own tiles instead.
 */
#include "cg_fused.h"
#include "cg_matmul.h"
#include "cg_matmul_i8.h"
#include "pack.h"

/* attn_gemm / attn_gemm_packed / attn_gemm_packed_bf16 / attn_gemm_i8:
   emitted into the module, or declared when the core is shared (see
   cg_matmul.h and cg_matmul_i8.h for their signatures). */
static LLVMValueRef core_fn(CgModule *cm, bool packed) {
    if (!cm->core_external)
        return packed ? cg_gemm_packed(cm) : cg_gemm(cm);
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef full[] = {i64, i64, i64, p, i64, i64, p, i64, i64, p, i64, p, p, p, i64};
    LLVMTypeRef pk[] = {i64, i64, i64, p, i64, i64, p, p, i64, p, p, p, i64};
    return packed ? cg_function(cm, "attn_gemm_packed", LLVMFunctionType(cm->void_t, pk, 13, 0))
                  : cg_function(cm, "attn_gemm", LLVMFunctionType(cm->void_t, full, 15, 0));
}

/* The core reading a packed weight stored as dt (docs/PRECISION.md); every
 * packed weight of a module has the module's dtype (cg_entry.c). All take
 * attn_gemm_packed's arguments. */
static LLVMValueRef packed_core_fn(CgModule *cm, attn_weights_dtype dt) {
    if (dt == ATTN_WEIGHTS_F32)
        return core_fn(cm, true);
    if (!cm->core_external)
        return dt == ATTN_WEIGHTS_BF16 ? cg_gemm_packed_bf16(cm) : cg_gemm_i8(cm);
    LLVMTypeRef i64 = cm->i64, p = cm->ptr;
    LLVMTypeRef pk[] = {i64, i64, i64, p, i64, i64, p, p, i64, p, p, p, i64};
    return cg_function(cm, dt == ATTN_WEIGHTS_BF16 ? "attn_gemm_packed_bf16" : "attn_gemm_i8",
                       LLVMFunctionType(cm->void_t, pk, 13, 0));
}

/* A right operand without batch dims (a weight) and a plain left one: the
 * batch dims are more rows of one product ([B, L, E] @ [E, N] is one
 * (B*L) x E x N product), which the core tiles and spreads better than B
 * products of L rows. */
static bool flat_batch(const CgKernel *k) { return k->in_type[1]->rank == 2 && !k->node->attrs.trans_a; }

static LLVMValueRef mm_rows(CgKernel *k) {
    if (flat_batch(k))
        return cg_i64(k->cm, 1);
    return cg_shape_numel(k->cm, k->b, &k->out_shape, 0, k->out_shape.rank - 2);
}

/* Element stride of operand i along output batch dim d (0 when broadcast). */
static LLVMValueRef batch_stride(CgKernel *k, int i, int d) {
    const CgShape *s = &k->in_shape[i];
    int out_batch = k->out_shape.rank - 2, in_batch = s->rank - 2;
    int od = d - (out_batch - in_batch);
    if (od < 0 || (s->cdim[od] == 1 && k->out_shape.cdim[d] != 1))
        return cg_i64(k->cm, 0);
    return cg_shape_numel(k->cm, k->b, s, od + 1, s->rank);
}

static void mm_body(CgKernel *k, LLVMValueRef lo, LLVMValueRef hi) {
    CgModule *cm = k->cm;
    LLVMBuilderRef b = k->b;
    const OpAttrs *at = &k->node->attrs;
    const CgShape *o = &k->out_shape, *a = &k->in_shape[0];
    int r = o->rank;
    bool flat = flat_batch(k);
    LLVMValueRef m = flat ? cg_shape_numel(cm, b, o, 0, r - 1) : o->dim[r - 2], n = o->dim[r - 1];
    LLVMValueRef kk = a->dim[a->rank - (at->trans_a ? 2 : 1)];
    LLVMValueRef a_rs = at->trans_a ? cg_i64(cm, 1) : kk, a_cs = at->trans_a ? m : cg_i64(cm, 1);
    LLVMValueRef b_rs = at->trans_b ? cg_i64(cm, 1) : n, b_cs = at->trans_b ? kk : cg_i64(cm, 1);
    LLVMValueRef pool = cg_ctx_ptr(cm, b, k->ctx, CTX_POOL);
    LLVMValueRef packed = NULL;
    if (k->param >= 0) {
        LLVMValueRef params = cg_ctx_ptr(cm, b, k->ctx, CTX_PARAMS), idx = cg_i64(cm, k->param);
        packed = LLVMBuildLoad2(b, cm->ptr, LLVMBuildGEP2(b, cm->ptr, params, &idx, 1, ""), "packed");
    }
    /* a fused epilogue runs as the core's hook, on each block of the product
       as soon as it is final, while it is still in cache */
    LLVMValueRef epi = LLVMConstNull(cm->ptr), epi_arg = LLVMConstNull(cm->ptr);
    /* a gate epilogue (fuse_gates.c) gets whole groups of the interleaved
       columns, and the product goes to its own buffer, not the output; a
       softmax epilogue gets whole rows (n panels are more than there are) */
    FuseKind kind = k->fused ? k->fused->kind : FK_SINGLE;
    LLVMValueRef epi_panels = kind == FK_GATED ? cg_i64(cm, attn_pack_gate_panels(cg_target_lanes(cm->target), k->fused->gates))
                              : kind == FK_MATMUL_SOFTMAX ? n
                                                          : cg_i64(cm, 1);
    LLVMValueRef product = kind == FK_GATED ? k->in[k->fused->scratch] : k->out;
    if (k->fused) {
        cg_fused_check(k);
        LLVMBasicBlockRef here = LLVMGetInsertBlock(b);
        epi = kind == FK_GATED           ? cg_fused_gated_epilogue_fn(k)
              : kind == FK_MATMUL_SOFTMAX ? cg_fused_softmax_epilogue_fn(k)
                                          : cg_fused_epilogue_fn(k);
        LLVMPositionBuilderAtEnd(b, here);
        int nleaf = k->fused->nleaf;
        epi_arg = LLVMBuildArrayAlloca(b, cm->i64, cg_i64(cm, nleaf + 3), "epi_arg");
        LLVMValueRef vals[CG_MAX_IN + 2];
        vals[0] = k->ctx;
        vals[1] = k->out;
        for (int i = 0; i < nleaf; i++)
            vals[2 + i] = k->in[i];
        for (int i = 0; i < nleaf + 2; i++) {
            LLVMValueRef idx = cg_i64(cm, i);
            LLVMBuildStore(b, vals[i], LLVMBuildGEP2(b, cm->i64, epi_arg, &idx, 1, ""));
        }
    }
    CgLoop loop;
    LLVMValueRef t = cg_loop_begin(k, &loop, lo, hi, 1);
    LLVMValueRef off_a = cg_i64(cm, 0), off_b = cg_i64(cm, 0), rem = t;
    for (int d = flat ? -1 : r - 3; d >= 0; d--) {
        LLVMValueRef idx = LLVMBuildSRem(b, rem, o->dim[d], "");
        rem = LLVMBuildSDiv(b, rem, o->dim[d], "");
        off_a = LLVMBuildAdd(b, off_a, LLVMBuildMul(b, idx, batch_stride(k, 0, d), ""), "");
        off_b = LLVMBuildAdd(b, off_b, LLVMBuildMul(b, idx, batch_stride(k, 1, d), ""), "");
    }
    LLVMValueRef off_c = LLVMBuildMul(b, t, LLVMBuildMul(b, m, n, ""), "");
    LLVMValueRef pa = LLVMBuildGEP2(b, cm->f32, k->in[0], &off_a, 1, "");
    LLVMValueRef pc = LLVMBuildGEP2(b, cm->f32, product, &off_c, 1, "");
    if (k->fused) {
        LLVMValueRef idx = cg_i64(cm, k->fused->nleaf + 2);
        LLVMBuildStore(b, t, LLVMBuildGEP2(b, cm->i64, epi_arg, &idx, 1, ""));
    }
    if (packed) {
        LLVMValueRef fn = packed_core_fn(cm, cm->weights_dtype);
        LLVMValueRef args[] = {m, n, kk, pa, a_rs, a_cs, packed, pc, n, pool, epi, epi_arg, epi_panels};
        LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, args, 13, "");
    } else {
        LLVMValueRef fn = core_fn(cm, false);
        LLVMValueRef pb = LLVMBuildGEP2(b, cm->f32, k->in[1], &off_b, 1, "");
        LLVMValueRef args[] = {m, n, kk, pa, a_rs, a_cs, pb, b_rs, b_cs, pc, n, pool, epi, epi_arg, epi_panels};
        LLVMBuildCall2(b, LLVMGlobalGetValueType(fn), fn, args, 15, "");
    }
    cg_loop_end(k, &loop);
}

const CgEmitter cg_emit_matmul = {mm_rows, mm_body};
