// SPDX-License-Identifier: MIT
// The client case's Node peer (bench/run http): N GETs at concurrency C with Node's
// fetch (undici, keep-alive pool), each body read; prints "requests=N ok=N wall=S".
//   node http_client_undici.js --url URL --requests N --concurrency C
const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : dflt; };
const url = opt('--url');
const n = Number(opt('--requests', 20000));
const c = Number(opt('--concurrency', 100));
let left = n, ok = 0;
async function worker() {
  while (left > 0) {
    left--;
    const r = await fetch(url);
    const body = await r.text();
    if (r.status === 200 && body.length > 0) ok++;
  }
}
(async () => {
  const t0 = performance.now();
  await Promise.all(Array.from({ length: c }, worker));
  const wall = (performance.now() - t0) / 1000;
  console.log(`requests=${n} ok=${ok} wall=${wall.toFixed(3)}`);
  process.exit(ok === n ? 0 : 1);
})();
