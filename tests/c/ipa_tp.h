/*
 * Tracepoints of the shape of libcamera's IPA call class
 * (include/libcamera/internal/tracepoints/pipeline.tp): provider libcamera,
 * events ipa_call_begin and ipa_call_end, string fields pipeline_name and
 * function_name. Used by tests/lttng_test.ts through ipa_calls.c.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER libcamera

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./ipa_tp.h"

#if !defined(RINGDUMP_IPA_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define RINGDUMP_IPA_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT_CLASS(
	libcamera,
	ipa_call,
	LTTNG_UST_TP_ARGS(const char *, pipeline_name, const char *, function_name),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_string(pipeline_name, pipeline_name)
		lttng_ust_field_string(function_name, function_name)
	)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(
	libcamera,
	ipa_call,
	libcamera,
	ipa_call_begin,
	LTTNG_UST_TP_ARGS(const char *, pipeline_name, const char *, function_name)
)

LTTNG_UST_TRACEPOINT_EVENT_INSTANCE(
	libcamera,
	ipa_call,
	libcamera,
	ipa_call_end,
	LTTNG_UST_TP_ARGS(const char *, pipeline_name, const char *, function_name)
)

#endif /* RINGDUMP_IPA_TP_H */

#include <lttng/tracepoint-event.h>
