// A user's Node program: the npm `openai` SDK, configured only by environment and the
// lines docs/clients/node.md tells Node 20 users to add: undici's EnvHttpProxyAgent as the
// global dispatcher (WARDEN_TEST_DISPATCHER=global) or as this client's fetch dispatcher
// (=client). Node 20's fetch ignores HTTPS_PROXY without them (=none). Prints one JSON
// line: the answer's text, or the error.
import OpenAI from "openai";
import { EnvHttpProxyAgent, setGlobalDispatcher } from "undici";

const mode = process.env.WARDEN_TEST_DISPATCHER;
if (mode === "global") {
  setGlobalDispatcher(new EnvHttpProxyAgent());
}
const fetchOptions = mode === "client" ? { dispatcher: new EnvHttpProxyAgent() } : undefined;

const client = new OpenAI({ maxRetries: 0, timeout: 20_000, fetchOptions });
try {
  const r = await client.chat.completions.create({
    model: "gpt-4o-mini",
    messages: [{ role: "user", content: process.argv[2] }],
  });
  console.log(JSON.stringify({ text: r.choices[0].message.content }));
} catch (e) {
  const cause = e.cause ? String(e.cause.code || e.cause.message || e.cause) : null;
  console.log(JSON.stringify({ error: e.constructor.name, status: e.status ?? null, message: String(e.message), cause }));
}
