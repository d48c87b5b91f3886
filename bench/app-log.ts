/**
 * What the app's per-request log costs (issue 9): the app alone (app-log-server.ts) with
 * its pino request log on against off, wrk on /whoami, rounds alternating. HAProxy's and
 * nginx's request logs have no switch in tandem, so they are not measured apart.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, type WrkResult, wrk } from './measure.ts';

const ADDRESS = '127.72.0.1';
const PORT = 3000;
const SERVER = fileURLToPath(new URL('./app-log-server.ts', import.meta.url));

/** Starts the app with its log `mode`; resolves once it listens (bounded: 30 s). */
function startApp(mode: 'on' | 'off', logFile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER, ADDRESS, String(PORT), mode, logFile], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the app did not listen within 30 s')), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      if (!chunk.toString().includes('listening')) return;
      clearTimeout(timer);
      resolve(child);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the app exited (${code}) before it listened`));
    });
  });
}

function stopApp(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

export async function appLogCost(opts: { rounds: number; seconds: number; connections: number }): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-applog-'));
  const results: Record<'on' | 'off', WrkResult[]> = { on: [], off: [] };
  /** Requests the app served with its log on, warm-ups included: each should have its line. */
  let servedWithLog = 0;
  try {
    for (let round = 0; round < opts.rounds; round++) {
      for (const mode of round % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const child = await startApp(mode, path.join(dir, 'app.log'));
        try {
          const url = `http://${ADDRESS}:${PORT}/whoami`;
          const warmUp = await wrk(url, 'www.foobar.com', { seconds: 2, connections: opts.connections });
          const r = await wrk(url, 'www.foobar.com', opts);
          results[mode].push(r);
          if (mode === 'on') servedWithLog += warmUp.requests + r.requests;
        } finally {
          await stopApp(child);
        }
      }
    }
    const lines = fs.readFileSync(path.join(dir, 'app.log'), 'utf8').split('\n').length - 1;
    console.log(
      `\n## the app's request log — the app alone, wrk -t2 -c${opts.connections} -d${opts.seconds}s /whoami, ${opts.rounds} rounds alternating on/off, medians\n`,
    );
    console.log('| request log | req/s | p50 ms | p99 ms | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const mode of ['on', 'off'] as const) {
      const rs = results[mode];
      console.log(
        `| ${mode} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50ms)).toFixed(2)} | ${median(rs.map((r) => r.p99ms)).toFixed(2)} | ${rs.reduce((a, r) => a + r.errors, 0)} |`,
      );
    }
    const paired = results.on.map((r, i) => r.rps / results.off[i]!.rps);
    console.log(
      `\nratio on/off: ${median(paired).toFixed(3)} (median of the rounds' ratios: ${paired.map((p) => p.toFixed(3)).join(', ')}); ${lines} log lines for the ${servedWithLog} requests served with it on (warm-ups included)`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
