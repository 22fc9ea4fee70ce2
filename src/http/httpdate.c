/*
 * httpdate.c - HTTP dates (RFC 9110 5.6.7).
 *
 * We send IMF-fixdate only and accept the three formats of the RFC:
 *
 *   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
 *   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"
 *   asctime      "Sun Nov  6 08:49:37 1994"
 *
 * Names are written and matched here rather than through strftime or
 * strptime, whose output and input follow the locale. The calendar is
 * the proleptic Gregorian one, computed by hand so that neither timegm
 * nor the TZ environment is involved. Dates are limited to the years
 * 0001..9999, the ones a four-digit year can spell; formatting clamps
 * to that span so the output is always HTTPDATE_LEN bytes.
 *
 * Parsing is strict: the exact layout, case-sensitive names (the RFC
 * says HTTP-date is case sensitive), fields in range, nothing after.
 * The day name must be a real one but is not checked against the date:
 * it is redundant, and the RFC does not ask recipients to check it.
 *
 * No state. Reads the clock only to place an RFC 850 two-digit year.
 * Any thread.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "http/httpdate.h"

static const char *const httpdate_days[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};

static const char *const httpdate_days_long[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
	"Saturday",
};

static const char *const httpdate_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

#define HTTPDATE_SECS_PER_DAY	86400
/* 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z. */
#define HTTPDATE_MIN		(-62135596800LL)
#define HTTPDATE_MAX		253402300799LL

static bool
httpdate_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static int
httpdate_month_days(int year, int month)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};

	return month == 1 && httpdate_leap(year) ? 29 : days[month];
}

/* Days from 1970-01-01 to year-(month+1)-day; year >= 1, month 0..11. */
static int64_t
httpdate_days_from_epoch(int year, int month, int day)
{
	int64_t y = year - 1;
	/* Days from 0001-01-01 to the first of the year: 365 a year plus
	 * the leap days of the whole years before it. */
	int64_t days = 365 * y + y / 4 - y / 100 + y / 400;
	int m;

	for (m = 0; m < month; m++)
		days += httpdate_month_days(year, m);
	days += day - 1;
	/* 719162 days lie between 0001-01-01 and 1970-01-01. */
	return days - 719162;
}

static char *
httpdate_put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
	return p + 2;
}

static char *
httpdate_put_str(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

void
httpdate_format(time_t t, char out[HTTPDATE_LEN + 1])
{
	struct tm tm;
	char *p = out;

	if ((long long)t < HTTPDATE_MIN)
		t = (time_t)HTTPDATE_MIN;
	else if ((long long)t > HTTPDATE_MAX)
		t = (time_t)HTTPDATE_MAX;
	if (gmtime_r(&t, &tm) == NULL) {
		/* Cannot happen within the clamped span; stay well-formed. */
		memset(&tm, 0, sizeof(tm));
		tm.tm_year = 70;
		tm.tm_mday = 1;
		tm.tm_wday = 4;
	}

	p = httpdate_put_str(p, httpdate_days[tm.tm_wday]);
	p = httpdate_put_str(p, ", ");
	p = httpdate_put2(p, tm.tm_mday);
	*p++ = ' ';
	p = httpdate_put_str(p, httpdate_months[tm.tm_mon]);
	*p++ = ' ';
	p = httpdate_put2(p, (tm.tm_year + 1900) / 100);
	p = httpdate_put2(p, (tm.tm_year + 1900) % 100);
	*p++ = ' ';
	p = httpdate_put2(p, tm.tm_hour);
	*p++ = ':';
	p = httpdate_put2(p, tm.tm_min);
	*p++ = ':';
	p = httpdate_put2(p, tm.tm_sec);
	p = httpdate_put_str(p, " GMT");
	*p = '\0';
}

/*
 * A cursor over the input: every reader checks the bounds itself and
 * advances only on success, so the format parsers read top to bottom.
 */
struct httpdate_cursor {
	const char *hc_p;
	const char *hc_end;
};

static bool
httpdate_lit(struct httpdate_cursor *c, const char *s)
{
	size_t n = strlen(s);

	if ((size_t)(c->hc_end - c->hc_p) < n || memcmp(c->hc_p, s, n) != 0)
		return false;
	c->hc_p += n;
	return true;
}

/* Exactly n digits. */
static bool
httpdate_digits(struct httpdate_cursor *c, int n, int *out)
{
	int v = 0, i;

	if (c->hc_end - c->hc_p < n)
		return false;
	for (i = 0; i < n; i++) {
		char ch = c->hc_p[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	c->hc_p += n;
	*out = v;
	return true;
}

/* One of `count` names; the longest match is not needed, as no name in
 * a table is a prefix of another. */
static bool
httpdate_name(struct httpdate_cursor *c, const char *const *names, int count,
    int *out)
{
	int i;

	for (i = 0; i < count; i++) {
		if (httpdate_lit(c, names[i])) {
			*out = i;
			return true;
		}
	}
	return false;
}

/* time-of-day = hour ":" minute ":" second; 60 is a leap second. */
static bool
httpdate_time(struct httpdate_cursor *c, int *hour, int *min, int *sec)
{
	return httpdate_digits(c, 2, hour) && httpdate_lit(c, ":") &&
	    httpdate_digits(c, 2, min) && httpdate_lit(c, ":") &&
	    httpdate_digits(c, 2, sec) &&
	    *hour <= 23 && *min <= 59 && *sec <= 60;
}

/*
 * RFC 9110: a two-digit year that "appears to be more than 50 years in
 * the future" is the most recent past year with the same last digits.
 * So the year lands in (now - 50, now + 50] around the current year.
 */
static int
httpdate_full_year(int yy, time_t now)
{
	struct tm tm;
	int current, year;

	if (gmtime_r(&now, &tm) == NULL)
		tm.tm_year = 70;
	current = tm.tm_year + 1900;
	year = current - current % 100 + yy;
	if (year > current + 50)
		year -= 100;
	else if (year <= current - 50)
		year += 100;
	return year;
}

/*
 * The parser proper; `now` only places a two-digit year. Kept apart
 * from httpdate_parse so that the tests can pin the clock.
 */
static int
httpdate_parse_at(const char *s, size_t len, time_t now, time_t *t)
{
	struct httpdate_cursor c = { s, s + len };
	int wday, day, month, year, hour, min, sec;
	int64_t v;

	if (len >= 4 && s[3] == ',') {
		/* IMF-fixdate */
		if (!httpdate_name(&c, httpdate_days, 7, &wday) ||
		    !httpdate_lit(&c, ", ") ||
		    !httpdate_digits(&c, 2, &day) || !httpdate_lit(&c, " ") ||
		    !httpdate_name(&c, httpdate_months, 12, &month) ||
		    !httpdate_lit(&c, " ") ||
		    !httpdate_digits(&c, 4, &year) || !httpdate_lit(&c, " ") ||
		    !httpdate_time(&c, &hour, &min, &sec) ||
		    !httpdate_lit(&c, " GMT"))
			return -1;
	} else if (len >= 4 && s[3] == ' ') {
		/* asctime: the day is "DD" or " D". */
		if (!httpdate_name(&c, httpdate_days, 7, &wday) ||
		    !httpdate_lit(&c, " ") ||
		    !httpdate_name(&c, httpdate_months, 12, &month) ||
		    !httpdate_lit(&c, " "))
			return -1;
		if (httpdate_lit(&c, " ")) {
			if (!httpdate_digits(&c, 1, &day))
				return -1;
		} else if (!httpdate_digits(&c, 2, &day)) {
			return -1;
		}
		if (!httpdate_lit(&c, " ") ||
		    !httpdate_time(&c, &hour, &min, &sec) ||
		    !httpdate_lit(&c, " ") || !httpdate_digits(&c, 4, &year))
			return -1;
	} else {
		/* RFC 850 */
		if (!httpdate_name(&c, httpdate_days_long, 7, &wday) ||
		    !httpdate_lit(&c, ", ") ||
		    !httpdate_digits(&c, 2, &day) || !httpdate_lit(&c, "-") ||
		    !httpdate_name(&c, httpdate_months, 12, &month) ||
		    !httpdate_lit(&c, "-") ||
		    !httpdate_digits(&c, 2, &year) || !httpdate_lit(&c, " ") ||
		    !httpdate_time(&c, &hour, &min, &sec) ||
		    !httpdate_lit(&c, " GMT"))
			return -1;
		year = httpdate_full_year(year, now);
	}
	if (c.hc_p != c.hc_end)
		return -1;
	if (year < 1 || year > 9999 ||
	    day < 1 || day > httpdate_month_days(year, month))
		return -1;

	v = httpdate_days_from_epoch(year, month, day) * HTTPDATE_SECS_PER_DAY +
	    hour * 3600 + min * 60 + sec;
	/* Only a narrower time_t than ours could fail here. */
	if ((int64_t)(time_t)v != v)
		return -1;
	*t = (time_t)v;
	return 0;
}

int
httpdate_parse(const char *s, size_t len, time_t *t)
{
	return httpdate_parse_at(s, len, time(NULL), t);
}
