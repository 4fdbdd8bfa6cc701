/*
 * log.c: one log API for the daemon, to stderr, errno preserved.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ecsd.h"

static int	 log_level = LOG_LVL_INFO;

void
log_init(int level)
{
	log_level = level;
}

static void
vlog(const char *lvl, const char *fmt, va_list ap, int witherr)
{
	char	 msg[2048];
	int	 saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (witherr)
		fprintf(stderr, "ecsd: %s: %s: %s\n", lvl, msg,
		    strerror(saved));
	else
		fprintf(stderr, "ecsd: %s: %s\n", lvl, msg);
	fflush(stderr);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("warning", fmt, ap, 1);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("warning", fmt, ap, 0);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < LOG_LVL_INFO)
		return;
	va_start(ap, fmt);
	vlog("info", fmt, ap, 0);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_level < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	vlog("debug", fmt, ap, 0);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog("fatal", fmt, ap, 0);
	va_end(ap);
	exit(1);
}

/* Copy s into out with control characters and non-ASCII escaped. */
void
log_escape(const char *s, char *out, size_t len)
{
	size_t	 o = 0;

	for (; *s != '\0' && o + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f || c == '\\')
			o += (size_t)snprintf(out + o, len - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}
