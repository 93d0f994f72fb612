/*
 * aot.h — ahead-of-time compilation: entry points into one object file
 * NAME.o and a C header NAME.h (docs/AOT.md).
 *
 * The object holds, for each entry E, the functions NAME_E_workspace,
 * NAME_E_input_dims, NAME_E_output_dims and NAME_E_run of cg_entry.h; every
 * other function and constant is internal, so objects of several models link
 * into one program. The header describes them to the runtime library
 * (runtime/rt/compiled.h, runtime/rt/aot_weights.h): a descriptor per entry, the
 * weight table with the packing of the object's target, constants for the
 * inputs and outputs, and inline functions to load the weights and run.
 */
#ifndef ATTN_AOT_H
#define ATTN_AOT_H

#include "ir.h"

#include <stdbool.h>

typedef struct AotOptions {
    const char *out;          /* NAME: writes NAME.o and NAME.h (a path; its base name names the C symbols) */
    const char *model_path;   /* the model file, named in the header and in weight messages */
    bool all_entries;         /* every entry point of the model is compiled in */
    const char *mcpu, *mattr; /* target overrides (NULL: the host's, or ATTN_MCPU/ATTN_MATTR) */
    const char *emit_llvm;    /* also write the optimised module's IR here, when non-NULL */
    const char *emit_asm;     /* also write its assembly here, when non-NULL */
    bool no_fuse;             /* every node its own kernel (compiler/fuse/fuse.h) */
    attn_weights_dtype weights_dtype; /* storage of the products' packed weights (docs/PRECISION.md) */
} AotOptions;

/* The C identifier of output path `out`: its base name with every character
 * that cannot appear in an identifier replaced by '_' (and a leading '_' when
 * it starts with a digit). Written into buf (size len). */
void aot_c_name(const char *out, char *buf, size_t len);

/* Compiles the n entries (lowered with every hyperparameter set; weights need
 * not be bound). Returns 0, or -1 with a malloc'd message in *err. */
int aot_compile(const IrEntry *const *entries, int n, const AotOptions *o, char **err);

#endif
