/*
 * test_safetensors.c — unit tests of the safetensors reader and writer.
 *
 * Round trips go through st_write, st_open and st_convert. Everything else is
 * a file crafted byte by byte (st_testfiles.h) to break one rule of the format;
 * each test checks that st_open refuses it with a message that starts with the
 * path and says what is wrong. Run under ASan/UBSan these also show that the
 * reader neither reads out of bounds nor trips on unaligned data.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "safetensors.h"
#include "st_testfiles.h"

static char err[1024];  /* the last message */

/* Asserts that opening p fails with a message "p: ...want...". */
static void expect_refused_path(const char *p, const char *want)
{
    err[0] = '\0';
    StFile *f = st_open(p, err, sizeof err);
    if (f)
        st_close(f);
    assert_null(f);
    assert_int_equal(strncmp(err, p, strlen(p)), 0);
    assert_int_equal(err[strlen(p)], ':');
    if (!strstr(err, want))
        fail_msg("message \"%s\" lacks \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

/* Asserts that a file with header `json` and ndata data bytes is refused. */
static void expect_refused(const char *json, const void *data, size_t ndata, const char *want)
{
    assert_int_equal(stf_write_json(stf_at("bad.safetensors"), json, data, ndata), 0);
    expect_refused_path(stf_path, want);
}

/* Opens a file with header `json` and the data, which must succeed. */
static StFile *open_json(const char *json, const void *data, size_t ndata)
{
    assert_int_equal(stf_write_json(stf_at("ok.safetensors"), json, data, ndata), 0);
    StFile *f = st_open(stf_path, err, sizeof err);
    if (!f)
        fail_msg("%s", err);
    return f;
}

/* Number of files in stf_dir that look like st_write's temporaries ("x.safetensors.AbC123"). */
static int leftover_temps(void)
{
    DIR *d = opendir(stf_dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, ".safetensors.") != NULL;
    if (d)
        closedir(d);
    return n;
}

/* ---- round trips -------------------------------------------------------- */

static void test_round_trip(void **state)
{
    float w[6] = {1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -0.0f};
    int64_t ids[4] = {0, -1, INT64_MAX, INT64_MIN};
    int32_t small[4] = {7, -7, INT32_MAX, INT32_MIN};
    uint8_t mask[3] = {1, 0, 1};
    attn_tensor ts[4] = {
        {.name = "layer.0.weight", .dtype = ATTN_F32, .rank = 2, .shape = {2, 3}, .data = w},
        {.name = "ids", .dtype = ATTN_I64, .rank = 1, .shape = {4}, .data = ids},
        {.name = "small", .dtype = ATTN_I32, .rank = 2, .shape = {2, 2}, .data = small},
        {.name = "mask", .dtype = ATTN_BOOL, .rank = 1, .shape = {3}, .data = mask},
    };
    assert_int_equal(st_write(stf_at("rt.safetensors"), ts, 4, err, sizeof err), 0);
    StFile *f = st_open(stf_path, err, sizeof err);
    assert_non_null(f);
    assert_int_equal(st_count(f), 4);
    static const StDtype want_st[4] = {ST_F32, ST_I64, ST_I32, ST_BOOL};
    for (int i = 0; i < 4; i++) {
        const StTensor *t = st_find(f, ts[i].name);
        assert_ptr_equal(t, st_tensor(f, i)); /* data offsets follow the order written */
        assert_string_equal(t->name, ts[i].name);
        assert_int_equal(t->dtype, want_st[i]);
        assert_int_equal(t->rank, ts[i].rank);
        assert_memory_equal(t->shape, ts[i].shape, sizeof(int64_t) * (size_t)t->rank);
        void *out;
        assert_int_equal(st_convert(t, ts[i].dtype, &out, err, sizeof err), 0);
        assert_memory_equal(out, ts[i].data, t->nbytes);
        free(out);
    }
    assert_null(st_find(f, "nope"));
    assert_null(st_tensor(f, 4));
    st_close(f);
}

static void test_header_padded(void **state)
{
    float x = 1;
    attn_tensor t = {.name = "abc", .dtype = ATTN_F32, .rank = 0, .data = &x};
    assert_int_equal(st_write(stf_at("pad.safetensors"), &t, 1, err, sizeof err), 0);
    FILE *fp = fopen(stf_path, "rb");
    unsigned char buf[256];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | buf[i];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(n, 8 + hlen + 4);
    assert_int_equal(buf[8], '{');
    assert_int_equal(buf[8 + hlen - 1] == '}' || buf[8 + hlen - 1] == ' ', 1);
}

static void test_write_refusals(void **state)
{
    float x = 1;
    attn_tensor ts[2] = {
        {.name = "a", .dtype = ATTN_F32, .rank = 0, .data = &x},
        {.name = "a", .dtype = ATTN_F32, .rank = 0, .data = &x},
    };
    assert_int_equal(st_write(stf_at("dup.safetensors"), ts, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "duplicate key \"a\""));
    struct stat sb;
    assert_int_not_equal(stat(stf_path, &sb), 0); /* nothing left behind */
    ts[1].name = "__metadata__";
    assert_int_equal(st_write(stf_path, ts, 2, err, sizeof err), -1);
    ts[1].name = "b";
    ts[1].rank = 1;
    ts[1].shape[0] = -2;
    assert_int_equal(st_write(stf_path, ts, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "dimension 0 is -2"));
    assert_int_equal(st_write("/nonexistent/dir/x.safetensors", ts, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/dir/x.safetensors: cannot create"));
    assert_int_equal(leftover_temps(), 0);
}

/* ---- conversions -------------------------------------------------------- */

/* Converts n values of a one-dim tensor of `dtype` with element size es to `want`. */
static void *convert(const char *dtype, size_t es, const void *data, size_t n, attn_dtype want, int ok)
{
    char json[256];
    snprintf(json, sizeof json, "{\"t\":{\"dtype\":\"%s\",\"shape\":[%zu],\"data_offsets\":[0,%zu]}}",
             dtype, n, n * es);
    StFile *f = open_json(json, data, n * es);
    void *out = NULL;
    int rc = st_convert(st_find(f, "t"), want, &out, err, sizeof err);
    st_close(f);
    assert_int_equal(rc, ok ? 0 : -1);
    if (!ok)
        assert_int_equal(strncmp(err, "t: ", 3), 0);
    return out;
}

static void assert_same_float(float got, double want)
{
    if (isnan(want)) {
        assert_true(isnan(got));
        return;
    }
    if (got != (float)want || !signbit(got) != !signbit(want))
        fail_msg("got %a, want %a", (double)got, want);
}

static void test_f16(void **state)
{
    static const uint16_t h[] = {0x0000, 0x8000, 0x3C00, 0xC000, 0x0001, 0x03FF, 0x8200,
                                 0x0400, 0x7BFF, 0x3555, 0x7C00, 0xFC00, 0x7E00, 0xFD01};
    const double want[] = {0.0, -0.0, 1.0, -2.0, ldexp(1, -24), ldexp(1023, -24), -ldexp(512, -24),
                           ldexp(1, -14), 65504.0, 0.333251953125, INFINITY, -INFINITY, NAN, NAN};
    size_t n = sizeof h / sizeof h[0];
    float *out = convert("F16", 2, h, n, ATTN_F32, 1);
    for (size_t i = 0; i < n; i++)
        assert_same_float(out[i], want[i]);
    free(out);
}

static void test_bf16(void **state)
{
    static const uint16_t h[] = {0x0000, 0x8000, 0x3F80, 0x4049, 0x0001, 0x807F, 0x7F80, 0xFF80,
                                 0x7FC0, 0x7F7F};
    size_t n = sizeof h / sizeof h[0];
    uint32_t *out = convert("BF16", 2, h, n, ATTN_F32, 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(out[i], (uint32_t)h[i] << 16); /* bit-exact, subnormals and nan included */
    assert_same_float(((float *)out)[3], 3.140625);
    free(out);
}

static void test_f64(void **state)
{
    double d[] = {1.5, -0.0, 1e-3, INFINITY, 3.4028234663852886e38};
    float *out = convert("F64", 8, d, 5, ATTN_F32, 1);
    for (int i = 0; i < 5; i++)
        assert_same_float(out[i], (float)d[i]);
    free(out);
    double big[] = {0, 1e300};
    assert_null(convert("F64", 8, big, 2, ATTN_F32, 0));
    assert_non_null(strstr(err, "value 1e+300 at element 1 does not fit F32"));
}

static void test_ints(void **state)
{
    int8_t i8[] = {-128, 127};
    int64_t *w = convert("I8", 1, i8, 2, ATTN_I64, 1);
    assert_int_equal(w[0], -128);
    free(w);
    uint32_t u32[] = {0, 4000000000u};
    w = convert("U32", 4, u32, 2, ATTN_I64, 1);
    assert_int_equal(w[1], 4000000000);
    free(w);
    assert_null(convert("U32", 4, u32, 2, ATTN_I32, 0));
    assert_non_null(strstr(err, "value 4000000000 at element 1 does not fit I32"));
    uint64_t u64[] = {5, UINT64_MAX};
    assert_null(convert("U64", 8, u64, 2, ATTN_I64, 0));
    assert_non_null(strstr(err, "value 18446744073709551615 at element 1 does not fit I64"));
    int64_t i64[] = {-2147483648LL, 3000000000LL};
    assert_null(convert("I64", 8, i64, 2, ATTN_I32, 0));
    assert_non_null(strstr(err, "value 3000000000 at element 1 does not fit I32"));
    int32_t *s = convert("I64", 8, i64, 1, ATTN_I32, 1);
    assert_int_equal(s[0], INT32_MIN);
    free(s);
}

static void test_bool(void **state)
{
    uint8_t ok[] = {0, 1, 1}, bad[] = {0, 2};
    uint8_t *b = convert("U8", 1, ok, 3, ATTN_BOOL, 1);
    assert_memory_equal(b, ok, 3);
    free(b);
    assert_null(convert("BOOL", 1, bad, 2, ATTN_BOOL, 0));
    assert_non_null(strstr(err, "value 2 at element 1 is not 0 or 1"));
    assert_null(convert("BOOL", 1, ok, 3, ATTN_I64, 0));
    assert_non_null(strstr(err, "cannot convert BOOL to I64"));
    assert_null(convert("F32", 4, ok, 0, ATTN_I32, 0));
    assert_non_null(strstr(err, "cannot convert F32 to I32"));
}

static void test_unaligned(void **state)
{
    unsigned char data[17] = {9};
    float fv[2] = {1.25f, -3.5f};
    int64_t iv = -123456789012345LL;
    memcpy(data + 1, fv, 8);
    memcpy(data + 9, &iv, 8);
    StFile *f = open_json("{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
                          "\"f\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]},"
                          "\"i\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[9,17]}}",
                          data, sizeof data);
    const StTensor *t = st_find(f, "f");
    float *fo;
    int64_t *io;
    assert_int_equal(st_convert(t, ATTN_F32, (void **)&fo, err, sizeof err), 0);
    assert_memory_equal(fo, fv, 8);
    assert_int_equal(st_convert(st_find(f, "i"), ATTN_I64, (void **)&io, err, sizeof err), 0);
    assert_int_equal(*io, iv);
    free(io);
    assert_int_equal(st_convert(st_find(f, "i"), ATTN_I32, (void **)&io, err, sizeof err), -1);
    free(fo);
    st_close(f);
}

/* ---- accepted edge cases ------------------------------------------------ */

static void test_metadata_ignored(void **state)
{
    float x = 2;
    StFile *f = open_json("{\"__metadata__\":{\"format\":\"pt\",\"x\":\"\\u00e9\"},"
                          "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}    ",
                          &x, 4);
    assert_int_equal(st_count(f), 1);
    assert_null(st_find(f, "__metadata__"));
    assert_string_equal(st_tensor(f, 0)->name, "w");
    st_close(f);
    expect_refused("{\"__metadata__\":{\"n\":1}}", NULL, 0, "__metadata__ value \"n\" is not a string");
    expect_refused("{\"__metadata__\":[]}", NULL, 0, "__metadata__ is not an object");
}

static void test_rank0_and_empty(void **state)
{
    float x = 4.5f;
    StFile *f = open_json("{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                          "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                          "\"z\":{\"dtype\":\"I64\",\"shape\":[3,0,9007199254740992],"
                          "\"data_offsets\":[4,4]}}",
                          &x, 4);
    assert_int_equal(st_count(f), 3);
    assert_string_equal(st_tensor(f, 0)->name, "e");
    const StTensor *s = st_find(f, "s"), *e = st_find(f, "e");
    assert_int_equal(s->rank, 0);
    assert_int_equal(e->nbytes, 0);
    float *out;
    assert_int_equal(st_convert(s, ATTN_F32, (void **)&out, err, sizeof err), 0);
    assert_true(*out == 4.5f);
    free(out);
    assert_int_equal(st_convert(e, ATTN_F32, (void **)&out, err, sizeof err), 0);
    assert_non_null(out);
    free(out);
    st_close(f);
    f = open_json("{}", NULL, 0);
    assert_int_equal(st_count(f), 0);
    st_close(f);
}

/* ---- refused files ------------------------------------------------------ */

static void test_header_length(void **state)
{
    const char *json = "{}                  ";
    assert_int_equal(stf_write_raw(stf_at("long.safetensors"), 1000, json, 20, NULL, 0), 0);
    expect_refused_path(stf_path, "header length 1000 exceeds file size 28");
    assert_int_equal(stf_write_raw(stf_path, 123456789012345ULL, json, 20, NULL, 0), 0);
    expect_refused_path(stf_path, "header length 123456789012345 exceeds file size 28");
}

static void test_header_limit(void **state)
{
    uint64_t n = ATTN_LIMIT_ST_HEADER_BYTES + 1;
    assert_int_equal(stf_write_raw(stf_at("huge.safetensors"), n, "{", 1, NULL, 0), 0);
    assert_int_equal(truncate(stf_path, (off_t)(8 + n + 8)), 0); /* sparse: costs no disk */
    expect_refused_path(stf_path, "header length 100000001 exceeds the limit of 100000000 bytes");
    unlink(stf_path);
}

static void test_bad_header_text(void **state)
{
    expect_refused("{\"\xff\":1}", NULL, 0, "header is not valid UTF-8 (byte 2)");
    expect_refused("{\"\xc0\x80\":1}", NULL, 0, "not valid UTF-8");    /* overlong NUL */
    expect_refused("{\"\xed\xa0\x80\":1}", NULL, 0, "not valid UTF-8"); /* surrogate */
    expect_refused("{\x01}", NULL, 0, "control byte 0x01 at byte 1");
    expect_refused("{\"a\": ", NULL, 0, "header is not valid JSON");
    expect_refused("{} {}", NULL, 0, "header is not valid JSON");
    expect_refused("[]", NULL, 0, "header is not a JSON object");
    expect_refused("\"x\"", NULL, 0, "header is not a JSON object");
    assert_int_equal(stf_write_raw(stf_at("nul.safetensors"), 3, "{}\0", 3, NULL, 0), 0);
    expect_refused_path(stf_path, "control byte 0x00 at byte 2");
}

static void test_duplicate_keys(void **state)
{
    float x[2] = {0};
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   x, 8, "duplicate key \"a\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                   x, 4, "\"a\": duplicate member \"dtype\"");
}

static void test_bad_entries(void **state)
{
    float x[4] = {0};
    expect_refused("{\"a\":5}", NULL, 0, "\"a\": entry is not an object");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", x, 4, "\"a\": missing \"data_offsets\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", x, 4,
                   "\"a\": unexpected member \"x\"");
    expect_refused("{\"a\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,4]}}", x, 4,
                   "\"a\": unknown dtype \"F8\"");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", x, 4,
                   "data_offsets is not an array [begin, end]");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                   x, 4, "\"a\": rank 9 exceeds the maximum 8");
}

/* Arrays and nesting are bounded before the JSON tree is built: a header of
 * one huge shape array costs its bytes, not a tree node per item. */
static void test_header_json_bounded(void **state)
{
    (void)state;
    float x = 0;
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                   &x, 4, "header has a JSON array of more than 16 items at byte 60 (ATTN_LIMIT_ST_JSON_ARRAY)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[[[1]]],\"data_offsets\":[0,4]}}", &x, 4,
                   "header nests JSON more than 4 deep at byte 30 (ATTN_LIMIT_ST_JSON_DEPTH)");
    /* brackets and commas inside strings are text */
    StFile *f = open_json("{\"__metadata__\":{\"n\":\"[[[[,,,,,,,,,,,,,,,,,,,,\\\"]]\"},"
                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", &x, 4);
    assert_non_null(f);
    st_close(f);
}

static void test_bad_dims(void **state)
{
    float x[4] = {0};
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", x, 4,
                   "\"a\": dimension 0 is negative (-1)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", x, 4,
                   "\"a\": dimension 1 is not an integer (1.5)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", x, 4,
                   "dimension 0 is not a number");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740994],\"data_offsets\":[0,4]}}",
                   x, 4, "dimension 0 is larger than 2^53");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1e999],\"data_offsets\":[0,4]}}", x, 4,
                   "larger than 2^53 (inf)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                   "\"data_offsets\":[0,4]}}",
                   x, 4, "\"a\": size of shape [4294967296, 4294967296] of F32 overflows 64 bits");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", x, 8,
                   "\"a\": shape [3] of F32 needs 12 bytes but data_offsets span 8");
}

static void test_bad_offsets(void **state)
{
    float x[4] = {0};
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,100]}}", x, 8,
                   "\"a\": data_offsets end 100 exceeds the data section size 8");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", x, 8,
                   "\"a\": data_offsets begin 8 > end 4");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4]}}", x, 8,
                   "data_offsets begin is not an integer");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                   x, 12, "\"b\" (bytes 4..12) overlaps \"a\" (bytes 0..8)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]}}",
                   x, 8, "\"b\" (bytes 4..4) overlaps \"a\" (bytes 0..8)");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                   x, 12, "bytes 4..8 of the data section belong to no tensor");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", x, 16,
                   "bytes 4..16 of the data section belong to no tensor");
}

static void test_truncated(void **state)
{
    float x[4] = {0};
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", x, 11,
                   "data_offsets end 16 exceeds the data section size 11");
    expect_refused_path("/nonexistent.safetensors", "cannot open: No such file or directory");
    assert_int_equal(stf_write_raw(stf_at("short.safetensors"), 0, NULL, 0, NULL, 0), 0);
    assert_int_equal(truncate(stf_path, 5), 0);
    expect_refused_path(stf_path, "file is 5 bytes, too short for the 8-byte header length");
    assert_int_equal(truncate(stf_path, 0), 0);
    expect_refused_path(stf_path, "file is empty");
}

static void test_not_a_file(void **state)
{
    expect_refused_path(stf_dir, "is a directory");
    assert_int_equal(mkfifo(stf_at("fifo"), 0600), 0);
    expect_refused_path(stf_path, "is not a regular file");
    unlink(stf_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),     cmocka_unit_test(test_header_padded),
        cmocka_unit_test(test_write_refusals), cmocka_unit_test(test_f16),
        cmocka_unit_test(test_bf16),           cmocka_unit_test(test_f64),
        cmocka_unit_test(test_ints),           cmocka_unit_test(test_bool),
        cmocka_unit_test(test_unaligned),      cmocka_unit_test(test_metadata_ignored),
        cmocka_unit_test(test_rank0_and_empty), cmocka_unit_test(test_header_length),
        cmocka_unit_test(test_header_limit),   cmocka_unit_test(test_bad_header_text),
        cmocka_unit_test(test_duplicate_keys), cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_bad_dims),
        cmocka_unit_test(test_header_json_bounded),
        cmocka_unit_test(test_bad_offsets),
        cmocka_unit_test(test_truncated),      cmocka_unit_test(test_not_a_file),
    };
    return cmocka_run_group_tests(tests, stf_group_setup, stf_group_teardown);
}
