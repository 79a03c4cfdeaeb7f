/*
 * test-idempotency.c: an action sent twice with one Idempotency-Key acts
 * once: the second is told the first still runs, then gets its answer;
 * the key with another action is refused (idempotency.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "taskgate.h"

static void
test_a_key_acts_once(void **state)
{
	struct idempotency	*id = idempotency_new();
	unsigned int		 status = 0;
	char			*body = NULL;

	(void)state;
	assert_int_equal(idempotency_claim(id, "k1", "POST /api/run", &status,
	    &body), IDEMPOTENCY_NEW);
	assert_int_equal(idempotency_claim(id, "k1", "POST /api/run", &status,
	    &body), IDEMPOTENCY_PENDING);
	idempotency_store(id, "k1", "POST /api/run", 201, "{\"ok\":1}");
	assert_int_equal(idempotency_claim(id, "k1", "POST /api/run", &status,
	    &body), IDEMPOTENCY_REPLAY);
	assert_int_equal(status, 201);
	assert_string_equal(body, "{\"ok\":1}");
	free(body);
	/* The same key for another action is a mistake, not a replay. */
	assert_int_equal(idempotency_claim(id, "k1",
	    "POST /api/streams/B/stop", &status, &body), IDEMPOTENCY_MISMATCH);
	assert_int_equal(idempotency_claim(id, "k2", "POST /api/run", &status,
	    &body), IDEMPOTENCY_NEW);
	idempotency_free(id);
}

static void
test_what_a_key_may_be(void **state)
{
	char	long_key[IDEMPOTENCY_KEY_MAX + 2];

	(void)state;
	assert_true(idempotency_key_ok("3f9c-1"));
	assert_false(idempotency_key_ok(""));
	assert_false(idempotency_key_ok("a b"));
	assert_false(idempotency_key_ok("a\x1b[2J"));
	memset(long_key, 'a', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	assert_false(idempotency_key_ok(long_key));
	long_key[IDEMPOTENCY_KEY_MAX] = '\0';
	assert_true(idempotency_key_ok(long_key));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_key_acts_once),
		cmocka_unit_test(test_what_a_key_may_be),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
