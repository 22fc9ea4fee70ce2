/*
 * exposition.h - lines of a /_/metrics text (the Prometheus exposition)
 * for check_metrics.c and check_peer_table.c. Their render() gives the
 * text with a leading newline, so that every line, the first included,
 * can be searched as "\nLINE\n".
 *
 * No state; the test's main thread only.
 */
#ifndef SHOAL_T_EXPOSITION_H
#define SHOAL_T_EXPOSITION_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether text has `line`, whole. */
static inline bool
exposition_has(const char *text, const char *line)
{
	char want[512];

	snprintf(want, sizeof(want), "\n%s\n", line);
	return strstr(text, want) != NULL;
}

/* Fails the test unless text has `line`; the message shows the line of
 * the same series that is there, if any. */
static inline void
exposition_assert(const char *text, const char *line)
{
	char series[128];
	const char *near;
	size_t len;

	if (exposition_has(text, line))
		return;
	len = strcspn(line, "{ ");
	snprintf(series, sizeof(series), "\n%.*s", (int)len, line);
	near = strstr(text, series);
	ck_abort_msg("missing line \"%s\"; found \"%.*s\"", line,
	    near != NULL ? (int)strcspn(near + 1, "\n") : 0,
	    near != NULL ? near + 1 : "");
}

#endif
