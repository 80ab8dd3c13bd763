// app.js: the rs web app. One page: choose photos, follow the restoration,
// compare before and after, history, account and billing. Talks only to
// rs-serve's /v1 API (api.js); keeps the last account summary, history and
// thumbnails on the device (store.js) so that it opens offline; sw.js
// caches the page itself.
import * as api from './api.js';
import * as store from './store.js';

const $ = (id) => document.getElementById(id);
const MB = 1024 * 1024;
const TYPES = { 'image/jpeg': 'JPEG', 'image/png': 'PNG' };
const PLAN_NAMES = { free: 'Free', pro: 'Pro', premium: 'Premium' };

const state = {
	me: null,		// normalised /v1/me
	files: [],		// [{ file, url }]
	job: null,		// the record on show
	watch: null,		// AbortController of the watch in progress
	urls: [],		// object URLs of the before/after view
	history: [],
	next: null,
	thumbUrls: new Map(),
	offline: !navigator.onLine,
};

// ---- small helpers ----
function el(tag, attrs = {}, ...kids) {
	const e = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v == null || v === false) continue;
		if (k === 'class') e.className = v;
		else if (k === 'text') e.textContent = v;
		else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
		else e.setAttribute(k, v === true ? '' : v);
	}
	for (const k of kids) if (k != null) e.append(k);
	return e;
}
function size(n) {
	if (n < MB) return `${Math.max(1, Math.round(n / 1024))} KB`;
	const v = n / MB;
	return `${Number.isInteger(v) ? v : v.toFixed(1)} MB`;
}
const plural = (n, w) => `${n} ${w}${n === 1 ? '' : 's'}`;
function wait(s) {
	if (s == null) return 'a minute';
	if (s < 60) return plural(s, 'second');
	return plural(Math.ceil(s / 60), 'minute');
}
function when(t) {
	const d = new Date(t);
	return Number.isNaN(d.getTime()) ? '' : d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

// A message with its next step: msg(box, 'text', { ok, actions: [[label, fn]] })
function msg(box, text, opt = {}) {
	box.replaceChildren();
	if (!text) { box.hidden = true; return; }
	box.classList.toggle('ok', !!opt.ok);
	box.setAttribute('role', opt.ok ? 'status' : 'alert');
	for (const line of [].concat(text)) box.append(el('p', { text: line }));
	if (opt.actions && opt.actions.length) {
		const a = el('div', { class: 'actions' });
		opt.actions.forEach(([label, fn], i) =>
			a.append(el('button', { type: 'button', class: i ? 'btn' : 'btn primary', text: label, onclick: fn })));
		box.append(a);
	}
	box.hidden = false;
}

// ---- the account summary ----
function normalise(j) {
	const num = (...v) => v.find((x) => typeof x === 'number');
	const lim = (j && (j.limits || j.plan_limits)) || {};
	const cr = j && j.credits;
	const plan = typeof j.plan === 'string' ? j.plan : (j.plan && (j.plan.name || j.plan.id)) || 'free';
	return {
		plan,
		credits: num(cr && typeof cr === 'object' ? cr.available ?? cr.balance : cr, j.balance, j.available) ?? 0,
		perRequest: num(lim.images_per_request, j.images_per_request) ?? 1,
		maxBytes: num(lim.max_upload_bytes, lim.max_bytes, j.max_upload_bytes) ?? 10 * MB,
		cost: num(j.cost && j.cost.restore, lim.cost && lim.cost.restore) ?? 1,
		costFusion: num(j.cost && j.cost.fusion, lim.cost && lim.cost.fusion) ?? 2,
		email: j.email || null,
		hasPassword: !!(j.has_password ?? j.password ?? j.email),
		subscribed: !!(j.billing || plan !== 'free'),
	};
}

function showMe() {
	const m = state.me;
	if (!m) { $('credits').textContent = state.offline ? 'Offline' : '…'; return; }
	const plan = PLAN_NAMES[m.plan] || m.plan;
	$('credits').textContent = `${plural(m.credits, 'credit')} · ${plan}`;
	$('plan-line').textContent = `${plan} plan: ${plural(m.credits, 'credit')} left; up to ${plural(m.perRequest, 'photo')} of ${size(m.maxBytes)} at a time.` +
	    (m.hasPassword && m.email ? ` Signed in as ${m.email}.` : '');
	$('limits').textContent = `JPEG or PNG, up to ${size(m.maxBytes)}` +
	    (m.perRequest > 1 ? `; up to ${m.perRequest} photos of one scene are combined into one.` : '.');
	$('file').multiple = m.perRequest > 1;
	$('choose-label').querySelector('span').textContent = m.perRequest > 1 ? 'Choose photos' : 'Choose a photo';
	$('upgrade').textContent = m.plan === 'premium' ? 'Buy 250 credits' : m.plan === 'pro' ? 'Upgrade to Premium' : 'Upgrade to Pro';
	$('manage').hidden = !m.subscribed;
	$('keep-box').hidden = m.hasPassword;
	$('logout').hidden = !m.hasPassword;
	$('signin-summary').textContent = m.hasPassword ? 'Sign in to another account' : 'I already have an account: sign in';
	updateSubmit();
}

async function refreshMe() {
	const j = await api.me();
	state.me = normalise(j);
	store.putKV('me', state.me);
	showMe();
}

async function ensureSession() {
	if (!api.token.get())
		await api.newSession();
}

// A 401 with a token: it was revoked or has expired. An anonymous
// account gets a fresh one at once; a signed-in person is asked to sign in.
api.setUnauthorizedHandler(async () => {
	const had = state.me && state.me.hasPassword;
	api.token.clear();
	if (had) {
		msg($('account-msg'), 'You have been signed out. Sign in again to see your photos.');
		$('signin-box').open = true;
	}
	try { await api.newSession(); await store.clear(); return true; } catch { return false; }
});

// ---- errors in plain words, each with the next step ----
function explain(e, box, again) {
	if (e instanceof api.OfflineError) {
		setOffline(true);
		return msg(box, ['You are offline.', 'Connect to the internet and try again.'], { actions: again ? [['Try again', again]] : [] });
	}
	if (!(e instanceof api.ApiError)) {
		console.warn(e);
		return msg(box, ['Something went wrong in the app.', 'Reload the page and try again.']);
	}
	switch (e.status) {
	case 402:
		return msg(box, ['You are out of credits.', 'Upgrade or buy credits to restore more photos; the free plan gets new credits each month.'],
		    { actions: [['Upgrade', () => buy(upgradeWhat(), box)], ['Buy 50 credits', () => buy({ pack: 'small' }, box)]] });
	case 429: {
		const s = e.retryAfter;
		if (again && s != null && s <= 120) holdSubmit(s);
		return msg(box, ['Too many requests for now.', `Please wait ${wait(s)}, then try again.`]);
	}
	case 413:
		return msg(box, ['That photo is too large.', `Choose one under ${size(state.me ? state.me.maxBytes : 10 * MB)}, or upgrade for larger photos.`]);
	case 415:
	case 422:
		return msg(box, ['That file is not a photo we can read.', 'Choose a JPEG or PNG photo.']);
	case 401:
	case 403:
		return msg(box, ['You are not signed in.', 'Sign in again, or reload the page to start afresh.']);
	case 404:
		return msg(box, ['That restoration is gone.', 'It may have been deleted on another device.']);
	case 400:
		if (/image|photo|jpeg|png|file|multipart/i.test(e.code + ' ' + e.message))
			return msg(box, ['That file is not a photo we can read.', 'Choose a JPEG or PNG photo.']);
		return msg(box, [e.message || 'The request was refused.', 'Check what you entered and try again.']);
	case 502:
		return msg(box, ['A service we depend on did not answer.', 'Try again in a few minutes.'], { actions: again ? [['Try again', again]] : [] });
	default:
		if (e.status >= 500)
			return msg(box, ['The server is busy or had a problem.', `Try again ${e.retryAfter ? 'in ' + wait(e.retryAfter) : 'in a moment'}.`],
			    { actions: again ? [['Try again', again]] : [] });
		return msg(box, [e.message || `The request failed (${e.status}).`, 'Try again.']);
	}
}

// why a job failed, from its record's error.code (rs-run, the backends)
function explainJob(rec, box) {
	const err = rec.error || {};
	const retry = state.files.length ? [['Try again', () => $('form').requestSubmit()]] : [];
	const pick = [['Choose another photo', () => { reset(); $('file').focus(); }]];
	const free = 'You were not charged.';
	switch (err.code) {
	case 'safety_block':
		return msg(box, ['The restoration model refused this photo under its safety rules.', free, 'Try a different photo, or a prompt that asks for less.'], { actions: pick });
	case 'content_changed':
		return msg(box, ['The model changed what is in the photo, not just its damage, so the result was not kept.', free, 'Try again, perhaps with a simpler prompt.'], { actions: retry.concat(pick) });
	case 'not_an_image':
	case 'bad_input':
		return msg(box, ['The photo could not be read.', free, 'Choose a JPEG or PNG photo.'], { actions: pick });
	case 'unsupported':
		return msg(box, [rec.inputs && rec.inputs.length > 1 ? 'Combining several photos is not available on this server yet.'
		    : 'This server cannot do that kind of restoration yet.', free, 'Restore the photos one at a time.'], { actions: pick });
	case 'timeout':
	case 'tempfail':
	case 'unavailable':
		return msg(box, ['The restoration service did not answer in time.', free, 'Try again in a few minutes.'], { actions: retry });
	default:
		return msg(box, ['The restoration failed.', free, 'Try again; if it fails again, try another photo.'], { actions: retry.concat(pick) });
	}
}

const upgradeWhat = () => state.me && state.me.plan === 'pro' ? { plan: 'premium' } : state.me && state.me.plan === 'premium' ? { pack: 'large' } : { plan: 'pro' };

async function buy(what, box = $('account-msg')) {
	try {
		const j = what === 'portal' ? await api.portal() : await api.checkout(what);
		if (!j || !j.url) throw new api.ApiError(502, 'no_url', 'no url');
		location.href = j.url;
	} catch (e) {
		if (!(e instanceof api.ApiError) || e.status === 401 || e.status === 429)
			return explain(e, box);
		if (e.status === 404 && what === 'portal')
			return msg(box, ['There is no subscription to manage yet.', 'Upgrade first; then this button opens your billing page.']);
		msg(box, ['Payments are not available right now.', 'Try again later; your photos and credits are safe.']);
	}
}

// ---- choosing photos ----
async function sniff(file) {
	const b = new Uint8Array(await file.slice(0, 8).arrayBuffer());
	if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
	if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
	return null;
}

async function addFiles(list) {
	const box = $('form-msg');
	msg(box, '');
	const max = state.me ? state.me.perRequest : 1;
	const maxBytes = state.me ? state.me.maxBytes : 10 * MB;
	const problems = [];
	const files = [...list];
	if (max === 1 && files.length) clearFiles();	// one at a time: the new one replaces
	for (const f of files) {
		const type = await sniff(f);
		if (!type) { problems.push(`“${f.name}” is not a JPEG or PNG photo. Choose a JPEG or PNG.`); continue; }
		if (f.size > maxBytes) {
			problems.push(`“${f.name}” is too large: ${size(f.size)}, over the limit of ${size(maxBytes)}. Choose a smaller photo` +
			    (state.me && state.me.plan !== 'premium' ? ' or upgrade for larger ones.' : '.'));
			continue;
		}
		if (state.files.length >= max) {
			problems.push(max === 1 ? 'One photo at a time on your plan; upgrade to Pro to combine two photos of one scene.'
			    : `Up to ${max} photos at a time; “${f.name}” was left out.`);
			break;
		}
		state.files.push({ file: f, url: URL.createObjectURL(f), type });
	}
	if (problems.length) msg(box, problems, { actions: problems.some((p) => p.includes('upgrade')) ? [['Upgrade', () => buy(upgradeWhat(), box)]] : [] });
	showFiles();
}

function clearFiles() {
	for (const f of state.files) URL.revokeObjectURL(f.url);
	state.files = [];
}

function showFiles() {
	const ul = $('previews');
	ul.replaceChildren();
	state.files.forEach((f, i) => {
		ul.append(el('li', {},
		    el('img', { src: f.url, alt: `Preview of ${f.file.name}` }),
		    el('p', { class: 'name', text: f.file.name }),
		    el('p', { class: 'name', text: size(f.file.size) }),
		    el('button', { type: 'button', 'aria-label': `Remove ${f.file.name}`, text: '×', onclick: () => {
			URL.revokeObjectURL(f.url);
			state.files.splice(i, 1);
			showFiles();
			$('file').focus();
		    } })));
	});
	$('drop-text').textContent = state.files.length ? 'Drop another photo here to replace it, or' : 'Drop a photo here, or';
	if (state.me && state.me.perRequest > 1 && state.files.length)
		$('drop-text').textContent = state.files.length >= state.me.perRequest
		    ? `${plural(state.files.length, 'photo')} chosen, the most at a time. Remove one to add another.`
		    : `${plural(state.files.length, 'photo')} chosen (up to ${state.me.perRequest}). Add more, or`;
	updateSubmit();
}

// told to wait (429): the button counts down, then comes back
let holdUntil = 0, holdTimer = 0;
function holdSubmit(s) {
	holdUntil = Date.now() + s * 1000;
	clearInterval(holdTimer);
	holdTimer = setInterval(() => {
		updateSubmit();
		if (Date.now() >= holdUntil) clearInterval(holdTimer);
	}, 1000);
	updateSubmit();
}

function updateSubmit() {
	const b = $('submit');
	const n = state.files.length;
	const cost = state.me ? (n > 1 ? state.me.costFusion : state.me.cost) : 1;
	const hold = Math.ceil((holdUntil - Date.now()) / 1000);
	b.disabled = n === 0 || state.offline || hold > 0 || !!state.watch;
	b.textContent = hold > 0 ? `Wait ${hold} s` : n > 1 ? `Restore and combine ${n} photos (${plural(cost, 'credit')})` : `Restore (${plural(cost, 'credit')})`;
}

// ---- a restoration: submit, follow, show ----
const STEPS = {
	sending: [0, 'Uploading your photo…'],
	queued: [1, 'Waiting for its turn…'],
	running: [2, 'Restoring: finding the damage and repairing it…'],
	done: [3, 'Done. Your restored photo is below.'],
	failed: [3, 'The restoration did not succeed.'],
};

function progress(status) {
	const [v, text] = STEPS[status] || [1, 'Working…'];
	$('progress').value = v;
	if ($('progress-text').textContent !== text) $('progress-text').textContent = text;
	$('progress-box').hidden = status === 'done' || status === 'failed';
}

function freeUrls() {
	for (const u of state.urls) URL.revokeObjectURL(u);
	state.urls = [];
}

async function submit(ev) {
	ev.preventDefault();
	if (!state.files.length || state.watch) return;
	msg($('form-msg'), '');
	const files = state.files.map((f) => f.file);
	const prompt = $('prompt').value.trim();
	openJobView();
	progress('sending');
	state.watch = new AbortController();
	updateSubmit();
	let rec;
	try {
		await ensureSession();
		rec = await api.submit(files, prompt, (f) => {
			$('progress').value = 0.9 * f;
			$('progress').setAttribute('aria-valuetext', `Uploading: ${Math.round(100 * f)}%`);
		});
		$('progress').removeAttribute('aria-valuetext');
	} catch (e) {
		state.watch = null;
		$('progress').removeAttribute('aria-valuetext');
		$('job').hidden = true;
		$('new').hidden = false;
		updateSubmit();
		explain(e, $('form-msg'), () => $('form').requestSubmit());
		refreshMe().catch(() => {});
		return;
	}
	state.watch = null;
	refreshMe().catch(() => {});
	await follow(rec);
}

function openJobView() {
	freeUrls();
	$('new').hidden = true;
	$('job').hidden = false;
	$('result').hidden = true;
	msg($('job-msg'), '');
	$('job').focus();
}

// follow a record until it ends, then show it
async function follow(rec) {
	state.job = rec;
	if (state.watch) state.watch.abort();
	const ctl = state.watch = new AbortController();
	updateSubmit();
	progress(rec.status || 'queued');
	try {
		if (!api.terminal(rec.status))
			rec = await api.watch(rec.id, (r) => progress(r.status), ctl.signal);
	} catch (e) {
		if (e.name === 'AbortError') return;
		explain(e, $('job-msg'));
		rec = null;
	} finally {
		if (state.watch === ctl) state.watch = null;
		updateSubmit();
	}
	if (!rec) return;
	state.job = rec;
	progress(rec.status);
	if (rec.status === 'done') await showResult(rec);
	else explainJob(rec, $('job-msg'));
	refreshMe().catch(() => {});
	refreshHistory().catch(() => {});
}

async function showResult(rec) {
	try {
		const [before, after] = await Promise.all([api.image(rec.id, 'input/0'), api.image(rec.id, 'result')]);
		freeUrls();
		const b = URL.createObjectURL(before), a = URL.createObjectURL(after);
		state.urls.push(b, a);
		const loaded = (img) => new Promise((r) => { img.onload = img.onerror = r; });
		const p = Promise.all([loaded($('before')), loaded($('after'))]);
		$('before').src = b;
		$('after').src = a;
		await p;
		const d = $('download');
		d.href = a;
		d.download = `restored-${String(rec.id).slice(0, 12)}.${after.type === 'image/jpeg' ? 'jpg' : 'png'}`;
		setSlider(50);
		$('result').hidden = false;
		$('progress-box').hidden = true;
		$('job').focus();
		thumbFrom(rec.id, after, 'result');
	} catch (e) {
		explain(e, $('job-msg'));
	}
}

function setSlider(v) {
	$('slider').value = v;
	$('compare').style.setProperty('--pos', `${v}%`);
	$('slider').setAttribute('aria-valuetext', v <= 0 ? 'All after' : v >= 100 ? 'All before'
	    : `Before on the left, after on the right; the line is ${v}% across`);
}

function reset() {
	if (state.watch) { state.watch.abort(); state.watch = null; }
	clearFiles();
	showFiles();
	freeUrls();
	$('prompt').value = '';
	$('job').hidden = true;
	$('new').hidden = false;
	msg($('form-msg'), '');
	updateSubmit();
}

// ---- history ----
const STATUS_WORDS = { queued: 'Waiting', running: 'Restoring…', done: 'Restored', failed: 'Failed' };

async function thumbFrom(id, blob, kind) {
	try {
		const bm = await createImageBitmap(blob, { resizeWidth: 128, resizeQuality: 'medium' });
		const c = document.createElement('canvas');
		c.width = bm.width;
		c.height = bm.height;
		c.getContext('2d').drawImage(bm, 0, 0);
		const small = await new Promise((r) => c.toBlob(r, 'image/jpeg', 0.8));
		if (small) {
			await store.putThumb(id, { kind, blob: small });
			const img = document.querySelector(`img[data-thumb="${CSS.escape(id)}"]`);
			if (img) setThumb(img, id, small);
		}
	} catch { /* a thumbnail is a nicety */ }
}

function setThumb(img, id, blob) {
	const old = state.thumbUrls.get(id);
	if (old) URL.revokeObjectURL(old);
	const u = URL.createObjectURL(blob);
	state.thumbUrls.set(id, u);
	img.src = u;
}

async function loadThumbs(items) {
	for (const r of items) {
		const img = document.querySelector(`img[data-thumb="${CSS.escape(r.id)}"]`);
		if (!img) continue;
		const want = r.status === 'done' ? 'result' : 'input';
		const t = await store.getThumb(r.id);
		if (t && t.blob) setThumb(img, r.id, t.blob);
		if ((t && t.kind === want) || state.offline) continue;
		try {
			const blob = await api.image(r.id, want === 'result' ? 'result' : 'input/0');
			await thumbFrom(r.id, blob, want);
		} catch { /* deleted meanwhile, or offline: keep what there is */ }
	}
}

function showHistory() {
	const ul = $('history-list');
	const seen = new Set(state.history.map((r) => r.id));
	for (const [id, u] of state.thumbUrls)
		if (!seen.has(id)) { URL.revokeObjectURL(u); state.thumbUrls.delete(id); }
	ul.replaceChildren();
	for (const r of state.history) {
		const st = r.status || 'queued';
		const img = el('img', { class: 'thumb', alt: '', 'data-thumb': r.id, width: 64, height: 64 });
		const u = state.thumbUrls.get(r.id);
		if (u) img.src = u;
		const label = r.prompt ? `“${r.prompt}”` : (r.inputs && r.inputs.length > 1 ? `${r.inputs.length} photos combined` : 'Photo');
		ul.append(el('li', {},
		    img,
		    el('div', { class: 'meta' },
			el('p', { text: label }),
			el('p', { class: 'when', text: when(r.created) }),
			el('p', { class: `state ${st}`, text: STATUS_WORDS[st] || st })),
		    el('div', { class: 'row-actions' },
			el('button', { type: 'button', class: 'btn', text: 'Open', 'aria-label': `Open ${label}, ${when(r.created)}`,
			    disabled: state.offline, onclick: () => { openJobView(); follow(r); } }),
			el('button', { type: 'button', class: 'btn', text: 'Delete', 'aria-label': `Delete ${label}, ${when(r.created)}`,
			    disabled: state.offline, onclick: () => del(r) }))));
	}
	$('history-empty').hidden = state.history.length > 0;
	$('more').hidden = !state.next || state.offline;
}

async function refreshHistory() {
	const { items, next } = await api.list();
	state.history = items;
	state.next = next;
	store.putKV('history', items);
	showHistory();
	loadThumbs(items);
}

async function more() {
	try {
		const { items, next } = await api.list(state.next);
		const have = new Set(state.history.map((r) => r.id));
		const add = items.filter((r) => !have.has(r.id));
		state.history = state.history.concat(add);
		state.next = next;
		showHistory();
		loadThumbs(add);
	} catch (e) {
		explain(e, $('account-msg'));
	}
}

async function del(r) {
	if (!confirm('Delete this restoration and its photos for good?')) return;
	try {
		await api.remove(r.id);
	} catch (e) {
		if (!(e instanceof api.ApiError && e.status === 404)) return explain(e, $('job-msg'));
	}
	store.delThumb(r.id);
	if (state.job && state.job.id === r.id) reset();
	state.history = state.history.filter((x) => x.id !== r.id);
	store.putKV('history', state.history);
	showHistory();
	$('h-history').setAttribute('tabindex', '-1');
	$('h-history').focus();
}

// ---- account ----
async function keep(ev) {
	ev.preventDefault();
	const box = $('account-msg');
	const email = $('keep-email').value.trim(), pw = $('keep-password').value;
	if (!/^[^@\s]+@[^@\s]+$/.test(email)) return msg(box, ['That email address does not look right.', 'Check it and try again.']);
	if (pw.length < 8) return msg(box, ['The password is too short.', 'Use at least 8 characters.']);
	try {
		await api.setPassword(email, pw);
		$('keep-password').value = '';
		msg(box, [`Saved. On your other devices, choose “sign in” and use ${email}.`], { ok: true });
		await refreshMe();
	} catch (e) {
		if (e instanceof api.ApiError && (e.status === 409 || e.code === 'email_taken')) {
			$('signin-box').open = true;
			$('signin-email').value = email;
			return msg(box, ['That email already has an account.', 'Sign in with it below, or use another email.']);
		}
		if (e instanceof api.ApiError && (e.status === 400 || e.status === 422))
			return msg(box, [e.message || 'The email or password was refused.', 'Check them and try again.']);
		explain(e, box);
	}
}

async function signin(ev) {
	ev.preventDefault();
	const box = $('account-msg');
	const email = $('signin-email').value.trim(), pw = $('signin-password').value;
	try {
		await api.login(email, pw);
		$('signin-password').value = '';
		$('signin-box').open = false;
		await store.clear();
		reset();
		msg(box, [`Signed in as ${email}.`], { ok: true });
		await Promise.all([refreshMe(), refreshHistory()]);
	} catch (e) {
		if (e instanceof api.ApiError && (e.status === 401 || e.status === 403 || e.status === 404))
			return msg(box, ['The email or password is wrong.', 'Check them and try again.']);
		explain(e, box);
	}
}

async function signout() {
	const box = $('account-msg');
	try { await api.logout(); } catch { /* the token is dropped here anyway */ }
	await store.clear();
	reset();
	state.me = null;
	state.history = [];
	showHistory();
	try {
		await api.newSession();
		await Promise.all([refreshMe(), refreshHistory()]);
		msg(box, ['Signed out. This device has a new, empty account; sign in to get your photos back.'], { ok: true });
	} catch (e) { explain(e, box); }
}

// ---- offline ----
function setOffline(off) {
	if (state.offline === off) return;
	state.offline = off;
	$('offline').hidden = !off;
	showHistory();
	updateSubmit();
	if (!off) start();
}

// ---- start ----
async function start() {
	try {
		await ensureSession();
		await refreshMe();
		await refreshHistory();
		if (state.offline) setOffline(false);
	} catch (e) {
		if (e instanceof api.OfflineError) setOffline(true);
		else explain(e, $('account-msg'), start);
	}
}

async function billingReturn() {
	const m = /^#\/billing(\?(.*))?$/.exec(location.hash);
	if (!m) return;
	history.replaceState(null, '', location.pathname + location.search);
	if (!/session=/.test(m[2] || '')) return;
	msg($('account-msg'), ['Thank you! Your purchase is being applied; your credits update in a moment.'], { ok: true });
	$('account-msg').scrollIntoView({ block: 'center' });
	for (let i = 0; i < 5; i++) {
		await new Promise((r) => setTimeout(r, 2000));
		await refreshMe().catch(() => {});
	}
}

function wire() {
	const drop = $('drop');
	for (const input of [$('file'), $('camera')])
		input.addEventListener('change', () => { addFiles(input.files); input.value = ''; });
	drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
	drop.addEventListener('dragleave', () => drop.classList.remove('over'));
	drop.addEventListener('drop', (e) => {
		e.preventDefault();
		drop.classList.remove('over');
		if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
	});
	$('camera-label').hidden = !matchMedia('(pointer: coarse)').matches;
	$('form').addEventListener('submit', submit);
	$('slider').addEventListener('input', () => setSlider(Number($('slider').value)));
	$('again').addEventListener('click', () => { reset(); $('file').focus(); });
	$('more').addEventListener('click', more);
	$('upgrade').addEventListener('click', () => buy(upgradeWhat()));
	$('buy').addEventListener('click', () => buy({ pack: 'small' }));
	$('manage').addEventListener('click', () => buy('portal'));
	$('keep').addEventListener('submit', keep);
	$('signin').addEventListener('submit', signin);
	$('logout').addEventListener('click', signout);
	addEventListener('online', () => setOffline(false));
	addEventListener('offline', () => setOffline(true));
}

async function main() {
	wire();
	$('offline').hidden = !state.offline;
	// what this device saw last, at once (and all there is when offline)
	const [me, hist] = await Promise.all([store.getKV('me'), store.getKV('history')]);
	if (me && !state.me) { state.me = me; showMe(); }
	if (hist && !state.history.length) { state.history = hist; showHistory(); loadThumbs(hist); }
	updateSubmit();
	if ('serviceWorker' in navigator)
		navigator.serviceWorker.register('sw.js').catch((e) => console.warn('service worker:', e.message));
	if (!state.offline) await start();
	else showMe();
	billingReturn();
	document.documentElement.dataset.ready = '1';	// for tests and the curious
}

main();
