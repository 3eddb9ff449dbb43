/* rtfloor.c - the machine's own real-time floor, for the loaded-machine bench.
 *
 * A small cyclictest: each thread runs at SCHED_FIFO (priority 10 by
 * default, as the port's real-time mode), sleeps to absolute deadlines on
 * CLOCK_MONOTONIC every --period-us (62,500 us: the bench's 1/4 beat at
 * 240 bpm) and records how late it woke.  No Python, no Link, no event loop:
 * nothing a program at that priority can do wakes more punctually on this
 * machine, so its worst case bounds what the port can promise here.
 *
 *   rtfloor [--duration S] [--period-us N] [--priority P] [--threads N]
 *           [--pin] [--warmup S]
 *
 * Prints one JSON line: every sample in ms ("samples_ms", bench/driver.py
 * summarises them), whether SCHED_FIFO was granted, and the hypervisor's
 * steal time during the run (/proc/stat, all CPUs).  No mlockall: the port
 * does not lock its memory either.  Linux only; built by bench/run.sh.
 *
 * Threads: the main thread starts the sampling threads and joins them; each
 * writes only its own sample array.  No locks. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

struct sampler {
    pthread_t thread;
    int index;
    long period_ns;
    long warmup_ns;
    long duration_ns;
    int priority;
    int pin; /* -1: any CPU */
    int granted;
    size_t n, cap;
    double *ms;
};

static long ns_of(const struct timespec *t)
{
    return t->tv_sec * 1000000000L + t->tv_nsec;
}

static struct timespec ts_of(long ns)
{
    struct timespec t = {ns / 1000000000L, ns % 1000000000L};
    return t;
}

static void *sample(void *arg)
{
    struct sampler *s = arg;
    if (s->pin >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(s->pin, &set);
        (void)pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    }
    struct sched_param p = {.sched_priority = s->priority};
    s->granted = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) == 0;
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long start = ns_of(&now);
    long measure_from = start + s->warmup_ns;
    long end = measure_from + s->duration_ns;
    /* Stagger the threads a little, as independent programs would be. */
    long next = start + s->period_ns + s->index * (s->period_ns / 7);
    while (next < end) {
        struct timespec deadline = ts_of(next);
        int rc;
        do
            rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
        while (rc == EINTR);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (next >= measure_from && s->n < s->cap)
            s->ms[s->n++] = (ns_of(&now) - next) / 1e6;
        next += s->period_ns;
    }
    return NULL;
}

/* Steal time of all CPUs so far, in ms (-1 when /proc/stat is unreadable). */
static double steal_ms(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    unsigned long long v[8] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    return got == 8 ? 1000.0 * (double)v[7] / (double)sysconf(_SC_CLK_TCK) : -1;
}

static double arg_number(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "rtfloor: %s needs a value\n", argv[*i]);
        exit(2);
    }
    char *end;
    double v = strtod(argv[++*i], &end);
    if (*end || v < 0) {
        fprintf(stderr, "rtfloor: bad value for %s: %s\n", argv[*i - 1], argv[*i]);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    double duration = 5, warmup = 1, period_us = 62500;
    int priority = 10, threads = 1, pin = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--duration"))
            duration = arg_number(argc, argv, &i);
        else if (!strcmp(argv[i], "--warmup"))
            warmup = arg_number(argc, argv, &i);
        else if (!strcmp(argv[i], "--period-us"))
            period_us = arg_number(argc, argv, &i);
        else if (!strcmp(argv[i], "--priority"))
            priority = (int)arg_number(argc, argv, &i);
        else if (!strcmp(argv[i], "--threads"))
            threads = (int)arg_number(argc, argv, &i);
        else if (!strcmp(argv[i], "--pin"))
            pin = 1;
        else {
            fprintf(stderr, "usage: rtfloor [--duration S] [--period-us N] [--priority P] "
                            "[--threads N] [--pin] [--warmup S]\n");
            return 2;
        }
    }
    if (period_us < 100 || threads < 1 || threads > 64 || priority < 1 || priority > 99) {
        fprintf(stderr, "rtfloor: period >= 100 us, 1..64 threads, priority 1..99\n");
        return 2;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct sampler *s = calloc((size_t)threads, sizeof *s);
    if (!s)
        return 1;
    double steal0 = steal_ms();
    for (int t = 0; t < threads; t++) {
        s[t].index = t;
        s[t].period_ns = (long)(period_us * 1000);
        s[t].warmup_ns = (long)(warmup * 1e9);
        s[t].duration_ns = (long)(duration * 1e9);
        s[t].priority = priority;
        s[t].pin = pin ? (int)(t % (ncpu > 0 ? ncpu : 1)) : -1;
        s[t].cap = (size_t)(duration * 1e6 / period_us) + 2;
        s[t].ms = malloc(s[t].cap * sizeof *s[t].ms);
        if (!s[t].ms || pthread_create(&s[t].thread, NULL, sample, &s[t]) != 0) {
            fprintf(stderr, "rtfloor: cannot start a thread\n");
            return 1;
        }
    }
    int granted = 1;
    for (int t = 0; t < threads; t++) {
        pthread_join(s[t].thread, NULL);
        granted &= s[t].granted;
    }
    double steal1 = steal_ms();
    printf("{\"workload\": \"rtfloor\", \"realtime\": %s, \"priority\": %d, \"threads\": %d, "
           "\"pinned\": %s, \"period_us\": %.0f, \"duration_s\": %g, \"steal_ms\": %.1f, "
           "\"samples_ms\": [",
           granted ? "true" : "false", priority, threads, pin ? "true" : "false", period_us,
           duration, steal0 >= 0 && steal1 >= 0 ? steal1 - steal0 : -1.0);
    const char *sep = "";
    for (int t = 0; t < threads; t++)
        for (size_t i = 0; i < s[t].n; i++, sep = ", ")
            printf("%s%.4f", sep, s[t].ms[i]);
    printf("]}\n");
    return granted ? 0 : 3;
}
