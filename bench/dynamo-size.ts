/**
 * DynamoDB's item size and capacity unit rules (pure), for cost arithmetic on the items the
 * store really writes. Values are as the document client marshals them: string → S, number → N,
 * boolean → BOOL, null → NULL, Uint8Array → B, array → L, plain object → M, Set → SS/NS/BS;
 * undefined attributes are left out (the store marshals with removeUndefinedValues).
 *
 * The rules, from the DynamoDB developer guide ("Item sizes and formats", "Capacity unit
 * consumption"):
 * - an item's size is the sum over its attributes of the name's UTF-8 bytes plus the value's size;
 * - String: UTF-8 bytes; Binary: bytes; Boolean and Null: 1 byte;
 * - Number: variable length, up to 38 significant digits, leading and trailing zeroes trimmed;
 *   about (significant digits / 2) + 1 bytes (rounded up here: bytes are whole);
 * - List and Map: 3 bytes of overhead whatever they hold, plus 1 byte per element, plus the
 *   elements' sizes (a map element's includes its key's bytes);
 * - Set: the sum of its elements' sizes.
 * - Reads: 1 unit per 4 KB strongly consistent, half that eventually consistent. GetItem rounds
 *   the item up; Query and Scan round up the SUM of the items a page returns (projections do
 *   not help: whole items are billed).
 * - Writes: 1 unit per 1 KB of the item, rounded up; UpdateItem by the larger of the item before
 *   and after; a conditional write that fails still costs. Each GSI the write touches costs the
 *   index entry's size (index keys, table keys, projected attributes) rounded up to 1 KB.
 * - Storage: item size plus 100 bytes of overhead per item, in the table and in each index.
 */

export const READ_UNIT_BYTES = 4096;
export const WRITE_UNIT_BYTES = 1024;
export const STORAGE_OVERHEAD_BYTES = 100;

const utf8 = (text: string) => Buffer.byteLength(text, 'utf8');

/** Significant digits of a number as DynamoDB stores it: sign, leading and trailing zeroes dropped. */
export function significantDigits(value: number): number {
  if (!Number.isFinite(value)) throw new RangeError(`DynamoDB cannot store ${value}`);
  // The SDK sends String(n); in exponent notation only the mantissa's digits count.
  const mantissa = String(Math.abs(value)).split('e')[0] ?? '0';
  const digits = mantissa.replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.max(1, digits.length);
}

export function numberSize(value: number): number {
  return Math.ceil(significantDigits(value) / 2) + 1;
}

/** The size of one attribute value. */
export function valueSize(value: unknown): number {
  if (typeof value === 'string') return utf8(value);
  if (typeof value === 'number') return numberSize(value);
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) {
    let sum = 0;
    for (const element of value as Set<unknown>) sum += valueSize(element);
    return sum;
  }
  if (Array.isArray(value)) return 3 + value.reduce((sum: number, element: unknown) => sum + 1 + valueSize(element), 0);
  if (typeof value === 'object') {
    let sum = 3;
    for (const [key, element] of Object.entries(value as Record<string, unknown>)) {
      if (element === undefined) continue;
      sum += 1 + utf8(key) + valueSize(element);
    }
    return sum;
  }
  throw new TypeError(`not a DynamoDB value: ${typeof value}`);
}

/** The size of an item: every attribute's name and value. */
export function itemSize(item: Record<string, unknown>): number {
  let sum = 0;
  for (const [name, value] of Object.entries(item)) if (value !== undefined) sum += utf8(name) + valueSize(value);
  return sum;
}

/** The item restricted to these attributes (an index entry: keys and projected attributes). */
export function pick(item: Record<string, unknown>, names: Iterable<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (item[name] !== undefined) out[name] = item[name];
  return out;
}

/** GetItem: the item rounded up to 4 KB. */
export function getItemReadUnits(size: number, consistent: boolean): number {
  return Math.max(1, Math.ceil(size / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);
}

/** One Query or Scan page: the sum of the items' sizes rounded up to 4 KB (an empty page still costs one). */
export function pageReadUnits(sizes: readonly number[], consistent: boolean): number {
  const total = sizes.reduce((a, b) => a + b, 0);
  return Math.max(1, Math.ceil(total / READ_UNIT_BYTES)) * (consistent ? 1 : 0.5);
}

/** PutItem, DeleteItem or a GSI entry: rounded up to 1 KB. UpdateItem: pass the larger of before and after. */
export function writeUnits(size: number): number {
  return Math.max(1, Math.ceil(size / WRITE_UNIT_BYTES));
}
