/*
 * cg_plan.h — memory planning of an entry's workspace: which buffers may
 * share memory. Plain C over the graph IR, without LLVM, so that it can be
 * tested on its own; cg_entry.c turns the plan into code.
 *
 * Dims vary per call, so the plan is made once at compile time over symbolic
 * sizes: buffers are put into slots, buffers in one slot are never live at
 * the same time, and at run time a slot is as large as its largest occupant.
 *
 * Liveness is over the execution order, in integer times:
 *   - every node of the entry graph has a time in graph order; a kernel reads
 *     its operands and writes its buffer at its node's time;
 *   - a scan spans [ts, te]: ts copies the initial carries into the body, the
 *     body's nodes come next, te stands for the end of every step (per-step
 *     outputs stacked, new carries copied) and the end of the loop; the
 *     scan's sequences and captures are read until te;
 *   - every buffer of a scan's body (and of the bodies nested in it) lives
 *     for the whole of the outermost scan around it, so that no step can
 *     clobber what another step, or the copies at the end of a step, read;
 *   - the stacked per-step outputs are written from ts on;
 *   - a value held in another's buffer (a reshape, a scan capture or an
 *     axis-0 sequence step, a final carry, a node computed inside its
 *     reader's kernel) keeps the buffers it is held in alive while it is read;
 *   - a node computed inside a later node's kernel that also has a buffer of
 *     its own (a gate kernel's product or stored state, fuse.h) is written
 *     when that kernel runs, so what it reads stays alive until then;
 *   - the entry's outputs are read at the very end.
 * Intervals are closed: a kernel's output starts at the time its last inputs
 * are read, so it never shares a slot with them.
 */
#ifndef ATTN_CG_PLAN_H
#define ATTN_CG_PLAN_H

#include "ir.h"

/* One buffer: its live interval [start, end] (start < 0: the node has no
 * buffer) and its size class (equal keys: equal symbolic byte sizes). */
typedef struct CgPlanBuf {
    int start, end;
    int key;
} CgPlanBuf;

/* The caller's view of the nodes: its numbering of all nodes of the entry
 * graph and its bodies (0..count-1), and which of them need a buffer. */
typedef struct CgPlanNodes {
    const void *ctx;
    int count;
    int (*id)(const void *ctx, const IrGraph *g, int i);
    bool (*owns)(const void *ctx, const IrGraph *g, int i);
    /* NULL, or whether node i is computed inside a later node's kernel */
    bool (*member)(const void *ctx, const IrGraph *g, int i);
} CgPlanNodes;

/* Sets bufs[id].start/end for every node id of the entry graph g (keys are
 * left alone). Returns 0, or -1 when out of memory. */
int cg_plan_live(const IrGraph *g, const CgPlanNodes *nodes, CgPlanBuf *bufs);

/* Assigns slot[i] to each of the n buffers (-1 where start < 0) so that the
 * buffers of a slot have disjoint intervals: greedily in order of start, a
 * buffer takes a free slot whose last occupant had its key, else one that
 * held its key before, else any free one, else a new slot. Returns the
 * number of slots, or -1 when out of memory. */
int cg_plan_slots(const CgPlanBuf *bufs, int n, int *slot);

#endif
