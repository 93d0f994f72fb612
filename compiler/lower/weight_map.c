/*
 * weight_map.c — the rules of a weight map (weight_map.h): parsing them from
 * their file, and renaming a weights file's keys by them before the keys are
 * checked against the model's params.
 */
#include "weight_map.h"

#include <ctype.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

typedef enum RuleKind {
    RULE_KEY,    /* FROM is a whole key */
    RULE_PREFIX, /* FROM ends in '.': a module's keys */
    RULE_REGEX,  /* FROM starts with '^': a POSIX extended regular expression */
} RuleKind;

typedef struct Rule {
    RuleKind kind;
    const char *from, *to; /* as written, without the blanks around them */
    regex_t re;            /* RULE_REGEX: FROM compiled */
    SrcLoc loc, to_loc;    /* FROM's and TO's places, for messages */
    const char *name;      /* "map.txt:3", as messages name the rule */
    int uses;              /* keys it renamed in the last application */
} Rule;

typedef struct WeightMap {
    Rule *rules;
    int nrules;
} WeightMap;

/* Groups a replacement may name: \0 (the whole match) to \9. */
#define MAP_GROUPS 10

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* The text [*b, *e) without the blanks around it. */
static void trim(const char **b, const char **e) {
    while (*b < *e && is_blank(**b))
        (*b)++;
    while (*e > *b && is_blank((*e)[-1]))
        (*e)--;
}

/* Checks that every backslash of a regex rule's replacement names a group of
 * its expression (\0 .. \N) or is doubled. */
static bool check_replacement(Model *m, const Rule *r) {
    for (const char *p = r->to; *p; p++) {
        if (*p != '\\')
            continue;
        SrcLoc at = r->to_loc;
        at.col += (int)(p - r->to);
        if (p[1] == '\\') {
            p++;
        } else if (isdigit((unsigned char)p[1])) {
            if ((size_t)(p[1] - '0') > r->re.re_nsub) {
                diag_error(&m->diag, at, "the replacement names group \\%c, but the expression has %zu group%s", p[1],
                           r->re.re_nsub, r->re.re_nsub == 1 ? "" : "s");
                return false;
            }
            p++;
        } else {
            diag_error(&m->diag, at, "a backslash in a replacement names a group, \\0 to \\9, or is doubled: \\\\");
            return false;
        }
    }
    return true;
}

/* Compiles a regex rule's expression; false after reporting. */
static bool compile_regex(Model *m, Rule *r) {
    int rc = regcomp(&r->re, r->from, REG_EXTENDED);
    if (rc != 0) {
        char why[256];
        regerror(rc, &r->re, why, sizeof why);
        diag_error(&m->diag, r->loc, "bad regular expression '%s': %s (POSIX extended syntax)", r->from, why);
        return false;
    }
    if (!check_replacement(m, r)) {
        regfree(&r->re);
        return false;
    }
    return true;
}

/* Parses line `text` of length n, line `line` of f, into *r. Returns 1 for
 * a rule, 0 for a line without one, -1 after an error. */
static int parse_line(Model *m, const SrcFile *f, int line, const char *text, size_t n, Rule *r) {
    const char *hash = memchr(text, '#', n);
    const char *b = text, *e = hash ? hash : text + n;
    trim(&b, &e);
    if (b == e)
        return 0;
    SrcLoc loc = {f, line, (int)(b - text) + 1};
    const char *eq = memchr(b, '=', (size_t)(e - b));
    if (!eq) {
        diag_error(&m->diag, loc, "a rule is FROM=TO (a key, a prefix ending in '.', or a regular expression "
                                  "starting with '^'); this line has no '='");
        return -1;
    }
    const char *eq2 = memchr(eq + 1, '=', (size_t)(e - eq - 1));
    if (eq2) {
        diag_error(&m->diag, (SrcLoc){f, line, (int)(eq2 - text) + 1},
                   "a rule has one '=' (keys and expressions cannot hold one)");
        return -1;
    }
    const char *fe = eq, *tb = eq + 1, *te = e;
    trim(&b, &fe);
    trim(&tb, &te);
    if (b == fe) {
        diag_error(&m->diag, loc, "the rule has nothing before '=' to rename");
        return -1;
    }
    *r = (Rule){.from = arena_strndup(&m->arena, b, (size_t)(fe - b)),
                .to = arena_strndup(&m->arena, tb, (size_t)(te - tb)),
                .loc = loc,
                .to_loc = {f, line, (int)(tb - text) + 1},
                .name = arena_printf(&m->arena, "%s:%d", f->path, line)};
    if (!r->from || !r->to || !r->name) {
        diag_nomem(&m->diag, "reading a weight map");
        return -1;
    }
    r->kind = *b == '^' ? RULE_REGEX : fe[-1] == '.' ? RULE_PREFIX : RULE_KEY;
    switch (r->kind) {
    case RULE_REGEX:
        return compile_regex(m, r) ? 1 : -1;
    case RULE_PREFIX:
        if (*r->to && r->to[strlen(r->to) - 1] != '.') {
            diag_error(&m->diag, r->to_loc,
                       "a prefix rule ('%s' ends in '.') renames it to another prefix ending in '.', or to nothing; "
                       "'%s' does not end in '.'", r->from, r->to);
            return -1;
        }
        return 1;
    case RULE_KEY:
        if (!*r->to) {
            diag_error(&m->diag, loc, "'%s' would be renamed to an empty key", r->from);
            return -1;
        }
        return 1;
    }
    return 1;
}

int weight_map_parse(Model *m, const SrcFile *f) {
    if (memchr(f->text, '\0', f->len)) {
        diag_error(&m->diag, (SrcLoc){0}, "%s holds a NUL byte; a weight map is a text file of FROM=TO lines", f->path);
        return -1;
    }
    size_t lines = 1; /* room for a rule per line, up to the limit */
    for (size_t i = 0; i < f->len && lines < ATTN_LIMIT_MAP_RULES; i++)
        lines += f->text[i] == '\n';
    WeightMap *wm = arena_alloc(&m->arena, sizeof *wm);
    Rule *rules = arena_alloc(&m->arena, sizeof(Rule) * lines);
    if (!wm || !rules) {
        diag_nomem(&m->diag, "reading a weight map");
        return -1;
    }
    *wm = (WeightMap){rules, 0};
    m->weight_map = wm;
    int before = m->diag.errors, line = 1;
    for (const char *p = f->text, *end = f->text + f->len; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((nl ? nl : end) - p);
        Rule r;
        if (parse_line(m, f, line, p, n, &r) == 1) {
            if (wm->nrules == ATTN_LIMIT_MAP_RULES) {
                diag_error(&m->diag, r.loc, "%s has more than %d rules", f->path, ATTN_LIMIT_MAP_RULES);
                if (r.kind == RULE_REGEX)
                    regfree(&r.re);
                break;
            }
            wm->rules[wm->nrules++] = r;
        }
        p += n + 1;
    }
    if (m->diag.errors == before)
        return 0;
    weight_map_free(m); /* as if no map was given */
    return -1;
}

/* Writes `to` into out (when not NULL) with \0 .. \9 replaced by the groups
 * of the match pm of key and \\ by a backslash; returns its length. */
static size_t expand(char *out, const char *to, const char *key, const regmatch_t *pm) {
    size_t n = 0;
    for (const char *p = to; *p; p++) {
        const char *piece = p;
        size_t len = 1;
        if (*p == '\\' && isdigit((unsigned char)p[1])) {
            const regmatch_t *g = &pm[*++p - '0'];
            piece = key + (g->rm_so >= 0 ? g->rm_so : 0);
            len = g->rm_so >= 0 ? (size_t)(g->rm_eo - g->rm_so) : 0;
        } else if (*p == '\\') {
            piece = ++p; /* a doubled backslash (the only other kind check_replacement lets through) */
        }
        if (out)
            memcpy(out + n, piece, len);
        n += len;
    }
    return n;
}

/* Sets *out to key renamed by r (a string in m's arena, NULL when out of
 * memory); false when r does not apply to key. */
static bool rename_key(Model *m, const Rule *r, const char *key, const char **out) {
    size_t n = strlen(r->from);
    switch (r->kind) {
    case RULE_KEY:
        *out = r->to;
        return strcmp(key, r->from) == 0;
    case RULE_PREFIX:
        if (strncmp(key, r->from, n) != 0)
            return false;
        *out = arena_printf(&m->arena, "%s%s", r->to, key + n);
        return true;
    case RULE_REGEX: {
        regmatch_t pm[MAP_GROUPS];
        if (regexec(&r->re, key, MAP_GROUPS, pm, 0) != 0)
            return false;
        size_t head = (size_t)pm[0].rm_so, mid = expand(NULL, r->to, key, pm), tail = strlen(key + pm[0].rm_eo);
        char *s = arena_alloc(&m->arena, head + mid + tail + 1);
        if (s) {
            memcpy(s, key, head);
            expand(s + head, r->to, key, pm);
            memcpy(s + head + mid, key + pm[0].rm_eo, tail + 1);
        }
        *out = s;
        return true;
    }
    }
    return false;
}

/* Renames w by every rule in turn; records its origin when any applied. */
static void rename_weight(Model *m, Weight *w) {
    WeightMap *wm = m->weight_map;
    const char *key = w->key, *by = NULL;
    int nby = 0;
    for (int i = 0; i < wm->nrules && !m->arena.failed; i++) {
        Rule *r = &wm->rules[i];
        const char *out = NULL;
        if (!rename_key(m, r, key, &out) || !out)
            continue;
        r->uses++;
        if (!*out) {
            diag_error(&m->diag, r->loc, "the rule renames '%s' to an empty key", key);
            continue;
        }
        by = nby++ ? arena_printf(&m->arena, "%s and %s", by, r->name) : r->name;
        key = out;
        w->rule = r->loc;
    }
    const char *renamed_by = nby && by ? arena_printf(&m->arena, "rule%s %s", nby > 1 ? "s" : "", by) : NULL;
    const char *origin = renamed_by ? arena_printf(&m->arena, " (from '%s' by %s)", w->key, renamed_by) : NULL;
    if (origin) { /* (else nothing was renamed, or the arena ran out of memory and the caller fails) */
        w->file_key = w->key;
        w->renamed_by = renamed_by;
        w->origin = origin;
        w->key = key;
        w->t.name = key;
    }
}

/* Orders weights by key, then by their place in the file. */
static int by_key(const void *a, const void *b) {
    const Weight *const *x = a, *const *y = b;
    int c = strcmp((*x)->key, (*y)->key);
    return c ? c : (*x > *y) - (*x < *y);
}

/* The error for weights a and b that ended up with one key, at the rule
 * that completed the clash (the later of the rules that renamed them last);
 * a note at the other's. */
static void collision(Model *m, const Weight *a, const Weight *b) {
    bool b_later = b->file_key && (!a->file_key || b->rule.line > a->rule.line);
    const Weight *at = b_later ? b : a, *other = b_later ? a : b;
    const char *other_how = other->file_key ? arena_printf(&m->arena, "by %s", other->renamed_by) : "kept as it is";
    diag_error(&m->diag, at->rule, "two weights of %s become '%s': '%s' (by %s) and '%s' (%s)", m->weights_path,
               at->key, at->file_key, at->renamed_by, other->file_key ? other->file_key : other->key,
               other_how ? other_how : "renamed too");
    if (other->file_key)
        diag_note(&m->diag, other->rule, "the other weight is renamed here");
}

/* Reports keys that two weights share after renaming. */
static void check_collisions(Model *m, Weight *ws, int n) {
    if (n < 2)
        return;
    const Weight **sorted = malloc(sizeof *sorted * (size_t)n);
    if (!sorted) {
        diag_nomem(&m->diag, "checking a weight map");
        return;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = &ws[i];
    qsort(sorted, (size_t)n, sizeof *sorted, by_key);
    for (int i = 1; i < n; i++)
        if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0 && (sorted[i - 1]->file_key || sorted[i]->file_key))
            collision(m, sorted[i - 1], sorted[i]); /* equal keys sort in file order */
    free(sorted);
}

int weight_map_apply(Model *m, Weight *ws, int n) {
    WeightMap *wm = m->weight_map;
    if (!wm)
        return 0;
    int before = m->diag.errors;
    for (int i = 0; i < wm->nrules; i++)
        wm->rules[i].uses = 0;
    for (int i = 0; i < n; i++)
        rename_weight(m, &ws[i]);
    check_collisions(m, ws, n);
    for (int i = 0; i < wm->nrules && !m->arena.failed; i++)
        if (!wm->rules[i].uses)
            diag_error(&m->diag, wm->rules[i].loc, "the rule renames no key of %s (an unused rule is an error: "
                       "is '%s' spelt as the file spells it?)", m->weights_path, wm->rules[i].from);
    return m->diag.errors > before || m->arena.failed ? -1 : 0;
}

void weight_map_free(Model *m) {
    WeightMap *wm = m->weight_map;
    for (int i = 0; wm && i < wm->nrules; i++)
        if (wm->rules[i].kind == RULE_REGEX)
            regfree(&wm->rules[i].re);
    m->weight_map = NULL;
}
