/**
 * DynamoDB's item size and capacity unit rules (bench/dynamo-size.ts), checked against the rules
 * and examples of the developer guide ("Item sizes and formats", "Read and write operations").
 */
import { describe, expect, it } from 'vitest';
import { getItemReadUnits, itemSize, numberSize, pageReadUnits, significantDigits, valueSize, writeUnits } from '../../bench/dynamo-size.js';

describe('item size', () => {
  it('counts a string attribute as its name’s and its value’s UTF-8 bytes', () => {
    expect(itemSize({ Name: 'abc' })).toBe(4 + 3);
    // UTF-8 bytes, not characters: é is 2 bytes, € is 3.
    expect(itemSize({ café: '€' })).toBe(5 + 3);
  });

  it('counts a binary value by its raw bytes (not its base64 form)', () => {
    expect(itemSize({ d: Buffer.alloc(32) })).toBe(1 + 32);
  });

  it('counts null and booleans as 1 byte', () => {
    expect(itemSize({ ok: true, gone: null })).toBe(2 + 1 + 4 + 1);
  });

  it('counts a list or map as 3 bytes, plus 1 byte and the size of each element (a map element’s key included)', () => {
    expect(itemSize({ l: [] })).toBe(1 + 3);
    expect(itemSize({ m: {} })).toBe(1 + 3);
    expect(valueSize(['ab', 'c'])).toBe(3 + (1 + 2) + (1 + 1));
    expect(valueSize({ ab: 'xyz' })).toBe(3 + 1 + 2 + 3);
    expect(valueSize({ m: { n: [true] } })).toBe(3 + 1 + 1 + (3 + 1 + 1 + (3 + 1 + 1)));
  });

  it('leaves undefined attributes out, as the document client does', () => {
    expect(itemSize({ a: 'x', b: undefined })).toBe(2);
    expect(valueSize({ a: 'x', b: undefined })).toBe(3 + 1 + 1 + 1);
  });

  it('counts a set as the sum of its elements', () => {
    expect(valueSize(new Set(['ab', 'cde']))).toBe(5);
  });

  it('sizes a number by its significant digits, leading and trailing zeroes trimmed: (digits / 2) + 1, rounded up', () => {
    expect(significantDigits(1000)).toBe(1);
    expect(significantDigits(0.001)).toBe(1);
    expect(significantDigits(-120.5)).toBe(4);
    expect(significantDigits(0)).toBe(1);
    expect(numberSize(1000)).toBe(numberSize(1));
    expect(numberSize(12)).toBe(2);
    expect(numberSize(123)).toBe(3);
    // An epoch in ms (13 digits) against one in seconds (10 digits).
    expect(numberSize(1_764_583_200_123)).toBe(8);
    expect(numberSize(1_764_583_201)).toBe(6);
    expect(numberSize(1_764_583_200)).toBe(5); // trailing zeroes trimmed
    expect(numberSize(1.5e-7)).toBe(2);
    expect(() => numberSize(Number.NaN)).toThrow(RangeError);
  });

  it('refuses what DynamoDB cannot store', () => {
    expect(() => valueSize(() => 1)).toThrow(TypeError);
  });
});

describe('capacity units', () => {
  it('rounds a GetItem up to 4 KB: a 3,500-byte item is one unit, 8 KB two (one eventually consistent), 10 KB three', () => {
    expect(getItemReadUnits(3500, true)).toBe(1);
    expect(getItemReadUnits(8 * 1024, true)).toBe(2);
    expect(getItemReadUnits(8 * 1024, false)).toBe(1);
    expect(getItemReadUnits(10 * 1024, true)).toBe(3);
  });

  it('rounds a Query page’s total, not each item: 50 items of 100 B are 2 units, not 50; an empty page still costs', () => {
    expect(pageReadUnits(Array<number>(50).fill(100), true)).toBe(2);
    expect(pageReadUnits(Array<number>(40).fill(100), true)).toBe(1);
    expect(pageReadUnits(Array<number>(50).fill(100), false)).toBe(1);
    expect(pageReadUnits([], true)).toBe(1);
  });

  it('rounds a write up to 1 KB', () => {
    expect(writeUnits(0)).toBe(1);
    expect(writeUnits(1024)).toBe(1);
    expect(writeUnits(1025)).toBe(2);
    expect(writeUnits(3275)).toBe(4);
  });
});
