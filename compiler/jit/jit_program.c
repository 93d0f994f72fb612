/*
 * jit_program.c — in-process compilation of an entry point (see jit_program.h).
 */
#include "jit_program.h"
#include "cg_attention.h"
#include "cg_entry.h"
#include "cg_matmul.h"
#include "cg_matmul_i8.h"
#include "jit.h"
#include "jit_cache.h"
#include "pack.h"
#include "text.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct JitProgram {
    Jit *jit;
    CgTarget target;
    Arena arena;          /* signature strings */
    CgEntryInfo info;
    attn_compiled c;
    attn_stats_fn stats;
    void **params;        /* weight pointers, packed copies owned in `packed` */
    void **packed;
    int nparams;
    int64_t weight_bytes[3];      /* what params hold, by attn_weights_dtype (attn_run_stats) */
    attn_pool *pool;      /* the pool runs use, or NULL */
    attn_pool *own_pool;  /* ... when it is the program's own */
    int64_t *profile;             /* profiled code: per kernel (ns, calls), else NULL */
    attn_kernel_profile *table;   /* the same as a table, refreshed by jit_program_profile */
    attn_workspace_cache cache;     /* the workspace, kept between runs */
};

/* The matmul core, compiled once per process and target (or loaded from the
 * cache of jit_cache.h) and shared by every program by address: it is the
 * largest code of a model and the same for all. The attention core is made
 * the first time a program calls it, in a JIT of its own, so that programs
 * without fused attention never pay its compile time. */
typedef struct Core {
    char *key;            /* cpu + features */
    Jit *jit;
    void *gemm, *gemm_packed;
    void *attention;      /* NULL until a program needs it */
    Jit *attention_jit;   /* the JIT holding it */
    void *gemm_bf16;      /* the bf16-weights core: NULL until a program needs it */
    Jit *gemm_bf16_jit;
    void *gemm_i8;        /* the int8-weights core: NULL until a program needs it */
    Jit *gemm_i8_jit;
    struct Core *next;
} Core;

static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;
static Core *cores;

static void gen_gemm(CgModule *cm) {
    cg_gemm(cm);
    cg_gemm_packed(cm);
}

static void gen_attention(CgModule *cm) { cg_attention(cm); }

static void gen_gemm_bf16(CgModule *cm) { cg_gemm_packed_bf16(cm); }

static void gen_gemm_i8(CgModule *cm) { cg_gemm_i8(cm); }

/* A JIT holding the core that `gen` emits into module `name` for target t,
 * and the addresses of its n functions sym[]: the cached machine code, or,
 * when there is none or the JIT cannot use it, the core compiled afresh
 * (and cached). NULL on error. */
static Jit *core_jit(const CgTarget *t, const char *name, void (*gen)(CgModule *), const char *const *sym,
                     void **addr, int n, char **err) {
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt) {
            free(*err);
            *err = NULL;
        }
        Jit *j = jit_new(t, err);
        if (!j)
            return NULL;
        CgModule cm;
        cg_module_init(&cm, jit_context(j), name, t);
        gen(&cm);
        bool ok = jit_cache_add_module(j, cm.mod, t, attempt == 0, err) == 0;
        for (int s = 0; ok && s < n; s++)
            ok = (addr[s] = jit_lookup(j, sym[s], err)) != NULL;
        if (ok)
            return j;
        jit_free(j);
    }
    return NULL;
}

static Core *core_for(const CgTarget *t, char **err) {
    char *key = cg_msg("%s %s", t->cpu, t->features);
    if (!key) {
        *err = cg_msg("error: out of memory");
        return NULL;
    }
    pthread_mutex_lock(&core_lock);
    Core *c = cores;
    while (c && strcmp(c->key, key) != 0)
        c = c->next;
    if (!c && (c = calloc(1, sizeof *c))) {
        static const char *const sym[] = {"attn_gemm", "attn_gemm_packed"};
        void *addr[2];
        if ((c->jit = core_jit(t, "attn_core", gen_gemm, sym, addr, 2, err))) {
            c->gemm = addr[0];
            c->gemm_packed = addr[1];
            c->key = key;
            key = NULL;
            c->next = cores;
            cores = c;
        } else {
            free(c);
            c = NULL;
        }
    } else if (!c)
        *err = cg_msg("error: out of memory");
    pthread_mutex_unlock(&core_lock);
    free(key);
    return c;
}

/* The address of one of a Core's lazily made cores (t: its target): *fn,
 * made on first use by gen into module `name` of a JIT of its own (*jit). */
static void *core_lazy(const CgTarget *t, const char *name, void (*gen)(CgModule *), const char *sym, void **fn,
                       Jit **jit, char **err) {
    pthread_mutex_lock(&core_lock);
    if (!*fn)
        *jit = core_jit(t, name, gen, &sym, fn, 1, err);
    void *a = *fn;
    pthread_mutex_unlock(&core_lock);
    return a;
}

/* Defines the lazily made cores in p's JIT that the program's module calls:
 * the attention core and the bf16- and int8-weights matmul cores. */
static int link_lazy_cores(JitProgram *p, Core *core, LLVMModuleRef mod, char **err) {
    if (LLVMGetNamedFunction(mod, "attn_attention")) {
        void *a = core_lazy(&p->target, "attn_core_attention", gen_attention, "attn_attention", &core->attention,
                            &core->attention_jit, err);
        if (!a || jit_define(p->jit, "attn_attention", a, err) != 0)
            return -1;
    }
    if (LLVMGetNamedFunction(mod, "attn_gemm_packed_bf16")) {
        void *a = core_lazy(&p->target, "attn_core_bf16", gen_gemm_bf16, "attn_gemm_packed_bf16",
                            &core->gemm_bf16, &core->gemm_bf16_jit, err);
        if (!a || jit_define(p->jit, "attn_gemm_packed_bf16", a, err) != 0)
            return -1;
    }
    if (LLVMGetNamedFunction(mod, "attn_gemm_i8")) {
        void *a = core_lazy(&p->target, "attn_core_i8", gen_gemm_i8, "attn_gemm_i8", &core->gemm_i8,
                            &core->gemm_i8_jit, err);
        if (!a || jit_define(p->jit, "attn_gemm_i8", a, err) != 0)
            return -1;
    }
    return 0;
}

/* Whether an unpacked slot before i holds the same weight the same way (counted once). */
static bool slot_seen(const JitProgram *p, int i) {
    const CgParam *cp = &p->info.params[i];
    for (int j = 0; j < i; j++)
        if (!p->info.params[j].packed && !p->info.params[j].unread && p->info.params[j].bf16 == cp->bf16 &&
            p->info.params[j].node->value == cp->node->value)
            return true;
    return false;
}

/* The weight nodes slot i reads: its node, or the parts of a concatenation. */
static int slot_nodes(const CgParam *cp, const IrNode **nodes) {
    if (!cp->nparts) {
        nodes[0] = cp->node;
        return 1;
    }
    for (int j = 0; j < cp->nparts; j++)
        nodes[j] = cp->part[j];
    return cp->nparts;
}

/* Whether a slot after i reads the weight `value`. */
static bool read_later(const JitProgram *p, int i, const attn_tensor *value) {
    for (int j = i + 1; j < p->info.nparams; j++) {
        const CgParam *cp = &p->info.params[j];
        if (cp->unread || cp->bf16) /* a BF16 table is the file's bits, not the weight's data */
            continue;
        for (int k = 0; k < (cp->nparts ? cp->nparts : 1); k++)
            if ((cp->nparts ? cp->part[k] : cp->node)->value == value)
                return true;
    }
    return false;
}

/* Makes the data of slot i's weights there (hooks->load), checking each is bound. */
static int load_slot(const JitProgram *p, int i, const JitWeights *hooks, char **err) {
    const IrNode *nodes[CG_PARAM_MAX_PARTS];
    int n = slot_nodes(&p->info.params[i], nodes);
    for (int j = 0; j < n; j++) {
        if (!nodes[j]->value) {
            *err = cg_msg("error: weight '%s' is not bound; bind weights before compiling with the JIT", nodes[j]->name);
            return -1;
        }
        if (hooks && hooks->load(hooks->ctx, nodes[j], !p->info.params[i].packed, err) != 0)
            return -1;
        if (!nodes[j]->value->data && attn_tensor_numel(nodes[j]->value) > 0) {
            *err = cg_msg("error: weight '%s' has no data", nodes[j]->name);
            return -1;
        }
    }
    return 0;
}

/* After packing slot i: its weights no later slot reads go back to the model. */
static void release_slot(const JitProgram *p, int i, const JitWeights *hooks) {
    const IrNode *nodes[CG_PARAM_MAX_PARTS];
    int n = slot_nodes(&p->info.params[i], nodes);
    for (int j = 0; hooks && j < n; j++)
        if (!read_later(p, i, nodes[j]->value))
            hooks->release(hooks->ctx, nodes[j]);
}

/* Points slot i at the BF16 bits of its weight's file (CgParam.bf16). */
static int bind_bf16_slot(JitProgram *p, int i, const JitWeights *hooks, char **err) {
    const CgParam *cp = &p->info.params[i];
    if (!(p->params[i] = (void *)(hooks && hooks->bf16 ? hooks->bf16(hooks->ctx, cp->node, true) : NULL))) {
        *err = cg_msg(ATTN_MSG_INTERNAL "weight '%s' has no BF16 data", cp->node->name);
        return -1;
    }
    if (!slot_seen(p, i))
        p->weight_bytes[ATTN_WEIGHTS_BF16] += 2 * attn_tensor_numel(cp->node->value);
    return 0;
}

/* Packs slot i's weights into p->packed[i], converted to its dtype. */
static int pack_slot(JitProgram *p, int i, char **err) {
    const CgParam *cp = &p->info.params[i];
    int lanes = cg_target_lanes(&p->target);
    size_t floats = attn_pack_b_size(cp->k, cp->n, lanes), bytes;
    float *panels = attn_pack_alloc(floats * sizeof(float) + 64);
    if (!panels) {
        *err = cg_msg("error: out of memory packing weight '%s'", cp->node->name);
        return -1;
    }
    if (!cp->nparts)
        attn_pack_b_gates((const float *)cp->node->value->data + cp->offset, cp->k, cp->n, 0, cp->n, cp->rs,
                          cp->cs, lanes, cp->gates, panels);
    /* a concatenation along n, part by part: a transposed part is n_j whole
       rows of k, else k rows of n_j (cg_entry.c) */
    int64_t col = 0;
    for (int j = 0; j < cp->nparts; col += cp->part_n[j++])
        attn_pack_b_gates((const float *)cp->part[j]->value->data + cp->part_offset[j], cp->k, cp->n, col,
                          cp->part_n[j], cp->rs == 1 ? 1 : cp->part_n[j], cp->rs == 1 ? cp->k : 1, lanes,
                          cp->gates, panels);
    /* low-precision storage: the f32 panels converted once, here */
    if (!(p->packed[i] = attn_pack_to_dtype(panels, cp->k, cp->n, lanes, cp->dtype, &bytes))) {
        *err = cg_msg("error: out of memory converting weight '%s' to %s", cp->node->name,
                      attn_weights_dtype_name(cp->dtype));
        return -1;
    }
    p->weight_bytes[cp->dtype] += (int64_t)bytes;
    p->params[i] = p->packed[i];
    return 0;
}

/* Fills ctx->params: the bound weights, and packed copies where asked. A
 * weight is handed back to the model (hooks) once packed by its last slot. */
static int bind_params(JitProgram *p, const JitWeights *hooks, char **err) {
    p->nparams = p->info.nparams;
    p->params = calloc((size_t)p->nparams + 1, sizeof *p->params);
    p->packed = calloc((size_t)p->nparams + 1, sizeof *p->packed);
    if (!p->params || !p->packed) {
        *err = cg_msg("error: out of memory");
        return -1;
    }
    for (int i = 0; i < p->nparams; i++) {
        const CgParam *cp = &p->info.params[i];
        if (cp->unread)
            continue; /* params[i] stays NULL: nothing reads it */
        if (cp->bf16) {
            if (bind_bf16_slot(p, i, hooks, err) != 0)
                return -1;
            continue;
        }
        if (load_slot(p, i, hooks, err) != 0)
            return -1;
        if (!cp->packed) {
            p->params[i] = cp->node->value->data;
            if (!slot_seen(p, i))
                p->weight_bytes[ATTN_WEIGHTS_F32] += (int64_t)attn_dtype_size(cp->node->value->dtype) *
                                                     attn_tensor_numel(cp->node->value);
            continue;
        }
        if (pack_slot(p, i, err) != 0)
            return -1;
        release_slot(p, i, hooks);
    }
    return 0;
}

/* Writes the optimised module's IR or assembly where the options ask. */
static int emit_files(JitProgram *p, LLVMModuleRef mod, const JitOptions *o, char **err) {
    if (o && o->emit_llvm && cg_emit_file(mod, &p->target, 2, o->emit_llvm, err) != 0)
        return -1;
    if (o && o->emit_asm) {
        /* emitting machine code mutates the module: emit from a clone */
        LLVMModuleRef copy = LLVMCloneModule(mod);
        int rc = cg_emit_file(copy, &p->target, 1, o->emit_asm, err);
        LLVMDisposeModule(copy);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* The pool of p's runs: the caller's, the default one, a pool of its own, or
 * none (JitOptions.threads). */
static int pick_pool(JitProgram *p, const JitOptions *o, char **err) {
    int threads = o ? o->threads : 0;
    if (o && o->pool)
        p->pool = o->pool;
    else if (threads == 0)
        p->pool = attn_pool_default();
    else if (threads > 1)
        p->pool = p->own_pool = attn_pool_new(threads);
    if (threads != 1 && !p->pool) {
        *err = cg_msg("error: out of memory starting %d threads", threads);
        return -1;
    }
    return 0;
}

/* CgModule.weight_bf16: whether the hooks (ctx) have BF16 bits for param. */
static bool weight_has_bf16(void *ctx, const IrNode *param) {
    const JitWeights *hooks = ctx;
    return param->value && hooks->bf16(hooks->ctx, param, false) != NULL;
}

static void *lookup(JitProgram *p, const char *suffix, char **err) {
    char name[128];
    snprintf(name, sizeof name, "entry_%s", suffix);
    return jit_lookup(p->jit, name, err);
}

JitProgram *jit_program_new(const IrEntry *e, const JitOptions *o, char **err) {
    JitProgram *p = calloc(1, sizeof *p);
    if (!p) {
        *err = cg_msg("error: out of memory");
        return NULL;
    }
    if (cg_target_init(&p->target, o ? o->mcpu : NULL, o ? o->mattr : NULL, err) != 0) {
        free(p);
        return NULL;
    }
    Core *core = core_for(&p->target, err);
    if (!core)
        goto fail;
    p->jit = jit_new(&p->target, err);
    if (!p->jit || jit_define(p->jit, "attn_gemm", core->gemm, err) != 0 ||
        jit_define(p->jit, "attn_gemm_packed", core->gemm_packed, err) != 0)
        goto fail;
    CgModule cm;
    cg_module_init(&cm, jit_context(p->jit), e->name, &p->target);
    cm.core_external = true;
    cm.no_fuse = o && o->no_fuse;
    cm.profile = o && o->profile;
    cm.weights_dtype = o ? o->weights_dtype : ATTN_WEIGHTS_F32;
    if (o && o->weights && o->weights->bf16) {
        cm.weight_bf16 = weight_has_bf16;
        cm.weight_ctx = (void *)o->weights;
    }
    attn_sig_tensor *ins, *outs;
    if (cg_entry_generate(&cm, e, "entry", &p->info, err) != 0 || link_lazy_cores(p, core, cm.mod, err) != 0 ||
        cg_optimize_kernels(cm.mod, &p->target, err) != 0 || emit_files(p, cm.mod, o, err) != 0) {
        LLVMDisposeModule(cm.mod);
        goto fail;
    }
    if (jit_add_module(p->jit, cm.mod, err) != 0)
        goto fail;
    if (cm.profile && (!(p->profile = calloc(2 * (size_t)p->info.nkernels + 2, sizeof *p->profile)) ||
                       !(p->table = calloc((size_t)p->info.nkernels + 1, sizeof *p->table)))) {
        *err = cg_msg("error: out of memory");
        goto fail;
    }
    if (ir_signature(e, &p->arena, &ins, &outs) != 0) {
        *err = cg_msg("error: out of memory");
        goto fail;
    }
    p->c = (attn_compiled){
        .entry = e->name, .ninputs = e->graph->ninputs, .inputs = ins, .noutputs = e->graph->nout, .outputs = outs,
        .nsyms = e->nsyms, .nsites = p->info.nsites, .sites = (const char *const *)p->info.sites,
    };
    p->c.workspace = (int64_t(*)(const int64_t *, int64_t *))lookup(p, "workspace", err);
    p->c.input_dims = p->c.workspace ? (attn_dims_fn)lookup(p, "input_dims", err) : NULL;
    p->c.output_dims = p->c.input_dims ? (attn_dims_fn)lookup(p, "output_dims", err) : NULL;
    p->c.run = p->c.output_dims ? (int32_t(*)(attn_run_ctx *))lookup(p, "run", err) : NULL;
    p->stats = p->c.run ? (attn_stats_fn)lookup(p, "stats", err) : NULL;
    if (!p->stats || bind_params(p, o ? o->weights : NULL, err) != 0)
        goto fail;
    if (pick_pool(p, o, err) != 0)
        goto fail;
    return p;
fail:
    jit_program_free(p);
    return NULL;
}

attn_status jit_program_run(JitProgram *p, const attn_tensor *inputs, int ninputs, attn_tensor **outputs,
                            int *noutputs, char **error) {
    return attn_compiled_run_with(&p->c, p->params, p->pool, p->profile, &p->cache, inputs, ninputs, outputs, noutputs,
                                  error);
}

attn_status jit_program_run_into(JitProgram *p, const attn_tensor *inputs, int ninputs, attn_tensor *outputs,
                                 int noutputs, char **error) {
    return attn_compiled_run_into(&p->c, p->params, p->pool, p->profile, &p->cache, inputs, ninputs, outputs,
                                  noutputs, error);
}

attn_status jit_program_output_shapes(const JitProgram *p, const attn_tensor *inputs, int ninputs,
                                      attn_tensor *outputs, int noutputs, char **error) {
    return attn_compiled_output_shapes(&p->c, inputs, ninputs, outputs, noutputs, error);
}

attn_status jit_program_stats(const JitProgram *p, const attn_tensor *inputs, int ninputs, attn_run_stats *stats,
                              char **error) {
    attn_status st = attn_compiled_stats(&p->c, p->stats, inputs, ninputs, stats, error);
    if (st == ATTN_OK)
        memcpy(stats->weight_bytes, p->weight_bytes, sizeof stats->weight_bytes);
    return st;
}


const attn_kernel_profile *jit_program_profile(JitProgram *p, int *n) {
    *n = p->profile ? p->info.nkernels : 0;
    for (int i = 0; i < *n; i++)
        p->table[i] = (attn_kernel_profile){p->info.kernel_names[i], __atomic_load_n(&p->profile[2 * i + 1], __ATOMIC_RELAXED),
                                            (double)__atomic_load_n(&p->profile[2 * i], __ATOMIC_RELAXED) / 1e6};
    return p->profile ? p->table : NULL;
}

attn_pool *jit_program_pool(const JitProgram *p) { return p->pool; }

void jit_program_free(JitProgram *p) {
    if (!p)
        return;
    attn_pool_free(p->own_pool);
    for (int i = 0; p->packed && i < p->nparams; i++)
        free(p->packed[i]);
    free(p->packed);
    free(p->params);
    jit_free(p->jit);
    cg_entry_info_free(&p->info);
    free(p->profile);
    free(p->table);
    attn_workspace_cache_free(&p->cache);
    arena_free(&p->arena);
    cg_target_free(&p->target);
    free(p);
}
