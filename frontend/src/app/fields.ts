/** A field's name in words, wherever the app names one (conflict notices, refused edits,
 * the diagnostics page): one map, so a field reads the same on every page. */
export const FIELD_LABEL: Record<string, string> = {
  partner_id: 'partner',
  delivery_date: 'delivery date',
  status: 'status',
  priority: 'priority',
  created_at: 'created',
  product_id: 'product',
  quantity: 'quantity',
  weight: 'weight',
  price_cents: 'price (cents)',
  total_cents: 'total (cents)',
  tombstone: 'deleted',
  name: 'name',
  short_name: 'short name',
  sku: 'SKU',
  unit_weight: 'unit weight',
  unit_price_cents: 'unit price (cents)',
  email: 'email',
  avatar: 'picture',
};

/** The label of `column`, or the column itself when it has none. */
export function fieldLabel(column: string): string {
  return FIELD_LABEL[column] ?? column;
}
