/*
 * version.c — attn_version() and attn_status_string() (attn.h).
 */
#include "attn.h"

#include <llvm-c/Core.h>
#include <llvm-c/TargetMachine.h>

#include <pthread.h>
#include <stdio.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static char version_text[256];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void make_version_text(void) {
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    char *triple = LLVMGetDefaultTargetTriple(), *cpu = LLVMGetHostCPUName();
    snprintf(version_text, sizeof version_text, "attn %s (LLVM %u.%u.%u, target %s %s)",
             STR(ATTN_VERSION_MAJOR) "." STR(ATTN_VERSION_MINOR) "." STR(ATTN_VERSION_PATCH), major, minor, patch,
             triple ? triple : "unknown", cpu ? cpu : "unknown");
    LLVMDisposeMessage(triple);
    LLVMDisposeMessage(cpu);
}

const char *attn_version(void) {
    pthread_once(&version_once, make_version_text);
    return version_text;
}

const char *attn_status_string(attn_status status) {
    switch (status) {
    case ATTN_OK: return "success";
    case ATTN_ERR_INPUT: return "invalid input (source, weights, shapes or tensors)";
    case ATTN_ERR_USAGE: return "API misuse";
    case ATTN_ERR_NOMEM: return "out of memory";
    case ATTN_ERR_IO: return "file could not be read or written";
    case ATTN_ERR_INTERNAL: return "internal error in attn";
    }
    return "unknown status";
}
