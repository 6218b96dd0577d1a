// A tiny, independent ActivityPub peer built on Fedify, used by herald's Rust
// integration tests as "some other fediverse server".  It hosts exactly one
// local user, `alice`, and exposes a few plain-JSON control endpoints so the
// test can make alice follow/unfollow herald and inspect what alice received.
//
// Everything ActivityPub-ish (actor documents, WebFinger, HTTP Signatures on
// outgoing requests, signature verification of incoming activities, activity
// parsing) is done by Fedify itself; this file only wires it up and records
// Fedify's verdicts.  See README.md in this directory.
//
// Usage: node tests/interop/peer.mjs
//   PORT=<n>               listen on this port (default: 0 = pick a free one)
//   PEER_LOG_LEVEL=<lvl>   Fedify log level on stderr (default: "warning";
//                          "debug" shows why a signature was rejected)
//   PEER_IGNORE_STDIN=1    do not exit when stdin reaches EOF (manual runs)
//
// Once listening it prints exactly one JSON line on stdout, e.g.
//   {"port":12345,"actor":"http://127.0.0.1:12345/users/alice",...}
// and nothing else is ever written to stdout.

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import http from "node:http";
import process from "node:process";

import {
  Accept,
  Activity,
  Announce,
  createFederation,
  Create,
  Delete,
  CryptographicKey,
  Endpoints,
  exportSpki,
  Follow,
  generateCryptoKeyPair,
  isActor,
  MemoryKvStore,
  Person,
  Undo,
  Update,
} from "@fedify/fedify";
import { configure, defaultTextFormatter } from "@logtape/logtape";

const HOST = "127.0.0.1";
const USERNAME = "alice";

// ---------------------------------------------------------------------------
// Logging: Fedify logs through LogTape.  Send everything to stderr (stdout is
// reserved for the single "ready" line).  The meta logger must be configured
// too, otherwise LogTape prints an info line through console.info (= stdout).
// ---------------------------------------------------------------------------
const logLevel = process.env.PEER_LOG_LEVEL || "warning";
/** Per-request data shared between the HTTP adapter, inbox listeners and logs. */
const requestStore = new AsyncLocalStorage();
const stderrSink = (record) => {
  // alice has only an RSA key (like a Mastodon account), so Fedify warns on
  // every send that it cannot add an Ed25519 Object Integrity Proof.  That is
  // expected here; drop the noise.
  if (
    typeof record.rawMessage === "string" &&
    record.rawMessage.startsWith("No supported key found to create a proof")
  ) return;
  process.stderr.write(defaultTextFormatter(record));
};
// Fedify's signature checking of an inbox POST (key found in cache, fetched,
// "cached key failed, retrying with a fresh one", or why it failed), kept
// with the request so that received, rejected and deliveries entries say how
// the signature was checked.  These are debug records: this sink sees them
// whatever PEER_LOG_LEVEL is.
const sigLogSink = (record) => {
  const store = requestStore.getStore();
  if (store == null) return;
  store.sigLog.push(
    record.message.map((part, i) =>
      i % 2 === 0 || typeof part === "string"
        ? part
        : part?.href ?? JSON.stringify(part)
    ).join(""),
  );
};
await configure({
  contextLocalStorage: new AsyncLocalStorage(),
  sinks: { stderr: stderrSink, sigLog: sigLogSink },
  loggers: [
    { category: "fedify", lowestLevel: logLevel, sinks: ["stderr"] },
    // Records below logLevel reach only sigLog: a parent's sinks apply its
    // own lowestLevel (LogTape 0.8 Logger.getSinks).
    { category: ["fedify", "sig"], lowestLevel: "debug", sinks: ["sigLog"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
  ],
});

function log(msg) {
  process.stderr.write(`[peer] ${msg}\n`);
}

// ---------------------------------------------------------------------------
// State kept for the control API.
// ---------------------------------------------------------------------------
/** Activities that passed Fedify's checks and reached an inbox listener. */
const received = [];
/** Inbox POSTs that Fedify answered with an error status (4xx/5xx). */
const rejected = [];
/** Every inbox POST with Fedify's HTTP answer, accepted or not. */
const deliveries = [];
/** Follows sent by alice: follow id -> { follow: Follow, actor: string } */
const followsById = new Map();
/** Latest follow id per followed actor id. */
const followIdByActor = new Map();

// alice's key pair, generated at start.  RSASSA-PKCS1-v1_5 is what Fedify (and
// Mastodon) use for draft-cavage HTTP Signatures and RsaSignature2017.
const aliceKeys = await generateCryptoKeyPair("RSASSA-PKCS1-v1_5");

// ---------------------------------------------------------------------------
// HTTP server.  We listen first so that we know the port, then build the
// Federation with a fixed canonical origin http://127.0.0.1:PORT (so URIs and
// WebFinger handles are the same whatever Host header a client sends).
// ---------------------------------------------------------------------------
let federation = null;
let origin = null;

const server = http.createServer((req, res) => {
  handleNodeRequest(req, res).catch((err) => {
    log(`unhandled error for ${req.method} ${req.url}: ${err?.stack ?? err}`);
    if (!res.headersSent) {
      res.writeHead(500, { "Content-Type": "text/plain; charset=utf-8" });
    }
    res.end(String(err?.message ?? err));
  });
});

const requestedPort = Number.parseInt(process.env.PORT ?? "0", 10);
await new Promise((resolve, reject) => {
  server.once("error", reject);
  server.listen(Number.isNaN(requestedPort) ? 0 : requestedPort, HOST, resolve);
});
const port = server.address().port;
origin = `http://${HOST}:${port}`;

// Fedify keeps the public keys it fetched here (KvKeyCache, under the
// ["_fedify", "publicKey", keyId] prefix), which is how a received entry can
// say which key verified it.
const kv = new MemoryKvStore();

federation = createFederation({
  kv,
  // No `queue`: outgoing activities are sent immediately inside
  // ctx.sendActivity() (which then throws on delivery failure), and incoming
  // activities are dispatched to the listeners before the inbox responds.
  // That keeps the tests deterministic.
  //
  // Everything lives on 127.0.0.1, which Fedify's SSRF guard
  // (validatePublicUrl() in runtime/url.ts, used by getDocumentLoader() and
  // getAuthenticatedDocumentLoader() in runtime/docloader.ts) refuses unless
  // this is set.  Plain http: URLs are fine for those loaders either way.
  allowPrivateAddress: true,
  origin,
  // NOTE: skipSignatureVerification is deliberately NOT set (it defaults to
  // false): the whole point of this peer is Fedify's verdict on herald's
  // signatures.
});

// alice, the only local actor.
federation
  .setActorDispatcher("/users/{identifier}", async (ctx, identifier) => {
    if (identifier !== USERNAME) return null;
    const keys = await ctx.getActorKeyPairs(identifier);
    return new Person({
      id: ctx.getActorUri(identifier),
      preferredUsername: identifier,
      name: "Alice (Fedify interop peer)",
      summary: "Test account of herald's Fedify interop peer.",
      url: ctx.getActorUri(identifier),
      inbox: ctx.getInboxUri(identifier),
      endpoints: new Endpoints({ sharedInbox: ctx.getInboxUri() }),
      manuallyApprovesFollowers: false,
      publicKey: keys[0].cryptographicKey,
      assertionMethods: keys.map((k) => k.multikey),
    });
  })
  .setKeyPairsDispatcher((_ctx, identifier) =>
    identifier === USERNAME ? [aliceKeys] : []
  )
  // WebFinger: acct:alice@127.0.0.1:PORT -> the actor above.
  .mapHandle((_ctx, username) => (username === USERNAME ? USERNAME : null));

// Follow objects alice sent are dereferenceable (herald may fetch them).
federation.setObjectDispatcher(
  Follow,
  "/users/{identifier}/follows/{id}",
  (ctx, values) => {
    if (values.identifier !== USERNAME) return null;
    const uri = ctx.getObjectUri(Follow, values).href;
    return followsById.get(uri)?.follow ?? null;
  },
);

// The key Fedify holds for keyId (SPKI PEM), or null.  Fedify only caches a
// key it fetched and could use (src/sig/key.ts fetchKeyInternal), and after a
// cached key fails it caches the refetched one before verifying with it
// (src/sig/http.ts verifyRequest).  So once a request is accepted this is the
// key that verified it; once one is rejected, the key Fedify last fetched.
async function cachedKey(ctx, keyId) {
  if (keyId == null) return null;
  const serialized = await kv.get(["_fedify", "publicKey", keyId]);
  if (serialized == null) return null;
  try {
    const key = await CryptographicKey.fromJsonLd(serialized, ctx);
    return key.publicKey == null ? null : await exportSpki(key.publicKey);
  } catch {
    return null;
  }
}

// Inboxes: personal /users/alice/inbox and shared /inbox.
async function recordActivity(ctx, activity) {
  const store = requestStore.getStore();
  const compact = await activity.toJsonLd({ contextLoader: ctx.contextLoader });
  const entry = {
    type: typeof compact?.type === "string"
      ? compact.type
      : activity.constructor.name,
    id: activity.id?.href ?? null,
    actor: activity.actorId?.href ?? null,
    // The activity's `object` as it appears in Fedify's compacted JSON-LD
    // (an embedded object such as a Note, or a URI string).
    object: compact?.object ?? null,
    inbox: ctx.recipient == null ? "shared" : "personal",
    recipient: ctx.recipient ?? null,
    // The whole activity, compacted by Fedify (activity.toJsonLd()).
    activity: compact,
    // The exact JSON body that was POSTed.
    raw: store?.rawJson ?? null,
    // How Fedify checked the HTTP signature: the keyId, the public key (SPKI
    // PEM) it verified with, and its fedify.sig debug messages in order.
    signature: {
      key_id: store?.keyId ?? null,
      key_pem: await cachedKey(ctx, store?.keyId),
      log: [...(store?.sigLog ?? [])],
    },
    received_at: new Date().toISOString(),
  };
  received.push(entry);
  if (store != null) store.accepted = true;
  log(`accepted ${entry.type} ${entry.id} from ${entry.actor} (${entry.inbox})`);
}

federation
  .setInboxListeners("/users/{identifier}/inbox", "/inbox")
  .on(Accept, recordActivity)
  .on(Create, recordActivity)
  .on(Update, recordActivity)
  .on(Delete, recordActivity)
  .on(Undo, recordActivity)
  .on(Announce, recordActivity)
  .on(Follow, recordActivity)
  // Catch-all: Fedify dispatches to the nearest registered superclass.
  .on(Activity, recordActivity)
  .onError((_ctx, error) => {
    log(`inbox error: ${error?.stack ?? error}`);
  })
  // Make Fedify fetch senders' keys with a signed GET (as alice) on the
  // shared inbox as well; for the personal inbox Fedify already does so.
  // This matters if herald requires signed fetches ("authorized fetch").
  .setSharedKeyDispatcher((_ctx) => ({ identifier: USERNAME }));

function controlContext() {
  return federation.createContext(new URL(origin), undefined);
}

// ---------------------------------------------------------------------------
// node:http <-> Fetch API adapter (Fedify speaks Request/Response).
// ---------------------------------------------------------------------------
function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function toFetchRequest(req, body) {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const url = new URL(req.url, `http://${req.headers.host ?? `${HOST}:${port}`}`);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(url, {
    method: req.method,
    headers,
    body: hasBody ? body : undefined,
  });
}

async function sendFetchResponse(res, response) {
  const headers = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const buf = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, headers);
  res.end(buf);
}

function sendJson(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function isInboxPost(method, pathname) {
  return method === "POST" &&
    (pathname === "/inbox" || /^\/users\/[^/]+\/inbox$/.test(pathname));
}

function pickHeaders(headers, names) {
  const out = {};
  for (const n of names) {
    const v = headers.get(n);
    if (v != null) out[n] = v;
  }
  return out;
}

async function handleNodeRequest(req, res) {
  const body = await readBody(req);
  const pathname = new URL(req.url, origin).pathname;

  if (pathname.startsWith("/control/")) {
    return await handleControl(req, res, pathname, body);
  }

  const request = toFetchRequest(req, body);
  if (!isInboxPost(req.method, pathname)) {
    const response = await federation.fetch(request, { contextData: undefined });
    return await sendFetchResponse(res, response);
  }

  // Inbox delivery: let Fedify verify and dispatch it, and record its verdict.
  let rawJson = null;
  try {
    rawJson = JSON.parse(body.toString("utf8"));
  } catch {
    rawJson = null;
  }
  const keyId = /keyId="([^"]*)"/.exec(request.headers.get("signature") ?? "")
    ?.[1] ?? null;
  const store = { rawJson, accepted: false, keyId, sigLog: [] };
  const response = await requestStore.run(
    store,
    () => federation.fetch(request, { contextData: undefined }),
  );
  const responseText = await response.clone().text();
  const delivery = {
    path: pathname,
    inbox: pathname === "/inbox" ? "shared" : "personal",
    status: response.status,
    // Fedify's answer, e.g. "Failed to verify the request signature." or
    // "The signer and the actor do not match."
    response: responseText,
    accepted: store.accepted,
    activity_id: rawJson?.id ?? null,
    activity_type: rawJson?.type ?? null,
    actor: typeof rawJson?.actor === "string"
      ? rawJson.actor
      : rawJson?.actor?.id ?? null,
    headers: pickHeaders(request.headers, [
      "content-type",
      "date",
      "digest",
      "host",
      "signature",
    ]),
    // Fedify's fedify.sig debug messages for this request, e.g. why the
    // signature failed, and the key it held for the keyId afterwards.
    sig_log: store.sigLog,
    key_pem: await cachedKey(controlContext(), keyId),
    raw: rawJson ?? body.toString("utf8"),
    at: new Date().toISOString(),
  };
  deliveries.push(delivery);
  if (response.status >= 400) {
    rejected.push(delivery);
    log(
      `rejected ${delivery.activity_type} ${delivery.activity_id} on ` +
        `${pathname}: ${response.status} ${responseText}`,
    );
  }
  return await sendFetchResponse(res, response);
}

// ---------------------------------------------------------------------------
// Control API (plain JSON, not ActivityPub).
// ---------------------------------------------------------------------------
function parseJsonBody(body) {
  if (body.length === 0) return {};
  return JSON.parse(body.toString("utf8"));
}

// Resolve acct:user@host[:port] to the actor URL via WebFinger.
//
// We do this GET ourselves instead of calling Fedify's lookupWebFinger():
// in Fedify 1.5.x, lookupWebFingerInternal() (src/webfinger/lookup.ts)
// hard-codes `protocol = "https:"` for acct: resources, so
// acct:news@127.0.0.1:8080 would be looked up at
// https://127.0.0.1:8080/.well-known/webfinger, which a plain-http test
// server cannot answer.  Everything after this step (fetching the actor,
// sending the Follow) is done by Fedify.
async function resolveHandle(handle) {
  let h = handle.trim();
  if (!h.startsWith("acct:")) h = `acct:${h.replace(/^@/, "")}`;
  const at = h.lastIndexOf("@");
  if (at < "acct:".length + 1 || at === h.length - 1) {
    throw new Error(`invalid handle: ${handle}`);
  }
  const server = h.substring(at + 1);
  const url = new URL(`http://${server}/.well-known/webfinger`);
  url.searchParams.set("resource", h);
  const response = await fetch(url, {
    headers: { Accept: "application/jrd+json, application/json" },
    redirect: "follow",
  });
  if (!response.ok) {
    throw new Error(`WebFinger ${url.href} answered HTTP ${response.status}`);
  }
  const jrd = await response.json();
  for (const link of jrd?.links ?? []) {
    if (link?.rel !== "self" || typeof link.href !== "string") continue;
    if (
      link.type === "application/activity+json" ||
      /^application\/ld\+json;\s*profile="https:\/\/www\.w3\.org\/ns\/activitystreams"$/
        .test(link.type ?? "")
    ) {
      return link.href;
    }
  }
  throw new Error(
    `WebFinger ${url.href} has no rel="self" ActivityPub link: ` +
      JSON.stringify(jrd),
  );
}

async function lookupActor(ctx, actorUrl) {
  // Signed GET as alice (herald may require signed fetches).
  const documentLoader = await ctx.getDocumentLoader({ identifier: USERNAME });
  const actor = await ctx.lookupObject(actorUrl, { documentLoader });
  if (actor == null) throw new Error(`could not fetch actor ${actorUrl}`);
  if (!isActor(actor)) {
    throw new Error(
      `${actorUrl} is a ${actor.constructor.name}, not an actor`,
    );
  }
  if (actor.id == null) throw new Error(`actor ${actorUrl} has no id`);
  if (actor.inboxId == null) throw new Error(`actor ${actorUrl} has no inbox`);
  return actor;
}

async function controlFollow(body) {
  const ctx = controlContext();
  let actorUrl = body.actor;
  if (actorUrl == null && body.handle != null) {
    actorUrl = await resolveHandle(String(body.handle));
  }
  if (actorUrl == null) throw new Error('body needs "handle" or "actor"');
  const actor = await lookupActor(ctx, actorUrl);
  const followUri = ctx.getObjectUri(Follow, {
    identifier: USERNAME,
    id: randomUUID(),
  });
  const follow = new Follow({
    id: followUri,
    actor: ctx.getActorUri(USERNAME),
    object: actor.id,
  });
  followsById.set(followUri.href, { follow, actor: actor.id.href });
  followIdByActor.set(actor.id.href, followUri.href);
  await ctx.sendActivity({ identifier: USERNAME }, actor, follow);
  return {
    follow_id: followUri.href,
    actor: actor.id.href,
    inbox: actor.inboxId.href,
  };
}

async function controlUnfollow(body) {
  const ctx = controlContext();
  if (body.actor == null) throw new Error('body needs "actor"');
  const actorUrl = String(body.actor);
  const followId = followIdByActor.get(actorUrl);
  if (followId == null) throw new Error(`alice never followed ${actorUrl}`);
  const { follow } = followsById.get(followId);
  const actor = await lookupActor(ctx, actorUrl);
  const undo = new Undo({
    id: new URL(`${followId}#undo`),
    actor: ctx.getActorUri(USERNAME),
    object: follow,
  });
  await ctx.sendActivity({ identifier: USERNAME }, actor, undo);
  followIdByActor.delete(actorUrl);
  return { ok: true, undo_id: undo.id.href, follow_id: followId };
}

async function handleControl(req, res, pathname, body) {
  try {
    if (req.method === "GET" && pathname === "/control/health") {
      return sendJson(res, 200, { ok: true });
    }
    if (req.method === "GET" && pathname === "/control/received") {
      return sendJson(res, 200, received);
    }
    if (req.method === "GET" && pathname === "/control/rejected") {
      return sendJson(res, 200, rejected);
    }
    if (req.method === "GET" && pathname === "/control/deliveries") {
      return sendJson(res, 200, deliveries);
    }
    if (req.method === "POST" && pathname === "/control/reset") {
      received.length = 0;
      rejected.length = 0;
      deliveries.length = 0;
      return sendJson(res, 200, { ok: true });
    }
    if (req.method === "POST" && pathname === "/control/follow") {
      return sendJson(res, 200, await controlFollow(parseJsonBody(body)));
    }
    if (req.method === "POST" && pathname === "/control/unfollow") {
      return sendJson(res, 200, await controlUnfollow(parseJsonBody(body)));
    }
    return sendJson(res, 404, { error: `no control endpoint ${req.method} ${pathname}` });
  } catch (err) {
    log(`${pathname} failed: ${err?.stack ?? err}`);
    let message = String(err?.message ?? err);
    // undici's "fetch failed" hides the useful part (ECONNREFUSED etc.).
    if (err?.cause != null) message += `: ${err.cause.message ?? err.cause}`;
    return sendJson(res, 500, { error: message });
  }
}

// ---------------------------------------------------------------------------
// Lifecycle.
// ---------------------------------------------------------------------------
let stopping = false;
function shutdown(reason) {
  if (stopping) return;
  stopping = true;
  log(`stopping (${reason})`);
  server.close();
  server.closeAllConnections?.();
  // Do not wait for anything else (e.g. keep-alive sockets): exit promptly.
  setTimeout(() => process.exit(0), 50).unref();
  process.exitCode = 0;
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
if (process.env.PEER_IGNORE_STDIN !== "1") {
  // The Rust test holds our stdin as a pipe; when it (or the whole test
  // process) goes away, the pipe closes and we exit too.
  process.stdin.on("end", () => shutdown("stdin closed"));
  process.stdin.on("error", () => shutdown("stdin error"));
  process.stdin.resume();
}

process.stdout.write(
  JSON.stringify({
    port,
    actor: `${origin}/users/${USERNAME}`,
    handle: `acct:${USERNAME}@${HOST}:${port}`,
    inbox: `${origin}/users/${USERNAME}/inbox`,
    shared_inbox: `${origin}/inbox`,
  }) + "\n",
);
log(`listening on ${origin}`);
