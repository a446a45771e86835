import { useLiveQuery } from 'dexie-react-hooks';
import { useEffect, useMemo, useState, type ReactNode } from 'react';

import {
  addFlow,
  createPreOrder,
  orderWithFlows,
  recentProducts,
  restoreFlow,
  sameDayOrders,
  setDeleted,
  setFlowProduct,
  setFlowQuantity,
  setFlowWeight,
  setOrderField,
  weightFor,
  weightTyped,
  writerOf,
} from '../app/actions';
import { addDays, formatDay, isoDate, nextWorkingDay } from '../app/dates';
import { editsOrders, mayWrite } from '../app/permissions';
import { service } from '../app/service';
import { flowsOf, ordersOn, UNDATED } from '../engine/rowgroups';
import { isLive, type RowRecord } from '../engine/store';
import { num, text, useDataset, usePendingRows, useRoute } from './hooks';
import { useToast, type ToastApi } from './toast';
import { Confirm, NumberField, Picker, QuantityStepper, Sheet } from './widgets';
import './editor.css';

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

/** Live pre-orders without a delivery date, oldest first: drafts made through the Orders
 * API (`POST /orders`) before a rep gives them a partner and a date. */
function useUndated(): RowRecord[] | undefined {
  return useLiveQuery(async () => {
    const orders = (await ordersOn(service.db.rowGroups, UNDATED)).filter((r) => isLive(r));
    return orders.sort((a, b) => text(a, 'created_at').localeCompare(text(b, 'created_at')) || (a.id < b.id ? -1 : 1));
  }, []);
}

/** Where a pre-order without a partner is grouped on its day. */
const NO_PARTNER = 'No partner yet';

function fmtNum(n: number | null, unit = ''): string {
  if (n === null) return '–';
  return `${n.toLocaleString(undefined, { maximumFractionDigits: 3 })}${unit}`;
}

function nextStatus(status: string): string {
  return status === 'confirmed' ? 'pending' : 'confirmed';
}

/** The recap's one tap toggles pending <-> confirmed; an order further along its lifecycle
 * (processing ... closed, or cancelled: set on the dashboard or by an integration) shows
 * its status and is not toggled from here. */
function toggles(status: string): boolean {
  return status === 'pending' || status === 'confirmed';
}

/** Undo as an ordinary new edit: `undo` writes the old values again. */
function undoable(toast: ToastApi, message: string, undo: () => Promise<void>): void {
  toast.info(message, { label: 'Undo', run: () => void undo().catch((e: unknown) => toast.error(e)) });
}

/** The recap page. `role` decides what it offers: a manager only confirms pre-orders (the
 * server refuses anything else from them), so nothing else is editable for them. */
export function RecapPage(props: { role: string }): ReactNode {
  const canEdit = editsOrders(props.role);
  const [route, go] = useRoute();
  const date = (route.page === 'recap' ? route.date : null) ?? nextWorkingDay();
  const setDate = (d: string): void => go({ page: 'recap', date: d });
  const day = useDay(date);
  const undated = useUndated();
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
  const [duplicate, setDuplicate] = useState<null | { partner: RowRecord; existing: RowRecord }>(null);
  const toast = useToast();
  // The open order by id, deleted or not, on whatever day: a delete arriving through sync
  // shows in the panel instead of closing it.
  const opened = useLiveQuery(() => (selected ? orderWithFlows(selected) : null), [selected]);

  const groups = useMemo(() => {
    const byPartner = new Map<string, RowRecord[]>();
    for (const o of day?.orders ?? []) {
      const p = text(o, 'partner_id');
      const list = byPartner.get(p) ?? [];
      list.push(o);
      byPartner.set(p, list);
    }
    const name = (id: string): string => (id ? text(partners?.get(id), 'name') || 'Unknown partner' : NO_PARTNER);
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

  const totalFlows = (day?.orders ?? []).reduce((n, o) => n + (day?.flows.get(o.id)?.length ?? 0), 0);
  const create = (partnerId: string): void => {
    void createPreOrder(partnerId, date).then(
      (id) => setSelected(id),
      (e: unknown) => toast.error(e),
    );
  };

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

      {undated?.length ? (
        <section className="drafts" data-testid="drafts" aria-labelledby="drafts-title">
          <h2 id="drafts-title" className="drafts-title" data-testid="drafts-title">
            {undated.length === 1 ? '1 pre-order' : `${String(undated.length)} pre-orders`} without a delivery date
          </h2>
          <ul className="drafts-list">
            {undated.map((o) => {
              const pid = text(o, 'partner_id');
              const created = text(o, 'created_at');
              return (
                <li key={o.id}>
                  <button
                    type="button"
                    className="btn ghost draft-item"
                    data-testid="draft-item"
                    data-order-id={o.id}
                    onClick={() => setSelected(o.id)}
                  >
                    <span className="name">
                      {pid ? text(partners?.get(pid), 'name') || 'Unknown partner' : NO_PARTNER}
                    </span>
                    <span className={`status ${text(o, 'status') || 'pending'}`}>{text(o, 'status') || 'pending'}</span>
                    <span className="muted">{created ? `created ${created.slice(0, 10)}` : ''}</span>
                  </button>
                </li>
              );
            })}
          </ul>
        </section>
      ) : null}

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
              const next = nextStatus(status);
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
                    {toggles(status) && mayWrite(props.role, null, 'pre_orders', o.id, 'status', next) ? (
                      <button
                        type="button"
                        className={`status status-chip ${status}`}
                        data-testid="card-status-toggle"
                        aria-pressed={status === 'confirmed'}
                        aria-label={`${g.name}: ${status}. Mark ${next}`}
                        title={`Tap to mark ${next}`}
                        onClick={(e) => {
                          e.stopPropagation();
                          void setOrderField(o.id, 'status', next).catch((err: unknown) => toast.error(err));
                        }}
                      >
                        <span data-testid="order-status">{status}</span>
                      </button>
                    ) : (
                      <span className={`status ${status}`} data-testid="order-status">
                        {status}
                      </span>
                    )}
                    <span className="muted">{flows.length} lines</span>
                    {isPending(o) ? (
                      <span className="unsynced" data-testid="unsynced-marker" title="Not synced yet">
                        ● not synced
                      </span>
                    ) : null}
                    <button
                      type="button"
                      className="btn small ghost edit"
                      data-testid="order-edit"
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
            const existing = sameDayOrders(day?.orders ?? [], p.id)[0];
            if (existing) setDuplicate({ partner: p, existing });
            else create(p.id);
          }}
        />
      ) : null}

      {duplicate ? (
        <Confirm
          testId="duplicate-warning"
          message={`${text(duplicate.partner, 'name') || 'This partner'} already has a pre-order for ${formatDay(date)}.`}
          confirm="Create another"
          onCancel={() => setDuplicate(null)}
          onConfirm={() => {
            setDuplicate(null);
            create(duplicate.partner.id);
          }}
          extra={
            <button
              type="button"
              className="btn primary"
              data-testid="duplicate-open"
              onClick={() => {
                setDuplicate(null);
                setSelected(duplicate.existing.id);
              }}
            >
              Open the existing one
            </button>
          }
        />
      ) : null}

      {selected && opened?.order.id === selected ? (
        <OrderEditor
          order={opened.order}
          flows={opened.flows}
          partners={partners}
          products={products}
          pending={pending}
          canEdit={canEdit}
          role={props.role}
          onClose={() => setSelected(null)}
          onMoved={(from, to) => {
            if (!from) {
              // A draft given its first date: the rep may still be choosing its partner.
              toast.info(`Scheduled for ${formatDay(to)}.`);
              return;
            }
            setSelected(null);
            const id = opened.order.id;
            undoable(toast, `Moved to ${formatDay(to)}.`, () => setOrderField(id, 'delivery_date', from));
          }}
        />
      ) : null}
    </section>
  );
}

/** Who wrote `timestamp` (see writerOf), once known. */
function useWriter(dataset: string, row: string, timestamp: string | null): string | null | undefined {
  const [found, setFound] = useState<{ ts: string; name: string | null } | null>(null);
  useEffect(() => {
    if (timestamp === null) return;
    let live = true;
    void writerOf(dataset, row, timestamp).then((name) => {
      if (live) setFound({ ts: timestamp, name });
    });
    return () => {
      live = false;
    };
  }, [dataset, row, timestamp]);
  return found !== null && found.ts === timestamp ? found.name : undefined;
}

function stampedAt(timestamp: string): string {
  const d = new Date(timestamp.slice(0, 24));
  if (Number.isNaN(d.getTime())) return '';
  const time = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  return isoDate(d) === isoDate(new Date())
    ? time
    : `${d.toLocaleDateString(undefined, { dateStyle: 'medium' })} ${time}`;
}

function OrderEditor(props: {
  order: RowRecord;
  flows: RowRecord[];
  partners: Map<string, RowRecord> | undefined;
  products: Map<string, RowRecord> | undefined;
  pending: Set<string>;
  /** Everything, or (a manager) only the status. */
  canEdit: boolean;
  role: string;
  onClose: () => void;
  onMoved: (from: string, to: string) => void;
}): ReactNode {
  const { order, flows, partners, products, canEdit } = props;
  const [picking, setPicking] = useState<
    null | { kind: 'partner' } | { kind: 'add' } | { kind: 'product'; flow: RowRecord }
  >(null);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [addQty, setAddQty] = useState(1);
  // A quantity entry discarded as the rep tapped a product: that tap adds nothing (the
  // stepper says why), the next one adds the quantity shown.
  const [addBlocked, setAddBlocked] = useState(false);
  const toast = useToast();
  const status = text(order, 'status') || 'pending';
  const partnerId = text(order, 'partner_id');
  const partner = partners?.get(partnerId);
  const fail = (e: unknown): void => toast.error(e);
  const date = text(order, 'delivery_date');
  const deleted = order.cols.tombstone?.value === 1;
  const tombstone = deleted ? (order.cols.tombstone?.timestamp ?? null) : null;
  const deleter = useWriter('pre_orders', order.id, tombstone);
  if (deleted && (picking !== null || confirmDelete)) {
    // Deleted meanwhile (through sync): nothing more is picked or confirmed for it.
    setPicking(null);
    setConfirmDelete(false);
  }
  const recent = useLiveQuery(
    () => (picking?.kind === 'add' ? recentProducts(partnerId, order.id, isoDate(new Date())) : []),
    [picking?.kind, partnerId, order.id],
  );

  const banner = deleted ? (
    <div className="deleted-banner" role="status" data-testid="editor-deleted">
      <span>
        Deleted by <strong data-testid="editor-deleted-by">{deleter ?? 'another user'}</strong>
        {tombstone ? ` at ${stampedAt(tombstone)}` : ''}.
      </span>
      {canEdit ? (
        <button
          type="button"
          className="btn primary"
          data-testid="editor-restore"
          onClick={() => void setDeleted('pre_orders', order.id, false).catch(fail)}
        >
          Restore
        </button>
      ) : null}
    </div>
  ) : null;

  const removeFlow = (f: RowRecord, name: string): void => {
    void setDeleted('pre_order_flows', f.id, true).then(
      () => undoable(toast, `Removed ${name || 'the line'}.`, () => restoreFlow(f)),
      fail,
    );
  };

  return (
    <Sheet title={text(partner, 'name') || 'Pre-order'} onClose={props.onClose} testId="order-editor" banner={banner}>
      <fieldset className="editor-fieldset" disabled={deleted} data-testid="editor-fields">
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
            {toggles(status) ? (
              <button
                type="button"
                className={`btn status-toggle ${status}`}
                data-testid="editor-status-toggle"
                aria-pressed={status === 'confirmed'}
                disabled={!mayWrite(props.role, null, 'pre_orders', order.id, 'status', nextStatus(status))}
                onClick={() => void setOrderField(order.id, 'status', nextStatus(status)).catch(fail)}
              >
                {status === 'confirmed' ? '✓ Confirmed' : 'Pending · tap to confirm'}
              </button>
            ) : (
              <span className={`status ${status}`} data-testid="editor-status">
                {status}
              </span>
            )}
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
                void setOrderField(order.id, 'delivery_date', d).then(() => props.onMoved(date, d), fail);
              }}
            />
          </label>
        </div>

        <h3>Products</h3>
        <ul className="flow-editors">
          {flows.map((f) => {
            const p = products?.get(text(f, 'product_id'));
            const unsynced = props.pending.has(`pre_order_flows/${f.id}`);
            const quantity = num(f, 'quantity');
            const typed = weightTyped(f, p);
            const auto = quantity === null ? null : weightFor(p, quantity);
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
                      aria-label={`Remove ${text(p, 'name') || 'product'}`}
                      onClick={() => removeFlow(f, text(p, 'name'))}
                    >
                      Remove
                    </button>
                  ) : null}
                </div>
                <div className="flow-editor-fields">
                  <QuantityStepper
                    testId="flow-qty-input"
                    readOnly={!canEdit}
                    value={quantity}
                    onCommit={(q) => void setFlowQuantity(f.id, q, typed ? null : weightFor(p, q)).catch(fail)}
                  />
                  <NumberField
                    label="Weight"
                    unit="kg"
                    testId="flow-weight-input"
                    readOnly={!canEdit}
                    value={num(f, 'weight')}
                    validate={(d) => weightError(d, auto !== null)}
                    onCommit={(w) => void setFlowWeight(f.id, w).catch(fail)}
                    {...(canEdit && auto !== null ? { onClear: () => void setFlowWeight(f.id, auto).catch(fail) } : {})}
                    note={
                      typed ? (
                        <>
                          <span
                            className="tag typed-tag"
                            data-testid="flow-weight-typed"
                            title="Typed by hand: a quantity change keeps it"
                          >
                            typed
                          </span>
                          {canEdit && auto !== null ? (
                            <button
                              type="button"
                              className="btn small ghost weight-reset"
                              data-testid="flow-weight-reset"
                              aria-label={`Use the automatic weight, ${fmtNum(auto, ' kg')}`}
                              onClick={() => void setFlowWeight(f.id, auto).catch(fail)}
                            >
                              ↺ {fmtNum(auto, ' kg')}
                            </button>
                          ) : null}
                        </>
                      ) : auto !== null ? (
                        <span
                          className="tag auto-tag"
                          data-testid="flow-weight-auto"
                          title="Quantity × unit weight: follows the quantity"
                        >
                          auto
                        </span>
                      ) : null
                    }
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
              onClick={() => {
                setAddQty(1);
                setAddBlocked(false);
                setPicking({ kind: 'add' });
              }}
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
      </fieldset>

      {picking?.kind === 'partner' ? (
        <Picker
          title="Change partner"
          rows={partners}
          fields={['name', 'short_name']}
          detail={(r) => text(r, 'short_name')}
          current={partnerId}
          onClose={() => setPicking(null)}
          onPick={(r) => {
            setPicking(null);
            if (r.id === partnerId) return;
            const id = order.id;
            void setOrderField(id, 'partner_id', r.id).then(
              () =>
                undoable(toast, `Partner changed to ${text(r, 'name')}.`, () =>
                  setOrderField(id, 'partner_id', partnerId),
                ),
              fail,
            );
          }}
        />
      ) : null}
      {picking?.kind === 'product' ? (
        <Picker
          title="Change product"
          rows={products}
          fields={['name', 'sku']}
          detail={(r) => `${text(r, 'sku')} · ${fmtNum(num(r, 'unit_weight'), ' kg')}/unit`}
          current={text(picking.flow, 'product_id')}
          onClose={() => setPicking(null)}
          onPick={(r) => {
            const flow = picking.flow;
            setPicking(null);
            const typed = weightTyped(flow, products?.get(text(flow, 'product_id')));
            void setFlowProduct(flow.id, r, num(flow, 'quantity'), typed).catch(fail);
          }}
        />
      ) : null}
      {picking?.kind === 'add' ? (
        <Picker
          title="Add a product"
          rows={products}
          fields={['name', 'sku']}
          first={recent ?? []}
          detail={(r) => `${text(r, 'sku')} · ${fmtNum(num(r, 'unit_weight'), ' kg')}/unit`}
          header={
            <div className="add-qty">
              <QuantityStepper
                testId="add-qty"
                value={addQty}
                onCommit={setAddQty}
                onDraft={(n) => {
                  setAddQty(n);
                  setAddBlocked(false);
                }}
                onDiscard={() => setAddBlocked(true)}
              />
              <p className="hint">Set the quantity, then tap a product to add it.</p>
            </div>
          }
          onClose={() => setPicking(null)}
          onPick={(r) => {
            if (addBlocked) {
              setAddBlocked(false);
              return;
            }
            setPicking(null);
            void addFlow(order.id, r, addQty).catch(fail);
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
            props.onClose();
            void setDeleted('pre_orders', id, true).then(
              () => undoable(toast, 'Pre-order deleted.', () => setDeleted('pre_orders', id, false)),
              fail,
            );
          }}
        />
      ) : null}
    </Sheet>
  );
}

/** A weight in kg, 0 to 1,000,000; empty means automatic where there is an automatic one. */
function weightError(draft: string, hasAuto: boolean): string | null {
  const t = draft.trim();
  if (t === '') return hasAuto ? null : 'Enter a weight.';
  const n = Number(t.replace(',', '.'));
  if (!Number.isFinite(n)) return 'Enter a number, like 12 or 2.5.';
  if (n < 0) return 'Must be 0 or more.';
  if (n > 1_000_000) return 'At most 1,000,000 kg.';
  return null;
}
