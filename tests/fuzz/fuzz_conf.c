/*
 * fuzz_conf.c: the configuration file parser of ecsd/conf.c. Each input is
 * written to one temporary file and read with conf_load, then every line
 * goes once more through conf_set ("key=value") and the address list
 * parser. conf.c prints its complaints on stderr; run libFuzzer with
 * -close_fd_mask=2 to keep them out of the way (crash reports stay).
 */
#include "config.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ecsd.h"

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	 LLVMFuzzerInitialize(int *, char ***);

static char	 conf_path[512];

static void
cleanup(void)
{
	if (conf_path[0] != '\0')
		unlink(conf_path);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char	*tmp = getenv("TMPDIR");
	int		 fd;

	(void)argc;
	(void)argv;
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	snprintf(conf_path, sizeof(conf_path), "%s/fuzz_conf.XXXXXX", tmp);
	if ((fd = mkstemp(conf_path)) == -1) {
		perror(conf_path);
		exit(1);
	}
	close(fd);
	atexit(cleanup);
	return 0;
}

static void
check_lines(const char *text)
{
	struct conf	 c;
	struct netlist	 nl;
	char		*copy, *line, *save = NULL, *eq, err[512];

	if ((copy = strdup(text)) == NULL)
		return;
	conf_defaults(&c);
	for (line = strtok_r(copy, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((eq = strchr(line, '=')) != NULL) {
			*eq = '\0';
			(void)conf_set(&c, line, eq + 1, err, sizeof(err));
			*eq = '=';
		}
		if (netlist_parse(&nl, line, err, sizeof(err)) == 0) {
			(void)netlist_match_str(&nl, "127.0.0.1");
			(void)netlist_match_str(&nl, "::ffff:10.1.2.3");
			(void)netlist_match_str(&nl, "2001:db8::1");
		}
	}
	(void)conf_finish(&c);
	conf_free(&c);
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	 c;
	char		*text;
	int		 fd;
	size_t		 off = 0;
	ssize_t		 n;

	if ((fd = open(conf_path, O_WRONLY | O_TRUNC)) == -1)
		return 0;
	while (off < size) {
		if ((n = write(fd, data + off, size - off)) <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	conf_defaults(&c);
	if (conf_load(&c, conf_path) == 0)
		(void)conf_finish(&c);
	conf_free(&c);

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	check_lines(text);
	free(text);
	return 0;
}
