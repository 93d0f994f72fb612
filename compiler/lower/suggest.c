/*
 * suggest.c — what a name that is no function or variable was probably meant
 * to be: a PyTorch spelling with its .attn form, a definition of the model
 * library's std/ that the model does not import, or the nearest built-in or
 * definition by edit distance.
 */
#include "lower.h"
#include "model_path.h"
#include "spell.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch functions whose .attn spelling is not their name. */
static const struct { const char *torch, *attn; } torch_forms[] = {
    {"bmm", "a @ b"},
    {"mm", "a @ b"},
    {"view", "reshape(x, [dims])"},
    {"amax", "max(x, axis)"},
    {"amin", "min(x, axis)"},
    {"clamp", "maximum(minimum(x, hi), lo)"},
    {"clip", "maximum(minimum(x, hi), lo)"},
    {"dropout", "nothing: dropout is the identity at inference, leave it out"},
    {"silu", "x * sigmoid(x)"},
    {"triu", "causal_mask(L, S) (true above the diagonal)"},
    {"softmax_", "softmax(x, axis)"},
    {"pad_packed_sequence", "an RNN entry that takes per-item lengths"},
    {"pack_padded_sequence", "an RNN entry that takes per-item lengths"},
};

/* Whether path's text has a line "def NAME(". */
static bool file_defines(const char *path, const char *name) {
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[512];
    size_t n = strlen(name);
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, "def ", 4) == 0 && strncmp(line + 4, name, n) == 0 && line[4 + n] == '(';
    fclose(f);
    return found;
}

/* The std/ file (as an import names it) that defines name, alphabetically
 * first when several do; NULL when none does or there is no library. */
static const char *std_file_defining(Lower *L, const char *name) {
    const char *lib = model_std_dir();
    char dir[PATH_MAX], path[PATH_MAX + 256];
    if (!lib || snprintf(dir, sizeof dir, "%s/std", lib) >= (int)sizeof dir)
        return NULL;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    const char *best = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".attn") != 0 || (best && strcmp(e->d_name, best) >= 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (file_defines(path, name))
            best = arena_strdup(L->ar, e->d_name);
    }
    closedir(d);
    return best;
}

/* The built-in or definition of the model nearest to name, or NULL. */
static const char *nearest_function(Lower *L, const char *name) {
    const char *near = NULL;
    int best = INT_MAX;
    for (int i = 0; i < OP_COUNT; i++)
        if (op_info[i].builtin && spell_nearer(name, op_info[i].builtin, &best))
            near = op_info[i].builtin;
    for (int i = 0; i < builtin_sugar_count(); i++)
        if (spell_nearer(name, builtin_sugar_name(i), &best))
            near = builtin_sugar_name(i);
    for (int i = 0; i < L->m->ndefs; i++)
        if (spell_nearer(name, L->m->defs[i]->str, &best))
            near = L->m->defs[i]->str;
    return near;
}

void report_unknown_function(Lower *L, const Ast *call) {
    const char *name = call->str;
    for (size_t i = 0; i < sizeof torch_forms / sizeof *torch_forms; i++)
        if (strcmp(torch_forms[i].torch, name) == 0) {
            diag_error(L->diag, call->loc, "unknown function '%s'; in .attn write %s", name, torch_forms[i].attn);
            return;
        }
    const char *file = std_file_defining(L, name);
    if (file) {
        diag_error(L->diag, call->loc, "unknown function '%s'; std/%s defines it: add import \"std/%s\"", name, file,
                   file);
        return;
    }
    const char *near = nearest_function(L, name);
    if (near)
        diag_error(L->diag, call->loc, "unknown function '%s'; did you mean '%s'?", name, near);
    else
        diag_error(L->diag, call->loc, "unknown function '%s'", name);
}
