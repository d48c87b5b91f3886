/**
 * `npm run bench`: figures measured side by side in one run, on a fresh stack in its
 * own temp folder and subnet (127.70.0.0/24), torn down at the end.
 *
 *   - cold `tandem up` on empty state (wall clock)
 *   - wrk on a constant endpoint (/whoami): the app directly vs LB → nginx → app
 *   - wrk on the database read page (/) through the whole stack
 * Rounds alternate between targets so machine noise hits them alike; medians reported.
 */
import { execFile } from 'node:child_process';
import { TestStack } from '../test/support/stack.ts';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);

interface WrkResult {
  rps: number;
  p50ms: number;
  p99ms: number;
  errors: number;
}

function toMs(text: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

function wrk(url: string, host: string): Promise<WrkResult> {
  const args = ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', '-H', `Host: ${host}`, url];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { timeout: (SECONDS + 30) * 1000 }, (err, stdout) => {
      if (err) return reject(err);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
      const p50 = /\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '';
      const p99 = /\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '';
      const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      const errors = non2xx + (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
      resolve({ rps, p50ms: toMs(p50), p99ms: toMs(p99), errors });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function main() {
  const stack = new TestStack('bench', { name: 'bench', hosting: 'loopback', network: { subnet: '127.70.0.0/24' } });
  try {
    const t0 = performance.now();
    await stack.up();
    const coldUpS = (performance.now() - t0) / 1000;
    const lb = 'http://127.70.0.11';
    const targets: Record<string, string> = {
      'app direct  /whoami': 'http://127.70.0.12:3000/whoami',
      'LB→nginx→app /whoami': `${lb}/whoami`,
      'LB→nginx→app→db  /': `${lb}/`,
    };
    // Warm up every path (JIT, pools, keep-alive connections).
    for (const url of Object.values(targets)) await wrk(url, 'www.foobar.com');
    const results: Record<string, WrkResult[]> = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, url] of Object.entries(targets)) results[name]!.push(await wrk(url, 'www.foobar.com'));
    }
    const summary = Object.entries(results).map(([name, rs]) => ({
      name,
      rps: median(rs.map((r) => r.rps)),
      p50ms: median(rs.map((r) => r.p50ms)),
      p99ms: median(rs.map((r) => r.p99ms)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    }));
    const [direct, viaLb, readPage] = summary as [(typeof summary)[0], (typeof summary)[0], (typeof summary)[0]];
    console.log(`\ntandem bench — wrk -t2 -c${CONNECTIONS} -d${SECONDS}s, ${ROUNDS} alternating rounds, medians\n`);
    console.log('| path | req/s | p50 ms | p99 ms | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const s of summary) {
      console.log(`| ${s.name} | ${s.rps.toFixed(0)} | ${s.p50ms.toFixed(2)} | ${s.p99ms.toFixed(2)} | ${s.errors} |`);
    }
    console.log('');
    console.log(
      `ratio LB path / app direct (constant endpoint): ${(viaLb.rps / direct.rps).toFixed(2)}  (target ≥ 0.75)`,
    );
    console.log(
      `ratio read page / constant endpoint (both through the LB): ${(readPage.rps / viaLb.rps).toFixed(2)}  (target ≥ 0.5)`,
    );
    console.log(`cold tandem up on empty state: ${coldUpS.toFixed(1)} s  (target ≤ 10 s)`);
  } finally {
    await stack.cleanup();
  }
}

await main();
