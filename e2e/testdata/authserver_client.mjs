// authserver_client.mjs: an MCP client built on the TypeScript SDK
// (@modelcontextprotocol/sdk 1.x) that signs in to mcpgate in
// authorization-server mode as a real client does, and plays the browser
// itself: the gateway's /oauth/authorize, the corporate IdP's (Dex's) login
// form, the gateway's consent page, back to the client's redirect URI.
//
// Run by e2e/authserver_test.go (see there for the scenario). Environment:
//   MCP_URL              the gateway's MCP endpoint
//   REDIRECT_URL         the client's redirect URI (nobody listens there:
//                        the scripted browser stops at it)
//   CLIENT_METADATA_URL  if set, the client is identified by this Client ID
//                        Metadata Document; otherwise it registers (RFC 7591)
//   LOGIN, PASSWORD      the employee's credentials at the IdP
// It prints one JSON object on stdout: {client_id, steps: [...]} and, if
// it stopped early, fatal.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  UnauthorizedError,
  auth,
  discoverAuthorizationServerMetadata,
  refreshAuthorization
} from '@modelcontextprotocol/sdk/client/auth.js';

const env = (name) => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const MCP_URL = new URL(env('MCP_URL'));
const REDIRECT_URL = env('REDIRECT_URL');
const METADATA_URL = process.env.CLIENT_METADATA_URL || undefined;
const LOGIN = env('LOGIN');
const PASSWORD = env('PASSWORD');

// CookieJar keeps cookies per host name (not port, as browsers do) and
// path; enough for the gateway's and Dex's session cookies.
class CookieJar {
  #cookies = new Map(); // host name -> Map(name -> {value, path})

  store(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = value === '';
      for (const a of attrs) {
        const [k, v = ''] = a.split('=');
        if (k.toLowerCase() === 'path') path = v;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      const host = this.#cookies.get(url.hostname) ?? new Map();
      this.#cookies.set(url.hostname, host);
      if (expired) host.delete(name);
      else host.set(name, { value, path });
    }
  }

  header(url) {
    const host = this.#cookies.get(url.hostname) ?? new Map();
    return [...host]
      .filter(([, c]) => url.pathname.startsWith(c.path))
      .map(([name, c]) => `${name}=${c.value}`)
      .join('; ');
  }
}

const attr = (html, re) => {
  const m = html.match(re);
  return m ? m[1].replaceAll('&amp;', '&') : undefined;
};

// Browser plays the employee's browser: it follows redirects, fills in
// the IdP's login form and allows on the gateway's consent page, until a
// redirect reaches the client's redirect URI.
class Browser {
  jar = new CookieJar();

  async authorize(startUrl) {
    let url = new URL(startUrl);
    let request = { method: 'GET' };
    const seen = { logins: 0, consents: 0 };
    for (let hop = 0; hop < 20; hop++) {
      if (url.href.startsWith(REDIRECT_URL)) return { callback: url, ...seen };
      const headers = { ...request.headers };
      const cookie = this.jar.header(url);
      if (cookie) headers.Cookie = cookie;
      const res = await fetch(url, { ...request, headers, redirect: 'manual' });
      this.jar.store(url, res);
      const page = await res.text();
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.get('location'), url);
        request = { method: 'GET' };
        continue;
      }
      if (res.status !== 200) throw new Error(`${request.method} ${url}: HTTP ${res.status}: ${page.slice(0, 500)}`);
      const action = attr(page, /<form method="post" action="([^"]*)"/);
      const consent = attr(page, /name="consent" value="([^"]+)"/);
      if (action && /name="login"/.test(page)) {
        seen.logins++;
        request = form({ login: LOGIN, password: PASSWORD });
      } else if (action && consent) {
        seen.consents++;
        request = form({ consent, decision: 'allow' });
        // A browser posting the page's own form sends the page's origin.
        request.headers.Origin = new URL(action, url).origin;
      } else {
        throw new Error(`GET ${url}: neither a login form nor a consent page: ${page.slice(0, 500)}`);
      }
      url = new URL(action, url);
    }
    throw new Error(`more than 20 requests before reaching ${REDIRECT_URL}`);
  }
}

function form(fields) {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString()
  };
}

// Provider is the OAuthClientProvider: an in-memory client that
// registers dynamically, or names its metadata document.
class Provider {
  clientMetadataUrl = METADATA_URL;
  authorizationUrl;
  #client;
  #tokens;
  #verifier;
  #state;

  get redirectUrl() {
    return REDIRECT_URL;
  }
  get clientMetadata() {
    return {
      client_name: 'mcpgate e2e (TypeScript SDK)',
      redirect_uris: [REDIRECT_URL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    };
  }
  state() {
    this.#state = crypto.randomUUID();
    return this.#state;
  }
  get expectedState() {
    return this.#state;
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info) {
    this.#client = info;
  }
  // The refresh token is kept from auth(): SDK 1.x refreshes whenever it
  // holds one, also to answer a 403 insufficient_scope, and a refresh
  // cannot widen the scopes (typescript-sdk issue 2255), so a step-up
  // would end in "403 after trying upscoping". The script refreshes on
  // its own (step "refresh").
  tokens() {
    if (!this.#tokens) return undefined;
    const { refresh_token: _, ...rest } = this.#tokens;
    return rest;
  }
  allTokens() {
    return this.#tokens;
  }
  saveTokens(tokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v) {
    this.#verifier = v;
  }
  codeVerifier() {
    return this.#verifier;
  }
}

const provider = new Provider();
const browser = new Browser();
const challenges = []; // WWW-Authenticate of every 401 and 403 from /mcp
const recordingFetch = async (url, init) => {
  const res = await fetch(url, init);
  if ((res.status === 401 || res.status === 403) && String(url) === MCP_URL.href) {
    challenges.push({ status: res.status, www_authenticate: res.headers.get('www-authenticate') });
  }
  return res;
};
const out = { mode: METADATA_URL ? 'cimd' : 'dcr', steps: [] };

// signIn sends the browser to provider.authorizationUrl and completes the
// authorization with the code it comes back with.
async function signIn(transport, step) {
  const requested = provider.authorizationUrl.searchParams.get('scope');
  const { callback, logins, consents } = await browser.authorize(provider.authorizationUrl);
  const q = callback.searchParams;
  if (q.get('error')) throw new Error(`authorization error ${q.get('error')}: ${q.get('error_description')}`);
  if (q.get('state') !== provider.expectedState) throw new Error(`state ${q.get('state')}, want ${provider.expectedState}`);
  if (q.get('iss') !== new URL(MCP_URL).origin) throw new Error(`iss ${q.get('iss')}, want ${MCP_URL.origin}`);
  await transport.finishAuth(q.get('code'));
  out.steps.push({ step, requested, granted: provider.allTokens().scope, logins, consents });
}

// connect connects, signing in when the gateway answers 401.
async function connect() {
  for (let attempt = 0; attempt < 2; attempt++) {
    const transport = new StreamableHTTPClientTransport(MCP_URL, { authProvider: provider, fetch: recordingFetch });
    const client = new Client({ name: 'mcpgate-e2e-ts', version: '1.0.0' });
    try {
      await client.connect(transport);
      return { client, transport };
    } catch (e) {
      if (!(e instanceof UnauthorizedError) || attempt > 0) throw e;
      await signIn(transport, 'authorize');
    }
  }
}

// call calls a tool; a 403 insufficient_scope makes the transport start a
// step-up (auth() with the challenged scope), which the browser completes
// before the call is made again.
async function call(client, transport, step, name, args) {
  const result = { step, tool: name };
  for (let attempt = 0; attempt < 2; attempt++) {
    const before = challenges.length;
    try {
      const res = await client.callTool({ name, arguments: args });
      result.is_error = Boolean(res.isError);
      result.text = res.content?.map((c) => c.text ?? '').join('\n');
      break;
    } catch (e) {
      const challenge = challenges.slice(before).find((c) => c.status === 403);
      if (challenge) result.challenge = challenge.www_authenticate;
      if (e instanceof UnauthorizedError && challenge && attempt === 0) {
        out.steps.push(result);
        await signIn(transport, 'step_up');
        result.retried = true;
        continue;
      }
      result.error = String(e.message ?? e);
      break;
    }
  }
  if (!out.steps.includes(result)) out.steps.push(result);
  return result;
}

async function listTools(client, step) {
  const { tools } = await client.listTools();
  out.steps.push({ step, tools: tools.map((t) => t.name).sort() });
}

// refresh uses the refresh token at the token endpoint, as the SDK's
// auth() does when a token expired.
async function refresh() {
  const old = provider.allTokens();
  const issuer = MCP_URL.origin;
  const metadata = await discoverAuthorizationServerMetadata(issuer);
  const tokens = await refreshAuthorization(issuer, {
    metadata,
    clientInformation: provider.clientInformation(),
    refreshToken: old.refresh_token,
    resource: MCP_URL
  });
  provider.saveTokens({ ...tokens, issuer: old.issuer });
  out.steps.push({
    step: 'refresh',
    granted: tokens.scope,
    new_access_token: tokens.access_token !== old.access_token,
    new_refresh_token: tokens.refresh_token !== old.refresh_token
  });
}

async function main() {
  const { client, transport } = await connect();
  out.client_id = provider.clientInformation()?.client_id;
  await listTools(client, 'list');
  await refresh();
  await listTools(client, 'list_after_refresh');

  // Step-up the policy allows: write needs notes:write.
  await call(client, transport, 'write', 'notes__write_note', { id: 'e2e-ts', body: 'written by the TypeScript SDK' });

  // One it refuses: delete needs notes:delete, which engineering lacks.
  await call(client, transport, 'delete', 'notes__delete_note', { id: 'e2e-ts' });
  const scope = [...new Set([...provider.allTokens().scope.split(' '), 'notes:delete'])].join(' ');
  const result = await auth(provider, { serverUrl: MCP_URL, scope, fetchFn: recordingFetch });
  if (result !== 'REDIRECT') throw new Error(`auth() for notes:delete: ${result}, want REDIRECT`);
  await signIn(transport, 'step_up_refused');
  await call(client, transport, 'delete_after_step_up', 'notes__delete_note', { id: 'e2e-ts' });
  await client.close();
}

try {
  await main();
} catch (e) {
  out.fatal = String(e.stack ?? e);
}
out.challenges = challenges;
process.stdout.write(JSON.stringify(out) + '\n');
