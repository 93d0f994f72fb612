/*
 * model.c — loading a model: reading its source and imports, collecting its
 * declarations, applying hyperparameter settings, binding weights, and
 * lowering every entry point (lower_*.c) to a graph.
 */
#include "model.h"
#include "model_path.h"
#include "weight_map.h"
#include "lower.h"
#include "safetensors.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const Hyper *find_hyper(const Model *m, const char *name) {
    for (int i = 0; i < m->nhypers; i++)
        if (strcmp(m->hypers[i].name, name) == 0)
            return &m->hypers[i];
    return NULL;
}

const Ast *find_def(const Model *m, const char *name) {
    for (int i = 0; i < m->ndefs; i++)
        if (strcmp(m->defs[i]->str, name) == 0)
            return m->defs[i];
    return NULL;
}

const Weight *model_weight(const Model *m, const char *key) {
    for (int i = 0; i < m->nweights; i++)
        if (strcmp(m->weights[i].key, key) == 0)
            return &m->weights[i];
    return NULL;
}

const IrEntry *model_entry(const Model *m, const char *name) {
    for (int i = 0; i < m->nir; i++)
        if (strcmp(m->ir[i].name, name) == 0)
            return &m->ir[i];
    return NULL;
}

/* Room for element n of the array *arr of n elements of `size` bytes; false
 * when out of memory (the arena's failed flag tells the caller's caller). */
static bool grow(Arena *ar, void *arr, int n, size_t size) {
    void **old = arr;
    /* arrays grow by powers of two: reallocate when n reaches one */
    if (n & (n - 1) && n >= 8)
        return true;
    void *p = arena_alloc(ar, size * (size_t)(n < 8 ? 8 : 2 * n));
    if (!p)
        return false;
    if (*old && n)
        memcpy(p, *old, size * (size_t)n);
    *old = p;
    return true;
}

static SrcFile *read_source(Model *m, const char *path, SrcLoc from) {
    struct stat st;
    FILE *f = NULL;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(f = fopen(path, "rb"))) {
        diag_fail(&m->diag, DIAG_IO, from, "cannot read %s: %s", path,
                   errno == 0 || (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) ? "not a regular file" : strerror(errno));
        return NULL;
    }
    if (st.st_size > ATTN_LIMIT_SOURCE_BYTES) {
        fclose(f);
        diag_error(&m->diag, from, "%s is %lld bytes; the limit for a source file is %d", path, (long long)st.st_size,
                   ATTN_LIMIT_SOURCE_BYTES);
        return NULL;
    }
    SrcFile *s = arena_alloc(&m->arena, sizeof *s);
    char *text = arena_alloc(&m->arena, (size_t)st.st_size + 1), *name = arena_strdup(&m->arena, path);
    if (!s || !text || !name) {
        fclose(f);
        diag_nomem(&m->diag, "reading a source file");
        return NULL;
    }
    s->path = name;
    s->text = text;
    s->len = fread(s->text, 1, (size_t)st.st_size, f);
    fclose(f);
    s->next = m->files;
    m->files = s;
    return s;
}

int model_map_weights(Model *m, const char *path, const char *text) {
    SrcFile *f;
    if (text) {
        f = arena_alloc(&m->arena, sizeof *f);
        char *name = arena_strdup(&m->arena, path), *copy = arena_strdup(&m->arena, text);
        if (!f || !name || !copy) {
            diag_nomem(&m->diag, "for a weight map");
            return -1;
        }
        *f = (SrcFile){.path = name, .text = copy, .len = strlen(text), .next = m->files};
        m->files = f;
    } else if (!(f = read_source(m, path, (SrcLoc){0})))
        return -1;
    else
        f->text[f->len] = '\0';
    return weight_map_parse(m, f);
}

/* The i-th directory `import` searches after the importing file's own: those
 * added through the API, each of $ATTN_PATH (colon-separated), then the model
 * library (model_path.h). NULL past the last; buf holds an $ATTN_PATH entry. */
static const char *search_dir(const Model *m, int i, char *buf, size_t n) {
    if (i < m->nimport_dirs)
        return m->import_dirs[i];
    i -= m->nimport_dirs;
    for (const char *p = getenv("ATTN_PATH"); p && *p; i--) {
        size_t len = strcspn(p, ":");
        if (i == 0) {
            snprintf(buf, n, "%.*s", (int)len, p);
            return buf;
        }
        p += len + (p[len] == ':');
    }
    return i == 0 ? model_std_dir() : NULL;
}

/* The file an import names: relative to the importing file, then each search dir. */
static char *resolve_import(Model *m, const SrcFile *from, const char *name) {
    char buf[PATH_MAX], dir[PATH_MAX];
    const char *slash = strrchr(from->path, '/');
    int dirlen = slash ? (int)(slash - from->path) : 1;
    snprintf(buf, sizeof buf, "%.*s/%s", dirlen, slash ? from->path : ".", name);
    struct stat st;
    if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
        return arena_strdup(&m->arena, buf);
    const char *d;
    for (int i = 0; (d = search_dir(m, i, dir, sizeof dir)); i++) {
        if (!*d)
            continue;
        snprintf(buf, sizeof buf, "%s/%s", d, name);
        if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
            return arena_strdup(&m->arena, buf);
    }
    return NULL;
}

/* "next to m.attn, in a, in b": where resolve_import looked, for a message. */
static const char *searched_text(Model *m, const SrcFile *from) {
    StrBuf b = {0};
    sb_printf(&b, "next to %s", from->path);
    char dir[PATH_MAX];
    const char *d;
    for (int i = 0; (d = search_dir(m, i, dir, sizeof dir)); i++)
        if (*d)
            sb_printf(&b, ", in %s", d);
    if (!model_std_dir())
        sb_printf(&b, "; no model library found: set ATTN_PATH");
    const char *text = arena_strdup(&m->arena, sb_str(&b) ? sb_str(&b) : "");
    sb_free(&b);
    return text ? text : "the search path";
}

/* The files being loaded, innermost first: the chain of imports that led to
 * the file being read now. */
typedef struct ImportFrame {
    const SrcFile *file;
    char real[PATH_MAX];           /* its real path; "" when it has none (a source given as text) */
    const struct ImportFrame *up;  /* the file that imported it; NULL for the main file */
} ImportFrame;

static int frame_depth(const ImportFrame *f) {
    int n = 0;
    for (; f && f->up; f = f->up)
        n++;
    return n;
}

/* Reports an import of `path` that is already being loaded further up the
 * chain (a cycle): "a.attn imports b.attn imports a.attn". True when it was one. */
static bool import_cycle(Model *m, const ImportFrame *at, const char *path, SrcLoc loc) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        return false;
    const ImportFrame *start = at;
    while (start && strcmp(start->real, real) != 0)
        start = start->up;
    if (!start)
        return false;
    const ImportFrame *chain[ATTN_LIMIT_IMPORT_DEPTH + 2];
    int n = 0;
    for (const ImportFrame *f = at; n < ATTN_LIMIT_IMPORT_DEPTH + 2; f = f->up) {
        chain[n++] = f;
        if (f == start)
            break;
    }
    StrBuf text = {0};
    for (int i = n - 1; i >= 0; i--)
        sb_printf(&text, "%s imports ", chain[i]->file->path);
    sb_printf(&text, "%s", start->file->path);
    diag_error(&m->diag, loc, "import cycle: %s", sb_str(&text));
    sb_free(&text);
    return true;
}

static bool already_loaded(Model *m, const char *path) {
    char real[PATH_MAX];
    if (!realpath(path, real))
        return false;
    for (SrcFile *f = m->files; f; f = f->next) {
        char other[PATH_MAX];
        if (realpath(f->path, other) && strcmp(real, other) == 0)
            return true;
    }
    return false;
}

static void add_hyper(Model *m, const Ast *d) {
    if (find_hyper(m, d->str)) {
        diag_error(&m->diag, d->loc, "hyperparameter '%s' is declared twice", d->str);
        diag_note(&m->diag, find_hyper(m, d->str)->decl->loc, "first declared here");
        return;
    }
    Hyper h = {.name = d->str, .decl = d};
    const char *t = d->type->str;
    if (strcmp(t, "int") == 0) h.kind = HK_INT;
    else if (strcmp(t, "float") == 0) h.kind = HK_FLOAT;
    else if (strcmp(t, "bool") == 0 && !d->type->ival) h.kind = HK_BOOL;
    else if (strcmp(t, "enum") == 0) h.kind = HK_ENUM;
    else {
        diag_error(&m->diag, d->type->loc, "a hyperparameter is int, float, bool or enum(...), not '%s'", t);
        return;
    }
    if (d->a) {
        const Ast *v = d->a;
        bool neg = v->kind == A_UNOP && v->op == UNOP_NEG;
        const Ast *lit = neg ? v->a : v;
        h.set = h.from_default = true;
        if (h.kind == HK_INT && lit->kind == A_INT) h.i = neg ? -lit->ival : lit->ival;
        else if (h.kind == HK_FLOAT && (lit->kind == A_FLOAT || lit->kind == A_INT))
            h.f = (lit->kind == A_FLOAT ? lit->fval : (double)lit->ival) * (neg ? -1 : 1);
        else if (h.kind == HK_BOOL && (lit->kind == A_BOOL || (lit->kind == A_INT && lit->ival <= 1)) && !neg)
            h.i = lit->ival;
        else if (h.kind == HK_ENUM && lit->kind == A_NAME && !neg) {
            h.set = false;
            for (int i = 0; i < d->type->list.n; i++)
                if (strcmp(d->type->list.items[i]->str, lit->str) == 0) {
                    h.i = i;
                    h.set = true;
                }
            if (!h.set)
                diag_error(&m->diag, v->loc, "'%s' is not one of the values of %s", lit->str, d->str);
        } else {
            diag_error(&m->diag, v->loc, "the default of %s hyperparameter '%s' must be %s", t, d->str,
                       h.kind == HK_INT ? "an integer literal" : h.kind == HK_FLOAT ? "a number literal"
                       : h.kind == HK_BOOL ? "true or false" : "one of its names");
            h.set = false;
        }
    }
    if (!grow(&m->arena, &m->hypers, m->nhypers, sizeof(Hyper)))
            return;
    m->hypers[m->nhypers++] = h;
}

static void add_decl(Model *m, const Ast *d, bool main_file) {
    switch (d->kind) {
    case D_HYPER:
        add_hyper(m, d);
        break;
    case D_LET:
        if (!grow(&m->arena, &m->lets, m->nlets, sizeof(Ast *)))
            return;
        m->lets[m->nlets++] = d;
        break;
    case D_DEF:
        if (find_def(m, d->str)) {
            diag_error(&m->diag, d->loc, "function '%s' is defined twice", d->str);
            diag_note(&m->diag, find_def(m, d->str)->loc, "first defined here");
            return;
        }
        if (!grow(&m->arena, &m->defs, m->ndefs, sizeof(Ast *)))
            return;
        m->defs[m->ndefs++] = d;
        break;
    case D_ENTRY:
        if (!main_file)
            return; /* a library's entry points are its own examples */
        for (int i = 0; i < m->nentries; i++)
            if (strcmp(m->entries[i]->str, d->str) == 0) {
                diag_error(&m->diag, d->loc, "entry '%s' is defined twice", d->str);
                return;
            }
        if (!grow(&m->arena, &m->entries, m->nentries, sizeof(Ast *)))
            return;
        m->entries[m->nentries++] = d;
        break;
    default:
        break;
    }
}

static int nfiles(const Model *m) {
    int n = 0;
    for (const SrcFile *f = m->files; f; f = f->next)
        n++;
    return n;
}

static void load_file(Model *m, SrcFile *src, const ImportFrame *up) {
    ImportFrame self = {.file = src, .up = up};
    if (!realpath(src->path, self.real))
        self.real[0] = '\0'; /* a source given as text under a name that is no file */
    int depth = frame_depth(&self);
    bool main_file = !up;
    AstFile file;
    parse_file(&m->arena, src, &m->diag, &file);
    for (int i = 0; i < file.decls.n; i++) {
        const Ast *d = file.decls.items[i];
        if (d->kind != D_IMPORT) {
            add_decl(m, d, main_file);
            continue;
        }
        if (depth >= ATTN_LIMIT_IMPORT_DEPTH || nfiles(m) >= ATTN_LIMIT_FILES) {
            diag_error(&m->diag, d->loc,
                       "imports nested deeper than %d (ATTN_LIMIT_IMPORT_DEPTH) or more than %d files (ATTN_LIMIT_FILES)",
                       ATTN_LIMIT_IMPORT_DEPTH, ATTN_LIMIT_FILES);
            continue;
        }
        if (strstr(d->str, "..") || d->str[0] == '/') {
            diag_error(&m->diag, d->loc, "import \"%s\": paths are relative to the search path and may not contain '..'",
                       d->str);
            continue;
        }
        char *path = resolve_import(m, src, d->str);
        if (!path) {
            diag_error(&m->diag, d->loc, "cannot find \"%s\" (searched %s)", d->str, searched_text(m, src));
            continue;
        }
        if (import_cycle(m, &self, path, d->loc))
            continue;
        if (already_loaded(m, path))
            continue; /* each file once: a repeated import (not a cycle) is harmless */
        SrcFile *f = read_source(m, path, d->loc);
        if (f)
            load_file(m, f, &self);
    }
}

/* Parses a --set value for hyperparameter h. */
static void apply_setting(Model *m, Hyper *h, const char *value) {
    char *end;
    errno = 0;
    switch (h->kind) {
    case HK_INT: {
        long long v = strtoll(value, &end, 10);
        if (*value == '\0' || *end || errno) {
            diag_error(&m->diag, (SrcLoc){0}, "--set %s=%s: expected an integer", h->name, value);
            return;
        }
        h->i = v;
        break;
    }
    case HK_FLOAT: {
        double v = strtod(value, &end);
        if (*value == '\0' || *end || !isfinite(v)) {
            diag_error(&m->diag, (SrcLoc){0}, "--set %s=%s: expected a number", h->name, value);
            return;
        }
        h->f = v;
        break;
    }
    case HK_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            h->i = 1;
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
            h->i = 0;
        else {
            diag_error(&m->diag, (SrcLoc){0}, "--set %s=%s: expected true, false, 1 or 0", h->name, value);
            return;
        }
        break;
    case HK_ENUM: {
        const AstList *vals = &h->decl->type->list;
        int found = -1;
        StrBuf names = {0};
        for (int i = 0; i < vals->n; i++) {
            sb_printf(&names, "%s%s", i ? ", " : "", vals->items[i]->str);
            if (strcmp(vals->items[i]->str, value) == 0)
                found = i;
        }
        if (found < 0)
            diag_error(&m->diag, (SrcLoc){0}, "--set %s=%s: expected one of %s", h->name, value, sb_str(&names));
        sb_free(&names);
        if (found < 0)
            return;
        h->i = found;
        break;
    }
    }
    h->set = true;
    h->from_default = false;
}

int model_load(Model *m, const char *path, const char *src) {
    SrcFile *f;
    if (src) {
        f = arena_alloc(&m->arena, sizeof *f);
        char *name = arena_strdup(&m->arena, path), *text = arena_strdup(&m->arena, src);
        if (!f || !name || !text) {
            diag_nomem(&m->diag, "for the source");
            return -1;
        }
        f->path = name;
        f->len = strlen(src);
        f->text = text;
        f->next = m->files;
        m->files = f;
    } else if (!(f = read_source(m, path, (SrcLoc){0})))
        return -1;
    m->path = f->path;
    load_file(m, f, NULL);
    for (int i = 0; i < m->nsettings; i++) {
        Hyper *h = (Hyper *)find_hyper(m, m->settings[i].name);
        if (!h) {
            StrBuf names = {0};
            for (int j = 0; j < m->nhypers; j++)
                sb_printf(&names, "%s%s", j ? ", " : "", m->hypers[j].name);
            diag_error(&m->diag, (SrcLoc){0}, "--set %s: %s has no hyperparameter '%s' (it has: %s)", m->settings[i].name,
                       path, m->settings[i].name, m->nhypers ? sb_str(&names) : "none");
            sb_free(&names);
            continue;
        }
        apply_setting(m, h, m->settings[i].value);
    }
    if (m->diag.errors == 0 && m->nentries == 0)
        diag_error(&m->diag, (SrcLoc){f, 1, 1}, "%s declares no entry point (entry NAME(inputs) -> (outputs) { ... })", path);
    if (m->diag.errors || m->arena.failed)
        return -1;
    m->loaded = true;
    return model_lower(m, false, NULL);
}
