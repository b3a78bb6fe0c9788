// OpenBLAS picks its kernels at load time from the CPU model. A release older than the CPU does not
// know the model and falls back to its oldest x86-64 kernels ("Prescott", SSE3): Debian 12's
// OpenBLAS 0.3.21 on a Sapphire Rapids or newer Xeon runs SGEMM at ~30 GFLOP/s where its own
// SkylakeX kernels reach ~160 on one core (results/training-speed/cpu.txt). Setting
// OPENBLAS_CORETYPE fixes it, but only before the library loads; OpenBLAS's dynamic-architecture
// builds export the selection itself, so it is redone here, once, at load (before main).
//
// The symbols are weak: with a BLAS that is not a dynamic-architecture OpenBLAS they are absent and
// nothing changes. A core the user chose with OPENBLAS_CORETYPE is never overridden, and only the
// generic fallbacks are replaced, by the newest kernel set whose instructions the CPU has.
#define _GNU_SOURCE
#include "CKernels.h"
#include <stdlib.h>
#include <string.h>

extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

const char *sb_blas_core(void) { return openblas_get_corename ? openblas_get_corename() : "unknown"; }

/// Where OpenBLAS fell back to its generic kernels, re-selects the newest set the CPU runs; returns
/// what OpenBLAS then selected, or NULL when nothing changed.
static const char *fix_core(void) {
#if defined(__x86_64__) && defined(__linux__)
    // STRAWBERRY_BLAS_AS_DETECTED=1 keeps OpenBLAS's own choice (to measure what it costs).
    const char *keep = getenv("STRAWBERRY_BLAS_AS_DETECTED");
    if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit || getenv("OPENBLAS_CORETYPE") || (keep && keep[0] == '1')) return NULL;
    static const char *fallbacks[] = {"Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "Sandybridge"};
    const char *now = openblas_get_corename(), *target = NULL;
    int generic = 0;
    for (size_t i = 0; i < sizeof fallbacks / sizeof *fallbacks; i++) generic |= now && strcmp(now, fallbacks[i]) == 0;
    if (!generic) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512cd")) target = "SkylakeX";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) target = "Haswell";
    if (!target) return NULL;
    setenv("OPENBLAS_CORETYPE", target, 1);
    gotoblas_dynamic_quit();
    gotoblas_dynamic_init();
    unsetenv("OPENBLAS_CORETYPE");  // child processes (the PyTorch peers) detect for themselves
    return openblas_get_corename();  // what OpenBLAS actually selected
#else
    return NULL;
#endif
}

// Done before main: OpenBLAS (a shared library) has run its own initialisation by then, and the
// process is still single-threaded, so setenv and the moment with no kernel table selected are safe.
__attribute__((constructor)) static void fix_core_at_load(void) { (void)fix_core(); }
