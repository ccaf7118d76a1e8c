// connect_client.mjs: an MCP client on the TypeScript SDK
// (@modelcontextprotocol/sdk 1.x, which speaks the 2025 revisions) that
// meets an upstream of auth kind oauth through the gateway: its first call
// fails with the URL elicitation error (-32042); it prints the
// elicitation, waits for the test (the employee's browser) to write a line
// on stdin, waits for notifications/elicitation/complete, and calls again.
//
// Run by gateway/connections_test.go. Environment:
//   MCP_URL    the gateway's MCP endpoint
//   TEST_USER  the employee (X-Test-User header of the test gateway)
//   TOOL       the tool to call
// It prints JSON lines on stdout: {"elicitation": {...}, "code": N}, then
// {"result": TEXT, "completed": [ids]}, or {"fatal": MESSAGE}.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ElicitationCompleteNotificationSchema,
  ElicitRequestSchema,
  ErrorCode,
  McpError
} from '@modelcontextprotocol/sdk/types.js';
import { createInterface } from 'node:readline';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function main() {
  const user = env('TEST_USER');
  const transport = new StreamableHTTPClientTransport(new URL(env('MCP_URL')), {
    requestInit: { headers: { Authorization: `Bearer employee-token-${user}`, 'X-Test-User': user } }
  });
  const client = new Client(
    { name: 'ts-connect-client', version: '1.0.0' },
    { capabilities: { elicitation: { url: {} } } }
  );
  // Elicitation requests are not expected: the gateway asks by error.
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  const completed = [];
  let onComplete = () => {};
  client.setNotificationHandler(ElicitationCompleteNotificationSchema, (n) => {
    completed.push(n.params.elicitationId);
    onComplete();
  });
  await client.connect(transport);
  const tool = env('TOOL');
  try {
    await client.callTool({ name: tool, arguments: {} });
    print({ fatal: 'the first call succeeded: no elicitation asked' });
    return;
  } catch (err) {
    if (!(err instanceof McpError) || err.code !== ErrorCode.UrlElicitationRequired) {
      print({ fatal: `first call: ${err}` });
      return;
    }
    print({ code: err.code, elicitation: err.data?.elicitations?.[0] ?? null });
  }
  await lines.next(); // the employee authorized in the browser
  if (completed.length === 0) {
    await new Promise((resolve) => {
      onComplete = resolve;
      setTimeout(resolve, 15000);
    });
  }
  const res = await client.callTool({ name: tool, arguments: {} });
  print({ result: res.content?.[0]?.text ?? '', is_error: !!res.isError, completed });
  await client.close();
}

main().catch((err) => print({ fatal: String(err?.stack ?? err) })).finally(() => process.exit(0));
