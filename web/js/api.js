// api.js: the rs-serve HTTP API (rs-serve(8), issue 11) as the web app
// uses it. Every call carries the bearer token from localStorage; errors
// come back as ApiError (the server's {"error":{"code","message"}} with the
// HTTP status and Retry-After) or OfflineError (no answer at all).
//
// Progress of a restoration: the events stream (Server-Sent Events) is read
// with fetch() rather than EventSource, because EventSource cannot send an
// Authorization header. When the stream cannot be had or keeps breaking,
// watch() falls back to polling the record.

const TOKEN = 'rs.token';

export class ApiError extends Error {
	constructor(status, code, message, retryAfter) {
		super(message || `HTTP ${status}`);
		this.name = 'ApiError';
		this.status = status;
		this.code = code || '';
		this.retryAfter = retryAfter;	// seconds, or null
	}
}

export class OfflineError extends Error {
	constructor() { super('offline'); this.name = 'OfflineError'; }
}

export const token = {
	get() { try { return localStorage.getItem(TOKEN); } catch { return null; } },
	set(t) { localStorage.setItem(TOKEN, t); },
	clear() { localStorage.removeItem(TOKEN); },
};

// Called once on a 401 with a token: may get a new one (an anonymous
// session) and answer true to have the request tried again.
let onUnauthorized = async () => false;
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// Retry-After is seconds or an HTTP date (RFC 9110 10.2.3)
export function retryAfterSeconds(v) {
	if (v == null || v === '') return null;
	if (/^\d+$/.test(v.trim())) return Number(v);
	const t = Date.parse(v);
	return Number.isNaN(t) ? null : Math.max(0, Math.ceil((t - Date.now()) / 1000));
}

async function toError(res) {
	let code = '', message = '';
	try {
		const j = await res.json();
		if (j && j.error) { code = j.error.code || ''; message = j.error.message || ''; }
	} catch { /* not JSON: the status says enough */ }
	return new ApiError(res.status, code, message, retryAfterSeconds(res.headers.get('Retry-After')));
}

export async function request(method, path, opt = {}) {
	const send = async () => {
		const h = new Headers(opt.headers || {});
		const t = token.get();
		if (t) h.set('Authorization', 'Bearer ' + t);
		let body = opt.body;
		if (opt.json !== undefined) {
			h.set('Content-Type', 'application/json');
			body = JSON.stringify(opt.json);
		}
		try {
			return await fetch(path, { method, headers: h, body, signal: opt.signal, cache: 'no-store', credentials: 'omit' });
		} catch (e) {
			if (e.name === 'AbortError') throw e;
			throw new OfflineError();
		}
	};
	let res = await send();
	if (res.status === 401 && token.get() && !opt.noRetry && await onUnauthorized())
		res = await send();
	if (!res.ok) throw await toError(res);
	return res;
}

async function json(method, path, opt) {
	const res = await request(method, path, opt);
	if (res.status === 204) return null;
	const type = res.headers.get('Content-Type') || '';
	return type.includes('json') ? res.json() : null;
}

// ---- accounts ----
export async function newSession() {
	const j = await json('POST', '/v1/session', { json: {}, noRetry: true });
	if (!j || !j.token) throw new ApiError(500, 'bad_session', 'no token in the answer');
	token.set(j.token);
	return j;
}
export const me = () => json('GET', '/v1/me');
export const setPassword = (email, password) => json('POST', '/v1/account', { json: { email, password } });
export async function login(email, password) {
	const j = await json('POST', '/v1/login', { json: { email, password }, noRetry: true });
	if (!j || !j.token) throw new ApiError(500, 'bad_login', 'no token in the answer');
	token.set(j.token);
	return j;
}
export async function logout() {
	try { await request('POST', '/v1/logout', { noRetry: true }); } finally { token.clear(); }
}

// ---- billing: both answer {"url": ...}; the caller goes there ----
export const checkout = (what) => json('POST', '/v1/billing/checkout', { json: what });
export const portal = () => json('POST', '/v1/billing/portal', { json: {} });

// ---- restorations ----
// Sent with XMLHttpRequest, the one API that reports upload progress:
// onProgress(fraction) as the photos go up (a phone on a slow network
// may take a while over 10 MB).
export async function submit(files, prompt, onProgress = () => {}) {
	const fd = new FormData();
	for (const f of files) fd.append('image', f, f.name || 'photo');
	if (prompt) fd.append('prompt', prompt);
	const send = () => new Promise((resolve, reject) => {
		const x = new XMLHttpRequest();
		x.open('POST', '/v1/restorations');
		const t = token.get();
		if (t) x.setRequestHeader('Authorization', 'Bearer ' + t);
		x.upload.onprogress = (e) => { if (e.lengthComputable && e.total) onProgress(e.loaded / e.total); };
		x.onload = () => resolve(x);
		x.onerror = x.ontimeout = () => reject(new OfflineError());
		x.send(fd);
	});
	let x = await send();
	if (x.status === 401 && token.get() && await onUnauthorized())
		x = await send();
	let j = null;
	try { j = JSON.parse(x.responseText); } catch { /* not JSON */ }
	if (x.status < 200 || x.status > 299) {
		const e = j && j.error ? j.error : {};
		throw new ApiError(x.status, e.code, e.message, retryAfterSeconds(x.getResponseHeader('Retry-After')));
	}
	return j;
}
export const get = (id) => json('GET', `/v1/restorations/${encodeURIComponent(id)}`);
export const remove = (id) => request('DELETE', `/v1/restorations/${encodeURIComponent(id)}`);

// One page of history, newest first: { items, next }. next (the id to
// continue before, or null) is what to pass back for the page after.
export async function list(next) {
	const j = await json('GET', '/v1/restorations' + (next ? '?before=' + encodeURIComponent(next) : ''));
	if (Array.isArray(j)) return { items: j, next: null };
	const items = (j && j.restorations) || [];
	return { items, next: j && typeof j.next === 'string' && j.next ? j.next : null };
}

// An image of a restoration as a Blob (the img element cannot send the
// Authorization header itself). which: 'result' or 'input/N'.
export async function image(id, which) {
	const res = await request('GET', `/v1/restorations/${encodeURIComponent(id)}/${which}`);
	return res.blob();
}

export const terminal = (s) => s === 'done' || s === 'failed';

// Server-Sent Events from a fetch() body: yields {event, data, id}.
async function* sse(body, signal) {
	const reader = body.getReader();
	const dec = new TextDecoder();
	let buf = '', ev = { event: 'message', data: [], id: null };
	try {
		for (;;) {
			if (signal && signal.aborted) return;
			const { value, done } = await reader.read();
			if (done) return;
			buf += dec.decode(value, { stream: true });
			let nl;
			while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
				const line = buf.slice(0, nl);
				buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
				if (line === '') {	// end of one event
					if (ev.data.length)
						yield { event: ev.event, data: ev.data.join('\n'), id: ev.id };
					ev = { event: 'message', data: [], id: ev.id };
					continue;
				}
				if (line[0] === ':') continue;	// keep-alive comment
				const c = line.indexOf(':');
				const field = c < 0 ? line : line.slice(0, c);
				let v = c < 0 ? '' : line.slice(c + 1);
				if (v[0] === ' ') v = v.slice(1);
				if (field === 'data') ev.data.push(v);
				else if (field === 'event') ev.event = v;
				else if (field === 'id') ev.id = v;
			}
		}
	} finally {
		reader.cancel().catch(() => {});
	}
}

const sleep = (ms, signal) => new Promise((resolve, reject) => {
	const t = setTimeout(resolve, ms);
	signal && signal.addEventListener('abort', () => { clearTimeout(t); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
});

async function poll(id, onState, signal) {
	let wait = 700;
	for (;;) {
		const rec = await get(id);
		onState(rec);
		if (terminal(rec.status)) return rec;
		await sleep(wait, signal);
		wait = Math.min(wait * 1.5, 3000);
	}
}

// Follow a restoration until it is done or failed: onState(record) on each
// change; resolves with the final record (fetched whole).
export async function watch(id, onState, signal) {
	let lastId = null, breaks = 0;
	while (breaks < 3) {
		try {
			const headers = { Accept: 'text/event-stream' };
			if (lastId) headers['Last-Event-ID'] = lastId;
			const res = await request('GET', `/v1/restorations/${encodeURIComponent(id)}/events`, { headers, signal });
			if (!res.body || !(res.headers.get('Content-Type') || '').startsWith('text/event-stream'))
				break;
			for await (const ev of sse(res.body, signal)) {
				if (ev.id) lastId = ev.id;
				if (ev.event === 'gone')	// deleted meanwhile (on another device)
					throw new ApiError(404, 'not_found', 'deleted');
				let rec = null;
				try { rec = JSON.parse(ev.data); } catch { /* not JSON */ }
				const st = rec && (rec.status || (rec.job && rec.job.status)) || (terminal(ev.event) ? ev.event : null);
				if (st) onState(rec && rec.id ? rec : { id, status: st });
				if (terminal(st)) {
					const full = await get(id);
					onState(full);
					return full;
				}
			}
			// the stream ended early: where is it now?
			const rec = await get(id);
			onState(rec);
			if (terminal(rec.status)) return rec;
		} catch (e) {
			if (e.name === 'AbortError') throw e;
			if (e instanceof ApiError && e.status !== 405 && e.status < 500 && e.status !== 429) throw e;
		}
		breaks++;
	}
	return poll(id, onState, signal);
}
