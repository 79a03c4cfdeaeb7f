/*
 * fuzz-pane.c: what a pane shows (an agent, or anything it prints) and
 * what tmux lists: classification, text cleaning, window parsing.
 */
#include <stdlib.h>

#include "taskgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char			*s = xstrndup((const char *)data, size), *plain;
	char			 reason[200];
	struct tmux_window	*w;

	agent_from_pane(s, agent_default_phrases, reason, sizeof reason);
	plain = tmux_plain_text(s);
	free(plain);
	tmux_parse_windows(s, &w);
	free(w);
	free(s);
	return 0;
}
