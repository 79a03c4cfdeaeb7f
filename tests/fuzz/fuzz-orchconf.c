/*
 * fuzz-orchconf.c: orchestration-config.json as an attacker writes it:
 * parsing, type checks and the plan rules (cycles, phases, worktrees).
 */
#include <stdlib.h>

#include "taskgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct orchconf	  c;
	json_t		 *root;
	char		  err[256], **problems;
	size_t		  n;

	root = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (root == NULL)
		return 0;
	if (orchconf_parse(root, &c, err, sizeof err) == 0) {
		plan_check(&c, &problems, &n);
		plan_problems_free(problems, n);
	}
	orchconf_clear(&c);
	json_decref(root);
	return 0;
}
