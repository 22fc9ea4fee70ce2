/*
 * check_status_page.c - unit tests for src/cluster/status_page.c: the
 * page rendered from a member table and a catalogue in plain memory and
 * the shared counters: every member's row (name, state, fill), the
 * summary, the recent events, the catalogue's figures, the request
 * totals, the striping section (when the node has one, warned of while
 * objects are degraded), hostile names escaped everywhere, and the page of
 * a node in no cluster.
 *
 * Single-threaded, one forked process per test.
 */
#include "check_main.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "cluster/status_page.h"
#include "core/buf.h"
#include "core/digest.h"
#include "store/metrics.h"

#define NOW 1000000
#define SELF "a<b>&'"			/* valid names, and markup */
#define HOSTILE "m<script>alert(1)</script>"

static struct cluster cl;
static char *page;

static void
news(const char *name, uint64_t capacity, uint64_t used, int state,
    int64_t now_ms)
{
	struct member_news n;

	memset(&n, 0, sizeof(n));
	snprintf(n.mn_facts.mf_name, sizeof(n.mn_facts.mf_name), "%s", name);
	snprintf(n.mn_facts.mf_addr, sizeof(n.mn_facts.mf_addr),
	    "%s.example:80", name);
	n.mn_facts.mf_incarnation = 7;
	n.mn_facts.mf_version = 1;
	n.mn_facts.mf_capacity = capacity;
	n.mn_facts.mf_used = used;
	n.mn_state = (uint8_t)state;
	n.mn_state_inc = 7;
	ck_assert(members_merge_locked(cl.cl_members, &n, now_ms,
	    1800000000000LL));
}

static void
setup(void)
{
	struct catalogue_params cp;
	struct members_params mp = { .mp_interval_ms = 200,
	    .mp_suspect_ms = 1000, .mp_dead_ms = 1000,
	    .mp_forget_ms = 100000, .mp_max_skew_ms = 10000 };
	struct member_facts self;
	struct digest d;

	ck_assert_int_eq(metrics_init(), 0);
	metrics_use_slot(metrics_slot_claim(1));
	metrics_count_request(HTTP_METHOD_GET, 200);
	metrics_count_request(HTTP_METHOD_GET, 200);
	metrics_count_request(HTTP_METHOD_GET, 404);
	metrics_add(&metrics_mine()->ms_bytes_sent, 3 * 1024 * 1024);

	memset(&cl, 0, sizeof(cl));
	snprintf(cl.cl_name, sizeof(cl.cl_name), "blue&green");
	memset(&self, 0, sizeof(self));
	snprintf(self.mf_name, sizeof(self.mf_name), SELF);
	snprintf(self.mf_addr, sizeof(self.mf_addr), "127.0.0.1:1");
	self.mf_incarnation = 5;
	self.mf_capacity = 4096;
	self.mf_used = 1024;
	cl.cl_members = calloc(1, members_size(MEMBERS_MIN));
	ck_assert_int_eq(members_init(cl.cl_members, MEMBERS_MIN, &self, &mp,
	    0), 0);
	catalogue_params_for(&cp, 1000, MEMBERS_MIN, 2);
	cl.cl_catalogue = calloc(1, catalogue_size(&cp));
	ck_assert_int_eq(catalogue_init(cl.cl_catalogue, &cp, SELF, 1), 0);
	memset(&d, 7, sizeof(d));
	ck_assert_int_eq(catalogue_announce_locked(cl.cl_catalogue, "f", 1,
	    &d, 1536, SELF, 1), 1);

	/* A hostile name, nearly full; b suspected then dead; nothing
	 * known of c's store. */
	news(HOSTILE, 1000, 950, MEMBER_ALIVE, NOW - 5000);
	news("b", 1000, 0, MEMBER_ALIVE, NOW - 4000);
	news("b", 1000, 0, MEMBER_SUSPECT, NOW - 3000);
	news("b", 1000, 0, MEMBER_DEAD, NOW - 2000);
	news("c", 0, 0, MEMBER_ALIVE, NOW - 1500);
}

static void
teardown(void)
{
	free(page);
	free(cl.cl_catalogue);
	free(cl.cl_members);
}

static void
render(struct cluster *c)
{
	struct buf out = { 0 };

	status_page_render(c, c != NULL ? SELF : "solo<1>", NOW, &out);
	buf_append(&out, "", 1);
	page = out.data;
}

#define ck_assert_has(s) ck_assert_msg(strstr(page, (s)) != NULL, \
	"the page lacks %s", (s))

static size_t
count(const char *s)
{
	size_t n = 0;
	const char *p = page;

	while ((p = strstr(p, s)) != NULL) {
		n++;
		p += strlen(s);
	}
	return n;
}

START_TEST(a_whole_document_for_a_phone)
{
	render(&cl);
	ck_assert_int_eq(strncmp(page, "<!DOCTYPE html>\n", 16), 0);
	ck_assert_has("<meta name=\"viewport\" content=\"width=device-width, "
	    "initial-scale=1\">");
	ck_assert_has("<title>shoal \u00b7 a&lt;b&gt;&amp;&#39;</title>");
	ck_assert_str_eq(page + strlen(page) - 16, "</body>\n</html>\n");
	/* nothing from elsewhere: no src, no href outside this node */
	ck_assert_uint_eq(count(" src="), 0);
	ck_assert_uint_eq(count("href=\"http"), 0);
	ck_assert_uint_eq(count("<script>"), 1);
	ck_assert_uint_eq(count("</script>"), 1);
	ck_assert_has("fetch(path, {cache: 'no-store'})");
}
END_TEST

START_TEST(every_member_with_its_state_and_fill)
{
	render(&cl);
	ck_assert_has("<span id=\"summary\">cluster blue&amp;green: 4 members, "
	    "3 alive, 0 suspect, 1 dead, 0 left</span>");
	ck_assert_has("<tr class=\"self\" data-name=\"a&lt;b&gt;&amp;&#39;\" "
	    "data-state=\"alive\"><td>a&lt;b&gt;&amp;&#39; <small>this node"
	    "</small></td><td>127.0.0.1:1</td><td><span class=\"state alive\">"
	    "alive</span></td><td class=\"n\">5</td><td class=\"n\">0.0 s ago"
	    "</td><td><span class=\"bar\"><span style=\"width:25.0%\"></span>"
	    "</span> 25% of 4.0 KiB</td></tr>");
	ck_assert_has("<tr data-name=\"m&lt;script&gt;alert(1)&lt;/script&gt;\" "
	    "data-state=\"alive\">");
	ck_assert_has("<span class=\"bar full\"><span style=\"width:95.0%\">"
	    "</span></span> 95% of 1000 B</td>");
	ck_assert_has("<tr data-name=\"b\" data-state=\"dead\"><td>b</td>"
	    "<td>b.example:80</td><td><span class=\"state dead\">dead</span>"
	    "</td><td class=\"n\">7</td><td class=\"n\">4.0 s ago</td>");
	ck_assert_has("<tr data-name=\"c\" data-state=\"alive\">");
	ck_assert_has("1.5 s ago</td><td>\u2014</td></tr>");
	ck_assert_uint_eq(count("<tr data-name="), 3);
	/* the hostile name never as markup */
	ck_assert_ptr_null(strstr(page, HOSTILE));
	ck_assert_ptr_null(strstr(page, SELF));
}
END_TEST

START_TEST(recent_events_newest_first)
{
	const char *c, *dead, *suspect, *joined;

	render(&cl);
	c = strstr(page, "<li data-member=\"c\" data-to=\"alive\"><span class="
	    "\"state alive\">joined</span> c <small>new \u00b7 incarnation 7 "
	    "\u00b7 1.5 s ago</small></li>");
	dead = strstr(page, "<li data-member=\"b\" data-to=\"dead\"><span "
	    "class=\"state dead\">dead</span> b <small>was suspect \u00b7 "
	    "incarnation 7 \u00b7 2.0 s ago</small></li>");
	suspect = strstr(page, "<li data-member=\"b\" data-to=\"suspect\">");
	joined = strstr(page, "<li data-member=\"m&lt;script&gt;alert(1)&lt;"
	    "/script&gt;\" data-to=\"alive\"><span class=\"state alive\">joined"
	    "</span> m&lt;script&gt;alert(1)&lt;/script&gt; <small>");
	ck_assert(c != NULL && dead != NULL && suspect != NULL &&
	    joined != NULL);
	ck_assert(c < dead && dead < suspect && suspect < joined);
	ck_assert_uint_eq(count("<li data-member="), 5);
}
END_TEST

START_TEST(catalogue_figures)
{
	render(&cl);
	ck_assert_has("<dd id=\"cat-names\">1</dd>");
	ck_assert_has("<dd id=\"cat-versions\">1</dd>");
	ck_assert_has("<dd id=\"cat-holdings\">1</dd>");
	ck_assert_has("<dd id=\"cat-bytes\">1.5 KiB</dd>");
	ck_assert_has("<dd id=\"cat-conflicts\">0</dd>");
}
END_TEST

/* The section a node that stripes adds to /_/cluster: arg is the number of
 * degraded objects. */
static json_t *
striping(void *arg)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
	    "degraded_objects", (json_int_t)*(int *)arg,
	    "heal_todo_bytes", (json_int_t)3 * 1024 * 1024,
	    "healed_parts", (json_int_t)4, "healed_bytes", (json_int_t)512,
	    "heal_failures", (json_int_t)1, "corrupt_blocks", (json_int_t)2,
	    "scrub_corrupt_blocks", (json_int_t)0);
}

START_TEST(striping_figures_when_the_node_stripes)
{
	int degraded = 2;

	render(&cl);
	ck_assert_ptr_null(strstr(page, "id=\"striping\""));
	free(page);
	cluster_set_section(&cl, "striping", striping, &degraded);
	render(&cl);
	ck_assert_has("<dl id=\"striping\">");
	ck_assert_has("<div class=\"warn\"><dt>degraded objects</dt>"
	    "<dd id=\"striping-degraded_objects\" "
	    "data-key=\"degraded_objects\" data-warn=\"1\">2</dd></div>");
	ck_assert_has("<div><dt>bytes to heal</dt>"
	    "<dd id=\"striping-heal_todo_bytes\" data-key=\"heal_todo_bytes\" "
	    "data-unit=\"bytes\">3.0 MiB</dd></div>");
	ck_assert_has("data-key=\"healed_parts\">4</dd>");
	ck_assert_has("data-key=\"healed_bytes\" data-unit=\"bytes\">512 B"
	    "</dd>");
	ck_assert_has("data-key=\"heal_failures\">1</dd>");
	ck_assert_has("data-key=\"corrupt_blocks\">2</dd>");
	ck_assert_has("data-key=\"scrub_corrupt_blocks\">0</dd>");
	free(page);
	degraded = 0;
	render(&cl);
	ck_assert_has("<div><dt>degraded objects</dt>"
	    "<dd id=\"striping-degraded_objects\" "
	    "data-key=\"degraded_objects\" data-warn=\"1\">0</dd></div>");
	ck_assert_ptr_null(strstr(page, "class=\"warn\""));
}
END_TEST

START_TEST(request_totals)
{
	render(&cl);
	ck_assert_has("<tr data-key=\"requests\"><td>requests</td>"
	    "<td class=\"n\">3</td><td class=\"n\">\u2014</td></tr>");
	ck_assert_has("<tr data-key=\"2xx\"><td>2xx</td><td class=\"n\">2</td>");
	ck_assert_has("<tr data-key=\"4xx\"><td>4xx</td><td class=\"n\">1</td>");
	ck_assert_has("<tr data-key=\"5xx\"><td>5xx</td><td class=\"n\">0</td>");
	ck_assert_has("<tr data-key=\"sent\" data-unit=\"bytes\"><td>bytes sent"
	    "</td><td class=\"n\">3.0 MiB</td>");
	ck_assert_has("<tr data-key=\"received\" data-unit=\"bytes\"><td>bytes "
	    "received</td><td class=\"n\">0 B</td>");
}
END_TEST

START_TEST(no_cluster_requests_alone)
{
	render(NULL);
	ck_assert_has("<span id=\"node\">solo&lt;1&gt;</span>");
	ck_assert_has("in no cluster");
	ck_assert_has("<span id=\"updated\">");
	ck_assert_has("<tr data-key=\"requests\"><td>requests</td>"
	    "<td class=\"n\">3</td>");
	ck_assert_ptr_null(strstr(page, "id=\"members\""));
	ck_assert_ptr_null(strstr(page, "href=\"/_/cluster\""));
}
END_TEST

int
main(void)
{
	check_main_tcase("page", setup, teardown,
	    CHECK_MAIN_TESTS(a_whole_document_for_a_phone,
	    every_member_with_its_state_and_fill, recent_events_newest_first,
	    catalogue_figures, striping_figures_when_the_node_stripes,
	    request_totals, no_cluster_requests_alone));
	return check_main_run();
}
