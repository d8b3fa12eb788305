// A whatsapp-api-js bot as its users write one, pointed at a wabahook sandbox.
//
// whatsapp-api-js is used unmodified: the only change is its `ponyfill.fetch`, a fetch that sends
// what the library addresses to https://graph.facebook.com to the sandbox. The library has no
// callback registration, so the test registers this bot's URL itself; the bot answers the
// verification handshake with `Whatsapp.get` and hands every POST to `Whatsapp.post` with the
// raw body and its X-Hub-Signature-256, so the library checks each signature with the app secret.
//
// Every update a handler receives is printed as one JSON line on stdout for the test to read. The
// test makes the bot send with `sendMessage` through JSON lines on stdin (`{"op": "text"}`,
// `"template"` or `"buttons"`); each answer is printed as a `sent` line with the message's id,
// or an `error` line.
//
// The library is installed in target/sdk-node (see package.json here), outside the source tree,
// so it is resolved from there rather than from this file's directory. Needs Node 18 or later,
// whose global fetch the rewriting wrapper calls.
//
// Usage: node wajs_bot.mjs NODE_DIR GRAPH_BASE PHONE_ID TOKEN APP_SECRET VERIFY_TOKEN VERSION

import { createServer } from "node:http";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [nodeDir, graphBase, phoneID, token, appSecret, verifyToken, v] = process.argv.slice(2);

const require = createRequire(join(nodeDir, "package.json"));
const load = async (name) => import(pathToFileURL(require.resolve(name)).href);
const { WhatsAppAPI } = await load("whatsapp-api-js");
const { Text, Template, Language, Interactive, ActionButtons, Button, Body } = await load(
  "whatsapp-api-js/messages",
);

const META = "https://graph.facebook.com";

/** Sends what the library addresses to graph.facebook.com to the sandbox, path unchanged. */
function toSandbox(input, init) {
  const url = input instanceof URL ? input.href : String(input);
  const target = url.startsWith(META) ? graphBase + url.slice(META.length) : url;
  return fetch(target, init);
}

// One write per line, so that lines printed by concurrent handlers never interleave.
function emit(kind, data) {
  process.stdout.write(JSON.stringify({ kind, ...data }) + "\n");
}

const Whatsapp = new WhatsAppAPI({
  token,
  appSecret,
  webhookVerifyToken: verifyToken,
  v,
  ponyfill: { fetch: toSandbox },
});

Whatsapp.on.message = ({ phoneID, from, message, name }) => {
  emit("message", {
    id: message.id,
    type: message.type,
    text: message.text?.body ?? null,
    interactive: message.interactive ?? null,
    context: message.context ?? null,
    from_wa_id: from,
    from_name: name ?? null,
    phone_id: phoneID,
  });
};

Whatsapp.on.status = ({ phoneID, phone, status, id, pricing, error, biz_opaque_callback_data }) => {
  emit("status", {
    id,
    status,
    to_wa_id: phone,
    phone_id: phoneID,
    pricing: pricing ?? null,
    error: error ?? null,
    tracker: biz_opaque_callback_data ?? null,
  });
};

function message(cmd) {
  switch (cmd.op) {
    case "text":
      return new Text(cmd.text);
    case "template":
      return new Template(cmd.name, new Language(cmd.language));
    case "buttons":
      return new Interactive(
        new ActionButtons(...cmd.buttons.map(([id, title]) => new Button(id, title))),
        new Body(cmd.text),
      );
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

// A command that fails is reported, not fatal: the test decides what a failure means.
createInterface({ input: process.stdin }).on("line", async (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  try {
    const response = await Whatsapp.sendMessage(
      phoneID,
      cmd.to,
      message(cmd),
      undefined,
      cmd.tracker,
    );
    if (response.error) {
      emit("error", { op: cmd.op, error: response.error });
    } else {
      emit("sent", { op: cmd.op, id: response.messages[0].id, to: response.contacts[0].wa_id });
    }
  } catch (e) {
    emit("error", { op: cmd.op, error: String(e) });
  }
});

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", async () => {
    try {
      if (req.method === "GET") {
        const params = Object.fromEntries(new URL(req.url, "http://bot").searchParams);
        res.writeHead(200, { "content-type": "text/plain" }).end(Whatsapp.get(params));
        return;
      }
      const raw = Buffer.concat(chunks).toString("utf8");
      await Whatsapp.post(JSON.parse(raw), raw, req.headers["x-hub-signature-256"]);
      res.writeHead(200).end();
    } catch (e) {
      // The library's errors carry the status to answer: 401 for a bad signature, 200 for an
      // update it has no handler for (which Meta must not retry).
      const status = typeof e.httpStatus === "number" ? e.httpStatus : 500;
      if (status >= 400) process.stderr.write(`${req.method} ${req.url}: ${e}\n`);
      res.writeHead(status).end();
    }
  });
});

server.listen(0, "127.0.0.1", () => emit("listening", { port: server.address().port }));
