/*
 * op_table.c — the static op table built from ops.def, lower-case op names for
 * dumps, and lookup of builtins by their source name.
 */
#include "kernels.h"

#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

const OpInfo op_info[OP_COUNT] = {
#define OP(id, builtin, cls, min_in, max_in, attrs, kernel) \
    [OP_##id] = {#id, builtin, cls, min_in, max_in, attrs, kernel},
#include "ops.def"
#undef OP
};

/* Room for every op id with its terminator, back to back. */
#define OP(id, builtin, cls, min_in, max_in, attrs, kernel) #id "\0"
static char lower_store[sizeof(
#include "ops.def"
)];
#undef OP

static const char *lower_names[OP_COUNT];
static pthread_once_t lower_names_once = PTHREAD_ONCE_INIT;

static void fill_lower_names(void)
{
    char *next = lower_store;
    for (int k = 0; k < OP_COUNT; k++) {
        lower_names[k] = next;
        for (const char *c = op_info[k].id; *c; c++)
            *next++ = (char)tolower((unsigned char)*c);
        *next++ = '\0';
    }
}

const char *op_name(OpKind k)
{
    if ((unsigned)k >= OP_COUNT)
        return "?";
    pthread_once(&lower_names_once, fill_lower_names);
    return lower_names[k];
}

OpKind op_by_builtin(const char *name)
{
    for (int k = 0; k < OP_COUNT; k++)
        if (name && op_info[k].builtin && strcmp(op_info[k].builtin, name) == 0)
            return (OpKind)k;
    return OP_COUNT;
}
