/*
 * files.c: small file-system helpers shared by the modules that create
 * files on first run (the token file, the history database).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "taskgate.h"

/* Creates each missing parent directory of path, mode 0700. */
int
files_mkdirs_for(const char *path, char *err, size_t errlen)
{
	char	*copy = xstrdup(path), *p;

	for (p = copy + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s",
			    copy, strerror(errno));
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}
