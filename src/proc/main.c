/*
 * main.c - shoald's command line: parse the flags, load the configuration,
 * hand over to the master.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "proc/master.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: shoald [-f] [-t] [-c FILE] [-V] [-h]\n"
	    "  -c FILE   configuration file (default " CONFIG_DEFAULT_PATH ")\n"
	    "  -f        stay in the foreground, log to stderr\n"
	    "  -t        check the configuration, print the verdict, exit\n"
	    "  -V        print the version and exit\n"
	    "  -h        print this help and exit\n");
}

int
main(int argc, char **argv)
{
	const char *path = CONFIG_DEFAULT_PATH;
	struct config_errors errs = { 0 };
	struct master_options opt = { 0 };
	struct config *cfg;
	char base[PATH_MAX];
	bool test = false;
	size_t i;
	int ch;

	while ((ch = getopt(argc, argv, "c:ftVh")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			opt.foreground = true;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("shoald %s\n", SHOAL_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (getcwd(base, sizeof(base)) == NULL) {
		perror("shoald: getcwd");
		return 1;
	}
	log_init("master");
	cfg = xcalloc(1, sizeof(*cfg));
	if (config_load(path, base, cfg, &errs) == -1) {
		for (i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		if (test)
			fprintf(stderr, "%s: configuration is invalid "
			    "(%zu error%s)\n", path, errs.count,
			    errs.count == 1 ? "" : "s");
		config_errors_free(&errs);
		free(cfg);
		return 1;
	}
	if (test) {
		printf("%s: configuration is valid\n", path);
		config_free(cfg);
		free(cfg);
		return 0;
	}
	opt.config_path = path;
	opt.base_dir = base;
	return master_run(&opt, cfg);
}
