// A user's Node program: the npm `openai` SDK, configured only by environment and, with
// WARDEN_TEST_DISPATCHER=1, the two lines docs/clients/node.md tells Node 20 users to add
// (undici's EnvHttpProxyAgent as the global dispatcher). Node 20's fetch ignores
// HTTPS_PROXY without them. Prints one JSON line: the answer's text, or the error.
import OpenAI from "openai";
import { EnvHttpProxyAgent, setGlobalDispatcher } from "undici";

if (process.env.WARDEN_TEST_DISPATCHER === "1") {
  setGlobalDispatcher(new EnvHttpProxyAgent());
}

const client = new OpenAI({ maxRetries: 0, timeout: 20_000 });
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
