/*
 * ir_signature.h — the inputs and outputs of an entry as runtime signatures
 * (runtime/rt/compiled.h): what the JIT runner and AOT headers check inputs
 * against, and what the interpreter binds its inputs with, so that both
 * engines check them with one implementation (attn_bind_inputs).
 */
#ifndef ATTN_IR_SIGNATURE_H
#define ATTN_IR_SIGNATURE_H

#include "compiled.h"
#include "ir.h"

/* The entry's inputs and outputs, allocated in ar. Returns 0, or -1 when out of memory. */
int ir_signature(const IrEntry *e, Arena *ar, attn_sig_tensor **ins, attn_sig_tensor **outs);

#endif
