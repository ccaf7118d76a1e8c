// browser.mjs: the helpers a browser test's script imports
// (import { withPage, shot, a11y, tabOrder } from './browser.mjs').
// internal/testtools/browser writes it beside the script, with a
// node_modules link to the pre-installed playwright-core, and runs the
// script with Node.js 22. Environment:
//   MCPGATE_CHROMIUM     the Chromium binary (default /usr/bin/chromium)
//   MCPGATE_SCREENSHOTS  the directory shot() writes into
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

export { chromium };

// chromiumArgs are the switches every launch passes. Playwright adds its
// own (--headless, --no-sandbox, --disable-background-networking, ... and a
// fresh --user-data-dir under $TMPDIR, removed on close). The resolver rule
// makes every host but localhost and 127.0.0.1 fail to resolve (Chromium
// applies it to IP address literals too), so the browser reaches nothing
// but the loopback servers a test starts.
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

// launch(options?) starts Chromium headless: options are chromium.launch's,
// their args added to chromiumArgs. Close the browser it returns.
export async function launch(options = {}) {
  const { args = [], ...rest } = options;
  return chromium.launch({
    executablePath: process.env.MCPGATE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    ...rest,
    args: [...chromiumArgs, ...args],
  });
}

// withPage(fn, options?) launches Chromium (launch(options)), opens a page
// in a fresh context (1280x800, en-US) and returns await fn(page, context).
// If fn throws, a full-page screenshot "failure.png" is taken first; the
// browser is closed in every case.
export async function withPage(fn, options = {}) {
  const browser = await launch(options);
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    try {
      return await fn(page, context);
    } catch (err) {
      try {
        await shot(page, 'failure');
      } catch (shotErr) {
        console.error(`failure screenshot: ${shotErr}`);
      }
      throw err;
    }
  } finally {
    await browser.close();
  }
}

// screenshotDir() is $MCPGATE_SCREENSHOTS, created if need be.
export function screenshotDir() {
  const dir = process.env.MCPGATE_SCREENSHOTS;
  if (!dir) throw new Error('MCPGATE_SCREENSHOTS is not set');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// shot(page, name) saves a full-page PNG screenshot of page as
// <screenshotDir()>/<name>.png (name: letters, digits, '.', '_', '-') and
// returns its path.
export async function shot(page, name) {
  if (!/^[A-Za-z0-9._-]+$/.test(name) || name.startsWith('.')) {
    throw new Error(`shot: bad name ${JSON.stringify(name)}`);
  }
  const file = path.join(screenshotDir(), name.endsWith('.png') ? name : `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.error(`screenshot: ${file}`);
  return file;
}

// The in-page half of a11y and tabOrder: the source of an expression
// whose value holds describe(el), accessibleName(el) and their helpers.
// They reach the page as one expression string given to page.evaluate,
// which Playwright evaluates over the DevTools protocol: no eval in the
// page, so a page's Content-Security-Policy does not stop them.
const inPage = `(() => {
  const norm = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  // Not rendered, or removed from the accessibility tree.
  const hidden = (el) => {
    if (el.closest('[aria-hidden="true"]')) return true;
    if (typeof el.checkVisibility === 'function') {
      return !el.checkVisibility({ visibilityProperty: true });
    }
    return el.getClientRects().length === 0;
  };
  // The text an element contributes to a name: its text, an image's alt,
  // skipping aria-hidden and hidden subtrees.
  const text = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.data;
    if (node.nodeType !== Node.ELEMENT_NODE) return '';
    if (node.getAttribute('aria-hidden') === 'true') return '';
    if (node.tagName === 'IMG' || (node.tagName === 'INPUT' && node.type === 'image')) {
      return ' ' + (node.getAttribute('alt') || '') + ' ';
    }
    if (node.tagName === 'SCRIPT' || node.tagName === 'STYLE' || node.tagName === 'TEMPLATE') return '';
    if (node.tagName === 'svg' || node.tagName === 'SVG') {
      const t = node.querySelector('title');
      return ' ' + (node.getAttribute('aria-label') || (t && t.textContent) || '') + ' ';
    }
    if (node.tagName === 'INPUT' || node.tagName === 'SELECT' || node.tagName === 'TEXTAREA') return '';
    let s = '';
    for (const c of node.childNodes) s += text(c);
    return node.tagName === 'BR' ? ' ' : s;
  };
  const labelledBy = (el) => {
    const ids = norm(el.getAttribute('aria-labelledby'));
    if (!ids) return '';
    return norm(ids.split(' ').map((id) => document.getElementById(id)).filter(Boolean).map(text).join(' '));
  };
  // accessibleName: a simplified accessible name computation, enough to
  // tell a named control from an unnamed one.
  const accessibleName = (el) => {
    const lb = labelledBy(el);
    if (lb) return lb;
    const al = norm(el.getAttribute('aria-label'));
    if (al) return al;
    const tag = el.tagName;
    if (tag === 'INPUT') {
      const type = (el.getAttribute('type') || 'text').toLowerCase();
      if (type === 'submit' || type === 'reset' || type === 'button') {
        const v = norm(el.getAttribute('value'));
        if (v) return v;
        if (type === 'submit') return 'Submit';
        if (type === 'reset') return 'Reset';
      }
      if (type === 'image') return norm(el.getAttribute('alt'));
    }
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') {
      const l = norm([...(el.labels || [])].map(text).join(' '));
      if (l) return l;
      return norm(el.getAttribute('title'));
    }
    if (tag === 'IMG') return norm(el.getAttribute('alt'));
    return norm(text(el)) || norm(el.getAttribute('title'));
  };
  const cssEscape = (s) => (window.CSS && CSS.escape ? CSS.escape(s) : s);
  // describe: tag#id[name=..][type=..][href=..] "accessible name".
  const describe = (el) => {
    if (!el) return '(none)';
    const tag = el.tagName.toLowerCase();
    if (tag === 'body' || tag === 'html') return tag;
    let d = tag;
    if (el.id) d += '#' + cssEscape(el.id);
    for (const a of ['name', 'type', 'href', 'role']) {
      const v = el.getAttribute(a);
      if (v !== null) d += '[' + a + '=' + JSON.stringify(v) + ']';
    }
    const n = accessibleName(el);
    if (n) d += ' ' + JSON.stringify(n.length > 60 ? n.slice(0, 57) + '...' : n);
    return d;
  };
  return { norm, hidden, text, accessibleName, describe };
})()`;

// a11y(page) runs a minimal accessibility check in page and returns its
// problems, one string each ("input#q[name=\"q\"]: no label ..."), [] if none:
//   - <html> has a lang;
//   - exactly one <h1>, and no heading skips a level after the previous one
//     (h1 then h3);
//   - every input (but hidden, submit, reset, button, image), select and
//     textarea has a label: label[for], a wrapping label, aria-label or
//     aria-labelledby, with text;
//   - every img has an alt (alt="" for decoration), unless role="none" or
//     "presentation";
//   - every button (button, [role=button], input of type submit, reset,
//     button, image) and link (a[href], [role=link]) has an accessible name.
// Elements not rendered or aria-hidden are left out.
export async function a11y(page) {
  return page.evaluate(`(${a11yInPage})(${inPage})`);
}

function a11yInPage(h) {
  const problems = [];
  const shown = (sel) => [...document.querySelectorAll(sel)].filter((el) => !h.hidden(el));
  if (!h.norm(document.documentElement.getAttribute('lang'))) problems.push('html: no lang attribute');
  const h1s = shown('h1');
  if (h1s.length !== 1) problems.push(`page has ${h1s.length} h1 elements, want exactly 1`);
  let prev = null;
  for (const el of shown('h1, h2, h3, h4, h5, h6')) {
    const level = Number(el.tagName[1]);
    if (prev && level > prev.level + 1) {
      problems.push(`${h.describe(el)}: heading skips a level (h${prev.level} then h${level})`);
    }
    prev = { level };
  }
  const skipTypes = new Set(['hidden', 'submit', 'reset', 'button', 'image']);
  for (const el of shown('input, select, textarea')) {
    if (el.tagName === 'INPUT' && skipTypes.has((el.getAttribute('type') || 'text').toLowerCase())) continue;
    const labelled =
      h.norm(el.getAttribute('aria-label')) ||
      (el.getAttribute('aria-labelledby') && h.norm(
        el.getAttribute('aria-labelledby').split(/\s+/).map((id) => document.getElementById(id))
          .filter(Boolean).map(h.text).join(' '))) ||
      h.norm([...(el.labels || [])].map(h.text).join(' '));
    if (!labelled) {
      problems.push(`${h.describe(el)}: no label (label[for], wrapping label, aria-label or aria-labelledby)`);
    }
  }
  for (const el of shown('img')) {
    const role = (el.getAttribute('role') || '').toLowerCase();
    if (!el.hasAttribute('alt') && role !== 'none' && role !== 'presentation') {
      problems.push(`img[src=${JSON.stringify((el.getAttribute('src') || '').slice(0, 60))}]: no alt attribute`);
    }
  }
  const controls = shown('button, [role=button], input[type=submit i], input[type=reset i], input[type=button i], input[type=image i], a[href], [role=link]');
  for (const el of controls) {
    if (!h.accessibleName(el)) problems.push(`${h.describe(el)}: ${el.matches('a[href], [role=link]') ? 'link' : 'button'} has no accessible name`);
  }
  return problems;
}

// describeActive(page) describes document.activeElement as tabOrder does.
export async function describeActive(page) {
  return page.evaluate(`${inPage}.describe(document.activeElement)`);
}

// tabOrder(page, n) presses Tab n times and returns what has the focus
// after each press, described as 'tag#id[name="..."][type="..."][href="..."]
// "accessible name"' (for example 'input#name[name="name"] "Name"',
// 'button[type="submit"] "Send"', 'a[href="/next"] "Next"'), or 'body'.
// It starts from wherever the focus is: right after page.goto, the top.
export async function tabOrder(page, n) {
  const order = [];
  for (let i = 0; i < n; i++) {
    await page.keyboard.press('Tab');
    order.push(await describeActive(page));
  }
  return order;
}
