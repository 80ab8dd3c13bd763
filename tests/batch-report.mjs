// tests/batch-report.mjs: open an rs-batch HTML report in headless
// Chromium (Debian's, driven by playwright-core) and check that it is
// whole and self-contained, for tests/rs-batch.bats.
//
//   node tests/batch-report.mjs REPORT.html
//
// Prints {"rows": N, "images": N} and exits 0; exits 1 with the reason on
// stderr on a console error, an uncaught exception, a request for
// anything outside the file, or a picture that does not decode.
import { createRequire } from 'node:module';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(here, 'js/package.json'));
const { chromium } = require('playwright-core');

const file = process.argv[2];
if (!file) {
	console.error('usage: batch-report.mjs REPORT.html');
	process.exit(64);
}
const url = 'file://' + path.resolve(file);
const problems = [];
const browser = await chromium.launch({
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	args: ['--no-sandbox'],
});
try {
	const page = await browser.newPage();
	page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
	page.on('pageerror', (e) => problems.push('exception: ' + e.message));
	page.on('request', (r) => {
		const u = r.url();
		if (!u.startsWith('data:') && u !== url) problems.push('request outside the file: ' + u);
	});
	await page.goto(url, { waitUntil: 'load' });
	const got = await page.evaluate(() => ({
		rows: document.querySelectorAll('tbody tr').length,
		images: document.images.length,
		broken: [...document.images].filter((i) => !i.complete || i.naturalWidth === 0).length,
		title: document.title,
	}));
	if (got.broken) problems.push(`${got.broken} pictures did not decode`);
	if (!got.title.startsWith('rs-batch')) problems.push('title: ' + got.title);
	if (problems.length) {
		console.error(problems.join('\n'));
		process.exitCode = 1;
	} else
		console.log(JSON.stringify({ rows: got.rows, images: got.images }));
} finally {
	await browser.close();
}
