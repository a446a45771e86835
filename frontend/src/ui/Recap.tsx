import { useLiveQuery } from 'dexie-react-hooks';
import { useMemo, useState, type ReactNode } from 'react';

import {
  addFlow,
  createPreOrder,
  setDeleted,
  setFlowProduct,
  setFlowQuantity,
  setFlowWeight,
  setOrderField,
  weightFor,
} from '../app/actions';
import { addDays, formatDay, nextWorkingDay } from '../app/dates';
import { editsOrders } from '../app/permissions';
import { service } from '../app/service';
import { flowsOf, ordersOn } from '../engine/rowgroups';
import { isLive, type RowRecord } from '../engine/store';
import { num, text, useDataset, usePendingRows, useRoute } from './hooks';
import { useToast } from './toast';
import { Confirm, NumberField, Picker, Sheet } from './widgets';

interface DayData {
  orders: RowRecord[];
  flows: Map<string, RowRecord[]>;
}

function useDay(date: string): DayData | undefined {
  return useLiveQuery(async () => {
    const db = service.db;
    const orders = (await ordersOn(db.rowGroups, date)).filter((r) => isLive(r));
    const flows = new Map<string, RowRecord[]>();
    if (orders.length) {
      const all = await flowsOf(
        db.rowGroups,
        orders.map((o) => o.id),
      );
      for (const f of all.filter((r) => isLive(r))) {
        const parent = f.parent ?? '';
        const list = flows.get(parent) ?? [];
        list.push(f);
        flows.set(parent, list);
      }
      for (const list of flows.values()) list.sort((a, b) => (a.id < b.id ? -1 : 1));
    }
    return { orders, flows };
  }, [date]);
}

function fmtNum(n: number | null, unit = ''): string {
  if (n === null) return '–';
  return `${n.toLocaleString(undefined, { maximumFractionDigits: 3 })}${unit}`;
}

/** The recap page. `role` decides what it offers: a manager only confirms pre-orders (the
 * server refuses anything else from them), so nothing else is editable for them. */
export function RecapPage(props: { role: string }): ReactNode {
  const canEdit = editsOrders(props.role);
  const [route, go] = useRoute();
  const date = (route.page === 'recap' ? route.date : null) ?? nextWorkingDay();
  const setDate = (d: string): void => go({ page: 'recap', date: d });
  const day = useDay(date);
  const partners = useDataset('partners');
  const products = useDataset('products');
  const pending = usePendingRows();
  const [selected, setSelected] = useState<string | null>(null);
  // A link (from a conflict notice) names the order to open: opened once per link.
  const linked = route.page === 'recap' ? route.order : undefined;
  const [followed, setFollowed] = useState<string | undefined>(undefined);
  if (linked !== followed) {
    setFollowed(linked);
    if (linked) setSelected(linked);
  }
  const [creating, setCreating] = useState(false);
  const toast = useToast();

  const groups = useMemo(() => {
    const byPartner = new Map<string, RowRecord[]>();
    for (const o of day?.orders ?? []) {
      const p = text(o, 'partner_id');
      const list = byPartner.get(p) ?? [];
      list.push(o);
      byPartner.set(p, list);
    }
    const name = (id: string): string => text(partners?.get(id), 'name') || 'Unknown partner';
    return [...byPartner.entries()]
      .map(([pid, orders]) => ({
        pid,
        name: name(pid),
        orders: orders.sort(
          (a, b) => text(a, 'created_at').localeCompare(text(b, 'created_at')) || (a.id < b.id ? -1 : 1),
        ),
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }, [day, partners]);

  const isPending = (o: RowRecord): boolean =>
    pending.has(`pre_orders/${o.id}`) ||
    (day?.flows.get(o.id) ?? []).some((f) => pending.has(`pre_order_flows/${f.id}`));

  const selectedOrder = selected ? day?.orders.find((o) => o.id === selected) : undefined;
  const totalFlows = (day?.orders ?? []).reduce((n, o) => n + (day?.flows.get(o.id)?.length ?? 0), 0);

  return (
    <section className="recap">
      <div className="day-bar">
        <button
          type="button"
          className="btn ghost icon"
          aria-label="Previous day"
          data-testid="date-prev"
          onClick={() => setDate(addDays(date, -1))}
        >
          ‹
        </button>
        <label className="date-field">
          <span className="sr-only">Delivery date</span>
          <input
            type="date"
            data-testid="date-input"
            value={date}
            onChange={(e) => e.target.value && setDate(e.target.value)}
          />
        </label>
        <button
          type="button"
          className="btn ghost icon"
          aria-label="Next day"
          data-testid="date-next"
          onClick={() => setDate(addDays(date, 1))}
        >
          ›
        </button>
        <div className="day-title">
          <h1 data-testid="day-title">{formatDay(date)}</h1>
          <span className="muted" data-testid="day-summary">
            {day ? `${day.orders.length} pre-orders · ${totalFlows} lines` : 'Loading…'}
          </span>
        </div>
        {canEdit ? (
          <button type="button" className="btn primary" data-testid="new-order" onClick={() => setCreating(true)}>
            + New pre-order
          </button>
        ) : null}
      </div>

      {day && groups.length === 0 ? (
        <p className="empty" data-testid="no-orders">
          No pre-orders for this day yet.
        </p>
      ) : null}

      <div className="groups">
        {groups.map((g) => (
          <article className="partner-group" key={g.pid} data-testid="partner-group" data-partner-id={g.pid}>
            <h2 className="partner-name" data-testid="partner-name">
              {g.name}
              <span className="muted short">{text(partners?.get(g.pid), 'short_name')}</span>
            </h2>
            {g.orders.map((o) => {
              const flows = day?.flows.get(o.id) ?? [];
              const status = text(o, 'status') || 'pending';
              return (
                // The whole card is a large touch target; the Edit button is its keyboard and
                // screen-reader equivalent (a table cannot live inside a <button>).
                <div
                  key={o.id}
                  className="order-card"
                  data-testid="order-card"
                  data-order-id={o.id}
                  onClick={() => setSelected(o.id)}
                >
                  <div className="order-head">
                    <span className={`status ${status}`} data-testid="order-status">
                      {status}
                    </span>
                    <span className="muted">{flows.length} lines</span>
                    {isPending(o) ? (
                      <span className="unsynced" data-testid="unsynced-marker" title="Not synced yet">
                        ● not synced
                      </span>
                    ) : null}
                    <button
                      type="button"
                      className="btn small ghost edit"
                      aria-label={`Edit the pre-order for ${g.name}`}
                    >
                      Edit
                    </button>
                  </div>
                  {flows.length ? (
                    <table className="flows">
                      <thead>
                        <tr>
                          <th>Product</th>
                          <th>SKU</th>
                          <th className="num">Qty</th>
                          <th className="num">Weight</th>
                        </tr>
                      </thead>
                      <tbody>
                        {flows.map((f) => {
                          const p = products?.get(text(f, 'product_id'));
                          return (
                            <tr key={f.id} data-testid="flow-row" data-flow-id={f.id}>
                              <td data-testid="flow-product">{text(p, 'name') || 'Unknown product'}</td>
                              <td data-testid="flow-sku" className="muted">
                                {text(p, 'sku')}
                              </td>
                              <td data-testid="flow-qty" className="num">
                                {fmtNum(num(f, 'quantity'))}
                              </td>
                              <td data-testid="flow-weight" className="num">
                                {fmtNum(num(f, 'weight'), ' kg')}
                              </td>
                            </tr>
                          );
                        })}
                      </tbody>
                    </table>
                  ) : (
                    <p className="muted">No products yet.</p>
                  )}
                </div>
              );
            })}
          </article>
        ))}
      </div>

      {creating ? (
        <Picker
          title="New pre-order: pick a partner"
          rows={partners}
          fields={['name', 'short_name']}
          detail={(r) => text(r, 'short_name')}
          onClose={() => setCreating(false)}
          onPick={(p) => {
            setCreating(false);
            void createPreOrder(p.id, date).then(
              (id) => setSelected(id),
              (e: unknown) => toast.error(e),
            );
          }}
        />
      ) : null}

      {selectedOrder ? (
        <OrderEditor
          order={selectedOrder}
          flows={day?.flows.get(selectedOrder.id) ?? []}
          partners={partners}
          products={products}
          pending={pending}
          canEdit={canEdit}
          onClose={() => setSelected(null)}
          onMoved={(d) => {
            setSelected(null);
            toast.info(`Moved to ${formatDay(d)}.`);
          }}
        />
      ) : null}
    </section>
  );
}

function OrderEditor(props: {
  order: RowRecord;
  flows: RowRecord[];
  partners: Map<string, RowRecord> | undefined;
  products: Map<string, RowRecord> | undefined;
  pending: Set<string>;
  /** Everything, or (a manager) only the status. */
  canEdit: boolean;
  onClose: () => void;
  onMoved: (date: string) => void;
}): ReactNode {
  const { order, flows, partners, products, canEdit } = props;
  const [picking, setPicking] = useState<
    null | { kind: 'partner' } | { kind: 'add' } | { kind: 'product'; flow: RowRecord }
  >(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const toast = useToast();
  const status = text(order, 'status') || 'pending';
  const partner = partners?.get(text(order, 'partner_id'));
  const fail = (e: unknown): void => toast.error(e);
  const date = text(order, 'delivery_date');

  return (
    <Sheet title={text(partner, 'name') || 'Pre-order'} onClose={props.onClose} testId="order-editor">
      {canEdit ? null : (
        <p className="muted readonly-note" data-testid="readonly-note">
          As a manager you confirm pre-orders; reps and admins change the rest.
        </p>
      )}
      <div className="editor-grid">
        <div className="field">
          <span className="label">Partner</span>
          <button
            type="button"
            className="btn picker-button"
            data-testid="editor-partner"
            disabled={!canEdit}
            onClick={() => setPicking({ kind: 'partner' })}
          >
            {text(partner, 'name') || 'Choose partner'}
            <span className="muted"> {text(partner, 'short_name')}</span>
          </button>
        </div>
        <div className="field">
          <span className="label">Status</span>
          <button
            type="button"
            className={`btn status-toggle ${status}`}
            data-testid="editor-status-toggle"
            aria-pressed={status === 'confirmed'}
            onClick={() =>
              void setOrderField(order.id, 'status', status === 'confirmed' ? 'pending' : 'confirmed').catch(fail)
            }
          >
            {status === 'confirmed' ? '✓ Confirmed' : 'Pending · tap to confirm'}
          </button>
        </div>
        <label className="field">
          <span className="label">Delivery date</span>
          <input
            type="date"
            data-testid="editor-date"
            value={date}
            disabled={!canEdit}
            onChange={(e) => {
              const d = e.target.value;
              if (!d || d === date) return;
              void setOrderField(order.id, 'delivery_date', d).then(() => props.onMoved(d), fail);
            }}
          />
        </label>
      </div>

      <h3>Products</h3>
      <ul className="flow-editors">
        {flows.map((f) => {
          const p = products?.get(text(f, 'product_id'));
          const unsynced = props.pending.has(`pre_order_flows/${f.id}`);
          return (
            <li key={f.id} className="flow-editor" data-testid="flow-editor" data-flow-id={f.id}>
              <div className="flow-editor-head">
                <button
                  type="button"
                  className="btn picker-button"
                  data-testid="flow-product-button"
                  disabled={!canEdit}
                  onClick={() => setPicking({ kind: 'product', flow: f })}
                >
                  {text(p, 'name') || 'Choose product'} <span className="muted">{text(p, 'sku')}</span>
                </button>
                {unsynced ? (
                  <span className="unsynced" title="Not synced yet">
                    ●
                  </span>
                ) : null}
                {canEdit ? (
                  <button
                    type="button"
                    className="btn ghost danger-text"
                    data-testid="flow-remove"
                    aria-label="Remove product"
                    onClick={() => void setDeleted('pre_order_flows', f.id, true).catch(fail)}
                  >
                    Remove
                  </button>
                ) : null}
              </div>
              <div className="flow-editor-fields">
                <NumberField
                  label="Quantity"
                  testId="flow-qty-input"
                  readOnly={!canEdit}
                  value={num(f, 'quantity')}
                  onCommit={(q) => void setFlowQuantity(f.id, q, weightFor(p, q)).catch(fail)}
                />
                <NumberField
                  label="Weight"
                  unit="kg"
                  testId="flow-weight-input"
                  readOnly={!canEdit}
                  value={num(f, 'weight')}
                  onCommit={(w) => void setFlowWeight(f.id, w).catch(fail)}
                />
              </div>
            </li>
          );
        })}
      </ul>
      {canEdit ? (
        <>
          <button
            type="button"
            className="btn primary wide"
            data-testid="add-flow"
            onClick={() => setPicking({ kind: 'add' })}
          >
            + Add product
          </button>
          <button
            type="button"
            className="btn danger wide"
            data-testid="editor-delete"
            onClick={() => setConfirmDelete(true)}
          >
            Delete pre-order
          </button>
        </>
      ) : null}

      {picking?.kind === 'partner' ? (
        <Picker
          title="Change partner"
          rows={partners}
          fields={['name', 'short_name']}
          detail={(r) => text(r, 'short_name')}
          current={text(order, 'partner_id')}
          onClose={() => setPicking(null)}
          onPick={(r) => {
            setPicking(null);
            void setOrderField(order.id, 'partner_id', r.id).catch(fail);
          }}
        />
      ) : null}
      {picking !== null && picking.kind !== 'partner' ? (
        <Picker
          title={picking.kind === 'add' ? 'Add a product' : 'Change product'}
          rows={products}
          fields={['name', 'sku']}
          detail={(r) => `${text(r, 'sku')} · ${fmtNum(num(r, 'unit_weight'), ' kg')}/unit`}
          current={picking.kind === 'product' ? text(picking.flow, 'product_id') : null}
          onClose={() => setPicking(null)}
          onPick={(r) => {
            const target = picking;
            setPicking(null);
            if (target.kind === 'add') void addFlow(order.id, r).catch(fail);
            else void setFlowProduct(target.flow.id, r, num(target.flow, 'quantity')).catch(fail);
          }}
        />
      ) : null}
      {confirmDelete ? (
        <Confirm
          message={`Delete this pre-order for ${text(partner, 'name') || 'this partner'}?`}
          confirm="Delete"
          danger
          onCancel={() => setConfirmDelete(false)}
          onConfirm={() => {
            setConfirmDelete(false);
            const id = order.id;
            void setDeleted('pre_orders', id, true).then(() => {
              props.onClose();
              toast.info('Pre-order deleted.', { label: 'Undo', run: () => void setDeleted('pre_orders', id, false) });
            }, fail);
          }}
        />
      ) : null}
    </Sheet>
  );
}
