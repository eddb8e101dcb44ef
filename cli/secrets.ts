/** Secrets the local stack generates once and keeps in its data dir, readable by the owner only. */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Returns the secret in `file`, creating it (32 random bytes, hex, mode 0600) on first use. */
export function loadOrCreateSecret(dataDir: string, file: string): { value: string; created: boolean } {
  const path = join(dataDir, file);
  if (existsSync(path)) {
    // Tighten permissions left loose by hand.
    chmodSync(path, 0o600);
    return { value: readFileSync(path, 'utf8').trim(), created: false };
  }
  const value = randomBytes(32).toString('hex');
  writeFileSync(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return { value, created: true };
}
