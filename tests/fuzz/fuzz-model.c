/*
 * fuzz-model.c: upstream JSON as a broken or hostile upstream sends it:
 * the list and detail checks and additions, the plan's view of streams,
 * gates and next actions.
 */
#include <stdlib.h>

#include "taskgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t			*a, *b, *reasons, *next;
	struct plan_stream	*ps;
	struct model_counts	 c;
	char			 err[256];
	size_t			 n, i;

	a = json_loadb((const char *)data, size, JSON_DECODE_ANY |
	    JSON_ALLOW_NUL, NULL);
	if (a == NULL)
		return 0;
	b = json_deep_copy(a);
	if (model_augment_list(a, err, sizeof err) == 0) {
		n = plan_streams_from_json(json_object_get(a, "streams"), &ps);
		for (i = 0; i < n; i++) {
			reasons = json_array();
			plan_may_start(ps, n, i, 2, 1, i % 2 == 0, reasons);
			json_decref(reasons);
		}
		next = plan_next_actions(ps, n, 2, 1);
		json_decref(next);
		plan_streams_free(ps, n);
	}
	model_augment_detail(b, err, sizeof err);
	model_count_tasks(json_object_get(b, "tasks"), &c);
	model_progress(&c);
	json_decref(a);
	json_decref(b);
	return 0;
}
