/*
 * fuzz_config.c - libFuzzer driver for the configuration loader.
 *
 * Feeds arbitrary bytes to config_parse() and checks its contract: success
 * means a complete configuration and no new error; failure means at least
 * one error, each "FILE:..." on one line, and an empty struct config.
 * Everything is freed, so LeakSanitizer catches a leak on any path.
 * Seeds: t/fuzz/corpus/config/, dictionary: t/fuzz/config.dict.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct config zero;
	struct config cfg;
	struct config_errors errs = { NULL, 0 };
	size_t i;

	if (config_parse((const char *)data, size, "fuzz.yaml", "/base", &cfg,
	    &errs) == 0) {
		if (errs.count != 0 || cfg.root == NULL || cfg.root[0] != '/' ||
		    cfg.state_dir == NULL || cfg.node == NULL ||
		    cfg.pid_file == NULL || cfg.error_log == NULL ||
		    cfg.listen_port == 0 || cfg.workers < 1 ||
		    (cfg.npeers > 0 && cfg.peers == NULL))
			abort();
		for (i = 0; i < cfg.npeers; i++)
			if (cfg.peers[i].host == NULL || cfg.peers[i].port == 0)
				abort();
		/* config_parse() reads no key file: one of key and key_file. */
		if (cfg.cluster.enabled && (cfg.cluster.name == NULL ||
		    (cfg.cluster.key == NULL) ==
		    (cfg.cluster.key_file == NULL) ||
		    (cfg.cluster.key != NULL && cfg.cluster.key_len <
		    CONFIG_CLUSTER_KEY_MIN) ||
		    cfg.cluster.nseeds > CONFIG_MAX_SEEDS ||
		    (cfg.listen_host == NULL &&
		    cfg.cluster.advertise.host == NULL)))
			abort();
		for (i = 0; i < cfg.cluster.nseeds; i++)
			if (cfg.cluster.seeds[i].host == NULL ||
			    cfg.cluster.seeds[i].port == 0)
				abort();
	} else {
		if (errs.count == 0 || errs.count > 102 ||
		    memcmp(&cfg, &zero, sizeof(cfg)) != 0)
			abort();
		for (i = 0; i < errs.count; i++)
			if (strncmp(errs.msgs[i], "fuzz.yaml:", 10) != 0 ||
			    strchr(errs.msgs[i], '\n') != NULL)
				abort();
	}
	config_free(&cfg);
	config_errors_free(&errs);
	return 0;
}
