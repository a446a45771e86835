/**
 * Recap's data model as the merge sees it (mirrors crdt/schema.py, the single source; the
 * tests check this file against its copy tests/vectors/schema.json):
 * which datasets and columns exist and what values each column accepts. Every dataset has
 * `tombstone` (0/1; 1 deletes the row, delete wins). Nothing that fails here is written.
 */
import { InvalidMessage } from './errors';
import { checkScalar, type Message, type Scalar } from './message';

const DATE = /^([0-9]{4})-([0-9]{2})-([0-9]{2})$/;
const DATETIME = /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?Z$/;
/** Not in an email: "@", controls, and the characters either language calls white space. */
const NOT_EMAIL = '@\\x00-\\x20\\x7f-\\x9f\\u00a0\\u1680\\u2000-\\u200b\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff';
const EMAIL = new RegExp(`^[^${NOT_EMAIL}]{1,64}@[^${NOT_EMAIL}]{1,255}\\.[^${NOT_EMAIL}.]{1,63}$`);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const MAX_AVATAR = 200_000;
export const TEXT_MAX = 500;
export const SHORT_TEXT_MAX = 100;
export const QUANTITY_MAX = 1e12;
/** Dates (delivery dates) and datetimes (creation times) are real ones inside these years. */
export const YEAR_MIN = 2000;
export const YEAR_MAX = 2099;
/** A pre-order's lifecycle (DESIGN.md, "Statuses"); the recap toggles pending <-> confirmed. */
export const PRE_ORDER_STATUSES = [
  'pending',
  'confirmed',
  'processing',
  'shipped',
  'delivered',
  'closed',
  'cancelled',
] as const;
export type PreOrderStatus = (typeof PRE_ORDER_STATUSES)[number];
/** The status changes a REST write may make (crdt/schema.py says why); the dashboard offers these. */
export const STATUS_TRANSITIONS: Readonly<Record<PreOrderStatus, readonly PreOrderStatus[]>> = {
  pending: ['confirmed', 'processing', 'cancelled'],
  confirmed: ['pending', 'processing', 'closed', 'cancelled'],
  processing: ['shipped', 'cancelled'],
  shipped: ['delivered'],
  delivered: ['closed'],
  closed: [],
  cancelled: ['pending'],
};
export const PRIORITIES = ['low', 'medium', 'high'] as const;
/** A line's own status; a cancelled line stays for the record, out of the order's total. */
export const LINE_STATUSES = ['open', 'confirmed', 'cancelled'] as const;
/** Money is integer cents. */
export const MONEY_MAX = 1_000_000_000_000;

export interface ColumnType {
  readonly name: string;
  readonly check: (v: Scalar) => boolean;
}

/** Length in code points, as Python's `len` counts. */
function codePoints(s: string): number {
  return Array.from(s).length;
}

const text =
  (limit: number) =>
  (v: Scalar): boolean =>
    typeof v === 'string' && (v.length <= limit || codePoints(v) <= limit);

export function isUuid(v: Scalar): boolean {
  return typeof v === 'string' && UUID.test(v);
}

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
}

function realDay(year: number, month: number, day: number): boolean {
  return (
    year >= YEAR_MIN && year <= YEAR_MAX && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month)
  );
}

/** `YYYY-MM-DD`, a real day of a year from YEAR_MIN to YEAR_MAX. */
export function isDate(v: Scalar): boolean {
  const m = typeof v === 'string' ? DATE.exec(v) : null;
  return m !== null && realDay(Number(m[1]), Number(m[2]), Number(m[3]));
}

/** `YYYY-MM-DDTHH:MM:SS[.ffffff]Z`: a real day (as dates) and a real time of day. */
export function isDatetime(v: Scalar): boolean {
  const m = typeof v === 'string' ? DATETIME.exec(v) : null;
  if (m === null) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return realDay(year, month, day) && hour <= 23 && minute <= 59 && second <= 59;
}

export function isNonNegNumber(v: Scalar): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= QUANTITY_MAX;
}

/** A whole number of cents from 0 to MONEY_MAX. */
export function isCents(v: Scalar): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MONEY_MAX;
}

export function isEmail(v: Scalar): boolean {
  return typeof v === 'string' && EMAIL.test(v);
}

export const TEXT: ColumnType = { name: 'text', check: text(TEXT_MAX) };
export const SHORT_TEXT: ColumnType = { name: 'short_text', check: text(SHORT_TEXT_MAX) };
export const UUID_T: ColumnType = { name: 'uuid', check: isUuid };
export const DATE_T: ColumnType = { name: 'date', check: isDate };
export const DATETIME_T: ColumnType = { name: 'datetime', check: isDatetime };
export const STATUS: ColumnType = {
  name: 'status',
  check: (v) => (PRE_ORDER_STATUSES as readonly Scalar[]).includes(v),
};
export const QUANTITY: ColumnType = { name: 'quantity', check: isNonNegNumber };
export const MONEY: ColumnType = { name: 'money', check: isCents };
export const PRIORITY: ColumnType = {
  name: 'priority',
  check: (v) => (PRIORITIES as readonly Scalar[]).includes(v),
};
export const LINE_STATUS: ColumnType = {
  name: 'line_status',
  check: (v) => (LINE_STATUSES as readonly Scalar[]).includes(v),
};
export const EMAIL_T: ColumnType = { name: 'email', check: isEmail };
export const AVATAR: ColumnType = {
  name: 'avatar',
  check: (v) => typeof v === 'string' && text(MAX_AVATAR)(v) && v.startsWith('data:image/'),
};
export const TOMBSTONE: ColumnType = { name: 'tombstone', check: (v) => v === 0 || v === 1 };

export const DATASETS = {
  partners: { name: TEXT, short_name: SHORT_TEXT, tombstone: TOMBSTONE },
  products: { name: TEXT, sku: SHORT_TEXT, unit_weight: QUANTITY, unit_price_cents: MONEY, tombstone: TOMBSTONE },
  pre_orders: {
    partner_id: UUID_T,
    delivery_date: DATE_T,
    status: STATUS,
    created_at: DATETIME_T,
    /** null: the sum of the live, not cancelled lines' quantity x price. */
    total_cents: MONEY,
    priority: PRIORITY,
    tombstone: TOMBSTONE,
  },
  pre_order_flows: {
    pre_order_id: UUID_T,
    product_id: UUID_T,
    quantity: QUANTITY,
    weight: QUANTITY,
    /** null: the product's unit price. */
    price_cents: MONEY,
    status: LINE_STATUS,
    tombstone: TOMBSTONE,
  },
  profiles: { name: TEXT, email: EMAIL_T, avatar: AVATAR, tombstone: TOMBSTONE },
} as const satisfies Record<string, Record<string, ColumnType>>;

export type Dataset = keyof typeof DATASETS;
export type ColumnOf<D extends Dataset> = keyof (typeof DATASETS)[D] & string;

export function isDataset(name: string): name is Dataset {
  return Object.hasOwn(DATASETS, name);
}

export function columnType(dataset: string, column: string): ColumnType | undefined {
  if (!isDataset(dataset)) return undefined;
  const columns: Record<string, ColumnType> = DATASETS[dataset];
  return Object.hasOwn(columns, column) ? columns[column] : undefined;
}

/** Throw InvalidMessage unless the message names a known field with an allowed value. */
export function validate(m: Pick<Message, 'dataset' | 'row' | 'column' | 'value'>): void {
  if (!isDataset(m.dataset)) throw new InvalidMessage(`unknown dataset ${JSON.stringify(m.dataset)}`);
  const column = columnType(m.dataset, m.column);
  if (column === undefined) throw new InvalidMessage(`unknown column ${m.dataset}.${m.column}`);
  if (!isUuid(m.row)) {
    throw new InvalidMessage(`row id must be a lower-case UUID: ${JSON.stringify(m.row.slice(0, 40))}`);
  }
  if (m.value === null) {
    if (column === TOMBSTONE) throw new InvalidMessage(`${m.dataset}.${m.column} cannot be null`);
    return;
  }
  if (typeof m.value === 'boolean') {
    // JSON booleans are scalars, but no Recap column holds one.
    throw new InvalidMessage(`${m.dataset}.${m.column} does not accept a boolean`);
  }
  checkScalar(m.value);
  if (!column.check(m.value)) {
    throw new InvalidMessage(
      `invalid value for ${m.dataset}.${m.column} (${column.name}): ${JSON.stringify(String(m.value).slice(0, 60))}`,
    );
  }
}
