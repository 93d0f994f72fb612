/*
 * spell.c — edit distances for suggestions (see spell.h). Optimal string
 * alignment distance over three rolling rows, so long weight keys need no
 * quadratic table.
 */
#include "spell.h"
#include "attn_limits.h"

#include <limits.h>
#include <string.h>

static int min2(int a, int b) { return a < b ? a : b; }

int spell_distance(const char *a, const char *b) {
    int na = (int)strlen(a), nb = (int)strlen(b);
    if (na > ATTN_LIMIT_SPELL_LEN || nb > ATTN_LIMIT_SPELL_LEN)
        return INT_MAX;
    int rows[3][ATTN_LIMIT_SPELL_LEN + 1];
    for (int i = 0; i <= na; i++) {
        int *d = rows[i % 3], *up = rows[(i + 2) % 3], *up2 = rows[(i + 1) % 3];
        for (int j = 0; j <= nb; j++) {
            if (i == 0 || j == 0) {
                d[j] = i + j;
                continue;
            }
            int best = min2(up[j - 1] + (a[i - 1] != b[j - 1]), min2(up[j], d[j - 1]) + 1);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                best = min2(best, up2[j - 2] + 1);
            d[j] = best;
        }
    }
    return rows[na % 3][nb];
}

bool spell_nearer(const char *word, const char *candidate, int *best) {
    int d = spell_distance(word, candidate);
    if (d == INT_MAX || 3 * d > (int)strlen(word) + 1 || d >= *best)
        return false;
    *best = d;
    return true;
}

int spell_common_suffix(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b), n = 0, whole = 0;
    while (n < na && n < nb && a[na - 1 - n] == b[nb - 1 - n]) {
        n++;
        bool a_starts = n == na || a[na - 1 - n] == '.', b_starts = n == nb || b[nb - 1 - n] == '.';
        if (a_starts && b_starts)
            whole = n;
    }
    return (int)whole;
}
