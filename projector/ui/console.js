/*
 * console.js - the evstore web console: one page, hash routes, every view built from the
 * projector's HTTP API (docs/HTTP-API.md) with fetch. Text goes into the page through
 * textContent only, never as HTML, so stored data cannot inject markup.
 * With a token (the field at the top, kept in sessionStorage for this tab), every request
 * carries "Authorization: Bearer TOKEN"; the live tail reads Server-Sent Events through
 * fetch for that reason (EventSource cannot send headers).
 */
"use strict";

const PAGE = 20;
const main = document.getElementById("main");
let tail = null; /* the live tail's AbortController while one runs */

/* ---- helpers ---------------------------------------------------------------------------- */

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v !== null && v !== undefined && v !== false) el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function token() { return sessionStorage.getItem("evstore.token") || ""; }

function headers(extra) {
  const hd = Object.assign({Accept: "application/json"}, extra || {});
  if (token()) hd.Authorization = "Bearer " + token();
  return hd;
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || ("HTTP " + status));
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const res = await fetch(path, opts);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function q(params) {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") s.set(k, v);
  const t = s.toString();
  return t ? "?" + t : "";
}

function enc(name) { return encodeURIComponent(name); }

function view(title, ...children) {
  main.replaceChildren(h("h1", {}, title), ...children);
}

function errorBox(err) {
  if (err instanceof ApiError && err.status === 401)
    return h("div", {class: "error"}, "The projector wants a token (401): enter it at the top. ", err.message);
  if (err instanceof ApiError && err.status === 403)
    return h("div", {class: "error"}, "This token may not do that (403): ", err.message);
  return h("div", {class: "error"}, err.message || String(err));
}

function show(err) { main.append(errorBox(err)); }

function pretty(value, encoding) {
  if (value === null || value === undefined) return "—";
  if (encoding === "base64") return "base64: " + value;
  return JSON.stringify(value, null, 2);
}

const streamName = /^[A-Za-z0-9_.:@-]{1,200}$/;

/* An id shown as a link to the stream of that name (ids are often stream names or event
 * ids used as stream names), or as text when no stream can have that name. */
function idLink(id) {
  if (!id) return h("span", {class: "meta"}, "—");
  return streamName.test(id) && id[0] !== "$"
    ? h("a", {class: "mono", href: "#/stream/" + enc(id)}, id)
    : h("span", {class: "mono"}, id);
}

function eventCard(e) {
  return h("div", {class: "event", "data-event-id": e.event_id},
    h("div", {class: "event-head"},
      h("span", {class: "event-type"}, e.type),
      h("a", {href: "#/stream/" + enc(e.stream) + q({from: e.version})}, e.stream + " @ " + e.version),
      h("span", {class: "meta"}, "position " + e.position + (e.partition !== undefined ? " · partition " + e.partition : "")),
      h("span", {class: "meta"}, e.created),
      h("span", {class: "meta"}, e.content_type)),
    h("div", {class: "event-head meta"},
      h("span", {}, "id ", h("span", {class: "mono"}, e.event_id)),
      h("span", {}, "correlation ", idLink(e.correlation_id)),
      h("span", {}, "causation ", idLink(e.causation_id))),
    h("div", {class: "payloads"},
      h("div", {}, h("div", {class: "label"}, "data"), h("pre", {class: "data"}, pretty(e.data, e.data_encoding))),
      h("div", {}, h("div", {class: "label"}, "metadata"), h("pre", {}, pretty(e.metadata, e.metadata_encoding)))));
}

function nav(active) {
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", a.dataset.nav === active);
}

/* ---- views ------------------------------------------------------------------------------ */

async function streamsView(params) {
  nav("streams");
  const input = h("input", {type: "search", id: "prefix", placeholder: "stream name prefix", value: params.get("prefix") || ""});
  const form = h("form", {class: "toolbar", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = "#/streams" + q({prefix: input.value.trim()});
  }}, input, h("button", {type: "submit"}, "Search"),
     h("span", {class: "meta"}, "or open a category: "),
     h("input", {type: "text", id: "category", placeholder: "category (Order)"}),
     h("button", {type: "button", class: "secondary", onclick: () => {
       const c = document.getElementById("category").value.trim();
       if (c) location.hash = "#/category/" + enc(c);
     }}, "Category"),
     h("input", {type: "text", id: "etype", placeholder: "event type"}),
     h("button", {type: "button", class: "secondary", onclick: () => {
       const t = document.getElementById("etype").value.trim();
       if (t) location.hash = "#/type/" + enc(t);
     }}, "Type"));
  const body = h("tbody", {});
  const more = h("button", {class: "secondary", id: "more", hidden: true}, "More");
  view("Streams", form, h("table", {id: "streams"},
    h("thead", {}, h("tr", {}, h("th", {}, "stream"), h("th", {class: "num"}, "version"))), body), more);
  input.focus();
  let after = null;
  const load = async () => {
    const page = await api("/streams" + q({prefix: params.get("prefix"), after, limit: 50}));
    for (const s of page.streams)
      body.append(h("tr", {}, h("td", {}, h("a", {href: "#/stream/" + enc(s.stream)}, s.stream)),
                            h("td", {class: "num"}, s.version)));
    if (!page.streams.length && !after)
      body.append(h("tr", {}, h("td", {colspan: 2, class: "empty"}, "No stream starts with that.")));
    after = page.next;
    more.hidden = !after;
  };
  more.onclick = () => load().catch(show);
  await load();
}

/* A page of events of a stream, $all, a category or a type, with paging links. */
async function eventsView(kind, name, params) {
  const from = params.get("from") || "";
  const partition = params.get("partition") || "";
  let path, title;
  if (kind === "stream") { path = "/streams/" + enc(name); title = name; nav("streams"); }
  else if (kind === "all") { path = "/all"; title = "$all"; nav("all"); }
  else if (kind === "category") { path = "/categories/" + enc(name); title = "Category " + name; nav("streams"); }
  else { path = "/types/" + enc(name); title = "Type " + name; nav("streams"); }
  const query = {from, limit: PAGE};
  if (kind !== "stream") query.partition = partition;
  const page = await api(path + q(query));
  const link = (p) => "#/" + kind + (name ? "/" + enc(name) : "") + q(p);
  const tools = h("div", {class: "toolbar"});
  if (kind === "stream") {
    tools.append(...[h("span", {class: "pill", id: "current-version"}, "version " + page.current_version),
      h("a", {href: link({from: 1})}, "first"),
      from && Number(from) > 1 ? h("a", {href: link({from: Math.max(1, Number(from) - PAGE)})}, "previous") : null,
      !page.end_of_stream ? h("a", {id: "next", href: link({from: page.next})}, "next") : null,
      h("a", {href: "#/tail" + q({source: "stream:" + name})}, "live tail")].filter(Boolean));
  } else {
    const status = await api("/status").catch(() => null);
    const count = status ? status.partitions.length : 1;
    const select = h("select", {id: "partition", onchange: () => { location.hash = link({partition: select.value}); }},
      Array.from({length: count}, (_, p) => h("option", {value: p, selected: String(p) === (partition || "0")}, "partition " + p)));
    tools.append(...[count > 1 ? select : null, h("a", {href: link({partition, from: 1})}, "first"),
      !page.end ? h("a", {id: "next", href: link({partition, from: page.next})}, "next") : null,
      h("a", {href: "#/tail" + q({source: kind === "all" ? "all" : kind + ":" + name, partition})}, "live tail")].filter(Boolean));
  }
  const list = h("div", {id: "events"}, page.events.map(eventCard));
  if (!page.events.length) list.append(h("div", {class: "empty"}, "No events here."));
  view(title, tools, list);
}

function subscriptionPath(source, partition) {
  const [kind, ...rest] = source.split(":");
  const name = rest.join(":");
  if (kind === "stream") return "/subscriptions/streams/" + enc(name) + "?from=now";
  const p = partition ? "&partition=" + enc(partition) : "";
  if (kind === "category") return "/subscriptions/categories/" + enc(name) + "?from=now" + p;
  if (kind === "type") return "/subscriptions/types/" + enc(name) + "?from=now" + p;
  return "/subscriptions/all?from=now" + p;
}

/* Reads an SSE answer through fetch and calls onEvent with each event object. */
async function readSse(path, controller, onEvent, onState) {
  const res = await fetch(path, {headers: headers({Accept: "text/event-stream"}), signal: controller.signal});
  if (!res.ok) {
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    throw new ApiError(res.status, body);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const {value, done} = await reader.read();
    if (done) return;
    buf += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let type = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) type = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (type === "event" && data) onEvent(JSON.parse(data));
      else if (type === "caught-up") onState("live");
    }
  }
}

async function tailView(params) {
  nav("tail");
  const source = params.get("source") || "all";
  const partition = params.get("partition") || "";
  const input = h("input", {type: "text", id: "tail-source", value: source, size: 30,
                            title: "all, stream:NAME, category:NAME or type:NAME"});
  const state = h("span", {class: "pill", id: "tail-state"}, "connecting");
  const log = h("div", {id: "tail-log"});
  view("Live tail",
    h("form", {class: "toolbar", onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = "#/tail" + q({source: input.value.trim(), partition});
    }}, input, h("button", {type: "submit"}, "Follow"), state,
      h("span", {class: "meta"}, "new events appear at the top as they are accepted")),
    log);
  const controller = new AbortController();
  tail = controller;
  readSse(subscriptionPath(source, partition), controller, (e) => {
    log.prepend(eventCard(e));
    while (log.childElementCount > 200) log.lastElementChild.remove();
  }, (s) => { state.textContent = s; state.className = "pill ok"; })
    .then(() => { state.textContent = "ended"; state.className = "pill"; })
    .catch((err) => {
      if (controller.signal.aborted) return;
      state.textContent = "stopped";
      state.className = "pill bad";
      main.insertBefore(errorBox(err), log);
    });
}

function coordinatorNotice(err, name) {
  const box = h("div", {class: "notice", id: "not-coordinator"},
    h("strong", {}, "Another projector coordinates group " + name + " (421 not_coordinator). "),
    "One projector at a time runs a consumer group; open the console of the one that does. ");
  api("/cluster").then((c) => {
    const list = h("ul", {});
    for (const m of c.members)
      if (m.live && m.coordinates && m.coordinates.length)
        list.append(h("li", {}, h("a", {href: m.url + "/ui#/group/" + enc(name)}, m.id),
          " coordinates state partitions " + m.coordinates.join(", ")));
    box.append(list);
  }).catch(() => {});
  return box;
}

async function groupsView() {
  nav("groups");
  const list = await api("/groups");
  const body = h("tbody", {}, list.groups.map((g) => h("tr", {},
    h("td", {}, h("a", {href: "#/group/" + enc(g.name)}, g.name)),
    h("td", {}, g.source), h("td", {class: "num"}, g.partition),
    h("td", {class: "num"}, g.max_attempts), h("td", {class: "num"}, g.ack_timeout_ms))));
  if (!list.groups.length) body.append(h("tr", {}, h("td", {colspan: 5, class: "empty"}, "No consumer groups.")));
  view("Consumer groups", h("table", {id: "groups"}, h("thead", {}, h("tr", {},
    h("th", {}, "group"), h("th", {}, "source"), h("th", {class: "num"}, "partition"),
    h("th", {class: "num"}, "max attempts"), h("th", {class: "num"}, "ack timeout ms"))), body));
}

function card(label, value, id) {
  return h("div", {class: "card"}, h("div", {class: "meta"}, label), h("div", {class: "value", id}, value));
}

async function groupView(name) {
  nav("groups");
  let g;
  try {
    g = await api("/groups/" + enc(name));
  } catch (err) {
    if (err instanceof ApiError && err.status === 421 && err.body.error_type === "not_coordinator") {
      view("Group " + name, coordinatorNotice(err, name), errorBox(err));
      return;
    }
    throw err;
  }
  const lag = Math.max(0, g.last_position + 1 - g.checkpoint);
  const parked = await api("/groups/" + enc(name) + "/parked" + q({limit: 100}));
  const replay = h("button", {id: "replay", disabled: !g.parked, onclick: async () => {
    replay.disabled = true;
    try {
      const r = await api("/groups/" + enc(name) + "/parked/replay", {method: "POST",
        headers: {"Content-Type": "application/json"}, body: "{}"});
      sessionStorage.setItem("evstore.replayed", String(r.replayed));
      await route();
      main.insertBefore(h("div", {class: "notice", id: "replayed"}, "Replayed " + r.replayed +
        " parked event(s): they are delivered again, before the later events of their streams."), main.children[1]);
    } catch (err) { show(err); }
  }}, "Replay parked events");
  view("Group " + name,
    h("p", {class: "meta"}, g.source + " · partition " + g.partition + " · max attempts " + g.max_attempts +
      " · ack timeout " + g.ack_timeout_ms + " ms"),
    h("div", {class: "cards"}, card("checkpoint", g.checkpoint, "g-checkpoint"), card("lag (events)", lag, "g-lag"),
      card("in flight", g.in_flight, "g-in-flight"), card("pending", g.pending, "g-pending"),
      card("replaying", g.replaying, "g-replaying"), card("parked", g.parked, "g-parked")),
    h("h2", {}, "Members"),
    h("table", {id: "members"}, h("thead", {}, h("tr", {}, h("th", {}, "member"), h("th", {}, "polling"),
      h("th", {class: "num"}, "idle ms"), h("th", {class: "num"}, "in flight"),
      h("th", {class: "num"}, "delivered"), h("th", {class: "num"}, "acked"))),
      h("tbody", {}, g.members.length ? g.members.map((m) => h("tr", {}, h("td", {class: "mono"}, m.member_id),
        h("td", {}, m.polling ? "yes" : "no"), h("td", {class: "num"}, m.idle_ms), h("td", {class: "num"}, m.in_flight),
        h("td", {class: "num"}, m.delivered), h("td", {class: "num"}, m.acked)))
        : h("tr", {}, h("td", {colspan: 6, class: "empty"}, "No members.")))),
    h("h2", {}, "Parked events (" + parked.count + ")"),
    h("div", {class: "toolbar"}, replay),
    h("table", {id: "parked"}, h("thead", {}, h("tr", {}, h("th", {class: "num"}, "position"), h("th", {}, "stream"),
      h("th", {class: "num"}, "attempts"), h("th", {}, "reason"), h("th", {}, "parked"))),
      h("tbody", {}, parked.parked.length ? parked.parked.map((p) => h("tr", {}, h("td", {class: "num"},
        h("a", {href: "#/all" + q({partition: g.partition, from: p.position})}, p.position)),
        h("td", {}, h("a", {href: "#/stream/" + enc(p.stream)}, p.stream)), h("td", {class: "num"}, p.attempts),
        h("td", {}, p.reason), h("td", {class: "meta"}, p.parked)))
        : h("tr", {}, h("td", {colspan: 5, class: "empty"}, "Nothing parked.")))));
}

async function statusView() {
  nav("status");
  const s = await api("/status");
  view("Partitions",
    h("p", {class: "meta"}, "topic " + s.topic + " · state " + s.state + " · skipped records " + s.skipped_records),
    h("table", {id: "partitions"}, h("thead", {}, h("tr", {}, ["partition", "assigned", "next offset",
      "judged offset", "high watermark", "lag", "last position"].map((t, i) => h("th", {class: i > 1 ? "num" : ""}, t)))),
      h("tbody", {}, s.partitions.map((p) => h("tr", {}, h("td", {}, h("a", {href: "#/all" + q({partition: p.partition})}, p.partition)),
        h("td", {}, p.assigned ? "yes" : "no"), h("td", {class: "num"}, p.next_offset),
        h("td", {class: "num"}, p.judged_offset), h("td", {class: "num"}, p.high_watermark),
        h("td", {class: "num"}, p.lag), h("td", {class: "num"}, p.last_position))))));
}

async function clusterView() {
  nav("cluster");
  const c = await api("/cluster");
  view("Replicas",
    h("p", {class: "meta"}, "topic " + c.topic + " · " + c.partitions + " partitions · " + c.state_partitions +
      " state partitions · this is " + c.self),
    h("table", {id: "replicas"}, h("thead", {}, h("tr", {}, ["member", "url", "state", "live", "partitions",
      "applied", "coordinates", "heartbeat age ms"].map((t) => h("th", {}, t)))),
      h("tbody", {}, c.members.map((m) => h("tr", {}, h("td", {class: "mono"}, m.id), h("td", {}, h("a", {href: m.url + "/ui"}, m.url)),
        h("td", {}, m.state), h("td", {}, h("span", {class: "pill " + (m.live ? "ok" : "bad")}, m.live ? "live" : "not live")),
        h("td", {}, (m.partitions || []).join(", ")),
        h("td", {class: "mono"}, Object.entries(m.applied || {}).map(([p, o]) => p + ":" + o).join(" ")),
        h("td", {}, (m.coordinates || []).join(", ")), h("td", {class: "num"}, m.heartbeat_age_ms))))));
}

/* ---- routing and health ------------------------------------------------------------------ */

async function route() {
  if (tail) { tail.abort(); tail = null; }
  const hash = location.hash.slice(1) || "/streams";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  try {
    switch (parts[0]) {
      case "stream": return await eventsView("stream", parts.slice(1).join("/"), params);
      case "all": return await eventsView("all", "", params);
      case "category": return await eventsView("category", parts[1], params);
      case "type": return await eventsView("type", parts.slice(1).join("/"), params);
      case "tail": return await tailView(params);
      case "groups": return await groupsView();
      case "group": return await groupView(parts[1]);
      case "status": return await statusView();
      case "cluster": return await clusterView();
      default: return await streamsView(params);
    }
  } catch (err) {
    view("Error", errorBox(err));
  }
}

async function health() {
  const pill = document.getElementById("health");
  try {
    const res = await fetch("/health", {headers: headers()});
    const body = await res.json();
    pill.textContent = res.ok ? "healthy" : "refusing: " + (body.reason || res.status);
    pill.className = "pill " + (res.ok ? "ok" : "bad");
  } catch (e) {
    pill.textContent = "unreachable";
    pill.className = "pill bad";
  }
}

const tokenInput = document.getElementById("token");
tokenInput.value = token();
document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (tokenInput.value) sessionStorage.setItem("evstore.token", tokenInput.value);
  else sessionStorage.removeItem("evstore.token");
  route();
});
window.addEventListener("hashchange", route);
route();
health();
setInterval(health, 5000);
