/*
 * units.h - numbers with units, as the configuration writes them:
 * durations ("500ms", "10s", "2m", "1h", "1d") kept in milliseconds, and
 * sizes ("512", "4KiB", "10MiB", "1GiB", "2TiB") kept in bytes.
 *
 * Pure functions over the caller's strings and buffers: no allocation, no
 * global state, safe in any thread. The configuration loader (master
 * only) is the one caller so far.
 */
#ifndef SHOAL_CORE_UNITS_H
#define SHOAL_CORE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Durations in milliseconds. */
#define UNITS_SECOND	1000LL
#define UNITS_MINUTE	(60 * UNITS_SECOND)
#define UNITS_HOUR	(60 * UNITS_MINUTE)
#define UNITS_DAY	(24 * UNITS_HOUR)

/* Sizes in bytes. */
#define UNITS_KIB	1024ULL
#define UNITS_MIB	(1024 * UNITS_KIB)
#define UNITS_GIB	(1024 * UNITS_MIB)
#define UNITS_TIB	(1024 * UNITS_GIB)

/*
 * Decimal digits at *s, at least one, no sign, no spaces, into *v; *s is
 * advanced past them and the caller decides what may follow. Returns 0, or
 * -1 (nothing changed) when there is no digit or the number overflows.
 */
int units_parse_digits(const char **s, uint64_t *v);

/* "500ms", "10s", "2m", "1h", "1d" or a bare integer (seconds) into ms.
 * Returns 0, or -1 (*ms untouched) when malformed or beyond INT64_MAX ms.
 * The whole string must be the duration; s may be NULL (-1). */
int units_parse_duration(const char *s, int64_t *ms);

/* "512", "4KiB", "10MiB", "1GiB", "2TiB" into bytes. Returns 0, or -1
 * (*bytes untouched) when malformed or beyond UINT64_MAX; s may be NULL. */
int units_parse_size(const char *s, uint64_t *bytes);

/* Writes ms into buf (NUL-terminated, cut to size) with the largest unit
 * that writes it exactly: "10m", "1500ms", "0ms". */
void units_format_duration(char *buf, size_t size, uint64_t ms);

/* Writes bytes the same way: "64KiB", "3MiB", "1000", "0". */
void units_format_size(char *buf, size_t size, uint64_t bytes);

#endif
