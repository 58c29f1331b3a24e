// Checks webhook deliveries as a Node consumer would: @octokit/webhooks verifies the
// signature, and the payload is validated against @octokit/webhooks-schemas (ajv).
// Reads one JSON object per line on stdin: {event, secret, body, signature}; prints one
// JSON result per line: {ok, error}.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";
import { Webhooks } from "@octokit/webhooks";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const require = createRequire(import.meta.url);
const schema = require("@octokit/webhooks-schemas/schema.json");
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addSchema(schema, "webhooks");

// @octokit/webhooks-schemas (7.x) lists no top-level `enterprise` on workflow events, which
// GitHub's own description has and GitHub sends for an enterprise's organizations: allowed.
const enterpriseGap = (e) =>
  e.instancePath === "" && e.keyword === "additionalProperties" &&
  e.params.additionalProperty === "enterprise";

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { event, secret, body, signature } = JSON.parse(line);
  const result = { ok: true, error: null };
  try {
    const webhooks = new Webhooks({ secret });
    if (!(await webhooks.verify(body, signature))) throw new Error("bad signature");
    const payload = JSON.parse(body);
    const name = event === "ping" ? "ping$event" : `${event}$${payload.action}`;
    const validate = ajv.getSchema(`webhooks#/definitions/${name}`);
    if (!validate) throw new Error(`no schema ${name}`);
    const errors = validate(payload) ? [] : validate.errors.filter((e) => !enterpriseGap(e));
    if (errors.length) throw new Error(JSON.stringify(errors.slice(0, 20)));
  } catch (error) {
    result.ok = false;
    result.error = String(error.message || error);
  }
  console.log(JSON.stringify(result));
}
