/**
 * The backups folder on the backup host: one folder per backup (0700), its stored file
 * and manifest (0600). Nothing in it is plaintext but the manifest, which holds no data.
 */
import fs from 'node:fs';
import path from 'node:path';
import { sha256File } from './crypt.ts';
import { type BackupManifest, backupFile, MANIFEST_NAME } from './manifest.ts';

export function readManifests(dir: string): BackupManifest[] {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: BackupManifest[] = [];
  for (const name of names.sort()) {
    try {
      out.push(JSON.parse(fs.readFileSync(path.join(dir, name, MANIFEST_NAME), 'utf8')) as BackupManifest);
    } catch {}
  }
  return out;
}

export function writeManifest(dir: string, manifest: BackupManifest): void {
  const file = path.join(dir, manifest.id, MANIFEST_NAME);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Whether the stored file still has the checksum its manifest records; the reason when not. */
export async function checkStored(dir: string, manifest: BackupManifest): Promise<string | null> {
  const file = backupFile(dir, manifest.id);
  if (!fs.existsSync(file)) return `its file ${file} is missing`;
  const sum = await sha256File(file);
  return sum === manifest.sha256
    ? null
    : `its file fails its checksum (sha256 ${sum.slice(0, 12)}…, manifest ${manifest.sha256.slice(0, 12)}…)`;
}

/**
 * Re-checks every stored file; a backup whose file changed is marked failed, with the
 * reason, and stays so. Returns the manifests as they are now.
 */
export async function checkAll(dir: string): Promise<BackupManifest[]> {
  const out: BackupManifest[] = [];
  for (const m of readManifests(dir)) {
    const problem = m.verification === 'failed' ? null : await checkStored(dir, m);
    if (problem) {
      const failed: BackupManifest = { ...m, verification: 'failed', failure: problem };
      writeManifest(dir, failed);
      out.push(failed);
    } else out.push(m);
  }
  return out;
}

/** Removes a backup's folder. */
export function removeBackup(dir: string, id: string): void {
  fs.rmSync(path.join(dir, id), { recursive: true, force: true });
}

/** At the agent's start: a backup left `pending` was cut short by its stop, and is failed. */
export function failInterrupted(dir: string): string[] {
  const cut = readManifests(dir).filter((m) => m.verification === 'pending');
  for (const m of cut)
    writeManifest(dir, { ...m, verification: 'failed', failure: 'the backup agent stopped before its drill ended' });
  return cut.map((m) => m.id);
}
