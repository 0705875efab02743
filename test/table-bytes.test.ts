/**
 * Trainer tables bounded in bytes as well as items (issue 10, row 2): `maxBytes`, `payloadBytes`, stats `bytes`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_TABLE_BYTES } from '../src/core/defaults.js';
import { InvalidArgumentError, LimitError } from '../src/core/errors.js';
import { DataTable, TableStore } from '../src/modes/trainer/tables.js';
import { Tensor } from '../src/tensor/tensor.js';
import { ITEM_OVERHEAD_BYTES, payloadBytes, VALUE_OVERHEAD_BYTES } from '../src/wire/payload-bytes.js';

const MB = 1024 * 1024;
const blob = (n: number): Uint8Array => new Uint8Array(n);

describe('payloadBytes', () => {
  it('sums tensor, typed-array and byte data, strings, and a constant per value and item', () => {
    expect(payloadBytes(null)).toBe(ITEM_OVERHEAD_BYTES + VALUE_OVERHEAD_BYTES);
    expect(payloadBytes(blob(1000))).toBe(ITEM_OVERHEAD_BYTES + VALUE_OVERHEAD_BYTES + 1000);
    const t = new Tensor('float32', new Float32Array(10), [2, 5]);
    expect(payloadBytes({ obs: t })).toBe(ITEM_OVERHEAD_BYTES + 3 * VALUE_OVERHEAD_BYTES + 2 * 3 + 40);
    expect(payloadBytes(['ab'])).toBe(ITEM_OVERHEAD_BYTES + 2 * VALUE_OVERHEAD_BYTES + 4);
  });

  it('counts a shared or cyclic object once and terminates', () => {
    const a: Record<string, unknown> = { x: blob(100) };
    a.self = a;
    expect(payloadBytes(a)).toBeLessThan(ITEM_OVERHEAD_BYTES + 10 * VALUE_OVERHEAD_BYTES + 200);
  });

  it('property: at least the data bytes, at most data plus a constant per value', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (parts) => {
        const data = parts.reduce((n, p) => n + p.byteLength, 0);
        const n = payloadBytes(parts);
        expect(n).toBeGreaterThanOrEqual(data);
        expect(n).toBe(ITEM_OVERHEAD_BYTES + (parts.length + 1) * VALUE_OVERHEAD_BYTES + data);
      }),
    );
  });
});

describe('DataTable maxBytes', () => {
  it('defaults to DEFAULT_MAX_TABLE_BYTES and stays out of toJSON (and the handshake) then', () => {
    const d = new DataTable({ name: 't', size: 10 });
    expect(d.maxBytes).toBe(DEFAULT_MAX_TABLE_BYTES);
    expect(d.toJSON()).toEqual({ name: 't', size: 10, fifo: true });
    const e = new DataTable({ name: 't', size: 10, maxBytes: 5 * MB });
    expect(e.toJSON()).toEqual({ name: 't', size: 10, fifo: true, maxBytes: 5 * MB });
    expect(new DataTable(e.toJSON()).maxBytes).toBe(5 * MB);
  });

  it('must be a positive integer', () => {
    for (const maxBytes of [0, -1, 1.5, Number.NaN]) {
      expect(() => new DataTable({ name: 't', size: 1, maxBytes })).toThrow(InvalidArgumentError);
    }
  });

  it('a FIFO table drops its oldest items to fit a new one in bytes; stats report bytes', () => {
    const table = new TableStore<Uint8Array>(new DataTable({ name: 't', size: 100, maxBytes: 3 * MB }));
    const item = payloadBytes(blob(MB));
    for (let i = 0; i < 10; i++) table.insert(blob(MB));
    const s = table.stats();
    expect(s.size).toBe(2);
    expect(s.bytes).toBe(2 * item);
    expect(s.maxBytes).toBe(3 * MB);
    expect(s.dropped).toBe(8);
    expect(s.inserted).toBe(10);
    table.take(1);
    expect(table.stats().bytes).toBe(item);
    table.take();
    expect(table.stats().bytes).toBe(0);
  });

  it('a non-FIFO table refuses what does not fit with LimitError, and keeps what it holds', () => {
    const table = new TableStore<Uint8Array>(new DataTable({ name: 't', size: 100, fifo: false, maxBytes: 3 * MB }));
    table.insert(blob(MB));
    table.insert(blob(MB));
    expect(() => table.insert(blob(MB))).toThrow(LimitError);
    expect(table.stats()).toMatchObject({ size: 2, rejected: 1, dropped: 0 });
    table.take(1);
    table.insert(blob(MB));
    expect(table.size).toBe(2);
  });

  it('an item larger than maxBytes alone is refused, also by a FIFO table, without dropping anything', () => {
    const table = new TableStore<Uint8Array>(new DataTable({ name: 't', size: 10, maxBytes: MB }));
    table.insert(blob(10));
    expect(() => table.insert(blob(MB))).toThrow(LimitError);
    expect(table.stats()).toMatchObject({ size: 1, rejected: 1, dropped: 0 });
  });

  it('property: bytes held never exceed maxBytes and equal the sum over the items held', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.oneof(fc.nat({ max: 3000 }), fc.constant(-1)), { maxLength: 60 }),
        (fifo, size, ops) => {
          const table = new TableStore<Uint8Array>(new DataTable({ name: 't', size, fifo, maxBytes: 4096 }));
          for (const op of ops) {
            if (op < 0) table.take(1);
            else {
              try {
                table.insert(blob(op));
              } catch (e) {
                expect(e).toBeInstanceOf(LimitError);
              }
            }
            const s = table.stats();
            expect(s.bytes).toBeLessThanOrEqual(4096);
            expect(s.size).toBeLessThanOrEqual(size);
            expect(s.bytes).toBe(table.items().reduce((n, it) => n + payloadBytes(it), 0));
          }
        },
      ),
    );
  });

  it('restore refuses items over maxBytes', () => {
    const table = new TableStore<Uint8Array>(new DataTable({ name: 't', size: 10, maxBytes: MB }));
    const counters = { inserted: 2, dropped: 0, rejected: 0, taken: 0 };
    expect(() => table.restore([blob(MB / 2), blob(MB / 2)], counters)).toThrow(InvalidArgumentError);
    table.restore([blob(10)], counters);
    expect(table.stats().bytes).toBe(payloadBytes(blob(10)));
  });
});
