// Package browser drives a real headless Chromium from Go tests: a test
// writes a short ES module script against playwright-core and the helpers
// of browser.mjs, and Run executes it with Node.js 22, returning its
// stdout. Chromium is Debian's package (/usr/bin/chromium) and
// playwright-core an npm package pinned by scripts/install-tools.sh, which
// installs both; nothing downloads a browser.
//
// A script imports the helpers as './browser.mjs' and playwright-core by
// its bare name:
//
//	import { withPage, shot, a11y, tabOrder } from './browser.mjs';
//	await withPage(async (page) => {
//	  await page.goto(process.env.BASE_URL);
//	  console.log(JSON.stringify({ order: await tabOrder(page, 2), problems: await a11y(page) }));
//	  await shot(page, 'home');
//	});
//
// browser.mjs exports:
//
//	launch(options?) -> Browser           chromium.launch with executablePath
//	                                      $MCPGATE_CHROMIUM and chromiumArgs
//	withPage(fn, options?) -> fn's value  a browser, a fresh context and page;
//	                                      fn(page, context); a failure.png
//	                                      screenshot if fn throws; closed after
//	shot(page, name) -> path              full-page PNG <screenshots>/<name>.png
//	screenshotDir() -> path               $MCPGATE_SCREENSHOTS
//	a11y(page) -> string[]                a minimal accessibility check's problems
//	tabOrder(page, n) -> string[]         the focused element after each of n Tabs
//	describeActive(page) -> string        the focused element, described
//	chromiumArgs, chromium                the launch switches; playwright-core's chromium
//
// Screenshots are test artefacts: they go to ScreenshotDir(t), which is
// $MCPGATE_ARTIFACTS/<test name>/ when MCPGATE_ARTIFACTS is set (kept after
// the test; emptied when the test starts) and a directory under t.TempDir()
// otherwise.
//
// Environment:
//
//	MCPGATE_CHROMIUM      the Chromium binary (default /usr/bin/chromium)
//	MCPGATE_NODE22        Node.js 22 (see package node)
//	MCPGATE_NPM_DIR       holds playwright-core-<Version>/ (see package testtools)
//	MCPGATE_ARTIFACTS     if set, where screenshots are kept
//	MCPGATE_E2E_REQUIRED  "1": a missing Chromium, Node.js 22 or
//	                      playwright-core fails the test instead of skipping it
//
// Network: Chromium is launched with a host resolver rule that fails every
// host but localhost and 127.0.0.1 (other names and addresses, [::1]
// included, end in net::ERR_NAME_NOT_RESOLVED), so a script reaches only
// the servers a test starts on 127.0.0.1. The script runs with node.Env's environment (no
// proxy variables, a fresh HOME) and TMPDIR in the test's temporary
// directory, where Playwright puts the browser profile.
//
// It is imported only by _test.go files.
package browser
