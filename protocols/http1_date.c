/* HTTP dates (RFC 9110 §5.6.7): IMF-fixdate out, all three forms in. Pure;
 * see http1.h. */
#include "protocols/http1.h"

#include <string.h>
#include <time.h>

#include "protocols/http1_lex.h"

/* ---- dates (RFC 9110 §5.6.7) ---------------------------------------------- */

static const char *const day_names[7] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
static const char *const long_day_names[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
};
static const char *const month_names[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static char *put_digits(char *out, int v, int width)
{
	for (int i = width - 1; i >= 0; i--, v /= 10)
		out[i] = (char)('0' + v % 10);
	return out + width;
}

static char *put_text(char *out, const char *s)
{
	while (*s)
		*out++ = *s++;
	return out;
}

void http1_format_date(char *out, time_t t)
{
	struct tm tm;

	/* a year outside 0..9999 has no IMF-fixdate: say 1970 rather than overflow */
	if (!gmtime_r(&t, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	char *o = put_text(out, day_names[tm.tm_wday]);
	o = put_text(o, ", ");
	o = put_digits(o, tm.tm_mday, 2);
	*o++ = ' ';
	o = put_text(o, month_names[tm.tm_mon]);
	*o++ = ' ';
	o = put_digits(o, tm.tm_year + 1900, 4);
	*o++ = ' ';
	o = put_digits(o, tm.tm_hour, 2);
	*o++ = ':';
	o = put_digits(o, tm.tm_min, 2);
	*o++ = ':';
	o = put_digits(o, tm.tm_sec, 2);
	o = put_text(o, " GMT");
	*o = '\0';
}

/* A cursor over the date text; once a take_* fails, ok stays false. */
struct date_cursor {
	const char *p, *end;
	bool ok;
};

static void take_text(struct date_cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if (c->ok && (size_t)(c->end - c->p) >= n && memcmp(c->p, lit, n) == 0)
		c->p += n;
	else
		c->ok = false;
}

static int take_number(struct date_cursor *c, int width)
{
	int v = 0;

	if (!c->ok || c->end - c->p < width) {
		c->ok = false;
		return 0;
	}
	for (int i = 0; i < width; i++, c->p++) {
		if (!is_digit(*c->p))
			c->ok = false;
		v = v * 10 + (*c->p - '0');
	}
	return v;
}

static int take_name(struct date_cursor *c, const char *const *names, int count)
{
	for (int i = 0; i < count && c->ok; i++) {
		size_t n = strlen(names[i]);
		if ((size_t)(c->end - c->p) >= n && memcmp(c->p, names[i], n) == 0) {
			c->p += n;
			return i;
		}
	}
	c->ok = false;
	return 0;
}

static void take_time(struct date_cursor *c, struct tm *tm)
{
	tm->tm_hour = take_number(c, 2);
	take_text(c, ":");
	tm->tm_min = take_number(c, 2);
	take_text(c, ":");
	tm->tm_sec = take_number(c, 2);
}

static bool is_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

static time_t date_value(const struct date_cursor *c, struct tm *tm, int year)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (!c->ok || c->p != c->end)
		return -1;
	int mdays = days[tm->tm_mon] + (tm->tm_mon == 1 && is_leap(year));
	if (tm->tm_mday < 1 || tm->tm_mday > mdays || tm->tm_hour > 23 || tm->tm_min > 59 ||
	    tm->tm_sec > 60)
		return -1;
	tm->tm_year = year - 1900;
	return timegm(tm);
}

/* RFC 850's two-digit year: the most recent year with those digits that is
 * not more than 50 years in the future (RFC 9110 §5.6.7). */
static int rfc850_year(int yy)
{
	time_t now = time(NULL);
	struct tm tm;
	int this_year = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 1970;
	int year = this_year - this_year % 100 + yy;

	return year > this_year + 50 ? year - 100 : year;
}

/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
static time_t parse_imf_fixdate(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int year;

	take_name(c, day_names, 7);
	take_text(c, ", ");
	tm.tm_mday = take_number(c, 2);
	take_text(c, " ");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, " ");
	year = take_number(c, 4);
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " GMT");
	return date_value(c, &tm, year);
}

/* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
static time_t parse_rfc850_date(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int yy;

	take_name(c, long_day_names, 7);
	take_text(c, ", ");
	tm.tm_mday = take_number(c, 2);
	take_text(c, "-");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, "-");
	yy = take_number(c, 2);
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " GMT");
	return c->ok ? date_value(c, &tm, rfc850_year(yy)) : -1;
}

/* asctime-date: Sun Nov  6 08:49:37 1994 */
static time_t parse_asctime_date(struct date_cursor *c)
{
	struct tm tm = { 0 };
	int year;

	take_name(c, day_names, 7);
	take_text(c, " ");
	tm.tm_mon = take_name(c, month_names, 12);
	take_text(c, " ");
	if (c->ok && c->p < c->end && *c->p == ' ') {
		c->p++;
		tm.tm_mday = take_number(c, 1);
	} else {
		tm.tm_mday = take_number(c, 2);
	}
	take_text(c, " ");
	take_time(c, &tm);
	take_text(c, " ");
	year = take_number(c, 4);
	return date_value(c, &tm, year);
}

time_t http1_parse_date(const char *s, size_t len)
{
	struct date_cursor c = { .p = s, .end = s + len, .ok = true };

	if (len >= 4 && s[3] == ',')
		return parse_imf_fixdate(&c);
	if (len >= 4 && s[3] == ' ')
		return parse_asctime_date(&c);
	return parse_rfc850_date(&c);
}
