/*
 * onnx_dim.c — symbolic dims of the importer: products c × a1 × ... × an of
 * atoms (the entry's symbols, and sums that do not simplify, kept as text).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_imp.h"

Dim odim_const(int64_t c) { return (Dim){.c = c}; }
Dim odim_atom(int atom) { return (Dim){.c = 1, .n = 1, .atom = {atom}}; }
bool odim_is_const(Dim d) { return d.n == 0; }

bool odim_eq(Dim a, Dim b) {
    return a.c == b.c && a.n == b.n && memcmp(a.atom, b.atom, (size_t)a.n * sizeof a.atom[0]) == 0;
}

int imp_atom(Imp *im, const char *text) {
    for (int i = 0; i < im->natoms; i++)
        if (!strcmp(im->atoms[i], text))
            return i;
    if ((im->natoms & (im->natoms - 1)) == 0) { /* 0, 1, 2, 4, ...: grow */
        int cap = im->natoms ? im->natoms * 2 : 1;
        char **t = imp_alloc(im, (size_t)cap * sizeof *t), **src = imp_alloc(im, (size_t)cap * sizeof *src);
        if (im->natoms) {
            memcpy(t, im->atoms, (size_t)im->natoms * sizeof *t);
            memcpy(src, im->atom_src, (size_t)im->natoms * sizeof *src);
        }
        im->atoms = t;
        im->atom_src = src;
    }
    im->atoms[im->natoms] = imp_strdup(im, text);
    return im->natoms++;
}

static Dim opaque(Imp *im, const char *text) {
    if (strlen(text) > 200)
        imp_node_fail(im, "a shape computation grows too large (%.60s...)", text);
    return odim_atom(imp_atom(im, imp_fmt(im, "(%s)", text)));
}

Dim odim_mul(Imp *im, Dim a, Dim b) {
    if (a.c == 0 || b.c == 0)
        return odim_const(0);
    if (a.n + b.n > ATTN_LIMIT_ONNX_DIM_ATOMS)
        imp_node_fail(im, "a dim multiplies more than %d symbols", ATTN_LIMIT_ONNX_DIM_ATOMS);
    if (__builtin_mul_overflow(a.c, b.c, &a.c))
        imp_node_fail(im, "a dim overflows 64 bits");
    for (int i = 0; i < b.n; i++) { /* insert sorted */
        int j = a.n++;
        while (j > 0 && a.atom[j - 1] > b.atom[i]) {
            a.atom[j] = a.atom[j - 1];
            j--;
        }
        a.atom[j] = b.atom[i];
    }
    return a;
}

Dim odim_add(Imp *im, Dim a, Dim b) {
    if (odim_is_const(a) && odim_is_const(b)) {
        if (__builtin_add_overflow(a.c, b.c, &a.c))
            imp_node_fail(im, "a dim overflows 64 bits");
        return a;
    }
    if (a.c == 0 && odim_is_const(a))
        return b;
    if (b.c == 0 && odim_is_const(b))
        return a;
    Dim sa = a, sb = b;
    sa.c = sb.c = 1;
    if (odim_eq(sa, sb)) {
        if (__builtin_add_overflow(a.c, b.c, &a.c))
            imp_node_fail(im, "a dim overflows 64 bits");
        return a.c ? a : odim_const(0);
    }
    if (odim_is_const(b) && b.c < 0)
        return opaque(im, imp_fmt(im, "%s - %lld", odim_text(im, a), -(long long)b.c));
    return opaque(im, imp_fmt(im, "%s + %s", odim_text(im, a), odim_text(im, b)));
}

Dim odim_sub(Imp *im, Dim a, Dim b) {
    if (b.c == INT64_MIN)
        imp_node_fail(im, "a dim overflows 64 bits");
    b.c = -b.c;
    return odim_add(im, a, b);
}

bool odim_divides(Dim a, Dim b) {
    if (b.c == 0 || a.c % b.c)
        return false;
    int used[ATTN_LIMIT_ONNX_DIM_ATOMS] = {0};
    for (int i = 0; i < b.n; i++) {
        int j = 0;
        while (j < a.n && (used[j] || a.atom[j] != b.atom[i]))
            j++;
        if (j == a.n)
            return false;
        used[j] = 1;
    }
    return true;
}

Dim odim_div(Imp *im, Dim a, Dim b) {
    if (b.c == 0 && odim_is_const(b))
        imp_node_fail(im, "a shape computation divides by zero");
    if (!odim_divides(a, b)) {
        if (odim_is_const(a) && odim_is_const(b)) { /* floor division, as ONNX's integer Div does not */
            return odim_const(a.c / b.c);
        }
        return opaque(im, imp_fmt(im, "%s // %s", odim_text(im, a), odim_text(im, b)));
    }
    Dim r = {.c = a.c / b.c};
    int used[ATTN_LIMIT_ONNX_DIM_ATOMS] = {0};
    for (int i = 0; i < b.n; i++)
        for (int j = 0; j < a.n; j++)
            if (!used[j] && a.atom[j] == b.atom[i]) {
                used[j] = 1;
                break;
            }
    for (int j = 0; j < a.n; j++)
        if (!used[j])
            r.atom[r.n++] = a.atom[j];
    return r;
}

const char *odim_text(Imp *im, Dim d) {
    if (odim_is_const(d))
        return imp_fmt(im, "%lld", (long long)d.c);
    char *s = "";
    for (int i = 0; i < d.n; i++)
        s = imp_fmt(im, "%s%s%s", s, i ? " * " : "", im->atoms[d.atom[i]]);
    if (d.c == 1)
        return s;
    if (d.c == -1)
        return imp_fmt(im, "-%s", s);
    return imp_fmt(im, "%s * %lld", s, (long long)d.c);
}
