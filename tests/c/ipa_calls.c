/*
 * A stand-in for a libcamera pipeline calling its IPA: two threads, pinned to
 * CPU 0 and CPU 1 when there are two, each making nested and sequential
 * libcamera:ipa_call_begin/_end pairs for its own pipeline. The durations are
 * busy-waits of varying length, so the statistics are not trivial.
 *
 * Usage: ipa_calls ITERATIONS
 * Build: gcc -O2 -I. ipa_calls.c -o ipa_calls -llttng-ust -ldl -lpthread
 */
#define _GNU_SOURCE
#define LTTNG_UST_TRACEPOINT_DEFINE
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#include "ipa_tp.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long iterations;

static void spin_ns(long ns)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < ns);
}

struct worker {
	int cpu;
	const char *pipeline;
};

static void *work(void *arg)
{
	const struct worker *w = arg;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(w->cpu, &set);
	/* Pinning fails on a single CPU machine: the calls still happen. */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	for (long i = 0; i < iterations; i++) {
		lttng_ust_tracepoint(libcamera, ipa_call_begin, w->pipeline, "processStats");
		spin_ns(2000 + (i % 7) * 500);
		lttng_ust_tracepoint(libcamera, ipa_call_begin, w->pipeline, "computeParams");
		spin_ns(1000 + (i % 5) * 300);
		lttng_ust_tracepoint(libcamera, ipa_call_end, w->pipeline, "computeParams");
		lttng_ust_tracepoint(libcamera, ipa_call_end, w->pipeline, "processStats");
		if (i % 10 == 0) {
			lttng_ust_tracepoint(libcamera, ipa_call_begin, w->pipeline, "configure");
			spin_ns(5000);
			lttng_ust_tracepoint(libcamera, ipa_call_end, w->pipeline, "configure");
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	iterations = argc > 1 ? atol(argv[1]) : 1000;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct worker workers[2] = {
		{ 0, "rkisp1" },
		{ cpus > 1 ? 1 : 0, "ipu3" },
	};
	pthread_t threads[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&threads[i], NULL, work, &workers[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	/* An end without a begin: counted by the analysis, never fatal. */
	lttng_ust_tracepoint(libcamera, ipa_call_end, "rkisp1", "stray");
	return 0;
}
