// The thread pool every parallel kernel runs on: `sb_parallel_for` hands out chunks of a job to
// the calling thread and to threads-1 persistent workers, first come first served.
//
// Why chunks claimed from a shared counter instead of a fixed split: on a machine that is busy
// with other processes a worker may not be running when a job is posted. The caller then claims
// every chunk itself and returns without waiting for it; it only ever waits for chunks a worker
// has actually started. With a fixed half-and-half split the caller spun until a descheduled
// worker came back, and a 2-core machine with two other busy processes ran 12× slower.
//
// Why waits end in a futex sleep: spinning keeps a hand-off within microseconds while the machine
// is ours (decode posts about a hundred jobs per token), but a spinning thread on an
// oversubscribed machine burns the time slice the thread it waits for needs. Every wait spins
// briefly, then sleeps in the kernel.
#define _GNU_SOURCE
#include "CKernels.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
static void futex_wait(atomic_int *addr, int expected) {
    syscall(SYS_futex, (int *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}
static void futex_wake_all(atomic_int *addr) { syscall(SYS_futex, (int *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0); }
#else
static void futex_wait(atomic_int *addr, int expected) { (void)addr; (void)expected; sched_yield(); }
static void futex_wake_all(atomic_int *addr) { (void)addr; }
#endif

enum { MAX_THREADS = 1024, SPINS = 4000 };

// A job lives in one of two slots chosen by its generation's parity: a worker that read
// generation g can still be looking at slot g&1 while the caller writes g+1 into the other one,
// and the caller cannot post g+2 before that worker has left (it waits for `active` to reach 0).
// `workers` is how many workers may take part (the thread count when the job was posted, minus
// the caller): workers started for a larger count earlier sit this job out.
typedef struct { sb_task_fn fn; void *ctx; int64_t chunks; int workers; } job_slot;
static job_slot slots[2];
// (generation << 32) | next chunk index; chunks are claimed by compare-and-swap so a worker
// holding an old generation can never claim a chunk of a newer job.
static atomic_ullong counter = 0;
static atomic_int posted = 0;        // generation, as a futex word for sleeping workers
static atomic_int active = 0;        // threads inside a job (workers only)
static atomic_int sleepers = 0;
static atomic_int caller_waiting = 0;

static int threads_wanted = 0;       // 0: not set yet, use sb_available_cpus()
static int workers_started = 0, create_failed = 0;
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
// Jobs are posted one at a time: callers on different threads queue here.
static pthread_mutex_t call_mu = PTHREAD_MUTEX_INITIALIZER;

static void run_chunks(unsigned gen) {
    const job_slot *j = &slots[gen & 1];
    for (;;) {
        unsigned long long c = atomic_load(&counter);
        if ((unsigned)(c >> 32) != gen) return;
        int64_t i = (int64_t)(c & 0xffffffffULL);
        if (i >= j->chunks) return;
        if (atomic_compare_exchange_weak(&counter, &c, c + 1)) j->fn(j->ctx, i);
    }
}

// Set on workers, and on a caller while its job runs: a kernel that calls sb_parallel_for from
// inside a chunk runs its inner loop serially instead of waiting on a pool that is busy with it.
static __thread int inside_pool = 0;

static void *worker_main(void *arg) {
    const int index = (int)(intptr_t)arg;
    inside_pool = 1;
    int seen = atomic_load(&posted);
    for (;;) {
        int spins = 0;
        while (atomic_load(&posted) == seen) {
            if (++spins < SPINS) { cpu_relax(); continue; }
            atomic_fetch_add(&sleepers, 1);
            while (atomic_load(&posted) == seen) futex_wait(&posted, seen);
            atomic_fetch_sub(&sleepers, 1);
        }
        atomic_fetch_add(&active, 1);
        unsigned long long c = atomic_load(&counter);
        unsigned gen = (unsigned)(c >> 32);
        seen = (int)gen;
        if (index < slots[gen & 1].workers) run_chunks(gen);
        if (atomic_fetch_sub(&active, 1) == 1 && atomic_load(&caller_waiting)) futex_wake_all(&active);
    }
    return 0;
}

// CPUs this process may use: its affinity mask, capped by a cgroup v2 CPU quota (containers).
int sb_available_cpus(void) {
    int n = 1;
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
    else n = (int)sysconf(_SC_NPROCESSORS_ONLN);
    // cgroup v2: "QUOTA PERIOD" or "max PERIOD"; cgroup v1: two files, quota -1 when unlimited.
    long quota = -1, period = 0;
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    if (f) {
        char q[32] = {0};
        if (fscanf(f, "%31s %ld", q, &period) == 2 && strcmp(q, "max") != 0) quota = atol(q);
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) {
        if (fscanf(f, "%ld", &quota) != 1) quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%ld", &period) != 1) period = 0;
            fclose(f);
        }
    }
    if (quota > 0 && period > 0) {
        long cap = (quota + period - 1) / period;
        if (cap >= 1 && cap < n) n = (int)cap;
    }
#else
    n = (int)sysconf(_SC_NPROCESSORS_ONLN);
#endif
    if (n < 1) n = 1;
    if (n > MAX_THREADS) n = MAX_THREADS;
    return n;
}

void sb_set_threads(int n) {
    pthread_mutex_lock(&start_mu);
    threads_wanted = n < 1 ? 1 : (n > MAX_THREADS ? MAX_THREADS : n);
    pthread_mutex_unlock(&start_mu);
}

int sb_threads(void) {
    pthread_mutex_lock(&start_mu);
    if (threads_wanted == 0) threads_wanted = sb_available_cpus();
    int n = threads_wanted;
    pthread_mutex_unlock(&start_mu);
    return n;
}

// Workers are started on first use and never stopped; after the thread count is lowered, the
// extra ones wake for each job but take no part in it (job_slot.workers).
static int ensure_workers(int want) {
    pthread_mutex_lock(&start_mu);
    // A failed pthread_create is not retried on every call: the pool stays at the workers it has.
    while (workers_started < want && !create_failed) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int ok = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)workers_started) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) { create_failed = 1; break; }
        workers_started++;
    }
    int n = workers_started;
    pthread_mutex_unlock(&start_mu);
    return n;
}

static unsigned generation = 0;

void sb_parallel_for(int64_t chunks, sb_task_fn fn, void *ctx) {
    if (chunks <= 0) return;
    int threads = sb_threads(), workers = 0;
    // The chunk index has 32 bits in the counter; no caller comes near, but a larger job runs serially.
    if (inside_pool || threads < 2 || chunks == 1 || chunks > 0x7fffffff || (workers = ensure_workers(threads - 1)) == 0) {
        for (int64_t i = 0; i < chunks; i++) fn(ctx, i);
        return;
    }
    if (workers > threads - 1) workers = threads - 1;
    pthread_mutex_lock(&call_mu);
    inside_pool = 1;
    unsigned gen = ++generation;
    slots[gen & 1] = (job_slot){fn, ctx, chunks, workers};
    atomic_store(&counter, (unsigned long long)gen << 32);
    atomic_store(&posted, (int)gen);
    if (atomic_load(&sleepers) > 0) futex_wake_all(&posted);
    run_chunks(gen);
    // Only chunks a worker has claimed are waited for; a worker that has not woken up finds the
    // counter exhausted (or a newer generation) and does nothing.
    int spins = 0;
    for (;;) {
        int a = atomic_load(&active);
        if (a == 0) break;
        if (++spins < SPINS) { cpu_relax(); continue; }
        atomic_store(&caller_waiting, 1);
        a = atomic_load(&active);
        if (a != 0) futex_wait(&active, a);
        atomic_store(&caller_waiting, 0);
    }
    inside_pool = 0;
    pthread_mutex_unlock(&call_mu);
}
