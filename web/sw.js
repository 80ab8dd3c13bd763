// sw.js: the service worker. It caches the app shell (the page, its
// script, style, manifest and icons) so that the app opens offline; the
// page then shows the history it keeps in IndexedDB. The API (/v1/) and
// anything not in the shell pass straight to the network, never from a
// cache: a stale credit balance or job status would be worse than none.
//
// The shell is fetched network first (so a new version shows at once when
// online) and falls back to the cache when the network fails.
const CACHE = 'rs-shell-1';
const SHELL = [
	'./', 'index.html', 'app.css', 'js/app.js', 'js/api.js', 'js/store.js',
	'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png', 'icons/maskable-512.png',
];
const scope = new URL(self.registration.scope);
const shell = new Set(SHELL.map((p) => new URL(p, scope).pathname));

self.addEventListener('install', (e) => {
	e.waitUntil(caches.open(CACHE)
	    .then((c) => c.addAll(SHELL.map((p) => new Request(p, { cache: 'reload' }))))
	    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
	e.waitUntil(caches.keys()
	    .then((ks) => Promise.all(ks.filter((k) => k.startsWith('rs-shell-') && k !== CACHE).map((k) => caches.delete(k))))
	    .then(() => self.clients.claim()));
});

self.addEventListener('fetch', (e) => {
	const req = e.request;
	if (req.method !== 'GET') return;
	const url = new URL(req.url);
	if (url.origin !== scope.origin) return;
	const nav = req.mode === 'navigate';
	if (!nav && !shell.has(url.pathname)) return;	// the API and the rest: network only
	const key = nav ? new URL('./', scope).href : url.href;
	e.respondWith((async () => {
		try {
			const res = await (nav ? fetch(req) : fetch(url, { cache: 'no-cache' }));
			if (res.ok && res.type === 'basic') {
				const copy = res.clone();
				e.waitUntil(caches.open(CACHE).then((c) => c.put(key, copy)));
			}
			return res;
		} catch (err) {
			const hit = await caches.match(key);
			if (hit) return hit;
			throw err;
		}
	})());
});
