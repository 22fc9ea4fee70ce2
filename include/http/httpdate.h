/*
 * httpdate.h - HTTP dates (RFC 9110 5.6.7): IMF-fixdate out, and the three
 * historical formats in. Pure functions; any thread.
 */
#ifndef SHOAL_HTTPDATE_H
#define SHOAL_HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29		/* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes the IMF-fixdate of t (UTC) and a NUL to out. */
void httpdate_format(time_t t, char out[HTTPDATE_LEN + 1]);

/* Parses IMF-fixdate, RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") or asctime
 * ("Sun Nov  6 08:49:37 1994") into *t. Returns 0, or -1 when invalid. */
int httpdate_parse(const char *s, size_t len, time_t *t);

#endif
