/**
 * Identifier shapes shared by every contract. Strict patterns keep path tricks, control
 * characters and markup out of ids before they reach Docker, DynamoDB, logs or pages.
 */
import { z } from 'zod';

/** A clawbox id: the value of the `clawbox.container_id` label. */
export const ClawboxId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@+=-]{0,254}$/, 'must be 1-255 characters of A-Z a-z 0-9 . _ : @ + = - starting with a letter or digit');

/** A Docker container id: full (64 hex) or a prefix of at least 12. */
export const DockerId = z.string().regex(/^[a-f0-9]{12,64}$/, 'must be 12-64 lowercase hex digits');

export const HostId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ - starting with a letter or digit');

export const RunId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{7,63}$/, 'must be 8-64 characters of A-Z a-z 0-9 _ -');

/** ISO-8601 UTC instant, e.g. 2026-11-27T03:15:55.123Z. */
export const Instant = z.iso.datetime({ offset: false });
