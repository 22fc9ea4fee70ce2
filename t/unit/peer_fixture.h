/*
 * peer_fixture.h - what the suites of src/peer/ (check_peer.c,
 * check_peer_set.c, check_fanout.c) share around their fake peers
 * (fake_peer.h): a real loop (loop_fixture.h), a peer table in memory,
 * the worker's view of it (`ps`), and the peers of that table on
 * 127.0.0.1.
 *
 * Everything here belongs to the test's main thread.
 */
#ifndef SHOAL_T_PEER_FIXTURE_H
#define SHOAL_T_PEER_FIXTURE_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"
#include "peer/peer_set.h"
#include "peer/peer_table.h"
#include "fake_peer.h"
#include "loop_fixture.h"

#define OK2 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
#define GET_A "GET /a HTTP/1.1\r\nHost: p\r\n\r\n"

static struct peer_table *table;
static struct peer_set *ps;		/* made by each test; may stay NULL */
static const struct http_limits limits = {
	.max_request_line = 8192,
	.max_header_line = 8192,
	.max_headers = 100,
	.max_header_size = 65536,
};

/* The checked fixture: a loop and an empty table of 8 peers at most. */
static inline void
peer_fixture_setup(void)
{
	loop_fixture_setup();
	table = peer_table_create(8);
	ck_assert_ptr_nonnull(table);
}

static inline void
peer_fixture_teardown(void)
{
	peer_set_free(ps);
	ps = NULL;
	loop_fixture_teardown();
	peer_table_destroy(table);
}

/* The peer 127.0.0.1:port, as the configuration would give it. */
static inline struct peer_spec
peer_fixture_spec(unsigned port)
{
	struct peer_spec s;
	const char *why;

	ck_assert_int_eq(peer_spec_resolve("127.0.0.1", port, &s, &why), 0);
	return s;
}

/* Starts f, answering every request with `bytes` as fake_answer_all()
 * says. */
static inline void
peer_fixture_fake(struct fake_peer *f, const char *bytes, int delay_ms,
    unsigned flags)
{
	fake_answer_all(f, bytes, delay_ms, flags);
	ck_assert_int_eq(fake_start(f), 0);
}

/* Makes ps the set of the peers on 127.0.0.1 at ports[0..n), in that
 * order, waiting timeout_ms for a body. */
static inline void
peer_fixture_set(const unsigned *ports, size_t n, int64_t timeout_ms)
{
	struct peer_spec s[8];
	size_t i;

	ck_assert_uint_le(n, 8);
	for (i = 0; i < n; i++)
		s[i] = peer_fixture_spec(ports[i]);
	ck_assert_int_eq(peer_table_replace(table, PEER_SOURCE_CONFIG, s, n,
	    1), 0);
	ps = peer_set_create(loop, table, &limits, timeout_ms);
	ck_assert_uint_eq(peer_set_count(ps), n);
}

#endif
