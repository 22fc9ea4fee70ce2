/*
 * status_page.c - GET /_/status (see cluster/status_page.h): the page's
 * template and its rendering. Loop thread of a worker. The member table's
 * lock is held while the members' rows and the events are written; the
 * catalogue's figures and the request counters are read without a lock
 * (relaxed counters).
 *
 * The server writes the first view into the same elements the script
 * redraws (ids members, summary, cat-*, striping, events, requests), so
 * that both views read alike. The striping figures come from the section a
 * higher layer adds to /_/cluster (cluster_set_section), read by their
 * keys, as the script reads them. Everything a member says of itself (its name, its
 * address) is hostile input: the server escapes it (status_text), the
 * script puts it in the page only as text (textContent), never as markup.
 */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cluster/catalogue.h"
#include "cluster/cluster.h"
#include "cluster/members.h"
#include "cluster/status_page.h"
#include "core/buf.h"
#include "core/config.h"
#include "event/loop.h"
#include "serve/conn.h"
#include "serve/request.h"
#include "serve/server.h"
#include "store/metrics.h"

/* Nothing but this page: no other origin, no frame, no form, and no
 * script but its own (its hash, status_page_routes()). */
#define STATUS_HEADERS "Cache-Control: no-store\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"Content-Security-Policy: default-src 'none'; " \
	"style-src 'unsafe-inline'; script-src 'sha256-%s'; " \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; " \
	"frame-ancestors 'none'\r\n"

#define STATUS_NUM 32			/* a number as text */

/* The cluster of this worker (one per process), or NULL. */
static struct cluster *status_cluster;
/* The headers, with the script's SHA-256 in base64. */
#define STATUS_B64 (4 * EVP_MAX_MD_SIZE / 3 + 4)
static char status_headers[sizeof(STATUS_HEADERS) + STATUS_B64];

static const char status_head[] =
"<!DOCTYPE html>\n"
"<html lang=\"en\">\n"
"<head>\n"
"<meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<style>\n"
":root{color-scheme:light dark;--ok:#2a7d3b;--warn:#b07800;--bad:#c0282d;"
"--off:#777}\n"
"body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:64rem;"
"padding:.6rem .9rem}\n"
"h1{font-size:1.3rem;margin:.3rem 0}\n"
"h2{font-size:1.05rem;margin:1.3rem 0 .4rem}\n"
"p{margin:.2rem 0}\n"
".wrap{overflow-x:auto}\n"
"table{border-collapse:collapse;width:100%}\n"
"th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #8884;"
"white-space:nowrap}\n"
".n{text-align:right;font-variant-numeric:tabular-nums}\n"
"tr.self td:first-child{font-weight:600}\n"
"small{color:var(--off)}\n"
".state{display:inline-block;min-width:3.5rem;text-align:center;"
"padding:0 .4rem;border-radius:.7rem;color:#fff;font-size:.85em}\n"
".alive{background:var(--ok)}.suspect{background:var(--warn)}"
".dead{background:var(--bad)}.left,.unknown{background:var(--off)}\n"
".bar{display:inline-block;width:6rem;height:.75rem;border:1px solid #8888;"
"border-radius:.2rem;overflow:hidden;vertical-align:middle}\n"
".bar>span{display:block;height:100%;background:var(--ok)}\n"
".bar.full>span{background:var(--bad)}\n"
"dl{display:grid;grid-template-columns:repeat(auto-fill,minmax(8.5rem,1fr));"
"gap:.5rem;margin:0}\n"
"dl>div{border:1px solid #8884;border-radius:.3rem;padding:.35rem .6rem}\n"
"dt{font-size:.85em;color:var(--off)}\n"
"dd{margin:0;font-size:1.25em;font-variant-numeric:tabular-nums}\n"
"dl>div.warn{border-color:var(--warn)}.warn dd{color:var(--warn);"
"font-weight:600}\n"
"ol{margin:0;padding-left:1.4rem}li{margin:.2rem 0}\n"
"#updated.stale{color:var(--bad);font-weight:600}\n"
"@media (max-width:40rem){\n"
"#members-table thead{display:none}\n"
"#members tr{display:block;padding:.3rem 0;border-bottom:1px solid #8884}\n"
"#members td{display:inline-block;border:0;padding:.1rem .4rem}\n"
"#members td:nth-child(4)::before{content:'incarnation '}\n"
"#members td:nth-child(5)::before{content:'heard '}\n"
"}\n"
"</style>\n";

/*
 * The script: every second, /_/cluster and /_/metrics, and the same
 * elements redrawn; request rates are the counters' moves between two
 * answers. Strings go into the page as text only.
 */
static const char status_script[] =
"\n'use strict';\n"
"(function () {\n"
"var STATES = ['alive', 'suspect', 'dead', 'left'];\n"
"var last = null, okAt = null;\n"
"var COUNTERS = {shoal_sent_bytes_total: 'sent',\n"
"  shoal_received_bytes_total: 'received',\n"
"  shoal_local_hits_total: 'local_hits', shoal_peer_hits_total: 'peer_hits',\n"
"  shoal_peer_misses_total: 'peer_misses'};\n"
"function $(id) { return document.getElementById(id); }\n"
"function el(tag, text, cls) {\n"
"  var e = document.createElement(tag);\n"
"  if (text !== undefined && text !== null) e.textContent = String(text);\n"
"  if (cls) e.className = cls;\n"
"  return e;\n"
"}\n"
"function known(s) { return STATES.indexOf(s) >= 0 ? s : 'unknown'; }\n"
"function bytes(n) {\n"
"  var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'], i = 0;\n"
"  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }\n"
"  return (i ? n.toFixed(1) : String(n)) + ' ' + u[i];\n"
"}\n"
"function ago(ms) { return (ms / 1000).toFixed(1) + ' s ago'; }\n"
"function tag(text, state) {\n"
"  return el('span', text, 'state ' + known(state));\n"
"}\n"
"function fill(m) {\n"
"  var td = el('td'), pct, bar, part;\n"
"  if (!m.capacity) { td.textContent = '\\u2014'; return td; }\n"
"  pct = Math.min(100, 100 * m.used / m.capacity);\n"
"  bar = el('span', null, pct >= 90 ? 'bar full' : 'bar');\n"
"  part = el('span');\n"
"  part.style.width = pct.toFixed(1) + '%';\n"
"  bar.appendChild(part);\n"
"  td.append(bar, ' ' + pct.toFixed(0) + '% of ' + bytes(m.capacity));\n"
"  return td;\n"
"}\n"
"function member(m, self) {\n"
"  var tr = el('tr', null, self ? 'self' : ''), name = el('td', m.name),\n"
"    st = el('td');\n"
"  tr.dataset.name = m.name;\n"
"  tr.dataset.state = known(m.state);\n"
"  if (self) name.append(' ', el('small', 'this node'));\n"
"  st.appendChild(tag(m.state, m.state));\n"
"  tr.append(name, el('td', m.address), st, el('td', m.incarnation, 'n'),\n"
"    el('td', ago(m.last_heard_ms), 'n'), fill(m));\n"
"  return tr;\n"
"}\n"
"function verb(e) {\n"
"  return e.from === 'new' ? 'joined' : e.to === 'alive' ? 'healed' : e.to;\n"
"}\n"
"function event(e) {\n"
"  var li = el('li');\n"
"  li.dataset.member = e.member;\n"
"  li.dataset.to = known(e.to);\n"
"  li.append(tag(verb(e), e.to), ' ' + e.member + ' ',\n"
"    el('small', (e.from === 'new' ? 'new' : 'was ' + e.from) +\n"
"    ' \\u00b7 incarnation ' + e.incarnation + ' \\u00b7 ' +\n"
"    ago(e.ago_ms)));\n"
"  return li;\n"
"}\n"
"function striping(s) {\n"
"  document.querySelectorAll('#striping dd').forEach(function (dd) {\n"
"    var x = Number(s[dd.dataset.key]) || 0;\n"
"    dd.textContent = dd.dataset.unit === 'bytes' ? bytes(x) : String(x);\n"
"    if (dd.dataset.warn) dd.parentNode.className = x > 0 ? 'warn' : '';\n"
"  });\n"
"}\n"
"function cluster(j) {\n"
"  var rows = [member(j.node, true)], c = j.catalogue, ev,\n"
"    n = {alive: 1, suspect: 0, dead: 0, left: 0};\n"
"  j.members.forEach(function (m) {\n"
"    rows.push(member(m, false));\n"
"    if (STATES.indexOf(m.state) >= 0) n[m.state]++;\n"
"  });\n"
"  $('members').replaceChildren.apply($('members'), rows);\n"
"  $('summary').textContent = 'cluster ' + j.cluster + ': ' + rows.length +\n"
"    ' members, ' + STATES.map(function (s) { return n[s] + ' ' + s; })\n"
"    .join(', ');\n"
"  $('cat-names').textContent = c.names;\n"
"  $('cat-versions').textContent = c.versions;\n"
"  $('cat-holdings').textContent = c.holdings;\n"
"  $('cat-bytes').textContent = bytes(c.object_bytes);\n"
"  $('cat-conflicts').textContent = c.conflicts;\n"
"  if (j.striping) striping(j.striping);\n"
"  ev = j.events.map(event);\n"
"  if (!ev.length) ev.push(el('li', 'none yet', 'none'));\n"
"  $('events').replaceChildren.apply($('events'), ev);\n"
"}\n"
"function totals(text) {\n"
"  var v = {requests: 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0};\n"
"  text.split('\\n').forEach(function (line) {\n"
"    var sp = line.lastIndexOf(' '), key = line.slice(0, sp),\n"
"      x = Number(line.slice(sp + 1)), name = key.split('{')[0], s;\n"
"    if (sp < 0 || line.charAt(0) === '#' || isNaN(x)) return;\n"
"    if (name === 'shoal_requests_total') {\n"
"      v.requests += x;\n"
"      s = key.indexOf('status=');\n"
"      s = s < 0 ? '' : key.charAt(s + 8);\n"
"      if (s >= '2' && s <= '5') v[s + 'xx'] += x;\n"
"    } else if (COUNTERS.hasOwnProperty(name)) {\n"
"      v[COUNTERS[name]] = x;\n"
"    }\n"
"  });\n"
"  return v;\n"
"}\n"
"function requests(text) {\n"
"  var v = totals(text), now = Date.now();\n"
"  var rows = document.querySelectorAll('#requests tr[data-key]');\n"
"  rows.forEach(function (tr) {\n"
"    var k = tr.dataset.key, b = tr.dataset.unit === 'bytes',\n"
"      x = v[k] || 0, r;\n"
"    tr.cells[1].textContent = b ? bytes(x) : String(x);\n"
"    if (!last || now <= last.t) return;\n"
"    r = Math.max(0, (x - (last.v[k] || 0)) * 1000 / (now - last.t));\n"
"    tr.cells[2].textContent = b ? bytes(Math.round(r)) : r.toFixed(1);\n"
"  });\n"
"  last = {t: now, v: v};\n"
"}\n"
"function stamp(ok) {\n"
"  var u = $('updated');\n"
"  if (ok) okAt = new Date();\n"
"  u.className = ok ? '' : 'stale';\n"
"  u.textContent = ok ? 'updated ' + okAt.toLocaleTimeString() :\n"
"    'no answer since ' +\n"
"    (okAt ? okAt.toLocaleTimeString() : 'the page loaded');\n"
"}\n"
"function get(path, json) {\n"
"  return fetch(path, {cache: 'no-store'}).then(function (r) {\n"
"    return !r.ok ? null : json ? r.json() : r.text();\n"
"  });\n"
"}\n"
"function tick() {\n"
"  var inCluster = $('members') !== null;\n"
"  Promise.all([inCluster ? get('/_/cluster', true) : null,\n"
"    get('/_/metrics', false)]).then(function (a) {\n"
"    if (a[0]) cluster(a[0]);\n"
"    if (a[1] !== null) requests(a[1]);\n"
"    stamp(a[1] !== null && (!inCluster || a[0] !== null));\n"
"  }).catch(function () { stamp(false); }).then(function () {\n"
"    setTimeout(tick, 1000);\n"
"  });\n"
"}\n"
"tick();\n"
"})();\n";

/* The rows of the requests' table: key, label, shown as bytes. */
static const struct {
	const char *key;
	const char *label;
	bool bytes;
} status_rows[] = {
	{ "requests", "requests", false },
	{ "2xx", "2xx", false }, { "3xx", "3xx", false },
	{ "4xx", "4xx", false }, { "5xx", "5xx", false },
	{ "sent", "bytes sent", true }, { "received", "bytes received", true },
	{ "local_hits", "local hits", false },
	{ "peer_hits", "peer hits", false },
	{ "peer_misses", "peer misses", false },
};

/* The figures of the striping section of /_/cluster shown: its key, label,
 * shown as bytes, warned of when not 0. */
static const struct {
	const char *key;
	const char *label;
	bool bytes;
	bool warn;
} status_striping_figures[] = {
	{ "degraded_objects", "degraded objects", false, true },
	{ "heal_todo_bytes", "bytes to heal", true, false },
	{ "healed_parts", "parts healed", false, false },
	{ "healed_bytes", "bytes healed", true, false },
	{ "heal_failures", "heal failures", false, false },
	{ "corrupt_blocks", "corrupt blocks read", false, false },
	{ "scrub_corrupt_blocks", "corrupt blocks scrubbed", false, false },
};

/* Text, escaped for an element's content or a quoted attribute. */
static void
status_text(struct buf *out, const char *s)
{
	size_t run;

	while (*s != '\0') {
		run = strcspn(s, "&<>\"'");
		buf_append(out, s, run);
		s += run;
		switch (*s) {
		case '&':
			buf_append_str(out, "&amp;");
			break;
		case '<':
			buf_append_str(out, "&lt;");
			break;
		case '>':
			buf_append_str(out, "&gt;");
			break;
		case '"':
			buf_append_str(out, "&quot;");
			break;
		case '\'':
			buf_append_str(out, "&#39;");
			break;
		default:
			return;
		}
		s++;
	}
}

/* A size as the script writes it: "512 B", "1.5 GiB". */
static void
status_bytes(char *out, size_t len, uint64_t n)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB",
	    "PiB", "EiB" };
	double v = (double)n;
	size_t i = 0;

	if (n < 1024) {
		snprintf(out, len, "%llu B", (unsigned long long)n);
		return;
	}
	while (v >= 1024 && i < sizeof(units) / sizeof(units[0]) - 1) {
		v /= 1024;
		i++;
	}
	snprintf(out, len, "%.1f %s", v, units[i]);
}

static void
status_fill(struct buf *out, uint64_t capacity, uint64_t used)
{
	char size[STATUS_NUM];
	double pct;

	if (capacity == 0) {
		buf_append_str(out, "<td>\u2014</td>");
		return;
	}
	pct = 100.0 * (double)used / (double)capacity;
	if (pct > 100)
		pct = 100;
	status_bytes(size, sizeof(size), capacity);
	buf_printf(out, "<td><span class=\"bar%s\"><span style=\"width:%.1f%%\">"
	    "</span></span> %.0f%% of %s</td>", pct >= 90 ? " full" : "", pct,
	    pct, size);
}

static void
status_member(struct buf *out, const struct member *m, bool self,
    int64_t now_ms)
{
	const struct member_facts *f = &m->m_facts;
	const char *state = member_state_name(self && !f->mf_left ?
	    MEMBER_ALIVE : (enum member_state)m->m_state);
	int64_t ago = self ? 0 : now_ms - m->m_heard_ms;

	buf_printf(out, "<tr%s data-name=\"", self ? " class=\"self\"" : "");
	status_text(out, f->mf_name);
	buf_printf(out, "\" data-state=\"%s\"><td>", state);
	status_text(out, f->mf_name);
	if (self)
		buf_append_str(out, " <small>this node</small>");
	buf_append_str(out, "</td><td>");
	status_text(out, f->mf_addr);
	buf_printf(out, "</td><td><span class=\"state %s\">%s</span></td>"
	    "<td class=\"n\">%llu</td><td class=\"n\">%.1f s ago</td>", state,
	    state, (unsigned long long)f->mf_incarnation,
	    (double)(ago > 0 ? ago : 0) / 1000);
	status_fill(out, f->mf_capacity, f->mf_used);
	buf_append_str(out, "</tr>\n");
}

static void
status_event(struct buf *out, const struct member_event *e, int64_t now_ms)
{
	const char *to = member_state_name((enum member_state)e->me_to);
	const char *verb = e->me_from == MEMBER_STATES ? "joined" :
	    e->me_to == MEMBER_ALIVE ? "healed" : to;
	int64_t ago = now_ms - e->me_ms;

	buf_append_str(out, "<li data-member=\"");
	status_text(out, e->me_name);
	buf_printf(out, "\" data-to=\"%s\"><span class=\"state %s\">%s</span> ",
	    to, to, verb);
	status_text(out, e->me_name);
	buf_printf(out, " <small>%s%s \u00b7 incarnation %llu \u00b7 %.1f s ago"
	    "</small></li>\n", e->me_from == MEMBER_STATES ? "" : "was ",
	    cluster_event_from(e), (unsigned long long)e->me_incarnation,
	    (double)(ago > 0 ? ago : 0) / 1000);
}

/* The members, their summary and the recent events, under the lock. */
static void
status_members(struct buf *out, struct cluster *cl, int64_t now_ms)
{
	struct members *mt = cl->cl_members;
	struct member_event ev[MEMBERS_EVENTS];
	uint32_t counts[MEMBER_STATES], i;
	struct buf rows = { 0 };
	size_t n, k;

	if (members_lock(mt) == -1) {
		buf_append_str(out, "<p>The member table cannot be read.</p>\n");
		return;
	}
	members_count_locked(mt, counts);
	status_member(&rows, members_self(mt), true, now_ms);
	for (i = 0; i < mt->mt_capacity; i++)
		if (members_at(mt, i)->m_in_use && i != mt->mt_self)
			status_member(&rows, members_at(mt, i), false, now_ms);
	n = members_events_locked(mt, ev, MEMBERS_EVENTS);
	buf_append_str(out, "<p><span id=\"summary\">cluster ");
	status_text(out, cl->cl_name);
	buf_printf(out, ": %u members, %u alive, %u suspect, %u dead, %u left"
	    "</span> \u00b7 <span id=\"updated\">as the page was loaded</span>"
	    "</p>\n", mt->mt_count, counts[MEMBER_ALIVE],
	    counts[MEMBER_SUSPECT], counts[MEMBER_DEAD], counts[MEMBER_LEFT]);
	buf_append_str(out, "<h2>Members</h2>\n<div class=\"wrap\">"
	    "<table id=\"members-table\">"
	    "<thead><tr><th>name</th><th>address</th><th>state</th>"
	    "<th class=\"n\">incarnation</th><th class=\"n\">last heard</th>"
	    "<th>store fill</th></tr></thead>\n<tbody id=\"members\">\n");
	buf_append(out, rows.data, rows.len);
	buf_append_str(out, "</tbody></table></div>\n<h2>Recent events</h2>\n"
	    "<ol id=\"events\">\n");
	for (k = 0; k < n; k++)
		status_event(out, &ev[k], now_ms);
	if (n == 0)
		buf_append_str(out, "<li class=\"none\">none yet</li>\n");
	buf_append_str(out, "</ol>\n");
	members_unlock(mt);
	buf_free(&rows);
}

static void
status_figure(struct buf *out, const char *id, const char *label,
    const char *value)
{
	buf_printf(out, "<div><dt>%s</dt><dd id=\"%s\">%s</dd></div>\n", label,
	    id, value);
}

static void
status_catalogue(struct buf *out, const struct cluster *cl)
{
	const struct catalogue_stats *st = catalogue_stats(cl->cl_catalogue);
	char v[STATUS_NUM];

	buf_append_str(out, "<h2>Objects</h2>\n<dl>\n");
	snprintf(v, sizeof(v), "%llu", (unsigned long long)__atomic_load_n(
	    &st->cs_names, __ATOMIC_RELAXED));
	status_figure(out, "cat-names", "names", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)__atomic_load_n(
	    &st->cs_versions, __ATOMIC_RELAXED));
	status_figure(out, "cat-versions", "versions", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)__atomic_load_n(
	    &st->cs_facts, __ATOMIC_RELAXED));
	status_figure(out, "cat-holdings", "holdings (copies)", v);
	status_bytes(v, sizeof(v), __atomic_load_n(&st->cs_bytes,
	    __ATOMIC_RELAXED));
	status_figure(out, "cat-bytes", "bytes (one copy each)", v);
	snprintf(v, sizeof(v), "%llu", (unsigned long long)__atomic_load_n(
	    &st->cs_conflicts, __ATOMIC_RELAXED));
	status_figure(out, "cat-conflicts",
	    "<a href=\"/_/conflicts\">conflicting names</a>", v);
	buf_append_str(out, "</dl>\n");
}

/* The striping section of /_/cluster, when this node has one (it stripes
 * or stores parts). */
static void
status_striping(struct buf *out, struct cluster *cl)
{
	json_t *section, *v;
	char text[STATUS_NUM];
	uint64_t n;
	size_t i;

	if (cl->cl_section_fn == NULL || strcmp(cl->cl_section_key,
	    "striping") != 0 ||
	    (section = cl->cl_section_fn(cl->cl_section_arg)) == NULL)
		return;
	buf_append_str(out, "<h2>Striped objects</h2>\n<dl id=\"striping\">\n");
	for (i = 0; i < sizeof(status_striping_figures) /
	    sizeof(status_striping_figures[0]); i++) {
		v = json_object_get(section, status_striping_figures[i].key);
		n = json_is_integer(v) && json_integer_value(v) > 0 ?
		    (uint64_t)json_integer_value(v) : 0;
		if (status_striping_figures[i].bytes)
			status_bytes(text, sizeof(text), n);
		else
			snprintf(text, sizeof(text), "%llu",
			    (unsigned long long)n);
		buf_printf(out, "<div%s><dt>%s</dt><dd id=\"striping-%s\" "
		    "data-key=\"%s\"%s%s>%s</dd></div>\n",
		    status_striping_figures[i].warn && n > 0 ?
		    " class=\"warn\"" : "", status_striping_figures[i].label,
		    status_striping_figures[i].key,
		    status_striping_figures[i].key,
		    status_striping_figures[i].bytes ? " data-unit=\"bytes\"" :
		    "", status_striping_figures[i].warn ? " data-warn=\"1\"" :
		    "", text);
	}
	buf_append_str(out, "</dl>\n");
	json_decref(section);
}

static void
status_requests(struct buf *out)
{
	struct metrics_totals t;
	uint64_t v[sizeof(status_rows) / sizeof(status_rows[0])];
	char text[STATUS_NUM];
	size_t i;

	metrics_totals(&t);
	v[0] = t.tot_requests;
	for (i = 2; i <= 5; i++)
		v[i - 1] = t.tot_by_class[i];
	v[5] = t.tot_bytes_sent;
	v[6] = t.tot_bytes_received;
	v[7] = t.tot_local_hits;
	v[8] = t.tot_peer_hits;
	v[9] = t.tot_peer_misses;
	buf_append_str(out, "<h2>Requests to this node</h2>\n<div class=\"wrap\">"
	    "<table id=\"requests\"><thead><tr><th></th><th class=\"n\">total"
	    "</th><th class=\"n\">per second</th></tr></thead><tbody>\n");
	for (i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]); i++) {
		if (status_rows[i].bytes)
			status_bytes(text, sizeof(text), v[i]);
		else
			snprintf(text, sizeof(text), "%llu",
			    (unsigned long long)v[i]);
		buf_printf(out, "<tr data-key=\"%s\"%s><td>%s</td>"
		    "<td class=\"n\">%s</td><td class=\"n\">\u2014</td></tr>\n",
		    status_rows[i].key, status_rows[i].bytes ?
		    " data-unit=\"bytes\"" : "", status_rows[i].label, text);
	}
	buf_append_str(out, "</tbody></table></div>\n");
}

void
status_page_render(struct cluster *cl, const char *node, int64_t now_ms,
    struct buf *out)
{
	buf_append_str(out, status_head);
	buf_append_str(out, "<title>shoal \u00b7 ");
	status_text(out, node);
	buf_append_str(out, "</title>\n</head>\n<body>\n<h1>shoal "
	    "<span id=\"node\">");
	status_text(out, node);
	buf_append_str(out, "</span></h1>\n");
	if (cl != NULL) {
		status_members(out, cl, now_ms);
		status_catalogue(out, cl);
		status_striping(out, cl);
	} else
		buf_append_str(out, "<p>This node is in no cluster (its "
		    "configuration has no <code>cluster</code> section): only "
		    "its own requests are shown. <span id=\"updated\">As the "
		    "page was loaded.</span></p>\n");
	status_requests(out);
	buf_append_str(out, cl != NULL ? "<p><small>The same as JSON: "
	    "<a href=\"/_/cluster\">/_/cluster</a>, <a href=\"/_/conflicts\">"
	    "/_/conflicts</a>; counters: <a href=\"/_/metrics\">/_/metrics</a>."
	    "</small></p>\n" : "<p><small>Counters: <a href=\"/_/metrics\">"
	    "/_/metrics</a>.</small></p>\n");
	buf_printf(out, "<script>%s</script>\n</body>\n</html>\n",
	    status_script);
}

static void
status_route(struct conn *c, const char *path)
{
	struct buf body = { 0 };

	(void)path;
	if (!request_node_read_only(c))
		return;
	status_page_render(status_cluster, c->c_srv->s_cfg->node,
	    loop_now(c->c_srv->s_loop), &body);
	conn_send_body(c, "text/html; charset=utf-8", status_headers,
	    body.data, body.len);
	buf_free(&body);
}

void
status_page_routes(struct server *s, struct cluster *cl)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned char b64[STATUS_B64] = "";
	unsigned int n = 0;

	/* A failure leaves the hash empty: the page reads without its
	 * script (the server's view), never with a script unchecked. */
	if (EVP_Digest(status_script, strlen(status_script), md, &n,
	    EVP_sha256(), NULL) == 1)
		EVP_EncodeBlock(b64, md, (int)n);
	snprintf(status_headers, sizeof(status_headers), STATUS_HEADERS,
	    (const char *)b64);
	status_cluster = cl;
	(void)server_route(s, "status", status_route);
}
