/*
 * fuzz_onnx.c — bytes as an .onnx file: imported from memory (so external
 * data is refused), and when the import succeeds, its source loaded and
 * checked as a model and its weights bound, as attnc import's output would
 * be. Every failure must come with a message and leave nothing behind.
 */
#include "attn.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attn_onnx_import *r = NULL;
    char *err = NULL;
    attn_status s = attn_import_onnx_memory(data, size, "fuzz.onnx", NULL, 0, &r, &err);
    if (s != ATTN_OK) {
        if (r || !err || strncmp(err, "fuzz.onnx: ", 11) != 0)
            abort(); /* a failure says why, naming the file, and gives nothing */
        attn_string_free(err);
        return 0;
    }
    if (err || !r || !r->source || r->ninputs < 0 || r->noutputs < 1)
        abort();
    attn_model *m = attn_model_new();
    if (!m)
        abort();
    if (attn_model_load_source(m, "fuzz.onnx.attn", r->source) == ATTN_OK)
        for (int i = 0; i < r->nweights; i++)
            if (attn_model_bind_tensor(m, &r->weights[i]) != ATTN_OK)
                break;
    if (attn_model_errors(m) == NULL)
        abort();
    attn_model_free(m);
    attn_onnx_import_free(r);
    return 0;
}
