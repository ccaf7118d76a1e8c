// console.mjs: an operator and an outsider use the web console of
// `mcpgate dev` in headless Chromium, as people do: sign in at the
// development identity provider, read and use every page.
//
// Run by e2e/console_test.go through internal/testtools/browser (see there
// for the scenario and what is checked). Environment:
//   BASE_URL        the gateway, http://127.0.0.1:<port>
//   EXPLORE_USER    the demo user to explore (bob): the option of the
//                   explorer's "seen" select whose label contains it
//   EMPLOYEE        the employee whose connections the Policy page looks up
//                   (alice)
//   WHATIF_TARGET   a tool the explored user is not shown, for the what-if
//                   box (notes__write_note)
//   REVOKE          the server of the employee's connection to revoke
//                   (calendar), or empty
// It waits with Playwright's waits only (no sleeps), takes a screenshot of
// every page (console-*.png), runs a11y() on every page, and prints one
// JSON object on its last stdout line.
import { launch, a11y, tabOrder, describeActive, screenshotDir } from './browser.mjs';
import path from 'node:path';

const base = process.env.BASE_URL;
const exploreUser = process.env.EXPLORE_USER;
const employee = process.env.EMPLOYEE;
const whatIfTarget = process.env.WHATIF_TARGET;
const revoke = process.env.REVOKE || '';

const out = { a11y: {}, shots: [] };

// snap saves a screenshot of the viewport (1280x800): the docs show these,
// and a viewport keeps each file small.
async function snap(page, name) {
  const file = path.join(screenshotDir(), `${name}.png`);
  await page.screenshot({ path: file });
  out.shots.push(name);
  console.error(`screenshot: ${file}`);
}

// check screenshots page as name and records its accessibility problems.
async function check(page, name) {
  out.a11y[name] = await a11y(page);
  await snap(page, name);
}

// signIn opens path as a browser without a session: it must land on the
// development identity provider's sign-in page, where user is picked, and
// come back to path. It returns the sign-in page's URL and the final
// navigation's response.
async function signIn(page, pagePath, user) {
  await page.goto(base + pagePath);
  const pick = page.locator(`button[name=user][value=${user}]`);
  await pick.waitFor();
  const signInURL = page.url();
  const [resp] = await Promise.all([
    // The last response of the redirects back: the page itself.
    page.waitForResponse((r) => r.url() === base + pagePath && r.request().isNavigationRequest() &&
      (r.status() < 300 || r.status() >= 400)),
    pick.click(),
  ]);
  await page.waitForURL(base + pagePath);
  return { signInURL, status: resp.status() };
}

const rowsOf = (page, selector) =>
  page.$$eval(`${selector} tbody tr`, (rows) =>
    rows.map((r) => ({
      kind: r.dataset.kind || '',
      name: r.dataset.name || '',
      shown: r.dataset.shown || '',
      cells: [...r.querySelectorAll('th, td')].map((c) => c.textContent.replace(/\s+/g, ' ').trim()),
      reasons: [...r.querySelectorAll('ul.reasons li')].map((li) => li.textContent.replace(/\s+/g, ' ').trim()),
    })));

const browser = await launch();
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);

  // --- carol (admin) signs in from /console.
  await page.goto(base + '/console');
  const carolPick = page.locator('button[name=user][value=carol]');
  await carolPick.waitFor();
  out.signInURL = page.url();
  out.signInUsers = await page.$$eval('button[name=user]', (bs) => bs.map((b) => b.value));
  await Promise.all([page.waitForURL(base + '/console/servers'), carolPick.click()]);
  out.landed = page.url();

  // --- Servers.
  await page.locator('main table tbody tr').first().waitFor();
  out.servers = await page.$$eval('main table tbody tr th a', (as) => as.map((a) => a.textContent.trim()));
  out.serverRows = await rowsOf(page, 'main table');
  out.serversHeading = await page.textContent('h1');
  await check(page, 'console-servers');

  // --- A server's page, by its link.
  await Promise.all([page.waitForURL(base + '/console/servers/hr'), page.click('main table a[href="/console/servers/hr"]')]);
  out.serverCaption = (await page.textContent('main table caption')).trim();
  out.serverItems = await page.$$eval('main table tbody tr th code', (cs) => cs.map((c) => c.textContent.trim()));
  await check(page, 'console-server');

  // --- Explorer: keyboard first, from the top of the page.
  await page.goto(base + '/console/explorer');
  out.tabOrder = await tabOrder(page, 14);
  // The skip link moves the focus to the main content.
  await page.goto(base + '/console/explorer');
  await page.keyboard.press('Tab');
  out.afterSkip = '(the first Tab reaches no skip link)';
  if (await page.evaluate('document.activeElement.matches("a.skip")')) {
    await page.keyboard.press('Enter');
    await page.waitForURL(base + '/console/explorer#main');
    out.afterSkip = await describeActive(page);
  }
  out.a11y['console-explorer-empty'] = await a11y(page);

  // Pick the user in the "seen" select: the script submits the form on
  // change.
  await page.goto(base + '/console/explorer');
  const options = await page.$$eval('#seen option', (os) => os.map((o) => ({ value: o.value, label: o.textContent.trim() })));
  out.seenOptions = options.map((o) => o.label);
  const option = options.find((o) => o.value && o.label.includes(exploreUser));
  if (!option) throw new Error(`no seen user like ${exploreUser} among ${JSON.stringify(options)}`);
  out.exploredLabel = option.label;
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/explorer' && u.searchParams.get('seen') === option.value),
    page.selectOption('#seen', option.value),
  ]);
  await page.locator('table#access').waitFor();
  out.access = await rowsOf(page, 'table#access');
  out.summary = (await page.textContent('#summary')).trim();
  await check(page, 'console-explorer');

  // The same without JavaScript: select, then the Explore button.
  {
    const noJS = await browser.newContext({
      viewport: { width: 1280, height: 800 }, locale: 'en-US', javaScriptEnabled: false,
      storageState: await context.storageState(),
    });
    const p = await noJS.newPage();
    p.setDefaultTimeout(15_000);
    await p.goto(base + '/console/explorer');
    await p.selectOption('#seen', option.value);
    await Promise.all([
      p.waitForURL((u) => u.pathname === '/console/explorer' && u.searchParams.get('seen') === option.value),
      p.click('form.who-form button[type=submit]'),
    ]);
    await p.locator('table#access').waitFor();
    out.accessNoJS = await rowsOf(p, 'table#access');
    await noJS.close();
  }

  // What if the user called a tool they are not shown?
  out.whatIfRow = out.access.find((r) => r.kind === 'tool' && r.name === whatIfTarget) || null;
  await page.selectOption('#method', 'tools/call');
  await page.fill('#target', whatIfTarget);
  await page.fill('#arguments', '{"id": "n1", "text": "hello"}');
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/explorer'),
    page.click('form.whatif button[type=submit]'),
  ]);
  const verdict = page.locator('section#verdict');
  await verdict.waitFor();
  out.verdict = (await verdict.locator('h3').textContent()).replace(/\s+/g, ' ').trim();
  out.verdictText = (await verdict.textContent()).replace(/\s+/g, ' ').trim();
  await verdict.scrollIntoViewIfNeeded();
  await check(page, 'console-whatif');

  // --- Matrix, from the explorer's link.
  await page.goto(base + '/console/explorer');
  await Promise.all([page.waitForURL(base + '/console/explorer/matrix'), page.click('a[href="/console/explorer/matrix"]')]);
  await page.locator('table#matrix').waitFor();
  out.matrixServers = await page.$$eval('table#matrix thead th', (ths) => ths.slice(1).map((th) => th.textContent.trim()));
  out.matrix = await rowsOf(page, 'table#matrix');
  await check(page, 'console-matrix');

  // --- Decisions, filtered by the user.
  await page.goto(base + '/console/decisions');
  await page.fill('#f-user', exploreUser);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/decisions' && u.searchParams.get('user') === exploreUser),
    page.click('form.filters button[type=submit]'),
  ]);
  await page.locator('table#decisions').waitFor();
  out.decisions = await rowsOf(page, 'table#decisions');
  out.charts = await page.$$eval('figure.chart svg title', (ts) => ts.map((t) => t.textContent.trim()));
  await check(page, 'console-decisions');

  // --- Policy: the employee's grants and connections.
  await page.goto(base + '/console/policy');
  out.policyRevision = (await page.textContent('dl.facts dd code')).trim();
  await page.fill('#employee', employee);
  await Promise.all([
    page.waitForURL((u) => u.pathname === '/console/policy' && u.searchParams.get('sub') === employee),
    page.click('form[action="/console/policy"] button[type=submit]'),
  ]);
  await page.locator('table#connections').waitFor();
  out.connectionsBefore = await page.$$eval('table#connections tbody tr th[scope=row]', (ths) => ths.map((th) => th.textContent.trim()));
  out.grants = await rowsOf(page, 'table#grants');
  await check(page, 'console-policy');

  // A state-changing request with carol's session but without the form's
  // CSRF token is refused, and revokes nothing.
  {
    const form = { sub: employee, kind: 'connection', target: revoke || 'calendar' };
    const noToken = await context.request.post(base + '/console/policy/revoke', { form, maxRedirects: 0 });
    const badToken = await context.request.post(base + '/console/policy/revoke', { form: { ...form, csrf: 'forged' }, maxRedirects: 0 });
    out.noCSRF = { status: noToken.status(), body: (await noToken.text()).replace(/\s+/g, ' ') };
    out.badCSRF = { status: badToken.status() };
  }

  if (revoke) {
    await page.reload();
    await page.locator('table#connections').waitFor();
    out.connectionsAfterRefused = await page.$$eval('table#connections tbody tr th[scope=row]', (ths) => ths.map((th) => th.textContent.trim()));
    const button = page.getByRole('button', { name: `Revoke the connection to ${revoke}` });
    // The post redirects back to the lookup, and the outcome comes in a
    // one-shot cookie (a link cannot fake it).
    await button.click();
    await page.locator('p.flash').waitFor();
    out.flash = (await page.textContent('p.flash')).trim();
    out.connectionsAfter = await page.$$eval('table#connections tbody tr th[scope=row]', (ths) => ths.map((th) => th.textContent.trim()));
    out.a11y['console-policy-revoked'] = await a11y(page);
  }
  await context.close();

  // --- mallory (no groups) signs in and is refused.
  const mctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
  page = await mctx.newPage();
  page.setDefaultTimeout(15_000);
  const m = await signIn(page, '/console/servers', 'mallory');
  out.mallory = {
    signInURL: m.signInURL,
    status: m.status,
    heading: (await page.textContent('h1')).trim(),
    text: (await page.textContent('main')).replace(/\s+/g, ' ').trim(),
  };
  await check(page, 'console-refused');
  await mctx.close();
} catch (err) {
  if (page) {
    try {
      await page.screenshot({ path: path.join(screenshotDir(), 'failure.png'), fullPage: true });
    } catch (e) {
      console.error(`failure screenshot: ${e}`);
    }
  }
  console.log(JSON.stringify(out));
  throw err;
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
