// store.js: what the app keeps on this device, so that it opens offline
// with the history it has seen: the last /v1/me and history list (key
// "me", "history") and a small thumbnail Blob per restoration. IndexedDB;
// when it is unavailable (private modes) every call quietly does nothing.

let dbp = null;
function db() {
	if (!dbp)
		dbp = new Promise((resolve) => {
			let r;
			try { r = indexedDB.open('rs', 1); } catch { resolve(null); return; }
			r.onupgradeneeded = () => {
				r.result.createObjectStore('kv');
				r.result.createObjectStore('thumbs');
			};
			r.onsuccess = () => resolve(r.result);
			r.onerror = () => resolve(null);
			r.onblocked = () => resolve(null);
		});
	return dbp;
}

async function tx(store, mode, f) {
	const d = await db();
	if (!d) return undefined;
	return new Promise((resolve) => {
		let out;
		const t = d.transaction(store, mode);
		const req = f(t.objectStore(store));
		if (req) req.onsuccess = () => { out = req.result; };
		t.oncomplete = () => resolve(out);
		t.onerror = t.onabort = () => resolve(undefined);
	});
}

export const getKV = (k) => tx('kv', 'readonly', (s) => s.get(k));
export const putKV = (k, v) => tx('kv', 'readwrite', (s) => s.put(v, k));
export const getThumb = (id) => tx('thumbs', 'readonly', (s) => s.get(id));
export const putThumb = (id, blob) => tx('thumbs', 'readwrite', (s) => s.put(blob, id));
export const delThumb = (id) => tx('thumbs', 'readwrite', (s) => s.delete(id));
export async function clear() {
	await tx('kv', 'readwrite', (s) => s.clear());
	await tx('thumbs', 'readwrite', (s) => s.clear());
}
