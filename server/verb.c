/*
 * verb.c: the flags of one client or offline verb (status, start,
 * check-config, ...): their environment twins, getopt_long over argv, and
 * their lines in the verb's --help.  Each verb keeps its own table of
 * struct verb_flag and applies the values itself; this file owns the
 * parsing loop they share, and nothing else.  (serve's many flags have
 * their own table in options.c.)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

/*
 * Reads the flags in flags[0..n) from their environment twins, then from
 * argv (argv[0] is the verb), and hands each value to apply (NULL for a
 * flag without one), saying where it came from ("--force",
 * "TASKGATE_FORCE").  Returns 0 with optind at the first operand, 1 when
 * -h or the flag help_id was given, or -1 after one line on stderr (apply
 * prints its own).
 */
int
verb_parse(const char *verb, const struct verb_flag *const *flags, size_t n,
    int help_id, verb_apply_fn apply, void *args, int argc, char **argv)
{
	struct option	 longopts[VERB_FLAGS_MAX + 1];
	const char	*val;
	char		 from[64];
	size_t		 i;
	int		 ch;

	if (n > VERB_FLAGS_MAX)
		n = VERB_FLAGS_MAX;
	for (i = 0; i < n; i++) {
		if (flags[i]->env == NULL ||
		    (val = getenv(flags[i]->env)) == NULL)
			continue;
		if (apply(args, flags[i]->id, val, flags[i]->env) == -1)
			return -1;
	}
	memset(longopts, 0, sizeof longopts);
	for (i = 0; i < n; i++) {
		longopts[i].name = flags[i]->name;
		longopts[i].has_arg = flags[i]->has_arg;
		longopts[i].val = flags[i]->id;
	}
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h' || ch == help_id)
			return 1;
		if (ch == '?' || ch == ':') {
			log_warnx("%s option '%.80s' (see taskgate %s --help)",
			    ch == ':' ? "missing value for" : "unknown",
			    argv[optind - 1], verb);
			return -1;
		}
		for (i = 0; i < n && flags[i]->id != ch; i++)
			;
		snprintf(from, sizeof from, "--%s", flags[i]->name);
		if (apply(args, ch, optarg, from) == -1)
			return -1;
	}
	return 0;
}

/* Whether word is one of taskgate's commands (a misplaced one, say). */
bool
verb_is_command(const char *word)
{
	static const char *const commands[] = { "serve", "status", "watch",
	    "start", "stop", "recover", "run", "check-config",
	    "generate-config", "user", "help" };
	size_t	i;

	for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(word, commands[i]) == 0)
			return true;
	return false;
}

/* 0 when argv has nothing left after optind; else -1 after one line. */
int
verb_no_more(const char *verb, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	log_warnx("unexpected argument '%.80s' (see taskgate %s --help)",
	    argv[optind], verb);
	return -1;
}

/* The lines of flags[0..n) in a verb's --help. */
void
verb_usage(const struct verb_flag *const *flags, size_t n, FILE *f)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		fprintf(f, "  --%s%s%s", flags[i]->name, flags[i]->arg ? " " :
		    "", flags[i]->arg ? flags[i]->arg : "");
		if (flags[i]->env != NULL)
			fprintf(f, "  [%s]", flags[i]->env);
		fprintf(f, "\n      %s\n", flags[i]->help);
	}
}
