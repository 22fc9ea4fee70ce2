/*
 * fuzz_name.c - libFuzzer driver for src/name.c.
 *
 * The input is a raw request target. Besides crashes and UB, the driver
 * checks that what name_from_target() calls a file name is one by
 * name_is_valid(), that the output stays within NAME_MAX_LEN + 1 bytes
 * (NAME_TARGET_MAX + 1 for a node's path),
 * that name_is_valid() and an unencoded "/NAME" target agree, and that
 * name_encode() round-trips: "/" + name_encode(x) decodes back to x
 * exactly when x is a valid name.
 *
 * Single-threaded; built with -fsanitize=fuzzer,address,undefined.
 */
#include "store/name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *t = (const char *)data;
	char out[NAME_TARGET_MAX + 1], out2[NAME_TARGET_MAX + 1], *target;
	char enc[1 + 3 * (NAME_MAX_LEN + 1) + 1];
	size_t out_len, out2_len, enc_len, i;
	const char *reason;
	enum name_kind k;
	bool valid;

	k = name_from_target(t, size, out, &out_len, &reason);
	CHECK(out_len <= (k == NAME_NODE ? NAME_TARGET_MAX : NAME_MAX_LEN));
	CHECK(out[out_len] == '\0');
	switch (k) {
	case NAME_FILE:
		CHECK(reason == NULL);
		CHECK(name_is_valid(out, out_len));
		break;
	case NAME_ROOT:
		CHECK(reason == NULL && out_len == 0);
		CHECK(size >= 1 && t[0] == '/' && (size == 1 || t[1] == '?'));
		break;
	case NAME_NODE:
		CHECK(reason == NULL);
		CHECK(size >= 3 && memcmp(t, "/_/", 3) == 0);
		break;
	case NAME_INVALID:
		CHECK(reason != NULL && strchr(reason, '\n') == NULL);
		CHECK(out_len == 0);
		break;
	default:
		CHECK(!"unknown kind");
	}

	/* A name without '%' or '?' is its own target: "/" + name. */
	valid = name_is_valid(t, size);
	if (size <= NAME_MAX_LEN + 1 && memchr(t, '%', size) == NULL &&
	    memchr(t, '?', size) == NULL) {
		target = malloc(size + 1);
		CHECK(target != NULL);
		target[0] = '/';
		memcpy(target + 1, t, size);
		k = name_from_target(target, size + 1, out2, &out2_len, &reason);
		if (valid) {
			CHECK(k == NAME_FILE);
			CHECK(out2_len == size && memcmp(out2, t, size) == 0);
		} else {
			CHECK(k != NAME_FILE);
		}
		free(target);
	}

	if (size <= NAME_MAX_LEN + 1) {
		enc[0] = '/';
		enc_len = name_encode(t, size, enc + 1, sizeof(enc) - 1);
		CHECK(enc_len <= 3 * size && enc[1 + enc_len] == '\0');
		for (i = 0; i < enc_len; i++)
			CHECK(enc[1 + i] > 0x20 && enc[1 + i] < 0x7f &&
			    enc[1 + i] != '/' && enc[1 + i] != '?');
		k = name_from_target(enc, 1 + enc_len, out2, &out2_len,
		    &reason);
		if (valid) {
			CHECK(k == NAME_FILE);
			CHECK(out2_len == size && memcmp(out2, t, size) == 0);
		} else {
			CHECK(k != NAME_FILE || out2_len != size ||
			    memcmp(out2, t, size) != 0);
		}
	}
	return 0;
}
