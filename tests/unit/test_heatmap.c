/*
 * test_heatmap.c — unit tests of the heatmaps: attn_heatmap_text and
 * attn_heatmap_svg (runtime/api/heatmap.c).
 *
 * The terminal output is captured with open_memstream and checked cell by
 * cell: every row line holds its label and rows × cols cells of the expected
 * shade (or ANSI colour). The SVG is written to a scratch file and checked to
 * be well-formed XML (tags nest, no raw '<' or stray '&' in text), to start
 * with <svg, to hold one <rect> per cell and every label escaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <math.h>

#include "attn.h"
#include "heatmap.h"
#include "st_testfiles.h"


/* attn_heatmap_text's output as a malloc'd string. */
static char *text_of(const float *v, int rows, int cols, const char *const *rl,
                     const char *const *cl, bool color)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(attn_heatmap_text(f, v, rows, cols, rl, cl, color, NULL), ATTN_OK);
    fclose(f);
    return buf;
}

static char *read_file(const char *p)
{
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* Number of non-overlapping occurrences of needle in [s, end). */
static int count_in(const char *s, const char *end, const char *needle)
{
    int n = 0;
    size_t k = strlen(needle);
    for (const char *p = s; (p = strstr(p, needle)) && p + k <= end; p += k)
        n++;
    return n;
}

/* Line i (0-based) of s: its start, and *end its newline. */
static const char *line_at(const char *s, int i, const char **end)
{
    for (; i > 0; i--) {
        s = strchr(s, '\n');
        assert_non_null(s);
        s++;
    }
    *end = strchr(s, '\n');
    assert_non_null(*end);
    return s;
}

/* Asserts that line i of s is `want`. */
static void assert_line(const char *s, int i, const char *want)
{
    const char *end;
    const char *l = line_at(s, i, &end);
    if ((size_t)(end - l) != strlen(want) || strncmp(l, want, strlen(want)))
        fail_msg("line %d is \"%.*s\", want \"%s\"", i, (int)(end - l), l, want);
}

static const char *const shade[5] = {"\u00b7", "\u2591", "\u2592", "\u2593", "\u2588"};

/* ---- scale ---------------------------------------------------------------- */

static void test_levels(void **state)
{
    float lo, hi;
    const float v[] = {0.25f, 0.5f, 1.0f, NAN, INFINITY};
    heatmap_range(v, 5, &lo, &hi);
    assert_true(lo == 0.0f && hi == 1.0f); /* positive values: from 0 */
    const float w[] = {-2, 2};
    heatmap_range(w, 2, &lo, &hi);
    assert_true(lo == -2.0f && hi == 2.0f);
    assert_int_equal(heatmap_level(0.0f, 0, 1, 5), 0);
    assert_int_equal(heatmap_level(0.19f, 0, 1, 5), 0);
    assert_int_equal(heatmap_level(0.5f, 0, 1, 5), 2);
    assert_int_equal(heatmap_level(1.0f, 0, 1, 5), 4);
    assert_int_equal(heatmap_level(INFINITY, 0, 1, 5), 4);
    assert_int_equal(heatmap_level(-INFINITY, 0, 1, 5), 0);
    assert_int_equal(heatmap_level(NAN, 0, 1, 5), -1);
    assert_int_equal(heatmap_level(3.0f, 1, 1, 5), 0); /* flat */
}

/* ---- terminal ------------------------------------------------------------- */

static void test_text_cells(void **state)
{
    enum { R = 3, C = 4 };
    const float v[R * C] = {0, 0.3f, 0.5f, 1, 1, 0, 0, 0, 0.1f, 0.9f, 0.7f, 0.45f};
    const int want[R * C] = {0, 1, 2, 4, 4, 0, 0, 0, 0, 4, 3, 2};
    const char *rows[R] = {"2", "0", "-"};
    const char *cols[C] = {"a", "b", "c", "d"};
    char *s = text_of(v, R, C, rows, cols, false);
    const char *end, *l;
    assert_line(s, 0, "  a b c d");
    for (int r = 0; r < R; r++) {
        l = line_at(s, 1 + r, &end);
        assert_int_equal(strncmp(l, rows[r], 1), 0);
        assert_int_equal(l[1], ' ');
        int cells = 0;
        for (int k = 0; k < 5; k++)
            cells += count_in(l, end, shade[k]);
        assert_int_equal(cells, 2 * C); /* each cell two characters wide */
        const char *p = l + 2;
        for (int c = 0; c < C; c++) {
            const char *g = shade[want[r * C + c]];
            size_t k = strlen(g);
            if (strncmp(p, g, k) || strncmp(p + k, g, k))
                fail_msg("row %d col %d: want shade %d in \"%.*s\"", r, c, want[r * C + c],
                         (int)(end - l), l);
            p += 2 * k;
        }
        assert_ptr_equal(p, end);
    }
    l = line_at(s, 1 + R, &end); /* the scale */
    assert_non_null(strstr(l, "0 \u2026 1"));
    assert_null(strchr(s, '\x1b'));
    free(s);
}

static void test_text_color(void **state)
{
    enum { R = 2, C = 5 };
    float v[R * C];
    for (int i = 0; i < R * C; i++)
        v[i] = (float)i;
    v[3] = NAN;
    char *s = text_of(v, R, C, NULL, NULL, true);
    const char *end;
    for (int r = 0; r < R; r++) {
        const char *l = line_at(s, 1 + r, &end);
        int colored = count_in(l, end, "\x1b[48;5;");
        assert_int_equal(colored + count_in(l, end, "??"), C);
        assert_int_equal(colored, r == 0 ? C - 1 : C);
        assert_non_null(strstr(l, "\x1b[0m"));
    }
    /* the lowest and highest cells get the ends of the ramp */
    assert_non_null(strstr(s, "\x1b[48;5;53m"));
    assert_non_null(strstr(s, "\x1b[48;5;220m"));
    free(s);
}

static void test_text_labels(void **state)
{
    /* long column labels go downwards, bottom-aligned; row labels right-aligned */
    const float v[2 * 3] = {1, 0, 0, 0, 1, 0};
    const char *rows[2] = {"x", "long"};
    const char *cols[3] = {"abc", "d", "\x1b[2Jé"};
    char *s = text_of(v, 2, 3, rows, cols, false);
    const char *end;
    /* 5 header lines (the longest label has 5 code points) */
    assert_line(s, 0, "         ?");
    assert_line(s, 1, "         [");
    assert_line(s, 2, "     a   2");
    assert_line(s, 3, "     b   J");
    assert_line(s, 4, "     c d \u00e9");
    const char *l = line_at(s, 5, &end);
    assert_int_equal(strncmp(l, "   x ", 5), 0);
    l = line_at(s, 6, &end);
    assert_int_equal(strncmp(l, "long ", 5), 0);
    assert_null(strchr(s, '\x1b')); /* the escape in a label is no escape */
    free(s);
}

/* A refused call: its status, and a message naming the function or the file. */
static void expect_refusal(attn_status got, attn_status want, char **err, const char *text)
{
    assert_int_equal(got, want);
    assert_non_null(*err);
    if (!strstr(*err, text))
        fail_msg("message '%s' does not name '%s'", *err, text);
    attn_string_free(*err);
    *err = NULL;
}

static void test_text_refusals(void **state)
{
    const float v[1] = {0};
    char *err = NULL;
    expect_refusal(attn_heatmap_text(stdout, NULL, 1, 1, NULL, NULL, false, &err), ATTN_ERR_USAGE, &err,
                   "attn_heatmap_text");
    expect_refusal(attn_heatmap_text(stdout, v, 0, 1, NULL, NULL, false, &err), ATTN_ERR_USAGE, &err,
                   "attn_heatmap_text");
    expect_refusal(attn_heatmap_text(NULL, v, 1, 1, NULL, NULL, false, &err), ATTN_ERR_USAGE, &err,
                   "attn_heatmap_text");
    expect_refusal(attn_heatmap_text(stdout, v, 1 << 16, 1 << 16, NULL, NULL, false, &err), ATTN_ERR_USAGE, &err,
                   "INT_MAX");
    /* a stream that cannot be written */
    FILE *ro = fopen("/dev/null", "r");
    assert_non_null(ro);
    expect_refusal(attn_heatmap_text(ro, v, 1, 1, NULL, NULL, false, &err), ATTN_ERR_IO, &err, "cannot write");
    fclose(ro);
    assert_int_equal(attn_heatmap_text(stdout, NULL, 1, 1, NULL, NULL, false, NULL), ATTN_ERR_USAGE);
}

/* ---- SVG ------------------------------------------------------------------ */

/* Checks that s is well-formed enough: tags nest and close, attribute values
 * and text hold no raw '<' and only entity '&'s. */
static void assert_xml(const char *s)
{
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = s;
    while (*p) {
        if (*p == '&') {
            const char *ents[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"};
            int ok = 0;
            for (int i = 0; i < 5; i++)
                ok |= !strncmp(p, ents[i], strlen(ents[i]));
            if (!ok)
                fail_msg("stray '&' at \"%.20s\"", p);
            p++;
            continue;
        }
        if (*p != '<') {
            p++;
            continue;
        }
        const char *close = strchr(p, '>');
        assert_non_null(close);
        const char *inner = memchr(p + 1, '<', (size_t)(close - p - 1));
        if (inner)
            fail_msg("'<' inside a tag at \"%.20s\"", p);
        int quotes = 0;
        for (const char *q = p; q < close; q++)
            quotes += *q == '"';
        assert_int_equal(quotes % 2, 0);
        if (p[1] == '/') {
            assert_true(depth > 0);
            depth--;
            size_t k = strlen(stack[depth]);
            if (strncmp(p + 2, stack[depth], k) || p[2 + k] != '>')
                fail_msg("</...> does not close <%s> at \"%.20s\"", stack[depth], p);
        } else if (close[-1] != '/') {
            size_t k = strcspn(p + 1, " >");
            assert_true(k < sizeof stack[0] && depth < 64);
            if (depth == 0)
                roots++;
            memcpy(stack[depth], p + 1, k);
            stack[depth++][k] = '\0';
        }
        p = close + 1;
    }
    assert_int_equal(depth, 0);
    assert_int_equal(roots, 1);
}

static void test_svg(void **state)
{
    enum { R = 3, C = 4 };
    float v[R * C];
    for (int i = 0; i < R * C; i++)
        v[i] = (float)i / (R * C);
    v[5] = NAN;
    const char *rows[R] = {"2", "<b>", "x&y"};
    const char *cols[C] = {"\"q\"", "it's", "a", "\x01\xff"};
    assert_int_equal(attn_heatmap_svg(stf_at("h.svg"), v, R, C, rows, cols, NULL), ATTN_OK);
    char *s = read_file(stf_path);
    assert_int_equal(strncmp(s, "<svg", 4), 0);
    assert_xml(s);
    assert_int_equal(count_in(s, s + strlen(s), "<rect"), R * C);
    assert_non_null(strstr(s, ">2</text>"));
    assert_non_null(strstr(s, ">&lt;b&gt;</text>"));
    assert_non_null(strstr(s, ">x&amp;y</text>"));
    assert_non_null(strstr(s, ">&quot;q&quot;</text>"));
    assert_non_null(strstr(s, ">it&apos;s</text>"));
    assert_non_null(strstr(s, ">a</text>"));
    assert_non_null(strstr(s, ">?\?</text>")); /* control and invalid bytes */
    assert_non_null(strstr(s, "fill=\"#bbbbbb\"")); /* the NaN */
    assert_non_null(strstr(s, "fill=\"#440154\"")); /* the lowest value, 0 */
    assert_non_null(strstr(s, "<title>2 / it&apos;s: 0.08333</title>"));
    free(s);
}

static void test_svg_index_labels(void **state)
{
    float v[2 * 12] = {0};
    assert_int_equal(attn_heatmap_svg(stf_at("i.svg"), v, 2, 12, NULL, NULL, NULL), ATTN_OK);
    char *s = read_file(stf_path);
    assert_xml(s);
    assert_int_equal(count_in(s, s + strlen(s), "<rect"), 24);
    assert_non_null(strstr(s, ">11</text>"));
    assert_non_null(strstr(s, ">1</text>"));
    free(s);
}

static void test_svg_refusals(void **state)
{
    const float v[1] = {0};
    char *err = NULL;
    expect_refusal(attn_heatmap_svg(stf_at("none/x.svg"), v, 1, 1, NULL, NULL, &err), ATTN_ERR_IO, &err,
                   "none/x.svg");
    expect_refusal(attn_heatmap_svg(NULL, v, 1, 1, NULL, NULL, &err), ATTN_ERR_USAGE, &err, "attn_heatmap_svg");
    expect_refusal(attn_heatmap_svg(stf_at("y.svg"), v, 1, -1, NULL, NULL, &err), ATTN_ERR_USAGE, &err,
                   "attn_heatmap_svg");
    assert_int_equal(access(stf_path, F_OK), -1); /* nothing left behind */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),        cmocka_unit_test(test_text_cells),
        cmocka_unit_test(test_text_color),    cmocka_unit_test(test_text_labels),
        cmocka_unit_test(test_text_refusals), cmocka_unit_test(test_svg),
        cmocka_unit_test(test_svg_index_labels), cmocka_unit_test(test_svg_refusals),
    };
    return cmocka_run_group_tests(tests, stf_group_setup, stf_group_teardown);
}
