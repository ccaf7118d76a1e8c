// connect_client_v2.mjs: connect_client.mjs on the TypeScript SDK's next
// client package (@modelcontextprotocol/client 2.x), which speaks the
// 2026-07-28 revision as well as the 2025 ones: its first call fails with
// the URL elicitation error (-32042); it prints the elicitation, waits for
// the test (the employee's browser) to write a line on stdin, and calls
// again.
//
// Run by gateway/connections_test.go. Environment:
//   MCP_URL    the gateway's MCP endpoint
//   TEST_USER  the employee (X-Test-User header of the test gateway)
//   TOOL       the tool to call
//   PROTOCOL   the protocol revision to pin, e.g. 2026-07-28
// It prints JSON lines on stdout: {"elicitation": {...}, "code": N,
// "protocol": V}, then {"result": TEXT, "completed": [ids]}, or
// {"fatal": MESSAGE}.
import { Client, ProtocolError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
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
    { name: 'ts-connect-client-v2', version: '1.0.0' },
    { capabilities: { elicitation: { url: {} } }, versionNegotiation: { mode: { pin: env('PROTOCOL') } } }
  );
  client.setRequestHandler('elicitation/create', async () => ({ action: 'decline' }));
  const completed = [];
  client.setNotificationHandler('notifications/elicitation/complete', (n) => {
    completed.push(n.params.elicitationId);
  });
  await client.connect(transport);
  const tool = env('TOOL');
  try {
    await client.callTool({ name: tool, arguments: {} });
    print({ fatal: 'the first call succeeded: no elicitation asked' });
    return;
  } catch (err) {
    if (!(err instanceof ProtocolError) || err.code !== -32042) {
      print({ fatal: `first call: ${err?.stack ?? err}` });
      return;
    }
    print({ code: err.code, elicitation: err.data?.elicitations?.[0] ?? null, protocol: client.getNegotiatedProtocolVersion() });
  }
  await lines.next(); // the employee authorized in the browser
  const res = await client.callTool({ name: tool, arguments: {} });
  print({ result: res.content?.[0]?.text ?? '', is_error: !!res.isError, completed });
  await client.close();
}

main().catch((err) => print({ fatal: String(err?.stack ?? err) })).finally(() => process.exit(0));
