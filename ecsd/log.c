/*
 * log.c: one log API for the daemon, to stderr, errno preserved.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecsd.h"

static int	 log_level = LOG_LVL_INFO;

void
log_init(int level)
{
	log_level = level;
}

/* Whether lines of level are logged. */
int
log_enabled(int level)
{
	return log_level >= level;
}

/*
 * Write preformatted log lines (each "ecsd: level: text\n") at once:
 * the access lines of a batch of replies go out in one write(2).
 */
void
log_write(const char *s, size_t n)
{
	int	 saved = errno;
	ssize_t	 w;

	while (n > 0) {
		if ((w = write(STDERR_FILENO, s, n)) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		s += w;
		n -= (size_t)w;
	}
	errno = saved;
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
