/*
 * units.c - parsing and writing numbers with units: durations in
 * milliseconds, sizes in bytes (see include/core/units.h).
 *
 * The master runs it while it loads the configuration (config_check.c),
 * to read values and to write the bounds of a range into an error. Pure
 * functions with constant tables: any thread may call them, no lock.
 */
#include "core/units.h"

#include <stdio.h>
#include <string.h>

struct unit {
	const char *suffix;
	uint64_t factor;
};

/* The first unit is that of a bare number; a NULL suffix ends a table. */
static const struct unit duration_units[] = {
	{ "", UNITS_SECOND }, { "ms", 1 }, { "s", UNITS_SECOND },
	{ "m", UNITS_MINUTE }, { "h", UNITS_HOUR }, { "d", UNITS_DAY },
	{ NULL, 0 }
};

static const struct unit size_units[] = {
	{ "", 1 }, { "KiB", UNITS_KIB }, { "MiB", UNITS_MIB },
	{ "GiB", UNITS_GIB }, { "TiB", UNITS_TIB }, { NULL, 0 }
};

int
units_parse_digits(const char **s, uint64_t *v)
{
	const char *p = *s;
	uint64_t n = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*p - '0');
	}
	*s = p;
	*v = n;
	return 0;
}

/* A number with an optional unit from `units` (the first one is ""). */
static int
parse_with_unit(const char *s, const struct unit *units, uint64_t max,
    uint64_t *out)
{
	uint64_t n;
	const struct unit *u;

	if (s == NULL || units_parse_digits(&s, &n) < 0)
		return -1;
	for (u = units; u->suffix != NULL; u++) {
		if (strcmp(s, u->suffix) != 0)
			continue;
		if (n > max / u->factor)
			return -1;
		*out = n * u->factor;
		return 0;
	}
	return -1;
}

int
units_parse_duration(const char *s, int64_t *ms)
{
	uint64_t v;

	if (parse_with_unit(s, duration_units, INT64_MAX, &v) < 0)
		return -1;
	*ms = (int64_t)v;
	return 0;
}

int
units_parse_size(const char *s, uint64_t *bytes)
{
	return parse_with_unit(s, size_units, UINT64_MAX, bytes);
}

/* The largest unit that writes v exactly: "10m", "1ms", "64KiB"; with none
 * (v is 0, or no unit divides it) v is written with `bare` after it. */
static void
format_unit(char *buf, size_t size, uint64_t v, const struct unit *units,
    const char *bare)
{
	const struct unit *u, *best = NULL;

	for (u = units + 1; u->suffix != NULL; u++)
		if (v != 0 && v % u->factor == 0 &&
		    (best == NULL || u->factor > best->factor))
			best = u;
	if (best == NULL)
		snprintf(buf, size, "%llu%s", (unsigned long long)v, bare);
	else
		snprintf(buf, size, "%llu%s",
		    (unsigned long long)(v / best->factor), best->suffix);
}

void
units_format_duration(char *buf, size_t size, uint64_t ms)
{
	format_unit(buf, size, ms, duration_units, "ms");
}

void
units_format_size(char *buf, size_t size, uint64_t bytes)
{
	format_unit(buf, size, bytes, size_units, "");
}
