/*
 * gen_onnx.c — crafted .onnx files for the error table: each a small valid
 * model (one node) with one fault, written with a minimal protobuf encoder
 * (field numbers from onnx.proto), so the table needs no ONNX tooling.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gen_onnx.h"

typedef struct {
    uint8_t b[4096]; /* the largest model here is the nested one, about 1 KB */
    size_t n;
} Pb;

static void pb_varint(Pb *p, uint64_t v) {
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        p->b[p->n++] = byte | (v ? 0x80 : 0);
    } while (v);
}

static void pb_int(Pb *p, int field, int64_t v) {
    pb_varint(p, (uint64_t)field << 3);
    pb_varint(p, (uint64_t)v);
}

static void pb_bytes(Pb *p, int field, const void *d, size_t n) {
    pb_varint(p, ((uint64_t)field << 3) | 2);
    pb_varint(p, n);
    memcpy(p->b + p->n, d, n);
    p->n += n;
}

static void pb_str(Pb *p, int field, const char *s) { pb_bytes(p, field, s, strlen(s)); }
static void pb_msg(Pb *p, int field, const Pb *m) { pb_bytes(p, field, m->b, m->n); }

/* ValueInfoProto: a FLOAT tensor of shape [2, 2] */
static void value_info(Pb *out, int field, const char *name) {
    Pb dim = {0}, shape = {0}, tensor = {0}, type = {0}, vi = {0};
    pb_int(&dim, 1, 2);
    pb_msg(&shape, 1, &dim);
    pb_msg(&shape, 1, &dim);
    pb_int(&tensor, 1, 1);
    pb_msg(&tensor, 2, &shape);
    pb_msg(&type, 1, &tensor);
    pb_str(&vi, 1, name);
    pb_msg(&vi, 2, &type);
    pb_msg(out, field, &vi);
}

/* NodeProto: op x [, w] -> y, named "/block/node" */
static void node(Pb *out, const char *op, bool two_inputs, const Pb *attr) {
    Pb n = {0};
    pb_str(&n, 1, "x");
    if (two_inputs)
        pb_str(&n, 1, "w");
    pb_str(&n, 2, "y");
    pb_str(&n, 3, "/block/node");
    pb_str(&n, 4, op);
    if (attr)
        pb_msg(&n, 5, attr);
    pb_msg(out, 1, &n);
}

/* ModelProto around graph g at the given opset */
static void model(Pb *out, const Pb *g, int64_t opset) {
    Pb o = {0};
    pb_int(&o, 2, opset);
    pb_int(out, 1, 8);
    pb_str(out, 2, "error_table");
    pb_msg(out, 7, g);
    pb_msg(out, 8, &o);
}

static int write_pb(const char *dir, const char *file, const Pb *p) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "wb");
    int bad = !f || fwrite(p->b, 1, p->n, f) != p->n;
    if ((f && fclose(f)) || bad) {
        fprintf(stderr, "error_table: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* A graph x, w -> op -> y with initializer w (FLOAT [2, 2]) given by `init`. */
static int gen_model(const char *dir, const char *file, const char *op, const Pb *init, const Pb *attr,
                     int64_t opset) {
    Pb g = {0}, m = {0};
    node(&g, op, init != NULL, attr);
    pb_str(&g, 2, "g");
    if (init)
        pb_msg(&g, 5, init);
    value_info(&g, 11, "x");
    value_info(&g, 12, "y");
    model(&m, &g, opset);
    return write_pb(dir, file, &m);
}

/* TensorProto w: FLOAT [2, 2] */
static void weight_header(Pb *t) {
    pb_int(t, 1, 2);
    pb_int(t, 1, 2);
    pb_int(t, 2, 1);
    pb_str(t, 8, "w");
}

static void external(Pb *t, const char *location) {
    Pb e = {0};
    pb_str(&e, 1, "location");
    pb_str(&e, 2, location);
    pb_msg(t, 13, &e);
    pb_int(t, 14, 1);
}

/* Graphs nested through If's then_branch attribute, `depth` deep. */
static void nested(Pb *out, int depth) {
    Pb g = {0};
    if (depth > 0) {
        Pb attr = {0}, inner = {0}, n = {0};
        nested(&inner, depth - 1);
        pb_str(&attr, 1, "then_branch");
        pb_msg(&attr, 6, &inner);
        pb_int(&attr, 20, 5);
        pb_str(&n, 4, "If");
        pb_msg(&n, 5, &attr);
        pb_msg(&g, 1, &n);
    }
    *out = g;
}

/* TensorProto `name`: INT64 [1] holding v (raw little-endian data) */
static void int64_init(Pb *g, const char *name, int64_t v) {
    Pb t = {0};
    uint8_t raw[8];
    for (int i = 0; i < 8; i++)
        raw[i] = (uint8_t)((uint64_t)v >> (8 * i));
    pb_int(&t, 1, 1);
    pb_int(&t, 2, 7);
    pb_str(&t, 8, name);
    pb_bytes(&t, 9, raw, sizeof raw);
    pb_msg(g, 5, &t);
}

/* Slice(x, starts, ends, axes, steps) with a step of 0 (opset 13: bounds as inputs) */
static int gen_slice_step_zero(const char *dir) {
    static const char *const ins[] = {"x", "starts", "ends", "axes", "steps"};
    static const int64_t vals[] = {0, 2, 0, 0};
    Pb g = {0}, n = {0}, m = {0};
    for (int i = 0; i < 5; i++)
        pb_str(&n, 1, ins[i]);
    pb_str(&n, 2, "y");
    pb_str(&n, 3, "/block/node");
    pb_str(&n, 4, "Slice");
    pb_msg(&g, 1, &n);
    pb_str(&g, 2, "g");
    for (int i = 1; i < 5; i++)
        int64_init(&g, ins[i], vals[i - 1]);
    value_info(&g, 11, "x");
    value_info(&g, 12, "y");
    model(&m, &g, 13);
    return write_pb(dir, "onnx_slice_step_zero.onnx", &m);
}

int gen_onnx_files(const char *dir) {
    static Pb bad_raw, ext_up, ext_link, attr_bad, attr_graph, deep, m;
    float four[4] = {1, 2, 3, 4};
    int rc = 0;
    rc |= gen_model(dir, "onnx_unknown_op.onnx", "FancyOp", NULL, NULL, 14);
    rc |= gen_model(dir, "onnx_opset19.onnx", "Relu", NULL, NULL, 19);
    rc |= gen_slice_step_zero(dir);
    weight_header(&bad_raw);
    pb_bytes(&bad_raw, 9, four, 3); /* 3 bytes for 4 floats */
    rc |= gen_model(dir, "onnx_raw_data_short.onnx", "Add", &bad_raw, NULL, 14);
    weight_header(&ext_up);
    external(&ext_up, "../weights.bin");
    rc |= gen_model(dir, "onnx_external_up.onnx", "Add", &ext_up, NULL, 14);
    weight_header(&ext_link);
    external(&ext_link, "onnx_link.bin");
    rc |= gen_model(dir, "onnx_external_link.onnx", "Add", &ext_link, NULL, 14);
    char link[PATH_MAX];
    snprintf(link, sizeof link, "%s/onnx_link.bin", dir);
    if (symlink("/etc/hostname", link) && errno != EEXIST) {
        fprintf(stderr, "error_table: cannot create %s: %s\n", link, strerror(errno));
        rc = -1;
    }
    pb_str(&attr_bad, 1, "temperature");
    pb_int(&attr_bad, 3, 2);
    pb_int(&attr_bad, 20, 2);
    rc |= gen_model(dir, "onnx_unknown_attr.onnx", "Softmax", NULL, &attr_bad, 14);
    Pb sub = {0};
    pb_str(&attr_graph, 1, "body");
    pb_msg(&attr_graph, 6, &sub);
    pb_int(&attr_graph, 20, 5);
    rc |= gen_model(dir, "onnx_subgraph.onnx", "Relu", NULL, &attr_graph, 14);
    nested(&deep, 40); /* deeper than ATTN_LIMIT_ONNX_NESTING */
    model(&m, &deep, 14);
    rc |= write_pb(dir, "onnx_nested.onnx", &m);
    static const char garbage[] = "this is not a protobuf \xff\xff\xff";
    Pb g = {0};
    memcpy(g.b, garbage, sizeof garbage - 1);
    g.n = sizeof garbage - 1;
    rc |= write_pb(dir, "onnx_garbage.onnx", &g);
    return rc;
}
